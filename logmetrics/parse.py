"""Turn a chunk of log bytes into a hits frame and a rejects frame.

Why not ``str.extract_groups(fmt.regex)``: polars runs a capture engine over every byte of
every line, about 2-3 µs a line on the project's machine. The compiled format is a sequence of
literals and delimited fields (see ``formats``), so one forward pass over each line finds the
same match: ``_walk`` does it in compiled code (numba), 8 bytes at a time, and also checks the
numbers, reads CLF / ISO 8601 times, splits the request line and writes each value as an
Arrow string view into the chunk's buffer, so values become polars strings without copying.
This module prepares the buffer (newlines, the ``\\xHH`` reading of odd bytes), converts the
rarer shapes with polars (strftime and epoch times, escapes) and assembles the frames. The
tests check that the walk captures what ``fmt.regex`` captures.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import polars as pl
import pyarrow as pa

from . import _walk
from .formats import Field, LogFormat, compile_format
from .localtime import local_times
from .sources import TAIL_BYTES, ChunkBuffer, padded_chunk

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
#: a line's reason code in the parse (an index into _REASONS; 0: a hit)
_R_NO_MATCH, _R_BAD_TS, _R_BAD_STATUS, _R_EMPTY = 1, 2, 3, 4
_REASONS = np.array(["", NO_MATCH, BAD_TS, BAD_STATUS, EMPTY])

_CLEAN_LINES, _CLEAN_SHARE = 64, 16  # more dirty lines than this (or 1 in 16): clean it all
_SPLIT = 1 << 30  # bigger chunks are parsed in parts (Arrow view offsets are 32-bit)
_US = 1_000_000
_DAY = 86400 * _US

_U = np.uint64
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


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


def _scan(data: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newline positions, the (sorted) indexes of the lines that may need cleaning, and which
    lines hold a backslash.

    Those lines hold a byte >= 0x80 (maybe not UTF-8) or a C0 control other than tab, CR, LF.
    """
    return _walk.scan(np.frombuffer(data, np.uint8), len(data))


def _clean(data: bytes | memoryview) -> bytes:
    """Invalid UTF-8 and C0 controls (not tab, CR, LF) become ``\\xHH`` text; newlines stay put."""
    text = bytes(data).decode("utf-8", _HANDLER)
    return _CTRL.sub(_hex_char, text).encode("utf-8")


