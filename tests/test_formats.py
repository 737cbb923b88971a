"""compile_format: Apache LogFormat and nginx log_format strings, presets and errors."""

from __future__ import annotations

import re
from datetime import UTC

import polars as pl
import pytest

from logmetrics.directives import APACHE, NGINX_PREFIXES, NGINX_VARIABLES, Arg, Kind
from logmetrics.errors import ConfigError, FormatError
from logmetrics.formats import (
    COMBINED,
    COMMON,
    NGINX,
    PRESETS,
    VHOST_COMBINED,
    compile_format,
)
from logmetrics.parse import match_groups, parse_chunk
from tests.corpus import parse_cases as CASES

T_APACHE = "[10/Mar/2022:10:15:32 -0500]"
T_NGINX = "10/Mar/2022:10:15:32 -0500"
TZ = "America/Lima"  # where the strftime times below were written


def hit(fmt: str, line: str) -> dict:
    """The single hit a one-line chunk gives."""
    r = parse_chunk((line + "\n").encode(), compile_format(fmt), source="s", file="f", tz=TZ,
                    first_line_no=1, base_offset=0)  # fmt: skip
    assert (r.hits.height, r.rejects.height) == (1, 0), r.rejects.to_dicts()
    return r.hits.row(0, named=True)


def groups(fmt: str, line: str) -> dict:
    """What each regex group captured from one line."""
    df = match_groups((line + "\n").encode(), compile_format(fmt))
    assert df["matched"][0], line
    return df.row(0, named=True)


def test_presets_are_the_servers_own_strings():
    """Presets are spelled as Apache/nginx spell them, so users can compare with their config."""
    assert COMBINED == '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
    assert COMMON == '%h %l %u %t "%r" %>s %b'
    assert VHOST_COMBINED == '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
    assert NGINX == (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent"'
    )
    assert {"combined", "common", "vhost_combined", "nginx", "nginx_combined"} <= set(PRESETS)
    assert PRESETS["nginx_combined"] == PRESETS["nginx"] == NGINX


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_name_and_its_string_compile_alike(name):
    """A preset name compiles to the same regex as its format string, case-insensitively."""
    assert compile_format(name).regex == compile_format(PRESETS[name]).regex
    assert compile_format(name.upper()).regex == compile_format(name).regex


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_regex_runs_in_polars_and_python(name):
    """The regex compiles in Rust (polars) and Python and anchors the whole line."""
    fmt = compile_format(name)
    re.compile(fmt.regex)
    s = pl.Series(["nope"]).str.extract_groups(fmt.regex)
    assert s.struct.fields == [f.group for f in fmt.fields]
    assert fmt.regex.startswith("^") and fmt.regex.endswith("$")
    assert "(?<" not in fmt.regex.replace("(?P<", "") and "(?=" not in fmt.regex


def test_vhost_combined_accepts_with_and_without_port():
    """vhost_combined reads Apache's '%v:%p' and the matomo corpus's bare '%v'."""
    tail = f' 10.0.0.1 - - {T_APACHE} "GET / HTTP/1.1" 200 1 "-" "-"'
    assert hit("vhost_combined", "app.example.pe:8443" + tail)["host"] == "app.example.pe"
    assert hit("vhost_combined", "app.example.pe" + tail)["host"] == "app.example.pe"


