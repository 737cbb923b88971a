"""Retention (issue 18 item 5): ``logmetrics prune --before YYYY-MM`` on real files.

The store is the sample month plus an older log of November 2021 to February 2022
(tests/history_fixture.py). Pruning before March deletes every hit and rejected line before
1 March and keeps each day's summary: the March report (``SOURCE_DATE_EPOCH`` fixed) is the
same, byte for byte, with February's comparison and last connections from pruned days. A
prune killed at any moment leaves a store that reads as before or as after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from benchmarks import genlogs, traffic
from logmetrics.cli import main
from logmetrics.config import Config
from logmetrics.errors import ConfigError, MonthPruned
from logmetrics.ingest import ingest
from logmetrics.manifest import load_manifest
from logmetrics.prune import prune
from logmetrics.render import write_report
from logmetrics.report import build_report
from logmetrics.storage import LocalStorage
from tests.fixture_month import ALLIES, LOGS, MONTH
from tests.history_fixture import MIRAFLORES_LAST, history_store
from tests.ingest_helpers import clf_time, read_hits, read_rejects

EPOCH = "1650000000"
CUTOFF = dt.date(2022, 3, 1)
LIMA = dt.timezone(dt.timedelta(hours=-5))
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) Gecko/20100101 Firefox/98.0"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample month and the older log, ingested (never pruned: tests copy it)."""
    return history_store(tmp_path_factory.mktemp("base"))