def _prepare(
    data: bytes | memoryview,
) -> tuple[_Mem, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cleaned chunk (see ``_clean``): (buffer, start and end of each line in it, whether
    each line holds a backslash, newline positions in ``data``).

    Only the lines holding a suspicious byte are cleaned, one by one: a newline is never part
    of an invalid UTF-8 sequence nor a control that changes, so cleaning line by line gives
    the bytes cleaning the whole chunk gives. A line that changes is written after the chunk
    and walked there, so the chunk stays where the reader put it. Many such lines: the whole
    chunk is cleaned.
    """
    nl, lines, bsl = _scan(data)
    n = len(nl) + (0 if data[-1:] == b"\n" else 1)
    if len(lines) > max(_CLEAN_LINES, len(nl) // _CLEAN_SHARE):
        clean = _clean(data)
        cnl, _, cbsl = _scan(clean)
        return (_Mem([clean], len(clean)), *_spans(cnl, len(clean), n), cbsl[:n], nl)
    moved: list[tuple[int, int, int]] = []  # (line, start, end) of the cleaned copies
    extra: list[bytes] = []
    at = len(data)
    for i in lines.tolist():
        s = int(nl[i - 1]) + 1 if i else 0
        e = int(nl[i]) if i < len(nl) else len(data)
        line = data[s:e]
        fixed = _clean(line)
        if fixed != line:
            moved.append((i, at, at + len(fixed)))
            extra.append(fixed)
            at += len(fixed)
            bsl[i] |= b"\\" in fixed  # ``\\xHH`` text
    ls, le = _spans(nl, len(data), n)
    for i, s, e in moved:
        ls[i], le[i] = s, e
    return _Mem.of(data, extra), ls, le, bsl[:n], nl


def _spans(nl: np.ndarray, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (the newline, or ``size``) of each of the ``n`` lines of a buffer."""
    ls = np.concatenate([np.zeros(1, np.int64), nl + 1])[:n]
    le = np.concatenate([nl, np.array([size], np.int64)])[:n]
    return ls, le


def _padding(size: int) -> bytes:
    return bytes(32 + (-(size + 32)) % 8)


# --- the buffer: unaligned words, string views ----------------------------------------------


class _Mem:
    """The clean chunk buffer: byte and unaligned little-endian 8-byte reads, string views.

    The bytes live in an aligned numpy buffer followed by zero padding to a multiple of 8 with
    at least 32 spare, so an unaligned word is two aligned reads and a shift. Arrow views point
    into it too. It is the reader's own chunk buffer (``sources.ChunkBuffer``) when it can be,
    else a copy made by numpy, which runs without the GIL (``--jobs`` threads keep parsing
    while one chunk is copied).
    """

    def __init__(self, pieces: Sequence[bytes | memoryview], size: int) -> None:
        """The concatenation of ``pieces`` (``size`` bytes in all): a copy."""
        self._use(cast(ChunkBuffer, padded_chunk(pieces, size).obj), size)

    @classmethod
    def of(cls, data: bytes | memoryview, extra: Sequence[bytes] = ()) -> _Mem:
        """``data`` then the ``extra`` pieces: in the reader's buffer when ``data`` is a chunk
        the reader cut (at the start of a ChunkBuffer) and the pieces fit in its spare room,
        so the chunk is not copied; else a copy."""
        size = len(data)
        used = size + sum(len(p) for p in extra)
        owner = data.obj if isinstance(data, memoryview) else None
        if (
            isinstance(owner, ChunkBuffer)
            and data.c_contiguous
            and owner.nbytes >= used + TAIL_BYTES
            and np.frombuffer(data, np.uint8).ctypes.data == owner.ctypes.data
        ):
            at = size
            for piece in extra:
                owner[at : at + len(piece)] = np.frombuffer(piece, np.uint8)
                at += len(piece)
            mem = cls.__new__(cls)
            mem._use(owner, used)
            return mem
        return cls([data, *extra], used)

    def _use(self, owner: np.ndarray, size: int) -> None:
        """Take a ChunkBuffer holding ``size`` bytes of content as the buffer."""
        arr = owner[: size + len(_padding(size))].view(np.ndarray)  # whole words
        arr[size:] = 0
        self.u8 = arr
        self.a64 = arr.view(np.uint64)
        self.pa = pa.py_buffer(arr)

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
        return pl.Series(_CArray(arr))

    def strings(self, s: np.ndarray, e: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
        return self.series(self.views(s, e, valid), valid)


def _repeat(value: Any, n: int, dtype: Any = pl.String) -> pl.Series:
    """``value`` ``n`` times (without ``pl.repeat``'s expression engine: ~10x less overhead)."""
    return pl.Series([value]).cast(dtype).new_from_index(0, n)


def _series(values: np.ndarray, name: str = "", dtype: Any = None) -> pl.Series:
    """A polars Series of a 1-D numpy array, handed over as Arrow (zero copy for numbers).

    Why: polars' numpy path consults ``numpy.ma``, whose first import costs ~0.04 s a run.
    Numbers are shared, booleans packed to bits.
    """
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = pa.py_buffer(np.packbits(values, bitorder="little"))
        arr = pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])
    else:  # not pa.array(): it imports pandas to check for pandas input
        kind = pa.from_numpy_dtype(values.dtype)
        arr = pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    out = pl.Series(_CArray(arr)).alias(name)
    return out if dtype is None or out.dtype == dtype else out.cast(dtype)


