"""The Parquet warehouse: its layout, the parts a chunk writes, and the readers.

Layout (docs/design.md)::

    WAREHOUSE/
      hits/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet     # local date of the hit
      rejects/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet  # dated by the line's text
      manifest.json                                                # committed after the data
      .lock                                                        # held by a running ingest
      .staging/<run>/                                              # a rebuild being prepared

Dates are in the configured time zone. ``<source>`` is the source id (hex), ``<start>-<end>``
the decompressed byte range of the chunk (zero-padded), so a re-run or a retried task rewrites
the same names instead of adding copies. The same layout lives in a directory or an object
store: every file goes through a ``storage.Storage``, nothing here asks which one it is.

Writing. A chunk task writes one part per date of its hits and of its rejects
(``write_chunk_parts``), each atomically; the manifest (``manifest``), written after them by
the ingest, is the commit point. A rejected line is dated by the timestamp in its own text, else
by its neighbours' (see ``ingest.date_rejects``), so a re-run writes the same parts and a
rebuild can replace a date's rejects together with its hits.

Reading. ``open_warehouse`` turns a ``--warehouse`` value into a ``Warehouse`` (it pickles, so
it travels to Dask workers); ``Warehouse.parts`` lists the committed parts of a date range,
only those the manifest lists, so a crashed run's leftovers are never read (a rebuild swap
committed but not finished is honoured); ``Warehouse.read`` reads a list of parts into one
frame, after checking each still has its listed size. ``scan_hits``, ``scan_rejects`` and
``ingest_stats`` do the same from a path or URL.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError, InputError, WarehouseError
from .formats import HEAD_TYPES, REJECTS_TYPES, TAIL_TYPES, polars_type
from .manifest import MANIFEST, Manifest, PartKey, has_manifest, load_manifest
from .storage import Storage, open_storage

HITS = "hits"
REJECTS = "rejects"
STAGING = ".staging"

#: The hits columns every reader can rely on (``date`` comes from the partition directory),
#: and the rejects columns.
HITS_SCHEMA: dict[str, pl.DataType] = {
    c: polars_type(t) for c, t in {**HEAD_TYPES, **TAIL_TYPES}.items() if c != "date"
}
REJECTS_SCHEMA: dict[str, pl.DataType] = {c: polars_type(t) for c, t in REJECTS_TYPES.items()}
_SCHEMAS = {HITS: HITS_SCHEMA, REJECTS: REJECTS_SCHEMA}

_EXTRA_PREFIXES = ("req_", "resp_", "cookie_")
_PART = re.compile(r"^part-([0-9a-f]+)-(\d+)-(\d+)\.parquet$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_EPOCH = dt.date(1970, 1, 1)


def part_name(source: str, start: int, end: int) -> str:
    """Deterministic part file name for a source's byte range (a re-run overwrites, never adds)."""
    return f"part-{source}-{start:013d}-{end:013d}.parquet"


def parse_part_name(name: str) -> PartKey | None:
    m = _PART.match(name)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def partition(kind: str, day: dt.date | str) -> str:
    """The key of a date partition: ``hits/date=2022-03-10``."""
    return f"{kind}/date={day if isinstance(day, str) else day.isoformat()}"


def require_rename(storage: Storage) -> None:
    """A rebuild swaps partitions by renames: refused (ConfigError) where the store has none."""
    if not storage.can_rename:
        raise ConfigError(
            f"--rebuild: {storage.url}: rebuilding is not supported on {storage.description} "
            "(it swaps partitions by renames); rebuild into a local warehouse and copy it to a "
            "new prefix"
        )


# --- writing a chunk's parts (runs in the task's thread or worker) ---------------------------

#: How every part is written, by pyarrow's writer: zstd level 1 (3x faster to write than the
#: default level, ~15% larger); dictionary encoding for text and status (it costs no more time
#: than plain text and halves most text columns: few distinct values, or a few thousand
#: repeated ones); plain numbers and times, with statistics (readers other than logmetrics can
#: skip row groups by them). No Arrow schema is stored: every reader maps the Parquet types
#: themselves (the parse's string views stay an in-memory detail).
PLAIN_COLUMNS = ("ts", "bytes", "request_time", "offset", "line_no", "ingested_at")
STATISTICS_COLUMNS = ("ts", "status", "bytes", "request_time", "offset", "line_no", "ingested_at")


def write_parquet(table: pa.Table, where: str | IO[bytes]) -> None:
    """Write one part (pyarrow writes without holding the GIL, so ``--jobs`` threads overlap)."""
    names = table.column_names
    pq.write_table(
        table, where, compression="zstd", compression_level=1, store_schema=False,
        use_dictionary=[c for c in names if c not in PLAIN_COLUMNS],
        write_statistics=[c for c in names if c in STATISTICS_COLUMNS],
    )  # fmt: skip