@pytest.fixture
def store(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    shutil.copytree(base, tmp_path / "wh")
    return tmp_path / "wh"


def _files(store: Path, out: Path, month: str = MONTH) -> dict[str, bytes]:
    report = build_report(month, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    return {p.name: p.read_bytes() for p in write_report(report, out)}


def _on_disk(store: Path, kind: str) -> list[str]:
    """The date directories of ``kind`` (hits, rejects, summaries) holding a file."""
    return sorted({p.parent.name[len("date=") :] for p in (store / kind).rglob("*.parquet")})


def _pruned_disk(store: Path) -> dict[str, list[str]]:
    """What a pruned store keeps before the cutoff: file names per date directory."""
    out: dict[str, list[str]] = {}
    for kind in ("hits", "rejects", "summaries"):
        for p in sorted((store / kind).rglob("*.parquet")):
            day = p.parent.name[len("date=") :]
            if day < CUTOFF.isoformat():
                out.setdefault(f"{kind}/{day}", []).append(p.name)
    return out


def test_march_is_the_same_before_and_after(store: Path, tmp_path: Path) -> None:
    """Pruned before March, the March report's four files are byte for byte those before:
    February's comparison, Miraflores' last connection (2 February) and Chachapoyas' (28
    February) and the 12-month view come from pruned days. Nothing dated before March is left
    but one summary per pruned day (10 days: November 2, 15, 20, January 5, 10, 12, 20,
    February 2, 3, 28)."""
    before = _files(store, tmp_path / "before")
    report = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    done = prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    assert (done.days, done.summarised) == (10, 0)  # the report kept every day's summary
    assert _files(store, tmp_path / "after") == before
    after = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    last = {r["entidad"]: r["ultima_conexion"] for r in after.matrices[0].rows}
    assert last["Municipalidad Distrital de Miraflores - OMAPED"] == MIRAFLORES_LAST
    chachapoyas = "Municipalidad Provincial de Chachapoyas - OMAPED"
    assert last[chachapoyas] == dt.datetime(2022, 2, 28, 22, 5, 5)
    assert after.previous_totals == report.previous_totals and after.history == report.history
    assert load_manifest(LocalStorage(store)).pruned_before == "2022-03-01"
    assert _on_disk(store, "hits")[0] == "2022-03-01"
    assert _on_disk(store, "rejects")[0] >= "2022-03-01"
    assert read_rejects(store).filter(pl.col("date") < CUTOFF).height == 0
    days = ["2021-11-02", "2021-11-15", "2021-11-20", "2022-01-05", "2022-01-10", "2022-01-12",
            "2022-01-20", "2022-02-02", "2022-02-03", "2022-02-28"]  # fmt: skip
    assert _pruned_disk(store) == {f"summaries/{d}": ["pruned.parquet"] for d in days}


def test_summaries_made_by_the_prune_itself(base: Path, store: Path, tmp_path: Path) -> None:
    """Without a report before, the prune summarises the 10 days from their hits: the March
    report after it is the one an unpruned store gives."""
    done = prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    assert (done.days, done.summarised) == (10, 10)
    unpruned = shutil.copytree(base, tmp_path / "unpruned")
    assert _files(store, tmp_path / "a") == _files(unpruned, tmp_path / "b")


def test_a_pruned_month_cannot_be_reported(store: Path, tmp_path: Path) -> None:
    """February, pruned, is refused with MonthPruned (exit 7, one line) naming the month and
    where the hits begin; March and April still report."""
    prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    with pytest.raises(MonthPruned) as err:
        build_report("2022-02", warehouse_dir=store, allies=ALLIES, allow_partial=True)
    assert (err.value.month, err.value.before) == ("2022-02", CUTOFF)
    assert err.value.exit_code == 7
    out = subprocess.run(
        [sys.executable, "-m", "logmetrics", "report", "--month", "2021-11", "--warehouse",
         str(store), "--allies", str(ALLIES), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (
        out.returncode == 7 and out.stderr.count("\n") == 1 and "2021-11 was pruned" in out.stderr
    )
    assert (
        build_report(
            "2022-04", warehouse_dir=store, allies=ALLIES, allow_partial=True
        ).coverage.hits
        > 0
    )


def test_ingest_after_a_prune_skips_pruned_days(base: Path, store: Path, tmp_path: Path) -> None:
    """The nightly ingest of the same directories skips them (already ingested); a new
    archive with a January and a March line ingests March's and skips January's, counted in
    its summary, and no pruned day gets hits again."""
    prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    expected = _files(store, tmp_path / "a")
    again = ingest([LOGS, base.parent / "older"], warehouse=store, config=Config())
    assert again.lines_ingested == 0 and again.lines_pruned == 0
    late = tmp_path / "late.log"
    lines = [
        (dt.datetime(2022, 1, 25, 9, 0, tzinfo=LIMA), "gramazonas01"),
        (dt.datetime(2022, 3, 25, 9, 0, tzinfo=LIMA), "gramazonas01"),
    ]
    late.write_text(
        "".join(
            f'200.1.2.3 - {user} [{clf_time(ts)}] "POST /login HTTP/1.1" 302 0 "-" "{UA}"\n'
            for ts, user in lines
        ),
        encoding="utf-8",
    )
    summary = ingest([late], warehouse=store, config=Config(), final=True)
    assert (summary.lines_ingested, summary.lines_pruned) == (1, 1)
    assert "1 dated in pruned months skipped" in summary.line()
    assert _on_disk(store, "hits")[0] == "2022-03-01"
    report = build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)
    name = "Gobierno Regional de Amazonas"  # never seen before
    amazonas = next(r for r in report.matrices[0].rows if r["entidad"] == name)
    assert amazonas["ingresos"] == 1
    assert report.history is not None
    row = next(r for r in report.history.tables[0].rows if r.ally["entidad"] == name)
    assert row.values[-3:] == [0, 0, 1]  # January stays as pruned
    assert _files(store, tmp_path / "b").keys() == expected.keys()


def test_prune_again_and_further(store: Path, tmp_path: Path) -> None:
    """The same prune again, or an earlier month, does nothing; a later one prunes March too,
    and the April report (1 April's hits, March compared) is the same as before it."""
    april = _files(store, tmp_path / "a", "2022-04")
    first = prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    assert first.days == 10
    assert prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10)).days == 0
    nothing = prune(warehouse=store, before="2022-01", today=dt.date(2022, 4, 10))
    assert nothing.days == 0 and nothing.line().startswith("prune: nothing before 2022-01")
    more = prune(warehouse=store, before="2022-04", today=dt.date(2022, 4, 10))
    assert more.days == 31  # every day of March has hits
    assert _files(store, tmp_path / "b", "2022-04") == april
    assert _on_disk(store, "hits") == ["2022-04-01"]


def test_only_months_that_are_over(store: Path) -> None:
    """On 10 April, pruning before May is refused (ConfigError, nothing changed); before April
    is allowed."""
    with pytest.raises(ConfigError, match="--before 2022-05: only months that are over"):
        prune(warehouse=store, before="2022-05", today=dt.date(2022, 4, 10))
    assert load_manifest(LocalStorage(store)).pruned_before is None
    assert prune(warehouse=store, before="2022-04", today=dt.date(2022, 4, 10)).days > 0


def test_a_store_dated_in_another_zone_is_refused(tmp_path: Path) -> None:
    """A store ingested with UTC dates, pruned with the Lima configuration, is refused: its
    days are not Lima days. Nothing is deleted or committed."""
    wh = tmp_path / "wh"
    ingest([LOGS], warehouse=wh, config=Config(timezone="UTC"))
    hits = read_hits(wh).height
    with pytest.raises(ConfigError, match="not America/Lima's"):
        prune(warehouse=wh, before="2022-03", today=dt.date(2022, 4, 10))
    assert load_manifest(LocalStorage(wh)).pruned_before is None
    assert read_hits(wh).height == hits


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """February and March 2022 as a real server writes them (benchmarks/genlogs.py, 20,000
    lines each, every hour of every day), rotated as ``access.log.1`` and ``access.log``: two
    whole months, so March's report compares with February. (warehouse, allies table)"""
    root = tmp_path_factory.mktemp("whole")
    for month, name in (("2022-02", "access.log.1"), ("2022-03", "access.log")):
        genlogs.generate(root / name, 20_000, seed=7, month=month)
    allies = root / "aliados.csv"
    traffic.write_allies(allies, seed=7)
    ingest([root / "access.log.1", root / "access.log"], warehouse=root / "wh", config=Config(),
           log_format="nginx", final=True)  # fmt: skip
    return root / "wh", allies


def _whole_copy(whole: tuple[Path, Path], tmp_path: Path) -> Path:
    return shutil.copytree(whole[0], tmp_path / "wh")


def test_the_comparison_with_a_pruned_whole_month_stays(
    whole: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With February whole, March's report compares with it; pruned before March, February's
    coverage (what makes it comparable) and totals come from what the prune kept, and the
    four report files are the same, byte for byte."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    store, allies = _whole_copy(whole, tmp_path), whole[1]
    report = build_report(MONTH, warehouse_dir=store, allies=allies)
    assert report.previous_totals is not None and report.previous_totals.sessions > 0
    before = {p.name: p.read_bytes() for p in write_report(report, tmp_path / "before")}
    prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
    assert _on_disk(store, "hits")[0] == "2022-03-01"
    after = build_report(MONTH, warehouse_dir=store, allies=allies)
    assert after.previous_totals == report.previous_totals
    assert {p.name: p.read_bytes() for p in write_report(after, tmp_path / "after")} == before


def test_pruned_months_keep_the_interpretation_they_had(
    whole: tuple[Path, Path], tmp_path: Path
) -> None:
    """Pruned with a 10-minute session timeout, February keeps it: the March report with the
    defaults compares with February's sessions counted with 10 minutes, while March's own are
    counted with 30."""
    store, allies = _whole_copy(whole, tmp_path), whole[1]
    short = Config(session_timeout_minutes=10)
    unpruned = build_report(MONTH, warehouse_dir=store, allies=allies, config=short)
    default = build_report(MONTH, warehouse_dir=store, allies=allies)
    assert unpruned.previous_totals is not None and default.previous_totals is not None
    prune(warehouse=store, before="2022-03", config=short, today=dt.date(2022, 4, 10))
    got = build_report(MONTH, warehouse_dir=store, allies=allies)
    assert got.previous_totals == unpruned.previous_totals != default.previous_totals
    assert got.totals == default.totals


def test_cli_prune(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``logmetrics prune --before 2022-03`` prints one line; with ``--json``, its counts; a
    month that is not a month is exit 2."""
    assert main(["prune", "--before", "2022-02", "--warehouse", str(store)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("prune: 7 day(s) before 2022-02 pruned") and line.count("\n") == 1
    assert main(["prune", "--before", "2022-03", "--warehouse", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["before"], data["days"]) == ("2022-03", 3)
    assert main(["prune", "--before", "marzo", "--warehouse", str(store)]) == 2


# --- SIGKILL at any moment ------------------------------------------------------------------------

KILLS = 6
#: Where a prune kills itself: after K copies of a day summary to ``pruned.parquet``, just
#: before writing the manifest (the commit), after K file deletions once committed.
KILL_POINTS = ("copy:0", "copy:30", "commit", "delete:0", "delete:25", "delete:100")

_LAUNCHER = """
import datetime, importlib, os, signal, sys, traceback
from logmetrics.storage import LocalStorage

pr = importlib.import_module("logmetrics.prune")  # the module: the package's prune is the function


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point):
    what, _, n = point.partition(":")
    done = [0]

    def counted():
        if done[0] == int(n):
            die()
        done[0] += 1

    if what == "commit":
        pr.save_manifest = lambda *a, **k: die()
    elif what == "copy":
        copy = LocalStorage.copy
        def copying(self, src, dst):
            counted()
            return copy(self, src, dst)
        LocalStorage.copy = copying
    elif what == "delete":
        delete, finish = LocalStorage.delete, pr.finish_prune
        def deleting(self, keys):
            for key in list(keys):
                counted()
                delete(self, [key])
        def finishing(storage, manifest):
            LocalStorage.delete = deleting
            return finish(storage, manifest)
        pr.finish_prune = finishing


print("ready", flush=True)
for line in sys.stdin:
    store, point = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # never hang the test suite
        try:
            if point:
                arm(point)
            pr.prune(warehouse=store, before="2022-03", today=datetime.date(2022, 4, 10))
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Forks prunes on request (logmetrics imported once) and reports pid and wait status."""
    script = tmp_path / "launcher.py"
    script.write_text(_LAUNCHER)
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)


def _run(
    launcher: subprocess.Popen[str], store: Path, *, delay: float | None = None, point: str = ""
) -> bool:
    """Prune ``store`` in a forked process, SIGKILLed after ``delay`` s or by itself at
    ``point`` (neither: it ends). True if it was killed."""
    assert launcher.stdin is not None and launcher.stdout is not None
    launcher.stdin.write(f"{store}\t{point}\n")
    launcher.stdin.flush()
    pid = int(launcher.stdout.readline())
    if delay is not None:
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    status = int(launcher.stdout.readline())
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or os.waitstatus_to_exitcode(status) == 0, f"prune failed: {status}"
    return killed


def _days_store(d: Path) -> Path:
    """January to March 2022, a login and three page views by 12 allies' accounts every day,
    plus the older log and the sample month: a prune before March summarises 59 + 10 days."""
    users = ["grcusco01", "grarequipa01", "grlalibertad01", "grpiura01", "grucayali01",
             "mml.omaped02", "mpcusco01", "mptrujillo01", "mdsjl01", "mdves01", "hloayza01",
             "inr01"]  # fmt: skip
    lines = []
    day = dt.datetime(2022, 1, 1, 8, 0, tzinfo=LIMA)
    while day.date() < dt.date(2022, 3, 1):
        for i, user in enumerate(users):
            t = day + dt.timedelta(minutes=7 * i)
            for k, (method, path, status) in enumerate(
                [
                    ("POST", "/login", 302),
                    ("GET", "/inicio", 200),
                    ("GET", "/reportes", 200),
                    ("GET", "/beneficiarios", 200),
                ]  # fmt: skip
            ):
                ts = t + dt.timedelta(seconds=40 * k)
                lines.append(
                    f'10.9.{i}.{day.day} - {user} [{clf_time(ts)}] "{method} {path} HTTP/1.1" '
                    f'{status} 100 "-" "{UA}"\n'
                )
        day += dt.timedelta(days=1)
    (d / "logs").mkdir(parents=True)
    (d / "logs" / "daily.log").write_text("".join(lines), encoding="utf-8")
    return history_store(d, d / "logs")


@dataclasses.dataclass
class _State:
    march: dict[str, bytes]
    pruned: str | None
    early_hits: int


def _state(store: Path, out: Path) -> _State:
    """What a reader sees: the March report, the prune record, the hits before March."""
    shutil.rmtree(out, ignore_errors=True)
    return _State(
        march=_files(store, out),
        pruned=load_manifest(LocalStorage(store)).pruned_before,
        early_hits=read_hits(store).filter(pl.col("date") < CUTOFF).height,
    )


@pytest.mark.slow
def test_sigkill_at_any_moment_reads_as_before_or_after(
    tmp_path: Path, launcher: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune killed at 6 moments spread over its run and at 6 chosen points (while copying
    the summaries, just before the commit, while deleting): each store reads wholly as before
    (no prune record, every hit before March) or as after (the record, none of them), with the
    same March report. Run again (before) or followed by the nightly ingest (after), it leaves
    exactly what an uninterrupted prune leaves. Kills before the commit read as before, after
    it as after."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    base = _days_store(tmp_path / "base")
    before = _state(base, tmp_path / "o")
    assert before.pruned is None and before.early_hits > 12 * 4 * 59
    shutil.rmtree(base / "summaries")  # the prune summarises every day itself: more to kill
    reference = tmp_path / "ref"
    shutil.copytree(base, reference)
    t0 = time.monotonic()
    assert not _run(launcher, reference)
    work = time.monotonic() - t0
    after = _state(reference, tmp_path / "o")
    assert (after.pruned, after.early_hits, after.march) == ("2022-03-01", 0, before.march)
    runs = [{"delay": work * (i + 0.5) / KILLS} for i in range(KILLS)]
    runs += [{"point": point} for point in KILL_POINTS]
    for i, run in enumerate(runs):
        store = tmp_path / f"wh{i}"
        shutil.copytree(base, store)
        killed = _run(launcher, store, **run)  # type: ignore[arg-type]
        got = _state(store, tmp_path / "o")
        assert got.march == before.march, run
        if got.pruned is None:
            assert got.early_hits == before.early_hits, run
        else:
            assert (got.pruned, got.early_hits) == (after.pruned, 0), run
        if "point" in run:
            assert killed, run
            assert (got.pruned is None) == (not run["point"].startswith("delete")), run
        if got.pruned is not None:  # the nightly ingest's recovery finishes the deletions
            ingest([base.parent / "logs"], warehouse=store, config=Config())
        else:
            prune(warehouse=store, before="2022-03", today=dt.date(2022, 4, 10))
        assert _pruned_disk(store) == _pruned_disk(reference), run
        assert _state(store, tmp_path / "o") == after, run
        assert not list(store.rglob(".tmp-*")), run
