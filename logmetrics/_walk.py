"""The parse's inner loops, compiled with numba: the newline scan and the per-line walk.

Why compiled: a log line is a short sequence of literals and delimited fields, so the natural
parse is one forward pass over its bytes. Expressed as whole-array numpy steps the same walk
cost ~3 µs a line (dozens of passes over temporaries); as a loop compiled by numba, scanning
8 bytes a step, it costs ~0.7 µs on the project's machine (nginx combined, 254-byte lines). The loops are generic: ``Program`` turns a compiled ``LogFormat`` into small
integer tables that one kernel interprets, so one compiled kernel serves every format and its
machine code is cached on disk (``cache=True``) after the first run.

Semantics are those of the format's regex (``LogFormat.regex``), which the tests check: a quoted
field ends at the first ``"`` not escaped by a backslash, an unquoted field at the first of its
stop characters (after ``skip`` of them inside a fixed-shape time), and so on.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cache_dir(package: Path, env: Mapping[str, str]) -> str | None:
    """Where numba should keep the compiled code, when its own choices may all be unwritable.

    None: numba's default (``__pycache__`` next to this file) is writable, or the operator set
    ``NUMBA_CACHE_DIR``. Otherwise (a root-owned install run by a cron user): the user's cache
    directory if writable, else a per-user directory under the system temp directory.
    """
    if "NUMBA_CACHE_DIR" in env:
        return None
    pycache = package / "__pycache__"
    if os.access(pycache if pycache.exists() else package, os.W_OK):
        return None
    home = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or "/nonexistent", ".cache")
    base = Path(home)
    while not base.exists() and base.parent != base:
        base = base.parent
    if os.access(base, os.W_OK):
        return os.path.join(home, "logmetrics", "numba")
    return os.path.join(tempfile.gettempdir(), f"logmetrics-numba-{os.getuid()}")


_CACHE = cache_dir(Path(__file__).parent, os.environ)
if _CACHE is not None:  # before numba reads its configuration
    os.environ["NUMBA_CACHE_DIR"] = _CACHE

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from numba.cpython.unsafe.numbers import trailing_zeros  # noqa: E402

from .formats import Literal, LogFormat, Optional_  # noqa: E402

# program op codes
_LIT, _LIT_OPT, _FIELD, _OPT_BEGIN, _OPT_END = 0, 1, 2, 3, 4
# ... and their common shapes, decided with fewer steps: a literal of 1-7 bytes (one masked word
# compare), a quoted field, a field ended by one ASCII stop byte
_LIT_WORD, _FIELD_QUOTED, _FIELD_STOP = 5, 6, 7
# field checks (what the regex demands of a field's text beyond its delimiters)
_CHK_NONE, _CHK_DIGITS, _CHK_SECONDS, _CHK_QUERY = 0, 1, 2, 3
# column kinds
_C_TEXT, _C_QUERY_Q, _C_STATUS, _C_INT, _C_REQUEST, _C_REQUEST_URI = 0, 1, 2, 3, 4, 5
# main time shapes
TIME_NONE, TIME_CLF, TIME_ISO = 0, 1, 2

_BIG = np.int64(1) << 60
_I64_MAX = np.int64(9223372036854775807)

#: Request-line columns, in the slot order of a request column's row.
REQUEST_PARTS = ("method", "protocol", "uri", "path", "query")

_TCHAR = np.zeros(256, np.bool_)  # RFC 9110 token characters (an HTTP method)
for _c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _TCHAR[_c] = True
_MONTHS = np.array([int.from_bytes(m.encode(), "little") for m in (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")],
    np.int64)  # fmt: skip


@dataclass(frozen=True)
class Program:
    """A format as the kernel's tables; columns are numbered into the output arrays.

    ``text``: hits column -> row of the text outputs; ``ints``: column -> row of the integer
    outputs; ``groups``: field group -> row of the span outputs (every field has one).
    """

    ops: np.ndarray  # (n_ops, 4) int64: code, a, b, c
    lits: np.ndarray  # uint8: literal bytes
    fields: np.ndarray  # (n_fields, 6) int64: quoted, eol, skip, stop offset, stop count, check
    stops: np.ndarray  # (n_stops, 5) int64: length, bytes...
    cols: np.ndarray  # (n_cols, 7) int64: kind, field, slots...
    time_field: int
    time_kind: int
    text: dict[str, int]
    ints: dict[str, int]
    groups: dict[str, int]


def program(fmt: LogFormat) -> Program:
    """Compile ``fmt``'s elements and columns into the kernel's tables."""
    groups = {f.group: i for i, f in enumerate(fmt.fields)}
    ops: list[tuple[int, int, int, int]] = []
    by_group = {f.group: f for f in fmt.fields}
    lits = bytearray()

    def emit(elements: tuple) -> None:
        for el in elements:
            if isinstance(el, Literal):
                raw = el.text.encode("utf-8")
                if el.optional:
                    assert len(raw) == 1
                    ops.append((_LIT_OPT, raw[0], 0, 0))
                elif len(raw) <= 7:
                    ops.append((_LIT_WORD, int.from_bytes(raw, "little"), len(raw), 0))
                else:
                    ops.append((_LIT, len(lits), len(raw), 0))
                    lits.extend(raw)
            elif isinstance(el, Optional_):
                first = el.elements[0]
                assert isinstance(first, Literal)
                at = len(ops)
                ops.append((_OPT_BEGIN, first.text.encode("utf-8")[0], -1, 0))
                emit(el.elements)
                ops[at] = (_OPT_BEGIN, ops[at][1], len(ops), 0)
                ops.append((_OPT_END, 0, 0, 0))
            else:
                f = by_group[el.group]
                g = groups[el.group]
                one = [s.encode("utf-8") for s in f.stops]
                if f.quoted:
                    ops.append((_FIELD_QUOTED, g, int(f.eol), 0))
                elif len(one) == 1 and len(one[0]) == 1 and f.skip == 0:
                    ops.append((_FIELD_STOP, g, int(f.eol), one[0][0]))
                else:
                    ops.append((_FIELD, g, 0, 0))

    emit(fmt.elements)
    stop_rows: list[list[int]] = []
    field_rows: list[tuple[int, ...]] = []
    for f in fmt.fields:
        check = _CHK_NONE
        if f.strict:
            check = {"status": _CHK_DIGITS, "int": _CHK_DIGITS, "seconds": _CHK_SECONDS,
                     "query_q": _CHK_QUERY}[f.kind]  # fmt: skip
        stops = [] if f.quoted else [s.encode("utf-8") for s in f.stops]
        field_rows.append((int(f.quoted), int(f.eol), f.skip, len(stop_rows), len(stops), check))
        for s in stops:
            stop_rows.append([len(s), *s, *([0] * (4 - len(s)))])

    text: dict[str, int] = {}
    ints: dict[str, int] = {}
    cols: list[tuple[int, ...]] = []

    def slot(name: str) -> int:
        return text.setdefault(name, len(text))

    for name, group in fmt.sources.items():
        f = fmt.field(group)
        g = groups[group]
        if f.kind == "text":
            cols.append((_C_TEXT, g, slot(name), 0, 0, 0, 0))
        elif f.kind == "query_q":
            cols.append((_C_QUERY_Q, g, slot(name), 0, 0, 0, 0))
        elif f.kind == "status":
            cols.append((_C_STATUS, g, 0, 0, 0, 0, 0))
        elif f.kind == "int":
            cols.append((_C_INT, g, ints.setdefault(name, len(ints)), 0, 0, 0, 0))
    for f in fmt.fields:
        if f.kind in ("request", "request_uri"):
            wanted = {c for c, g in fmt.sources.items() if g == f.group}
            if wanted:
                slots = [slot(p) if p in wanted else -1 for p in REQUEST_PARTS]
                kind = _C_REQUEST if f.kind == "request" else _C_REQUEST_URI
                cols.append((kind, groups[f.group], *slots))

    main = [fmt.field(g) for g in fmt.time_groups]
    main = [f for f in main if f.kind in ("time_clf", "time_iso")]
    time_field, time_kind = -1, TIME_NONE
    if main:
        time_field = groups[main[0].group]
        time_kind = TIME_CLF if main[0].kind == "time_clf" else TIME_ISO
    return Program(
        ops=np.array(ops, np.int64).reshape(-1, 4),
        lits=np.frombuffer(bytes(lits) or b"\0", np.uint8).copy(),
        fields=np.array(field_rows, np.int64).reshape(-1, 6),
        stops=np.array(stop_rows or [[0] * 5], np.int64).reshape(-1, 5),
        cols=np.array(cols or [(-1,) * 7], np.int64).reshape(-1, 7)[: len(cols)],
        time_field=time_field,
        time_kind=time_kind,
        text=text,
        ints=ints,
        groups=groups,
    )


_LO7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HI = np.uint64(0x8080808080808080)
_ONES = np.uint64(0x0101010101010101)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


# --- the newline scan -------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _newline(i, k, m, bad, nl, odd):  # pragma: no cover - jit
    """Line ``k`` ends at ``i`` (listed as odd if ``bad``): (lines so far, odd lines so far)."""
    nl[k] = i
    if bad:
        odd[m] = k
        m += 1
    return k + 1, m


@njit(cache=True, nogil=True)
def _scan_byte(c, i, k, m, bad, nl, odd):  # pragma: no cover - jit
    """One byte of ``scan`` that may be special: (lines so far, odd lines so far, dirty)."""
    if c == 10:
        k, m = _newline(i, k, m, bad, nl, odd)
        return k, m, False
    if (c < 32 or c >= 128) and c != 9 and c != 13:
        bad = True
    return k, m, bad


@njit(cache=True, nogil=True)
def scan(buf, a64, n):  # pragma: no cover - jit
    """Newline positions in ``buf[:n]``, and the indexes of lines that may need cleaning.

    Those lines hold a byte >= 0x80 (maybe not UTF-8) or a C0 control other than tab, CR, LF.
    ``a64`` views the first ``n // 8`` words of ``buf``; words without a byte < 0x20 or >= 0x80
    (most of them) are skipped whole.
    """
    count = 0
    for i in range(n):
        count += buf[i] == 10
    nl = np.empty(count, np.int64)
    odd = np.empty(count + 1, np.int64)
    k = 0
    m = 0
    bad = False
    spaces = np.uint64(0x2020202020202020)
    newlines = np.uint64(10) * _ONES
    for q in range(n >> 3):
        w = a64[q]
        special = ((w - spaces) & ~w & _HI) | (w & _HI)  # a superset of the bytes < 32, >= 128
        if special == 0:
            continue
        t = _eq(w, newlines)
        if special & ~t:  # maybe something other than newlines: byte by byte
            for i in range(q * 8, q * 8 + 8):
                k, m, bad = _scan_byte(buf[i], i, k, m, bad, nl, odd)
            continue
        while t:
            k, m = _newline(q * 8 + (trailing_zeros(t) >> 3), k, m, bad, nl, odd)
            bad = False
            t &= t - np.uint64(1)
    for i in range((n >> 3) * 8, n):
        k, m, bad = _scan_byte(buf[i], i, k, m, bad, nl, odd)
    if bad:
        odd[m] = k
        m += 1
    return nl, odd[:m]


@njit(cache=True, nogil=True)
def has_byte(buf, n, b):  # pragma: no cover - jit
    """Whether ``buf[:n]`` holds byte ``b`` (counted a block at a time, so it vectorises)."""
    for start in range(0, n, 4096):
        found = 0
        for i in range(start, min(start + 4096, n)):
            found += buf[i] == b
        if found:
            return True
    return False


# --- the walk -------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _eq(w, bc):  # pragma: no cover - jit
    """Bit 7 set in exactly the bytes of ``w`` equal to the byte broadcast in ``bc`` (SWAR)."""
    y = w ^ bc
    return ~(((y & _LO7) + _LO7) | y | _LO7)


@njit(cache=True, nogil=True)
def _find1(a64, b, pos, lim):  # pragma: no cover - jit
    """First position in [pos, lim) holding byte ``b``; _BIG when none (8 bytes a step)."""
    if pos >= lim:
        return _BIG
    bc = np.uint64(b) * _ONES
    q = pos >> 3
    t = _eq(a64[q], bc) & (_ALL << np.uint64((pos & 7) * 8))
    while t == 0:
        q += 1
        if q * 8 >= lim:
            return _BIG
        t = _eq(a64[q], bc)
    p = q * 8 + (trailing_zeros(t) >> 3)
    return p if p < lim else _BIG


@njit(cache=True, nogil=True)
def _find_quote(a64, pos, lim):  # pragma: no cover - jit
    """First ``"`` or backslash in [pos, lim); _BIG when none."""
    if pos >= lim:
        return _BIG
    bq = np.uint64(34) * _ONES
    bb = np.uint64(92) * _ONES
    q = pos >> 3
    w = a64[q]
    t = (_eq(w, bq) | _eq(w, bb)) & (_ALL << np.uint64((pos & 7) * 8))
    while t == 0:
        q += 1
        if q * 8 >= lim:
            return _BIG
        w = a64[q]
        t = _eq(w, bq) | _eq(w, bb)
    p = q * 8 + (trailing_zeros(t) >> 3)
    return p if p < lim else _BIG


