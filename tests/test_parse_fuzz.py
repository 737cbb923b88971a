"""Property tests: arbitrary bytes never break parse_chunk, and it agrees with the regex."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logmetrics.formats import PRESETS, Field, Literal, Optional_, compile_format
from logmetrics.parse import match_groups, parse_chunk

FORMATS = [
    *PRESETS,
    '%v %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    '%h %l %u [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] "%m %U%q %H" %>s %b %D',
    "$time_iso8601 $remote_addr \"$request\" $status $request_time '$http_x_forwarded_for'",
    '$msec "$request_uri" $uri?$args $cookie_sid',
    '%h «%u» %t "%r" %U%q',
]
COMPILED = {f: compile_format(f) for f in FORMATS}
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that stress the tokenizer: delimiters, escapes, CR/LF, NUL, non-UTF-8, multi-byte.
NASTY = [b'"', b"\\", b" ", b"[", b"]", b"-", b"?", b"/", b":", b"\r", b"\n", b"\x00", b"\xe9",
         b"\xa4\xa4", b"\xe2\x80\xa8", b"\xc2\x85", b"\x85", b"\t", b"0", b"200", b"a"]  # fmt: skip


def _parse(data: bytes, fmt: str):
    return parse_chunk(data, COMPILED[fmt], source="s", file="f", first_line_no=1,
                       base_offset=0)  # fmt: skip


@st.composite
def chunks(draw):
    """Arbitrary bytes, often built from log-like pieces and real lines."""
    pieces = draw(st.lists(st.one_of(st.sampled_from(NASTY), st.binary(max_size=40)), max_size=60))
    return b"".join(pieces)


@SETTINGS
@given(data=chunks(), fmt=st.sampled_from(FORMATS))
def test_any_bytes_parse_without_error_and_every_line_is_accounted(data, fmt):
    """Whatever the bytes, parse_chunk returns and hits + rejects == lines, each line once."""
    r = _parse(data, fmt)
    expected_lines = data.count(b"\n") + (0 if data == b"" or data.endswith(b"\n") else 1)
    assert r.lines == expected_lines
    assert r.hits.height + r.rejects.height == r.lines
    seen = sorted(r.hits["line_no"].to_list() + r.rejects["line_no"].to_list())
    assert seen == list(range(1, r.lines + 1))
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10]
    by_line = dict(
        zip(
            r.hits["line_no"].to_list() + r.rejects["line_no"].to_list(),
            r.hits["offset"].to_list() + r.rejects["offset"].to_list(),
            strict=True,
        )
    )
    assert all(by_line[n] == starts[n - 1] for n in by_line)
    assert (
        r.rejects["reason"]
        .is_in(["empty line", "does not match format", "bad timestamp", "bad status"])
        .all()
    )


# Field text for rendered lines: printable, multi-byte and the delimiters (no C0 controls, so
# the regex sees the same text the walk does).
FIELD_CHARS = st.sampled_from(
    list('"\\ []-?/:.+0123456789aZé') + ["\u2028", "\x85", "\t", "%", "«"]
)
TIMES = {
    "time_clf": ["10/Mar/2022:10:15:32 -0500", "31/Feb/2022:00:00:00 +0000", "x"],
    "time_iso": ["2022-03-10T10:15:32-05:00", "2022-03-10T15:15:32Z"],
    "time_strftime": ["10/Mar/2022 10:15:32", "+0500"],
    "time_frac": ["250", "7"],
    "time_epoch": ["1646925332.5", "1646925332"],
}


@st.composite
def rendered(draw, fmt):
    """A line written from the format's own elements, sometimes mutated."""

    def value(f: Field) -> str:
        if draw(st.integers(0, 9)) == 0:
            return "-"
        if f.kind in TIMES:
            return draw(st.sampled_from(TIMES[f.kind]))
        if f.kind in ("status", "int"):
            return str(draw(st.integers(0, 10**12)))
        if f.kind == "request":
            return draw(st.sampled_from(["GET / HTTP/1.1", "-", "PRI * HTTP/2.0", "x y z"]))
        text = draw(st.text(FIELD_CHARS, max_size=12))
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
        line = line[:at] + draw(st.text(FIELD_CHARS, max_size=2)) + line[at + cut :]
    return line


@SETTINGS
@given(st.data(), st.sampled_from(FORMATS))
def test_walk_captures_what_the_regex_captures(data, spec):
    """For lines written in the format, the numpy walk and polars' regex capture the same."""
    fmt = COMPILED[spec]
    lines = data.draw(st.lists(rendered(fmt), min_size=1, max_size=8))
    mine = match_groups("\n".join(lines).encode(), fmt)
    ref = (
        pl.Series("l", lines)
        .to_frame()
        .select(
            matched=pl.col("l").str.contains(fmt.regex),
            g=pl.col("l").str.extract_groups(fmt.regex),
        )
        .unnest("g")
    )
    assert mine.equals(ref), (lines, mine.to_dicts(), ref.to_dicts())
