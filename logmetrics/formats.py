"""Compile Apache ``LogFormat`` and nginx ``log_format`` strings into one anchored regex.

The regex (``LogFormat.regex``) is the contract: Rust-regex compatible (no lookaround, no
backreferences) so ``polars`` can run it with ``str.extract_groups``, and Python-``re``
compatible too. ``parse`` does not run it line by line: it walks the same compiled
``elements`` with numpy over a whole chunk, which must (and is tested to) agree with the regex.
That is possible because every field is delimited: an unquoted field ends at the first
character that can start what follows it, a quoted field at the first unescaped ``"``.

Each field says how it becomes a warehouse column (``Field.kind``, ``LogFormat.sources``);
see the hits schema in docs/design.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ._lazy import LazyModule
from .config import column_suffix
from .errors import FormatError

if TYPE_CHECKING:
    import polars as pl
else:
    pl = LazyModule("polars", globals(), "pl")

# --- presets, in the server's own syntax ------------------------------------------------------

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
COMBINED_IO = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O'
VHOST_COMMON = '%v %h %l %u %t "%r" %>s %b'
#: Apache's vhost_combined. ``%v:%p`` also accepts a bare ``%v`` (the matomo corpus writes
#: ``%v %h …``): a ``:%p`` right after ``%v``/``%V`` is always compiled as optional.
VHOST_COMBINED = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
#: nginx's built-in ``combined``.
NGINX = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
#: The ``main`` format of nginx's stock nginx.conf.
NGINX_MAIN = NGINX + ' "$http_x_forwarded_for"'

PRESETS: dict[str, str] = {
    "combined": COMBINED,
    "common": COMMON,
    "combinedio": COMBINED_IO,
    "vhost_common": VHOST_COMMON,
    "vhost_combined": VHOST_COMBINED,
    "nginx": NGINX,
    "nginx_combined": NGINX,
    "nginx_main": NGINX_MAIN,
}

# --- the hits schema ----------------------------------------------------------------------------

#: Columns every hits frame has before the per-format header/cookie columns, by type name
#: (``polars_type`` and ``parse.ARROW_TYPES`` give the types themselves).
HEAD_TYPES: dict[str, str] = {
    "ts": "timestamp",
    "remote_addr": "string",
    "remote_user": "string",
    "method": "string",
    "uri": "string",
    "path": "string",
    "query": "string",
    "protocol": "string",
    "status": "int16",
    "bytes": "int64",
    "referer": "string",
    "user_agent": "string",
    "host": "string",
    "request_time": "float64",
}
#: Columns every hits frame has after the per-format header/cookie columns.
TAIL_TYPES: dict[str, str] = {
    "source": "string",
    "offset": "int64",
    "line_no": "int64",
    "date": "date",
}

#: The rejects columns (docs/design.md).
REJECTS_TYPES: dict[str, str] = {
    "source": "string",
    "file": "string",
    "line_no": "int64",
    "offset": "int64",
    "raw": "string",
    "reason": "string",
    "ingested_at": "timestamp",
}


def polars_type(name: str) -> pl.DataType:
    """The polars type of a type name of ``HEAD_TYPES`` / ``TAIL_TYPES`` (imports polars)."""
    types: dict[str, pl.DataType] = {
        "timestamp": pl.Datetime("us", "UTC"),
        "string": pl.String(),
        "int16": pl.Int16(),
        "int64": pl.Int64(),
        "float64": pl.Float64(),
        "date": pl.Date(),
    }
    return types[name]


if TYPE_CHECKING:
    #: The same columns as polars types (built on first use: an ingest never imports polars).
    HITS_HEAD: dict[str, pl.DataType]
    HITS_TAIL: dict[str, pl.DataType]


def lazy_schemas(namespace: dict[str, Any], **schemas: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` giving each of ``schemas`` (column -> type name) with polars
    types, built on first use (which imports polars) and then kept in ``namespace``."""

    def schema(name: str) -> Any:
        if name in namespace:
            return namespace[name]
        if name not in schemas:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = namespace[name] = {c: polars_type(t) for c, t in schemas[name].items()}
        return value

    return schema


__getattr__ = lazy_schemas(globals(), HITS_HEAD=HEAD_TYPES, HITS_TAIL=TAIL_TYPES)


