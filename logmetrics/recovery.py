"""What an ingest cleans up under the lock, and the rebuild's atomic swap of date partitions.

Recovery. Before doing anything else, an ingest finishes a committed swap and deletes what no
manifest lists: parts of a crashed run (beyond a source's committed ranges), staging areas,
and whatever the store's interrupted writes left (``Storage.tidy``: local temp files).

Prune. A committed ``Manifest.pruned_before`` means the days before it are pruned: their hits
and rejects parts, and their day summaries other than ``pruned.parquet``, are deleted
(``finish_prune``), and so is a ``pruned.parquet`` of a later day (a prune killed before its
commit). Readers ignore those days' parts meanwhile, so the store reads as pruned from the
commit on.

Rebuild swap. A rebuild prepares whole date partitions under ``.staging/<run>/``: its sources'
new parts (written by the chunk tasks) plus the live parts of every other source on those dates
(``Storage.copy``: hard links locally). It commits by writing the manifest with a
``pending_swap`` record (staging area, dates, and the dates left empty) together with the new
source ranges: that write is the atomic commit point. Each date is then swapped: the live
partition moves to the staging area's trash, the staged one into its place (``Storage.rename``;
only stores that ``can_rename``), and the record is cleared. Every step can run again after a
crash: a date whose staged partition is gone is done. Readers that see the record read the
staged partitions not moved yet, and nothing for an emptied date; a crash after the commit
point is rolled forward by the next ingest. (A report that lists a staged partition just
before it moves fails and must be re-run; it never reads a mix of old and new partitions.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Iterable

from .errors import LogmetricsError, WarehouseError
from .layout import (
    HITS,
    PRUNED,
    REJECTS,
    STAGING,
    committed_parts,
    parse_part_name,
    part_name,
    partition,
    require_rename,
    stored_parts,
    stored_summaries,
    summary_key,
)
from .manifest import Manifest, PartKey, load_manifest, save_manifest
from .storage import Storage

log = logging.getLogger(__name__)


def recover(storage: Storage) -> Manifest:
    """Under the lock: finish a committed swap or prune, then delete everything no manifest
    lists."""
    manifest = load_manifest(storage)
    removed = storage.tidy()  # temp files first: a partition to swap must hold nothing else
    if manifest.pending_swap:
        _finish_swap(storage, manifest)
    removed += finish_prune(storage, manifest)
    committed = manifest.committed()
    doomed = [
        key
        for kind in (HITS, REJECTS)
        for files in stored_parts(storage, kind).values()
        for name, (key, _) in files.items()
        if parse_part_name(name) not in committed
    ]
    staged = list(storage.list(STAGING))
    storage.delete(doomed + staged)
    removed += len(doomed)
    if doomed or staged:
        removed += storage.tidy()  # the directories those leave empty
    if removed:
        log.info(
            "%s: removed %d uncommitted %s(s) left by an interrupted ingest",
            storage.url, removed, storage.entry,
        )  # fmt: skip
    return manifest


def finish_prune(storage: Storage, manifest: Manifest) -> int:
    """Delete what a committed prune leaves behind (see the module docstring); the number of
    files deleted."""
    cutoff = manifest.pruned_date
    doomed = [
        key
        for day, names in stored_summaries(storage).items()
        for name in names
        if (cutoff is None or day >= cutoff) == (name == PRUNED)
        for key in (summary_key(day, name),)
    ]
    if cutoff is not None:
        doomed += [
            key
            for kind in (HITS, REJECTS)
            for day, files in stored_parts(storage, kind).items()
            if day < cutoff
            for key, _ in files.values()
        ]
    storage.delete(doomed)
    if doomed:
        storage.tidy()
    return len(doomed)


def delete_parts(storage: Storage, keys: Iterable[PartKey], *, staging: str | None = None) -> None:
    """Remove every part of the given (source, range) keys, in live and staged partitions."""
    names = {part_name(*k) for k in keys}
    if not names:
        return
    bases = ["", f"{staging}/"] if staging else [""]
    prefixes = [f"{base}{kind}" for base in bases for kind in (HITS, REJECTS)]
    storage.delete(
        key
        for prefix in prefixes
        for files in stored_parts(storage, prefix).values()
        for name, (key, _) in files.items()
        if name in names
    )


# --- the rebuild swap ---------------------------------------------------------------------------


def new_staging(storage: Storage) -> str:
    """A fresh staging area for a rebuild (a key prefix); ConfigError on a store that cannot
    rename."""
    require_rename(storage)
    return f"{STAGING}/{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def discard_staging(storage: Storage, staging: str) -> None:
    """Delete a rebuild's staging area (best effort)."""
    with contextlib.suppress(LogmetricsError, OSError):
        storage.delete(list(storage.list(staging)))
        storage.tidy(staging)


