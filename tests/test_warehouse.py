"""Warehouse layout, manifest, lock, recovery and readers (warehouse, manifest, recovery)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pickle
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from logmetrics import layout, parts
from logmetrics import warehouse as wh
from logmetrics.errors import InputError, WarehouseError, WarehouseLocked
from logmetrics.manifest import Manifest, SourceState, load_manifest, locked, save_manifest
from logmetrics.recovery import new_staging, recover
from logmetrics.storage import LocalStorage

D1, D2, D3 = dt.date(2022, 3, 1), dt.date(2022, 3, 2), dt.date(2022, 3, 3)
UTC = dt.UTC


def _hits(source: str, rows: list[tuple[dt.date, int]], **extra: list[str]) -> pl.DataFrame:
    """Minimal hits rows (date, offset) plus optional extra header columns."""
    n = len(rows)
    return pl.DataFrame(
        {
            "ts": [dt.datetime(d.year, d.month, d.day, 17, tzinfo=UTC) for d, _ in rows],
            "uri": [f"/{source}/{o}" for _, o in rows],
            "status": pl.Series([200] * n, dtype=pl.Int16),
            "source": [source] * n,
            "offset": [o for _, o in rows],
            "line_no": [i + 1 for i in range(n)],
            "date": [d for d, _ in rows],
            **extra,
        }
    )


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={**wh.REJECTS_SCHEMA, "date": pl.Date()})


def _commit(
    root: Path, source: str, start: int, end: int, hits: pl.DataFrame,
    rejects: pl.DataFrame | None = None,
) -> None:
    """Write a chunk's parts and record its range in the manifest, as ingest does."""
    rejects = _no_rejects() if rejects is None else rejects
    parts.write_chunk_parts(root, source=source, start=start, end=end, hits=hits, rejects=rejects)
    man = load_manifest(LocalStorage(root))
    st = man.sources.setdefault(source, SourceState(id=source, fingerprint="f", fp_len=1024))
    st.ranges.append([start, end, hits.height, rejects.height])
    st.offset = end
    st.path = f"/logs/{source}.log"
    save_manifest(LocalStorage(root), man)


def test_part_names_are_deterministic() -> None:
    """A (source, range) always maps to the same part name, which parses back."""
    name = layout.part_name("ab12", 0, 4096)
    assert name == "part-ab12-0000000000000-0000000004096.parquet"
    assert layout.parse_part_name(name) == ("ab12", 0, 4096)
    assert layout.parse_part_name(".tmp-" + name) is None


def test_scan_prunes_dates_and_fills_missing_columns(tmp_path: Path) -> None:
    """Only partitions in [start, end] are read; header columns a part lacks come back null."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5)]))
    _commit(tmp_path, "bb", 0, 10, _hits("bb", [(D2, 0), (D3, 4)], req_x_user=["u1", "u2"]))
    got = wh.scan_hits(tmp_path, start=D2, end=D2).collect().sort("source")
    assert got.get_column("uri").to_list() == ["/aa/5", "/bb/0"]
    assert got.get_column("req_x_user").to_list() == [None, "u1"]
    assert got.get_column("date").to_list() == [D2, D2]
    cols = wh.scan_hits(tmp_path, start=D1, end=D3, columns=["uri", "cookie_sid", "date"])
    frame = cols.collect()
    assert frame.columns == ["uri", "cookie_sid", "date"]
    assert frame.height == 4 and frame.get_column("cookie_sid").null_count() == 4
    known = wh.scan_hits(tmp_path, start=D1, end=D3, columns=["source", "uri", "date"]).collect()
    assert sorted(known.iter_rows()) == [
        ("aa", "/aa/0", D1), ("aa", "/aa/5", D2), ("bb", "/bb/0", D2), ("bb", "/bb/4", D3)
    ]  # fmt: skip
    empty = wh.scan_hits(tmp_path, start=dt.date(2030, 1, 1), end=dt.date(2030, 1, 2)).collect()
    assert empty.height == 0 and "ts" in empty.columns
    with pytest.raises(WarehouseError, match="unknown warehouse column 'nope'"):
        wh.scan_hits(tmp_path, start=D1, end=D1, columns=["nope"])


def test_uncommitted_parts_are_invisible_and_recovered(tmp_path: Path) -> None:
    """Parts the manifest does not list are never read, and recover() deletes them."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0)]))
    # a crashed run: a part beyond the committed range, and a temp file
    parts.write_chunk_parts(
        tmp_path, source="aa", start=10, end=20, hits=_hits("aa", [(D1, 10)]), rejects=_no_rejects()
    )
    stray = tmp_path / "hits" / "date=2022-03-01" / ".tmp-part-x"
    stray.write_bytes(b"half")
    assert wh.scan_hits(tmp_path, start=D1, end=D1).collect().height == 1
    recover(LocalStorage(tmp_path))
    names = sorted(os.listdir(tmp_path / "hits" / "date=2022-03-01"))
    assert names == [layout.part_name("aa", 0, 10)]


