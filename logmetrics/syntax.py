"""Reading format strings: Apache's ``LogFormat`` grammar (mod_log_config's) and nginx's
``log_format`` one, into literal text and directives looked up in ``directives``; a
``%{format}t``'s strftime format into a regex and a polars strptime format. ``formats`` then
gives each directive its place in the line's regex.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .config import column_suffix
from .directives import (
    APACHE,
    NGINX_PREFIXES,
    NGINX_VARIABLES,
    STRFTIME,
    STRFTIME_SHORTHANDS,
    Arg,
    Directive,
    Kind,
    Zone,
)
from .errors import FormatError


@dataclass
class Raw:
    """A directive before its context (neighbours) is known."""

    token: str
    position: int
    kind: Kind
    column: str | None
    arg: str | None = None
    scale: float = 1.0
    conditional: bool = False
    lead: str | None = None  # a character every non-empty value starts with (``%q``: ``?``)
    strftime: StrftimePart | None = None


@dataclass(frozen=True)
class StrftimePart:
    """One ``%{format}t``: its regex, its chrono format and how its zone is given."""

    pattern: str
    chrono: str
    zone: Zone
    zone_regex: str | None


Item = str | Raw


_MODIFIERS = re.compile(r"[<>!0-9,]*")


def tokenize_apache(fmt: str, spec: str) -> list[Item]:
    """Split an Apache format into literal strings and directives (mod_log_config's grammar)."""
    out: list[Item] = []
    lit: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c == "\\" and i + 1 < n:
            # httpd.conf escapes, kept so a format pasted from a config file works as is
            nxt = fmt[i + 1]
            if nxt == "n":
                raise FormatError(spec, "a log line cannot contain a newline", "\\n", i)
            lit.append({"t": "\t"}.get(nxt, nxt) if nxt in "\"\\'t" else "\\" + nxt)
            i += 2
            continue
        if c != "%":
            lit.append(c)
            i += 1
            continue
        if fmt.startswith("%%", i):
            lit.append("%")
            i += 2
            continue
        start = i
        modifiers = _MODIFIERS.match(fmt, i + 1)
        assert modifiers is not None
        i = modifiers.end()
        arg = None
        if i < n and fmt[i] == "{":
            close = fmt.find("}", i)
            if close < 0:
                raise FormatError(spec, "unterminated {…}", fmt[start:], start)
            arg = fmt[i + 1 : close]
            i = close + 1
        if i >= n:
            raise FormatError(spec, "incomplete directive", fmt[start:], start)
        name = fmt[i : i + 3] if fmt[i] == "^" else fmt[i]
        i += len(name)
        token = fmt[start:i]
        if name not in APACHE:
            raise FormatError(spec, "unknown Apache directive", token, start)
        row = APACHE[name]
        if row.arg is Arg.REQUIRED and not arg:
            raise FormatError(spec, "needs a {name}", token, start)
        if row.arg is Arg.NONE and arg is not None:
            raise FormatError(spec, "takes no {argument}", token, start)
        if lit:
            out.append("".join(lit))
            lit = []
        raw = _apache_raw(token, start, name, row, arg, spec)
        raw.conditional = any(ch.isdigit() for ch in modifiers.group())
        out.extend(["[", raw, "]"] if raw.kind is Kind.TIME_CLF else [raw])  # %t's brackets
    if lit:
        out.append("".join(lit))
    return _merge(out)


def _merge(items: list[Item]) -> list[Item]:
    """Join adjacent literals (``%t`` brings its own brackets)."""
    out: list[Item] = []
    for it in items:
        if isinstance(it, str) and out and isinstance(out[-1], str):
            out[-1] += it
        elif not (isinstance(it, str) and not it):
            out.append(it)
    return out


def _apache_raw(
    token: str, pos: int, name: str, row: Directive, arg: str | None, spec: str
) -> Raw:
    """Resolve one Apache directive (with its argument) to a kind and a column."""
    if name == "a" and arg == "c":
        return Raw(token, pos, Kind.DROP, None, arg)  # %{c}a: the proxy's peer address
    if name == "T":
        scales = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
        unit = (arg or "").strip().lower()
        if unit not in scales:
            raise FormatError(spec, "unknown unit (use s, ms or us)", token, pos)
        return Raw(token, pos, row.kind, row.column, arg, scale=scales[unit])
    if name == "t":
        return _apache_time(token, pos, arg, spec)
    lead = "?" if row.kind is Kind.QUERY else None
    return Raw(token, pos, row.kind, _column(row, arg), arg, scale=row.scale, lead=lead)


def _column(row: Directive, name: str | None) -> str | None:
    """A row's column, its ``{}`` filled with the header or cookie name."""
    if row.column is None or "{}" not in row.column:
        return row.column
    column = row.column.format(column_suffix(name or ""))
    return {"req_user_agent": "user_agent", "req_referer": "referer",
            "req_referrer": "referer"}.get(column, column)  # fmt: skip


def _apache_time(token: str, pos: int, arg: str | None, spec: str) -> Raw:
    """``%t`` and ``%{format}t`` as httpd reads them: an optional ``begin:``/``end:``, then
    ``sec``, ``msec``, ``usec``, ``msec_frac``, ``usec_frac``, nothing (CLF) or strftime."""
    a = arg or ""
    for prefix in ("begin", "end"):
        if a.startswith(prefix) and a[len(prefix) : len(prefix) + 1] in ("", ":"):
            a = a[len(prefix) + 1 :]
            break
    epoch = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
    frac = {"msec_frac": 1e-3, "usec_frac": 1e-6}
    if not a:
        return Raw(token, pos, Kind.TIME_CLF, None, arg)
    if a in epoch:
        return Raw(token, pos, Kind.TIME_EPOCH, None, arg, scale=epoch[a])
    if a in frac:
        return Raw(token, pos, Kind.TIME_FRAC, None, arg, scale=frac[a])
    strf = _strftime(a, lambda problem: FormatError(spec, problem, token, pos))
    return Raw(token, pos, Kind.TIME_STRFTIME, None, arg, strftime=strf)


def _strftime(text: str, error: Callable[[str], FormatError]) -> StrftimePart:
    """A strftime format as a regex and a chrono format (``STRFTIME``); refused (``error``)
    when it holds a conversion we cannot read back, or none at all."""
    regex: list[str] = []
    chrono: list[str] = []
    zone_at: int | None = None
    used: set[str] = set()
    text = re.sub("%(.)", lambda m: STRFTIME_SHORTHANDS.get(m.group(1), m.group()), text)
    i = 0
    while i < len(text):
        if text[i] in "\x00\r\n":
            raise error("a log line cannot contain NUL, CR or LF")
        if text[i] != "%":
            regex.append(escape(text[i]))
            chrono.append(text[i])
            i += 1
            continue
        if i + 1 >= len(text):
            raise error("incomplete strftime conversion (a lone %)")
        c = text[i + 1]
        i += 2
        if c in "%t":
            regex.append(escape("%" if c == "%" else "\t"))
            chrono.append("%%" if c == "%" else "\t")
            continue
        if c == "n":
            raise error("a log line cannot contain a newline (%n)")
        if c not in STRFTIME:
            raise error(f"unknown strftime conversion %{c}")
        conv = STRFTIME[c]
        used.add(c)
        if c == "Z" and zone_at is None:
            zone_at = len(regex)
        regex.append(f"(?:{conv.pattern})" if "|" in conv.pattern else conv.pattern)
        chrono.append(conv.chrono)
    if not used:
        raise error("no strftime conversion in the time format")
    zone = Zone.EPOCH if "s" in used else Zone.OFFSET if "z" in used else Zone.LOCAL
    zone_regex = None
    if zone is Zone.LOCAL and zone_at is not None:
        zone = Zone.NAME
        parts = list(regex)
        parts[zone_at] = f"({STRFTIME['Z'].pattern})"
        zone_regex = "^" + "".join(parts) + "$"
    return StrftimePart("".join(regex), "".join(chrono), zone, zone_regex)


def tokenize_nginx(fmt: str, spec: str) -> list[Item]:
    """Split an nginx log_format into literal strings and variables (``$name`` or ``${name}``)."""
    out: list[Item] = []
    lit: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c != "$":
            lit.append(c)
            i += 1
            continue
        start = i
        if fmt.startswith("${", i):
            close = fmt.find("}", i)
            if close < 0:
                raise FormatError(spec, "unterminated ${…}", fmt[start:], start)
            name = fmt[i + 2 : close]
            i = close + 1
        else:
            m = _NGINX_NAME.match(fmt, i + 1)
            if m is None:
                lit.append("$")
                i += 1
                continue
            name = m.group()
            i = m.end()
        token = fmt[start:i]
        row, arg = _nginx_row(name)
        if row is None:
            raise FormatError(spec, "unknown nginx variable", token, start)
        if lit:
            out.append("".join(lit))
            lit = []
        out.append(Raw(token, start, row.kind, _column(row, arg), arg, scale=row.scale))
    if lit:
        out.append("".join(lit))
    return out


_NGINX_NAME = re.compile(r"[A-Za-z0-9_]+")


def _nginx_row(name: str) -> tuple[Directive | None, str | None]:
    """The table row of an nginx variable, and the header/cookie name of a prefixed one."""
    if name in NGINX_VARIABLES:
        return NGINX_VARIABLES[name], None
    for prefix, row in NGINX_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return row, name[len(prefix) :]
    return None, None


REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def escape(text: str) -> str:
    """Escape literal text for both Rust regex and Python re."""
    return "".join("\\" + c if c in REGEX_META else c for c in text)