@njit(cache=True, nogil=True, inline="always")
def _find(buf, a64, stops, k, pos, lim):  # pragma: no cover - jit
    """First position in [pos, lim) where stop sequence ``k`` starts; _BIG when none."""
    ln = stops[k, 0]
    while True:
        p = _find1(a64, stops[k, 1], pos, lim)
        if ln == 1 or p >= lim:
            return p
        if p + ln <= lim:
            good = True
            for j in range(1, ln):
                if buf[p + j] != stops[k, 1 + j]:
                    good = False
                    break
            if good:
                return p
        pos = p + 1


@njit(cache=True, nogil=True)
def _quoted_end(buf, a64, pos, le, eol):  # pragma: no cover - jit
    """Where a quoted field starting at ``pos`` ends (its first unescaped ``"``); at the end of
    the line if ``eol`` allows an unclosed last field; -1 when the line cannot match."""
    p = pos
    while True:
        p = _find_quote(a64, p, le)
        if p >= le:
            return le if eol else -1
        if buf[p] == 34:
            return p
        if p + 1 >= le:  # a backslash escaping the end of the line
            return -1
        p += 2


@njit(cache=True, nogil=True, inline="always")
def _field_end(buf, a64, pos, le, fields, f, stops):  # pragma: no cover - jit
    """Where field ``f`` starting at ``pos`` ends; -1 when the line cannot match."""
    quoted, eol, skip, s_off, s_n = fields[f, 0], fields[f, 1], fields[f, 2], fields[f, 3], fields[f, 4]
    if quoted:
        return _quoted_end(buf, a64, pos, le, eol)
    if s_n == 0:
        return le
    best = _BIG
    for k in range(s_off, s_off + s_n):
        found = _find(buf, a64, stops, k, pos, le)
        for _ in range(skip):
            found = _find(buf, a64, stops, k, found + 1, le) if found < le else _BIG
        if found < best:
            best = found
    if best < le:
        return best
    return le if eol else -1