# --- compiled form --------------------------------------------------------------------------

#: Field kinds and what ``parse`` does with them:
#: text          -> Utf8, ``-`` -> null, escapes decoded
#: request       -> method, uri, path, query, protocol (see ``parse``)
#: request_uri   -> uri, path, query (nginx ``$request_uri``)
#: query_q       -> query from Apache ``%q`` (``?a=b`` or empty)
#: status        -> Int16; ``-`` -> null; more than 3 digits rejects the line
#: int           -> Int64; ``-`` -> null
#: seconds       -> Float64 seconds times ``scale`` (``%D`` is µs: scale 1e-6)
#: time_clf      -> ``10/Oct/2000:13:55:36 -0700``
#: time_iso      -> ``2000-10-10T13:55:36-07:00``
#: time_strftime -> ``arg`` is a strftime format (Apache ``%{…}t``); several are joined
#: time_epoch    -> seconds since the epoch times ``scale``
#: time_frac     -> fraction of a second (``msec_frac``/``usec_frac``) added to the timestamp
#: drop          -> matched, not stored
KINDS = (
    "text", "request", "request_uri", "query_q", "status", "int", "seconds",
    "time_clf", "time_iso", "time_strftime", "time_epoch", "time_frac", "drop",
)  # fmt: skip
TIME_KINDS = ("time_clf", "time_iso", "time_strftime", "time_epoch", "time_frac")

_QUOTED = r'(?:[^"\\]|\\.)*'
_STRICT = {
    "status": "-|[0-9]+",
    "int": "-|[0-9]+",
    "seconds": r"-|[0-9]+(?:\.[0-9]*)?",
}
_STRICT_ALPHABET = {
    "status": set("-0123456789"),
    "int": set("-0123456789"),
    "seconds": set("-0123456789."),
}
#: A sample of each fixed-shape time rendering, to count the separators it contains.
_SAMPLE_TIME = datetime(2000, 10, 10, 13, 55, 36, tzinfo=timezone(timedelta(hours=-7)))
_SAMPLES = {"time_clf": "10/Oct/2000:13:55:36 -0700", "time_iso": "2000-10-10T13:55:36-07:00"}


@dataclass(frozen=True)
class Literal:
    """Text the server writes verbatim; ``optional`` only for a final closing quote."""

    text: str
    optional: bool = False


@dataclass(frozen=True)
class Field:
    """One directive/variable: the regex group it becomes and how it converts.

    ``stops`` are the characters that end an unquoted field (its content cannot contain them);
    ``eol`` says the field may also run to the end of the line; a ``quoted`` field ends at the
    first unescaped ``"``; ``skip`` counts stop characters inside a fixed-shape time field.
    """

    group: str
    token: str
    position: int
    kind: str
    column: str | None
    arg: str | None
    scale: float
    quoted: bool
    stops: tuple[str, ...]
    eol: bool
    skip: int
    pattern: str
    strict: bool


@dataclass(frozen=True)
class Optional_:
    """Elements that may be absent as a whole (``:%p`` after ``%v``), decided by their first char."""

    elements: tuple[Literal | Field, ...]


Element = Literal | Field | Optional_


@dataclass(frozen=True)
class LogFormat:
    """A compiled log format: the regex, its fields, and which field feeds which column."""

    spec: str
    syntax: str
    format: str
    elements: tuple[Element, ...]
    regex: str
    fields: tuple[Field, ...]
    #: hits column -> group name of the field that feeds it (after precedence rules)
    sources: dict[str, str]
    #: group names of the fields that make the timestamp, in format order
    time_groups: tuple[str, ...]

    @property
    def columns(self) -> dict[str, pl.DataType]:
        """The hits schema of frames parsed with this format, in column order."""
        return {c: polars_type(t) for c, t in self.column_types.items()}

    @property
    def column_types(self) -> dict[str, str]:
        """``columns`` as type names (no polars needed)."""
        extra = sorted(c for c in self.sources if c.startswith(("req_", "resp_", "cookie_")))
        return {**HEAD_TYPES, **dict.fromkeys(extra, "string"), **TAIL_TYPES}

    def field(self, group: str) -> Field:
        """The field behind a regex group name."""
        for f in self.fields:
            if f.group == group:
                return f
        raise KeyError(group)


