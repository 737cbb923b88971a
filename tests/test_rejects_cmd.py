"""`logmetrics rejects` (issue 18 item 2): the rejected lines with file, line number, reason and
raw text; by default those of the latest ingest that rejected any.

Two real ingests of one growing log: the first rejects lines 13 and 15, the second line 18,
whose text holds a NUL byte (the ingest keeps it as ``\\x00``), a tab, NEL and LINE SEPARATOR.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from pathlib import Path

import pytest

from logmetrics.cli import main
from logmetrics.config import Config
from logmetrics.ingest import ingest
from logmetrics.rejects import rejected_lines
from tests.s3_server import moto_s3

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36"
)


def line(when: str, n: int) -> str:
    stamp = dt.datetime.fromisoformat(when).strftime("%d/%b/%Y:%H:%M:%S -0500")
    return f'10.0.0.1 - - [{stamp}] "GET /p/{n} HTTP/1.1" 200 512 "-" "{CHROME}"\n'


#: lines 1-12 good (10 March 08:00-08:11); 13: a non-numeric status (10 March, by its own
#: time); 14 good (10 March 09:00); 15: a formula with an 11 March time; 16 good (11 March).
FIRST = (
    "".join(line(f"2022-03-10 08:{m:02d}:00", m) for m in range(12))
    + line("2022-03-10 08:30:00", 99).replace(" 200 ", " abc ")
    + line("2022-03-10 09:00:00", 100)
    + '=HYPERLINK("http://x","y") [11/Mar/2022:07:00:00 -0500]\n'
    + line("2022-03-11 08:00:00", 101)
)
LINE_13 = line("2022-03-10 08:30:00", 99).replace(" 200 ", " abc ").rstrip("\n")
#: appended: 17 good (11 March 09:00), 18 with control characters and a 12 March time.
SECOND = line("2022-03-11 09:00:00", 102).encode() + (
    "bad\tline\u2028with\x85controls [12/Mar/2022:10:00:00 -0500]".encode() + b"\x00\n"
)
LINE_18 = "bad\tline\\u2028with\\x85controls [12/Mar/2022:10:00:00 -0500]\\x00"


def _next_second() -> None:
    """Ingests are told apart by their start time, to the second."""
    time.sleep(1.01 - time.time() % 1)


def _make(root: Path) -> tuple[Path, Path]:
    """Ingest FIRST, then (a second later) FIRST + SECOND: the warehouse and the log."""
    log = root / "logs" / "access.log"
    log.parent.mkdir(parents=True)
    log.write_text(FIRST, encoding="utf-8")
    wh = root / "wh"
    ingest([log], warehouse=wh, config=Config())
    _next_second()
    with log.open("ab") as fh:
        fh.write(SECOND)
    ingest([log], warehouse=wh, config=Config())
    return wh, log


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _make(tmp_path_factory.mktemp("rejects"))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["rejects", *args])
    captured = capsys.readouterr()
    return code, captured.out.split("\n")[:-1], captured.err


def test_by_default_the_latest_ingests_rejected_lines(
    store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --month or --date: only line 18, the second ingest's, on one output line with its
    control characters written as \\xHH / \\uHHHH."""
    wh, log = store
    code, out, _ = _run(["--warehouse", str(wh)], capsys)
    assert code == 0
    assert out[0].startswith("the ingest of ") and out[0].endswith(": 1 rejected line(s)")
    assert out[1:] == [f"2022-03-12  {log}:18  does not match format  {LINE_18}"]


