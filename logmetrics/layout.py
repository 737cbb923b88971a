"""The warehouse's layout: where parts go, what they are called, which of them are committed.

Layout (docs/design.md)::

    WAREHOUSE/
      hits/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet     # local date of the hit
      rejects/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet  # dated by the line's text
      summaries/date=YYYY-MM-DD/summary-<parts>-<settings>-<mode>.parquet  # derived, see summaries
      summaries/date=YYYY-MM-DD/pruned.parquet                     # what a pruned day keeps
      manifest.json                                                # committed after the data
      .lock                                                        # held by a running ingest
      .staging/<run>/                                              # a rebuild being prepared

Dates are in the configured time zone. ``<source>`` is the source id (hex), ``<start>-<end>``
the decompressed byte range of the chunk (zero-padded), so a re-run or a retried task rewrites
the same names instead of adding copies. The same layout lives in a directory or an object
store: every file goes through a ``storage.Storage``. A part is committed once the manifest
lists its (source, start, end); ``committed_parts`` lists only those, so a crashed run's
leftovers are never read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .manifest import Manifest, PartKey
from .storage import Storage, open_storage

HITS = "hits"
REJECTS = "rejects"
STAGING = ".staging"
SUMMARIES = "summaries"
#: What a pruned day keeps: its summary, under this name whatever made it.
PRUNED = "pruned.parquet"
#: The pruned days' log lines per source and day, which the coverage check reads (coverage.py)
PRUNED_LINES = f"{SUMMARIES}/pruned-lines.parquet"

_PART = re.compile(r"^part-([0-9a-f]+)-(\d+)-(\d+)\.parquet$")
_SUMMARY = re.compile(r"^summary-([0-9a-f]{16})-([0-9a-f]{16})-(plain|window)\.parquet$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def warehouse_storage(where: str | Path | Storage) -> Storage:
    """The store a ``--warehouse`` value names (a path or URL); a URL of an unsupported
    protocol, or without its driver, is a ConfigError naming the option."""
    try:
        return open_storage(where)
    except ConfigError as exc:
        raise ConfigError(f"--warehouse: {exc}") from None


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


# --- day summaries (summaries.py makes and reads them) -----------------------------------------


def summary_name(parts: str, settings: str, *, window: bool) -> str:
    """A summary's file name: the hashes of the parts and settings it was made from, and
    whether the day was read with its neighbours (``window``)."""
    return f"summary-{parts}-{settings}-{'window' if window else 'plain'}.parquet"


def summary_key(day: dt.date, name: str) -> str:
    """The key of a day's summary file inside the warehouse."""
    return f"{SUMMARIES}/date={day.isoformat()}/{name}"


def pruned_key(day: dt.date) -> str:
    """The key of what a pruned day keeps."""
    return summary_key(day, PRUNED)


def stored_summaries(storage: Storage) -> dict[dt.date, set[str]]:
    """The summary files the warehouse holds: date -> file names."""
    out: dict[dt.date, set[str]] = {}
    for key in storage.list(SUMMARIES):
        directory, _, name = key[len(SUMMARIES) + 1 :].partition("/")
        m = _DATE_DIR.match(directory)
        if m and (name == PRUNED or _SUMMARY.match(name)):
            out.setdefault(dt.date.fromisoformat(m.group(1)), set()).add(name)
    return out


def same_kind(name: str, settings: str, *, window: bool) -> bool:
    """Whether a summary file was made with these settings in this mode (for any parts)."""
    m = _SUMMARY.match(name)
    return m is not None and m.group(2) == settings and (m.group(3) == "window") == window


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
    """The parts of ``kind`` the manifest lists, with dates in [start, end], in date order;
    none of a pruned day (before ``Manifest.pruned_before``: a prune's deletions may be
    unfinished)."""
    committed = manifest.committed()
    pruned = manifest.pruned_date
    out = []
    for day, files in sorted(_partitions(storage, kind, manifest).items()):
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        if pruned is not None and day < pruned:
            continue
        for name, (key, size) in sorted(files.items()):
            pk = parse_part_name(name)
            if pk in committed:
                out.append(Part(day, pk, key, size))
    return out


__all__ = [
    "HITS",
    "PRUNED",
    "PRUNED_LINES",
    "REJECTS",
    "STAGING",
    "SUMMARIES",
    "Part",
    "committed_parts",
    "parse_part_name",
    "part_name",
    "partition",
    "pruned_key",
    "require_rename",
    "same_kind",
    "stored_parts",
    "stored_summaries",
    "summary_key",
    "summary_name",
    "warehouse_storage",
]
