"""Lines nobody on this project wrote: the shared real-world corpus (../shared/corpus)."""

from __future__ import annotations

import gzip
from datetime import UTC
from pathlib import Path

import polars as pl
import pytest

from logmetrics.formats import compile_format
from logmetrics.parse import parse_chunk

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REAL = CORPUS / "real" / "apache_logs_2015.log"
MATOMO = CORPUS / "matomo"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}"
)

# The formats the corpus README documents for each matomo file.
MATOMO_FORMATS = {
    "common.log": '%h %l %u %t "%r" %>s %b',
    "common_vhost.log": '%v %h %l %u %t "%r" %>s %b',
    "common_complete.log": '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "static_ignores.log": '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "common_encoding_big5.log": '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "ncsa_extended.log": "combined",
    "logs_to_tests.log": "combined",
    "ovh.log": '%h %v %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "gandi.log": '%v %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
}


def parse_file(path: Path, fmt: str):
    return parse_chunk(path.read_bytes(), compile_format(fmt), source="real", file=str(path),
                       first_line_no=1, base_offset=0, tz="UTC")  # fmt: skip


@pytest.fixture(scope="module")
def apache_2015():
    if not REAL.is_file():
        pytest.skip(f"{REAL} not present")
    return parse_file(REAL, "combined")


def test_apache_2015_all_lines_are_hits(apache_2015):
    """The 10,000-line elastic sample gives 10,000 hits and no rejects."""
    assert (apache_2015.lines, apache_2015.hits.height, apache_2015.rejects.height) == (
        10_000,
        10_000,
        0,
    )


def test_apache_2015_status_counts(apache_2015):
    """Status counts match the corpus README (and GoAccess)."""
    counts = dict(apache_2015.hits["status"].value_counts().iter_rows())
    assert counts == {200: 9126, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 416: 2, 403: 2}


def test_apache_2015_bytes_total_matches_goaccess(apache_2015):
    """Summed response bytes equal GoAccess 1.7's 2,747,282,740."""
    assert apache_2015.hits["bytes"].sum() == 2_747_282_740


def test_apache_2015_line_8899_cut_user_agent_is_accepted(apache_2015):
    """Line 8,899 lost its closing quote; like GoAccess we keep it, with the text it has."""
    row = apache_2015.hits.filter(pl.col("line_no") == 8899).row(0, named=True)
    assert row["user_agent"] == (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    )
    assert (row["status"], row["bytes"], row["path"]) == (
        200,
        235,
        "/scripts/grok-py-test/configlib.py",
    )


def test_apache_2015_time_span_and_lima_dates(apache_2015):
    """Timestamps (+0000) span 17 May 10:05:00 to 20 May 21:05:59 UTC (as grep/sort shows)."""
    ts = apache_2015.hits["ts"]
    assert ts.min().astimezone(UTC).isoformat() == "2015-05-17T10:05:00+00:00"
    assert ts.max().astimezone(UTC).isoformat() == "2015-05-20T21:05:59+00:00"
    # Lima is UTC-5: 10:05 UTC on the 17th is 05:05 local; 21:05 on the 20th is 16:05 local
    dates = apache_2015.hits["date"]
    assert (dates.min().isoformat(), dates.max().isoformat()) == ("2015-05-17", "2015-05-20")


@pytest.mark.parametrize("name", sorted(MATOMO_FORMATS))
def test_matomo_file_parses_in_its_documented_format(name):
    """Every matomo test log parses in the format the corpus README gives for it."""
    path = MATOMO / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    r = parse_file(path, MATOMO_FORMATS[name])
    if name == "logs_to_tests.log":
        # 4 hits; the comment line is a reject, and so is the blank line before it (every
        # line is accounted for: the README's "1 rejected line" counts only the comment)
        assert r.hits.height == 4
        assert r.rejects.select("line_no", "reason").rows() == [
            (4, "empty line"),
            (5, "does not match format"),
        ]
        assert r.rejects["raw"][1].startswith("# Request with invalid length")
    else:
        assert r.rejects.height == 0
        assert r.hits.height == r.lines >= 1


