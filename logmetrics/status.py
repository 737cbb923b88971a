"""What the store holds, for an operator asking "is it working?": ``logmetrics status``.

The sources (last path seen, bytes read, lines, when last ingested, last line), the last
ingest's time and summary (``Manifest.last_ingest``), per store date of the last
``WINDOW_DAYS`` days the lines, interaction hits and rejected lines, and the store's size.

The window ends on the store's last date with a line (today at the latest, in the configured
time zone), not on today: a store fed every night ends today or yesterday anyway, and one whose
feed stopped still shows its last month of traffic, while the stop itself is told by the last
ingest's age (``--max-age`` fails on it) and the sources' last lines. Days are store dates
(the ingest's time zone); each is read on its own, so memory is a day's hits at most.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from .classify import HIT_COLUMNS, is_interaction, label_hits
from .config import Config
from .coverage import last_ingest, local_stamp, log_family
from .errors import StaleIngestError
from .layout import HITS, REJECTS, Part
from .manifest import Manifest
from .warehouse import Warehouse, open_warehouse

#: Days of lines, interaction hits and rejects shown.
WINDOW_DAYS = 31
#: Sources the text lists (newest first); ``--json`` lists every one.
TEXT_SOURCES = 20


@dataclass(frozen=True)
class SourceStatus:
    """One source (one log file's content, whatever its name over rotations)."""

    id: str
    path: str  # the last path it was seen at
    family: str  # coverage.log_family of the path
    bytes_read: int  # decompressed bytes committed
    lines: int
    first_seen: dt.datetime | None  # local naive
    last_ingested: dt.datetime | None
    last_line: dt.datetime | None  # its latest hit in the window; None: none there


@dataclass(frozen=True)
class DayStatus:
    """One store date: its lines (hits and rejected), interaction hits and rejected lines."""

    day: dt.date
    lines: int
    interaction_hits: int
    rejected: int


@dataclass(frozen=True)
class StoreStatus:
    """What ``logmetrics status`` shows; times are local naive in ``timezone``."""

    warehouse: str
    timezone: str
    now: dt.datetime
    size_bytes: int
    files: int
    #: when the last ingest ended, and its counts (``IngestSummary.record``; None for a store
    #: written before ingests recorded them, whose time is then the manifest's last commit)
    last_ingest: dt.datetime | None
    last_summary: dict[str, int] | None
    sources: tuple[SourceStatus, ...]
    days: tuple[DayStatus, ...]

    @property
    def age_hours(self) -> float | None:
        """Hours since the last ingest ended."""
        if self.last_ingest is None:
            return None
        return (self.now - self.last_ingest).total_seconds() / 3600

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ``YYYY-MM-DDTHH:MM:SS`` local, days as ``YYYY-MM-DD``."""
        d = asdict(self)
        d["age_hours"] = None if self.age_hours is None else round(self.age_hours, 2)
        return _iso(d)

    def text(self) -> list[str]:
        """The status for a human, line by line."""
        out = [
            f"warehouse {self.warehouse}: {_mb(self.size_bytes)} in {self.files:,} file(s)",
            _ingest_line(self),
        ]
        families = {s.family for s in self.sources}
        out.append(f"sources: {len(self.sources):,} in {len(families):,} log family(ies)")
        if self.sources:
            out.append(
                f"  {'last ingested':19}  {'last line':19}  {'bytes read':>13}  {'lines':>11}  path"
            )
        for s in self.sources[:TEXT_SOURCES]:
            out.append(
                f"  {_when(s.last_ingested):19}  {_when(s.last_line):19}  {s.bytes_read:>13,}  "
                f"{s.lines:>11,}  {s.path}"
            )
        if len(self.sources) > TEXT_SOURCES:
            out.append(f"  ... {len(self.sources) - TEXT_SOURCES:,} older (--json lists all)")
        if self.days:
            out.append(
                f"lines per day, {self.days[0].day}..{self.days[-1].day} (store dates, "
                f"{self.timezone}):"
            )
            out.append(f"  {'date':10}  {'lines':>11}  {'interaction hits':>16}  {'rejected':>9}")
            for d in self.days:
                out.append(
                    f"  {d.day}  {d.lines:>11,}  {d.interaction_hits:>16,}  {d.rejected:>9,}"
                )
        return out


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _ingest_line(status: StoreStatus) -> str:
    if status.last_ingest is None:
        return "last ingest: none recorded"
    text = f"last ingest: {_when(status.last_ingest)} {status.timezone}"
    age = status.age_hours
    text += f" ({age:,.1f} hours ago)" if age is not None and age >= 0 else ""
    s = status.last_summary
    if s is None:
        return text + " (no summary recorded)"
    return (
        f"{text}: {s['files']:,} file(s) ({s['files_new']} new, {s['files_resumed']} resumed, "
        f"{s['files_skipped']} skipped, {s['files_waiting']} waiting); "
        f"{s['lines_ingested']:,} lines ingested, {s['lines_rejected']:,} rejected; "
        f"{_mb(s['bytes_read'])} read"
    )


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- reading --------------------------------------------------------------------------------


def _window(hits: list[Part], rejects: list[Part], today: dt.date, days: int) -> list[dt.date]:
    """The ``days`` store dates up to the last one with a line (today at the latest)."""
    last = max((p.date for p in [*hits, *rejects] if p.date <= today), default=today)
    return [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


def _day(
    wh: Warehouse, parts: list[Part], rejects: list[Part], config: Config
) -> tuple[int, int, int, pl.DataFrame]:
    """One store date: hits, interaction hits, rejected lines, and each source's last hit."""
    columns = list(dict.fromkeys([*HIT_COLUMNS, config.user_field.column]))
    hits = wh.scan(parts, columns).collect()
    labelled = label_hits(hits, config=config)
    interactions = int(labelled.select(is_interaction().sum()).item() or 0)
    last = hits.group_by("source").agg(pl.col("ts").max())
    rejected = wh.scan(rejects, ["date"], kind=REJECTS).select(pl.len()).collect().item()
    return hits.height, interactions, int(rejected), last


def store_status(
    warehouse: str | Warehouse,
    *,
    config: Config | None = None,
    days: int = WINDOW_DAYS,
    now: dt.datetime | None = None,
) -> StoreStatus:
    """What the store at ``warehouse`` (a path or URL) holds; ``config`` gives the time zone
    and what an interaction hit is; ``now`` (aware; default: the clock) is for tests."""
    config = config or Config()
    wh = open_warehouse(warehouse)
    man = wh.manifest()
    local_now = (now or dt.datetime.now(dt.UTC)).astimezone(config.tz).replace(tzinfo=None)
    hits, rejects = wh.parts(HITS, manifest=man), wh.parts(REJECTS, manifest=man)
    window = _window(hits, rejects, local_now.date(), days)
    rows, lasts = [], []
    for day in window:
        n, inter, rejected, last = _day(
            wh, [p for p in hits if p.date == day], [p for p in rejects if p.date == day], config
        )
        rows.append(DayStatus(day, n + rejected, inter, rejected))
        lasts.append(last)
    last_line = pl.concat(lasts).group_by("source").agg(pl.col("ts").max())
    stored = wh.storage.list()
    record = man.last_ingest
    return StoreStatus(
        warehouse=str(wh),
        timezone=config.timezone,
        now=local_now.replace(microsecond=0),
        size_bytes=sum(stored.values()),
        files=len(stored),
        last_ingest=last_ingest(man, config.tz),
        last_summary={k: int(v) for k, v in record.items() if k != "at"} if record else None,
        sources=_sources(man, last_line, config),
        days=tuple(rows),
    )


def _sources(man: Manifest, last_line: pl.DataFrame, config: Config) -> tuple[SourceStatus, ...]:
    """The manifest's sources, newest ingest first, with their last hit in the window."""
    tz = config.timezone
    last = {
        sid: ts.astimezone(config.tz).replace(tzinfo=None)
        for sid, ts in last_line.with_columns(pl.col("ts").dt.convert_time_zone(tz)).iter_rows()
    }
    out = [
        SourceStatus(
            id=s.id,
            path=s.path,
            family=log_family(s.path),
            bytes_read=s.offset,
            lines=s.lines,
            first_seen=local_stamp(s.first_seen, config.tz),
            last_ingested=local_stamp(s.updated_at, config.tz),
            last_line=last.get(s.id),
        )
        for s in man.sources.values()
    ]
    out.sort(key=lambda s: (s.last_ingested or dt.datetime.min, s.path), reverse=True)
    return tuple(out)


def check_age(status: StoreStatus, *, max_age_hours: float) -> None:
    """``--max-age``: a StaleIngestError when the last ingest ended more than
    ``max_age_hours`` before ``status.now`` (or none is recorded)."""
    age = status.age_hours
    if age is None or age > max_age_hours:
        raise StaleIngestError(
            status.last_ingest, age_hours=age, max_age_hours=max_age_hours, zone=status.timezone
        )


__all__ = [
    "WINDOW_DAYS",
    "DayStatus",
    "SourceStatus",
    "StoreStatus",
    "check_age",
    "store_status",
]
