"""The storage contract, run against a local directory and an object store (moto's S3 server).

Everything the manifest, the lock, the ingest and the readers rely on, asked of both stores in
the same words: keys listed with their sizes, atomic writes (a failed write leaves the old
content), create-if-absent, deletes, a lock that a second holder waits for and is refused by,
pickling (stores travel to Dask workers), and Parquet files polars reads at ``location``.
Renames exist only where ``can_rename`` says so.
"""

from __future__ import annotations

import io
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from logmetrics.errors import WarehouseLocked
from logmetrics.storage import LocalStorage, ObjectStorage, Storage, open_storage
from tests.s3_server import moto_s3

BUCKET = "logmetrics-storage"
_prefixes = iter(range(10**6))


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with moto_s3(BUCKET) as fs:
        yield fs


@pytest.fixture(params=["local", "object"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """An empty store of each kind."""
    if request.param == "local":
        return open_storage(tmp_path / "W")
    request.getfixturevalue("s3")
    return open_storage(f"s3://{BUCKET}/s{next(_prefixes)}")


def test_open_storage_tells_a_directory_from_a_bucket(tmp_path: Path) -> None:
    """A path or a file:// URL is a directory; s3:// is an object store, named by its URL."""
    assert open_storage(tmp_path) == LocalStorage(tmp_path)
    assert open_storage(f"file://{tmp_path}") == LocalStorage(tmp_path)
    assert open_storage("relative/W").url == "relative/W"
    obj = open_storage("s3://bucket/some/prefix/")
    assert isinstance(obj, ObjectStorage) and obj.url == "s3://bucket/some/prefix"
    assert obj.location("hits/x.parquet") == "s3://bucket/some/prefix/hits/x.parquet"


def test_written_keys_read_back_and_list_with_their_sizes(store: Storage) -> None:
    """What is written reads back; a prefix lists the keys under it (relative to the root)
    with their sizes; absent keys and prefixes are None and empty, not errors."""
    store.write("manifest.json", b"{}\n")
    store.write("hits/date=2022-03-01/a.parquet", b"12345")
    store.write("hits/date=2022-03-02/b.parquet", b"123")
    store.write("rejects/date=2022-03-01/c.parquet", b"1")
    assert store.read("manifest.json") == b"{}\n"
    assert store.read("nothing.json") is None and store.size("nothing.json") is None
    assert store.size("hits/date=2022-03-01/a.parquet") == 5
    assert store.list("hits") == {
        "hits/date=2022-03-01/a.parquet": 5,
        "hits/date=2022-03-02/b.parquet": 3,
    }
    assert store.list("hits/date=2022-03-02/b.parquet") == {"hits/date=2022-03-02/b.parquet": 3}
    assert set(store.list()) == {
        "manifest.json", "hits/date=2022-03-01/a.parquet", "hits/date=2022-03-02/b.parquet",
        "rejects/date=2022-03-01/c.parquet",
    }  # fmt: skip
    assert store.list("staging") == {} and store.list("hit") == {}
    modified = store.modified("manifest.json")
    assert modified is not None and abs(modified - time.time()) < 60
    assert store.modified("nothing.json") is None


def test_a_write_replaces_whole_and_a_failed_one_leaves_the_old_content(store: Storage) -> None:
    """A second write replaces the content; a write that fails half way through (here: the
    writer raises after 3 of its bytes) leaves the previous content and nothing else listed."""
    store.write("manifest.json", b"old")
    store.write("manifest.json", b"newer")
    assert store.read("manifest.json") == b"newer"
    with pytest.raises(RuntimeError), store.writing("manifest.json") as target:
        if isinstance(target, str):
            with open(target, "wb") as fh:
                fh.write(b"hal")
        else:
            target.write(b"hal")
        raise RuntimeError("the writer died")
    assert store.read("manifest.json") == b"newer"
    assert store.list() == {"manifest.json": 5}
    store.tidy()
    assert store.list() == {"manifest.json": 5}


def test_create_writes_only_where_nothing_is(store: Storage) -> None:
    """create() stores the first content and refuses (False) a second, which changes nothing."""
    assert store.create(".lock", b"first")
    assert not store.create(".lock", b"second")
    assert store.read(".lock") == b"first"


def test_delete_removes_keys_and_ignores_absent_ones(store: Storage) -> None:
    """Deleted keys are gone from reads and listings; deleting an absent key is fine."""
    for key in ("hits/date=2022-03-01/a", "hits/date=2022-03-01/b", "hits/date=2022-03-02/c"):
        store.write(key, b"x")
    store.delete(["hits/date=2022-03-01/a", "hits/date=2022-03-02/c", "hits/never"])
    assert store.list("hits") == {"hits/date=2022-03-01/b": 1}
    store.delete([])
    assert store.read("hits/date=2022-03-01/a") is None


def test_copy_makes_a_second_key_with_the_same_bytes(store: Storage) -> None:
    """copy() leaves the source and stores its bytes at the target."""
    store.write("hits/date=2022-03-01/a", b"abc")
    store.copy("hits/date=2022-03-01/a", ".staging/r/hits/date=2022-03-01/a")
    assert store.read(".staging/r/hits/date=2022-03-01/a") == b"abc"
    assert store.read("hits/date=2022-03-01/a") == b"abc"


def test_rename_moves_a_whole_prefix_where_the_store_can(store: Storage) -> None:
    """A store that can rename moves every key under a prefix at once (onto a prefix holding
    nothing); an object store says it cannot (a rebuild asks before it starts)."""
    if not store.can_rename:
        assert isinstance(store, ObjectStorage)
        with pytest.raises(NotImplementedError):
            store.rename("a", "b")
        return
    store.write(".staging/r/hits/date=2022-03-01/a", b"1")
    store.write(".staging/r/hits/date=2022-03-01/b", b"22")
    store.write("hits/date=2022-03-01/old", b"333")
    store.rename("hits/date=2022-03-01", ".staging/r/trash/hits/date=2022-03-01")
    store.rename(".staging/r/hits/date=2022-03-01", "hits/date=2022-03-01")
    assert store.list("hits") == {"hits/date=2022-03-01/a": 1, "hits/date=2022-03-01/b": 2}
    assert store.list(".staging/r/trash") == {".staging/r/trash/hits/date=2022-03-01/old": 3}


def test_the_lock_lets_one_holder_in_and_names_it_to_the_next(store: Storage) -> None:
    """A second holder waits for the timeout and gets WarehouseLocked (exit 75) naming the
    store; once the first lets go, the lock is free again."""
    with store.lock(".lock", timeout=0):
        t0 = time.monotonic()
        with (
            pytest.raises(WarehouseLocked, match=f"{store.url}: another ingest is running") as err,
            store.lock(".lock", timeout=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - t0 < 5 and "\n" not in str(err.value)
    with store.lock(".lock", timeout=0):
        pass


def test_the_lock_waits_for_the_holder_to_let_go(store: Storage) -> None:
    """A second holder gets the lock as soon as the first releases it within the timeout."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.lock(".lock", timeout=0):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    with store.lock(".lock", timeout=10):
        pass
    t.join()


def test_a_store_pickles_as_where_it_is(store: Storage) -> None:
    """A store sent to a worker is the same store there: equal, and it reads the same keys."""
    store.write("manifest.json", b"{}")
    again = pickle.loads(pickle.dumps(store))
    assert again == store and again.read("manifest.json") == b"{}"


def test_polars_reads_a_part_at_its_location(store: Storage) -> None:
    """A Parquet file written through the store is read by polars at ``location`` with the
    store's ``storage_options`` (a path, or a URL with credentials from the environment)."""
    frame = pl.DataFrame({"uri": ["/a", "/b"], "status": [200, 404]})
    with store.writing("hits/date=2022-03-01/p.parquet") as target:
        if isinstance(target, str):
            frame.write_parquet(target)
        else:
            buf = io.BytesIO()
            frame.write_parquet(buf)
            target.write(buf.getvalue())
    got = pl.read_parquet(
        store.location("hits/date=2022-03-01/p.parquet"), storage_options=store.storage_options
    )
    assert got.equals(frame)
    assert store.map(lambda k: store.size(k), ["hits/date=2022-03-01/p.parquet", "nope"]) == [
        store.size("hits/date=2022-03-01/p.parquet"), None
    ]  # fmt: skip


def test_a_local_crash_leaves_only_what_tidy_removes(tmp_path: Path) -> None:
    """A local write killed before its rename leaves a temp file: never listed, and tidy()
    removes it together with the directories it leaves empty (never the root)."""
    store = LocalStorage(tmp_path / "W")
    store.write("hits/date=2022-03-01/a", b"1")
    crashed = tmp_path / "W" / "rejects" / "date=2022-03-01" / ".tmp-b-123-abcd"
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(b"half")
    assert store.list() == {"hits/date=2022-03-01/a": 1}
    store.delete(["hits/date=2022-03-01/a"])
    assert store.tidy() == 1
    assert list((tmp_path / "W").iterdir()) == []


def test_an_object_stores_lock_names_the_stale_object(store: Storage) -> None:
    """Nothing releases an object-store lock whose holder was killed: the refusal names the
    object to delete (a local lock is released by the kernel, so it has no such hint)."""
    store.write(".lock", b"host web9 pid 4242 since 2022-04-01T02:00:00+00:00 token abc\n")
    if isinstance(store, LocalStorage):  # a file nobody flocks: free
        with store.lock(".lock", timeout=0):
            return
    with pytest.raises(WarehouseLocked) as err, store.lock(".lock", timeout=0):
        pass
    text = str(err.value)
    assert "(host web9 pid 4242 since 2022-04-01T02:00:00+00:00)" in text and "token" not in text
    assert f"delete the stale lock {store.location('.lock')}" in text
