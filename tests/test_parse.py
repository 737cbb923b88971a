"""parse_chunk: the hits and rejects a chunk of log bytes gives (corpus in tests/corpus/)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from logmetrics.formats import COMBINED, HITS_HEAD, HITS_TAIL, compile_format
from logmetrics.parse import MAX_RAW, REJECTS_SCHEMA, match_groups, parse_chunk, unescape
from tests.corpus import parse_cases as CASES

WHEN = datetime(2022, 4, 1, 6, 0, tzinfo=UTC)


def parse(data: bytes, fmt: str = "combined", **kw):
    args = {"source": "src1", "file": "access.log", "first_line_no": 1, "base_offset": 0,
            "tz": "America/Lima"}  # fmt: skip
    args.update(kw)
    return parse_chunk(data, compile_format(fmt), ingested_at=WHEN, **args)


def _as_py(column: str, value):
    if column == "ts" and value is not None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if column == "date" and value is not None:
        return value.isoformat()
    return value


@pytest.mark.parametrize("case", [c for c in CASES.LINES if "expect" in c], ids=lambda c: c["id"])
def test_corpus_line_parses_to_expected_fields(case):
    """Each corpus line that should parse gives one hit with exactly the expected values."""
    r = parse(case["line"] + b"\n", case["fmt"])
    assert (r.lines, r.hits.height, r.rejects.height) == (1, 1, 0), r.rejects.to_dicts()
    row = r.hits.row(0, named=True)
    got = {k: _as_py(k, row[k]) for k in case["expect"]}
    assert got == case["expect"]


@pytest.mark.parametrize("case", [c for c in CASES.LINES if "reject" in c], ids=lambda c: c["id"])
def test_corpus_line_is_rejected_with_reason(case):
    """Each corpus line that cannot be a hit is kept as a reject with its short reason."""
    r = parse(case["line"] + b"\n", case["fmt"])
    assert (r.lines, r.hits.height, r.rejects.height) == (1, 0, 1)
    assert r.rejects["reason"].to_list() == [case["reject"]]


@pytest.mark.parametrize("case", CASES.CHUNKS, ids=lambda c: c["id"])
def test_chunk_line_splitting(case):
    """Lines split on LF only (CRLF loses its CR, a lone CR is text); every line is counted."""
    r = parse(case["data"], case["fmt"])
    assert r.lines == case["lines"]
    assert r.hits.height == case["hits"]
    assert r.rejects.select("line_no", "reason").rows() == case["rejects"]
    assert r.hits.height + r.rejects.height == r.lines


def test_hits_schema_is_the_design_schema():
    """The hits frame has exactly docs/design.md's columns and types, in order."""
    r = parse(CASES.BASE)
    assert r.hits.schema == pl.Schema({**HITS_HEAD, **HITS_TAIL})
    assert list(HITS_HEAD)[:3] == ["ts", "remote_addr", "remote_user"]
    assert list(HITS_TAIL) == ["source", "offset", "line_no", "date"]


def test_header_and_cookie_columns_sit_before_the_tail():
    """Format-specific req_/resp_/cookie_ columns come after the fixed head, sorted."""
    r = parse(CASES.BASE + b' "1.1.1.1" "s1"', COMBINED + ' "%{X-Real-IP}i" "%{sid}C"')
    assert r.hits.columns[14:16] == ["cookie_sid", "req_x_real_ip"]
    assert r.hits.row(0, named=True)["req_x_real_ip"] == "1.1.1.1"


def test_rejects_schema_and_bookkeeping():
    """Rejects carry source, file, line number, byte offset, raw text and ingestion time."""
    data = CASES.BASE + b"\nnot a log line\n"
    r = parse(data, source="abc", file="/var/log/a.log", first_line_no=101, base_offset=5000)
    assert r.rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert r.rejects.row(0, named=True) == {
        "source": "abc",
        "file": "/var/log/a.log",
        "line_no": 102,
        "offset": 5000 + len(CASES.BASE) + 1,
        "raw": "not a log line",
        "reason": "does not match format",
        "ingested_at": WHEN,
    }


def test_offsets_and_line_numbers_count_from_the_chunk_start():
    """offset is base_offset plus the line's byte position; line_no counts from first_line_no."""
    line2 = CASES.BASE.replace(b"ana", b"luis")
    data = CASES.BASE + b"\r\n" + line2 + b"\n"
    r = parse(data, first_line_no=41, base_offset=1_000_000, source="f00d")
    assert r.hits.select("line_no", "offset", "remote_user", "source").rows() == [
        (41, 1_000_000, "ana", "f00d"),
        (42, 1_000_000 + len(CASES.BASE) + 2, "luis", "f00d"),
    ]


