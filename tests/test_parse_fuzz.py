"""Property tests: arbitrary bytes never break parse_chunk, and it agrees line for line with a
plain-Python reference (``re.fullmatch(fmt.regex, line)`` and value-by-value conversions,
tests/parse_reference.py) over generated formats and lines."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from logmetrics.directives import Kind
from logmetrics.errors import FormatError
from logmetrics.formats import PRESETS, Field, Literal, LogFormat, Optional_, compile_format
from logmetrics.parse import parse_chunk
from tests.corpus import parse_cases as CASES
from tests.parse_reference import reference

FORMATS = [
    *PRESETS,
    '%v %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    '%h %l %u [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] "%m %U%q %H" %>s %b %D',
    "$time_iso8601 $remote_addr \"$request\" $status $request_time '$http_x_forwarded_for'",
    '$msec "$request_uri" $uri?$args $cookie_sid',
    '%h «%u» %t "%r" %U%q',
    '%h [%{%FT%T %Z}t] "%400r" "%r" %>s %b',
    '%{%s}t %h "%r" %{sec}t',
]
COMPILED = {f: compile_format(f) for f in FORMATS}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that stress the line reader: delimiters, escapes, CR/LF, NUL and other controls (the
# reader's own separator among them), non-UTF-8, a byte-order mark, multi-byte characters.
NASTY = [b'"', b"\\", b" ", b"[", b"]", b"-", b"?", b"/", b":", b"\r", b"\n", b"\x00", b"\x1f",
         b"\x01", b"\x0b", b"\x0c", b"\xe9", b"\xa4\xa4", b"\xe2\x80\xa8", b"\xc2\x85", b"\x85",
         b"\t", b"0", b"200", b"a", b"\xef\xbb\xbf", b"\xef\xbf\xbd"]  # fmt: skip


def _parse(data: bytes, fmt: LogFormat, **kw):
    return parse_chunk(data, fmt, source="s", file="f", first_line_no=1, base_offset=0,
                       tz="America/Lima", **kw)  # fmt: skip


def _same_as_reference(data: bytes, fmt: LogFormat) -> None:
    r = _parse(data, fmt)
    hits, rejects = reference(data, fmt)
    assert r.hits.to_dicts() == hits, (data, fmt.spec)
    assert r.rejects.select("line_no", "offset", "raw", "reason").rows() == rejects
    assert r.lines == len(hits) + len(rejects)


@st.composite
def chunks(draw):
    """Arbitrary bytes, often built from log-like pieces."""
    pieces = draw(st.lists(st.one_of(st.sampled_from(NASTY), st.binary(max_size=40)), max_size=60))
    return b"".join(pieces)


@SETTINGS
@given(data=chunks(), spec=st.sampled_from(FORMATS))
def test_any_bytes_parse_like_the_reference_and_every_line_is_accounted(data, spec):
    """Whatever the bytes, parse_chunk returns each line once, as hit or reject, at its byte
    offset, with what the reference parse gives."""
    r = _parse(data, COMPILED[spec])
    expected_lines = data.count(b"\n") + (0 if data == b"" or data.endswith(b"\n") else 1)
    assert r.lines == expected_lines
    seen = sorted(r.hits["line_no"].to_list() + r.rejects["line_no"].to_list())
    assert seen == list(range(1, r.lines + 1))
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10]
    assert all(o == starts[n - 1] for n, o in r.rejects.select("line_no", "offset").rows())
    _same_as_reference(data, COMPILED[spec])


# --- formats and lines written from them ----------------------------------------------------

APACHE_FIELDS = [
    "%h", "%a", "%{c}a", "%l", "%u", "%>s", "%b", "%B", "%O", "%D", "%T", "%{ms}T", "%v", "%m",
    "%U", "%U%q", "%H", "%r", "%400r", "%p", "%k", "%X", "%{Referer}i", "%{User-Agent}i",
    "%{X-Forwarded-For}i", "%{sid}C", "%{X-User}o", "%{SSL_PROTOCOL}x",
]  # fmt: skip
APACHE_TIMES = [
    "%t", "%{begin}t", "%t %{msec_frac}t", "%{%d/%b/%Y:%H:%M:%S %z}t", "%{%F %R:%S}t",
    "%{%s}t", "%{sec}t", "%{msec}t", "%{%FT%T %Z}t",
]  # fmt: skip
NGINX_FIELDS = [
    "$remote_addr", "$remote_user", "$status", "$body_bytes_sent", "$request_time",
    "$http_referer", "$http_user_agent", "$http_x_forwarded_for", "$host", "$request_method",
    "$uri", "$args", "$request_uri", "$server_protocol", "$request", "$cookie_sid",
    "$upstream_response_time", "$connection",
]  # fmt: skip
NGINX_TIMES = ["[$time_local]", "$time_local", "$time_iso8601", "$msec"]
SEPARATORS = [" ", " - ", " | ", ", ", "\t", " :: "]


@st.composite
def formats(draw):
    """A format of the pools' directives (or variables) and a time, some fields quoted."""
    apache = draw(st.booleans())
    pool, times = (APACHE_FIELDS, APACHE_TIMES) if apache else (NGINX_FIELDS, NGINX_TIMES)
    items = [
        f'"{it}"' if draw(st.booleans()) else it
        for it in draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    ]
    items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(times)))
    spec = items[0] + "".join(draw(st.sampled_from(SEPARATORS)) + it for it in items[1:])
    try:
        return compile_format(spec)
    except FormatError:
        assume(False)
        raise


