"""The local process pool of ``--jobs N`` and the parent's chunking for it."""

from __future__ import annotations

import multiprocessing
import os
import zlib
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import make_lines, read_hits, read_rejects

from logmetrics import warehouse as wh
from logmetrics.config import Config
from logmetrics.errors import WarehouseLocked
from logmetrics.ingest import _start_pool, ingest
from logmetrics.sources import iter_chunks


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


def _threads() -> int:
    return pl.thread_pool_size()


def test_pool_workers_start_at_once_with_one_polars_thread() -> None:
    """Every worker is spawned up front, with POLARS_MAX_THREADS=1; the parent's env is kept."""
    before = os.environ.get("POLARS_MAX_THREADS")
    pool = _start_pool(2, "combined")
    try:
        assert len(multiprocessing.active_children()) >= 2
        assert os.environ.get("POLARS_MAX_THREADS") == before
        if before is None:
            assert {pool.submit(_threads).result() for _ in range(4)} == {1}
    finally:
        pool.shutdown(wait=True)


def test_jobs_two_with_default_chunks_matches_jobs_one(tmp_path: Path) -> None:
    """The pool's default chunk size and lean chunking store exactly what --jobs 1 stores."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(3000, tag="p")))
    one = ingest([log], warehouse=tmp_path / "one", config=Config())
    two = ingest([log], warehouse=tmp_path / "two", config=Config(), jobs=2)
    assert one.lines_ingested == two.lines_ingested == 3000
    assert read_hits(tmp_path / "one").equals(read_hits(tmp_path / "two"))
    assert read_rejects(tmp_path / "one").height == read_rejects(tmp_path / "two").height


def test_pool_is_shut_down_when_the_lock_is_not_taken(tmp_path: Path) -> None:
    """A pool started before the lock does not outlive a run that could not lock."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(make_lines(50)))
    store = tmp_path / "store"
    with wh.locked(store), pytest.raises(WarehouseLocked):
        ingest([log], warehouse=store, config=Config(), jobs=2, lock_timeout=0.2)
    assert multiprocessing.active_children() == []
