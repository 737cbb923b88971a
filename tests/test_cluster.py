"""On a Dask cluster, the same command gives the same files (issue 7).

A real ``LocalCluster`` with two worker processes of one thread each: ingest of generated logs
(three servers, three months, many small chunks) and the report through it are compared with
local runs, the store row for row and part for part, the four report files byte for byte; a
worker killed mid-ingest changes nothing. Without a cluster: the day tasks give the same report
inline, on threads, and from a store dated in another zone; an unreachable scheduler is one
line and exit 69, and without ``--scheduler`` Dask is never imported.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import dataclasses
import datetime as dt
import gzip
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from logmetrics import summaries
from logmetrics.api import report_month
from logmetrics.classify import interactions, label_hits
from logmetrics.cli import main
from logmetrics.cluster import Marker, connect, run_in_warehouse
from logmetrics.config import Config
from logmetrics.errors import ClusterError, IngestRefused, WarehouseError
from logmetrics.ingest import IngestSummary, ingest
from logmetrics.manifest import load_manifest
from logmetrics.report import build_report
from logmetrics.report_day import merge_last
from logmetrics.storage import LocalStorage
from logmetrics.warehouse import open_warehouse, scan_hits
from tests.cluster_helpers import local_cluster
from tests.fixture_month import ALLIES, FILES, FIXTURES, MONTH, ROOT
from tests.ingest_helpers import clf_time, read_hits, read_rejects

#: small chunks, so one ingest is dozens of tasks spread over both workers
CHUNK = 24 << 10
EPOCH = "1650000000"  # the reports' date, so stores ingested at different times compare

LIMA = dt.timezone(dt.timedelta(hours=-5))
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; SM-A515F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.58 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:98.0) Gecko/20100101 Firefox/98.0",
)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGES = ("/inicio", "/consultas", "/perfil", "/usuarios?page=2", "/ayuda")
EVENTS = (
    ("GET", "/descargas/padron.xlsx", 200),
    ("GET", "/api/reportes/vigentes", 200),
    ("GET", "/api/reportes/suspendidos", 200),
    ("GET", "/api/reportes/menores-sin-autorizacion", 200),
    ("POST", "/solicitudes", 201),
)


def _allies_users() -> list[str]:
    with ALLIES.open(encoding="utf-8", newline="") as fh:
        return [row["usuario"].strip() for row in csv.DictReader(fh)]


def _line(ts: dt.datetime, ip: str, user: str, method: str, path: str, status: int, ua: str) -> str:
    return (
        f'{ip} - {user} [{clf_time(ts)}] "{method} {path} HTTP/1.1" {status} 1234 '
        f'"https://usuarioaliado.example/inicio" "{ua}"\n'
    )


def _server_log(rng: random.Random, users: list[str], *, tz: dt.timezone, server: int) -> str:
    """Three months of one server: users' visits (login, pages, events, assets), anonymous
    visitors, a crawler, and now and then a line no format matches."""
    t = dt.datetime(2022, 1, 1, 0, 30, tzinfo=LIMA)
    end = dt.datetime(2022, 4, 1, 0, 0, tzinfo=LIMA)
    out: list[str] = []
    while t < end:
        kind = rng.random()
        ua = rng.choice(BROWSERS)
        ip = f"190.{server}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        hits: list[tuple[str, str, int, str, str]] = []  # method, path, status, user, ua
        if kind < 0.12:
            hits = [("GET", p, 200, "-", BOT) for p in rng.sample(PAGES, 3)]
        elif kind < 0.3:
            hits = [("GET", rng.choice(PAGES), 200, "-", ua) for _ in range(rng.randrange(1, 4))]
        else:
            user = rng.choice(users)
            hits = [("GET", "/login", 200, "-", ua), ("POST", "/login", 302, user, ua)]
            for _ in range(rng.randrange(0, 9)):
                if rng.random() < 0.3:
                    method, path, status = rng.choice(EVENTS)
                    hits.append((method, path, status, user, ua))
                else:
                    hits.append(("GET", rng.choice(PAGES), rng.choice((200, 200, 304)), user, ua))
                    hits.append(("GET", "/static/app.js", 200, user, ua))
        for method, path, status, user, agent in hits:
            out.append(_line(t.astimezone(tz), ip, user, method, path, status, agent))
            # mostly short gaps; sometimes more than 30 minutes (a new session)
            t += dt.timedelta(seconds=rng.choice((5, 20, 47, 90, 300, 1799, 1800, 1801, 2400)))
        if rng.random() < 0.01:
            out.append("this line is not an access log line\n")
        t += dt.timedelta(seconds=rng.randrange(600, 6 * 3600))
    return "".join(out)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three servers (one logging in UTC, one rotated into a .gz), January to March 2022."""
    base = tmp_path_factory.mktemp("logs")
    rng = random.Random(20220301)
    users = _allies_users() + ["usuario.desconocido", "  Otro.Desconocido "]
    (base / "web1-access.log").write_text(_server_log(rng, users, tz=LIMA, server=1))
    (base / "web2-access.log").write_text(_server_log(rng, users, tz=dt.UTC, server=2))
    gz = _server_log(rng, users, tz=LIMA, server=3).encode()
    (base / "web3-access.log.1.gz").write_bytes(gzip.compress(gz))
    return base