# Field text for rendered lines: printable, multi-byte and the delimiters (C0 controls come
# from the mutations and NASTY bytes).
FIELD_PIECES = [*'"\\ []-?/:.+0123456789aZé', "\u2028", "\x85", "\t", "%", "«", "\\x41", "\\xE9"]


def _texts(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(FIELD_PIECES), max_size=max_size).map("".join)
TIMES = {
    Kind.TIME_CLF: ["10/Mar/2022:10:15:32 -0500", "31/Feb/2022:00:00:00 +0000", "x",
                    "10/MAR/2022:10:15:32 +0530", "10/Mar/2022:10:15:60 -0500"],
    Kind.TIME_ISO: ["2022-03-10T10:15:32-05:00", "2022-03-10T15:15:32Z", "2022-13-10T00:00:00Z"],
    Kind.TIME_FRAC: ["250", "7", "x"],
    Kind.TIME_EPOCH: ["1646925332.5", "1646925332", "1646925332250", "1e9"],
}  # fmt: skip
INSTANTS = [datetime(2022, 3, 10, 10, 15, 32), datetime(2021, 7, 4, 23, 59, 59),
            datetime(2001, 1, 1, 0, 0, 0)]  # fmt: skip


def _strftime(draw, arg: str) -> str:
    """What httpd writes for ``%{arg}t`` (C locale), sometimes with an odd zone name."""
    when = draw(st.sampled_from(INSTANTS))
    own = {
        "%s": str(int(when.replace(tzinfo=UTC).timestamp())),
        "%Z": draw(st.sampled_from(["UTC", "GMT", "-05", "+0530", "EST", "-05"])),
        "%z": draw(st.sampled_from(["-0500", "+0000", "+0530"])),
    }
    for conv, text in own.items():
        arg = arg.replace(conv, text)
    return when.strftime(arg)


@st.composite
def rendered(draw, fmt: LogFormat):
    """A line written from the format's own elements, sometimes mutated."""

    def value(f: Field) -> str:
        if draw(st.integers(0, 9)) == 0:
            return "-"
        if f.kind is Kind.TIME_STRFTIME:
            return _strftime(draw, f.arg or "")
        if f.kind in TIMES:
            return draw(st.sampled_from(TIMES[f.kind]))
        if f.kind in (Kind.STATUS, Kind.INT):
            return str(draw(st.integers(0, 10**20)))
        if f.kind is Kind.SECONDS:
            return draw(st.sampled_from(["0.25", "3", "1.", "0.000"]))
        if f.kind is Kind.REQUEST:
            return draw(st.sampled_from(["GET / HTTP/1.1", "-", "PRI * HTTP/2.0", "x y z",
                                         "GET /a?b=1&c HTTP/2", "GET  HTTP/1.0", ""]))  # fmt: skip
        if f.kind is Kind.QUERY:
            return draw(st.sampled_from(["", "?a=1", "?"]))
        if f.kind is Kind.USER and draw(st.booleans()):
            return '""'
        text = draw(_texts(12))
        if f.quoted:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        return text

    def render(elements) -> str:
        out = []
        for el in elements:
            if isinstance(el, Literal):
                out.append(el.text)
            elif isinstance(el, Optional_):
                if draw(st.booleans()):
                    out.append(render(el.elements))
            else:
                out.append(value(el))
        return "".join(out)

    line = render(fmt.elements)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 3))
        line = line[:at] + draw(_texts(2)) + line[at + cut :]
    return line


