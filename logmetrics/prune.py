"""Retention: delete the hits and rejected lines of old months, keep what later reports need.

Client IP addresses and user agents are personal data (Peru's Ley 29733), so the raw lines of
months already reported need not stay forever. ``prune(before="2022-03")`` deletes every hit
and rejected line dated before March 2022 and keeps, per pruned day, its summary
(``summaries``): the user names' counts, last interactions and events, the anonymous visitors
as hashes, no address or user agent. Later reports read those for the last connections, the
previous month's comparison and the last 12 months, so a report of any month not pruned is the
same, byte for byte, before and after. A pruned month itself can no longer be reported
(``MonthPruned``).

The summaries kept are those of the configuration given (the defaults without one): a pruned
day keeps the interpretation it had when pruned, whatever the configuration of later reports.
The store's dates must be the configuration's zone's (a day is then one store date): the days
pruned and the first two kept are checked, and a store dated in another zone is refused.

Crash-safe like an ingest, under the same lock: the summaries are written first (``pruned.parquet``
per day: readers ignore it until the commit), then the manifest records ``pruned_before`` (the
commit point: from then on readers ignore those days' parts and use the summaries), then the
parts are deleted; a kill at any moment leaves a store that reads as before or as after, and
the next ingest or prune finishes the deletions (``recovery.finish_prune``).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .coverage import keep_pruned_lines
from .errors import ConfigError
from .layout import REJECTS, pruned_key, stored_summaries
from .manifest import locked, save_manifest
from .recovery import finish_prune, recover
from .report import month_bounds
from .summaries import (
    SLACK,
    DayPlan,
    listed_parts,
    plan_day,
    read_summaries,
    run_tasks,
    summarize_day,
)
from .warehouse import Warehouse, open_warehouse

log = logging.getLogger(__name__)


@dataclass
class PruneSummary:
    """What a prune did, as one line for cron mail or a JSON-ready dict."""

    warehouse: str
    before: str  # the month given: days before its first are pruned
    days: int = 0  # store dates pruned by this run
    summarised: int = 0  # of which the summary was made from their hits now
    files_deleted: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if not self.days:
            return f"prune: nothing before {self.before} left to prune ({self.seconds:.1f} s)"
        return (
            f"prune: {self.days} day(s) before {self.before} pruned ({self.summarised} "
            f"summarised from their hits, the others' summaries kept); {self.files_deleted} "
            f"file(s) deleted in {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


def _check_cutoff(cutoff: dt.date, month: str, config: Config, today: dt.date | None) -> None:
    """Only months that are over: a cutoff after the current month's first day would delete
    days still being logged (and make the next ingests skip them)."""
    now = today or dt.datetime.now(config.tz).date()
    latest = now.replace(day=1)
    if cutoff > latest:
        raise ConfigError(
            f"--before {month}: only months that are over can be pruned (at most "
            f"--before {latest:%Y-%m}, which keeps {latest:%Y-%m} on)"
        )


def _shifted(
    plans: list[DayPlan], computed: dict[dt.date, frozenset[int]], wh: Warehouse, config: Config
) -> dict[dt.date, list[int]]:
    """The days whose hits are not all of their store date (local date − store date ≠ 0)."""
    shifts = {day: sorted(s) for day, s in computed.items()}
    kept = [p.read for p in plans if p.read is not None]
    if kept:
        rows = read_summaries(wh, kept, config, kinds=("day",), columns=["shifts"])
        for day, values in rows.select("date", "shifts").iter_rows():
            shifts[day] = sorted(values or ())
    return {day: s for day, s in sorted(shifts.items()) if s and s != [0]}


def prune(
    *,
    warehouse: str | Path,
    before: str,
    config: Config | None = None,
    executor: cf.Executor | None = None,
    lock_timeout: float = 10.0,
    today: dt.date | None = None,
) -> PruneSummary:
    """Delete the hits and rejected lines dated before ``before`` (``YYYY-MM``), keeping each
    day's summary under ``config`` (see the module docstring).

    ``today`` (default: the date in the configured zone) bounds ``before``: at most the
    current month. Day summaries are made inline, or on ``executor``. Waits ``lock_timeout``
    seconds for a running ingest, then raises WarehouseLocked.
    """
    t0 = time.monotonic()
    config = config or Config()
    cutoff, _ = month_bounds(before)
    month = f"{cutoff:%Y-%m}"
    _check_cutoff(cutoff, month, config, today)
    wh = open_warehouse(warehouse)
    storage = wh.storage
    summary = PruneSummary(warehouse=storage.url, before=month)
    with locked(storage, timeout=lock_timeout):
        manifest = recover(storage)
        done = manifest.pruned_date
        if done is not None and cutoff <= done:
            summary.seconds = time.monotonic() - t0
            return summary
        end = cutoff - dt.timedelta(days=1)
        # the first store dates kept are checked too: they may hold hits of pruned local dates
        listed = listed_parts(wh, manifest, end=cutoff + SLACK)
        rejected = {p.date for p in wh.parts(REJECTS, end=end, manifest=manifest)}
        stored = stored_summaries(storage)
        plans = [
            plan_day(wh, day, parts, config=config, stored=stored.get(day, set()), window=False)
            for day, parts in listed.items()
        ]
        tasks = [dataclasses.replace(p.task, required=p.day < cutoff) for p in plans if p.task]
        computed = {s.day: s.shifts for s in run_tasks(executor, summarize_day, tasks)}
        shifted = _shifted(plans, computed, wh, config)
        if shifted:
            day, shifts = next(iter(shifted.items()))
            raise ConfigError(
                f"{storage.url}: the store's dates are not {config.timezone}'s ({day} holds "
                f"hits of local dates {shifts} days away): prune with the configuration it "
                "was ingested with (--config), so that each pruned day keeps whole sessions"
            )
        pruned = [p for p in plans if p.day < cutoff]
        for plan in pruned:
            key = plan.read or (plan.task.key if plan.task else None)
            assert key is not None
            storage.copy(key, pruned_key(plan.day))
        keep_pruned_lines(wh, manifest, before=cutoff, tz=config.timezone)
        manifest.pruned_before = cutoff.isoformat()
        save_manifest(storage, manifest)  # the commit point
        summary.files_deleted = finish_prune(storage, manifest)
    summary.days = len({p.day for p in pruned} | rejected)
    summary.summarised = sum(1 for p in pruned if p.task is not None)
    summary.seconds = time.monotonic() - t0
    log.info("%s", summary.line())
    return summary


__all__ = ["PruneSummary", "prune"]