def test_matomo_first_line_fields():
    """The common line gives the documented user, 16:42:07 -0500 as 21:42:07 UTC, and a 301."""
    r = parse_file(MATOMO / "common.log", MATOMO_FORMATS["common.log"])
    row = r.hits.row(0, named=True)
    assert (row["remote_addr"], row["remote_user"], row["status"], row["bytes"]) == (
        "1.2.3.4",
        "theuser",
        301,
        368,
    )
    assert row["ts"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") == "2012-02-10 21:42:07"


def test_matomo_gzip_file_once_decompressed():
    """The .gz file (a different line from common.log) parses once decompressed."""
    gz = MATOMO / "common.log.gz"
    if not gz.is_file():
        pytest.skip(f"{gz} not present")
    fmt = compile_format(MATOMO_FORMATS["common.log"])
    r = parse_chunk(gzip.decompress(gz.read_bytes()), fmt, source="real", file=str(gz),
                    first_line_no=1, base_offset=0, tz="UTC")  # fmt: skip
    row = r.hits.row(0, named=True)
    assert (r.lines, r.hits.height) == (1, 1)
    assert (row["remote_addr"], row["remote_user"], row["method"], row["path"]) == (
        "1.2.3.5",
        "admin",
        "POST",
        "/form",
    )
    assert (row["status"], row["bytes"]) == (200, 145)
    assert row["ts"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") == "2012-02-10 23:42:07"


def test_matomo_big5_path_keeps_every_byte():
    """Big5 bytes in the path survive as \\xHH text that maps back to the original bytes."""
    raw = (MATOMO / "common_encoding_big5.log").read_bytes()
    r = parse_file(MATOMO / "common_encoding_big5.log", MATOMO_FORMATS["common_encoding_big5.log"])
    path = r.hits["path"][0]
    original = raw.split(b'"GET ')[1].split(b" ")[0]
    rebuilt = bytearray()
    i = 0
    while i < len(path):
        if path.startswith("\\x", i):
            rebuilt.append(int(path[i + 2 : i + 4], 16))
            i += 4
        else:
            rebuilt += path[i].encode()
            i += 1
    assert bytes(rebuilt) == original


def test_gandi_request_time_in_parentheses():
    """gandi's '(%T s)' field gives request_time in seconds."""
    r = parse_file(MATOMO / "gandi.log", MATOMO_FORMATS["gandi.log"])
    assert r.hits["request_time"].to_list() == [0.0, 0.0]
    assert r.hits["host"].to_list() == ["www.example.com", "www.example.com"]


def test_apache_2015_agrees_with_apache_log_parser(apache_2015):
    """On every 5th line, the fields apache-log-parser gets right agree with ours."""
    apache_log_parser = pytest.importorskip("apache_log_parser")
    parser = apache_log_parser.make_parser(compile_format("combined").format)
    lines = REAL.read_bytes().decode("utf-8").split("\n")
    hits = apache_2015.hits
    checked = 0
    for n in range(1, 10_001, 5):
        line = lines[n - 1]
        if "\\" in line:  # it leaves escapes raw and splits \" wrongly: not comparable
            continue
        theirs = parser(line)
        ours = hits.row(n - 1, named=True)
        assert ours["line_no"] == n
        dash = None if theirs["remote_user"] == "-" else theirs["remote_user"]
        assert (ours["remote_addr"], ours["remote_user"]) == (theirs["remote_host"], dash)
        assert ours["ts"].astimezone(UTC).isoformat() == theirs["time_received_utc_isoformat"]
        assert (ours["method"], ours["uri"]) == (theirs["request_method"], theirs["request_url"])
        assert ours["protocol"] == "HTTP/" + theirs["request_http_ver"]
        assert str(ours["status"]) == theirs["status"]
        their_bytes = theirs["response_bytes_clf"]
        assert ours["bytes"] == (None if their_bytes == "-" else int(their_bytes))
        for col, key in (("referer", "request_header_referer"),
                         ("user_agent", "request_header_user_agent")):  # fmt: skip
            assert ours[col] == (None if theirs[key] == "-" else theirs[key])
        checked += 1
    assert checked > 1900