def test_offsets_are_byte_offsets_of_the_original_bytes():
    """A line after non-UTF-8 bytes still gets the byte offset of the input, not of the text."""
    first = CASES.BASE.replace(b"ana", b"\xe9\xe9\xe9")
    data = first + b"\n" + CASES.BASE + b"\n"
    r = parse(data)
    assert r.hits["offset"].to_list() == [0, len(first) + 1]
    assert r.hits["remote_user"].to_list() == ["\\xE9\\xE9\\xE9", "ana"]


def test_out_of_order_timestamps_keep_input_order():
    """Hits keep file order and their own timestamps even when the clock goes backwards."""
    lines = [CASES.BASE.replace(b"10:15:32", t) for t in (b"10:00:00", b"09:00:00", b"10:30:00")]
    r = parse(b"\n".join(lines))
    assert [t.strftime("%H:%M") for t in r.hits["ts"].to_list()] == ["15:00", "14:00", "15:30"]
    assert r.hits["line_no"].to_list() == [1, 2, 3]


def test_date_follows_the_tz_keyword():
    """date is the local date in ``tz``: 03:00 UTC is still the 10th in Lima, the 11th in Tokyo."""
    line = CASES.BASE.replace(b"10/Mar/2022:10:15:32 -0500", b"11/Mar/2022:03:00:00 +0000")
    assert parse(line).hits["date"].to_list() == [date(2022, 3, 10)]
    assert parse(line, tz="Asia/Tokyo").hits["date"].to_list() == [date(2022, 3, 11)]


def test_dates_follow_daylight_saving_changes():
    """Around New York's changes (14 March and 7 November 2021) each hit's date is its local
    date: 04:30 UTC is the 13th (EST, 23:30) before the change and the 14th after it."""
    times = [b"14/Mar/2021:04:30:00 +0000", b"14/Mar/2021:07:30:00 +0000",
             b"15/Mar/2021:03:30:00 +0000", b"15/Mar/2021:04:30:00 +0000",
             b"07/Nov/2021:03:30:00 +0000", b"07/Nov/2021:04:30:00 +0000",
             b"08/Nov/2021:04:30:00 +0000", b"08/Nov/2021:05:30:00 +0000"]  # fmt: skip
    data = b"\n".join(CASES.BASE.replace(b"10/Mar/2022:10:15:32 -0500", t) for t in times)
    days = [d.day for d in parse(data, tz="America/New_York").hits["date"].to_list()]
    assert days == [13, 14, 14, 15, 6, 7, 7, 8]


@pytest.mark.parametrize(
    ("logged", "utc"),
    [
        ("2021-11-07T01:30:00 EDT", "2021-11-07 05:30:00"),  # the first 01:30 of the day
        ("2021-11-07T01:30:00 EST", "2021-11-07 06:30:00"),  # the second one, an hour later
        ("2021-11-07T01:30:00 GMT", "2021-11-07 01:30:00"),
        ("2021-11-07T01:30:00 -0330", "2021-11-07 05:00:00"),
    ],
)
def test_zone_abbreviation_settles_an_hour_that_occurs_twice(logged, utc):
    """%Z names the instant: EDT and EST pick which of New York's two 01:30 on 7 November
    2021 a hit is; UTC, GMT and numeric names give their own offset."""
    line = f'10.0.0.1 [{logged}] "GET / HTTP/1.1" 200 5'.encode()
    r = parse(line, '%h [%{%FT%T %Z}t] "%r" %>s %b', tz="America/New_York")
    assert r.hits["ts"].dt.strftime("%Y-%m-%d %H:%M:%S").to_list() == [utc]


def test_empty_input_gives_empty_frames_with_schema():
    """No bytes means no lines, and both frames still have their schemas."""
    r = parse(b"")
    assert (r.lines, r.hits.height, r.rejects.height) == (0, 0, 0)
    assert r.hits.columns == list({**HITS_HEAD, **HITS_TAIL})
    assert r.rejects.columns == list(REJECTS_SCHEMA)


def test_single_newline_is_one_empty_line():
    """A chunk that is just a newline holds one empty line, rejected as such."""
    r = parse(b"\n")
    assert (r.lines, r.rejects["reason"].to_list()) == (1, ["empty line"])


def test_long_rejected_line_is_capped_at_8_kib_on_a_character_boundary():
    """Raw text of a huge junk line is cut to 8 KiB without splitting a UTF-8 character."""
    line = ("x" + "é" * 10_000).encode()
    r = parse(line)
    raw = r.rejects["raw"][0]
    assert len(raw.encode()) in (MAX_RAW - 1, MAX_RAW)
    assert raw == ("x" + "é" * 10_000).encode()[: len(raw.encode())].decode()