# --- directive tables ----------------------------------------------------------------------

# Apache letter -> (kind, column, argument: "no" / "opt" / "req")
_APACHE: dict[str, tuple[str, str | None, str]] = {
    "a": ("text", "remote_addr", "opt"),
    "A": ("drop", None, "no"),
    "B": ("int", "bytes", "no"),
    "b": ("int", "bytes", "no"),
    "C": ("text", "cookie", "req"),
    "D": ("seconds", "request_time", "no"),
    "e": ("drop", None, "req"),
    "f": ("drop", None, "no"),
    "h": ("text", "remote_addr", "opt"),
    "H": ("text", "protocol", "no"),
    "i": ("text", "req", "req"),
    "I": ("drop", None, "no"),
    "k": ("drop", None, "no"),
    "l": ("drop", None, "no"),
    "L": ("drop", None, "no"),
    "m": ("text", "method", "no"),
    "n": ("drop", None, "req"),
    "o": ("text", "resp", "req"),
    "O": ("int", "bytes", "no"),
    "p": ("drop", None, "opt"),
    "P": ("drop", None, "opt"),
    "q": ("query_q", "query", "no"),
    "r": ("request", None, "no"),
    "R": ("drop", None, "no"),
    "s": ("status", "status", "no"),
    "S": ("drop", None, "no"),
    "t": ("time", None, "opt"),
    "T": ("seconds", "request_time", "opt"),
    "u": ("text", "remote_user", "no"),
    "U": ("text", "path", "no"),
    "v": ("text", "host", "no"),
    "V": ("text", "host", "no"),
    "X": ("drop", None, "no"),
}

# nginx variable -> (kind, column, scale)
_NGINX: dict[str, tuple[str, str | None, float]] = {
    "remote_addr": ("text", "remote_addr", 1.0),
    "remote_user": ("text", "remote_user", 1.0),
    "time_local": ("time_clf", None, 1.0),
    "time_iso8601": ("time_iso", None, 1.0),
    "msec": ("time_epoch", None, 1.0),
    "request": ("request", None, 1.0),
    "status": ("status", "status", 1.0),
    "body_bytes_sent": ("int", "bytes", 1.0),
    "bytes_sent": ("int", "bytes", 1.0),
    "request_time": ("seconds", "request_time", 1.0),
    "host": ("text", "host", 1.0),
    "server_name": ("text", "host", 1.0),
    "request_method": ("text", "method", 1.0),
    "request_uri": ("request_uri", None, 1.0),
    "uri": ("text", "path", 1.0),
    "document_uri": ("text", "path", 1.0),
    "args": ("text", "query", 1.0),
    "query_string": ("text", "query", 1.0),
    "server_protocol": ("text", "protocol", 1.0),
}
_NGINX_DROP = {
    "upstream_response_time", "upstream_connect_time", "upstream_header_time",
    "upstream_addr", "upstream_status", "upstream_cache_status", "upstream_bytes_received",
    "scheme", "connection", "connection_requests", "pipe", "gzip_ratio", "request_length",
    "server_addr", "server_port", "remote_port", "hostname", "request_id", "ssl_protocol",
    "ssl_cipher", "https", "realip_remote_addr", "proxy_add_x_forwarded_for", "pid",
    "content_length", "content_type", "bytes_received",
}  # fmt: skip

# Which field wins a column when several could feed it: lower rank wins, then format order.
_RANK = {"request": 0, "request_uri": 1}
_REQUEST_COLUMNS = {
    "request": ("method", "uri", "path", "query", "protocol"),
    "request_uri": ("uri", "path", "query"),
}


# --- compiling ------------------------------------------------------------------------------


@dataclass
class _Raw:
    """A directive before its context (neighbours) is known."""

    token: str
    position: int
    kind: str
    column: str | None
    arg: str | None = None
    scale: float = 1.0
    lead: str | None = None  # a character every non-empty value starts with (``%q``: ``?``)