@njit(cache=True, nogil=True)
def _digit(c):  # pragma: no cover - jit
    return 48 <= c <= 57


@njit(cache=True, nogil=True, inline="always")
def _check(buf, s, e, check):  # pragma: no cover - jit
    """The field's text is what the regex demands (numbers, ``%q``)."""
    ln = e - s
    if check == _CHK_QUERY:
        return ln == 0 or buf[s] == 63
    if ln == 1 and buf[s] == 45:
        return True
    if ln == 0 or not _digit(buf[s]):
        return False
    dots = 0
    for p in range(s, e):
        c = buf[p]
        if c == 46 and check == _CHK_SECONDS:
            dots += 1
            if dots > 1:
                return False
        elif not _digit(c):
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _num(buf, s, ln):  # pragma: no cover - jit
    v = 0
    for p in range(s, s + ln):
        v = v * 10 + (buf[p] - 48)
    return v


@njit(cache=True, nogil=True)
def _civil(y, mo, d, hh, mi, ss):  # pragma: no cover - jit
    """Seconds since the epoch of a wall-clock time (Hinnant's days_from_civil); -1<<62 if invalid."""
    if mo < 1 or mo > 12 or d < 1 or hh > 23 or mi > 59 or ss > 59:
        return -(np.int64(1) << 62)
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    dim = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[mo - 1] + (1 if (mo == 2 and leap) else 0)
    if d > dim:
        return -(np.int64(1) << 62)
    yy = y - (1 if mo <= 2 else 0)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mi * 60 + ss


