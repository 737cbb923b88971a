"""What a log format can say: one typed table per syntax.

Each Apache ``%`` directive (``APACHE``), nginx variable (``NGINX_VARIABLES``, and the families
of ``NGINX_PREFIXES``) and strftime conversion (``STRFTIME``) is one row: the ``Kind`` of its
text, which decides how ``parse`` converts it, and the hits column it feeds. Adding a directive
is adding a row; ``formats`` compiles formats from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """What a directive's text is, and so how ``parse`` turns it into column values."""

    TEXT = "text"  # Utf8; ``-`` is null; ``\\"``, ``\\\\``, ``\\xHH`` decoded
    USER = "user"  # TEXT, where httpd's ``""`` (an empty user name) is the empty string
    REQUEST = "request"  # request line -> method, uri, path, query, protocol
    REQUEST_URI = "request_uri"  # nginx ``$request_uri`` -> uri, path, query
    QUERY = "query"  # Apache ``%q``: ``?a=b`` or nothing -> query
    STATUS = "status"  # Int16; ``-`` is null; more than 3 digits rejects the line
    INT = "int"  # Int64; ``-`` is null
    SECONDS = "seconds"  # Float64 seconds: the number times the directive's ``scale``
    TIME_CLF = "time_clf"  # ``10/Oct/2000:13:55:36 -0700``
    TIME_ISO = "time_iso"  # ``2000-10-10T13:55:36-07:00``
    TIME_STRFTIME = "time_strftime"  # Apache ``%{format}t``, see ``STRFTIME``
    TIME_EPOCH = "time_epoch"  # seconds since the epoch times ``scale``
    TIME_FRAC = "time_frac"  # a fraction of a second (times ``scale``) added to the time
    DROP = "drop"  # matched, not stored

    @property
    def is_time(self) -> bool:
        return self.name.startswith("TIME_")

    @property
    def number(self) -> str | None:
        """The regex of a numeric kind's text (a ``-`` for none, or digits), else None."""
        return {
            Kind.STATUS: "-|[0-9]+",
            Kind.INT: "-|[0-9]+",
            Kind.SECONDS: r"-|[0-9]+(?:\.[0-9]*)?",
        }.get(self)


