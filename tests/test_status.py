"""`logmetrics status` (issue 18 item 1): what the store holds, and an exit code for "did last
night's ingest run?".

The store is a real ingest of the log below, whose every line is worked out by hand: per store
date the lines (hits and rejected), the interaction hits (page views and events of people) and
the rejected lines; the same on an object store (moto).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

import logmetrics.ingest_run
from logmetrics.cli import main
from logmetrics.config import Config
from logmetrics.errors import StaleIngestError
from logmetrics.ingest import ingest
from logmetrics.status import check_age, store_status
from tests.s3_server import moto_s3

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36"
)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def line(when: str, user: str, method: str, path: str, status: int, ua: str = CHROME) -> str:
    stamp = dt.datetime.fromisoformat(when).strftime("%d/%b/%Y:%H:%M:%S -0500")
    return f'10.0.0.1 - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "{ua}"\n'


#: 10 March: a login (event) and a page view of ana's, an asset, a Googlebot page view, and a
#: line with a non-numeric status (rejected, dated by its own time): 5 lines, 2 interaction
#: hits, 1 rejected. 11 March: beto's page view, his 404 (not an interaction), and a garbage
#: line (rejected, dated by the line before it): 3 lines, 1 interaction hit, 1 rejected.
LOG = (
    line("2022-03-10 09:00:00", "ana", "POST", "/login", 302)
    + line("2022-03-10 09:00:05", "ana", "GET", "/inicio", 200)
    + line("2022-03-10 09:00:06", "ana", "GET", "/static/app.css", 200)
    + line("2022-03-10 09:05:00", "-", "GET", "/inicio", 200, ua=BOT)
    + line("2022-03-10 10:00:00", "-", "GET", "/inicio", 200).replace(" 200 ", " abc ")
    + line("2022-03-11 10:00:00", "beto", "GET", "/inicio", 200)
    + line("2022-03-11 10:10:00", "beto", "GET", "/perfil", 404)
    + "this is not an access log line\n"
)
DAYS = {dt.date(2022, 3, 10): (5, 2, 1), dt.date(2022, 3, 11): (3, 1, 1)}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "access.log"
    path.parent.mkdir()
    path.write_text(LOG, encoding="utf-8")
    return path


def _ingest(logs: Path, warehouse: str | Path) -> None:
    ingest([logs], warehouse=warehouse, config=Config(), final=True)


def _store_bytes(root: Path) -> tuple[int, int]:
    files = [Path(d) / f for d, _, names in os.walk(root) for f in names]
    return sum(f.stat().st_size for f in files), len(files)


def _days(days: list[dict]) -> dict[dt.date, tuple[int, int, int]]:
    return {
        dt.date.fromisoformat(d["day"]): (d["lines"], d["interaction_hits"], d["rejected"])
        for d in days
    }


def test_status_json_says_what_the_store_holds(
    logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: the source with its path, bytes read and lines, the last ingest's summary, the
    31 store dates up to the last one with a line (10 and 11 March as worked out, the others
    empty), and the store's size in bytes and files."""
    wh = tmp_path / "wh"
    _ingest(logs, wh)
    assert main(["status", "--warehouse", str(wh), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    [source] = status["sources"]
    assert (source["path"], source["bytes_read"], source["lines"]) == (str(logs), len(LOG), 8)
    assert source["last_line"] == "2022-03-11T10:10:00"
    summary = status["last_summary"]
    assert (summary["files_new"], summary["lines_ingested"], summary["lines_rejected"]) == (1, 6, 2)
    days = _days(status["days"])
    assert list(days)[0] == dt.date(2022, 2, 9) and list(days)[-1] == dt.date(2022, 3, 11)
    assert len(days) == 31
    assert {d: v for d, v in days.items() if v != (0, 0, 0)} == DAYS
    assert (status["size_bytes"], status["files"]) == _store_bytes(wh)
    assert status["timezone"] == "America/Lima" and status["age_hours"] < 1


def test_status_text_for_a_human(
    logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text names the store, the last ingest's counts, the source, and one row per date."""
    wh = tmp_path / "wh"
    _ingest(logs, wh)
    assert main(["status", "--warehouse", str(wh)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"warehouse {wh}: ")
    assert re.fullmatch(
        r"last ingest: \S+ \S+ America/Lima \(0\.\d hours ago\): 1 file\(s\) \(1 new, 0 resumed, "
        r"0 skipped, 0 waiting\); 6 lines ingested, 2 rejected; 0\.0 MB read",
        out[1],
    )
    assert out[2] == "sources: 1 in 1 log family(ies)"
    assert out[4].split()[-3:] == [f"{len(LOG):,}", "8", str(logs)]
    assert "lines per day, 2022-02-09..2022-03-11 (store dates, America/Lima):" in out
    rows = {r.split()[0]: r.split()[1:] for r in out if r.startswith("  2022-")}
    assert rows["2022-03-10"] == ["5", "2", "1"] and rows["2022-03-11"] == ["3", "1", "1"]
    assert rows["2022-02-09"] == ["0", "0", "0"] and len(rows) == 31


def test_max_age_exits_11_when_the_last_ingest_is_older(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ingest that ended on 12 March 02:30 Lima: 24 hours later --max-age 24 passes and 23.5
    fails with the age; on today's clock --max-age 24 is one line and exit 11."""
    monkeypatch.setattr(logmetrics.ingest_run, "now_iso", lambda: "2022-03-12T07:30:00+00:00")
    wh = tmp_path / "wh"
    _ingest(logs, wh)
    later = store_status(wh, now=dt.datetime(2022, 3, 13, 7, 30, tzinfo=dt.UTC))
    assert later.last_ingest == dt.datetime(2022, 3, 12, 2, 30)
    check_age(later, max_age_hours=24)
    with pytest.raises(StaleIngestError) as err:
        check_age(later, max_age_hours=23.5)
    assert (err.value.age_hours, err.value.max_age_hours) == (24.0, 23.5)
    assert main(["status", "--warehouse", str(wh), "--max-age", "24"]) == 11
    captured = capsys.readouterr()
    assert captured.out.startswith(f"warehouse {wh}")  # the status is shown before the verdict
    assert re.fullmatch(
        r"logmetrics: error: last ingest 2022-03-12 02:30:00 \(America/Lima\), [\d.]+ hours ago: "
        r"older than --max-age 24\n",
        captured.err,
    )


def test_max_age_passes_after_a_fresh_ingest(logs: Path, tmp_path: Path) -> None:
    """Right after an ingest, --max-age 1 exits 0."""
    wh = tmp_path / "wh"
    _ingest(logs, wh)
    assert main(["status", "--warehouse", str(wh), "--max-age", "1"]) == 0


def test_a_store_from_before_the_ingest_record(
    logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest without the last ingest's record: its last commit is the last ingest, and the
    text says no summary was recorded."""
    wh = tmp_path / "wh"
    _ingest(logs, wh)
    manifest = json.loads((wh / "manifest.json").read_text(encoding="utf-8"))
    del manifest["last_ingest"]
    (wh / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    status = store_status(wh)
    committed = dt.datetime.fromisoformat(manifest["updated_at"]).astimezone(Config().tz)
    assert status.last_ingest == committed.replace(tzinfo=None) and status.last_summary is None
    assert main(["status", "--warehouse", str(wh)]) == 0
    assert "(no summary recorded)" in capsys.readouterr().out.splitlines()[1]


def test_status_of_a_missing_store_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No manifest there: one line, exit 3."""
    assert main(["status", "--warehouse", str(tmp_path / "none")]) == 3
    assert capsys.readouterr().err.count("\n") == 1


def test_status_on_an_object_store(logs: Path) -> None:
    """The same log ingested into S3: the same days and source, the size of its objects."""
    with moto_s3("logmetrics-status") as fs:
        url = "s3://logmetrics-status/w"
        _ingest(logs, url)
        status = store_status(url)
        sizes = fs.find("logmetrics-status/w", detail=True)
    days = _days(status.as_dict()["days"])
    assert {d: v for d, v in days.items() if v != (0, 0, 0)} == DAYS
    assert [(s.path, s.bytes_read) for s in status.sources] == [(str(logs), len(LOG))]
    assert status.size_bytes == sum(int(v["size"]) for v in sizes.values())
    assert status.files == len(sizes)
