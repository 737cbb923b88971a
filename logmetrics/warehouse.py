"""The warehouse's readers: the committed parts of a date range, read into polars frames.

``open_warehouse`` turns a ``--warehouse`` value (a path or URL) into a ``Warehouse``, which
pickles, so it travels to Dask workers. ``Warehouse.parts`` lists the committed parts of a date
range: only those the manifest lists, so a crashed run's leftovers are never read (a rebuild
swap committed but not finished is honoured: see ``recovery``). ``Warehouse.read`` reads a list
of parts into one frame, after checking each still has its listed size (a worker that sees
another disk or endpoint fails instead of reading something else). ``scan_hits``,
``scan_rejects`` and ``ingest_stats`` do the same from a path or URL.

The layout is ``layout``'s, the writing ``parts``' (an ingest imports those, not polars).
Polars reads each part at its ``Storage.location`` with the store's ``storage_options``.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .errors import InputError, WarehouseError
from .formats import HEAD_TYPES, REJECTS_TYPES, TAIL_TYPES, polars_type
from .layout import HITS, REJECTS, Part, committed_parts, warehouse_storage
from .manifest import MANIFEST, Manifest, has_manifest, load_manifest
from .storage import Storage

#: The hits columns every reader can rely on (``date`` comes from the partition directory),
#: and the rejects columns.
HITS_SCHEMA: dict[str, pl.DataType] = {
    c: polars_type(t) for c, t in {**HEAD_TYPES, **TAIL_TYPES}.items() if c != "date"
}
REJECTS_SCHEMA: dict[str, pl.DataType] = {c: polars_type(t) for c, t in REJECTS_TYPES.items()}
_SCHEMAS = {HITS: HITS_SCHEMA, REJECTS: REJECTS_SCHEMA}

_EXTRA_PREFIXES = ("req_", "resp_", "cookie_")


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
        return where if isinstance(where, Warehouse) else cls(warehouse_storage(where))

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


__all__ = [
    "HITS",
    "HITS_SCHEMA",
    "REJECTS",
    "REJECTS_SCHEMA",
    "Part",
    "Warehouse",
    "ingest_stats",
    "open_warehouse",
    "scan_hits",
    "scan_rejects",
]