class Arg(Enum):
    """Whether an Apache directive takes a ``{…}`` argument."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True)
class Directive:
    """One row of what a format can say: the kind of its text and the column it feeds.

    ``column`` is None when nothing is stored (or a request line / time feeds several);
    ``{}`` in it stands for the header or cookie named by the argument.
    """

    kind: Kind
    column: str | None = None
    arg: Arg = Arg.NONE
    scale: float = 1.0


_D = Directive
_TEXT, _DROP = Kind.TEXT, Kind.DROP

#: Apache ``%`` directives: httpd 2.4 mod_log_config "Custom Log Formats"
#: (https://httpd.apache.org/docs/2.4/mod/mod_log_config.html#formats), mod_logio's
#: ``%I %O %S %^FB`` and mod_ssl's ``%{VAR}x`` / ``%{VAR}c``.
APACHE: dict[str, Directive] = {
    "a": _D(_TEXT, "remote_addr", Arg.OPTIONAL),  # %{c}a (the peer's address) is dropped
    "A": _D(_DROP),
    "b": _D(Kind.INT, "bytes"),  # "-" for no body
    "B": _D(Kind.INT, "bytes"),
    "C": _D(_TEXT, "cookie_{}", Arg.REQUIRED),
    "D": _D(Kind.SECONDS, "request_time", scale=1e-6),  # microseconds
    "e": _D(_DROP, arg=Arg.REQUIRED),
    "f": _D(_DROP),
    "h": _D(_TEXT, "remote_addr", Arg.OPTIONAL),  # %{c}h: the underlying peer's name
    "H": _D(_TEXT, "protocol"),
    "i": _D(_TEXT, "req_{}", Arg.REQUIRED),
    "k": _D(_DROP),
    "l": _D(_DROP),
    "L": _D(_DROP, arg=Arg.OPTIONAL),  # %{c}L: the connection's log id
    "m": _D(_TEXT, "method"),
    "n": _D(_DROP, arg=Arg.REQUIRED),
    "o": _D(_TEXT, "resp_{}", Arg.REQUIRED),
    "p": _D(_DROP, arg=Arg.OPTIONAL),  # %{canonical,local,remote}p
    "P": _D(_DROP, arg=Arg.OPTIONAL),  # %{pid,tid,hextid}P
    "q": _D(Kind.QUERY, "query"),
    "r": _D(Kind.REQUEST),
    "R": _D(_DROP),
    "s": _D(Kind.STATUS, "status"),
    "t": _D(Kind.TIME_CLF, arg=Arg.OPTIONAL),  # %{format}t: see _apache_time
    "T": _D(Kind.SECONDS, "request_time", Arg.OPTIONAL),  # %{s,ms,us}T (case-insensitive)
    "u": _D(Kind.USER, "remote_user"),
    "U": _D(_TEXT, "path"),
    "v": _D(_TEXT, "host"),
    "V": _D(_TEXT, "host"),
    "X": _D(_DROP),
    "^ti": _D(_DROP, arg=Arg.REQUIRED),  # request trailer
    "^to": _D(_DROP, arg=Arg.REQUIRED),  # response trailer
    "I": _D(_DROP),  # mod_logio: bytes received
    "O": _D(Kind.INT, "bytes"),  # mod_logio: bytes sent, headers included
    "S": _D(_DROP),  # mod_logio: bytes transferred
    "^FB": _D(_DROP),  # mod_logio: microseconds to the first byte
    "x": _D(_DROP, arg=Arg.REQUIRED),  # mod_ssl: %{SSL_PROTOCOL}x, %{SSL_CIPHER}x ...
    "c": _D(_DROP, arg=Arg.REQUIRED),  # mod_ssl's older %{version,cipher,...}c
}

#: nginx variables: ngx_http_log_module's own (``$msec``, ``$request_time``, ``$status``,
#: ``$time_iso8601``, ``$time_local`` ...) and ngx_http_core_module's embedded variables
#: (https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format,
#: https://nginx.org/en/docs/http/ngx_http_core_module.html#variables).
NGINX_VARIABLES: dict[str, Directive] = {
    "remote_addr": _D(_TEXT, "remote_addr"),
    "remote_user": _D(_TEXT, "remote_user"),
    "time_local": _D(Kind.TIME_CLF),
    "time_iso8601": _D(Kind.TIME_ISO),
    "msec": _D(Kind.TIME_EPOCH),  # seconds with a millisecond fraction
    "request": _D(Kind.REQUEST),
    "status": _D(Kind.STATUS, "status"),
    "body_bytes_sent": _D(Kind.INT, "bytes"),
    "bytes_sent": _D(Kind.INT, "bytes"),
    "request_time": _D(Kind.SECONDS, "request_time"),
    "host": _D(_TEXT, "host"),
    "server_name": _D(_TEXT, "host"),
    "request_method": _D(_TEXT, "method"),
    "request_uri": _D(Kind.REQUEST_URI),
    "uri": _D(_TEXT, "path"),
    "document_uri": _D(_TEXT, "path"),
    "args": _D(_TEXT, "query"),
    "query_string": _D(_TEXT, "query"),
    "server_protocol": _D(_TEXT, "protocol"),
    **{
        name: _D(_DROP)
        for name in (
            "upstream_response_time", "upstream_connect_time", "upstream_header_time",
            "upstream_addr", "upstream_status", "upstream_cache_status",
            "upstream_bytes_received", "scheme", "connection", "connection_requests", "pipe",
            "gzip_ratio", "request_length", "server_addr", "server_port", "remote_port",
            "hostname", "request_id", "ssl_protocol", "ssl_cipher", "https",
            "realip_remote_addr", "proxy_add_x_forwarded_for", "pid", "content_length",
            "content_type", "bytes_received",
        )  # fmt: skip
    },
}

#: nginx variable families: the prefix, then a header, cookie or argument name.
NGINX_PREFIXES: dict[str, Directive] = {
    "http_": _D(_TEXT, "req_{}"),
    "sent_http_": _D(_TEXT, "resp_{}"),
    "upstream_http_": _D(_TEXT, "resp_{}"),
    "cookie_": _D(_TEXT, "cookie_{}"),
    "arg_": _D(_DROP),
    "upstream_": _D(_DROP),
    "ssl_": _D(_DROP),
}


@dataclass(frozen=True)
class Conversion:
    """A strftime conversion: the regex of what glibc writes for it (C locale, as httpd runs)
    and how polars' ``str.strptime`` (chrono) reads it back."""

    pattern: str
    chrono: str