@njit(cache=True, nogil=True, inline="always")
def _shape(buf, s, pattern):  # pragma: no cover - jit
    """Bytes at ``s`` fit ``pattern`` (48 = a digit, 0 = any byte, else that byte)."""
    for j in range(len(pattern)):
        want = pattern[j]
        c = buf[s + j]
        if want == 48:
            if not _digit(c):
                return False
        elif want != 0 and c != want:
            return False
    return True


def _pattern(shape: str) -> np.ndarray:
    """A fixed-width time shape for ``_shape``: ``D`` a digit, ``A``/``+`` any byte (checked
    elsewhere), anything else itself."""
    return np.array([48 if c == "D" else 0 if c in "A+" else ord(c) for c in shape], np.uint8)


_CLF = _pattern("DD/AAA/DDDD:DD:DD:DD +DDDD")
_ISO = _pattern("DDDD-DD-DDTDD:DD:DD+DD:DD")
_ISO_Z = _pattern("DDDD-DD-DDTDD:DD:DDZ")


@njit(cache=True, nogil=True, inline="always")
def _time(buf, s, e, kind, clf, iso, iso_z, months):  # pragma: no cover - jit
    """(µs since the epoch UTC, valid) of a CLF or ISO 8601 time."""
    bad = -(np.int64(1) << 62)
    ln = e - s
    if kind == TIME_CLF:
        if ln != 26 or not _shape(buf, s, clf):
            return 0, False
        code = (buf[s + 3] | 32) | ((buf[s + 4] | 32) << 8) | ((buf[s + 5] | 32) << 16)
        mo = 0
        for k in range(12):
            if months[k] == code:
                mo = k + 1
        y, d, at = _num(buf, s + 7, 4), _num(buf, s, 2), s + 21
        hh, mi, ss = _num(buf, s + 12, 2), _num(buf, s + 15, 2), _num(buf, s + 18, 2)
        om = _num(buf, at + 3, 2)
    else:
        if ln == 20 and _shape(buf, s, iso_z):
            at = -1
        elif ln == 25 and _shape(buf, s, iso):
            at = s + 19
        else:
            return 0, False
        y, mo, d = _num(buf, s, 4), _num(buf, s + 5, 2), _num(buf, s + 8, 2)
        hh, mi, ss = _num(buf, s + 11, 2), _num(buf, s + 14, 2), _num(buf, s + 17, 2)
        om = _num(buf, at + 4, 2) if at >= 0 else 0
    off = 0
    if at >= 0:  # ±HH(:)MM
        sign = buf[at]
        oh = _num(buf, at + 1, 2)
        if (sign != 43 and sign != 45) or oh > 23 or om > 59:
            return 0, False
        off = (oh * 3600 + om * 60) * (-1 if sign == 45 else 1)
    secs = _civil(y, mo, d, hh, mi, ss)
    if secs == bad:
        return 0, False
    return (secs - off) * 1_000_000, True


