"""Turn a chunk of log bytes into a hits frame and a rejects frame, vectorized.

Why not ``str.extract_groups(fmt.regex)``: polars runs a capture engine over every byte of
every line, about 3 µs a line on the project's machine. The compiled format is a sequence of
literals and delimited fields (see ``formats``), so the same match is found column-wise with
numpy: lines are walked in batches that fit in the CPU cache, reading unaligned 8-byte words
(literal checks, short-field delimiter search, digits and timestamps by SWAR arithmetic),
with ``searchsorted`` over quote positions for quoted fields and polars ``str.find`` for the
rare long unquoted field. Values become polars strings without copying (Arrow string views
into the chunk's buffer). The tests check that the result equals ``fmt.regex``'s.

Decisions (also stated in the tests):

* Lines are split on ``\\n`` only; one trailing ``\\r`` is stripped; U+2028, U+0085 and a lone
  ``\\r`` are ordinary characters. A file with CR-only endings is therefore one long line, and
  is rejected.
* Bytes that are not UTF-8, and raw C0 control bytes other than tab and CR, are read as the
  text ``\\xHH`` -- what nginx itself writes for them -- so every line parses, nothing is lost.
* In field values ``\\"`` -> ``"``, ``\\\\`` -> ``\\`` and ``\\xHH`` -> that byte; the bytes are then
  decoded as UTF-8, and any byte that is still not UTF-8 (or is a control character) stays
  ``\\xHH``. A Latin-1 ``é`` logged raw and one logged by nginx as ``\\xE9`` give the same value.
* ``-`` is null in every text, number and status field.
* Request line ``METHOD SP TARGET [SP PROTOCOL]``: method is an HTTP token, protocol looks like
  ``HTTP/1.1``; the target is everything between (it may hold spaces). ``-`` or an empty request
  gives nulls; anything else (a TLS handshake, garbage) keeps the hit with method, path, query
  and protocol null and ``uri`` = the request text, so the operator can still see it.
* A line whose last quoted field lacks its closing quote (cut by its writer) is accepted, as
  GoAccess does; two lines glued together without a newline are one rejected line.
* Rejected lines keep their text (up to 8 KiB, with the ``\\xHH`` rendering, ``\\r`` shown as
  ``\\x0D``) and one reason: ``empty line``, ``does not match format``, ``bad timestamp``,
  ``bad status``.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from .formats import Field, Literal, LogFormat, Optional_, compile_format

#: Rejects schema of docs/design.md.
REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),
    "line_no": pl.Int64(),
    "offset": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
}
#: Longest raw text kept for a rejected line, in bytes.
MAX_RAW = 8192

EMPTY = "empty line"
NO_MATCH = "does not match format"
BAD_TS = "bad timestamp"
BAD_STATUS = "bad status"

_CLEAN_LINES, _CLEAN_SHARE = 64, 16  # more dirty lines than this (or 1 in 16): clean it all
_FIND_ROUNDS = 4  # 16-byte SWAR steps (>= 1) _find takes before it looks up positions
_LINES_PER_BATCH = 4096  # lines walked at once: their bytes and temporaries stay in L2
_SPLIT = 1 << 30  # bigger chunks are parsed in parts (Arrow view offsets are 32-bit)
_BIG = np.int64(1) << 60
_US = 1_000_000
_HOUR = 3600 * _US
_DAY = 86400 * _US

_U = np.uint64
_LO = _U(0x0101010101010101)
_HI = _U(0x8080808080808080)
_ZEROS = _U(0x3030303030303030)
_NIB_HI = _U(0xF0F0F0F0F0F0F0F0)
_SIX = _U(0x0606060606060606)
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)

_BROADCAST = [_U(b * 0x0101010101010101) for b in range(256)]

_Where = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class ParsedChunk:
    """What one chunk gave: parsed hits, rejected lines, and how many lines it held."""

    hits: pl.DataFrame
    rejects: pl.DataFrame
    lines: int


# --- bytes -> clean UTF-8 buffer ------------------------------------------------------------


def _hex_errors(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(f"\\x{b:02X}" for b in bad), exc.end


_HANDLER = "logmetrics-hex"
codecs.register_error(_HANDLER, _hex_errors)

_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CTRL_ALL = re.compile("[\x00-\x1f\x7f]")


def _hex_char(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02X}"


def _scan(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Newline positions, and the (sorted) indexes of the lines that may need cleaning.

    Those lines hold a byte >= 0x80 (maybe not UTF-8) or a C0 control other than tab, CR, LF.
    """
    arr = np.frombuffer(data, np.uint8)
    nls = []
    odd = []
    seen = 0  # newlines before the block
    step = 1 << 20
    for i in range(0, len(arr), step):
        blk = arr[i : i + step]
        idx = np.flatnonzero(np.subtract(blk, 32, dtype=np.uint8) >= 96)  # < 32 or >= 128
        vals = blk[idx]
        here = idx[vals == 10]
        nls.append(here + i)
        bad = idx[(vals != 10) & (vals != 9) & (vals != 13)]
        if len(bad):
            odd.append(np.unique(np.searchsorted(here, bad)) + seen)
        seen += len(here)
    nl = np.concatenate(nls).astype(np.int64) if nls else np.zeros(0, np.int64)
    lines = np.unique(np.concatenate(odd)) if odd else np.zeros(0, np.int64)
    return nl, lines.astype(np.int64)


def _clean(data: bytes) -> bytes:
    """Invalid UTF-8 and C0 controls (not tab, CR, LF) become ``\\xHH`` text; newlines stay put."""
    text = data.decode("utf-8", _HANDLER)
    return _CTRL.sub(_hex_char, text).encode("utf-8")