def test_manifest_roundtrip_and_corruption(tmp_path: Path) -> None:
    """The manifest reads back what was saved; a corrupt one is a WarehouseError naming it."""
    store = LocalStorage(tmp_path)
    man = Manifest()
    man.sources["aa"] = SourceState(id="aa", fingerprint="f", fp_len=1024, offset=7)
    save_manifest(store, man)
    assert load_manifest(store).sources["aa"].offset == 7
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(WarehouseError, match="manifest.json: corrupt manifest"):
        load_manifest(store)


def test_lock_refuses_after_timeout(tmp_path: Path) -> None:
    """A second holder waits for the timeout, then gets WarehouseLocked naming the holder."""
    with locked(LocalStorage(tmp_path)):
        t0 = time.monotonic()
        with (
            pytest.raises(WarehouseLocked, match=f"pid {os.getpid()}"),
            locked(LocalStorage(tmp_path), timeout=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - t0 < 2
    assert WarehouseLocked.exit_code == 75


def test_lock_waits_for_release(tmp_path: Path) -> None:
    """A second holder gets the lock as soon as the first releases it within the timeout."""
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locked(LocalStorage(tmp_path)):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    with locked(LocalStorage(tmp_path), timeout=5):
        pass
    t.join()


def test_pending_swap_is_read_and_rolled_forward(tmp_path: Path) -> None:
    """After the commit point, readers see staged partitions; recover() finishes the swap."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5)]))
    store = LocalStorage(tmp_path)
    staging = new_staging(store)
    parts.write_chunk_parts(
        tmp_path,
        source="aa",
        start=0,
        end=12,
        hits=_hits("aa", [(D2, 6), (D2, 8)]),
        rejects=_no_rejects(),
        staging=staging,
        window=(D2, D2),
        outside=False,
    )
    man = load_manifest(store)
    man.sources["aa"].ranges.append([0, 12, 2, 0])
    man.pending_swap = {"staging": staging, "hits": ["2022-03-02"], "rejects": []}
    save_manifest(store, man)  # commit point reached, then a "crash"
    seen = wh.scan_hits(tmp_path, start=D1, end=D3).collect().sort("offset")
    assert seen.get_column("uri").to_list() == ["/aa/0", "/aa/6", "/aa/8"]
    recover(store)
    assert load_manifest(store).pending_swap is None
    assert not (tmp_path / staging).exists()
    again = wh.scan_hits(tmp_path, start=D1, end=D3).collect().sort("offset")
    assert again.get_column("uri").to_list() == ["/aa/0", "/aa/6", "/aa/8"]


def test_ingest_stats_counts_from_metadata(tmp_path: Path) -> None:
    """Stats count the range's hits and rejects and name the sources' last paths."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5), (D2, 7)]))
    _commit(tmp_path, "bb", 0, 10, _hits("bb", [(D3, 0)]))
    stats = wh.ingest_stats(tmp_path, start=D2, end=D3)
    assert stats["lines_ingested"] == 3
    assert stats["lines_rejected"] == 0
    assert stats["files"] == ["/logs/aa.log", "/logs/bb.log"]
    assert stats["dates"] == ["2022-03-02", "2022-03-03"]


def test_ingest_stats_counts_each_source_over_all_its_parts(tmp_path: Path) -> None:
    """Per-source hits add up every part in the range, parts with other header columns too,
    and rejects count by their date."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5), (D2, 7)]))
    _commit(tmp_path, "aa", 10, 20, _hits("aa", [(D2, 12), (D3, 15)], req_x_user=["u1", "u2"]))
    _commit(tmp_path, "bb", 0, 10, _hits("bb", [(D3, 0)]))
    rejects = pl.DataFrame(
        {"source": ["bb"] * 3, "file": ["b.log"] * 3, "line_no": [2, 3, 4], "offset": [4, 6, 8],
         "raw": ["x", "y", "z"], "reason": ["no_match"] * 3, "ingested_at": [None] * 3,
         "date": [D1, D3, D3]},
        schema={**wh.REJECTS_SCHEMA, "date": pl.Date()},
    )  # fmt: skip
    _commit(tmp_path, "bb", 10, 20, _hits("bb", []), rejects)
    stats = wh.ingest_stats(tmp_path, start=D2, end=D3)
    # aa: offsets 5, 7 (D2) + 12 (D2) + 15 (D3); bb: offset 0 (D3); rejects on D3: 2
    assert [(s["source"], s["hits"]) for s in stats["sources"]] == [("aa", 4), ("bb", 1)]
    assert (stats["lines_ingested"], stats["lines_rejected"]) == (5, 2)


def test_readers_need_a_warehouse(tmp_path: Path) -> None:
    """Reading where nothing was ever committed (no directory, or no manifest in it) is one
    InputError naming the place."""
    for where in (tmp_path / "missing", tmp_path):
        with pytest.raises(InputError, match=f"{where}: no warehouse there"):
            wh.scan_hits(where, start=D1, end=D1)


def test_listed_parts_are_read_only_when_they_are_the_listed_files(tmp_path: Path) -> None:
    """A report task reads the parts the client listed; a missing one or one of another size
    (a worker seeing another store) is one WarehouseError naming it, nothing is read."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D1, 5)]))
    store = wh.open_warehouse(tmp_path)
    [part] = store.parts(wh.HITS)
    assert store.read([part], ["offset"])["offset"].to_list() == [0, 5]
    with pytest.raises(WarehouseError, match="not the file the client listed"):
        store.read([dataclasses.replace(part, size=part.size + 1)], ["offset"])
    gone = dataclasses.replace(part, location=part.location.replace("part-", "gone-"))
    with pytest.raises(WarehouseError, match=r"gone-.*\.parquet: not found .*every worker sees"):
        store.read([gone], ["offset"])


@pytest.mark.parametrize(
    "days",
    [
        [D1, D1, D2, D2, D2, D3],  # a time-ordered log: runs of dates
        [D1, D2, D1, D3, D2, D1],  # out of order (a merged or reordered log)
        [D3, D3, D1],  # descending
    ],
)
def test_each_date_part_holds_that_dates_lines_in_file_order(tmp_path: Path, days) -> None:
    """A chunk's hits land in one part per date, each with exactly its lines in file order."""
    rows = [(d, 10 * i) for i, d in enumerate(days)]
    n_hits, _, dates = parts.write_chunk_parts(
        tmp_path, source="aa", start=0, end=99, hits=_hits("aa", rows), rejects=_no_rejects()
    )
    assert n_hits == len(days) and sorted(dates) == sorted({d.isoformat() for d in days})
    for day in set(days):
        part = tmp_path / "hits" / f"date={day.isoformat()}" / layout.part_name("aa", 0, 99)
        got = pl.read_parquet(part, hive_partitioning=False)
        assert "date" not in got.columns
        assert got.get_column("offset").to_list() == [o for d, o in rows if d == day]


def test_parts_carry_plain_parquet_types_and_encode_by_column(tmp_path: Path) -> None:
    """Any Parquet reader gets the warehouse's types from a part (no Arrow schema is stored);
    text is dictionary-encoded, numbers and times are not and carry min/max statistics, which
    text does not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [(D1, 10 * i) for i in range(200)]
    hits = _hits("aa", rows, user_agent=["Mozilla/5.0 (same for everyone)"] * 200)
    parts.write_chunk_parts(tmp_path, source="aa", start=0, end=9, hits=hits, rejects=_no_rejects())
    part = tmp_path / "hits" / f"date={D1.isoformat()}" / layout.part_name("aa", 0, 9)
    f = pq.ParquetFile(part)
    assert f.schema_arrow.field("ts").type == pa.timestamp("us", "UTC")
    assert f.schema_arrow.field("status").type == pa.int16()
    assert f.schema_arrow.field("uri").type == pa.string()
    assert b"ARROW:schema" not in (f.metadata.metadata or {})
    meta = f.metadata.row_group(0)
    cols = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert any("DICTIONARY" in e for e in cols["user_agent"].encodings)
    assert any("DICTIONARY" in e for e in cols["uri"].encodings)
    assert not any("DICTIONARY" in e for e in cols["offset"].encodings)
    assert cols["ts"].statistics.has_min_max and cols["offset"].statistics.has_min_max
    assert cols["uri"].statistics is None or not cols["uri"].statistics.has_min_max


def test_parts_of_earlier_versions_read_with_new_ones(tmp_path: Path) -> None:
    """A warehouse whose older parts were written by polars (an Arrow schema stored in each
    file, as logmetrics wrote them before it used pyarrow's writer) reads those and the new
    parts as one dataset."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5)]))
    old = _hits("bb", [(D2, 0)]).drop("date")
    part = tmp_path / "hits" / f"date={D2.isoformat()}" / layout.part_name("bb", 0, 10)
    old.write_parquet(part, compression="zstd", compression_level=1, statistics=True)
    man = load_manifest(LocalStorage(tmp_path))
    st = man.sources.setdefault("bb", SourceState(id="bb", fingerprint="f", fp_len=1024))
    st.ranges.append([0, 10, 1, 0])
    st.offset = 10
    save_manifest(LocalStorage(tmp_path), man)
    got = wh.scan_hits(tmp_path, start=D1, end=D2).collect().sort("source", "offset")
    assert got.select("source", "uri", "status", "date").rows() == [
        ("aa", "/aa/0", 200, D1), ("aa", "/aa/5", 200, D2), ("bb", "/bb/0", 200, D2)
    ]  # fmt: skip
    assert got.schema["ts"] == pl.Datetime("us", "UTC") and got.schema["status"] == pl.Int16


def test_an_open_warehouse_lists_committed_parts_and_reads_them(tmp_path: Path) -> None:
    """open_warehouse() gives a handle that pickles (for Dask tasks); parts() lists the
    committed parts of a date range (either end open) with their sizes, never an uncommitted
    one; read() gives the chosen columns, null where a part lacks a header column."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5)]))
    _commit(tmp_path, "bb", 0, 10, _hits("bb", [(D2, 0), (D3, 4)], req_x_user=["u1", "u2"]))
    parts.write_chunk_parts(
        tmp_path, source="aa", start=10, end=20, hits=_hits("aa", [(D2, 10)]), rejects=_no_rejects()
    )  # a crashed run's part: not committed
    store = pickle.loads(pickle.dumps(wh.open_warehouse(tmp_path)))
    listed = store.parts(end=D2)
    assert [(p.date, p.key) for p in listed] == [
        (D1, ("aa", 0, 10)), (D2, ("aa", 0, 10)), (D2, ("bb", 0, 10))
    ]  # fmt: skip
    assert all(p.size == (tmp_path / p.location).stat().st_size for p in listed)
    assert [(p.date, p.key[0]) for p in store.parts(start=D3)] == [(D3, "bb")]
    got = store.read(listed[1:], ["uri", "req_x_user", "cookie_sid", "date"])
    assert got.rows() == [("/aa/5", None, None, D2), ("/bb/0", "u1", None, D2)]
    assert store.last_change() == (tmp_path / "manifest.json").stat().st_mtime


def test_a_part_that_is_not_as_listed_is_not_read(tmp_path: Path) -> None:
    """A listed part whose size changed, or that is gone (a worker seeing another disk, or an
    ingest that rewrote it), is one WarehouseError naming it; nothing is read."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0)]))
    store = wh.open_warehouse(tmp_path)
    (part,) = store.parts()
    with pytest.raises(WarehouseError, match="part-aa-.*: not the file the client listed"):
        store.read([dataclasses.replace(part, size=part.size + 1)])
    (tmp_path / part.location).unlink()
    with pytest.raises(WarehouseError, match="part-aa-.*: not found from .*every worker sees"):
        store.read([part])


def test_a_swap_that_empties_a_date_clears_it_at_the_commit_point(tmp_path: Path) -> None:
    """A rebuild whose window holds a date nothing is staged for (its lines moved elsewhere):
    once the manifest commits the swap, readers see nothing on that date, before and after the
    swap is rolled forward; other dates keep their parts."""
    _commit(tmp_path, "aa", 0, 10, _hits("aa", [(D1, 0), (D2, 5)]))
    store = LocalStorage(tmp_path)
    staging = new_staging(store)
    man = load_manifest(store)
    man.pending_swap = {
        "staging": staging, "hits": ["2022-03-02"], "rejects": [],
        "empty": {"hits": ["2022-03-02"], "rejects": []},
    }  # fmt: skip
    save_manifest(store, man)  # the commit point, then a "crash"
    seen = wh.scan_hits(tmp_path, start=D1, end=D3).collect()
    assert seen.get_column("uri").to_list() == ["/aa/0"]
    recover(store)
    assert load_manifest(store).pending_swap is None
    assert sorted(os.listdir(tmp_path / "hits")) == ["date=2022-03-01"]
    again = wh.scan_hits(tmp_path, start=D1, end=D3).collect()
    assert again.get_column("uri").to_list() == ["/aa/0"]
