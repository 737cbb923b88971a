"""The parse's compiled loops (numba source): the newline scan and the per-line walk.

Imported only to compile: ``_walk`` loads the machine code these produce from its own cache
without importing numba, and imports this module when that cache is missing or stale (the first
run after an install or an upgrade). The entry points (``*_e``) take only int64 arguments,
the addresses and sizes of arrays the caller owns, so the compiled code needs neither numba's
runtime nor Python to run: no allocation (the caller passes every buffer), no exceptions
(numpy's error model), no reference counting.

Why compiled: a log line is a short sequence of literals and delimited fields, so the natural
parse is one forward pass over its bytes. Expressed as whole-array numpy steps the same walk
cost ~3 µs a line (dozens of passes over temporaries); as a loop compiled by numba, scanning
8 bytes a step, it costs ~0.7 µs on the project's machine (nginx combined, 254-byte lines). The
loops are generic: ``_walk.Program`` turns a compiled ``LogFormat`` into small integer tables
that one kernel interprets, so one compiled kernel serves every format.

Semantics are those of the format's regex (``LogFormat.regex``), which the tests check: a quoted
field ends at the first ``"`` not escaped by a backslash, an unquoted field at the first of its
stop characters (after ``skip`` of them inside a fixed-shape time), and so on.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from ._walk import (
    _BIG,
    _C_INT,
    _C_QUERY_Q,
    _C_REQUEST,
    _C_STATUS,
    _C_TEXT,
    _CHK_NONE,
    _CHK_QUERY,
    _CHK_SECONDS,
    _FIELD,
    _FIELD_QUOTED,
    _FIELD_STOP,
    _I64_MAX,
    _LIT,
    _LIT_OPT,
    _LIT_WORD,
    _OPT_BEGIN,
    TIME_CLF,
    TIME_NONE,
    WALK_ARRAYS,
)  # fmt: skip

#: every kernel: no GIL, no exceptions (numpy's error model), no numba runtime (no NRT)
_kernel: Any = functools.partial(njit, nogil=True, error_model="numpy", _nrt=False)

_LO7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HI = np.uint64(0x8080808080808080)
_ONES = np.uint64(0x0101010101010101)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


# --- the newline scan -------------------------------------------------------------------------


@_kernel
def _newline(i, k, m, bad, nl, odd):  # pragma: no cover - jit
    """Line ``k`` ends at ``i`` (listed as odd if ``bad``): (lines so far, odd lines so far)."""
    nl[k] = i
    if bad:
        odd[m] = k
        m += 1
    return k + 1, m


@_kernel
def _scan_byte(c, i, k, m, bad, nl, odd, bsl):  # pragma: no cover - jit
    """One byte of ``scan`` that may be special: (lines so far, odd lines so far, dirty)."""
    if c == 10:
        k, m = _newline(i, k, m, bad, nl, odd)
        return k, m, False
    if c == 92:
        bsl[k] = True
    elif (c < 32 or c >= 128) and c != 9 and c != 13:
        bad = True
    return k, m, bad


@_kernel
def count_newlines(buf, a64, n):  # pragma: no cover - jit
    """How many newlines ``buf[:n]`` holds (sizes ``scan``'s outputs; the reader's line count).

    A word at a time: the newline bytes' flags shifted to bit 0 and summed by one multiply
    (~2.5 ms per 16 MB here; a byte loop took 12 ms, numpy's ``== 10`` 6-9 ms and a 16 MB
    temporary). ``a64`` views the first ``n // 8`` words of ``buf``.
    """
    newlines = np.uint64(10) * _ONES
    count = np.uint64(0)
    for q in range(n >> 3):
        count += ((_eq(a64[q], newlines) >> np.uint64(7)) * _ONES) >> np.uint64(56)
    total = np.int64(count)
    for i in range((n >> 3) * 8, n):
        total += buf[i] == 10
    return total


@_kernel
def scan(buf, a64, n, nl, odd, bsl):  # pragma: no cover - jit
    """Newline positions in ``buf[:n]`` into ``nl``, the indexes of lines that may need
    cleaning into ``odd`` (returns how many of those), and which lines hold a backslash (their
    values may need unescaping) into ``bsl`` (all False on entry).

    Lines that may need cleaning hold a byte >= 0x80 (maybe not UTF-8) or a C0 control other
    than tab, CR, LF. ``a64`` views the first ``n // 8`` words of ``buf``; words without a byte
    < 0x20 or >= 0x80 or a backslash (most of them) are skipped whole. ``nl`` has room for
    every newline, ``odd`` and ``bsl`` for one more.
    """
    k = 0
    m = 0
    bad = False
    spaces = np.uint64(0x2020202020202020)
    newlines = np.uint64(10) * _ONES
    backslashes = np.uint64(92) * _ONES
    for q in range(n >> 3):
        w = a64[q]
        special = ((w - spaces) & ~w & _HI) | (w & _HI)  # a superset of the bytes < 32, >= 128
        b = _eq(w, backslashes)
        if special == 0:
            if b:
                bsl[k] = True
            continue
        t = _eq(w, newlines)
        if (special & ~t) or b:  # maybe something other than newlines: byte by byte
            for i in range(q * 8, q * 8 + 8):
                k, m, bad = _scan_byte(buf[i], i, k, m, bad, nl, odd, bsl)
            continue
        while t:
            k, m = _newline(q * 8 + (trailing_zeros(t) >> 3), k, m, bad, nl, odd)
            bad = False
            t &= t - np.uint64(1)
    for i in range((n >> 3) * 8, n):
        k, m, bad = _scan_byte(buf[i], i, k, m, bad, nl, odd, bsl)
    if bad:
        odd[m] = k
        m += 1
    return m


# --- the walk -------------------------------------------------------------------------------


@_kernel
def _eq(w, bc):  # pragma: no cover - jit
    """Bit 7 set in exactly the bytes of ``w`` equal to the byte broadcast in ``bc`` (SWAR)."""
    y = w ^ bc
    return ~(((y & _LO7) + _LO7) | y | _LO7)


@_kernel
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


@_kernel
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


@_kernel(inline="always")
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


@_kernel
def _quoted_end(buf, a64, pos, le, eol, bs):  # pragma: no cover - jit
    """Where a quoted field starting at ``pos`` ends (its first unescaped ``"``); at the end of
    the line if ``eol`` allows an unclosed last field; -1 when the line cannot match. ``bs``:
    the line holds a backslash (else the first ``"`` ends the field: one test a word)."""
    p = pos
    if not bs:
        p = _find1(a64, 34, p, le)
        return p if p < le else (le if eol else -1)
    while True:
        p = _find_quote(a64, p, le)
        if p >= le:
            return le if eol else -1
        if buf[p] == 34:
            return p
        if p + 1 >= le:  # a backslash escaping the end of the line
            return -1
        p += 2


@_kernel(inline="always")
def _field_end(buf, a64, pos, le, fields, f, stops, bs):  # pragma: no cover - jit
    """Where field ``f`` starting at ``pos`` ends; -1 when the line cannot match."""
    quoted, eol, skip, s_off, s_n = fields[f, 0], fields[f, 1], fields[f, 2], fields[f, 3], fields[f, 4]
    if quoted:
        return _quoted_end(buf, a64, pos, le, eol, bs)
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


@_kernel
def _digit(c):  # pragma: no cover - jit
    return 48 <= c <= 57


@_kernel(inline="always")
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


@_kernel(inline="always")
def _num(buf, s, ln):  # pragma: no cover - jit
    v = 0
    for p in range(s, s + ln):
        v = v * 10 + (buf[p] - 48)
    return v


@_kernel
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


@_kernel(inline="always")
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


@_kernel(inline="always")
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


@_kernel
def _word(a64, p):  # pragma: no cover - jit
    """The 8 bytes at ``p`` as a little-endian word (two aligned reads)."""
    q = p >> 3
    sh = np.uint64((p & 7) * 8)
    return (a64[q] >> sh) | ((a64[q + 1] << np.uint64(1)) << (np.uint64(63) - sh))


@_kernel(inline="always")
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


@_kernel
def walk(
    buf, a64, ls, le, i0, i1, linebs, ops, lits, fields, stops, cols, time_field, time_kind,
    ok, starts, ends, views, valid, esc, ivals, ivalid, ts, ts_ok, status, status_null,
    status_ok, clf, iso, iso_z, months, tchar, masks, pend,
):  # pragma: no cover - jit
    """Match lines [i0, i1) and extract their values into the output arrays (see parse);
    ``linebs`` says which lines hold a backslash (only their values are searched for one)."""
    n_ops = ops.shape[0]
    n_fields = fields.shape[0]
    for i in range(i0, i1):  # starts and ends come filled with -1 (absent)
        s0 = ls[i]
        e0 = le[i]
        bs = linebs[i]
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
                    end = _quoted_end(buf, a64, pos, e0, ops[j, 2], bs)
                elif code == _FIELD_STOP:
                    end = _find1(a64, ops[j, 3], pos, e0)
                    if end >= e0:
                        end = e0 if ops[j, 2] else -1
                else:
                    end = _field_end(buf, a64, pos, e0, fields, f, stops, bs)
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


# --- the entry points ---------------------------------------------------------------------------


@intrinsic
def _view(typingctx, addr, shape, dtype):  # pragma: no cover - jit
    """A C-contiguous array over memory the caller owns: (address, shape tuple, dtype).

    No meminfo, so no reference counting and no numba runtime in the compiled code.
    """
    nd = len(shape)
    arrty = types.Array(dtype.dtype, nd, "C")

    def codegen(context, builder, signature, args):
        addr_v, shape_v, _ = args
        ary = make_array(arrty)(context, builder)
        ltype = context.get_data_type(dtype.dtype)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(ltype))
        dims = cgutils.unpack_tuple(builder, shape_v, nd)
        strides = [itemsize]
        for dim in reversed(dims[1:]):
            strides.insert(0, builder.mul(strides[0], dim))
        data = builder.inttoptr(addr_v, ltype.as_pointer())
        populate_array(ary, data=data, shape=dims, strides=strides, itemsize=itemsize,
                       meminfo=None)  # fmt: skip
        return ary._getvalue()

    return arrty(addr, shape, dtype), codegen


_I = types.int64
_N = len(WALK_ARRAYS)


@_kernel(_I(_I, _I))
def count_newlines_e(p, n):  # pragma: no cover - jit
    return count_newlines(_view(p, (n,), np.uint8), _view(p, (n >> 3,), np.uint64), n)


@_kernel(_I(_I, _I, _I, _I, _I, _I))
def scan_e(p, n, nl_p, odd_p, bsl_p, count):  # pragma: no cover - jit
    buf = _view(p, (n,), np.uint8)
    a64 = _view(p, (n >> 3,), np.uint64)
    nl = _view(nl_p, (count,), np.int64)
    odd = _view(odd_p, (count + 1,), np.int64)
    return scan(buf, a64, n, nl, odd, _view(bsl_p, (count + 1,), np.bool_))


@_kernel(_I(_I, _I, _I, _I, _I, _I))
def walk_e(addr_p, dims_p, i0, i1, time_field, time_kind):  # pragma: no cover - jit
    """``walk`` over the arrays listed in ``_walk.WALK_ARRAYS`` (addresses, then 3 dims each)."""
    a = _view(addr_p, (_N,), np.int64)
    d = _view(dims_p, (3 * _N,), np.int64)
    walk(
        _view(a[0], (d[0],), np.uint8),  # buf
        _view(a[1], (d[3],), np.uint64),  # a64
        _view(a[2], (d[6],), np.int64),  # ls
        _view(a[3], (d[9],), np.int64),  # le
        i0, i1,
        _view(a[29], (d[87],), np.bool_),  # linebs
        _view(a[4], (d[12], d[13]), np.int64),  # ops
        _view(a[5], (d[15],), np.uint8),  # lits
        _view(a[6], (d[18], d[19]), np.int64),  # fields
        _view(a[7], (d[21], d[22]), np.int64),  # stops
        _view(a[8], (d[24], d[25]), np.int64),  # cols
        time_field, time_kind,
        _view(a[9], (d[27],), np.bool_),  # ok
        _view(a[10], (d[30], d[31]), np.int64),  # starts
        _view(a[11], (d[33], d[34]), np.int64),  # ends
        _view(a[12], (d[36], d[37], d[38]), np.uint64),  # views
        _view(a[13], (d[39], d[40]), np.bool_),  # valid
        _view(a[14], (d[42], d[43]), np.bool_),  # esc
        _view(a[15], (d[45], d[46]), np.int64),  # ivals
        _view(a[16], (d[48], d[49]), np.bool_),  # ivalid
        _view(a[17], (d[51],), np.int64),  # ts
        _view(a[18], (d[54],), np.bool_),  # ts_ok
        _view(a[19], (d[57],), np.int64),  # status
        _view(a[20], (d[60],), np.bool_),  # status_null
        _view(a[21], (d[63],), np.bool_),  # status_ok
        _view(a[22], (d[66],), np.uint8),  # clf
        _view(a[23], (d[69],), np.uint8),  # iso
        _view(a[24], (d[72],), np.uint8),  # iso_z
        _view(a[25], (d[75],), np.int64),  # months
        _view(a[26], (d[78],), np.bool_),  # tchar
        _view(a[27], (d[81],), np.uint64),  # masks
        _view(a[28], (d[84], d[85]), np.int64),  # pend
    )  # fmt: skip
    return 0


#: what ``_walk`` binds: compiled for one signature each (all int64 in, int64 out)
ENTRY_POINTS = {
    "count_newlines": count_newlines_e,
    "scan": scan_e,
    "walk": walk_e,
}

