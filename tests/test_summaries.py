"""Day summaries kept in the warehouse: used only while current, never stale, rebuildable.

The store is the sample month (fixtures/). A report keeps one summary per store date; the
next one reads them instead of the hits and writes the same files. An ingest, a rebuild or a
change of the settings that interpret hits makes a day's summary be made again; deleting or
damaging summaries only costs time; a warehouse the report cannot write to still reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from logmetrics import summaries
from logmetrics.config import Config, EventRule, MailSettings
from logmetrics.ingest import ingest
from logmetrics.model import MonthReport
from logmetrics.render import write_report
from logmetrics.report import build_report
from logmetrics.storage import LocalStorage
from logmetrics.summaries import DayTask, from_frame, settings_key, summarize_day, to_frame
from logmetrics.warehouse import Warehouse, open_warehouse
from tests.fixture_month import ALLIES, LOGS, MONTH
from tests.ingest_helpers import clf_time

EPOCH = "1650000000"
LIMA = dt.timezone(dt.timedelta(hours=-5))
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) Gecko/20100101 Firefox/98.0"
#: the sample month's log format with the user agent read from a header it does not have
NO_AGENT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{X-Ua}i"'


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    ingest([LOGS], warehouse=tmp_path / "wh", config=Config())
    return tmp_path / "wh"


def _kept(store: Path) -> dict[str, list[str]]:
    """The summary files, per date directory."""
    out: dict[str, list[str]] = {}
    for p in sorted((store / "summaries").rglob("*.parquet")):
        out.setdefault(p.parent.name[len("date=") :], []).append(p.name)
    return out


def _files(report: MonthReport, out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in write_report(report, out)}


@pytest.fixture
def no_day_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dt.date]]:
    """Records the days summarised from their hits."""
    made: list[dt.date] = []
    real = summaries.summarize_day

    def counting(task: DayTask) -> Any:
        made.append(task.day)
        return real(task)

    monkeypatch.setattr(summaries, "summarize_day", counting)
    yield made


def test_a_second_report_reads_the_summaries(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first report keeps one summary per store date up to the month's end (28 February
    to 31 March: 32 dates); the second reads no hit at all and writes the same four files,
    byte for byte."""
    first = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "a"
    )
    kept = _kept(store)
    assert sorted(kept) == ["2022-02-28"] + [f"2022-03-{d:02d}" for d in range(1, 32)]
    assert all(len(names) == 1 and names[0].endswith("-plain.parquet") for names in kept.values())

    def no_hits(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a hit was read")

    monkeypatch.setattr(Warehouse, "read", no_hits)
    second = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "b"
    )
    assert second == first


def test_an_ingest_makes_its_days_summaries_stale(store: Path, no_day_tasks: list) -> None:
    """A login of Miraflores (never seen in the sample) on 10 March, ingested after a report,
    is in the next one: only 10 March is summarised again, and its old summary is replaced."""
    before = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    old = _kept(store)["2022-03-10"]
    late = store.parent / "late.log"
    when = dt.datetime(2022, 3, 10, 16, 0, tzinfo=LIMA)
    late.write_text(
        f'201.240.8.8 - mdmiraflores01 [{clf_time(when)}] "POST /login HTTP/1.1" 302 0 "-" '
        f'"{UA}"\n',
        encoding="utf-8",
    )
    ingest([late], warehouse=store, config=Config(), final=True)
    no_day_tasks.clear()
    after = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    assert no_day_tasks == [dt.date(2022, 3, 10)]
    new = _kept(store)["2022-03-10"]
    assert len(new) == 1 and new != old
    row = next(r for r in after.matrices[0].rows if r["entidad"].endswith("Miraflores - OMAPED"))
    assert row["ingresos"] == 1 and row["ultima_conexion"] == dt.datetime(2022, 3, 10, 16, 0)
    assert after.totals.events["ingresos"] == before.totals.events["ingresos"] + 1


def test_a_settings_change_is_never_stale(store: Path, tmp_path: Path, no_day_tasks: list) -> None:
    """A 10-minute session timeout gives the report a fresh store computes with it (its own
    summaries, kept beside the default's); back to the defaults, no day is summarised again."""
    default = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    short = Config(session_timeout_minutes=10)
    got = build_report(MONTH, warehouse_dir=store, allies=ALLIES, config=short, allow_partial=True)
    fresh = tmp_path / "fresh"
    ingest([LOGS], warehouse=fresh, config=Config())
    expected = build_report(
        MONTH, warehouse_dir=fresh, allies=ALLIES, config=short, allow_partial=True
    )
    assert got.totals.sessions == expected.totals.sessions > default.totals.sessions
    assert got.matrices == expected.matrices
    assert all(len(names) == 2 for names in _kept(store).values())
    no_day_tasks.clear()
    assert build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True) == default
    assert no_day_tasks == []


