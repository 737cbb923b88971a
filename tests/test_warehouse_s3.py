"""A warehouse in an object store (issue 7): ``--warehouse s3://bucket/prefix``.

Against a real S3 protocol server (moto in server mode, on a free port, with s3fs and polars
pointed at it through ``AWS_ENDPOINT_URL``): the shipped sample month ingested into S3 (inline,
with ``--jobs 2``, and through a Dask ``LocalCluster`` of two worker processes) holds the same
parts and renders the same four report files, byte for byte, as a local directory; a re-ingest
adds nothing; the lock object makes a second ingest exit 75 with one line naming it; a part
left by an ingest that never committed is not read; a rebuild is refused; and without s3fs the
URL is one line saying what to install.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from logmetrics import layout, parts
from logmetrics import warehouse as wh
from logmetrics.api import report_month
from logmetrics.cli import main
from logmetrics.cluster import Marker, run_in_warehouse
from logmetrics.config import Config
from logmetrics.errors import WarehouseError
from logmetrics.ingest import IngestSummary, ingest
from logmetrics.manifest import load_manifest
from logmetrics.storage import open_storage
from tests.cluster_helpers import local_cluster
from tests.fixture_month import ALLIES, FILES, LOGS, MONTH
from tests.ingest_helpers import read_hits, read_rejects
from tests.s3_server import moto_s3

# the module (the package's own ``logmetrics.ingest`` is the function it re-exports)
ingest_mod = importlib.import_module("logmetrics.ingest")

EPOCH = "1650000000"  # the reports' date, so stores ingested at different times compare
BUCKET = "logmetrics-test"
#: small chunks: the sample month becomes dozens of parts (and of cluster tasks)
CHUNK = 48 << 10


# --- the S3 server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """A moto S3 server on a free port, with a bucket; the environment points s3fs at it."""
    with moto_s3(BUCKET) as fs:
        yield fs


_prefixes = iter(range(10**6))


@pytest.fixture
def url(s3: Any) -> str:
    """A fresh, empty warehouse URL in the test bucket."""
    return f"s3://{BUCKET}/w{next(_prefixes)}"


def _objects(fs: Any, url: str) -> dict[str, bytes]:
    """Every part object under a warehouse URL: relative name -> bytes."""
    base = url.split("://", 1)[1]
    keys = [k for kind in ("hits", "rejects") for k in fs.find(f"{base}/{kind}")]
    return {k[len(base) + 1 :]: data for k, data in fs.cat(keys).items()} if keys else {}


def _local_parts(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for kind in ("hits", "rejects")
        for p in sorted((root / kind).rglob("*.parquet"))
    }


def _sources(where: str | Path) -> dict[str, dict[str, Any]]:
    keep = ("fingerprint", "fp_len", "generation", "offset", "lines", "check", "ranges")
    return {
        sid: {k: getattr(s, k) for k in keep} for sid, s in load_manifest(open_storage(where)).sources.items()
    }


def assert_same_store(fs: Any, url: str, local: Path) -> None:
    """Same committed sources and ranges, same part names, hits parts byte for byte, rejected
    lines row for row (their ingest time aside)."""
    assert _sources(url) == _sources(local)
    mine, theirs = _objects(fs, url), _local_parts(local)
    assert sorted(mine) == sorted(theirs)
    assert [n for n in mine if n.startswith("hits") and mine[n] != theirs[n]] == []
    assert_frame_equal(read_hits(url), read_hits(local))  # type: ignore[arg-type]
    assert_frame_equal(
        read_rejects(url).drop("ingested_at"),  # type: ignore[arg-type]
        read_rejects(local).drop("ingested_at"),
    )
    assert not fs.find(f"{url.split('://', 1)[1]}/.staging")


def _ingest(where: str | Path, **kw: Any) -> IngestSummary:
    return ingest([LOGS], warehouse=where, config=Config(), chunk_bytes=CHUNK, **kw)


def _report(where: str | Path, out: Path, **kw: Any) -> dict[str, bytes]:
    paths = report_month(MONTH, warehouse=where, allies=ALLIES, out_dir=out, **kw)
    assert sorted(p.name for p in paths) == sorted(FILES)
    return {p.name: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary, dict[str, bytes]]:
    """The sample month ingested into a local directory, and its report files."""
    base = tmp_path_factory.mktemp("local")
    summary = _ingest(base / "W")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        files = _report(base / "W", base / "out")
    return base / "W", summary, files


@pytest.fixture(scope="module")
def s3_store(s3: Any) -> tuple[str, IngestSummary]:
    """The sample month ingested into S3 (inline, as ``local``); tests that change it restore it."""
    url = f"s3://{BUCKET}/shared"
    return url, _ingest(url)


# --- same results as a local directory ------------------------------------------------------------


def test_ingest_and_report_on_s3_are_the_local_ones(
    s3: Any,
    s3_store: tuple[str, IngestSummary],
    local: tuple[Path, IngestSummary, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ingest into s3:// writes the parts and manifest a local ingest writes (and no lock is
    left), and the report read from S3 is the local report, byte for byte."""
    url, summary = s3_store
    root, local_summary, local_files = local
    keys = ("files_new", "lines_ingested", "lines_rejected", "bytes_read", "partitions")
    assert {k: getattr(summary, k) for k in keys} == {k: getattr(local_summary, k) for k in keys}
    assert_same_store(s3, url, root)
    assert not s3.exists(f"{url.split('://', 1)[1]}/.lock")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert _report(url, tmp_path / "out") == local_files


