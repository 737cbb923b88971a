"""Turn a chunk of log bytes into a hits frame and a rejects frame, with polars.

polars' CSV reader cuts the chunk into a String column of lines, ``str.extract_groups(
fmt.regex)`` captures every field at once (the format's regex is the parse, see ``formats``),
and polars expressions convert the captures: numbers, times (``str.strptime``, CLF and ISO
8601 after a check of their exact shape; epoch times as numbers), the request line (split by
two small regexes). Values holding a backslash, rare, are unescaped in Python
once per distinct value. polars does the work without holding the GIL, so ``ingest --jobs N``
parses N chunks at once in threads.

Decisions (also stated in the tests):

* Lines are split on ``\\n`` only; one trailing ``\\r`` is stripped; U+2028, U+0085 and a lone
  ``\\r`` are ordinary characters. A file with CR-only endings is therefore one long line, and
  is rejected.
* Bytes that are not UTF-8, and raw C0 control bytes other than tab and CR, are read as the
  text ``\\xHH`` -- what nginx itself writes for them -- so every line parses, nothing is lost.
* In field values ``\\"`` -> ``"``, ``\\\\`` -> ``\\`` and ``\\xHH`` -> that byte; the bytes are then
  decoded as UTF-8, and any byte that is still not UTF-8 (or is a control character) stays
  ``\\xHH``. A Latin-1 ``é`` logged raw and one logged by nginx as ``\\xE9`` give the same value.
* ``-`` is null in every text, number and status field; httpd's ``""`` for an empty user name
  (``%u``) is the empty string.
* Request line ``METHOD SP TARGET [SP PROTOCOL]``: method is an HTTP token, protocol looks like
  ``HTTP/1.1``; the target is everything between (it may hold spaces). ``-`` or an empty request
  gives nulls; anything else (a TLS handshake, garbage) keeps the hit with method, path, query
  and protocol null and ``uri`` = the request text, so the operator can still see it.
* A line whose last quoted field lacks its closing quote (cut by its writer) is accepted, as
  GoAccess does; two lines glued together without a newline are one rejected line.
* Times: CLF and ISO 8601 carry their offset; ``%{…}t`` strftime times are wall-clock times in
  the configured zone unless they hold ``%s`` (seconds since the epoch), ``%z`` (an offset) or
  ``%Z`` (a zone name: UTC or GMT, a numeric name such as ``-05``, or one of the configured
  zone's own abbreviations, which also settles an hour that occurs twice; any other name is a
  bad timestamp).
* Rejected lines keep their text (up to 8 KiB, with the ``\\xHH`` rendering, ``\\r`` shown as
  ``\\x0D``) and one reason: ``empty line``, ``does not match format``, ``bad timestamp``,
  ``bad status``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from .directives import Kind, Zone
from .formats import (
    REJECTS_SCHEMA,
    REQUEST_COLUMNS,
    Field,
    LogFormat,
    Strftime,
    compile_format,
    polars_type,
)

#: Longest raw text kept for a rejected line, in bytes.
MAX_RAW = 8192

EMPTY = "empty line"
NO_MATCH = "does not match format"
BAD_TS = "bad timestamp"
BAD_STATUS = "bad status"

_US = 1_000_000


@dataclass(frozen=True)
class ParsedChunk:
    """What one chunk gave: parsed hits, rejected lines, and how many lines it held."""

    hits: pl.DataFrame
    rejects: pl.DataFrame
    lines: int


# --- bytes -> clean lines -------------------------------------------------------------------


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


def _clean(raw: bytes) -> str:
    """A line as text: invalid UTF-8 and C0 controls (not tab, CR, LF) become ``\\xHH``."""
    text = raw.decode("utf-8", _HANDLER)
    return _CTRL.sub(_hex_char, text) if _CTRL.search(text) else text


#: The CSV reader's column separator: a control byte, so never in a cleaned line.
_SEPARATOR = "\x1f"


def _scan(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset of each line of ``data`` (a last line without a newline counts), and of
    each C0 control byte other than tab, LF and CR."""
    u8 = np.frombuffer(data, np.uint8)
    low = np.flatnonzero(u8 < 32)
    kinds = u8[low]
    starts = np.concatenate([np.zeros(1, np.int64), low[kinds == 10] + 1])
    controls = low[(kinds != 9) & (kinds != 10) & (kinds != 13)]
    return (starts[:-1] if data.endswith(b"\n") else starts), controls