_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)


@njit(cache=True, nogil=True)
def _word(a64, p):  # pragma: no cover - jit
    """The 8 bytes at ``p`` as a little-endian word (two aligned reads)."""
    q = p >> 3
    sh = np.uint64((p & 7) * 8)
    return (a64[q] >> sh) | ((a64[q + 1] << np.uint64(1)) << (np.uint64(63) - sh))


@njit(cache=True, nogil=True, inline="always")
def _request(buf, a64, s, e, request, tchar, pend, k, slots):  # pragma: no cover - jit
    """Split a request line (``METHOD SP TARGET [SP PROTOCOL]``) or a ``$request_uri`` into
    the pending values (rows of ``pend``: column, start, end) from row ``k``; returns the next
    free row. ``slots`` are the text columns of method, protocol, uri, path, query (-1: unused).
    """
    ln = e - s
    if request:
        if ln == 0 or (ln == 1 and buf[s] == 45):
            return k
        sp1 = _find1(a64, 32, s, e)
        sp1 = sp1 if sp1 < e else e
        meth = s < sp1 < e
        if meth:
            for p in range(s, sp1):
                if not tchar[buf[p]]:
                    meth = False
                    break
        sp2 = -1
        if meth:  # " NAME/1" or " NAME/1.1" at the end, NAME = letter (letter|digit)*
            q = e - 1
            while q >= s and _digit(buf[q]):
                q -= 1
            good = q < e - 1
            if good and q >= s and buf[q] == 46:
                r = q - 1
                while r >= s and _digit(buf[r]):
                    r -= 1
                good = r < q - 1
                q = r
            good = good and q >= s and buf[q] == 47
            if good:
                r = q - 1
                while r >= s and (_digit(buf[r]) or 65 <= (buf[r] & 0xDF) <= 90):
                    r -= 1
                first = buf[r + 1] & 0xDF
                if r < q - 1 and 65 <= first <= 90 and r >= s and buf[r] == 32:
                    sp2 = r
        proto = meth and sp2 > sp1
        us = sp1 + 1 if meth else s
        ue = sp2 if proto else e
        parsed = meth
        if meth and slots[0] >= 0:
            pend[k, 0], pend[k, 1], pend[k, 2] = slots[0], s, sp1
            k += 1
        if proto and slots[1] >= 0:
            pend[k, 0], pend[k, 1], pend[k, 2] = slots[1], sp2 + 1, e
            k += 1
    else:
        if ln == 1 and buf[s] == 45:
            return k
        us, ue, parsed = s, e, True
    if slots[2] >= 0:
        pend[k, 0], pend[k, 1], pend[k, 2] = slots[2], us, ue
        k += 1
    if parsed and (slots[3] >= 0 or slots[4] >= 0):
        q = _find1(a64, 63, us, ue)
        q = q if q < ue else ue
        if slots[3] >= 0:
            pend[k, 0], pend[k, 1], pend[k, 2] = slots[3], us, q
            k += 1
        if q < ue and slots[4] >= 0:
            pend[k, 0], pend[k, 1], pend[k, 2] = slots[4], q + 1, ue
            k += 1
    return k