def _ingest(logs: Path, wh: Path, **kw: Any) -> IngestSummary:
    return ingest([logs], warehouse=wh, config=Config(), chunk_bytes=CHUNK, **kw)


LOCAL_SUMMARY: dict[Path, IngestSummary] = {}


@pytest.fixture(scope="module")
def local_store(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("local") / "W"
    LOCAL_SUMMARY[wh] = _ingest(logs, wh)
    return wh


def _part_files(wh: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(wh)): p.read_bytes()
        for kind in ("hits", "rejects")
        for p in sorted((wh / kind).rglob("*.parquet"))
    }


def _sources(wh: Path) -> dict[str, dict[str, Any]]:
    keep = ("fingerprint", "fp_len", "generation", "offset", "lines", "check", "ranges", "files")
    return {
        sid: {k: getattr(s, k) for k in keep}
        for sid, s in load_manifest(LocalStorage(wh)).sources.items()
    }


def assert_same_store(got: Path, expected: Path, *, leftovers: bool = False) -> None:
    """Same committed sources and ranges, same part names, hits row for row (and byte for byte),
    rejected lines row for row (their ingest time aside). ``leftovers``: a killed worker may
    have left a temp file, invisible to readers (the next ingest deletes it)."""
    assert _sources(got) == _sources(expected)
    mine, theirs = _part_files(got), _part_files(expected)
    assert sorted(mine) == sorted(theirs)
    assert [n for n in mine if n.startswith("hits") and mine[n] != theirs[n]] == []
    assert_frame_equal(read_hits(got), read_hits(expected))
    assert_frame_equal(
        read_rejects(got).drop("ingested_at"), read_rejects(expected).drop("ingested_at")
    )
    assert leftovers or not list(got.rglob(".tmp-*"))
    assert not list((got / ".staging").glob("cluster-*"))


# --- the per-day report path, without a cluster ------------------------------------------------