def _lines(data: bytes, starts: np.ndarray, controls: np.ndarray) -> pl.Series:
    """The chunk's lines (split on LF, one trailing CR stripped), cleaned (``_clean``).

    polars' CSV reader splits them (one column: no quoting, ``_SEPARATOR`` between columns),
    reading bad UTF-8 as U+FFFD; the lines holding one, or a control byte, are then cleaned
    from their bytes here (those holding the separator before the reader sees them).
    """
    size = len(data) - data.endswith(b"\n")

    def raw(i: int) -> bytes:
        end = int(starts[i + 1]) - 1 if i + 1 < len(starts) else size
        line = data[int(starts[i]) : end]
        return line[:-1] if line.endswith(b"\r") else line

    def index(at: np.ndarray) -> list[int]:
        return np.unique(np.searchsorted(starts, at, side="right") - 1).tolist()

    text = data
    split = controls[np.frombuffer(data, np.uint8)[controls] == ord(_SEPARATOR)]
    if len(split):
        pieces, at = [], 0
        for i in index(split):
            line = raw(i)
            pieces += [data[at : int(starts[i])], _clean(line).encode("utf-8")]
            at = int(starts[i]) + len(line)
        text = b"".join([*pieces, data[at:]])
    # the reader drops a leading byte-order mark: it reads a stand-in, line 0 is read below
    bom = text.startswith(codecs.BOM_UTF8)
    if bom:
        text = b"-" + text[len(codecs.BOM_UTF8) :]
    lines = pl.read_csv(
        io.BytesIO(text), has_header=False, separator=_SEPARATOR, quote_char=None,
        schema={"line": pl.String}, encoding="utf8-lossy",
    ).to_series().fill_null("").rechunk()  # fmt: skip: one chunk, or every step rechunks
    odd = set(lines.str.contains("\ufffd", literal=True).arg_true().to_list())
    odd.update(index(controls))
    if bom:
        odd.add(0)
    if odd:
        fix = sorted(odd)
        lines = lines.scatter(fix, [_clean(raw(i)) for i in fix])
    return lines


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


def _unescaped(values: pl.Series, rows: pl.Series) -> pl.Series:
    """``values`` with every value holding a backslash unescaped (each distinct one once);
    ``rows`` are the only ones that may hold one (their line does)."""
    candidates = values.gather(rows)
    has = candidates.str.contains("\\", literal=True).fill_null(False)
    if not has.any():
        return values
    escaped = candidates.filter(has)
    table = {v: unescape(v.encode("utf-8")) for v in escaped.unique().to_list()}
    return values.scatter(rows.filter(has), escaped.replace_strict(table, return_dtype=pl.String))


# --- the parse ------------------------------------------------------------------------------


def parse_chunk(
    data: bytes | memoryview,
    fmt: LogFormat | str,
    *,
    source: str,
    file: str,
    first_line_no: int,
    base_offset: int,
    tz: str,
    ingested_at: dt.datetime | None = None,
) -> ParsedChunk:
    """Parse complete lines of ``data``; every line ends up in exactly one of hits or rejects.

    ``offset`` of a line is ``base_offset`` + its byte offset in ``data``; ``line_no`` counts from
    ``first_line_no``; ``date`` is the hit's local date in ``tz``.
    """
    if isinstance(fmt, str):
        fmt = compile_format(fmt)
    data = bytes(data)
    when = ingested_at or dt.datetime.now(dt.UTC)
    if not data:
        return ParsedChunk(pl.DataFrame(schema=fmt.columns), pl.DataFrame(schema=REJECTS_SCHEMA), 0)
    starts, controls = _scan(data)
    lines = _lines(data, starts, controls)
    n = lines.len()
    frame = lines.str.extract_groups(fmt.regex).struct.unnest()
    frame = frame.with_columns(
        line=lines,
        offset=pl.Series(starts + base_offset),
        line_no=pl.int_range(first_line_no, first_line_no + n, dtype=pl.Int64, eager=True),
        ts=_timestamp(fmt, frame, tz),
        bad_status=_bad_status(fmt, frame),
    )
    frame = frame.with_columns(
        reason=pl.when(pl.col(fmt.anchor).is_null())
        .then(pl.lit(NO_MATCH))
        .when(pl.col("ts").is_null())
        .then(pl.lit(BAD_TS))
        .when(pl.col("bad_status"))
        .then(pl.lit(BAD_STATUS))
    )
    hits = frame.filter(pl.col("reason").is_null())
    rejects = frame.filter(pl.col("reason").is_not_null())
    return ParsedChunk(
        _hits(fmt, hits, source=source, tz=tz),
        _rejects(rejects, source=source, file=file, when=when),
        n,
    )


