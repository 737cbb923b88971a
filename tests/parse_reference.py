"""A reference parse in plain Python, one line at a time, to cross-check ``parse_chunk``.

Each line is matched with ``re.fullmatch(fmt.regex, line)`` and every value is converted on
its own with the standard library, following the decisions in ``logmetrics.parse``'s
docstring. It reads the strftime formats the tests use (``STRPTIME``), not every one.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from zoneinfo import ZoneInfo

from logmetrics.directives import Kind
from logmetrics.formats import REQUEST_COLUMNS, LogFormat
from logmetrics.parse import MAX_RAW, unescape


def _hex(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return "".join(f"\\x{b:02X}" for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error("reference-hex", _hex)

#: Python's strptime for the strftime formats the tests use (%s and %Z are read by hand).
STRPTIME = {
    "%d/%b/%Y:%H:%M:%S %z": "%d/%b/%Y:%H:%M:%S %z",
    "%F %R:%S": "%Y-%m-%d %H:%M:%S",
    "%d/%b/%Y %T": "%d/%b/%Y %H:%M:%S",
    "%z": "%z",
    "%FT%T": "%Y-%m-%dT%H:%M:%S",  # its " %Z" is read by hand
}
_TCHAR = set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_PROTOCOL = re.compile(r"[A-Za-z][A-Za-z0-9]*/[0-9]+(\.[0-9]+)?")
_CLF = re.compile(
    r"\d\d/[A-Za-z]{3}/\d{4}:([01]\d|2[0-3]):[0-5]\d:[0-5]\d [+-]([01]\d|2[0-3])[0-5]\d"
)
_ISO = re.compile(
    r"\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
_UTC = dt.UTC


def clean(raw: bytes) -> str:
    """A line's bytes as text: bad UTF-8 and C0 controls (not tab, CR) as ``\\xHH``."""
    text = raw.decode("utf-8", "reference-hex")
    return "".join(
        f"\\x{ord(c):02X}" if ord(c) < 32 and c not in "\t\r" else c for c in text
    )


def reference(
    data: bytes, fmt: LogFormat, *, tz: str = "America/Lima", first_line_no: int = 1,
    base_offset: int = 0,
) -> tuple[list[dict], list[tuple]]:  # fmt: skip
    """(hits as dicts of the hits columns, rejects as (line_no, offset, raw, reason))."""
    lines = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        lines.pop()
    hits: list[dict] = []
    rejects: list[tuple] = []
    offset = base_offset
    for k, raw in enumerate(lines):
        line = clean(raw[:-1] if raw.endswith(b"\r") else raw)
        m = re.fullmatch(fmt.regex, line)
        reason = None
        if m is None:
            reason = "does not match format"
        else:
            ts = _time(fmt, m, ZoneInfo(tz))
            status = m[fmt.sources["status"]] if "status" in fmt.sources else None
            if ts is None:
                reason = "bad timestamp"
            elif status is not None and status != "-" and len(status) > 3:
                reason = "bad status"
        if reason is None:
            row = _row(fmt, m)
            row.update(ts=ts, source="s", offset=offset, line_no=first_line_no + k,
                       date=ts.astimezone(ZoneInfo(tz)).date())  # fmt: skip
            hits.append({c: row.get(c) for c in fmt.column_types})
        else:
            kept = line.encode("utf-8")[:MAX_RAW].decode("utf-8", "ignore").replace("\r", "\\x0D")
            if reason == "does not match format" and not kept.strip(" \t"):
                reason = "empty line"
            rejects.append((first_line_no + k, offset, kept, reason))
        offset += len(raw) + 1
    return hits, rejects