def test_a_rebuild_makes_its_days_summaries_stale(tmp_path: Path) -> None:
    """Ingested with the user agent read from a missing header, every hit is a bot (no user
    agent): 10 March has no session. Rebuilt with the right format, its parts keep their names
    but its summary is gone, and the next report counts 10 March's sessions as a fresh store
    does."""
    wh = tmp_path / "wh"
    ingest([LOGS], warehouse=wh, config=Config(), log_format=NO_AGENT)
    day = dt.date(2022, 3, 10)
    before = build_report(MONTH, warehouse_dir=wh, allies=ALLIES, allow_partial=True)
    assert before.daily[9].day == day and before.daily[9].sessions == 0
    names = sorted(p.name for p in (wh / "hits" / "date=2022-03-10").iterdir())
    ingest([LOGS], warehouse=wh, config=Config(), log_format="combined", rebuild=(day, day))
    assert sorted(p.name for p in (wh / "hits" / "date=2022-03-10").iterdir()) == names
    kept = _kept(wh)
    assert "2022-03-10" not in kept and "2022-03-09" in kept  # the swap dropped its summary
    after = build_report(MONTH, warehouse_dir=wh, allies=ALLIES, allow_partial=True)
    fresh = tmp_path / "fresh"
    ingest([LOGS], warehouse=fresh, config=Config())
    expected = build_report(MONTH, warehouse_dir=fresh, allies=ALLIES, allow_partial=True)
    assert after.daily[9] == expected.daily[9] and after.daily[9].sessions > 0
    assert after.daily[8].sessions == 0  # 9 March was not rebuilt


def test_deleted_or_damaged_summaries_are_made_again(store: Path, tmp_path: Path) -> None:
    """Deleting ``summaries/`` or cutting a summary file short only costs time: the report
    writes the same files, and the damaged summary is made again."""
    first = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "a"
    )
    damaged = next((store / "summaries" / "date=2022-03-15").iterdir())
    damaged.write_bytes(damaged.read_bytes()[:100])
    second = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "b"
    )
    assert second == first
    assert pl.read_parquet(damaged).height > 0
    shutil.rmtree(store / "summaries")
    third = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "c"
    )
    assert third == first and len(_kept(store)) == 32


def test_a_warehouse_the_report_cannot_write_still_reports(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where nothing can be written (a read-only mount), the report is the same and nothing
    is kept."""
    expected = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "a"
    )
    shutil.rmtree(store / "summaries")
    real = LocalStorage.writing

    def read_only(self: LocalStorage, key: str) -> Any:
        if key.startswith("summaries/"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, key)

    monkeypatch.setattr(LocalStorage, "writing", read_only)
    got = _files(
        build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True), tmp_path / "b"
    )
    assert got == expected and not (store / "summaries").exists()


def test_a_summary_reads_back_as_it_was_kept(store: Path) -> None:
    """A day's summary written and read back is the same summary, every frame row for row."""
    wh = open_warehouse(store)
    day = dt.date(2022, 3, 10)
    parts = tuple(wh.parts(start=day, end=day))
    summary = summarize_day(DayTask(day, wh, parts, Config()))
    assert summary.users.height and summary.anonymous.len() and summary.pages.height
    frame = to_frame(summary).with_columns(pl.lit(day).alias("date"))
    back = from_frame(frame, day=day, config=Config())
    for f in dataclasses.fields(summary):
        a, b = getattr(summary, f.name), getattr(back, f.name)
        assert a.equals(b) if isinstance(a, pl.DataFrame | pl.Series) else a == b, f.name


def test_the_settings_key_follows_interpretation_only() -> None:
    """The time zone, session timeout, user field, bot and page rules and events change the
    settings key; matrices, titles, mail and the ingest's log format do not."""
    base = Config()
    key = settings_key(base)
    interpretation = [
        {"timezone": "UTC"},
        {"session_timeout_minutes": 10.0},
        {"bot_extra_patterns": ("monitor",)},
        {"empty_user_agent_is_bot": False},
        {"page_statuses": (200,)},
        {"static_prefixes": ("/assets/",)},
        {"events": (EventRule("ingresos", "Ingresos", "POST", (302,), path="/entrar"),)},
    ]
    for change in interpretation:
        assert settings_key(dataclasses.replace(base, **change)) != key, change
    presentation = [
        {"programme": "Otro programa"},
        {"application": "OTRA"},
        {"log_format": "nginx"},
        {"matrices": base.matrices[:1]},
        {"mail": MailSettings(host="smtp.example", sender="a@b.pe")},
    ]
    for change in presentation:
        assert settings_key(dataclasses.replace(base, **change)) == key, change