def match_groups(data: bytes, fmt: LogFormat | str) -> pl.DataFrame:
    """Which lines match and the raw text of every group (null when the line does not match
    or an optional group is absent): what the parse reads. For tests and for debugging a
    format."""
    if isinstance(fmt, str):
        fmt = compile_format(fmt)
    data = bytes(data)
    lines = _lines(data, *_scan(data)) if data else pl.Series("line", [], pl.String)
    groups = lines.str.extract_groups(fmt.regex).struct.unnest()
    matched = pl.col(fmt.anchor).is_not_null().alias("matched")
    return groups.select(matched, *groups.columns)


# --- times ----------------------------------------------------------------------------------

_HOUR, _MINUTE = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
_CLF = rf"^[0-9]{{2}}/[A-Za-z]{{3}}/[0-9]{{4}}:{_HOUR}:{_MINUTE}:{_MINUTE} [+-]{_HOUR}{_MINUTE}$"
_ISO = (
    rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T{_HOUR}:{_MINUTE}:{_MINUTE}"
    rf"(?:Z|[+-]{_HOUR}:{_MINUTE})$"
)


def _timestamp(fmt: LogFormat, frame: pl.DataFrame, tz: str) -> pl.Series:
    """Each line's time (UTC), null where it cannot be read.

    The first CLF or ISO 8601 time, else the strftime times read together, else the first
    epoch time; plus any ``msec_frac``/``usec_frac``.
    """
    fields = [fmt.field(g) for g in fmt.time_groups]
    fixed = [f for f in fields if f.kind in (Kind.TIME_CLF, Kind.TIME_ISO)]
    if fixed:
        us = _fixed_time(frame.get_column(fixed[0].group), fixed[0].kind)
    elif fmt.strftime is not None:
        us = _strftime_time(frame, fmt.strftime, tz)
    else:
        f = next(f for f in fields if f.kind is Kind.TIME_EPOCH)
        us = _epoch_time(frame.get_column(f.group), f.scale)
    for f in fields:
        if f.kind is Kind.TIME_FRAC:
            text = frame.get_column(f.group)
            frac = (text.cast(pl.Int64, strict=False) * f.scale * _US).round(0).cast(pl.Int64)
            good = text.str.contains("^[0-9]+$").fill_null(False)
            us = (us + frac).zip_with(good, pl.Series([None], dtype=pl.Int64))
    return us.cast(pl.Datetime("us", "UTC")).alias("ts")


def _fixed_time(text: pl.Series, kind: Kind) -> pl.Series:
    """A CLF (``10/Oct/2000:13:55:36 -0700``) or ISO 8601 (``2000-10-10T13:55:36-07:00``,
    ``…Z``) time in µs: exactly that shape (month names in any case), hours 0-23, minutes
    and seconds 0-59 (no leap second), an offset below 24 hours, a date that exists; else
    null."""
    if kind is Kind.TIME_CLF:
        good = text.str.contains(_CLF)
        ts = text.str.strptime(pl.Datetime("us", "UTC"), "%d/%b/%Y:%H:%M:%S %z", strict=False)
    else:
        good = text.str.contains(_ISO)
        zulu = text.str.ends_with("Z").fill_null(False)
        text = pl.select(
            pl.when(zulu).then(pl.lit(text).str.head(19) + "+00:00").otherwise(pl.lit(text))
        ).to_series()
        ts = text.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z", strict=False)
    us = ts.cast(pl.Int64)
    return us.zip_with(good.fill_null(False), pl.Series([None], dtype=pl.Int64))


def _epoch_time(text: pl.Series, scale: float) -> pl.Series:
    """Seconds (times ``scale``) since the epoch, with an optional decimal fraction, in µs."""
    shape = text.str.contains(r"^[0-9]+(?:\.[0-9]+)?$").fill_null(False)
    us = (text.cast(pl.Float64, strict=False) * (scale * _US)).round(0)
    ok = shape & (us.abs() < 1e17).fill_null(False)
    return us.cast(pl.Int64, strict=False).zip_with(ok, pl.Series([None], dtype=pl.Int64))


_UTC_NAMES = ("UTC", "GMT", "UT", "Z")
_NUMERIC_ZONE = r"^([+-])([0-9]{2})([0-9]{2})?$"