def test_reject_raw_text_is_readable():
    """Rejected raw text shows invalid bytes, controls and stray CRs as \\xHH."""
    r = parse(b"bad\xff\x01line\rend")
    assert r.rejects["raw"].to_list() == ["bad\\xFF\\x01line\\x0Dend"]


def test_same_character_raw_or_nginx_escaped_gives_the_same_value():
    """A Latin-1 byte logged raw equals the same byte logged by nginx as \\xE9."""
    raw = parse(CASES.BASE.replace(b"/login", b"/caf\xe9"))
    escaped = parse(CASES.BASE.replace(b"/login", b"/caf\\xE9"))
    assert raw.hits["path"].to_list() == escaped.hits["path"].to_list() == ["/caf\\xE9"]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"plain", "plain"),
        (b'a\\"b', 'a"b'),
        (b"a\\\\b", "a\\b"),
        (b"a\\\\x41", "a\\x41"),
        (b"\\x41\\x42", "AB"),
        (b"caf\\xc3\\xa9", "café"),
        (b"caf\\xE9", "caf\\xE9"),
        (b"\\xC3\\xA9\\xE9", "é\\xE9"),
        (b"\\x00\\x1b[31m", "\\x00\\x1B[31m"),
        (b"\\n\\t\\q", "\\n\\t\\q"),
        (b"\\xZZ", "\\xZZ"),
    ],
)
def test_unescape_rules(raw, text):
    """Escapes decode to UTF-8 text; invalid bytes and controls stay visible as \\xHH."""
    assert unescape(raw) == text


def test_many_lines_with_junk_and_blank_lines_at_the_end():
    """A 20,000-line chunk gives every hit in order, then its junk and blank lines rejected."""
    lines = [CASES.BASE.replace(b"ana", f"u{i}".encode()) for i in range(20_000)]
    data = b"\n".join([*lines, b"junk", b"", b""])  # ends "junk\n\n": two more lines
    r = parse(data)
    assert r.hits.height == 20_000
    assert r.hits["remote_user"].to_list() == [f"u{i}" for i in range(20_000)]
    assert r.rejects.select("line_no", "reason").rows() == [
        (20_001, "does not match format"),
        (20_002, "empty line"),
    ]


def test_match_groups_equals_polars_running_the_regex():
    """The numpy walk captures what polars' str.extract_groups(fmt.regex) captures."""
    fmt = compile_format("combined")
    lines = [c["line"] for c in CASES.LINES if c["fmt"] == "combined"]
    data = b"\n".join(line for line in lines if b"\n" not in line and b"\r" not in line)
    mine = match_groups(data, fmt)
    text = pl.Series(data.decode("utf-8", "replace").split("\n"))
    # rows the regex sees unchanged: printable ASCII (others get the \xHH reading first)
    ascii_rows = [
        i
        for i, line in enumerate(data.split(b"\n"))
        if line.isascii() and all(32 <= c < 127 for c in line)
    ]
    ref = (
        text.to_frame("l")
        .select(
            matched=pl.col("l").str.contains(fmt.regex), g=pl.col("l").str.extract_groups(fmt.regex)
        )
        .unnest("g")
    )
    assert mine[ascii_rows].equals(ref[ascii_rows])
    assert mine["matched"].sum() >= 25


def test_escaped_values_are_unescaped_each_time_they_occur():
    """Escaped values are unescaped whether short or long, and a repeated one the same each
    time; the line without escapes next to them is untouched."""
    ua = b'Mozilla/5.0 \\"quoted\\" \\\\ back \\xC3\\xA9 long enough to live outside the view'
    data = b"".join([
        CASES.BASE + b"\n",
        CASES.BASE.replace(b'"https://app.example.pe/"', b'"\\"ab\\""', 1) + b"\n",
        CASES.BASE.rsplit(b' "', 1)[0] + b' "' + ua + b'"\n',
        b"garbage\n",
        CASES.BASE.rsplit(b' "', 1)[0] + b' "' + ua + b'"\n',
    ])  # fmt: skip
    r = parse(data)
    long_ua = 'Mozilla/5.0 "quoted" \\ back é long enough to live outside the view'
    assert r.hits["user_agent"].to_list()[2:] == [long_ua, long_ua]
    assert r.hits["referer"].to_list()[:2] == ["https://app.example.pe/", '"ab"']
    assert r.rejects["raw"].to_list() == ["garbage"]