# (format, line, column, expected) — one row per directive/variable the user can rely on
APACHE_FIELDS = [
    ("%h %t", f"10.1.2.3 {T_APACHE}", "remote_addr", "10.1.2.3"),
    ("%a %t", f"10.1.2.4 {T_APACHE}", "remote_addr", "10.1.2.4"),
    ("%u %t", f"maria {T_APACHE}", "remote_user", "maria"),
    ("%u %t", f"- {T_APACHE}", "remote_user", None),
    ("%t %>s", f"{T_APACHE} 404", "status", 404),
    ("%t %<s", f"{T_APACHE} 302", "status", 302),
    ("%t %s", f"{T_APACHE} 201", "status", 201),
    ("%t %b", f"{T_APACHE} 1234", "bytes", 1234),
    ("%t %b", f"{T_APACHE} -", "bytes", None),
    ("%t %B", f"{T_APACHE} 0", "bytes", 0),
    ("%t %O", f"{T_APACHE} 99", "bytes", 99),
    ('%t "%{Referer}i"', f'{T_APACHE} "http://a/"', "referer", "http://a/"),
    ('%t "%{User-agent}i"', f'{T_APACHE} "curl/8"', "user_agent", "curl/8"),
    (
        '%t "%{X-Forwarded-For}i"',
        f'{T_APACHE} "1.1.1.1, 2.2.2.2"',
        "req_x_forwarded_for",
        "1.1.1.1, 2.2.2.2",
    ),
    ("%t %{X-Remote-User}o", f"{T_APACHE} pedro", "resp_x_remote_user", "pedro"),
    ("%t %{session_id}C", f"{T_APACHE} abc", "cookie_session_id", "abc"),
    ("%t %D", f"{T_APACHE} 1500000", "request_time", 1.5),
    ("%t %T", f"{T_APACHE} 2", "request_time", 2.0),
    ("%t %{ms}T", f"{T_APACHE} 250", "request_time", 0.25),
    ("%t %{us}T", f"{T_APACHE} 500", "request_time", 0.0005),
    ("%v %t", f"app.example.pe {T_APACHE}", "host", "app.example.pe"),
    ("%V %t", f"app2.example.pe {T_APACHE}", "host", "app2.example.pe"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "POST /solicitudes?x=1 HTTP/1.1"', "method", "POST"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "POST /solicitudes?x=1 HTTP/1.1"', "path", "/solicitudes"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "POST /solicitudes?x=1 HTTP/1.1"', "query", "x=1"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "POST /solicitudes?x=1 HTTP/1.1"', "uri", "/solicitudes?x=1"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "GET /a HTTP/1.0"', "query", None),
    ('%t "%m %U%q %H"', f'{T_APACHE} "GET /a HTTP/1.0"', "uri", "/a"),
    ('%t "%m %U%q %H"', f'{T_APACHE} "GET /a HTTP/1.0"', "protocol", "HTTP/1.0"),
    ('%t "%r"', f'{T_APACHE} "GET /x?y HTTP/1.1"', "query", "y"),
    ("%t 100%% %u", f"{T_APACHE} 100% ana", "remote_user", "ana"),
    ("%{%d/%b/%Y:%H:%M:%S %z}t %u", "10/Mar/2022:10:15:32 -0500 ana", "ts", "2022-03-10 15:15:32"),
    (
        "[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %u",
        "[10/Mar/2022 10:15:32.250 +0000] ana",
        "ts",
        "2022-03-10 10:15:32.250000",
    ),
    ("%{%Y-%m-%d %H:%M:%S}t %u", "2022-03-10 10:15:32 ana", "ts", "2022-03-10 15:15:32"),
    ("%{sec}t %u", "1646925332 ana", "ts", "2022-03-10 15:15:32"),
    ("%{msec}t %u", "1646925332250 ana", "ts", "2022-03-10 15:15:32.250000"),
    ("%{begin:usec}t %u", "1646925332000001 ana", "ts", "2022-03-10 15:15:32.000001"),
]

NGINX_FIELDS = [
    ("$remote_addr [$time_local]", f"10.9.8.7 [{T_NGINX}]", "remote_addr", "10.9.8.7"),
    ("$remote_user [$time_local]", f"jose [{T_NGINX}]", "remote_user", "jose"),
    ("[$time_local] $status", f"[{T_NGINX}] 503", "status", 503),
    ("$time_local|$status", f"{T_NGINX}|503", "ts", "2022-03-10 15:15:32"),
    ("$time_local $status", f"{T_NGINX} 503", "status", 503),
    ("$time_iso8601 $status", "2022-03-10T10:15:32-05:00 200", "ts", "2022-03-10 15:15:32"),
    ("$time_iso8601 $status", "2022-03-10T15:15:32Z 200", "ts", "2022-03-10 15:15:32"),
    ("$msec $status", "1646925332.123 200", "ts", "2022-03-10 15:15:32.123000"),
    ('[$time_local] "$request"', f'[{T_NGINX}] "HEAD /x HTTP/1.1"', "method", "HEAD"),
    ("[$time_local] $body_bytes_sent", f"[{T_NGINX}] 77", "bytes", 77),
    ("[$time_local] $bytes_sent", f"[{T_NGINX}] 78", "bytes", 78),
    ('[$time_local] "$http_user_agent"', f'[{T_NGINX}] "Wget/1.21"', "user_agent", "Wget/1.21"),
    ('[$time_local] "$http_referer"', f'[{T_NGINX}] "https://r/"', "referer", "https://r/"),
    (
        '[$time_local] "$http_x_forwarded_for"',
        f'[{T_NGINX}] "1.2.3.4"',
        "req_x_forwarded_for",
        "1.2.3.4",
    ),
    ("[$time_local] $upstream_http_x_user", f"[{T_NGINX}] ana", "resp_x_user", "ana"),
    ("[$time_local] $sent_http_x_user", f"[{T_NGINX}] ana", "resp_x_user", "ana"),
    ("[$time_local] $cookie_sid", f"[{T_NGINX}] zz9", "cookie_sid", "zz9"),
    ("[$time_local] $request_time", f"[{T_NGINX}] 0.012", "request_time", 0.012),
    ("[$time_local] $host", f"[{T_NGINX}] app.pe", "host", "app.pe"),
    ("[$time_local] $server_name", f"[{T_NGINX}] srv.pe", "host", "srv.pe"),
    ("[$time_local] $request_method $uri $args", f"[{T_NGINX}] GET /p a=1", "uri", "/p?a=1"),
    ("[$time_local] $request_method $uri $args", f"[{T_NGINX}] GET /p -", "query", None),
    ("[$time_local] $request_uri", f"[{T_NGINX}] /p?a=1&b=2", "query", "a=1&b=2"),
    ("[$time_local] $request_uri", f"[{T_NGINX}] /p?a=1&b=2", "path", "/p"),
    ("[$time_local] $server_protocol", f"[{T_NGINX}] HTTP/2.0", "protocol", "HTTP/2.0"),
    ("[${time_local}] ${status}", f"[{T_NGINX}] 204", "status", 204),
]


def _norm(column, value):
    if column == "ts":
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text[:-7] if text.endswith(".000000") else text
    return value


@pytest.mark.parametrize(("fmt", "line", "column", "expected"), APACHE_FIELDS + NGINX_FIELDS)
def test_directive_fills_its_column(fmt, line, column, expected):
    """Each Apache directive / nginx variable lands in the documented warehouse column."""
    assert _norm(column, hit(fmt, line)[column]) == expected


# Directives that are matched but not stored: they must still consume their field.
DROPPED = [
    ("%t %l %u", f"{T_APACHE} identd ana"),
    ("%t %I %u", f"{T_APACHE} 120 ana"),
    ("%t %p %u", f"{T_APACHE} 443 ana"),
    ("%t %{remote}p %u", f"{T_APACHE} 51234 ana"),
    ("%t %P %u", f"{T_APACHE} 4242 ana"),
    ("%t %k %u", f"{T_APACHE} 0 ana"),
    ("%t %X %u", f"{T_APACHE} + ana"),
    ("%t %A %u", f"{T_APACHE} 10.0.0.1 ana"),
    ("%t %R %u", f"{T_APACHE} proxy-server ana"),
    ("%t %f %u", f"{T_APACHE} /var/www/x ana"),
    ("%t %{HOME}e %u", f"{T_APACHE} /root ana"),
    ("%t %{note}n %u", f"{T_APACHE} x ana"),
    ("%t %L %u", f"{T_APACHE} YtqXSHSGdmMFz ana"),
    ("%t %S %u", f"{T_APACHE} 600 ana"),
    ("%t %{c}a %u", f"{T_APACHE} 10.0.0.9 ana"),
    ("%t %{X-Trailer}^ti %u", f"{T_APACHE} v ana"),
    ("[$time_local] $upstream_response_time $remote_user", f"[{T_NGINX}] 0.1 ana"),
    ("[$time_local] $connection $remote_user", f"[{T_NGINX}] 77 ana"),
    ("[$time_local] $pipe $remote_user", f"[{T_NGINX}] p ana"),
    ("[$time_local] $gzip_ratio $remote_user", f"[{T_NGINX}] 2.50 ana"),
    ("[$time_local] $scheme $remote_user", f"[{T_NGINX}] https ana"),
    ("[$time_local] $msec $remote_user", f"[{T_NGINX}] 1646925332.1 ana"),
]


@pytest.mark.parametrize(("fmt", "line"), DROPPED)
def test_unstored_directive_still_consumes_its_field(fmt, line):
    """Directives with no warehouse column are matched, so the fields after them line up."""
    assert hit(fmt, line)["remote_user"] == "ana"


def test_status_condition_modifiers_are_accepted():
    """%400,501{…}i and %!200{…}i compile; their '-' reads as null."""
    fmt = '%t "%400,501{User-agent}i" "%!200,304{Referer}i"'
    row = hit(fmt, f'{T_APACHE} "-" "http://r/"')
    assert (row["user_agent"], row["referer"]) == (None, "http://r/")


def test_httpd_conf_escapes_in_a_pasted_format():
    """A format pasted from httpd.conf (with \\" around fields) means the same as without."""
    pasted = r"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""
    assert compile_format(pasted).regex == compile_format(COMBINED).regex


def test_request_line_outranks_its_parts():
    """With both %r and %m/%U in a format, method and path come from %r."""
    row = hit('%t "%r" %m %U', f'{T_APACHE} "GET /from-r HTTP/1.1" POST /from-u')
    assert (row["method"], row["path"]) == ("GET", "/from-r")


def test_first_of_two_directives_for_one_column_wins():
    """%b before %O: bytes is the body size the format names first."""
    assert hit("%t %b %O", f"{T_APACHE} 10 250")["bytes"] == 10


def test_quoted_field_captures_escaped_quotes_raw():
    """A quoted field's regex group keeps \\" as written; decoding happens in parse."""
    g = groups(COMBINED, f'1.1.1.1 - - {T_APACHE} "GET /\\"x HTTP/1.1" 200 1 "-" "a \\"b\\""')
    assert (g["request"], g["user_agent"]) == ('GET /\\"x HTTP/1.1', 'a \\"b\\"')


def test_fields_describe_their_columns():
    """Each group says which column it feeds and how, and sources names the winning group."""
    fmt = compile_format("combined")
    kinds = {f.group: (f.token, f.kind, f.column) for f in fmt.fields}
    assert kinds["remote_addr"] == ("%h", Kind.TEXT, "remote_addr")
    assert kinds["remote_user"] == ("%u", Kind.USER, "remote_user")
    assert kinds["status"] == ("%>s", Kind.STATUS, "status")
    assert kinds["user_agent"] == ("%{User-Agent}i", Kind.TEXT, "user_agent")
    assert kinds["request"][1] is Kind.REQUEST
    assert fmt.sources["path"] == "request"
    assert fmt.time_groups == ("time",)
    assert list(fmt.columns)[:2] == ["ts", "remote_addr"]


def test_a_conditional_directive_gives_way_to_an_unconditional_one():
    """%400r (written as "-" unless the status is 400) does not feed the request columns
    when the format also has %r, whatever their order; alone, it does."""
    fmt = compile_format('%h %t "%400r" "%r" %>s')
    assert [f.conditional for f in fmt.fields if f.kind is Kind.REQUEST] == [True, False]
    assert fmt.sources["path"] == fmt.sources["method"] == "request_2"
    assert compile_format('%h %t "%!200r" %>s').sources["path"] == "request"


# A value of each kind, and the column value it gives (for the table-driven test below).
SAMPLES = {
    Kind.TEXT: ("v1", "v1"),
    Kind.USER: ("u1", "u1"),
    Kind.INT: ("12", 12),
    Kind.STATUS: ("204", 204),
    Kind.SECONDS: ("3", 3.0),
    Kind.QUERY: ("?a=1", "a=1"),
    Kind.REQUEST: ('"GET /p HTTP/1.1"', "/p"),
    Kind.REQUEST_URI: ("/p?a=1", "/p"),
    Kind.DROP: ("x", None),
}
# Every table row, in a format: (format around the directive, line around its value).
ROWS = [
    *[(f"%{{X-Name}}{n}" if d.arg is Arg.REQUIRED else f"%{n}", d, "%t {} %{{X-Tail}}i",
       f"{T_APACHE} {{}} end") for n, d in APACHE.items()],
    *[(f"${n}", d, "[$time_local] {} $http_x_tail", f"[{T_NGINX}] {{}} end")
      for n, d in {**NGINX_VARIABLES,
                   **{p + "x_name": d for p, d in NGINX_PREFIXES.items()}}.items()],
]  # fmt: skip


@pytest.mark.parametrize(
    ("token", "row", "fmt", "line"),
    [r for r in ROWS if not r[1].kind.is_time],
    ids=[r[0] for r in ROWS if not r[1].kind.is_time],
)
def test_every_directive_and_variable_consumes_its_field(token, row, fmt, line):
    """Each row of the Apache and nginx tables compiles, matches its field (the field after
    it still lines up) and fills its column."""
    text, value = SAMPLES[row.kind]
    field = f'"{token}"' if row.kind is Kind.REQUEST else token
    got = hit(fmt.format(field), line.format(text))
    assert got["req_x_tail"] == "end"
    column = {Kind.REQUEST: "path", Kind.REQUEST_URI: "path"}.get(row.kind, row.column)
    if column is not None:
        want = value * row.scale if row.kind is Kind.SECONDS else value
        assert got[column.replace("{}", "x_name")] == want


@pytest.mark.parametrize(
    ("fmt", "token", "column"),
    [
        ("%h %l %Z %t", "%Z", 7),
        ('%h %t "%{Referer}j"', "%{Referer}j", 8),
        ("%h %t %y", "%y", 7),
        ("$remote_addr [$time_local] $no_such_var", "$no_such_var", 28),
        ("$remote_addr [$time_local] ${bogus}", "${bogus}", 28),
    ],
)
def test_unknown_directive_error_points_at_it(fmt, token, column):
    """An unknown directive/variable is named with its column, in one line quoting the
    format."""
    with pytest.raises(FormatError) as exc:
        compile_format(fmt)
    err = exc.value
    assert (err.spec, err.token, err.position) == (fmt, token, column - 1)
    assert err.problem.startswith("unknown")
    msg = str(err)
    assert repr(token) in msg and f"column {column}" in msg and repr(fmt) in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("fmt", "token", "needle"),
    [
        ("", None, "empty"),
        ("just text", None, "no %-directive"),
        ("%h %u", None, "no timestamp"),
        ("%h%u %t", "%h", "directly followed"),
        ("%t %>s%b", "%>s", "directly followed"),
        ("%t %i", "%i", "needs a {name}"),
        ("%t %{x}r", "%{x}r", "takes no {argument}"),
        ("%t %{x", "%{x", "unterminated"),
        ("%t %", "%", "incomplete"),
        ("%t %{fortnights}T", "%{fortnights}T", "unknown unit"),
        ("%{nothing}t", "%{nothing}t", "no strftime conversion"),
        ("%{%}t", "%{%}t", "lone %"),
        ("%{%Y-%m-%d %Q}t", "%{%Y-%m-%d %Q}t", "unknown strftime conversion %Q"),
        ("%{%H:%M:%S}t", "%{%H:%M:%S}t", "date and a time of day"),
        ("$remote_addr %h [$time_local]", None, "mixes"),
        ("[$time_local] ${unterminated", "${unterminated", "unterminated"),
        ("%t \\n %h", "\\n", "newline"),
        ("%t\r%h", None, "NUL, CR or LF"),
    ],
)
def test_bad_formats_are_refused_with_a_reason(fmt, token, needle):
    """Malformed or ambiguous formats raise FormatError (a ConfigError) naming the directive
    at fault, where there is one, and saying why."""
    with pytest.raises(FormatError) as exc:
        compile_format(fmt)
    assert exc.value.token == token
    assert needle in exc.value.problem
    assert isinstance(exc.value, ConfigError)


@pytest.mark.parametrize("case", CASES.REFUSED_FORMATS, ids=lambda c: c["id"])
def test_unreadable_format_is_refused_naming_its_directive(case):
    """A format httpd accepts but whose lines could not be read is refused when compiled,
    naming the directive and where it is, not at ingest time."""
    with pytest.raises(FormatError) as exc:
        compile_format(case["fmt"])
    token = case["token"]
    assert (exc.value.token, exc.value.position) == (token, case["fmt"].index(token))


def test_spec_must_be_a_string():
    """A non-string spec is refused as a configuration error, not a crash."""
    with pytest.raises(FormatError):
        compile_format(None)  # type: ignore[arg-type]