def compile_format(spec: str) -> LogFormat:
    """Compile a preset name, an Apache LogFormat string or an nginx log_format string."""
    if not isinstance(spec, str) or not spec.strip():
        raise FormatError("log format: empty format string")
    fmt = PRESETS.get(spec.strip().lower(), spec)
    nginx = re.search(r"\$(?:\{|[A-Za-z_])", fmt) is not None
    apache = re.search(r"%(?:[<>!0-9,{A-Za-z%^])", fmt) is not None
    if nginx and apache:
        raise FormatError(
            f"log format {spec!r}: mixes Apache %-directives and nginx $variables; use one syntax"
        )
    if apache:
        items = _tokenize_apache(fmt, spec)
        syntax = "apache"
    elif nginx:
        items = _tokenize_nginx(fmt, spec)
        syntax = "nginx"
    else:
        raise FormatError(
            f"log format {spec!r}: no %-directive or $variable; give a preset "
            f"({', '.join(PRESETS)}), an Apache LogFormat or an nginx log_format"
        )
    return _build(spec, syntax, fmt, items)


def _err(spec: str, token: str, pos: int, what: str) -> FormatError:
    return FormatError(f"log format {spec!r}: {what} {token!r} at column {pos + 1}")


def _tokenize_apache(fmt: str, spec: str) -> list[str | _Raw]:
    """Split an Apache format into literal strings and directives (mod_log_config's grammar)."""
    out: list[str | _Raw] = []
    lit: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c == "\\" and i + 1 < n:
            # httpd.conf escapes, kept so a format pasted from a config file works as is
            nxt = fmt[i + 1]
            if nxt in "\"\\'":
                lit.append(nxt)
            elif nxt == "t":
                lit.append("\t")
            elif nxt == "n":
                raise _err(spec, "\\n", i, "a log line cannot contain a newline:")
            else:
                lit.append("\\" + nxt)
            i += 2
            continue
        if c != "%":
            lit.append(c)
            i += 1
            continue
        start = i
        i += 1
        if i < n and fmt[i] == "%":
            lit.append("%")
            i += 1
            continue
        while i < n and fmt[i] in "<>!0123456789,":
            i += 1
        arg = None
        if i < n and fmt[i] == "{":
            close = fmt.find("}", i)
            if close < 0:
                raise _err(spec, fmt[start:], start, "unterminated {…} in directive")
            arg = fmt[i + 1 : close]
            i = close + 1
        if i >= n:
            raise _err(spec, fmt[start:], start, "incomplete directive")
        letter = fmt[i]
        if letter == "^" and fmt[i : i + 3] in ("^ti", "^to"):
            token = fmt[start : i + 3]
            i += 3
            if arg is None:
                raise _err(spec, token, start, "directive needs a {name}:")
            if lit:
                out.append("".join(lit))
                lit = []
            out.append(_Raw(token, start, "drop", None))
            continue
        i += 1
        token = fmt[start:i]
        if letter not in _APACHE:
            raise _err(spec, token, start, "unknown Apache directive")
        kind, column, argmode = _APACHE[letter]
        if argmode == "req" and not arg:
            raise _err(spec, token, start, "directive needs a {name}:")
        if argmode == "no" and arg is not None:
            raise _err(spec, token, start, "directive takes no {argument}:")
        if lit:
            out.append("".join(lit))
            lit = []
        raw = _apache_raw(token, start, letter, kind, column, arg, spec)
        if raw.kind == "time_clf":
            out.extend(["[", raw, "]"])  # Apache's %t writes its own brackets
        else:
            out.append(raw)
    if lit:
        out.append("".join(lit))
    return _merge(out)


def _merge(items: list[str | _Raw]) -> list[str | _Raw]:
    """Join adjacent literals (``%t`` brings its own brackets)."""
    out: list[str | _Raw] = []
    for it in items:
        if isinstance(it, str) and out and isinstance(out[-1], str):
            out[-1] += it
        elif not (isinstance(it, str) and not it):
            out.append(it)
    return out


