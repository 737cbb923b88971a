"""SIGKILL an ingest at many moments; the re-run must equal an uninterrupted run, row for row.

Each ingest runs in its own process, forked from a launcher subprocess that has already
imported logmetrics (so 12 kills do not pay 12 interpreter start-ups); the test kills that
process with SIGKILL after a delay, then re-runs the ingest in-process and compares.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from ingest_helpers import append, bad_lines, make_lines, read_hits, read_rejects, run_ingest

from logmetrics.manifest import load_manifest
from logmetrics.storage import open_storage

KILLS = 12
CHUNK = 48 << 10  # many small chunks: many commit points to die between

_LAUNCHER = """
import datetime, os, signal, sys
from logmetrics.config import Config
from logmetrics.ingest import ingest
print("ready", flush=True)
for line in sys.stdin:
    store, chunk, rebuild, jobs, *paths = line.rstrip("\\n").split("\\t")
    window = None
    if rebuild:
        a, b = rebuild.split("/")
        window = (datetime.date.fromisoformat(a), datetime.date.fromisoformat(b))
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # never hang the test suite
        try:
            ingest(paths, warehouse=store, config=Config(), chunk_bytes=int(chunk), rebuild=window,
                   commit_interval=0, jobs=int(jobs))  # a commit after every chunk
        finally:
            os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


class Launcher:
    """Forks ingests on request and reports their pid and wait status."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin, self.stdout = proc.stdin, proc.stdout
        assert self.stdout.readline().strip() == "ready"

    def start(self, store: Path, paths: list[str], rebuild: str = "", jobs: int = 1) -> int:
        self.stdin.write("\t".join([str(store), str(CHUNK), rebuild, str(jobs), *paths]) + "\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def status(self) -> int:
        return int(self.stdout.readline())


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    script = tmp_path / "launcher.py"
    script.write_text(_LAUNCHER)
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        yield Launcher(proc)
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)


def _inputs(d: Path) -> list[str]:
    """Three sources: a big plain log, a gzip archive, a log ending in a partial line."""
    d.mkdir()
    step = dt.timedelta(seconds=9)
    big = make_lines(7000, tag="big", step=step)  # 17.5 hours: 2 Lima dates
    for i in range(0, len(big), 997):
        big[i] = bad_lines(1, tag=f"bad{i}")[0]
    append(d / "access.log", big)
    arch = make_lines(3000, tag="gz", step=step)
    (d / "access.log.2.gz").write_bytes(gzip.compress(b"".join(arch), compresslevel=1))
    tail = make_lines(1500, tag="tail", step=step)
    append(d / "other_access.log", tail + [b"partial line without newl"])
    return [str(d / "access.log"), str(d / "access.log.2.gz"), str(d / "other_access.log")]


def _snapshot(store: Path) -> tuple[pl.DataFrame, pl.DataFrame, list[str], dict[str, tuple]]:
    hits = read_hits(store)
    rejects = read_rejects(store).drop("ingested_at")
    parts = sorted(str(p.relative_to(store)) for p in store.rglob("part-*"))
    man = load_manifest(open_storage(store))
    state = {k: (s.offset, s.lines, s.check, s.ranges) for k, s in man.sources.items()}
    return hits, rejects, parts, state


def _same(got: tuple, ref: tuple) -> bool:
    return all(
        a.equals(b) if isinstance(a, pl.DataFrame) else a == b
        for a, b in zip(got, ref, strict=True)
    )


def _kill_after(
    launcher: Launcher,
    store: Path,
    paths: list[str],
    delay: float,
    base: Path | None = None,
    attempts: int = 3,
    **kw: Any,
) -> bool:
    """Start an ingest into ``store`` (a copy of ``base``, or new), SIGKILL it after ``delay`` s.

    If it finished first (the machine got faster), start again with half the delay, up to
    ``attempts`` times, so load changes do not make every kill land after the end. True if it
    was killed.
    """
    for _ in range(attempts):
        shutil.rmtree(store, ignore_errors=True)
        if base is not None:
            shutil.copytree(base, store)
        pid = launcher.start(store, paths, **kw)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        status = launcher.status()
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            return True
        delay /= 2
    return False


def _reference(tmp_path: Path, launcher: Launcher) -> tuple[list[str], float, tuple]:
    """The three sources, the seconds an uninterrupted ingest of them takes, its snapshot."""
    paths = _inputs(tmp_path / "logs")
    t0 = time.monotonic()
    launcher.start(tmp_path / "ref", paths)
    assert launcher.status() == 0
    return paths, time.monotonic() - t0, _snapshot(tmp_path / "ref")


def _grow(logs: Path) -> None:
    """The next night's traffic: 300 more lines at the end of access.log."""
    first = dt.datetime(2022, 3, 11, tzinfo=dt.UTC)
    append(logs / "access.log", make_lines(300, start=7000, tag="big", first=first))


