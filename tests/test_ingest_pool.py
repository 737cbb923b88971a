"""The local threads of ``--jobs N`` and the chunking for them."""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import threading
import zlib
from pathlib import Path

import pytest
from ingest_helpers import make_lines, read_hits, read_rejects

from logmetrics.config import Config
from logmetrics.errors import WarehouseLocked
from logmetrics.ingest import ingest
from logmetrics.manifest import locked
from logmetrics.sources import iter_chunks
from logmetrics.storage import open_storage

# the module (the package's ``ingest`` is the function of the same name)
ingest_mod = importlib.import_module("logmetrics.ingest")


def _blocks(data: bytes, block: int) -> list[bytes]:
    return [data[i : i + block] for i in range(0, len(data), block)]


@pytest.mark.parametrize("final", [False, True])
@pytest.mark.parametrize("split_at", [None, 1001])
def test_chunks_without_data_cut_the_same_ranges(final: bool, split_at: int | None) -> None:
    """keep_data=False gives the same chunks, with the CRC of the bytes instead of the bytes."""
    lines = [b"line %04d %s\n" % (i, b"x" * (i % 17)) for i in range(300)]
    data = b"".join(lines) + b"open tail"
    if split_at is not None:  # on a line boundary
        split_at = data.index(b"\n", split_at) + 1
    kw = {"start": 0, "first_line_no": 1, "chunk_bytes": 256, "final": final, "split_at": split_at}
    full = list(iter_chunks(iter(_blocks(data, 37)), **kw))  # type: ignore[arg-type]
    lean = list(iter_chunks(iter(_blocks(data, 37)), keep_data=False, **kw))  # type: ignore[arg-type]
    assert [(c.start, c.end, c.first_line_no, c.lines, c.check, c.open_tail) for c in full] == [
        (c.start, c.end, c.first_line_no, c.lines, c.check, c.open_tail) for c in lean
    ]
    assert all(c.data == b"" and c.crc is not None for c in lean)
    assert [zlib.crc32(c.data) for c in full] == [c.crc for c in lean]
    assert all(c.crc is None for c in full)
    assert b"".join(c.data for c in full) == (data if final else b"".join(lines))


def _ingest_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("logmetrics-ingest")]


def test_jobs_two_parses_chunks_in_two_threads_at_once(tmp_path: Path, monkeypatch) -> None:
    """--jobs 2 runs chunk tasks in two threads of this process, overlapping in time."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(4000, tag="t")))
    barrier = threading.Barrier(2, timeout=30)
    seen: set[str] = set()
    real = ingest_mod.run_chunk

    def spy(task):
        name = threading.current_thread().name
        if name not in seen:  # each thread's first task waits for the other thread's
            seen.add(name)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()  # returns only when two tasks run at the same time
        return real(task)

    monkeypatch.setattr(ingest_mod, "run_chunk", spy)
    summary = ingest([log], warehouse=tmp_path / "s", config=Config(), jobs=2, chunk_bytes=20_000)
    assert summary.lines_ingested == 4000
    assert not barrier.broken
    assert len(seen) == 2 and all(n.startswith("logmetrics-ingest") for n in seen)
    assert multiprocessing.active_children() == []  # no worker processes


def test_jobs_two_with_default_chunks_matches_jobs_one(tmp_path: Path) -> None:
    """The pool's default chunk size and lean chunking store exactly what --jobs 1 stores."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(3000, tag="p")))
    one = ingest([log], warehouse=tmp_path / "one", config=Config())
    two = ingest([log], warehouse=tmp_path / "two", config=Config(), jobs=2)
    assert one.lines_ingested == two.lines_ingested == 3000
    assert read_hits(tmp_path / "one").equals(read_hits(tmp_path / "two"))
    assert read_rejects(tmp_path / "one").height == read_rejects(tmp_path / "two").height


def test_jobs_one_writes_a_chunk_while_it_parses_the_next(tmp_path: Path, monkeypatch) -> None:
    """--jobs 1 parses in the calling thread and writes the parts in one writer thread, so a
    chunk is written while the next one is parsed; it stores what --jobs 2 stores."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(4000, tag="w")))
    barrier = threading.Barrier(2, timeout=20)
    real_parse, real_write = ingest_mod._parse_chunk, ingest_mod._write_chunk
    parsed_in: list[str] = []
    written_in: list[str] = []

    def parse_spy(task):
        parsed_in.append(threading.current_thread().name)
        if len(parsed_in) == 2:  # the second chunk's parse meets the first chunk's write
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return real_parse(task)

    def write_spy(task, parsed):
        written_in.append(threading.current_thread().name)
        if len(written_in) == 1:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return real_write(task, parsed)

    monkeypatch.setattr(ingest_mod, "_parse_chunk", parse_spy)
    monkeypatch.setattr(ingest_mod, "_write_chunk", write_spy)
    one = ingest([log], warehouse=tmp_path / "one", config=Config(), chunk_bytes=20_000)
    assert not barrier.broken
    assert len(parsed_in) == len(written_in) > 2
    assert set(parsed_in) == {threading.main_thread().name}
    assert all(n.startswith("logmetrics-write") for n in written_in)
    monkeypatch.undo()
    two = ingest([log], warehouse=tmp_path / "two", config=Config(), jobs=2, chunk_bytes=20_000)
    assert one.lines_ingested == two.lines_ingested == 4000
    assert read_hits(tmp_path / "one").equals(read_hits(tmp_path / "two"))
    assert [t for t in threading.enumerate() if t.name.startswith("logmetrics-write")] == []


def test_pool_is_shut_down_when_the_lock_is_not_taken(tmp_path: Path) -> None:
    """Threads started before the lock do not outlive a run that could not lock."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(50)))
    store = tmp_path / "store"
    with locked(open_storage(store)), pytest.raises(WarehouseLocked):
        ingest([log], warehouse=store, config=Config(), jobs=2, lock_timeout=0.2)
    assert _ingest_threads() == []


def test_a_dead_worker_of_a_callers_process_pool_is_one_clear_error(tmp_path: Path) -> None:
    """A caller's process pool whose worker was killed gives the 'process died' error."""
    import concurrent.futures as cf
    import os
    import signal

    from logmetrics.errors import LogmetricsError

    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(50)))
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)
        with pytest.raises(LogmetricsError, match="a parsing process died"):
            ingest([log], warehouse=tmp_path / "wh", config=Config(), executor=pool)