def stage_and_swap(
    storage: Storage,
    manifest: Manifest,
    *,
    staging: str,
    window: tuple[dt.date, dt.date],
    rebuilt: set[str],
) -> list[str]:
    """Complete and commit a rebuild: carry over other sources' parts, commit, swap.

    The staged partitions of ``window`` hold the rebuilt sources' new parts; the live parts of
    every other source in those dates are copied next to them, so the swap replaces only
    what the rebuild re-read. ``manifest`` must already hold the new source states.
    Returns the swapped dates.
    """
    require_rename(storage)
    old = load_manifest(storage)
    record: dict[str, list[str]] = {}
    empty: dict[str, list[str]] = {}
    for kind in (HITS, REJECTS):
        staged = set(stored_parts(storage, f"{staging}/{kind}"))
        live = stored_parts(storage, kind)
        for part in committed_parts(storage, kind, manifest=old, start=window[0], end=window[1]):
            if part.key[0] not in rebuilt:
                name = part.location.rsplit("/", 1)[1]
                storage.copy(part.location, f"{staging}/{partition(kind, part.date)}/{name}")
                staged.add(part.date)
        # every day touched, even one left empty: the swap clears it
        days = {d for d in staged | set(live) if window[0] <= d <= window[1]}
        record[kind] = sorted(d.isoformat() for d in days)
        empty[kind] = sorted(d.isoformat() for d in days - staged)
    manifest.pending_swap = {"staging": staging, **record, "empty": empty}
    save_manifest(storage, manifest)  # the commit point
    _finish_swap(storage, manifest)
    return sorted(set(record[HITS]) | set(record[REJECTS]))


def _finish_swap(storage: Storage, manifest: Manifest) -> None:
    """Roll a committed rebuild swap forward (each step idempotent), then clear the record."""
    swap = manifest.pending_swap
    assert swap is not None
    if not storage.can_rename:
        raise WarehouseError(
            f"{storage.url}: the manifest records a rebuild swap, which {storage.description} "
            "cannot finish (it has no renames)"
        )
    staging = swap["staging"]
    # the rebuilt dates' summaries: their parts keep their names, and maybe their sizes
    stored = stored_summaries(storage)
    storage.delete(
        summary_key(day, name)
        for day in map(dt.date.fromisoformat, swap.get(HITS, []))
        for name in stored.get(day, ())
        if name != PRUNED
    )
    for kind in (HITS, REJECTS):
        cleared = set(swap.get("empty", {}).get(kind, []))
        for d in swap.get(kind, []):
            live, staged = partition(kind, d), f"{staging}/{partition(kind, d)}"
            moving = d not in cleared
            if moving and not storage.list(staged):
                continue  # already swapped
            if storage.list(live):
                storage.rename(live, f"{staging}/trash/{partition(kind, d)}")
            if moving:
                storage.rename(staged, live)
    manifest.pending_swap = None
    save_manifest(storage, manifest)
    discard_staging(storage, staging)
    log.info("%s: rebuild swap of %s completed", storage.url, staging)


__all__ = [
    "delete_parts",
    "discard_staging",
    "finish_prune",
    "new_staging",
    "recover",
    "stage_and_swap",
]