def _apache_raw(
    token: str, pos: int, letter: str, kind: str, column: str | None, arg: str | None, spec: str
) -> _Raw:
    """Resolve one Apache directive (with its argument) to a kind and a column."""
    if letter == "i":
        return _Raw(token, pos, "text", _header_column("req", arg or ""), arg)
    if letter == "o":
        return _Raw(token, pos, "text", _header_column("resp", arg or ""), arg)
    if letter == "C":
        return _Raw(token, pos, "text", "cookie_" + column_suffix(arg or ""), arg)
    if letter == "a" and arg is not None:
        return _Raw(token, pos, "drop", None, arg)  # %{c}a: the proxy's peer address
    if letter == "h" and arg is not None:
        return _Raw(token, pos, "text", "remote_addr", arg)  # %{c}h
    if letter == "q":
        return _Raw(token, pos, "query_q", "query", lead="?")
    if letter == "D":
        return _Raw(token, pos, "seconds", "request_time", scale=1e-6)
    if letter == "T":
        unit = (arg or "s").strip()
        scales = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
        if unit not in scales:
            raise _err(spec, token, pos, "unknown unit (s, ms, us) in")
        return _Raw(token, pos, "seconds", "request_time", arg, scale=scales[unit])
    if letter == "t":
        return _apache_time(token, pos, arg, spec)
    return _Raw(token, pos, kind, column, arg)


def _apache_time(token: str, pos: int, arg: str | None, spec: str) -> _Raw:
    """``%t`` and ``%{format}t``: CLF, strftime, epoch and fraction forms."""
    if arg is None:
        return _Raw(token, pos, "time_clf", None, None)
    a = arg
    for prefix in ("begin:", "end:"):
        if a.startswith(prefix):
            a = a[len(prefix) :]
    epoch = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
    frac = {"msec_frac": 1e-3, "usec_frac": 1e-6}
    if a in epoch:
        return _Raw(token, pos, "time_epoch", None, a, scale=epoch[a])
    if a in frac:
        return _Raw(token, pos, "time_frac", None, a, scale=frac[a])
    if not a or "%" not in a:
        raise _err(spec, token, pos, "time format needs strftime directives in")
    try:
        _SAMPLE_TIME.strftime(a)
    except ValueError:
        raise _err(spec, token, pos, "invalid strftime format in") from None
    return _Raw(token, pos, "time_strftime", None, a)


def _header_column(prefix: str, name: str) -> str:
    suffix = column_suffix(name)
    if prefix == "req" and suffix == "user_agent":
        return "user_agent"
    if prefix == "req" and suffix in ("referer", "referrer"):
        return "referer"
    return f"{prefix}_{suffix}"


def _tokenize_nginx(fmt: str, spec: str) -> list[str | _Raw]:
    """Split an nginx log_format into literal strings and variables (``$name`` or ``${name}``)."""
    out: list[str | _Raw] = []
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
                raise _err(spec, fmt[start:], start, "unterminated ${…} in variable")
            name = fmt[i + 2 : close]
            i = close + 1
        else:
            m = re.compile(r"[A-Za-z0-9_]+").match(fmt, i + 1)
            if m is None:
                lit.append("$")
                i += 1
                continue
            name = m.group()
            i = m.end()
        token = fmt[start:i]
        raw = _nginx_raw(token, start, name)
        if raw is None:
            raise _err(spec, token, start, "unknown nginx variable")
        if lit:
            out.append("".join(lit))
            lit = []
        out.append(raw)
    if lit:
        out.append("".join(lit))
    return out


def _nginx_raw(token: str, pos: int, name: str) -> _Raw | None:
    if name in _NGINX:
        kind, column, scale = _NGINX[name]
        return _Raw(token, pos, kind, column, scale=scale)
    if name in _NGINX_DROP:
        return _Raw(token, pos, "drop", None)
    for prefix, col in (
        ("http_", "req"),
        ("sent_http_", "resp"),
        ("upstream_http_", "resp"),
        ("cookie_", "cookie"),
    ):
        if name.startswith(prefix) and len(name) > len(prefix):
            header = name[len(prefix) :]
            if col == "cookie":
                return _Raw(token, pos, "text", "cookie_" + column_suffix(header), header)
            return _Raw(token, pos, "text", _header_column(col, header), header)
    if name.startswith(("arg_", "upstream_", "ssl_")) and len(name) > 4:
        return _Raw(token, pos, "drop", None)
    return None