def test_a_month_in_date_file_and_line_order(
    store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--month 2022-03: the three rejected lines, by date (10, 11, 12 March) and line."""
    wh, log = store
    code, out, _ = _run(["--warehouse", str(wh), "--month", "2022-03"], capsys)
    assert code == 0
    assert out[0] == "2022-03: 3 rejected line(s)"
    assert [r.split("  ")[:2] for r in out[1:]] == [
        ["2022-03-10", f"{log}:13"],
        ["2022-03-11", f"{log}:15"],
        ["2022-03-12", f"{log}:18"],
    ]
    assert out[1].endswith(LINE_13)


def test_a_date_and_a_limit(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """--date picks one date; --limit 1 shows one line and says how many more there are."""
    wh, log = store
    code, out, _ = _run(["--warehouse", str(wh), "--date", "2022-03-11"], capsys)
    assert (code, out[0], len(out)) == (0, "2022-03-11: 1 rejected line(s)", 2)
    code, out, _ = _run(["--warehouse", str(wh), "--month", "2022-03", "--limit", "1"], capsys)
    assert out[-1] == "... 2 more (--limit N shows more, --limit 0 all)" and len(out) == 3


def test_csv_is_data_one_record_per_line_never_a_formula(
    store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--csv: a header row, one line per rejected line, the formula made inert by a quote."""
    wh, log = store
    code, out, _ = _run(["--warehouse", str(wh), "--month", "2022-03", "--csv"], capsys)
    assert code == 0 and len(out) == 4
    rows = list(csv.reader(io.StringIO("\n".join(out))))
    assert rows[0] == ["date", "file", "line_no", "reason", "raw"]
    assert rows[2] == [
        "2022-03-11", str(log), "15", "does not match format",
        "'=HYPERLINK(\"http://x\",\"y\") [11/Mar/2022:07:00:00 -0500]",
    ]  # fmt: skip
    assert rows[3][4] == LINE_18


def test_csv_says_on_stderr_how_many_more(
    store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """With --csv and --limit, stdout stays CSV; the count of the rest goes to stderr."""
    wh, _ = store
    code, out, err = _run(
        ["--warehouse", str(wh), "--month", "2022-03", "--csv", "--limit", "2"], capsys
    )
    assert code == 0 and len(out) == 3
    assert err == "logmetrics: 1 more rejected line(s) (--limit 0: all)\n"


def test_the_last_ingest_rejected_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A third ingest adding only a good line: the heading says it rejected none and shows the
    latest ingest that did."""
    wh, log = _make(tmp_path)
    _next_second()
    with log.open("a", encoding="utf-8") as fh:
        fh.write(line("2022-03-12 11:00:00", 103))
    ingest([log], warehouse=wh, config=Config())
    code, out, _ = _run(["--warehouse", str(wh)], capsys)
    assert out[0].startswith("the last ingest (") and "rejected none; the ingest of " in out[0]
    assert out[1:] == [f"2022-03-12  {log}:18  does not match format  {LINE_18}"]


def test_bad_options_are_one_line_exit_2(
    store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed date or month, or a negative limit: one line, exit 2."""
    wh, _ = store
    for args in (["--date", "2022-13-01"], ["--month", "2022-3x"], ["--limit", "-1"]):
        code, _, err = _run(["--warehouse", str(wh), *args], capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("logmetrics: error: ")


def test_no_rejected_line_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store without rejected lines says so."""
    log = tmp_path / "access.log"
    log.write_text(line("2022-03-10 08:00:00", 1), encoding="utf-8")
    ingest([log], warehouse=tmp_path / "wh", config=Config(), final=True)
    code, out, _ = _run(["--warehouse", str(tmp_path / "wh")], capsys)
    assert (code, out) == (0, ["the warehouse holds no rejected line: 0 rejected line(s)"])


def test_rejects_on_an_object_store(store: tuple[Path, Path]) -> None:
    """The same log ingested into S3 gives the same rejected lines."""
    _, log = store
    with moto_s3("logmetrics-rejects"):
        url = "s3://logmetrics-rejects/w"
        ingest([log], warehouse=url, config=Config())
        found = rejected_lines(url, month="2022-03")
    assert [(r[0].isoformat(), r[2]) for r in found.rows] == [
        ("2022-03-10", 13), ("2022-03-11", 15), ("2022-03-12", 18)
    ]  # fmt: skip
