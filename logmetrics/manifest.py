"""The manifest, the warehouse's commit point, and the lock an ingest holds while it writes.

``manifest.json`` lists, per source, the byte ranges whose parts are committed. It is replaced
atomically (``Storage.write``) only after the parts it lists are durable, so readers, which
see only listed parts, never see a crashed run's leftovers; the next ingest deletes those under
the lock (``recovery.recover``). A ``pending_swap`` record is a rebuild committed but not yet
swapped into place (see ``recovery``). ``pruned_before`` (an ISO date) says the days before it
were pruned: readers ignore their hits and rejects and use their kept summaries (``prune``).

The lock (``.lock``) keeps a second ingest out: it waits ``timeout`` seconds (default 10) and
then raises WarehouseLocked, naming the holder, with exit code 75 (EX_TEMPFAIL) so cron retries
later. How the lock is held is the store's business (``Storage.lock``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import WarehouseError
from .storage import Storage

MANIFEST = "manifest.json"
LOCK = ".lock"
MANIFEST_VERSION = 1

#: A committed chunk: (source id, start, end) of decompressed bytes.
PartKey = tuple[str, int, int]


def now_iso() -> str:
    """The time in UTC, to the second, as the manifest records it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class SourceState:
    """What the warehouse holds of one source (one log file's content, whatever its name)."""

    id: str
    fingerprint: str
    fp_len: int
    generation: int = 0
    #: committed decompressed offset: just after a newline, or EOF of a final source
    offset: int = 0
    lines: int = 0
    #: fingerprint of the up-to-1024 bytes before ``offset``: content must still match to resume
    check: str = ""
    #: the last commit ended at EOF on a line without newline (final)
    open_tail: bool = False
    path: str = ""
    #: committed chunks: [start, end, hits, rejects]
    ranges: list[list[int]] = field(default_factory=list)
    #: path -> {"size", "mtime_ns", "ino", "length"} as last seen (``length``: decompressed size
    #: when the whole file was read, so an unchanged .gz is skipped without inflating it)
    files: dict[str, dict[str, int | None]] = field(default_factory=dict)
    first_seen: str = ""
    updated_at: str = ""
    #: every committed range was stored with shortened client addresses (``[privacy]``); a
    #: manifest from before the setting existed says False: its addresses are raw
    anonymized: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SourceState:
        return cls(**d)


@dataclass
class Manifest:
    """The committed state: every source's ranges, and a rebuild swap not finished yet."""

    sources: dict[str, SourceState] = field(default_factory=dict)
    pending_swap: dict[str, Any] | None = None
    updated_at: str = ""
    #: the last ingest that ran to its end: when (``at``, UTC) and its summary's counts
    #: (``IngestSummary.record``), for ``logmetrics status``
    last_ingest: dict[str, Any] | None = None
    #: the first day not pruned (ISO date): days before it have no hits or rejects left
    pruned_before: str | None = None

    def committed(self) -> set[PartKey]:
        """The (source, start, end) of every committed part."""
        return {(s.id, r[0], r[1]) for s in self.sources.values() for r in s.ranges}

    @property
    def pruned_date(self) -> dt.date | None:
        """``pruned_before`` as a date (None: nothing was pruned)."""
        return dt.date.fromisoformat(self.pruned_before) if self.pruned_before else None

    def to_json(self) -> dict[str, Any]:
        data = {
            "version": MANIFEST_VERSION,
            "updated_at": self.updated_at,
            "pending_swap": self.pending_swap,
            "last_ingest": self.last_ingest,
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
        }
        if self.pruned_before is not None:
            data["pruned_before"] = self.pruned_before
        return data


def load_manifest(storage: Storage) -> Manifest:
    """Read ``manifest.json`` (an absent one is an empty warehouse); corruption is an error."""
    raw = storage.read(MANIFEST)
    if raw is None:
        return Manifest()
    where = storage.location(MANIFEST)
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
        if data.get("version") != MANIFEST_VERSION:
            raise WarehouseError(
                f"{where}: manifest version {data.get('version')!r} is not {MANIFEST_VERSION}"
            )
        sources = {k: SourceState.from_json(v) for k, v in data["sources"].items()}
        pruned = data.get("pruned_before")
        if pruned is not None:
            dt.date.fromisoformat(pruned)  # a ValueError: corrupt
        return Manifest(
            sources,
            data.get("pending_swap"),
            data.get("updated_at", ""),
            data.get("last_ingest"),
            pruned,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WarehouseError(f"{where}: corrupt manifest ({exc})") from None


def save_manifest(storage: Storage, manifest: Manifest) -> None:
    """Atomically replace the manifest: the commit point of everything it lists."""
    manifest.updated_at = now_iso()
    text = json.dumps(manifest.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    storage.write(MANIFEST, (text + "\n").encode("utf-8"))


def has_manifest(storage: Storage) -> bool:
    """Whether anything was ever committed there: what makes a place a warehouse."""
    return storage.size(MANIFEST) is not None


@contextlib.contextmanager
def locked(storage: Storage, *, timeout: float = 10.0) -> Iterator[None]:
    """Hold the warehouse lock; wait up to ``timeout`` s for another ingest, then WarehouseLocked."""
    with storage.lock(LOCK, timeout=timeout):
        yield


__all__ = [
    "LOCK",
    "MANIFEST",
    "Manifest",
    "PartKey",
    "SourceState",
    "has_manifest",
    "load_manifest",
    "locked",
    "now_iso",
    "save_manifest",
]