def _time(fmt: LogFormat, m: re.Match[str], zone: ZoneInfo) -> dt.datetime | None:
    fields = [fmt.field(g) for g in fmt.time_groups]
    fixed = [f for f in fields if f.kind in (Kind.TIME_CLF, Kind.TIME_ISO)]
    strf = [f for f in fields if f.kind is Kind.TIME_STRFTIME]
    try:
        if fixed:
            text = m[fixed[0].group]
            if fixed[0].kind is Kind.TIME_CLF:
                if not _CLF.fullmatch(text):
                    return None
                ts = dt.datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
            else:
                if not _ISO.fullmatch(text):
                    return None
                ts = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif strf:
            specs = [re.sub("^(begin|end):", "", f.arg or "") for f in strf]
            ts = _strftime([m[f.group] for f in strf], specs, zone)
            if ts is None:
                return None
        else:
            f = next(f for f in fields if f.kind is Kind.TIME_EPOCH)
            text = m[f.group]
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
                return None
            us = round(float(text) * (f.scale * 1_000_000))
            if abs(us) >= 1e17:
                return None
            ts = dt.datetime(1970, 1, 1, tzinfo=_UTC) + dt.timedelta(microseconds=us)
    except (ValueError, OverflowError):
        return None
    for f in fields:
        if f.kind is Kind.TIME_FRAC:
            text = m[f.group]
            if not re.fullmatch(r"[0-9]+", text):
                return None
            ts += dt.timedelta(microseconds=round(int(text) * f.scale * 1_000_000))
    return ts.astimezone(_UTC)


def _strftime(texts: list[str], specs: list[str], zone: ZoneInfo) -> dt.datetime | None:
    """The strftime times the tests use, read together (``%s`` alone, ``%Z`` at the end)."""
    if specs == ["%s"]:
        return dt.datetime(1970, 1, 1, tzinfo=_UTC) + dt.timedelta(seconds=int(texts[0]))
    name = None
    if specs[-1].endswith(" %Z"):
        texts[-1], name = texts[-1].rsplit(" ", 1)
        specs = [*specs[:-1], specs[-1][: -len(" %Z")]]
    pattern = "\x1f".join(STRPTIME.get(s, s) for s in specs)
    ts = dt.datetime.strptime("\x1f".join(texts), pattern)
    if ts.tzinfo is not None:
        return ts
    if name is None:
        return ts.replace(tzinfo=zone)
    if name in ("UTC", "GMT", "UT", "Z"):
        return ts.replace(tzinfo=_UTC)
    numeric = re.fullmatch(r"([+-])(\d\d)(\d\d)?", name)
    if numeric:
        minutes = int(numeric[2]) * 60 + int(numeric[3] or 0)
        sign = -1 if numeric[1] == "-" else 1
        return ts.replace(tzinfo=dt.timezone(sign * dt.timedelta(minutes=minutes)))
    for fold in (0, 1):
        local = ts.replace(tzinfo=zone, fold=fold)
        if local.tzname() == name:
            return local
    return None


def _row(fmt: LogFormat, m: re.Match[str]) -> dict:
    """The column values of a matched line."""
    row: dict = {}
    for column, group in fmt.sources.items():
        f = fmt.field(group)
        text = m[group]
        if f.kind in REQUEST_COLUMNS:
            row[column] = _request(text, f.kind)[column]
        elif text is None or (text == "-" and f.kind is not Kind.QUERY):
            row[column] = None
        elif f.kind is Kind.STATUS:
            row[column] = int(text)
        elif f.kind is Kind.INT:
            row[column] = int(text) if int(text) < 2**63 else None
        elif f.kind is Kind.SECONDS:
            row[column] = float(text) * f.scale
        elif f.kind is Kind.QUERY:
            row[column] = _text(text[1:]) if text else None
        elif f.kind is Kind.USER and text == '""':
            row[column] = ""
        else:
            row[column] = _text(text)
    if "uri" not in row and "path" in row:
        query = row.get("query")
        path = row["path"]
        row["uri"] = path if query is None or path is None else path + "?" + query
    return row


def _text(value: str | None) -> str | None:
    return unescape(value.encode("utf-8")) if value is not None and "\\" in value else value


def _request(text: str | None, kind: Kind) -> dict:
    """``METHOD SP TARGET [SP PROTOCOL]``, or a ``$request_uri``, split by hand."""
    out: dict = dict.fromkeys(("method", "uri", "path", "query", "protocol"))
    if text is None or text == "-" or (kind is Kind.REQUEST and text == ""):
        return out
    target = text
    if kind is Kind.REQUEST:
        method, space, rest = text.partition(" ")
        if not space or not method or not set(method) <= _TCHAR:
            out["uri"] = _text(text)
            return out
        head, space, last = rest.rpartition(" ")
        target = rest
        if space and _PROTOCOL.fullmatch(last):
            target, out["protocol"] = head, _text(last)
        out["method"] = _text(method)
    path, mark, query = target.partition("?")
    out.update(uri=_text(target), path=_text(path), query=_text(query) if mark else None)
    return out