def _prepare(data: bytes) -> tuple[_Mem, np.ndarray, np.ndarray]:
    """The cleaned chunk (see ``_clean``), its newline positions and those of ``data``.

    Only the lines holding a suspicious byte are cleaned, one by one: a newline is never part
    of an invalid UTF-8 sequence nor a control that changes, so cleaning line by line gives
    the bytes cleaning the whole chunk gives. Many such lines: the whole chunk is cleaned.
    """
    nl, lines = _scan(data)
    if not len(lines):
        return _Mem(data), nl, nl
    if len(lines) > max(_CLEAN_LINES, len(nl) // _CLEAN_SHARE):
        clean = _clean(data)
        return _Mem(clean), _scan(clean)[0], nl
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    delta = np.zeros(len(nl) + 1, np.int64)
    at = 0
    size = len(data)
    for i in lines.tolist():
        s = int(nl[i - 1]) + 1 if i else 0
        e = int(nl[i]) if i < len(nl) else len(data)
        line = data[s:e]
        fixed = _clean(line)
        if fixed != line:
            pieces.append(view[at:s])
            pieces.append(fixed)
            at = e
            delta[i] = len(fixed) - len(line)
            size += len(fixed) - len(line)
    if not pieces:
        return _Mem(data), nl, nl
    pieces.append(view[at:])
    pieces.append(_padding(size))
    return _Mem(b"".join(pieces), size), nl + np.cumsum(delta)[: len(nl)], nl


def _padding(size: int) -> bytes:
    return bytes(32 + (-(size + 32)) % 8)


# --- the buffer: unaligned words, string views ----------------------------------------------


class _Mem:
    """The clean chunk buffer: byte and unaligned little-endian 8-byte reads, string views.

    ``padded`` is the bytes plus zero padding to a multiple of 8 with at least 32 spare, so an
    unaligned word is two aligned ``take``s and a shift (numpy gathers from an unaligned
    uint64 view are an order of magnitude slower). Arrow views point into it too.
    """

    def __init__(self, data: bytes, size: int | None = None) -> None:
        """``data``, or when ``size`` is given: ``size`` bytes already followed by padding."""
        if size is None:
            self.L = len(data)
            padded = data + _padding(len(data))
        else:
            self.L = size
            padded = data
            assert len(padded) == size + len(_padding(size))
        self.raw = padded
        self.u8 = np.frombuffer(padded, np.uint8)
        self.a64 = np.frombuffer(padded, np.uint64)
        self.pa = pa.py_buffer(padded)

    def word(self, idx: np.ndarray) -> np.ndarray:
        """The 8 bytes at each index as a little-endian uint64 (indexes clamp into the buffer)."""
        q = idx >> 3
        sh = ((idx & 7) << 3).astype(np.uint64)
        lo = self.a64.take(q, mode="clip")
        hi = self.a64.take(q + 1, mode="clip")
        return (lo >> sh) | ((hi << _U(1)) << (_U(63) - sh))

    def words(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 16 bytes at each index as two words (three aligned reads instead of four)."""
        q = idx >> 3
        sh = ((idx & 7) << 3).astype(np.uint64)
        back = _U(63) - sh
        a = self.a64.take(q, mode="clip")
        b = self.a64.take(q + 1, mode="clip")
        c = self.a64.take(q + 2, mode="clip")
        b1 = b << _U(1)
        return (a >> sh) | (b1 << back), (b >> sh) | ((c << _U(1)) << back)

    def byte(self, idx: np.ndarray) -> np.ndarray:
        return self.u8.take(idx, mode="clip")

    def views(self, s: np.ndarray, e: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Arrow string-view structs (n x 2 uint64) for buf[s:e]; empty where not valid."""
        ln = e - s
        if valid is not None:
            ln *= valid
        np.maximum(ln, 0, out=ln)
        w0, w1 = self.words(s)
        m8 = np.minimum(ln, 8)
        w0 &= _MASKS.take(m8)
        w1 &= _MASKS.take(np.minimum(ln, 12) - m8)  # clip(ln - 8, 0, 4); ln >= 0
        out = np.empty((len(s), 2), np.uint64)
        out[:, 0] = ln.astype(np.uint64) | (w0 << _U(32))
        inline = (w0 >> _U(32)) | (w1 << _U(32))
        out[:, 1] = np.where(ln > 12, s.astype(np.uint64) << _U(32), inline)
        return out

    def series(self, views: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
        """A polars String series over this buffer from view structs."""
        n = len(views)
        if n == 0:
            return pl.Series(values=[], dtype=pl.String)
        validity = None
        if valid is not None and not valid.all():
            validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        arr = pa.Array.from_buffers(
            pa.string_view(), n, [validity, pa.py_buffer(np.ascontiguousarray(views)), self.pa]
        )
        out = pl.from_arrow(arr)
        assert isinstance(out, pl.Series)
        return out

    def strings(self, s: np.ndarray, e: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
        return self.series(self.views(s, e, valid), valid)


def _clip(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``np.clip`` for integer arrays, without its per-call overhead."""
    return np.minimum(np.maximum(a, lo), hi)


def _first_byte(w: np.ndarray, byte: int) -> np.ndarray:
    """Index (0..7) of the first ``byte`` in each little-endian word; 8 when absent (SWAR)."""
    y = w ^ _BROADCAST[byte]
    t = (y - _LO) & ~y & _HI  # bit 7 of each matching byte; exact for the lowest match
    t &= ~t + _U(1)
    t -= _U(1)
    return np.bitwise_count(t) >> np.uint8(3)


def _find(
    mem: _Mem, byte: int, pos: np.ndarray, lim: np.ndarray, where: _Where | None = None
) -> np.ndarray:
    """First position in [pos, lim) holding ``byte`` (ASCII); _BIG where there is none.

    Two words (16 bytes) at a time are searched by SWAR, up to ``_FIND_ROUNDS`` times, for the
    rows still searching; rows whose field is longer are looked up in the sorted positions of
    that byte (``where``), or by polars ``str.find``.
    """
    w0, w1 = mem.words(pos)
    a = _first_byte(w0, byte)
    b = _first_byte(w1, byte)
    off = np.where(a < 8, a, b + np.uint8(8))
    out = pos + off
    far = np.flatnonzero(off >= 16)
    for k in range(1, _FIND_ROUNDS + 1):  # the next 16 bytes of the rows still searching
        if not len(far):
            break
        out[far] = _BIG
        far = far[pos[far] + 16 * k < lim[far]]
        if not len(far) or k == _FIND_ROUNDS:
            break
        cur = pos[far] + 16 * k
        w0, w1 = mem.words(cur)
        a = _first_byte(w0, byte)
        b = _first_byte(w1, byte)
        off = np.where(a < 8, a, b + np.uint8(8))
        got = off < 16
        out[far[got]] = cur[got] + off[got]
        far = far[~got]
    if len(far):
        rows = far
        cur = pos[rows] + 16 * _FIND_ROUNDS
        if where is not None:
            out[rows] = _next(where(byte), cur)
        else:
            for _ in range(3):  # back up to a UTF-8 boundary
                cur = cur - ((mem.byte(cur) & 0xC0) == 0x80)
            found = mem.strings(cur, lim[rows]).str.find(chr(byte), literal=True)
            got = found.fill_null(-1).to_numpy().astype(np.int64)
            out[rows] = np.where(got >= 0, cur + got, _BIG)
    return np.where(out < lim, out, _BIG)


def _next(positions: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """First of the sorted ``positions`` >= pos; _BIG where there is none."""
    if not len(positions):
        return np.full(len(pos), _BIG, np.int64)
    i = np.searchsorted(positions, pos)
    return np.where(i < len(positions), positions.take(i, mode="clip"), _BIG)


def _find_seq(
    mem: _Mem, seq: bytes, pos: np.ndarray, lim: np.ndarray, where: _Where | None = None
) -> np.ndarray:
    """First occurrence of a (multi-byte) character in [pos, lim); _BIG where there is none."""
    out = _find(mem, seq[0], pos, lim, where)
    if len(seq) == 1:
        return out
    todo = np.arange(len(pos))
    while len(todo):
        p = out[todo]
        live = p < lim[todo]
        todo, p = todo[live], p[live]
        good = np.ones(len(todo), bool)
        for j, b in enumerate(seq[1:], 1):
            good &= (p + j < lim[todo]) & (mem.byte(p + j) == b)
        todo, p = todo[~good], p[~good]
        if len(todo):
            out[todo] = _find(mem, seq[0], p + 1, lim[todo], where)
    return out


def _odd_backslashes(mem: _Mem, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """True where [start, end) ends with an odd run of backslashes."""
    run = np.zeros(len(start), np.int64)
    active = end > start
    k = 1
    while active.any():
        idx = end - k
        active &= (idx >= start) & (mem.byte(idx) == 92)
        run += active
        k += 1
    return run % 2 == 1


_LOW7 = _U(0x7F7F7F7F7F7F7F7F)


def _zero_bytes(y: np.ndarray) -> np.ndarray:
    """Bit 7 set exactly in the bytes of ``y`` that are zero (no borrow between bytes)."""
    return ~(((y & _LOW7) + _LOW7) | y | _LOW7)


def _decimal_ok(w: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """The first ``ln`` (1..8) bytes read ``[0-9]+(\\.[0-9]*)?``, by SWAR."""
    m = _MASKS[_clip(ln, 1, 8)]
    dots = _zero_bytes(w ^ _U(0x2E2E2E2E2E2E2E2E)) & m & _HI
    one_dot = (dots & (dots - _U(1))) == 0
    spread = (dots >> _U(7)) * _U(0xFF)  # 0xFF in every dot byte
    x = (w & ~spread) | (spread & _ZEROS)  # dots read as '0'
    _, digits = _digits8(x, ln)
    first_dot = (dots & _U(0x80)) != 0
    return (ln >= 1) & (ln <= 8) & digits & one_dot & ~first_dot


def _digits8(w: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, all-digits) of the first ``ln`` (1..8) bytes of each word, by SWAR."""
    ln = _clip(ln, 1, 8)
    m = _MASKS[ln]
    x = (w & m) | (_ZEROS & ~m)
    ok = ((x & _NIB_HI) == _ZEROS) & (((x + _SIX) & _NIB_HI) == _ZEROS)
    x = (x << (_U(8) * (_U(8) - ln.astype(np.uint64)))) | (_ZEROS & _MASKS[8 - ln])
    v = x - _ZEROS
    v = ((v & _U(0x0F0F0F0F0F0F0F0F)) * _U(2561)) >> _U(8)
    v = ((v & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    v = ((v & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)
    return (v & _U(0xFFFFFFFF)).astype(np.int64), ok


# --- escapes --------------------------------------------------------------------------------

_ESC = re.compile(rb'\\(?:x([0-9A-Fa-f]{2})|(["\\]))')


def _esc_repl(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:
        return bytes([int(m.group(1), 16)])
    return m.group(2)


def unescape(raw: bytes) -> str:
    """Decode nginx/Apache escapes; bytes that are not UTF-8 or are controls stay ``\\xHH``."""
    text = _ESC.sub(_esc_repl, raw).decode("utf-8", _HANDLER)
    if _CTRL_ALL.search(text):
        text = _CTRL_ALL.sub(_hex_char, text)
    return text


# --- timestamps -----------------------------------------------------------------------------

_MONTH_CODES = np.array(
    [int.from_bytes(m.encode(), "little") for m in
     ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")],
    np.int64,
)  # fmt: skip
_MONTH_ORDER = np.argsort(_MONTH_CODES)
_MONTH_SORTED = _MONTH_CODES[_MONTH_ORDER]
_DIM = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _layout(pattern: str) -> list[tuple[int, int, int, int]]:
    """Per word of a fixed-width pattern: (digit mask, digit ones, literal mask, literal value).

    ``D`` is a digit, ``A`` a letter and ``+`` a sign (checked by the caller); anything else
    is a literal byte.
    """
    words = []
    for k in range(0, len(pattern), 8):
        dm = dv = lm = lv = 0
        for j, ch in enumerate(pattern[k : k + 8]):
            if ch == "D":
                dm |= 0xFF << (8 * j)
                dv |= 0x30 << (8 * j)
            elif ch not in "A+":
                lm |= 0xFF << (8 * j)
                lv |= ord(ch) << (8 * j)
        words.append((dm, dv, lm, lv))
    return words


def _fixed(mem: _Mem, s: np.ndarray, pattern: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Words of a fixed-width field and whether its digits and literal bytes are right (SWAR)."""
    ok = np.ones(len(s), bool)
    words = []
    for k, (dm, dv, lm, lv) in enumerate(_layout(pattern)):
        w = mem.word(s + 8 * k)
        words.append(w)
        if dm:
            hi = _U(dm & 0xF0F0F0F0F0F0F0F0)
            x = w & _U(dm)
            ok &= ((x & hi) == _U(dv)) & (((x + _U(dv // 8)) & hi) == _U(dv))
        if lm:
            ok &= (w & _U(lm)) == _U(lv)
    return words, ok


def _dig(words: list[np.ndarray], *at: int) -> np.ndarray:
    """The decimal number whose digits are at byte positions ``at`` (already validated)."""
    v = np.zeros(len(words[0]), np.int64)
    for i in at:
        v = v * 10 + ((words[i >> 3] >> _U(8 * (i & 7))) & _U(0xF)).astype(np.int64)
    return v


def _byte_of(words: list[np.ndarray], i: int) -> np.ndarray:
    return ((words[i >> 3] >> _U(8 * (i & 7))) & _U(0xFF)).astype(np.int64)


def _civil(
    y: np.ndarray, mo: np.ndarray, d: np.ndarray, hh: np.ndarray, mi: np.ndarray,
    ss: np.ndarray, ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Seconds since the epoch of a wall-clock time (Hinnant's days_from_civil), and validity."""
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = _DIM.take(mo, mode="clip") + ((mo == 2) & leap)
    ok = ok & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (hh <= 23) & (mi <= 59) & (ss <= 59)
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hh * 3600 + mi * 60 + ss, ok


def _offset(words: list[np.ndarray], at: int, h: tuple[int, int], m: tuple[int, int],
            ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    sign = _byte_of(words, at)
    oh, om = _dig(words, *h), _dig(words, *m)
    ok = ok & ((sign == 43) | (sign == 45)) & (oh <= 23) & (om <= 59)
    return np.where(sign == 45, -1, 1) * (oh * 3600 + om * 60), ok


_CLF = "DD/AAA/DDDD:DD:DD:DD +DDDD"
_ISO = "DDDD-DD-DDTDD:DD:DD+DD:DD"
_ISO_Z = "DDDD-DD-DDTDD:DD:DDZ"


def _parse_clf(mem: _Mem, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``10/Oct/2000:13:55:36 -0700`` -> (µs since the epoch UTC, valid)."""
    w, ok = _fixed(mem, s, _CLF)
    ok &= (e - s) == 26
    code = ((w[0] >> _U(24)) & _U(0xFFFFFF) | _U(0x202020)).astype(np.int64)
    i = _clip(np.searchsorted(_MONTH_SORTED, code), 0, 11)
    ok &= _MONTH_SORTED.take(i) == code
    mo = _MONTH_ORDER.take(i) + 1
    secs, ok = _civil(
        _dig(w, 7, 8, 9, 10), mo, _dig(w, 0, 1), _dig(w, 12, 13), _dig(w, 15, 16),
        _dig(w, 18, 19), ok,
    )  # fmt: skip
    off, ok = _offset(w, 21, (22, 23), (24, 25), ok)
    return (secs - off) * _US, ok


def _parse_iso(mem: _Mem, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``2000-10-10T13:55:36-07:00`` (or ``…Z``) -> (µs since the epoch UTC, valid)."""
    w, ok = _fixed(mem, s, _ISO)
    _, zok = _fixed(mem, s, _ISO_Z)
    zulu = zok & ((e - s) == 20)
    ok = (ok & ((e - s) == 25)) | zulu
    secs, ok = _civil(
        _dig(w, 0, 1, 2, 3), _dig(w, 5, 6), _dig(w, 8, 9), _dig(w, 11, 12), _dig(w, 14, 15),
        _dig(w, 17, 18), ok,
    )  # fmt: skip
    off, zone_ok = _offset(w, 19, (20, 21), (23, 24), ok)
    ok = np.where(zulu, ok, zone_ok)
    return (secs - np.where(zulu, 0, off)) * _US, ok


def _local_dates(us: np.ndarray, tz: str) -> np.ndarray:
    """Days since the epoch of each UTC instant's local date in ``tz``."""
    if len(us) == 0:
        return np.zeros(0, np.int64)

    def offsets(instants: np.ndarray) -> np.ndarray:
        s = pl.Series(instants).cast(pl.Datetime("us", "UTC"))
        local = s.dt.convert_time_zone(tz).dt.replace_time_zone(None).cast(pl.Int64).to_numpy()
        return local - instants

    h0 = int(us.min()) // _HOUR
    h1 = int(us.max()) // _HOUR + 1
    if h1 - h0 > 24 * 800:
        local = us + offsets(us)
    else:
        # a zone's offset changes at most once in an hour: look it up per hour boundary
        grid = np.arange(h0, h1 + 1, dtype=np.int64) * _HOUR
        off = offsets(grid)
        hi = us // _HOUR - h0
        o0 = off[hi]
        local = us + o0
        moved = np.flatnonzero(o0 != off[hi + 1])
        if len(moved):
            local[moved] = us[moved] + offsets(us[moved])
    return np.floor_divide(local, _DAY)


# --- request lines --------------------------------------------------------------------------

_METHOD_RE = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_PROTO_TAIL_RE = r" ([A-Za-z][A-Za-z0-9]*/[0-9]+(?:\.[0-9]+)?)$"
_KNOWN_METHODS = np.array(
    sorted(int.from_bytes(m.encode(), "little") for m in
           ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
            "PRI", "PROPFIND")),
    np.uint64,
)  # fmt: skip
_KNOWN_PROTO8 = np.array(
    sorted(int.from_bytes(p.encode(), "little") for p in
           (" HTTP/1.", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/3.0")),
    np.uint64,
)  # fmt: skip


def _isin(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    i = _clip(np.searchsorted(table, values), 0, len(table) - 1)
    return table[i] == values


# --- the per-batch walk ---------------------------------------------------------------------


class _Out:
    """Whole-chunk result arrays, filled batch by batch."""

    def __init__(self, n: int, fmt: LogFormat, escapes: bool) -> None:
        self.n = n
        self.ok = np.zeros(n, bool)
        self.escapes = escapes
        # hits column -> (views, valid, has_backslash)
        self.text: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.spans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.ts = np.zeros(n, np.int64)
        self.ts_ok = np.zeros(n, bool)
        self.status = np.zeros(n, np.int64)
        self.status_null = np.ones(n, bool)
        self.status_ok = np.ones(n, bool)
        self.ints: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.lock = threading.Lock()  # batches may run in threads; arrays are made once

    def text_col(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            if name not in self.text:
                self.text[name] = (
                    np.zeros((self.n, 2), np.uint64),
                    np.zeros(self.n, bool),
                    np.zeros(self.n, bool),
                )
            return self.text[name]

    def int_col(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if name not in self.ints:
                self.ints[name] = (np.zeros(self.n, np.int64), np.zeros(self.n, bool))
            return self.ints[name]

    def span(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if group not in self.spans:
                self.spans[group] = (
                    np.full(self.n, -1, np.int64),
                    np.full(self.n, -1, np.int64),
                )
            return self.spans[group]


class _Batch:
    """Match lines [i0, i1) against the format and extract their values into ``_Out``."""

    def __init__(self, fmt: LogFormat, mem: _Mem, out: _Out, ls: np.ndarray, le: np.ndarray,
                 i0: int, i1: int) -> None:  # fmt: skip
        self.fmt = fmt
        self.mem = mem
        self.out = out
        self.i0, self.i1 = i0, i1
        self.ls = ls[i0:i1]
        self.le = le[i0:i1]
        self.b0 = int(self.ls[0])
        self.b1 = int(self.le[-1]) + 1
        self.spans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._quotes: np.ndarray | None = None
        self._pos: dict[int, np.ndarray] = {}
        self._bs_lines: np.ndarray | None = None

    # positions inside the batch
    def positions(self, byte: int) -> np.ndarray:
        """Sorted positions of ``byte`` in this batch's lines."""
        if byte not in self._pos:
            view = self.mem.u8[self.b0 : min(self.b1, self.mem.L)]
            self._pos[byte] = np.flatnonzero(view == byte).astype(np.int64) + self.b0
        return self._pos[byte]

    def quotes(self) -> np.ndarray:
        """Positions of quotes not escaped by an odd run of backslashes."""
        if self._quotes is None:
            q = self.positions(34)
            if self.out.escapes and len(q):
                q = q[~_odd_backslashes(self.mem, np.full(len(q), self.b0), q)]
            self._quotes = q
        return self._quotes

    def backslashes(self) -> np.ndarray:
        return self.positions(92)

    def has_backslash(self, s: np.ndarray, e: np.ndarray) -> np.ndarray:
        if not self.out.escapes:
            return np.zeros(len(s), bool)
        bs = self.backslashes()
        if not len(bs):
            return np.zeros(len(s), bool)
        if self._bs_lines is None:
            self._bs_lines = np.flatnonzero(
                np.searchsorted(bs, self.le) > np.searchsorted(bs, self.ls)
            )
        rows = self._bs_lines  # only spans inside these lines can hold a backslash
        out = np.zeros(len(s), bool)
        out[rows] = np.searchsorted(bs, e[rows]) > np.searchsorted(bs, s[rows])
        return out

    # matching
    def run(
        self, elements: tuple, pos: np.ndarray, ok: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        for el in elements:
            if isinstance(el, Literal):
                pos, ok = self.literal(el, pos, ok)
            elif isinstance(el, Optional_):
                first = el.elements[0]
                assert isinstance(first, Literal)
                present = ok & (pos < self.le) & (self.mem.byte(pos) == first.text.encode()[0])
                sub_pos, sub_ok = self.run(el.elements, pos.copy(), ok.copy())
                for f in el.elements:
                    if isinstance(f, Field):
                        s, e = self.spans[f.group]
                        self.spans[f.group] = (np.where(present, s, -1), np.where(present, e, -1))
                pos = np.where(present, sub_pos, pos)
                ok = np.where(present, sub_ok, ok)
            else:
                pos, ok = self.field(el, pos, ok)
                pos = np.where(ok, pos, self.le)
        return pos, ok

    def literal(
        self, el: Literal, pos: np.ndarray, ok: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # No bound check: bytes past a line's end are CR/LF/NUL padding, which no literal
        # holds (a match running past the end still fails the final ``pos == le`` test).
        raw = el.text.encode("utf-8")
        if el.optional:
            present = (pos < self.le) & (self.mem.byte(pos) == raw[0])
            return pos + present, ok
        if len(raw) == 1:
            return pos + 1, ok & (self.mem.byte(pos) == raw[0])
        for k in range(0, len(raw), 8):
            part = raw[k : k + 8]
            want = _U(int.from_bytes(part, "little"))
            ok = ok & ((self.mem.word(pos + k) & _MASKS[len(part)]) == want)
        return pos + len(raw), ok

    def field(self, f: Field, pos: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        le = self.le
        if f.quoted:
            end = _next(self.quotes(), pos)
            if f.eol:
                open_end = end >= le
                end = np.minimum(end, le)
                if self.out.escapes:
                    ok = ok & ~(open_end & _odd_backslashes(self.mem, pos, end))
            else:
                ok = ok & (end < le)
        elif f.stops:
            end = np.full(len(pos), _BIG, np.int64)
            for stop in f.stops:
                seq = stop.encode("utf-8")
                found = _find_seq(self.mem, seq, pos, le, self.positions)
                for _ in range(f.skip):
                    again = _find_seq(self.mem, seq, found + 1, le, self.positions)
                    found = np.where(found < le, again, _BIG)
                end = np.minimum(end, found)
            if f.eol:
                end = np.minimum(end, le)
            else:
                ok = ok & (end < le)
        else:
            end = le.copy()
        end = np.where(ok, end, pos)
        self.spans[f.group] = (pos, end)
        return end, ok

    # extraction
    def process(self) -> None:
        fmt, out = self.fmt, self.out
        sl = slice(self.i0, self.i1)
        pos, ok = self.run(fmt.elements, self.ls.copy(), np.ones(len(self.ls), bool))
        ok &= pos == self.le
        for f in fmt.fields:
            if f.strict:
                ok &= self.strict_ok(f, ok)
        out.ok[sl] = ok
        for g, (s, e) in self.spans.items():
            gs, ge = out.span(g)
            gs[sl] = np.where(ok, s, -1)
            ge[sl] = np.where(ok, e, -1)
        if not ok.any():
            return
        self.times(ok)
        src = fmt.sources
        for name, group in src.items():
            f = fmt.field(group)
            s, e = self.spans[group]
            present = ok & (s >= 0)
            if f.kind == "text":
                self.put_text(name, s, e, present)
            elif f.kind == "query_q":
                self.put_text(name, s + 1, e, present & (e > s), dash=False)
            elif f.kind == "status":
                self.put_status(s, e, present)
            elif f.kind == "int":
                self.put_int(name, s, e, present)
        for f in fmt.fields:
            if f.kind in ("request", "request_uri"):
                wanted = {c for c, g in src.items() if g == f.group}
                if wanted:
                    self.request(f, ok, wanted)

    def strict_ok(self, f: Field, ok: np.ndarray) -> np.ndarray:
        """The field matches its own (number / %q) pattern, as the regex demands."""
        s, e = self.spans[f.group]
        present = ok & (s >= 0)
        ln = e - s
        if f.kind == "query_q":
            return ~present | (ln == 0) | (self.mem.byte(s) == ord("?"))
        if f.kind in ("status", "int"):
            w = self.mem.word(s)
            dash = (ln == 1) & ((w & _U(0xFF)) == _U(45))
            _, digits = _digits8(w, ln)
            good = dash | ((ln >= 1) & (ln <= 8) & digits)
            long = present & (ln > 8)
            if long.any():
                idx = np.flatnonzero(long)
                col = self.mem.strings(s[idx], e[idx])
                good[idx] = col.str.contains(r"^[0-9]+$").to_numpy()
            return ~present | good
        if f.kind == "seconds":
            w = self.mem.word(s)
            dash = (ln == 1) & ((w & _U(0xFF)) == _U(45))
            good = dash | _decimal_ok(w, ln)
            slow = np.flatnonzero(present & ~good & (ln > 8))
        else:
            good = np.zeros(len(s), bool)
            slow = np.flatnonzero(present)
        if len(slow):
            col = self.mem.strings(s[slow], e[slow])
            good[slow] = col.str.contains(f"^(?:{f.pattern})$").to_numpy()
        return ~present | good

    def put_text(self, name: str, s: np.ndarray, e: np.ndarray, valid: np.ndarray,
                 dash: bool = True) -> None:  # fmt: skip
        sl = slice(self.i0, self.i1)
        if dash:
            valid = valid & ~(((e - s) == 1) & (self.mem.byte(s) == 45))
        views, vmask, esc = self.out.text_col(name)
        views[sl] = self.mem.views(s, e, valid)
        vmask[sl] = valid
        esc[sl] = valid & self.has_backslash(s, e)

    def put_status(self, s: np.ndarray, e: np.ndarray, present: np.ndarray) -> None:
        sl = slice(self.i0, self.i1)
        ln = e - s
        w = self.mem.word(s)
        v, _ = _digits8(w, ln)
        dash = (ln == 1) & ((w & _U(0xFF)) == _U(45))
        null = ~present | dash
        self.out.status[sl] = np.where(null, 0, v)
        self.out.status_null[sl] = null
        self.out.status_ok[sl] = null | (ln <= 3)

    def put_int(self, name: str, s: np.ndarray, e: np.ndarray, present: np.ndarray) -> None:
        sl = slice(self.i0, self.i1)
        vals, valid = self.out.int_col(name)
        ln = e - s
        w = self.mem.word(s)
        v, _ = _digits8(w, ln)
        dash = (ln == 1) & ((w & _U(0xFF)) == _U(45))
        good = present & ~dash
        vals[sl] = np.where(good, v, 0)
        valid[sl] = good
        long = np.flatnonzero(good & (ln > 8))
        if len(long):
            big = self.mem.strings(s[long], e[long]).cast(pl.Int64, strict=False)
            vals[self.i0 + long] = big.fill_null(0).to_numpy()
            valid[self.i0 + long] = big.is_not_null().to_numpy()

    def times(self, ok: np.ndarray) -> None:
        fmt, out = self.fmt, self.out
        sl = slice(self.i0, self.i1)
        main = [fmt.field(g) for g in fmt.time_groups]
        main = [f for f in main if f.kind in ("time_clf", "time_iso")]
        if not main:
            return  # strftime / epoch times are converted with polars after the batches
        s, e = self.spans[main[0].group]
        parser = _parse_clf if main[0].kind == "time_clf" else _parse_iso
        us, good = parser(self.mem, np.where(ok, s, 0), np.where(ok, e, 0))
        out.ts[sl] = us
        out.ts_ok[sl] = good & ok

    def request(self, f: Field, ok: np.ndarray, wanted: set[str]) -> None:
        mem = self.mem
        s, e = self.spans[f.group]
        present = ok & (s >= 0)
        ln = e - s
        if f.kind == "request":
            null = ~present | (ln == 0) | ((ln == 1) & (mem.byte(s) == 45))
            sp1 = _find(mem, 32, s, np.where(null, s, e), self.positions)
            has_sp = ~null & (sp1 < e) & (sp1 > s)
            mlen = sp1 - s
            mw = mem.word(s) & _MASKS[_clip(mlen, 0, 8)]
            meth = has_sp & (mlen <= 8) & _isin(mw, _KNOWN_METHODS)
            other = np.flatnonzero(has_sp & ~meth)
            if len(other):
                col = mem.strings(s[other], sp1[other])
                meth[other] = col.str.contains(_METHOD_RE).to_numpy()
            # protocol: "... HTTP/1.1" fast, other shapes by regex
            sp2 = np.full(len(s), -1, np.int64)
            w8 = mem.word(e - 8)
            fast = meth & (ln >= 10) & _isin(w8, _KNOWN_PROTO8) & (mem.byte(e - 9) == 32)
            sp2[fast] = (e - 9)[fast]
            slow = np.flatnonzero(meth & ~fast)
            if len(slow):
                tail = mem.strings(s[slow], e[slow]).str.extract(_PROTO_TAIL_RE, 1)
                plen = tail.str.len_bytes().fill_null(-1).to_numpy().astype(np.int64)
                has = plen >= 0
                sp2[slow[has]] = e[slow[has]] - plen[has] - 1
            proto = meth & (sp2 > sp1)
            junk = ~null & ~meth
            us_ = np.where(meth, sp1 + 1, s)
            ue = np.where(proto, sp2, e)
            uri_ok = meth | junk
            if "method" in wanted:
                self.put_text("method", s, sp1, meth, dash=False)
            if "protocol" in wanted:
                self.put_text("protocol", sp2 + 1, e, proto, dash=False)
            parsed = meth
        else:  # $request_uri
            null = ~present | ((ln == 1) & (mem.byte(s) == 45))
            us_, ue = s, e
            uri_ok = parsed = ~null
        if "uri" in wanted:
            self.put_text("uri", us_, ue, uri_ok, dash=False)
        if "path" in wanted or "query" in wanted:
            q = _find(mem, ord("?"), us_, np.where(parsed, ue, us_), self.positions)
            has_q = parsed & (q < ue)
            if "path" in wanted:
                self.put_text("path", us_, np.where(has_q, q, ue), parsed, dash=False)
            if "query" in wanted:
                self.put_text("query", q + 1, ue, has_q, dash=False)


# --- the parse ------------------------------------------------------------------------------


def parse_chunk(
    data: bytes,
    fmt: LogFormat | str,
    *,
    source: str,
    file: str,
    first_line_no: int,
    base_offset: int,
    tz: str = "America/Lima",
    ingested_at: datetime | None = None,
    threads: int = 1,
) -> ParsedChunk:
    """Parse complete lines of ``data``; every line ends up in exactly one of hits or rejects.

    ``offset`` of a line is ``base_offset`` + its byte offset in ``data``; ``line_no`` counts from
    ``first_line_no``; ``date`` is the hit's local date in ``tz``.
    """
    if isinstance(fmt, str):
        fmt = compile_format(fmt)
    data = bytes(data)
    when = ingested_at or datetime.now(UTC)
    if len(data) > _SPLIT:
        cut = data.rfind(b"\n", 0, len(data) // 2) + 1 or data.find(b"\n", len(data) // 2) + 1
        if 0 < cut < len(data):
            a = parse_chunk(data[:cut], fmt, source=source, file=file,
                            first_line_no=first_line_no, base_offset=base_offset, tz=tz,
                            ingested_at=when)  # fmt: skip
            b = parse_chunk(data[cut:], fmt, source=source, file=file,
                            first_line_no=first_line_no + a.lines, base_offset=base_offset + cut,
                            tz=tz, ingested_at=when)  # fmt: skip
            return ParsedChunk(
                pl.concat([a.hits, b.hits], how="vertical"),
                pl.concat([a.rejects, b.rejects], how="vertical"),
                a.lines + b.lines,
            )
    if not data:
        return ParsedChunk(pl.DataFrame(schema=fmt.columns), pl.DataFrame(schema=REJECTS_SCHEMA), 0)
    mem, nl, raw_nl = _prepare(data)
    n = len(nl) + (0 if data.endswith(b"\n") else 1)
    offsets = np.concatenate([np.zeros(1, np.int64), raw_nl + 1])[:n] + base_offset
    ls = np.concatenate([np.zeros(1, np.int64), nl + 1])[:n]
    le = np.concatenate([nl, np.array([mem.L], np.int64)])[:n]
    le = le - ((le > ls) & (mem.byte(le - 1) == 13))

    out = _Out(n, fmt, escapes=mem.raw.find(b"\\", 0, mem.L) >= 0)
    batches = [(i0, min(i0 + _LINES_PER_BATCH, n)) for i0 in range(0, n, _LINES_PER_BATCH)]
    if threads > 1 and len(batches) > 1:
        # numpy and polars release the GIL inside their loops; batches write disjoint slices
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda b: _Batch(fmt, mem, out, ls, le, *b).process(), batches))
    else:
        for i0, i1 in batches:
            _Batch(fmt, mem, out, ls, le, i0, i1).process()

    cand = np.flatnonzero(out.ok)
    _late_fields(fmt, mem, out, cand, tz)
    reason = np.full(n, "", object)
    reason[~out.ok] = NO_MATCH
    bad_ts = out.ok & ~out.ts_ok
    reason[bad_ts] = BAD_TS
    bad_status = out.ok & out.ts_ok & ~out.status_ok
    reason[bad_status] = BAD_STATUS
    hit = np.flatnonzero(out.ok & out.ts_ok & out.status_ok)
    hits = _hits(fmt, mem, out, hit, offsets, first_line_no, source, tz)
    rejects = _rejects(mem, ls, le, reason, offsets, first_line_no, source, file, when)
    return ParsedChunk(hits, rejects, n)


def match_groups(data: bytes, fmt: LogFormat | str) -> pl.DataFrame:
    """Which lines match and the raw text of every group: what ``fmt.regex`` would capture.

    One row per line: ``matched`` and one String column per regex group (null when the line
    does not match or an optional group is absent). For tests and for debugging a format.
    """
    if isinstance(fmt, str):
        fmt = compile_format(fmt)
    data = bytes(data)
    if not data:
        return pl.DataFrame(
            schema={"matched": pl.Boolean, **{f.group: pl.String for f in fmt.fields}}
        )
    mem, nl, _ = _prepare(data)
    n = len(nl) + (0 if data.endswith(b"\n") else 1)
    ls = np.concatenate([np.zeros(1, np.int64), nl + 1])[:n]
    le = np.concatenate([nl, np.array([mem.L], np.int64)])[:n]
    le = le - ((le > ls) & (mem.byte(le - 1) == 13))
    out = _Out(n, fmt, escapes=mem.raw.find(b"\\", 0, mem.L) >= 0)
    for i0 in range(0, n, _LINES_PER_BATCH):
        _Batch(fmt, mem, out, ls, le, i0, min(i0 + _LINES_PER_BATCH, n)).process()
    cols = [pl.Series("matched", out.ok)]
    for f in fmt.fields:
        s, e = out.span(f.group)
        cols.append(mem.strings(s, e, out.ok & (s >= 0)).alias(f.group))
    return pl.DataFrame(cols)


def _late_fields(fmt: LogFormat, mem: _Mem, out: _Out, cand: np.ndarray, tz: str) -> None:
    """Fields that polars converts for the whole chunk: non-CLF/ISO times, float seconds."""
    fields = [fmt.field(g) for g in fmt.time_groups]
    if not any(f.kind in ("time_clf", "time_iso") for f in fields) and len(cand):
        us, ok = _polars_time(fmt, mem, out, cand, tz)
        out.ts[cand] = us
        out.ts_ok[cand] = ok
    elif len(cand):
        for f in fields:
            if f.kind == "time_frac":
                s, e = (a[cand] for a in out.span(f.group))
                c = mem.strings(s, e, s >= 0)
                ok = c.str.contains(r"^[0-9]+$").fill_null(False).to_numpy()
                v = c.cast(pl.Int64, strict=False).fill_null(0).to_numpy()
                out.ts[cand] += np.round(v * f.scale * _US).astype(np.int64)
                out.ts_ok[cand] &= ok


def _polars_time(
    fmt: LogFormat, mem: _Mem, out: _Out, cand: np.ndarray, tz: str
) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps from strftime or epoch fields (formats other than CLF / ISO 8601)."""
    tf = [fmt.field(g) for g in fmt.time_groups]
    strf = [f for f in tf if f.kind == "time_strftime"]
    epoch = [f for f in tf if f.kind == "time_epoch"]
    frac = [f for f in tf if f.kind == "time_frac"]

    def col(f: Field) -> pl.Series:
        s, e = (a[cand] for a in out.span(f.group))
        return mem.strings(s, e, s >= 0)

    if strf:
        pieces = [col(f) for f in strf]
        joined = pl.select(pl.concat_str([pl.lit(p) for p in pieces], separator="\x1f")).to_series()
        pattern = "\x1f".join(f.arg or "" for f in strf)
        if "%z" in pattern or "%:z" in pattern:
            ts = joined.str.strptime(pl.Datetime("us", "UTC"), pattern, strict=False)
        else:
            ts = joined.str.strptime(pl.Datetime("us"), pattern, strict=False)
            ts = ts.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            ts = ts.dt.convert_time_zone("UTC")
        phys = ts.cast(pl.Int64)
        ok = phys.is_not_null().to_numpy()
        us = phys.fill_null(0).to_numpy().astype(np.int64)
    else:
        f = epoch[0]
        text = col(f)
        shape = text.str.contains(r"^[0-9]+(?:\.[0-9]+)?$").fill_null(False).to_numpy()
        phys = (text.cast(pl.Float64, strict=False) * (f.scale * _US)).round(0)
        vals = phys.fill_null(0).to_numpy()
        ok = shape & (np.abs(vals) < 1e17)
        us = np.where(ok, vals, 0).astype(np.int64)
        frac = []
    for f in frac:
        c = col(f)
        ok = ok & c.str.contains(r"^[0-9]+$").fill_null(False).to_numpy()
        v = c.cast(pl.Int64, strict=False).fill_null(0).to_numpy()
        us = us + np.round(v * f.scale * _US).astype(np.int64)
    return us, ok


def _hits(
    fmt: LogFormat,
    mem: _Mem,
    out: _Out,
    hit: np.ndarray,
    offsets: np.ndarray,
    first_line_no: int,
    source: str,
    tz: str,
) -> pl.DataFrame:
    """Assemble the hits frame (docs/design.md schema) for the line indexes in ``hit``."""
    h = len(hit)
    every = h == out.n

    def take(a: np.ndarray) -> np.ndarray:
        return a if every else a.take(hit, axis=0)  # much faster than a[hit] for 2-D

    cols: dict[str, pl.Series] = {}
    for name, (views, valid, esc) in out.text.items():
        v = take(valid)
        s = mem.series(take(views), v).alias(name)
        fix = np.flatnonzero(take(esc))
        if len(fix):
            raw = s.gather(fix).to_list()
            memo = {t: unescape(t.encode("utf-8")) for t in set(raw) if t is not None}
            fixed = [memo[t] if t is not None else None for t in raw]
            s = s.scatter(fix, fixed)
        cols[name] = s
    for name, (vals, valid) in out.ints.items():
        v = take(valid)
        s = pl.Series(name, take(vals), pl.Int64)
        cols[name] = s if v.all() else s.set(pl.Series(~v), None)
    for f in fmt.fields:
        if f.kind == "seconds" and fmt.sources.get(f.column or "") == f.group:
            s_, e_ = (a[hit] for a in out.span(f.group))
            present = s_ >= 0
            present &= ~(((e_ - s_) == 1) & (mem.byte(s_) == 45))
            c = mem.strings(s_, e_, present).cast(pl.Float64, strict=False)
            cols["request_time"] = (c * f.scale).alias("request_time")
    if "status" in fmt.sources:
        null = take(out.status_null)
        st = pl.Series("status", take(out.status), pl.Int16)
        cols["status"] = st if not null.any() else st.set(pl.Series(null), None)
    if "uri" not in cols and "path" in cols:
        q = cols.get("query")
        uri = cols["path"]
        if q is not None:
            uri = pl.select(
                pl.when(pl.lit(q).is_null())
                .then(pl.lit(uri))
                .otherwise(pl.concat_str([pl.lit(uri), pl.lit("?"), pl.lit(q)]))
            ).to_series()
        cols["uri"] = uri.alias("uri")

    ts_us = take(out.ts)
    cols["ts"] = pl.Series("ts", ts_us).cast(pl.Datetime("us", "UTC"))
    cols["date"] = pl.Series("date", _local_dates(ts_us, tz).astype(np.int32)).cast(pl.Date)
    cols["source"] = pl.repeat(source, h, dtype=pl.String, eager=True)
    cols["offset"] = pl.Series("offset", offsets[hit], pl.Int64)
    cols["line_no"] = pl.Series("line_no", hit.astype(np.int64) + first_line_no, pl.Int64)

    series = []
    for name, dtype in fmt.columns.items():
        if name in cols:
            c = cols[name]
            series.append((c if c.dtype == dtype else c.cast(dtype)).alias(name))
        else:
            series.append(pl.repeat(None, h, dtype=dtype, eager=True).alias(name))
    return pl.DataFrame(series)


def _rejects(
    mem: _Mem,
    ls: np.ndarray,
    le: np.ndarray,
    reason: np.ndarray,
    offsets: np.ndarray,
    first_line_no: int,
    source: str,
    file: str,
    when: datetime,
) -> pl.DataFrame:
    """One row per rejected line with its lossy text (capped) and reason."""
    idx = np.flatnonzero(reason != "")
    if len(idx) == 0:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    s, e = ls[idx], le[idx]
    cut = e - s > MAX_RAW
    e = np.where(cut, s + MAX_RAW, e)
    for _ in range(3):  # never split a UTF-8 sequence
        e = e - (cut & ((mem.byte(e) & 0xC0) == 0x80))
    raw = mem.strings(s, e).str.replace_all("\r", "\\x0D", literal=True)
    reasons = reason[idx].astype(str)
    blank = raw.str.strip_chars(" \t").str.len_bytes().to_numpy() == 0
    reasons[blank & (reasons == NO_MATCH)] = EMPTY
    r = len(idx)
    return pl.DataFrame(
        {
            "source": pl.repeat(source, r, dtype=pl.String, eager=True),
            "file": pl.repeat(file, r, dtype=pl.String, eager=True),
            "line_no": pl.Series(idx.astype(np.int64) + first_line_no, dtype=pl.Int64),
            "offset": pl.Series(offsets[idx], dtype=pl.Int64),
            "raw": raw,
            "reason": pl.Series(reasons.tolist(), dtype=pl.String),
            "ingested_at": pl.repeat(when, r, eager=True).cast(pl.Datetime("us", "UTC")),
        },
        schema=REJECTS_SCHEMA,
    )


__all__ = [
    "EMPTY", "BAD_STATUS", "BAD_TS", "MAX_RAW", "NO_MATCH", "REJECTS_SCHEMA",
    "ParsedChunk", "match_groups", "parse_chunk", "unescape",
]  # fmt: skip