class _CArray:
    """An Arrow array seen only through the C data interface.

    Why: polars takes such an array as is (zero copy), while ``pl.from_arrow`` first imports
    ``pyarrow.compute`` (~0.1 s, a tenth of a small ingest) to coerce types we never produce.
    """

    def __init__(self, arr: pa.Array) -> None:
        self._arr = arr

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self._arr.__arrow_c_array__(requested_schema)


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


def _local_dates(us: np.ndarray, tz: str) -> np.ndarray:
    """Days since the epoch of each UTC instant's local date in ``tz``."""
    if len(us) == 0:
        return np.zeros(0, np.int64)
    local = local_times(_series(us).cast(pl.Datetime("us", "UTC")), tz)
    return np.floor_divide(local.cast(pl.Int64).to_numpy(), _DAY)


_PROGRAMS: dict[tuple[str, str], _walk.Program] = {}


def _program(fmt: LogFormat) -> _walk.Program:
    """The walk's tables for ``fmt`` (made once per format per process)."""
    key = (fmt.spec, fmt.regex)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _walk.program(fmt)
    return _PROGRAMS[key]


# --- the walk's results, by hits column ----------------------------------------------------


class _Out:
    """The compiled walk's results (``_walk.Walked``) keyed by hits column and field group."""

    def __init__(self, w: _walk.Walked, prog: _walk.Program) -> None:
        self.n = len(w.ok)
        self.ok = w.ok
        self.text = {name: (w.views[t], w.valid[t], w.esc[t]) for name, t in prog.text.items()}
        self.ints = {name: (w.ivals[k], w.ivalid[k]) for name, k in prog.ints.items()}
        self.spans = {g: (w.starts[i], w.ends[i]) for g, i in prog.groups.items()}
        self.ts, self.ts_ok = w.ts, w.ts_ok
        self.status, self.status_null, self.status_ok = w.status, w.status_null, w.status_ok

    def span(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        return self.spans[group]


# --- the parse ------------------------------------------------------------------------------


def parse_chunk(
    data: bytes | memoryview,
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
    if not isinstance(data, memoryview):  # a reader's chunk stays a view of its buffer
        data = bytes(data)
    when = ingested_at or datetime.now(UTC)
    if len(data) > _SPLIT:
        data = bytes(data)
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
    mem, raw_nl, ls, le, out = _walked(data, fmt, threads)
    n = out.n
    offsets = np.concatenate([np.zeros(1, np.int64), raw_nl + 1])[:n] + base_offset

    cand = np.flatnonzero(out.ok)
    _late_fields(fmt, mem, out, cand, tz)
    reason = np.zeros(n, np.int8)  # an index into _REASONS; 0: a hit
    reason[~out.ok] = _R_NO_MATCH
    reason[out.ok & ~out.ts_ok] = _R_BAD_TS
    reason[out.ok & out.ts_ok & ~out.status_ok] = _R_BAD_STATUS
    hit = np.flatnonzero(out.ok & out.ts_ok & out.status_ok)
    hits = _hits(fmt, mem, out, hit, offsets, first_line_no, source, tz)
    rejects = _rejects(mem, ls, le, reason, offsets, first_line_no, source, file, when)
    return ParsedChunk(hits, rejects, n)


def _walked(
    data: bytes | memoryview, fmt: LogFormat, threads: int
) -> tuple[_Mem, np.ndarray, np.ndarray, np.ndarray, _Out]:
    """Prepare a non-empty chunk and walk its lines: (buffer, newlines of ``data``, line starts,
    line ends without a final CR, the walk's results)."""
    mem, ls, le, bsl, raw_nl = _prepare(data)
    le = le - ((le > ls) & (mem.byte(le - 1) == 13))
    prog = _program(fmt)
    out = _Out(_walk.run(prog, mem.u8, mem.a64, ls, le, line_escapes=bsl, threads=threads), prog)
    return mem, raw_nl, ls, le, out


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
    mem, _, _, _, out = _walked(data, fmt, 1)
    cols = [_series(out.ok, "matched")]
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
    # Columns are built for every line, then the hits are kept with one polars filter
    # (cheaper than gathering each numpy column).
    n = out.n
    every = len(hit) == n
    hits_mask = np.zeros(n, bool)
    hits_mask[hit] = True
    cols: dict[str, pl.Series] = {}
    for name, (views, valid, esc) in out.text.items():
        s = mem.series(views, valid).alias(name)
        fix = np.flatnonzero(esc)
        if len(fix):
            raw = s.gather(_series(fix)).to_list()
            memo = {t: unescape(t.encode("utf-8")) for t in set(raw) if t is not None}
            fixed = [memo[t] if t is not None else None for t in raw]
            s = s.scatter(_series(fix), fixed)
        cols[name] = s
    for name, (vals, valid) in out.ints.items():
        s = _series(vals, name, pl.Int64)
        cols[name] = s if valid.all() else s.set(_series(~valid), None)
    for f in fmt.fields:
        if f.kind == "seconds" and fmt.sources.get(f.column or "") == f.group:
            s_, e_ = out.span(f.group)
            present = s_ >= 0
            present &= ~(((e_ - s_) == 1) & (mem.byte(s_) == 45))
            c = mem.strings(s_, e_, present).cast(pl.Float64, strict=False)
            cols["request_time"] = (c * f.scale).alias("request_time")
    if "status" in fmt.sources:
        null = out.status_null
        st = _series(out.status, "status", pl.Int16)
        cols["status"] = st if not null.any() else st.set(_series(null), None)
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

    ts_us = out.ts if every else np.where(hits_mask, out.ts, out.ts[hit[0]] if len(hit) else 0)
    cols["ts"] = _series(ts_us, "ts").cast(pl.Datetime("us", "UTC"))
    cols["date"] = _series(_local_dates(ts_us, tz).astype(np.int32), "date").cast(pl.Date)
    cols["source"] = _repeat(source, n)
    cols["offset"] = _series(offsets, "offset", pl.Int64)
    cols["line_no"] = _series(np.arange(n, dtype=np.int64) + first_line_no, "line_no", pl.Int64)

    series = []
    for name, dtype in fmt.columns.items():
        if name in cols:
            c = cols[name]
            series.append((c if c.dtype == dtype else c.cast(dtype)).alias(name))
        else:
            series.append(_repeat(None, n, dtype).alias(name))
    frame = pl.DataFrame(series)
    return frame if every else frame.filter(_series(hits_mask))


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
    """One row per rejected line (``reason`` > 0) with its lossy text (capped) and reason."""
    idx = np.flatnonzero(reason)
    if len(idx) == 0:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    s, e = ls[idx], le[idx]
    cut = e - s > MAX_RAW
    e = np.where(cut, s + MAX_RAW, e)
    for _ in range(3):  # never split a UTF-8 sequence
        e = e - (cut & ((mem.byte(e) & 0xC0) == 0x80))
    raw = mem.strings(s, e).str.replace_all("\r", "\\x0D", literal=True)
    codes = reason[idx]
    blank = raw.str.strip_chars(" \t").str.len_bytes().to_numpy() == 0
    codes[blank & (codes == _R_NO_MATCH)] = _R_EMPTY
    r = len(idx)
    return pl.DataFrame(
        {
            "source": _repeat(source, r),
            "file": _repeat(file, r),
            "line_no": _series(idx.astype(np.int64) + first_line_no, dtype=pl.Int64),
            "offset": _series(offsets[idx], dtype=pl.Int64),
            "raw": raw,
            "reason": pl.Series(_REASONS[codes].tolist(), dtype=pl.String),
            "ingested_at": _repeat(when, r, pl.Datetime("us", "UTC")),
        },
        schema=REJECTS_SCHEMA,
    )


__all__ = [
    "EMPTY", "BAD_STATUS", "BAD_TS", "MAX_RAW", "NO_MATCH", "REJECTS_SCHEMA",
    "ParsedChunk", "match_groups", "parse_chunk", "unescape",
]  # fmt: skip