@SETTINGS
@given(st.data(), st.sampled_from(FORMATS))
def test_lines_of_known_formats_parse_like_the_reference(data, spec):
    """Lines written in the format (and mutated), with odd bytes and CRLF endings mixed in,
    give the reference parse's hits and rejects, value for value."""
    fmt = COMPILED[spec]
    lines = data.draw(st.lists(rendered(fmt), min_size=1, max_size=8))
    raw = [line.encode() + data.draw(st.sampled_from([b"", b"", b"\r", b"\xff", b"\x01"]))
           for line in lines]  # fmt: skip
    _same_as_reference(b"\n".join(raw) + data.draw(st.sampled_from([b"", b"\n"])), fmt)


@SETTINGS
@given(st.data(), formats())
def test_lines_of_generated_formats_parse_like_the_reference(data, fmt):
    """For generated formats too (Apache or nginx, fields quoted or not, each kind of time),
    the parse and the reference agree line for line."""
    lines = data.draw(st.lists(rendered(fmt), min_size=1, max_size=6))
    _same_as_reference("\n".join(lines).encode() + b"\n", fmt)


# --- fixed samples --------------------------------------------------------------------------

ODD = [b"\xe9", b"\xff\xfe", b"\x00", b"\x01", b"\x1b[31m", b"\xc3\xa9", b"\xe2\x80", b"\r",
       b"\x7f", b"\xe2\x80\xa8", b"\t", b"\x1f"]  # fmt: skip
PIECES = ["a", "-", "?", "=", "&", "/", " ", '\\"', "\\\\", "\\x41", "\\xE9", "é", ".", "%20", "7"]


def _sample(rng: random.Random, count: int) -> bytes:
    """Combined-format lines with long fields, escapes, odd bytes, cut lines and CRs."""

    def text(n: int) -> str:
        return "".join(rng.choice(PIECES) for _ in range(n))

    out = []
    for i in range(count):
        ip = rng.choice(["10.0.0.1", "2001:db8:85a3:0:0:8a2e:370:7334", "::1", "-", "1.2.3.4" * 9])
        user = rng.choice(["-", "ana", "x" * rng.randint(1, 90), "\\xE9" * rng.randint(1, 30)])
        path = "/" + "p" * rng.randint(0, 150)
        if rng.random() < 0.5:
            path = path[: rng.randint(0, len(path))] + "?" + text(rng.randint(0, 40))
        method = rng.choice(["GET", "POST", "PROPFIND", "BREW", "-", ""])
        request = rng.choice(
            [f"{method} {path} HTTP/1.1", f"{method} {path}", "-", "", f"{method} {path} HTTP/2"]
        )
        ts = rng.choice(
            ["10/Mar/2022:10:15:32 -0500"] * 8 + ["31/Feb/2022:00:00:00 +0000",
             "10/MAR/2022:10:15:32 -0500", "10/Mar/2022:10:15:32 +2400", "10/Mar/2022:10:15:3"]
        )  # fmt: skip
        status = rng.choice(["200", "404", "-", "200", "304"] * 5 + ["2000", "abc", "0200"])
        size = rng.choice(["512", "-", "0", "512", "7"] * 5 + ["123456789012", "1x"])
        ref = rng.choice(["-", "https://a.pe/" + text(rng.randint(0, 80))])
        ua = rng.choice(["-", "Mozilla/5.0 " + text(rng.randint(0, 120)), ""])
        line = f'{ip} - {user} [{ts}] "{request}" {status} {size} "{ref}" "{ua}"'.encode()
        if rng.random() < 0.2:  # raw odd bytes somewhere
            at = rng.randint(0, len(line))
            line = line[:at] + rng.choice(ODD) + line[at:]
        if rng.random() < 0.05:
            line = line[: rng.randint(0, len(line))]  # cut by its writer
        if i % 97 == 0:
            line += b"\r"
        out.append(line)
    return b"\n".join(out) + b"\n"


def test_a_large_mixed_sample_parses_like_the_reference():
    """3,000 generated combined lines (every kind of oddity) give the reference's hits and
    rejects; the sample does exercise hits, rejects, escapes, dirty and long fields."""
    data = _sample(random.Random(20220301), 3000)
    fmt = COMPILED["combined"]
    _same_as_reference(data, fmt)
    r = _parse(data, fmt)
    assert r.hits.height > 1000 and r.rejects.height > 300
    assert r.hits["user_agent"].str.contains('"', literal=True).any()
    assert r.hits["remote_user"].str.contains("\\x", literal=True).any()
    assert (r.hits["uri"].str.len_bytes() > 64).any()


def test_corpus_lines_parse_like_the_reference():
    """Every corpus line, in each of its formats, gives what the reference gives."""
    by_fmt: dict[str, list[bytes]] = {}
    for case in CASES.LINES:
        by_fmt.setdefault(case["fmt"], []).append(case["line"])
    for spec, lines in by_fmt.items():
        _same_as_reference(b"\n".join(lines) + b"\n", compile_format(spec))