def _strftime_time(frame: pl.DataFrame, s: Strftime, tz: str) -> pl.Series:
    """The ``%{…}t`` times read together (``formats.Strftime``), in µs."""
    joined = frame.select(
        pl.concat_str([pl.col(g) for g in s.groups], separator=Strftime.SEPARATOR)
    ).to_series()
    if s.zone is Zone.OFFSET:
        ts = joined.str.strptime(pl.Datetime("us", "UTC"), s.chrono, strict=False)
    else:
        naive = joined.str.strptime(pl.Datetime("us"), s.chrono, strict=False)
        if s.zone is Zone.EPOCH:
            ts = naive.dt.replace_time_zone("UTC")
        elif s.zone is Zone.LOCAL:
            ts = _localized(naive, tz, "earliest")
        else:
            assert s.zone_group is not None and s.zone_regex is not None
            ts = _named(naive, frame.get_column(s.zone_group).str.extract(s.zone_regex, 1), tz)
    return ts.dt.cast_time_unit("us").cast(pl.Int64)


def _localized(
    naive: pl.Series, tz: str, ambiguous: Literal["earliest", "latest"]
) -> pl.Series:
    """Wall-clock times in ``tz`` as UTC instants (null for a time the zone skips)."""
    local = naive.dt.replace_time_zone(tz, ambiguous=ambiguous, non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _named(naive: pl.Series, name: pl.Series, tz: str) -> pl.Series:
    """Wall-clock times with a ``%Z`` zone name as UTC instants (see the module docstring)."""
    n = pl.col
    frame = pl.DataFrame(
        {
            "name": name,
            "utc": naive.dt.replace_time_zone("UTC"),
            "earliest": _localized(naive, tz, "earliest"),
            "latest": _localized(naive, tz, "latest"),
        }
    ).with_columns(name.str.extract_groups(_NUMERIC_ZONE).struct.unnest())
    minutes = pl.when(n("1") == "-").then(-1).otherwise(1) * (
        n("2").cast(pl.Int64) * 60 + n("3").cast(pl.Int64).fill_null(0)
    )
    return frame.select(
        pl.when(n("name").is_in(_UTC_NAMES))
        .then(n("utc"))
        .when(minutes.is_not_null())
        .then(n("utc") - pl.duration(minutes=minutes))
        .when(n("earliest").dt.convert_time_zone(tz).dt.to_string("%Z") == n("name"))
        .then(n("earliest"))
        .when(n("latest").dt.convert_time_zone(tz).dt.to_string("%Z") == n("name"))
        .then(n("latest"))
    ).to_series()


def _bad_status(fmt: LogFormat, frame: pl.DataFrame) -> pl.Series:
    """A status of more than 3 digits rejects the line."""
    group = fmt.sources.get("status")
    if group is None:
        return pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    text = frame.get_column(group)
    return ((text.str.len_bytes() > 3) & (text != "-")).fill_null(False)


# --- hits -------------------------------------------------------------------------------------

#: A request line's method (an RFC 9110 token, then a space) and protocol (``HTTP/1.1``).
_METHOD = r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) "
_PROTOCOL = r" ([A-Za-z][A-Za-z0-9]*/[0-9]+(?:\.[0-9]+)?)$"


def _hits(fmt: LogFormat, frame: pl.DataFrame, *, source: str, tz: str) -> pl.DataFrame:
    """The hits frame (docs/design.md schema) of the lines that are hits."""
    simple = {c: _value(fmt.field(g)) for c, g in fmt.sources.items()
              if fmt.field(g).kind not in REQUEST_COLUMNS}  # fmt: skip
    ts = pl.col("ts")
    cols = frame.select(
        ts=ts, date=ts.dt.convert_time_zone(tz).dt.date(), offset="offset", line_no="line_no",
        **simple,
    )  # fmt: skip
    for f in fmt.fields:
        wanted = [c for c, g in fmt.sources.items() if g == f.group]
        if f.kind in REQUEST_COLUMNS and wanted:
            cols = cols.with_columns(_request(frame.get_column(f.group), f.kind).select(wanted))
    texts = [c for c, t in fmt.column_types.items() if t == "string" and c in cols.columns]
    rows = frame.get_column("line").str.contains("\\", literal=True).arg_true()
    if rows.len():
        cols = cols.with_columns(_unescaped(cols.get_column(c), rows) for c in texts)
    if "uri" not in cols.columns and "path" in cols.columns:  # $uri and $args: path?query
        query = pl.col("query") if "query" in cols.columns else pl.lit(None, pl.String)
        cols = cols.with_columns(
            uri=pl.when(query.is_null())
            .then(pl.col("path"))
            .otherwise(pl.concat_str([pl.col("path"), pl.lit("?"), query]))
        )
    cols = cols.with_columns(source=pl.lit(source, pl.String))
    return cols.select(
        pl.col(c).cast(polars_type(t)) if c in cols.columns
        else pl.lit(None, polars_type(t)).alias(c)
        for c, t in fmt.column_types.items()
    )


