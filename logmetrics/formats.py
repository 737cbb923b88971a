"""Compile Apache ``LogFormat`` and nginx ``log_format`` strings into one anchored regex.

The regex (``LogFormat.regex``) is the parse: ``parse`` runs it over every line with polars'
``str.extract_groups``, so it is written for Rust's regex crate (no lookaround, no
backreferences) and is Python-``re`` compatible too (the tests run both). Every field is
delimited: an unquoted field ends at the first character that can start what follows it, a
quoted field at the first unescaped ``"``, a strftime time is spelled out conversion by
conversion (``directives.STRFTIME``).

What each directive or variable means comes from the tables in ``directives``; each field says
how it becomes a warehouse column (``Field.kind``, ``LogFormat.sources``; see the hits schema in
docs/design.md). A format the parse could not read is refused here with a ``FormatError`` that
names the directive, never at ingest time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from .directives import Kind, Zone
from .errors import FormatError
from .syntax import REGEX_META, Item, Raw, escape, tokenize_apache, tokenize_nginx

# --- presets, in the server's own syntax ------------------------------------------------------

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
COMBINED_IO = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O'
VHOST_COMMON = '%v %h %l %u %t "%r" %>s %b'
#: Apache's vhost_combined. ``%v:%p`` also accepts a bare ``%v`` (the matomo corpus writes
#: ``%v %h …``): a ``:%p`` right after ``%v``/``%V`` is always compiled as optional.
VHOST_COMBINED = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
#: RHEL's stock mod_ssl ``ssl_request_log``.
SSL_REQUEST = '%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b'
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
    "ssl_request": SSL_REQUEST,
    "nginx": NGINX,
    "nginx_combined": NGINX,
    "nginx_main": NGINX_MAIN,
}

# --- the hits schema ----------------------------------------------------------------------------

#: Columns every hits frame has before the per-format header/cookie columns, by type name.
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
    """The polars type of a type name of ``HEAD_TYPES`` / ``TAIL_TYPES`` / ``REJECTS_TYPES``."""
    types: dict[str, pl.DataType] = {
        "timestamp": pl.Datetime("us", "UTC"),
        "string": pl.String(),
        "int16": pl.Int16(),
        "int64": pl.Int64(),
        "float64": pl.Float64(),
        "date": pl.Date(),
    }
    return types[name]


#: The same columns as polars types.
HITS_HEAD: dict[str, pl.DataType] = {c: polars_type(t) for c, t in HEAD_TYPES.items()}
HITS_TAIL: dict[str, pl.DataType] = {c: polars_type(t) for c, t in TAIL_TYPES.items()}
REJECTS_SCHEMA: dict[str, pl.DataType] = {c: polars_type(t) for c, t in REJECTS_TYPES.items()}


# --- compiled form --------------------------------------------------------------------------


@dataclass(frozen=True)
class Strftime:
    """The ``%{format}t`` times of a format as the parse reads them: their texts joined with
    ``SEPARATOR`` are read with ``chrono`` (polars' strptime); ``zone`` says whose clock it is
    and, for ``%Z``, group 1 of ``zone_regex`` in field ``zone_group`` is the zone's name."""

    SEPARATOR = "\x1f"

    groups: tuple[str, ...]
    chrono: str
    zone: Zone
    zone_group: str | None = None
    zone_regex: str | None = None


@dataclass(frozen=True)
class Literal:
    """Text the server writes verbatim; ``optional`` only for a final closing quote."""

    text: str
    optional: bool = False


@dataclass(frozen=True)
class Field:
    """One directive/variable: the regex group it becomes and how it converts.

    ``conditional``: an Apache directive with a status condition (``%400r``) writes ``-`` for
    other statuses, so an unconditional field for the same column wins over it.
    """

    group: str
    token: str
    position: int
    kind: Kind
    column: str | None
    arg: str | None
    scale: float
    quoted: bool
    conditional: bool
    pattern: str


@dataclass(frozen=True)
class Optional_:
    """Elements that may be absent as a whole (``:%p`` after ``%v``)."""

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
    #: the strftime times, when they make the timestamp (no CLF or ISO 8601 time)
    strftime: Strftime | None = None

    @property
    def columns(self) -> dict[str, pl.DataType]:
        """The hits schema of frames parsed with this format, in column order."""
        return {c: polars_type(t) for c, t in self.column_types.items()}

    @property
    def column_types(self) -> dict[str, str]:
        """``columns`` as type names."""
        extra = sorted(c for c in self.sources if c.startswith(("req_", "resp_", "cookie_")))
        return {**HEAD_TYPES, **dict.fromkeys(extra, "string"), **TAIL_TYPES}

    @property
    def anchor(self) -> str:
        """A group every match captures (a time: no format lacks one), so a line matched
        where it is not null."""
        return self.time_groups[0]

    def field(self, group: str) -> Field:
        """The field behind a regex group name."""
        for f in self.fields:
            if f.group == group:
                return f
        raise KeyError(group)


# --- tokenizing -----------------------------------------------------------------------------


def compile_format(spec: str) -> LogFormat:
    """Compile a preset name, an Apache LogFormat string or an nginx log_format string."""
    if not isinstance(spec, str) or not spec.strip():
        raise FormatError(str(spec or ""), "empty format string")
    fmt = PRESETS.get(spec.strip().lower(), spec)
    nginx = re.search(r"\$(?:\{|[A-Za-z_])", fmt) is not None
    apache = re.search(r"%(?:[<>!0-9,{A-Za-z%^])", fmt) is not None
    if nginx and apache:
        raise FormatError(spec, "mixes Apache %-directives and nginx $variables; use one syntax")
    if apache:
        return _build(spec, "apache", fmt, tokenize_apache(fmt, spec))
    if nginx:
        return _build(spec, "nginx", fmt, tokenize_nginx(fmt, spec))
    raise FormatError(
        spec,
        f"no %-directive or $variable; give a preset ({', '.join(PRESETS)}), "
        "an Apache LogFormat or an nginx log_format",
    )


# --- building the regex -----------------------------------------------------------------------


_QUOTED = r'(?:[^"\\]|\\.)*'
#: A sample of each fixed-shape time, to count the separators it contains.
_SAMPLES = {
    Kind.TIME_CLF: "10/Oct/2000:13:55:36 -0700",
    Kind.TIME_ISO: "2000-10-10T13:55:36-07:00",
    Kind.TIME_EPOCH: "971211336.000",
    Kind.TIME_FRAC: "000000",
}
_Seq = list[str | Raw | list[Item]]


def _build(spec: str, syntax: str, fmt: str, items: list[Item]) -> LogFormat:
    """Give each directive its context (what ends it), its regex and its column."""
    if not any(isinstance(it, Raw) for it in items):
        raise FormatError(spec, "no directive")
    for it in items:
        if isinstance(it, str) and re.search(r"[\x00\r\n]", it):
            raise FormatError(spec, "a log line cannot contain NUL, CR or LF in literal text")
    builder = _Builder(spec, _group_port(syntax, items))
    elements, body = builder.build()
    fields = builder.fields
    time_groups = tuple(f.group for f in fields if f.kind.is_time)
    if not any(f.kind.is_time and f.kind is not Kind.TIME_FRAC for f in fields):
        raise FormatError(
            spec,
            "no timestamp (%t, %{…}t, $time_local, $time_iso8601 or $msec); every hit needs one",
        )
    return LogFormat(
        spec=spec,
        syntax=syntax,
        format=fmt,
        elements=tuple(elements),
        regex="^" + body + "$",
        fields=tuple(fields),
        sources=_sources(fields),
        time_groups=time_groups,
        strftime=_joint_strftime(spec, builder.raws, fields),
    )


def _group_port(syntax: str, items: list[Item]) -> _Seq:
    """Group ``%v:%p`` into an optional part (see VHOST_COMBINED)."""
    seq: _Seq = []
    k = 0
    while k < len(items):
        it = items[k]
        port = items[k + 2] if k + 2 < len(items) else None
        if (
            syntax == "apache"
            and isinstance(it, Raw)
            and it.token in ("%v", "%V")
            and items[k + 1 : k + 2] == [":"]
            and isinstance(port, Raw)
            and port.token.endswith("p")
            and port.kind is Kind.DROP
            and k + 3 < len(items)
            and isinstance(items[k + 3], str)
        ):
            seq += [it, [":", port]]
            k += 3
            continue
        seq.append(it)
        k += 1
    return seq


class _Builder:
    """Fields and regex of a tokenized format; a field before an optional group sees the
    group's first character and what follows the group, a field inside sees what follows."""

    def __init__(self, spec: str, seq: _Seq) -> None:
        self.spec = spec
        self.seq = seq
        self.fields: list[Field] = []
        self.raws: dict[str, Raw] = {}
        self._names: dict[str, int] = {}

    def build(self) -> tuple[list[Element], str]:
        elements: list[Element] = []
        regex: list[str] = []
        flat = self.seq
        for j, el in enumerate(flat):
            if isinstance(el, str):
                optional = el == '"' and j == len(flat) - 1 and _ends_quoted(flat)
                elements.append(Literal(el, optional))
                regex.append(escape(el) + ("?" if optional else ""))
            elif isinstance(el, list):
                inner_flat = list(el) + flat[j + 1 :]
                inner: list[Literal | Field] = []
                inner_rx: list[str] = []
                for ij, iel in enumerate(el):
                    if isinstance(iel, str):
                        inner.append(Literal(iel))
                        inner_rx.append(escape(iel))
                    else:
                        f = self._field(iel, el[ij - 1] if ij else None, inner_flat, ij)
                        inner.append(f)
                        inner_rx.append(f"(?P<{f.group}>{f.pattern})")
                elements.append(Optional_(tuple(inner)))
                regex.append("(?:" + "".join(inner_rx) + ")?")
            else:
                f = self._field(el, flat[j - 1] if j else None, flat, j)
                elements.append(f)
                regex.append(f"(?P<{f.group}>{f.pattern})")
        return elements, "".join(regex)

    def _group_name(self, raw: Raw) -> str:
        base = raw.column or raw.kind.value
        if raw.kind is Kind.REQUEST:
            base = "request"
        elif raw.kind.is_time:
            base = "time"
        base = re.sub(r"[^0-9A-Za-z_]", "_", base)
        self._names[base] = self._names.get(base, 0) + 1
        return base if self._names[base] == 1 else f"{base}_{self._names[base]}"

    def _field(self, raw: Raw, prev: object, flat: _Seq, j: int) -> Field:
        spec = self.spec
        nxt = flat[j + 1] if j + 1 < len(flat) else None
        if isinstance(nxt, Raw) and nxt.lead is None:
            raise FormatError(
                spec,
                f"directly followed by {nxt.token!r}: nothing tells where one ends "
                "(add a separator)",
                raw.token,
                raw.position,
            )
        kind = raw.kind
        quoted = (
            isinstance(prev, str)
            and prev.endswith('"')
            and isinstance(nxt, str)
            and nxt.startswith('"')
            and kind.number is None
            and not kind.is_time
        )
        stops, _ = _lead_of(j + 1, flat)
        cls = _class(stops)
        if quoted:
            pattern = _QUOTED
        elif kind.number is not None:
            bad = [c for c in stops if c in "-0123456789."]
            if bad:
                raise FormatError(
                    spec,
                    f"a number directly followed by {bad[0]!r}: nothing tells where it ends",
                    raw.token,
                    raw.position,
                )
            pattern = kind.number
        elif kind is Kind.QUERY:
            pattern = rf"(?:\?{cls}*)?" if cls else r"(?:\?.*)?"
        elif raw.strftime is not None:
            pattern = raw.strftime.pattern
        elif kind.is_time and stops:
            sample = _SAMPLES[kind]
            if len(stops) > 1 and any(s in sample for s in stops):
                raise FormatError(
                    spec, "a time containing the separator that follows it", raw.token,
                    raw.position,
                )  # fmt: skip
            skip = sample.count(stops[0]) if len(stops) == 1 else 0
            pattern = f"{cls}*(?:{escape(stops[0])}{cls}*){{{skip}}}" if skip else f"{cls}*"
        else:
            pattern = f"{cls}*" if stops else ".*"
        f = Field(
            group=self._group_name(raw),
            token=raw.token,
            position=raw.position,
            kind=kind,
            column=raw.column,
            arg=raw.arg,
            scale=raw.scale,
            quoted=quoted,
            conditional=raw.conditional,
            pattern=pattern,
        )
        self.fields.append(f)
        self.raws[f.group] = raw
        return f


def _lead_of(j: int, flat: _Seq) -> tuple[tuple[str, ...], bool]:
    """Characters that can start what follows position ``j``, and whether the line's end can."""
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
        return tuple(dict.fromkeys(chars)), False  # an unseparated field: refused by _field
    return tuple(dict.fromkeys(chars)), True


def _ends_quoted(flat: _Seq) -> bool:
    """True when the format ends with ``"<field>"``: that closing quote may be cut off."""
    return (
        len(flat) >= 3
        and flat[-1] == '"'
        and isinstance(flat[-2], Raw)
        and isinstance(flat[-3], str)
        and flat[-3].endswith('"')
        and flat[-2].kind.number is None
        and not flat[-2].kind.is_time
    )


#: Columns a request line (or ``$request_uri``) feeds.
REQUEST_COLUMNS = {
    Kind.REQUEST: ("method", "uri", "path", "query", "protocol"),
    Kind.REQUEST_URI: ("uri", "path", "query"),
}


def _sources(fields: list[Field]) -> dict[str, str]:
    """Column -> feeding field: an unconditional field before a conditional one (``%400r``
    writes ``-`` for other statuses), then the request line before its parts, then format
    order."""
    best: dict[str, tuple[int, int, int, str]] = {}
    for order, f in enumerate(fields):
        if f.kind in REQUEST_COLUMNS:
            cols = REQUEST_COLUMNS[f.kind]
            rank = 0 if f.kind is Kind.REQUEST else 1
        elif f.column is not None and f.kind is not Kind.DROP and not f.kind.is_time:
            cols = (f.column,)
            rank = 2
        else:
            continue
        key = (int(f.conditional), rank, order, f.group)
        for c in cols:
            if c not in best or key < best[c]:
                best[c] = key
    return {c: v[3] for c, v in best.items()}


def _joint_strftime(spec: str, raws: dict[str, Raw], fields: list[Field]) -> Strftime | None:
    """The format's strftime times as one, when they make the timestamp; refused unless the
    sample instants written with them read back exactly (a date and a time of day)."""
    if any(f.kind in (Kind.TIME_CLF, Kind.TIME_ISO) for f in fields):
        return None
    strf = [(f, raws[f.group].strftime) for f in fields if f.kind is Kind.TIME_STRFTIME]
    parts = [(f, s) for f, s in strf if s is not None]
    if not parts:
        return None
    zones = {s.zone for _, s in parts}
    zone = next(z for z in (Zone.EPOCH, Zone.OFFSET, Zone.NAME, Zone.LOCAL) if z in zones)
    named = next(((f, s) for f, s in parts if s.zone_regex is not None), None)
    joint = Strftime(
        groups=tuple(f.group for f, _ in parts),
        chrono=Strftime.SEPARATOR.join(s.chrono for _, s in parts),
        zone=zone,
        zone_group=named[0].group if named and zone is Zone.NAME else None,
        zone_regex=named[1].zone_regex if named and zone is Zone.NAME else None,
    )
    first = parts[0][0]
    for sample in STRFTIME_SAMPLES:
        texts = [_render(f.arg or "", sample) for f, _ in parts]
        if not all(re.fullmatch(f.pattern, t) for (f, _), t in zip(parts, texts, strict=True)):
            raise FormatError(spec, "a time format the parse cannot match", first.token,
                              first.position)  # fmt: skip
        text = Strftime.SEPARATOR.join(texts)
        dtype = pl.Datetime("us", "UTC") if zone is Zone.OFFSET else pl.Datetime("us")
        try:
            got = pl.Series([text]).str.strptime(dtype, joint.chrono, strict=False)[0]
        except pl.exceptions.PolarsError:
            got = None
        if got is None or got.replace(tzinfo=None) != sample:
            raise FormatError(
                spec,
                "cannot be read back as a date and a time of day",
                first.token,
                first.position,
            )
    return joint


#: Instants a strftime format must read back (a day < 10 and a morning hour catch %e, %k, %I).
STRFTIME_SAMPLES = (datetime(2000, 10, 10, 13, 55, 36), datetime(2022, 3, 5, 4, 7, 9))
_EPOCH = datetime(1970, 1, 1)


def _render(arg: str, when: datetime) -> str:
    """``%{arg}t`` as httpd writes ``when`` (a UTC wall-clock time)."""
    for prefix in ("begin:", "end:"):
        arg = arg.removeprefix(prefix)
    epoch = str((when - _EPOCH) // timedelta(seconds=1))
    own = {"s": epoch, "z": "+0000", "Z": "UTC", "%": "%%"}
    return when.strftime(re.sub("%(.)", lambda m: own.get(m.group(1), m.group()), arg))


def _class(stops: tuple[str, ...]) -> str:
    """A negated character class excluding ``stops`` (empty string when there are none)."""
    if not stops:
        return ""
    return "[^" + "".join("\\" + c if c in REGEX_META or c == "]" else c for c in stops) + "]"


__all__ = [
    "COMBINED", "COMMON", "NGINX", "NGINX_MAIN", "PRESETS", "Field", "Literal", "LogFormat",
    "Optional_", "Strftime", "compile_format",
]  # fmt: skip