_C = Conversion
_2 = "[0-9]{2}"

#: The conversions ``%{format}t`` may use (glibc strftime(3)); ``%%`` and ``%t`` are text.
STRFTIME: dict[str, Conversion] = {
    "a": _C("[A-Za-z]{3}", "%a"),
    "A": _C("[A-Za-z]+", "%A"),
    "b": _C("[A-Za-z]{3}", "%b"),
    "B": _C("[A-Za-z]+", "%B"),
    "C": _C(_2, "%C"),
    "d": _C(_2, "%d"),
    "e": _C("[ 0-9][0-9]", "%e"),
    "g": _C(_2, "%g"),
    "G": _C("[0-9]{4}", "%G"),
    "H": _C("(?:[01][0-9]|2[0-3])", "%H"),
    "I": _C(_2, "%I"),
    "j": _C("[0-9]{3}", "%j"),
    "k": _C("[ 0-9][0-9]", "%k"),
    "l": _C("[ 0-9][0-9]", "%l"),
    "m": _C(_2, "%m"),
    "M": _C("[0-5][0-9]", "%M"),
    "p": _C("[AP]M", "%p"),
    "P": _C("[ap]m", "%P"),
    "s": _C("-?[0-9]+", "%s"),  # seconds since the epoch: an instant, whatever the zone
    "S": _C("[0-5][0-9]", "%S"),  # no leap second: the Unix clock has none
    "u": _C("[1-7]", "%u"),
    "U": _C(_2, "%U"),
    "V": _C(_2, "%V"),
    "w": _C("[0-6]", "%w"),
    "W": _C(_2, "%W"),
    "y": _C(_2, "%y"),
    "Y": _C("[0-9]{4}", "%Y"),
    "z": _C("[+-](?:[01][0-9]|2[0-3])[0-5][0-9]", "%z"),
    # the zone's abbreviation (glibc: the server's own, e.g. EST, UTC, or -05 for Lima)
    "Z": _C("[A-Za-z]+|[+-][0-9]{2}(?:[0-9]{2})?", "%Z"),
}
#: Conversions that stand for several others (C locale).
STRFTIME_SHORTHANDS: dict[str, str] = {
    "c": "%a %b %e %H:%M:%S %Y",
    "D": "%m/%d/%y",
    "F": "%Y-%m-%d",
    "h": "%b",
    "r": "%I:%M:%S %p",
    "R": "%H:%M",
    "T": "%H:%M:%S",
    "x": "%m/%d/%y",
    "X": "%H:%M:%S",
}


class Zone(Enum):
    """How a strftime time says which instant it is."""

    LOCAL = "local"  # wall-clock time in the configured zone
    EPOCH = "epoch"  # ``%s``
    OFFSET = "offset"  # ``%z``
    NAME = "name"  # ``%Z``: UTC/GMT, a numeric name, or the configured zone's abbreviation