class _Inline(cf.Executor):
    """The smallest executor: runs each task when submitted (what a cluster does, in order)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        fut: cf.Future[Any] = cf.Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


def _known() -> frozenset[str]:
    return frozenset(u.strip().casefold() for u in _allies_users())


def _forget_summaries(wh: Path) -> None:
    """Delete the day summaries earlier reports kept, so the next one runs its day tasks."""
    shutil.rmtree(wh / "summaries", ignore_errors=True)


def test_report_on_executors_is_the_inline_report(
    local_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day tasks give the same report run inline, on any executor, or on two threads; the
    previous month (February, whole) is in it."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _forget_summaries(local_store)
    inline = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    assert inline.previous_totals is not None and inline.unknown_users
    _forget_summaries(local_store)
    assert (
        build_report(MONTH, warehouse_dir=local_store, allies=ALLIES, executor=_Inline()) == inline
    )
    _forget_summaries(local_store)
    with cf.ThreadPoolExecutor(2) as pool:
        threads = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES, executor=pool)
    assert threads == inline
    kept = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    assert kept == inline  # from the summaries the threads kept


def test_store_dated_in_another_zone_gives_the_same_report(
    logs: Path, local_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose dates are UTC dates, reported in Lima time, gives the report of a store
    dated in Lima: each Lima day is counted from the store dates its hits fall on (only the
    rejected lines, dated in UTC, count by other dates)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    utc = tmp_path / "U"
    ingest([logs], warehouse=utc, config=Config(timezone="UTC"), chunk_bytes=CHUNK)
    lima = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    for _ in range(2):  # the second from the day summaries the first kept
        got = build_report(MONTH, warehouse_dir=utc, allies=ALLIES)
        assert got.coverage.hits == lima.coverage.hits
        got.coverage = dataclasses.replace(
            got.coverage, lines_rejected=lima.coverage.lines_rejected
        )
        assert got == lima
    assert list((utc / "summaries").rglob("*-window.parquet"))


def test_day_summaries_give_the_last_connections(local_store: Path) -> None:
    """Older history summarised one store date per task gives each known user's latest
    interaction of January, as reading January whole does."""
    _forget_summaries(local_store)
    config, known = Config(), sorted(_known())
    wh = open_warehouse(local_store)
    days = summaries.day_summaries(
        None, wh, config=config, manifest=wh.manifest(), end=dt.date(2022, 1, 31),
        full_from=dt.date(2022, 1, 31),
    )  # fmt: skip
    assert days.users.get_column("date").n_unique() > 20
    got = merge_last(
        [days.users.filter(pl.col("user").is_in(known)).select("user", "last_local_ts")]
    )
    hits = scan_hits(local_store, start=dt.date(2022, 1, 1), end=dt.date(2022, 1, 31)).collect()
    expected = (
        interactions(label_hits(hits, config=config).filter(pl.col("user").is_in(known)))
        .group_by("user")
        .agg(pl.col("local_ts").max().alias("last_local_ts"))
    )
    assert expected.height > 0
    assert_frame_equal(got.sort("user"), expected.sort("user"))


# --- a real cluster -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def cluster_store(
    dask_cluster: Any, logs: Path, local_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, IngestSummary]:
    wh = tmp_path_factory.mktemp("cluster") / "W"
    summary = _ingest(logs, wh, scheduler=dask_cluster.scheduler_address)
    return wh, summary


@pytest.mark.cluster
def test_ingest_through_the_cluster_is_the_local_ingest(
    cluster_store: tuple[Path, IngestSummary], local_store: Path
) -> None:
    """Dozens of chunk tasks on two worker processes write the store a local ingest writes:
    same parts (byte for byte), same manifest ranges, same rows."""
    wh, summary = cluster_store
    ranges = sum(len(s["ranges"]) for s in _sources(wh).values())
    assert ranges >= 30 and summary.lines_rejected > 0
    assert_same_store(wh, local_store)
    keys = ("files_new", "lines_ingested", "lines_rejected", "bytes_read", "partitions")
    local = LOCAL_SUMMARY[local_store]
    assert {k: getattr(summary, k) for k in keys} == {k: getattr(local, k) for k in keys}


@pytest.mark.cluster
def test_report_through_the_cluster_is_the_local_report(
    dask_cluster: Any,
    cluster_store: tuple[Path, IngestSummary],
    local_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """March from the cluster-built store, computed one task per day on the cluster, renders
    the same four files, byte for byte, as March from the local store computed locally; the
    previous month (February, whole) and January's last connections are in both."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    wh, _ = cluster_store
    local = report_month(MONTH, warehouse=local_store, allies=ALLIES, out_dir=tmp_path / "local")
    _forget_summaries(wh)
    remote = report_month(
        MONTH,
        warehouse=wh,
        allies=ALLIES,
        out_dir=tmp_path / "cluster",
        scheduler=dask_cluster.scheduler_address,
    )
    assert [p.name for p in local] == [p.name for p in remote] and sorted(
        p.name for p in local
    ) == sorted(FILES)
    for a, b in zip(local, remote, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    report = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    assert report.previous_totals is not None and report.unknown_users


@pytest.mark.cluster
def test_cli_report_on_the_sample_month_with_scheduler(dask_cluster: Any, tmp_path: Path) -> None:
    """`logmetrics report ... --scheduler ADDRESS` on the shipped sample month writes the files
    the same command writes without the option."""
    wh = tmp_path / "W"
    ingest([FIXTURES / "logs"], warehouse=wh, config=Config())
    base = ["report", "--month", MONTH, "--warehouse", str(wh), "--allies", str(ALLIES)]
    local = _cli(*base, "--out", str(tmp_path / "local"))
    _forget_summaries(wh)
    remote = _cli(*base, "--out", str(tmp_path / "cluster"), "--scheduler",
                  dask_cluster.scheduler_address)  # fmt: skip
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    for name in FILES:
        assert (tmp_path / "local" / name).read_bytes() == (
            tmp_path / "cluster" / name
        ).read_bytes()


@pytest.mark.cluster
def test_worker_killed_mid_ingest_changes_nothing(
    dask_cluster: Any, logs: Path, local_store: Path, tmp_path: Path
) -> None:
    """SIGKILL a worker process while it runs chunk tasks: the scheduler re-runs its tasks
    elsewhere, the nanny starts a new worker, and the store is still the local one (a temp file
    of the killed write, invisible to readers, goes at the next ingest)."""
    import distributed

    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        pids: dict[str, int] = client.run(os.getpid)
        killed: list[tuple[str, int, int]] = []

        def progress(done: int, total: int) -> None:
            if killed or done == 0 or done >= total:
                return
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                worker = sorted(busy)[0]
                os.kill(pids[worker], signal.SIGKILL)
                killed.append((worker, pids[worker], len(busy[worker])))

        wh = tmp_path / "W"
        _ingest(logs, wh, scheduler=dask_cluster.scheduler_address, progress=progress)
        assert killed and killed[0][2] >= 1, "no worker was killed while busy"
        assert_same_store(wh, local_store, leftovers=True)
        again = _ingest(logs, wh)  # the next nightly run: nothing new, temp files cleared
        assert again.lines_ingested == 0 and again.files_skipped == 3
        assert_same_store(wh, local_store)
        # the nanny replaced the killed process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = client.run(os.getpid)
            if len(now) == 2 and killed[0][1] not in now.values():
                break
            time.sleep(0.2)
        assert len(now) == 2 and killed[0][1] not in now.values()


@pytest.mark.cluster
def test_refused_file_through_the_cluster_commits_nothing(
    dask_cluster: Any, tmp_path: Path
) -> None:
    """A file in the wrong format is refused as locally (exit 5's error): the client waits for
    the chunk tasks already sent, then deletes their parts; nothing is committed or left."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "other-format.log").write_text("".join(f"not an access log {i}\n" for i in range(4000)))
    wh = tmp_path / "W"
    with pytest.raises(IngestRefused, match="other-format.log"):
        ingest([logs], warehouse=wh, config=Config(), chunk_bytes=4096,
               scheduler=dask_cluster.scheduler_address)  # fmt: skip
    assert not list(wh.rglob("*.parquet")) and not load_manifest(LocalStorage(wh)).sources
    assert not list((wh / ".staging").glob("cluster-*"))


# --- errors and the optional extra (no cluster) --------------------------------------------------


def test_a_worker_that_does_not_see_the_warehouse_refuses_to_run(tmp_path: Path) -> None:
    """The ingest task's guard: no marker where the client wrote it (another disk) -> one-line
    WarehouseError naming the warehouse, and the chunk is not parsed or written."""
    ran: list[int] = []
    marker = Marker(LocalStorage(tmp_path / "W"), ".staging/cluster-0123")
    with pytest.raises(WarehouseError, match="not visible from Dask worker") as err:
        run_in_warehouse(marker, ran.append, 1)
    assert str(tmp_path / "W") in str(err.value) and "\n" not in str(err.value) and not ran
    (tmp_path / "W" / ".staging").mkdir(parents=True)
    (tmp_path / "W" / ".staging" / "cluster-0123").touch()
    run_in_warehouse(marker, ran.append, 1)
    assert ran == [1]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmetrics", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})},
    )  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_is_one_line_and_exit_69(tmp_path: Path) -> None:
    """Nobody listens at the address: ingest and report stop at once with one line naming it
    (exit 69, EX_UNAVAILABLE), and write nothing."""
    address = f"tcp://127.0.0.1:{_closed_port()}"
    wh = tmp_path / "W"
    t0 = time.monotonic()
    ing = _cli("ingest", str(FIXTURES / "logs"), "--warehouse", str(wh), "--scheduler", address)
    assert ing.returncode == 69, ing.stderr
    assert ing.stderr.count("\n") == 1 and address in ing.stderr
    assert "cannot reach the Dask scheduler" in ing.stderr
    assert not list(wh.rglob("*.parquet")) and not (wh / "manifest.json").exists()
    ingest([FIXTURES / "logs"], warehouse=wh, config=Config())
    out = tmp_path / "out"
    rep = _cli("report", "--month", MONTH, "--warehouse", str(wh), "--allies", str(ALLIES),
               "--out", str(out), "--scheduler", address)  # fmt: skip
    assert rep.returncode == 69 and rep.stderr.count("\n") == 1 and address in rep.stderr
    assert not out.exists()
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scheduler", "http://scheduler:8786"], "--scheduler"),
        (["--scheduler", "tcp://host:99999"], "out of range"),
        (["--warehouse", "nosuch://bucket/store"], "protocol is not supported for a warehouse"),
    ],
)
def test_bad_scheduler_or_object_store_warehouse_is_a_config_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needle: str,
) -> None:
    """A malformed scheduler address, or a warehouse URL of a protocol that is not supported
    (never a local directory named "nosuch:"), is exit 2 with one line, for ingest and report
    alike (s3:// warehouses: tests/test_warehouse_s3.py)."""
    monkeypatch.chdir(tmp_path)
    wh = ["--warehouse", str(tmp_path / "W")] if "--warehouse" not in args else []
    for cmd in (
        ["ingest", str(FIXTURES / "logs"), *wh, *args],
        ["report", "--month", MONTH, "--allies", str(ALLIES), "--out", str(tmp_path / "o"),
         *wh, *args],
    ):  # fmt: skip
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "W").exists() and not (tmp_path / "o").exists()
    assert not Path("s3:").exists() and not Path("nosuch:").exists()


@pytest.mark.cluster
def test_a_scheduler_without_workers_is_one_line() -> None:
    """A scheduler nobody works for: the run stops after the connect timeout, saying how to
    start a worker, instead of waiting forever."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=0, processes=False, protocol="tcp", dashboard_address=":0"
        ) as lc,
        pytest.raises(ClusterError, match="no Dask worker joined") as err,
    ):
        connect(lc.scheduler_address, timeout=1)
    assert err.value.exit_code == 69 and "\n" not in str(err.value)


def test_without_scheduler_dask_is_never_imported(tmp_path: Path) -> None:
    """The optional extra stays optional: a whole ingest and report without --scheduler never
    import dask or distributed."""
    code = f"""
import sys
from logmetrics.cli import main
assert main(["ingest", {str(FIXTURES / "logs")!r}, "--warehouse", {str(tmp_path / "W")!r}]) == 0
assert main(["report", "--month", "2022-03", "--warehouse", {str(tmp_path / "W")!r},
             "--allies", {str(ALLIES)!r}, "--out", {str(tmp_path / "O")!r}]) == 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert not loaded, loaded
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "O" / FILES[0]).exists()
    assert pl.read_csv(tmp_path / "O" / FILES[2]).height > 0


def test_a_busy_day_counted_in_groups_of_visitors_gives_the_same_report(
    local_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day whose parts exceed GROUP_BYTES is read part by part and counted in groups of its
    visitors: the report is the one counted a day at a time."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _forget_summaries(local_store)
    whole = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    calls: list[int] = []
    real = summaries.day_summary

    def counting(hits: pl.DataFrame, **kw: Any) -> Any:
        calls.append(hits.height)
        return real(hits, **kw)

    monkeypatch.setattr(summaries, "day_summary", counting)
    monkeypatch.setattr(summaries, "GROUP_BYTES", 4096)
    _forget_summaries(local_store)
    grouped = build_report(MONTH, warehouse_dir=local_store, allies=ALLIES)
    assert len(calls) > 3 * 90  # several groups a day, over January to March
    assert grouped == whole