@njit(cache=True, nogil=True)
def walk(
    buf, a64, ls, le, i0, i1, escapes, ops, lits, fields, stops, cols, time_field, time_kind,
    ok, starts, ends, views, valid, esc, ivals, ivalid, ts, ts_ok, status, status_null,
    status_ok, clf, iso, iso_z, months, tchar, masks,
):  # pragma: no cover - jit
    """Match lines [i0, i1) and extract their values into the output arrays (see parse)."""
    n_ops = ops.shape[0]
    n_fields = fields.shape[0]
    pend = np.empty((views.shape[0] + 5, 3), np.int64)  # text values of the line: column, span
    for i in range(i0, i1):
        s0 = ls[i]
        e0 = le[i]
        for f in range(n_fields):
            starts[f, i] = -1
            ends[f, i] = -1
        pos = s0
        good = True
        j = 0
        while j < n_ops:
            code = ops[j, 0]
            if code == _LIT:
                off = ops[j, 1]
                ln = ops[j, 2]
                if pos + ln > e0:
                    good = False
                    break
                for k in range(ln):
                    if buf[pos + k] != lits[off + k]:
                        good = False
                        break
                if not good:
                    break
                pos += ln
            elif code == _LIT_WORD:
                ln = ops[j, 2]
                if pos + ln > e0 or (_word(a64, pos) & masks[ln]) != np.uint64(ops[j, 1]):
                    good = False
                    break
                pos += ln
            elif code in (_FIELD_QUOTED, _FIELD_STOP, _FIELD):
                f = ops[j, 1]
                if code == _FIELD_QUOTED:
                    end = _quoted_end(buf, a64, pos, e0, ops[j, 2])
                elif code == _FIELD_STOP:
                    end = _find1(a64, ops[j, 3], pos, e0)
                    if end >= e0:
                        end = e0 if ops[j, 2] else -1
                else:
                    end = _field_end(buf, a64, pos, e0, fields, f, stops)
                if end < 0:
                    good = False
                    break
                starts[f, i] = pos
                ends[f, i] = end
                pos = end
            elif code == _LIT_OPT:
                if pos < e0 and buf[pos] == ops[j, 1]:
                    pos += 1
            elif code == _OPT_BEGIN and not (pos < e0 and buf[pos] == ops[j, 1]):
                j = ops[j, 2]  # the optional part is absent: skip to its end
            j += 1
        if good and pos != e0:
            good = False
        if good:
            for f in range(n_fields):
                chk = fields[f, 5]
                if (chk != _CHK_NONE and starts[f, i] >= 0
                        and not _check(buf, starts[f, i], ends[f, i], chk)):  # fmt: skip
                    good = False
                    break
        if not good:
            for f in range(n_fields):
                starts[f, i] = -1
                ends[f, i] = -1
            continue
        ok[i] = True
        if time_kind != TIME_NONE:
            us, tok = _time(buf, starts[time_field, i], ends[time_field, i], time_kind,
                            clf, iso, iso_z, months)  # fmt: skip
            ts[i] = us
            ts_ok[i] = tok
        np_ = 0
        for c in range(cols.shape[0]):
            kind = cols[c, 0]
            f = cols[c, 1]
            s = starts[f, i]
            e = ends[f, i]
            if s < 0:
                continue
            ln = e - s
            dash = ln == 1 and buf[s] == 45
            if kind in (_C_TEXT, _C_QUERY_Q):
                if kind == _C_QUERY_Q:
                    dash = e == s
                    s += 1
                if not dash:
                    pend[np_, 0], pend[np_, 1], pend[np_, 2] = cols[c, 2], s, e
                    np_ += 1
            elif kind == _C_STATUS:
                if not dash:
                    status_null[i] = False
                    status_ok[i] = ln <= 3
                    status[i] = _num(buf, s, ln) if ln <= 3 else 0
            elif kind == _C_INT:
                if not dash:
                    v = np.int64(0)
                    fits = True
                    for p in range(s, e):
                        d = np.int64(buf[p] - 48)
                        if v > (_I64_MAX - d) // 10:
                            fits = False
                            break
                        v = v * 10 + d
                    if fits:
                        ivals[cols[c, 2], i] = v
                        ivalid[cols[c, 2], i] = True
            else:
                np_ = _request(buf, a64, s, e, kind == _C_REQUEST, tchar, pend, np_, cols[c, 2:])
        bs = escapes and _find1(a64, 92, s0, e0) < e0
        for k in range(np_):  # the line's text values as Arrow string views
            t, s, e = pend[k, 0], pend[k, 1], pend[k, 2]
            valid[t, i] = True
            ln = e - s
            head = _word(a64, s) & np.uint64(0xFFFFFFFF)
            if ln <= 12:
                head &= masks[ln if ln < 4 else 4]
                views[t, i, 1] = _word(a64, s + 4) & masks[ln - 4 if ln > 4 else 0]
            else:
                views[t, i, 1] = np.uint64(s) << np.uint64(32)
            views[t, i, 0] = np.uint64(ln) | (head << np.uint64(32))
            if bs and _find1(a64, 92, s, e) < e:
                esc[t, i] = True