def _value(f: Field) -> pl.Expr:
    """A field's column value from its text (``Kind``)."""
    text = pl.col(f.group)
    dash = text == "-"
    if f.kind is Kind.STATUS:
        return pl.when(~dash).then(text.cast(pl.Int16, strict=False))
    if f.kind is Kind.INT:
        return pl.when(~dash).then(text.cast(pl.Int64, strict=False))
    if f.kind is Kind.SECONDS:
        return pl.when(~dash).then(text.cast(pl.Float64, strict=False) * f.scale)
    if f.kind is Kind.QUERY:
        return pl.when(text != "").then(text.str.strip_prefix("?"))
    if f.kind is Kind.USER:
        return pl.when(text == '""').then(pl.lit("")).when(~dash).then(text)
    return pl.when(~dash).then(text)


def _request(text: pl.Series, kind: Kind) -> pl.DataFrame:
    """The columns a request line (or ``$request_uri``) gives: method, uri, path, query,
    protocol (see the module docstring)."""
    n = pl.col
    frame = text.alias("text").to_frame()
    if kind is Kind.REQUEST:
        frame = frame.with_columns(
            method=text.str.extract(_METHOD, 1), protocol=text.str.extract(_PROTOCOL, 1)
        )
        # the target: after "METHOD ", before " PROTOCOL" if that space is another one
        start = n("method").str.len_bytes() + 1  # both are ASCII: bytes are characters
        end = n("text").str.len_chars() - n("protocol").str.len_bytes() - 1
        proto = (end >= start).fill_null(False)
        target = n("text").str.slice(start, pl.when(proto).then(end).otherwise(None) - start)
        frame = frame.select(
            method=n("method"),
            protocol=pl.when(proto).then(n("protocol")),
            uri=pl.when(n("method").is_not_null())
            .then(target)
            .when(~n("text").is_in(["", "-"]))
            .then(n("text")),
            parsed=n("method").is_not_null(),
        )
    else:
        frame = frame.select(uri=pl.when(n("text") != "-").then(n("text")),
                             parsed=n("text") != "-")  # fmt: skip
    split = frame.get_column("uri").str.splitn("?", 2).struct.unnest()
    return frame.with_columns(
        path=pl.when(n("parsed")).then(split.get_column("field_0")),
        query=pl.when(n("parsed")).then(split.get_column("field_1")),
    ).drop("parsed")


# --- rejects ----------------------------------------------------------------------------------


def _raw(line: str) -> str:
    """A rejected line's text as kept: at most ``MAX_RAW`` bytes, never half a character,
    CRs shown as ``\\x0D``."""
    data = line.encode("utf-8")
    if len(data) > MAX_RAW:
        end = MAX_RAW
        for _ in range(3):
            if data[end] & 0xC0 == 0x80:
                end -= 1
        data = data[:end]
    return data.decode("utf-8", "replace").replace("\r", "\\x0D")


def _rejects(frame: pl.DataFrame, *, source: str, file: str, when: dt.datetime) -> pl.DataFrame:
    """One row per rejected line with its text (``_raw``) and reason; a blank line that does
    not match is an empty line."""
    raw = [_raw(line) for line in frame.get_column("line").to_list()]
    blank = pl.Series([not r.strip(" \t") for r in raw], dtype=pl.Boolean)
    when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return frame.select(
        source=pl.lit(source, pl.String),
        file=pl.lit(file, pl.String),
        line_no=pl.col("line_no"),
        offset=pl.col("offset"),
        raw=pl.Series(raw, dtype=pl.String),
        reason=pl.when(blank & (pl.col("reason") == NO_MATCH))
        .then(pl.lit(EMPTY))
        .otherwise(pl.col("reason")),
        ingested_at=pl.lit(when).cast(pl.Datetime("us", "UTC")),
    )


__all__ = [
    "BAD_STATUS", "BAD_TS", "EMPTY", "MAX_RAW", "NO_MATCH", "REJECTS_SCHEMA", "ParsedChunk",
    "match_groups", "parse_chunk", "unescape",
]  # fmt: skip