def _as_table(frame: pa.Table | pl.DataFrame) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def column_values(column: pa.ChunkedArray, dtype: Any) -> Any:
    """A fixed-width Arrow column's values as one numpy array (nulls hold arbitrary values).

    Why not ``to_numpy()``: for a chunked column pyarrow imports pandas (~0.3 s) to do it.
    """
    size = np.dtype(dtype).itemsize
    parts = [np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * size)
             for c in column.chunks if len(c)]  # fmt: skip
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _by_date(table: pa.Table) -> list[tuple[dt.date, pa.Table]]:
    """Split on the ``date`` column (dropped), keeping each date's rows in order.

    A time-ordered log's chunk holds runs of one or two dates: each run is a slice (no
    copying); the runs of a date that comes back (lines logged out of order around midnight)
    are concatenated, still without copying or pyarrow.compute.
    """
    col = table.column("date")
    if col.null_count:
        raise ValueError("write_chunk_parts: rows without a date")
    days = column_values(col, np.int32)
    table = table.drop_columns(["date"])
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    runs: dict[int, list[pa.Table]] = {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        if b > a:
            runs.setdefault(int(days[a]), []).append(table.slice(a, b - a))
    return [
        (_EPOCH + dt.timedelta(days=day), parts[0] if len(parts) == 1 else
         pa.concat_tables(parts))
        for day, parts in runs.items()
    ]  # fmt: skip


def write_chunk_parts(
    warehouse: str | Path | Storage,
    *,
    source: str,
    start: int,
    end: int,
    hits: pa.Table | pl.DataFrame,
    rejects: pa.Table | pl.DataFrame,
    staging: str | None = None,
    window: tuple[dt.date, dt.date] | None = None,
    outside: bool = True,
) -> tuple[int, int, list[str]]:
    """Write one chunk's hits and rejects as one part per date; (hits, rejects, dates).

    Both tables (or polars frames) carry a ``date`` column, which becomes the partition. For
    a rebuild, dates inside ``window`` go to the ``staging`` area, and the others to the live
    partitions only if ``outside`` (content the warehouse never had), else they are dropped.
    """
    storage = open_storage(warehouse)
    if staging is not None or window is not None:
        require_rename(storage)
    name = part_name(source, start, end)
    written = {HITS: 0, REJECTS: 0}
    dates: set[str] = set()
    for kind, frame in ((HITS, hits), (REJECTS, rejects)):
        table = _as_table(frame)
        if not table.num_rows:
            continue
        for day, part in _by_date(table):
            if window is not None and window[0] <= day <= window[1]:
                assert staging is not None
                key = f"{staging}/{partition(kind, day)}/{name}"
            elif outside:
                key = f"{partition(kind, day)}/{name}"
            else:
                continue
            with storage.writing(key) as target:
                write_parquet(part, target)
            written[kind] += part.num_rows
            if kind == HITS:
                dates.add(day.isoformat())
    return written[HITS], written[REJECTS], sorted(dates)


# --- committed parts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One committed part: its local date, (source, start, end), its key inside the warehouse
    (``hits/date=…/part-….parquet``) and its size in bytes when it was listed."""

    date: dt.date
    key: PartKey
    location: str
    size: int


def stored_parts(storage: Storage, prefix: str) -> dict[dt.date, dict[str, tuple[str, int]]]:
    """Every part file under ``prefix`` (``hits``, or a staging area's ``…/hits``), committed
    or not: date -> file name -> (key, size)."""
    out: dict[dt.date, dict[str, tuple[str, int]]] = {}
    for key, size in storage.list(prefix).items():
        directory, _, name = key[len(prefix) + 1 :].partition("/")
        m = _DATE_DIR.match(directory)
        if m and parse_part_name(name) is not None:
            out.setdefault(dt.date.fromisoformat(m.group(1)), {})[name] = (key, size)
    return out


def _partitions(
    storage: Storage, kind: str, manifest: Manifest
) -> dict[dt.date, dict[str, tuple[str, int]]]:
    """The part files a reader should use, per date, honouring a committed but unfinished swap:
    a date being swapped reads its staged partition until that is moved into place."""
    days = stored_parts(storage, kind)
    swap = manifest.pending_swap
    if swap:
        staged = stored_parts(storage, f"{swap['staging']}/{kind}")
        cleared = set(swap.get("empty", {}).get(kind, []))
        for d in swap.get(kind, []):
            day = dt.date.fromisoformat(d)
            if d in cleared:
                days.pop(day, None)
            elif day in staged:
                days[day] = staged[day]
    return days


def committed_parts(
    storage: Storage,
    kind: str,
    *,
    manifest: Manifest,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[Part]:
    """The parts of ``kind`` the manifest lists, with dates in [start, end], in date order."""
    committed = manifest.committed()
    out = []
    for day, files in sorted(_partitions(storage, kind, manifest).items()):
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        for name, (key, size) in sorted(files.items()):
            pk = parse_part_name(name)
            if pk in committed:
                out.append(Part(day, pk, key, size))
    return out


# --- reading ------------------------------------------------------------------------------------


def _footer_schema(options: dict[str, Any] | None, location: str) -> dict[str, pl.DataType]:
    lf = pl.scan_parquet(location, hive_partitioning=False, glob=False, storage_options=options)
    return dict(lf.collect_schema())


def _rows(storage: Storage, locations: list[str]) -> int:
    """Rows of Parquet files, from their footers: one scan (one per file costs ~1.5 ms each)."""
    if not locations:
        return 0
    lf = pl.scan_parquet(
        locations, hive_partitioning=False, glob=False, missing_columns="insert",
        extra_columns="ignore", storage_options=storage.storage_options,
    )  # fmt: skip
    return int(lf.select(pl.len()).collect().item())


def _scan(
    storage: Storage,
    locations: list[str],
    base: dict[str, pl.DataType],
    columns: list[str] | None,
) -> pl.LazyFrame:
    """Parquet files (paths or URLs of ``storage``) as one frame with a ``date`` column from
    their partition; columns a file lacks come back null."""
    schema = dict(base)
    if columns is None or not all(c in base or c == "date" for c in columns):
        # the extra columns some part has (no footer needed for the base ones: ~1 ms a part)
        with storage.io("read part footers"):
            footers = storage.map(
                functools.partial(_footer_schema, storage.storage_options), locations
            )
        for found in footers:
            schema.update({n: t for n, t in found.items() if n not in schema and n != "date"})
    if locations:
        with storage.io("read"):
            lf = pl.scan_parquet(
                locations, schema=schema, hive_partitioning=True,
                hive_schema={"date": pl.Date()}, missing_columns="insert",
                extra_columns="ignore", glob=False, storage_options=storage.storage_options,
            )  # fmt: skip
    else:
        lf = pl.LazyFrame(schema={**schema, "date": pl.Date()})
    if columns is None:
        return lf
    exprs: list[pl.Expr] = []
    for c in columns:
        if c in schema or c == "date":
            exprs.append(pl.col(c))
        elif c.startswith(_EXTRA_PREFIXES):
            exprs.append(pl.lit(None, dtype=pl.Utf8).alias(c))
        else:
            raise WarehouseError(f"unknown warehouse column {c!r}")
    return lf.select(exprs)


def _not_as_listed(storage: Storage, location: str, found: int | None) -> WarehouseError:
    """A worker sees something else than the client listed: another disk, another endpoint."""
    what = "not found" if found is None else f"not the {storage.entry} the client listed"
    return WarehouseError(
        f"{location}: {what} from {socket.gethostname()}; {storage.shared_hint} "
        "(or an ingest changed it: run again)"
    )


@dataclass(frozen=True)
class Warehouse:
    """A warehouse to read: where it is (it pickles, for Dask tasks), its committed parts."""

    storage: Storage

    @classmethod
    def at(cls, where: str | Path | Storage | Warehouse) -> Warehouse:
        """The warehouse a ``--warehouse`` value names (nothing read yet); a URL of an
        unsupported protocol, or without its driver, is a ConfigError."""
        if isinstance(where, Warehouse):
            return where
        try:
            return cls(open_storage(where))
        except ConfigError as exc:
            raise ConfigError(f"--warehouse: {exc}") from None

    def __str__(self) -> str:
        return self.storage.url

    def exists(self) -> bool:
        """Whether there is a warehouse: a committed manifest."""
        return has_manifest(self.storage)

    def manifest(self) -> Manifest:
        return load_manifest(self.storage)

    def last_change(self) -> float | None:
        """When the manifest was last written (seconds since the epoch), None without one."""
        return self.storage.modified(MANIFEST)

    def location(self, part: Part) -> str:
        """A part's path or URL."""
        return self.storage.location(part.location)

    def parts(
        self,
        kind: str = HITS,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        manifest: Manifest | None = None,
    ) -> list[Part]:
        """The committed parts of ``kind`` (``HITS`` or ``REJECTS``) with local dates in
        [start, end] (either may be open), in date order."""
        man = manifest if manifest is not None else self.manifest()
        return committed_parts(self.storage, kind, manifest=man, start=start, end=end)

    def scan(
        self, parts: Sequence[Part], columns: list[str] | None = None, *, kind: str = HITS
    ) -> pl.LazyFrame:
        """``parts`` as one lazy frame (see ``read``), without checking their sizes."""
        return _scan(self.storage, [self.location(p) for p in parts], _SCHEMAS[kind], columns)

    def read(
        self, parts: Sequence[Part], columns: list[str] | None = None, *, kind: str = HITS
    ) -> pl.DataFrame:
        """``parts`` as one frame: ``columns`` (all: None) and their ``date``; ``req_*``,
        ``resp_*`` and ``cookie_*`` columns a part lacks come back null. Each part must still
        have its listed size: a worker that sees another store fails instead of reading it."""
        sizes = self.storage.map(lambda p: self.storage.size(p.location), list(parts))
        for part, found in zip(parts, sizes, strict=True):
            if found != part.size:
                raise _not_as_listed(self.storage, self.location(part), found)
        return self.scan(parts, columns, kind=kind).collect()

    def ingest_stats(self, *, start: dt.date, end: dt.date) -> dict[str, Any]:
        """What the warehouse holds for [start, end]: counts from Parquet metadata, no data read.

        ``files`` are the last paths seen of the sources with hits in the range; rejected
        lines count by their date (see the module docstring).
        """
        man = self.manifest()
        by_source: dict[str, list[str]] = {}
        dates: set[str] = set()
        for part in self.parts(HITS, start=start, end=end, manifest=man):
            by_source.setdefault(part.key[0], []).append(self.location(part))
            dates.add(part.date.isoformat())
        rejects = [
            self.location(p) for p in self.parts(REJECTS, start=start, end=end, manifest=man)
        ]
        with self.storage.io("read part footers"):
            counts = self.storage.map(
                functools.partial(_rows, self.storage), list(by_source.values())
            )
            rejected = _rows(self.storage, rejects)
        hits_by_source = dict(zip(by_source, counts, strict=True))
        sources = [
            {"source": sid, "path": man.sources[sid].path, "hits": n}
            for sid, n in sorted(hits_by_source.items())
        ]
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "lines_ingested": sum(hits_by_source.values()),
            "lines_rejected": rejected,
            "sources": sources,
            "files": sorted({s["path"] for s in sources}),
            "dates": sorted(dates),
            "last_ingest": man.updated_at or None,
        }


def open_warehouse(where: str | Path | Storage | Warehouse) -> Warehouse:
    """The warehouse a ``--warehouse`` value (a path or URL) names; InputError if nothing was
    ever committed there (no manifest)."""
    wh = Warehouse.at(where)
    if not wh.exists():
        raise InputError(f"{wh}: no warehouse there (no {MANIFEST}; run 'logmetrics ingest' first)")
    return wh


# --- the same as functions of a path or URL -----------------------------------------------------


def scan_hits(
    warehouse: str | Path | Storage | Warehouse,
    *,
    start: dt.date,
    end: dt.date,
    columns: list[str] | None = None,
) -> pl.LazyFrame:
    """Committed hits with local dates in [start, end], reading only those partitions.

    Parts may lack header/cookie columns (``req_*``, ``resp_*``, ``cookie_*``): those come back
    null, including ones no part has.
    """
    wh = open_warehouse(warehouse)
    return wh.scan(wh.parts(HITS, start=start, end=end), columns)


def scan_rejects(
    warehouse: str | Path | Storage | Warehouse,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.LazyFrame:
    """Committed rejected lines (with their ``date``, see the module docstring), optionally ranged."""
    wh = open_warehouse(warehouse)
    return wh.scan(wh.parts(REJECTS, start=start, end=end), kind=REJECTS)


def ingest_stats(
    warehouse: str | Path | Storage | Warehouse, *, start: dt.date, end: dt.date
) -> dict[str, Any]:
    """``Warehouse.ingest_stats`` of the warehouse at a path or URL."""
    return open_warehouse(warehouse).ingest_stats(start=start, end=end)


def scan_listed(
    files: Sequence[tuple[str, int]], base: dict[str, pl.DataType], columns: list[str] | None
) -> pl.LazyFrame:
    """Parts a client listed as (path or URL, size), for a task on a worker, once each has its
    listed size (``Warehouse.read`` does the same from ``Part``s and the warehouse)."""
    stores = [open_storage(name) for name, _ in files]
    for store, (name, size) in zip(stores, files, strict=True):
        found = store.size("")
        if found != size:
            raise _not_as_listed(store, name, found)
    if not stores:
        return _scan(open_storage("."), [], base, columns)
    return _scan(stores[0], [name for name, _ in files], base, columns)


__all__ = [
    "HITS",
    "HITS_SCHEMA",
    "REJECTS",
    "REJECTS_SCHEMA",
    "STAGING",
    "Part",
    "Warehouse",
    "column_values",
    "committed_parts",
    "ingest_stats",
    "open_warehouse",
    "part_name",
    "parse_part_name",
    "partition",
    "require_rename",
    "scan_hits",
    "scan_listed",
    "scan_rejects",
    "stored_parts",
    "write_chunk_parts",
    "write_parquet",
]