@pytest.mark.slow
def test_sigkill_at_any_moment_then_rerun_equals_uninterrupted(
    tmp_path: Path, launcher: Launcher
) -> None:
    """12 kills spread over the run. Even kills: the re-run's hits, rejects, part files and
    manifest equal the uninterrupted run's: 7000 + 3000 + 1500 lines, of which 8 bad (lines 1,
    998, ... 6980 of access.log) are rejected, and the partial last line is held back. Odd kills:
    access.log grows by 300 lines and the re-run uses larger chunks; its rows equal an
    uninterrupted run over the grown files (11792 hits)."""
    paths, work, ref = _reference(tmp_path, launcher)
    assert (ref[0].height, ref[1].height) == (7000 - 8 + 3000 + 1500, 8)
    shutil.copytree(tmp_path / "logs", tmp_path / "grown")
    _grow(tmp_path / "grown")
    grown = [str(tmp_path / "grown" / Path(p).name) for p in paths]
    run_ingest(grown, tmp_path / "ref-grown", chunk_bytes=CHUNK)
    ref_grown = _snapshot(tmp_path / "ref-grown")[:2]
    assert ref_grown[0].height == 11492 + 300

    killed = 0
    for i in range(KILLS):
        store = tmp_path / f"wh{i}"
        delay = work * (i + 0.5) / KILLS
        if i % 2 == 0:
            killed += _kill_after(launcher, store, paths, delay)
            run_ingest(paths, store, chunk_bytes=CHUNK, commit_interval=0)
            assert _same(_snapshot(store), ref), f"kill {i} after {delay:.2f} s"
        else:
            logs = tmp_path / f"logs{i}"
            shutil.copytree(tmp_path / "logs", logs)
            mine = [str(logs / Path(p).name) for p in paths]
            killed += _kill_after(launcher, store, mine, delay)
            _grow(logs)  # and the re-run cuts other chunks: crash leftovers overlap its parts
            run_ingest(mine, store, chunk_bytes=CHUNK * 3 // 2, commit_interval=0)
            hits, rejects = _snapshot(store)[:2]
            assert hits.equals(ref_grown[0]), f"kill {i} after {delay:.2f} s, then growth"
            assert rejects.drop("file").equals(ref_grown[1].drop("file"))
    assert killed >= KILLS - 2


@pytest.mark.slow
def test_sigkill_with_jobs_two_then_rerun_equals_uninterrupted(
    tmp_path: Path, launcher: Launcher
) -> None:
    """--jobs 2 (chunks parsed and written by two threads at once) killed at 6 moments: the
    re-run's hits, rejects, part files and manifest equal an uninterrupted --jobs 1 run's."""
    paths, work, ref = _reference(tmp_path, launcher)
    killed = 0
    for i in range(6):
        store = tmp_path / f"wh{i}"
        delay = work * (i + 0.5) / 6
        killed += _kill_after(launcher, store, paths, delay, jobs=2)
        run_ingest(paths, store, chunk_bytes=CHUNK, commit_interval=0, jobs=2)
        assert _same(_snapshot(store), ref), f"kill {i} after {delay:.2f} s"
    assert killed >= 4


@pytest.mark.slow
def test_sigkill_during_rebuild_is_all_or_nothing(tmp_path: Path, launcher: Launcher) -> None:
    """A rebuild of Mar 10 (user agents were parsed into a header column) killed at 6 moments:
    readers see the data wholly before or wholly after it, a nightly ingest in between keeps
    that, and re-running the rebuild equals an uninterrupted one (11492 hits throughout)."""
    paths = _inputs(tmp_path / "logs")
    window = "2022-03-10/2022-03-10"
    base = tmp_path / "base"
    ua_as_header = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{X-Ua}i"'
    run_ingest(paths, base, chunk_bytes=CHUNK, log_format=ua_as_header)
    before = _snapshot(base)[:2]
    ref_store = tmp_path / "ref"
    shutil.copytree(base, ref_store)
    t0 = time.monotonic()
    launcher.start(ref_store, paths, rebuild=window)
    assert launcher.status() == 0
    work = time.monotonic() - t0
    ref = _snapshot(ref_store)
    after = ref[:2]
    assert before[0].height == after[0].height == 11492
    assert not before[0].equals(after[0])  # the rebuild changed Mar 10's rows

    def state(store: Path) -> str:
        data = _snapshot(store)[:2]
        return "before" if _same(data, before) else "after" if _same(data, after) else "mixed"

    rebuild = (dt.date(2022, 3, 10), dt.date(2022, 3, 10))
    for i in range(6):
        store = tmp_path / f"wh{i}"
        delay = work * (i + 0.5) / 6
        _kill_after(launcher, store, paths, delay, base=base, attempts=1, rebuild=window)
        seen = state(store)
        assert seen != "mixed", f"kill {i}"
        run_ingest(paths, store, chunk_bytes=CHUNK)  # the nightly run recovers, adds nothing
        assert state(store) == seen, f"kill {i}"
        run_ingest(paths, store, chunk_bytes=CHUNK, rebuild=rebuild)
        assert _same(_snapshot(store), ref), f"kill {i}"