def test_ingest_with_jobs_on_s3_is_the_local_one(
    s3: Any, url: str, local: tuple[Path, IngestSummary, dict[str, bytes]]
) -> None:
    """With --jobs 2 the pool's processes write the parts straight into S3: same store."""
    summary = _ingest(url, jobs=2)
    assert summary.lines_ingested == local[1].lines_ingested
    assert_same_store(s3, url, local[0])


def test_cli_reingest_adds_nothing_and_report_reads_s3(
    s3: Any,
    s3_store: tuple[str, IngestSummary],
    local: tuple[Path, IngestSummary, dict[str, bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command line takes the URL as --warehouse: a second ingest of the same files adds
    nothing and leaves every object and the manifest's sources as they were; the report
    command writes the local report's files."""
    url, _ = s3_store
    before = _objects(s3, url)
    manifest = load_manifest(open_storage(url)).sources
    assert main(["ingest", str(LOGS), "--warehouse", url, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["lines_ingested"] == 0 and again["lines_rejected"] == 0
    assert again["files_skipped"] == 5 and again["files_new"] == 0
    assert _objects(s3, url) == before and load_manifest(open_storage(url)).sources == manifest
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "out"
    argv = ["report", "--month", MONTH, "--warehouse", url, "--allies", str(ALLIES),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert {n: (out / n).read_bytes() for n in FILES} == local[2]


# --- lock, uncommitted parts, rebuild -------------------------------------------------------------


def test_a_held_lock_object_is_exit_75_and_one_line(
    s3: Any,
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the lock object exists, a second ingest waits, then exits 75 with one line naming
    the holder and the lock object to delete if it is stale; it writes nothing. Once the lock
    is deleted, ingest runs, and removes its own lock when done."""
    lock = f"{url.split('://', 1)[1]}/.lock"
    s3.pipe_file(lock, b"host web9 pid 4242 since 2022-04-01T02:00:00+00:00 token abc\n")
    # the CLI waits 10 s for the lock; a fraction of a second shows the same
    monkeypatch.setattr(
        ingest_mod, "ingest", functools.partial(ingest_mod.ingest, lock_timeout=0.3)
    )
    assert main(["ingest", str(LOGS), "--warehouse", url]) == 75
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "another ingest is running (host web9 pid 4242 since 2022-04-01T02:00:00+00:00)" in err
    assert f"delete the stale lock {url}/.lock" in err and "token" not in err
    assert _objects(s3, url) == {} and not s3.exists(f"{url.split('://', 1)[1]}/manifest.json")
    s3.rm_file(lock)
    assert main(["ingest", str(LOGS), "--warehouse", url]) == 0
    assert not s3.exists(lock) and _objects(s3, url)


def test_a_part_an_ingest_never_committed_is_not_read(
    s3: Any,
    s3_store: tuple[str, IngestSummary],
    local: tuple[Path, IngestSummary, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk task wrote its part (a new source, March hits) but its ingest died before the
    manifest commit: readers and the report ignore the object, and the next ingest deletes it."""
    url, _ = s3_store
    hits = read_hits(url)  # type: ignore[arg-type]
    stray = hits.filter(pl.col("date") == dt.date(2022, 3, 15)).with_columns(
        pl.lit("00ff00ff00ff00ff").alias("source")
    )
    n, _, dates = parts.write_chunk_parts(
        url, source="00ff00ff00ff00ff", start=0, end=4096,
        hits=stray, rejects=stray.clear().select("date"),
    )  # fmt: skip
    assert n > 0 and dates == ["2022-03-15"]
    key = (
        f"{url.split('://', 1)[1]}/hits/date=2022-03-15/{layout.part_name('00ff00ff00ff00ff', 0, 4096)}"
    )
    assert s3.exists(key)
    assert_frame_equal(read_hits(url), hits)  # type: ignore[arg-type]
    start, end = dt.date(2022, 3, 1), dt.date(2022, 3, 31)
    stats = wh.ingest_stats(url, start=start, end=end)
    expected = wh.ingest_stats(local[0], start=start, end=end)
    assert {**stats, "last_ingest": None} == {**expected, "last_ingest": None}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert _report(url, tmp_path / "out") == local[2]
    again = _ingest(url)
    assert again.lines_ingested == 0 and not s3.exists(key)
    assert _sources(url) == _sources(local[0])


def test_rebuild_on_s3_is_refused(
    s3: Any, s3_store: tuple[str, IngestSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    """--rebuild needs renames to swap partitions: on an object store it is refused with one
    line (exit 2) before anything is read, locked or written."""
    url, _ = s3_store
    before = _objects(s3, url)
    code = main(["ingest", str(LOGS), "--warehouse", url, "--rebuild", "2022-03-01:2022-03-31"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not supported on an object-store" in err
    assert _objects(s3, url) == before and not s3.exists(f"{url.split('://', 1)[1]}/.lock")


def test_report_of_an_empty_prefix_is_one_line(
    s3: Any, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL where nothing was ingested: the report says so in one line (exit 3)."""
    argv = ["report", "--month", MONTH, "--warehouse", url, "--allies", str(ALLIES),
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'logmetrics ingest' first" in err and url in err


def test_a_worker_that_does_not_reach_the_store_refuses_to_run(s3: Any, url: str) -> None:
    """The ingest task's guard on an object store: no marker object where the client wrote it
    (another endpoint) -> one-line WarehouseError naming the warehouse; nothing runs."""
    ran: list[int] = []
    marker = Marker(open_storage(url), ".staging/cluster-0123")
    with pytest.raises(WarehouseError, match="every worker must reach the same object store"):
        run_in_warehouse(marker, ran.append, 1)
    assert not ran
    s3.pipe_file(f"{url.split('://', 1)[1]}/.staging/cluster-0123", b"client 1\n")
    run_in_warehouse(marker, ran.append, 1)
    assert ran == [1]


# --- without s3fs ----------------------------------------------------------------------------------


def test_without_s3fs_an_s3_url_is_one_line_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs not installed: ingest and report of an s3:// warehouse stop with one line saying
    what to install (exit 2), no traceback, nothing written."""
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs -> ImportError
    monkeypatch.chdir(tmp_path)
    for argv in (
        ["ingest", str(LOGS), "--warehouse", "s3://bucket/store"],
        ["report", "--month", MONTH, "--warehouse", "s3://bucket/store", "--allies", str(ALLIES),
         "--out", str(tmp_path / "o")],
    ):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "pip install 'logmetrics[s3]'" in err and "s3://bucket/store" in err
        assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# --- a real cluster -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_cluster(s3: Any) -> Iterator[Any]:
    """Two worker processes, started once the environment points at the S3 server."""
    with local_cluster() as cluster:
        yield cluster


@pytest.mark.cluster
def test_ingest_and_report_through_the_cluster_on_s3(
    s3: Any,
    s3_cluster: Any,
    url: str,
    local: tuple[Path, IngestSummary, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunk tasks on two worker processes write their parts straight into S3, the client
    commits the manifest: the store is the local one; the per-day report tasks read S3 and the
    four files are the local report's, byte for byte; the marker object is gone."""
    summary = _ingest(url, scheduler=s3_cluster.scheduler_address)
    assert sum(len(s["ranges"]) for s in _sources(url).values()) >= 10
    assert summary.lines_ingested == local[1].lines_ingested
    assert_same_store(s3, url, local[0])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    files = _report(url, tmp_path / "out", scheduler=s3_cluster.scheduler_address)
    assert files == local[2]


def test_listed_objects_are_read_only_when_they_are_the_listed_objects(
    s3_store: tuple[str, IngestSummary],
) -> None:
    """A report task on an object store reads the listed objects; one of another size or a
    missing one is one WarehouseError naming it (another endpoint, or a changed store)."""
    store = wh.open_warehouse(s3_store[0])
    part = store.parts(wh.HITS)[0]
    assert store.read([part], ["offset"]).height > 0
    with pytest.raises(WarehouseError, match="not the object the client listed"):
        store.read([dataclasses.replace(part, size=part.size + 1)], ["offset"])
    gone = dataclasses.replace(part, location=part.location.replace("part-", "gone-"))
    with pytest.raises(WarehouseError, match=r"gone-.*\.parquet: not found from"):
        store.read([gone], ["offset"])