def _build(spec: str, syntax: str, fmt: str, items: list[str | _Raw]) -> LogFormat:
    """Give each directive its context (what ends it), its regex and its column."""
    if not any(isinstance(it, _Raw) for it in items):
        raise FormatError(f"log format {spec!r}: no directive")
    for it in items:
        if isinstance(it, str) and re.search(r"[\x00\r\n]", it):
            raise FormatError(
                f"log format {spec!r}: a log line cannot contain NUL, CR or LF in literal text"
            )
    # Group ``%v:%p`` into an optional part (see VHOST_COMBINED).
    seq: list[str | _Raw | list[str | _Raw]] = []
    k = 0
    while k < len(items):
        it = items[k]
        port = items[k + 2] if k + 2 < len(items) else None
        if (
            syntax == "apache"
            and isinstance(it, _Raw)
            and it.token in ("%v", "%V")
            and items[k + 1 : k + 2] == [":"]
            and isinstance(port, _Raw)
            and port.token.endswith("p")
            and port.kind == "drop"
            and k + 3 < len(items)
            and isinstance(items[k + 3], str)
        ):
            seq.append(it)
            seq.append([":", port])
            k += 3
            continue
        seq.append(it)
        k += 1

    names: dict[str, int] = {}
    fields: list[Field] = []

    def group_name(raw: _Raw) -> str:
        base = raw.column or raw.kind
        if raw.kind == "request":
            base = "request"
        elif raw.kind.startswith("time"):
            base = "time"
        base = re.sub(r"[^0-9A-Za-z_]", "_", base)
        names[base] = names.get(base, 0) + 1
        return base if names[base] == 1 else f"{base}_{names[base]}"

    def lead_of(j: int, flat: list[str | _Raw | list[str | _Raw]]) -> tuple[tuple[str, ...], bool]:
        """Characters that can start what follows position ``j``, and whether EOL can."""
        chars: list[str] = []
        for el in flat[j:]:
            if isinstance(el, str):
                chars.append(el[0])
                return tuple(dict.fromkeys(chars)), False
            if isinstance(el, list):
                chars.append(str(el[0])[0])
                continue
            if el.lead is not None:
                chars.append(el.lead)
                continue
            return tuple(dict.fromkeys(chars)), False  # an unseparated field: rejected below
        return tuple(dict.fromkeys(chars)), True

    def make_field(raw: _Raw, prev: object, flat: list, j: int) -> Field:
        nxt = flat[j + 1] if j + 1 < len(flat) else None
        if isinstance(nxt, _Raw) and nxt.lead is None:
            raise FormatError(
                f"log format {spec!r}: {raw.token!r} at column {raw.position + 1} is directly "
                f"followed by {nxt.token!r}; nothing tells where one ends (add a separator)"
            )
        quoted = (
            isinstance(prev, str)
            and prev.endswith('"')
            and isinstance(nxt, str)
            and nxt.startswith('"')
            and raw.kind not in _STRICT
            and raw.kind not in TIME_KINDS
        )
        stops, eol = lead_of(j + 1, flat)
        skip = 0
        kind = raw.kind
        if quoted:
            pattern = _QUOTED
            strict = False
            eol = nxt == '"' and j + 1 == len(flat) - 1
            stops = ('"',)
        elif kind in _STRICT:
            bad = [c for c in stops if c in _STRICT_ALPHABET[kind]]
            if bad:
                raise FormatError(
                    f"log format {spec!r}: {raw.token!r} at column {raw.position + 1} is a number "
                    f"directly followed by {bad[0]!r}; nothing tells where it ends"
                )
            pattern = _STRICT[kind]
            strict = True
        elif kind == "query_q":
            cls = _class(stops)
            pattern = rf"(?:\?{cls}*)?" if cls else r"(?:\?.*)?"
            strict = True
        else:
            strict = False
            if kind in TIME_KINDS and stops:
                sample = _time_sample(raw)
                if len(stops) > 1 and any(s in sample for s in stops):
                    raise FormatError(
                        f"log format {spec!r}: the time {raw.token!r} at column "
                        f"{raw.position + 1} contains the separator that follows it"
                    )
                skip = sample.count(stops[0]) if len(stops) == 1 else 0
            cls = _class(stops)
            if not stops:
                pattern = ".*"
            elif skip:
                pattern = f"{cls}*(?:{_esc(stops[0])}{cls}*){{{skip}}}"
            else:
                pattern = f"{cls}*"
        return Field(
            group=group_name(raw),
            token=raw.token,
            position=raw.position,
            kind=kind,
            column=raw.column,
            arg=raw.arg,
            scale=raw.scale,
            quoted=quoted,
            stops=stops,
            eol=eol,
            skip=skip,
            pattern=pattern,
            strict=strict,
        )

    # Flatten optional groups for context: a field before the group sees the group's first
    # char and whatever follows the group; a field inside sees what follows the group.
    def build(flat: list) -> tuple[list[Element], str]:
        elements: list[Element] = []
        regex: list[str] = []
        for j, el in enumerate(flat):
            if isinstance(el, str):
                optional = el == '"' and j == len(flat) - 1 and _ends_quoted(flat)
                elements.append(Literal(el, optional))
                regex.append(_esc(el) + ("?" if optional else ""))
            elif isinstance(el, list):
                inner_flat = list(el) + flat[j + 1 :]
                inner_elems: list[Literal | Field] = []
                inner_rx: list[str] = []
                for ij, iel in enumerate(el):
                    if isinstance(iel, str):
                        inner_elems.append(Literal(iel))
                        inner_rx.append(_esc(iel))
                    else:
                        prev = el[ij - 1] if ij else None
                        f = make_field(iel, prev, inner_flat, ij)
                        fields.append(f)
                        inner_elems.append(f)
                        inner_rx.append(f"(?P<{f.group}>{f.pattern})")
                elements.append(Optional_(tuple(inner_elems)))
                regex.append("(?:" + "".join(inner_rx) + ")?")
            else:
                prev = flat[j - 1] if j else None
                f = make_field(el, prev, flat, j)
                fields.append(f)
                elements.append(f)
                regex.append(f"(?P<{f.group}>{f.pattern})")
        return elements, "".join(regex)

    elements, body = build(seq)
    regex = "^" + body + "$"

    time_groups = tuple(f.group for f in fields if f.kind in TIME_KINDS)
    main_time = [f for f in fields if f.kind in TIME_KINDS and f.kind != "time_frac"]
    if not main_time:
        raise FormatError(
            f"log format {spec!r}: no timestamp (%t, %{{…}}t, $time_local, $time_iso8601 or "
            "$msec); every hit needs one"
        )
    sources = _sources(fields)
    return LogFormat(
        spec=spec,
        syntax=syntax,
        format=fmt,
        elements=tuple(elements),
        regex=regex,
        fields=tuple(fields),
        sources=sources,
        time_groups=time_groups,
    )