# --- loading it ------------------------------------------------------------------------------

_log = logging.getLogger(__name__)
_LOADED = False
_LOAD_LOCK = threading.Lock()


def load_cached() -> None:
    """Load the entry points' cached machine code, without numba's first-call context set-up.

    Why: numba's first call refreshes its whole typing and target contexts (every registry of
    every type it supports, ~0.4 s holding the GIL, about a tenth of a million-line ingest) even
    when all it then does is load cached code. Loading the cached overloads directly takes
    ~0.05 s; a signature not cached (or a stale cache) still goes through the normal dispatch,
    which compiles it. This reaches into numba internals, so any failure falls back to that
    normal path. Thread-safe, and a no-op after the first call.
    """
    global _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        try:
            from numba.core.runtime import rtsys

            disp: Any
            for disp in (scan, has_byte, walk):
                ctx = disp.targetctx
                rtsys.initialize(ctx)  # the NRT symbols the cached code links against
                cache = disp._cache
                magic = ctx.codegen().magic_tuple()
                for sig, machine, _code in cache._cache_file._load_index():
                    if machine != magic or tuple(sig) in disp.overloads:
                        continue
                    cres = cache._load_overload(sig, ctx)  # None: stale (another source)
                    if cres is not None:
                        ctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
                        disp.add_overload(cres)
        except Exception as exc:  # noqa: BLE001 - numba internals changed: dispatch normally
            _log.debug("cached parse code not preloaded (%s); numba will load it", exc)
        _LOADED = True