def _ends_quoted(flat: list) -> bool:
    """True when the format ends with ``"<field>"``: that closing quote may be cut off."""
    return (
        len(flat) >= 3
        and flat[-1] == '"'
        and isinstance(flat[-2], _Raw)
        and isinstance(flat[-3], str)
        and flat[-3].endswith('"')
        and flat[-2].kind not in _STRICT
        and flat[-2].kind not in TIME_KINDS
    )


def _sources(fields: list[Field]) -> dict[str, str]:
    """Column -> feeding field, by rank (request line first), then by format order."""
    best: dict[str, tuple[int, int, str]] = {}
    for order, f in enumerate(fields):
        if f.kind in _REQUEST_COLUMNS:
            cols = _REQUEST_COLUMNS[f.kind]
            rank = _RANK[f.kind]
        elif f.column is not None and f.kind not in ("drop",) + TIME_KINDS:
            cols = (f.column,)
            rank = 2
        else:
            continue
        for c in cols:
            if c not in best or (rank, order) < best[c][:2]:
                best[c] = (rank, order, f.group)
    return {c: v[2] for c, v in best.items()}


def _time_sample(raw: _Raw) -> str:
    if raw.kind in _SAMPLES:
        return _SAMPLES[raw.kind]
    if raw.kind == "time_strftime":
        return _SAMPLE_TIME.strftime(raw.arg or "")
    if raw.kind == "time_epoch":
        return "971211336.000"
    return "000000"


_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def _esc(text: str) -> str:
    """Escape literal text for both Rust regex and Python re."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _class(stops: tuple[str, ...]) -> str:
    """A negated character class excluding ``stops`` (empty string when there are none)."""
    if not stops:
        return ""
    return "[^" + "".join("\\" + c if c in _REGEX_META or c == "]" else c for c in stops) + "]"