# --- running it -------------------------------------------------------------------------------


@dataclass
class Walked:
    """The walk's outputs for n lines (rows of 2-D arrays follow ``Program``'s numbering)."""

    ok: np.ndarray  # (n,) bool: the line matches the format
    starts: np.ndarray  # (groups, n) int64: span of each field, -1 when absent or no match
    ends: np.ndarray
    views: np.ndarray  # (text, n, 2) uint64: Arrow string views into the buffer
    valid: np.ndarray  # (text, n) bool: the value is not null
    esc: np.ndarray  # (text, n) bool: the value holds a backslash (to unescape)
    ivals: np.ndarray  # (ints, n) int64
    ivalid: np.ndarray  # (ints, n) bool
    ts: np.ndarray  # (n,) int64 µs UTC (CLF / ISO 8601 times only)
    ts_ok: np.ndarray
    status: np.ndarray  # (n,) int64
    status_null: np.ndarray
    status_ok: np.ndarray  # a status of more than 3 digits is not


def run(
    prog: Program, buf: np.ndarray, a64: np.ndarray, ls: np.ndarray, le: np.ndarray, *,
    escapes: bool,
    threads: int = 1,
) -> Walked:  # fmt: skip
    """Walk every line [ls, le) of ``buf``; ``threads`` > 1 splits the lines between threads.

    ``a64`` views ``buf`` as words and must cover every line plus one word (``parse._Mem``).
    """
    load_cached()
    n = len(ls)
    g, t, k = len(prog.groups), len(prog.text), len(prog.ints)
    w = Walked(
        ok=np.zeros(n, np.bool_),
        starts=np.empty((g, n), np.int64),  # the walk writes every line's spans
        ends=np.empty((g, n), np.int64),
        views=np.zeros((t, n, 2), np.uint64),
        valid=np.zeros((t, n), np.bool_),
        esc=np.zeros((t, n), np.bool_),
        ivals=np.zeros((k, n), np.int64),
        ivalid=np.zeros((k, n), np.bool_),
        ts=np.zeros(n, np.int64),
        ts_ok=np.zeros(n, np.bool_),
        status=np.zeros(n, np.int64),
        status_null=np.ones(n, np.bool_),
        status_ok=np.ones(n, np.bool_),
    )

    def part(i0: int, i1: int) -> None:
        walk(buf, a64, ls, le, i0, i1, escapes, prog.ops, prog.lits, prog.fields, prog.stops,
             prog.cols, prog.time_field, prog.time_kind, w.ok, w.starts, w.ends, w.views,
             w.valid, w.esc, w.ivals, w.ivalid, w.ts, w.ts_ok, w.status, w.status_null,
             w.status_ok, _CLF, _ISO, _ISO_Z, _MONTHS, _TCHAR, _MASKS)  # fmt: skip

    if threads > 1 and n >= 2 * threads:
        from concurrent.futures import ThreadPoolExecutor

        cuts = [n * j // threads for j in range(threads + 1)]
        with ThreadPoolExecutor(max_workers=threads) as pool:  # the kernel releases the GIL
            list(pool.map(part, cuts[:-1], cuts[1:]))
    else:
        part(0, n)
    return w
