"""Day summaries kept in the warehouse: each day's hits are read once per content and settings.

A report needs, for every day of the store up to its month's end, what ``report_day`` reduces
the day to (``DaySummary``: per user name, not per ally, so one summary serves any allies
table). Interpretation (bots, page views, events, sessions) happens at report time, so a
summary depends on the day's committed parts and on the settings that interpret them; its name
says both::

    summaries/date=YYYY-MM-DD/summary-<parts>-<settings>-<plain|window>.parquet
    summaries/date=YYYY-MM-DD/pruned.parquet      # what a pruned day keeps (see prune)

``<parts>`` hashes the names, places and sizes of the parts read (parts are deterministic per
source byte range, so an ingest or a rebuild changes them), ``<settings>`` the configuration
that interprets hits (``settings_key``), ``window`` marks a day read with the store dates
around it (a store dated in another zone). A report reads the summary whose name matches, or
reads the day's hits and keeps a new one (best effort: a read-only warehouse still reports),
so nothing is ever stale, and deleting ``summaries/`` only costs the next report the time to
make them again. A pruned day (``Manifest.pruned_before``) has no hits left: its
``pruned.parquet`` is used whatever settings made it.

Every summary is one Parquet file of rows of five kinds (``kind``): one ``day`` row (counts,
first and last hit, shifts, sources, totals, daily activity), one ``user`` row per user name,
``page`` and ``agent`` rows per user, and one ``anon`` row per anonymous visitor (a hash).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl

from . import __version__
from .classify import HIT_COLUMNS
from .config import Config
from .errors import LogmetricsError, WarehouseError
from .layout import (
    HITS,
    PRUNED,
    Part,
    pruned_key,
    same_kind,
    stored_summaries,
    summary_key,
    summary_name,
)
from .manifest import Manifest
from .metrics import component_names
from .model import DailyActivity
from .report_day import (
    AGENT_COLUMNS,
    ANONYMOUS,
    DaySummary,
    day_summary,
    merged,
    page_schema,
    user_schema,
    visitor_groups,
)
from .storage import Storage
from .warehouse import Warehouse

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Bump when what a summary holds, or how a day is reduced to it, changes: older summaries
#: are then made again (those of pruned days stay as they are).
FORMAT = 1
#: Config fields that do not change how hits are interpreted (presentation, mail, the ingest's
#: format). Every other field is part of ``settings_key``, so a new setting is safe by default.
PRESENTATION = frozenset({"log_format", "matrices", "programme", "application", "mail"})
#: Parquet bytes of a day's parts that one group of its visitors may span: about a day of a
#: million-hit month. A busier day is read part by part and counted in groups of visitors, so
#: a task's frames stay that size whatever the month's (measured: it cut a 5M-hit month's
#: peak by ~20 MB, to ~235 MB max RSS; a 1M-hit month's is ~170 MB).
GROUP_BYTES = 1 << 20
#: Whole day summaries read at once: their rows of five kinds are one wide frame (four at a
#: time, a month's take 25 MB less at their peak than all at once, and no longer). Of older
#: days only the user and day rows' few columns are read, a month of files at a time.
WHOLE_DAYS = 4
HISTORY_DAYS = 32
#: Store dates read beyond a day: a hit's local date is at most two days from its store date
#: whatever the two zones (UTC offsets span 26 hours).
SLACK = dt.timedelta(days=2)

_DAY = "day"
_USER = "user"
_PAGE = "page"
_AGENT = "agent"
_ANON = "anon"
_DAILY = ("sessions", "pageviews", "logins", "users")


# --- keys and names -----------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def settings_key(config: Config) -> str:
    """A hash of what interprets hits: the configuration (but ``PRESENTATION``), the summary
    format, logmetrics' and crawlerdetect's versions (bot verdicts come from it)."""
    settings = [
        (f.name, getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in PRESENTATION
    ]
    crawlers = importlib.metadata.version("crawlerdetect")
    return _digest(repr((FORMAT, __version__, crawlers, settings)))


def parts_key(parts: Sequence[Part], *, window: bool) -> str:
    """A hash of the parts a day is read from: their places and sizes, and the mode."""
    listed = sorted((p.location, p.size) for p in parts)
    return _digest(repr(("window" if window else "plain", listed)))


# --- the file a summary is kept as --------------------------------------------------------------


def summary_schema(config: Config) -> pl.Schema:
    """Every column of a summary file for this configuration (rows of each kind fill theirs)."""
    counts = dict.fromkeys(("hits", "bot_hits", "interaction_hits"), pl.Int64())
    return pl.Schema(
        {
            "kind": pl.Utf8(),
            **counts,
            "first_local": pl.Datetime("us"),
            "last_local": pl.Datetime("us"),
            "shifts": pl.List(pl.Int64()),
            "sources": pl.List(pl.Utf8()),
            **{f"daily_{k}": pl.Int64() for k in _DAILY},
            **user_schema(config),
            **page_schema(per_user=True),
            **AGENT_COLUMNS,
            ANONYMOUS: pl.UInt64(),
        }
    )


def to_frame(summary: DaySummary) -> pl.DataFrame:
    """A summary as the rows of its file."""
    daily = summary.daily
    day = pl.DataFrame(
        [
            {
                "kind": _DAY,
                "hits": summary.hits,
                "bot_hits": summary.bot_hits,
                "interaction_hits": summary.interaction_hits,
                "first_local": summary.first_local,
                "last_local": summary.last_local,
                "shifts": sorted(summary.shifts),
                "sources": sorted(summary.sources),
                **{f"daily_{k}": getattr(daily, k) for k in _DAILY},
                **summary.totals,
            }
        ],
        schema_overrides={
            "first_local": pl.Datetime("us"),
            "last_local": pl.Datetime("us"),
            "shifts": pl.List(pl.Int64()),
            "sources": pl.List(pl.Utf8()),
        },
    )
    rows = [
        (_USER, summary.users),
        (_PAGE, summary.pages),
        (_AGENT, summary.agents),
        (_ANON, summary.anonymous.to_frame()),
    ]
    return pl.concat(
        [day, *(frame.select(pl.lit(kind).alias("kind"), pl.all()) for kind, frame in rows)],
        how="diagonal",
    )


def from_frame(frame: pl.DataFrame, *, day: dt.date, config: Config) -> DaySummary:
    """A summary from the rows of its file (``summary_schema``'s columns); the events of this
    configuration that the file lacks (it was kept under another one) count 0."""
    kind = pl.col("kind")
    row = frame.filter(kind == _DAY).row(0, named=True)
    names = component_names(config)
    users = user_schema(config)
    return DaySummary(
        day=day,
        shifts=frozenset(row["shifts"] or ()),
        hits=int(row["hits"]),
        bot_hits=int(row["bot_hits"]),
        first_local=row["first_local"],
        last_local=row["last_local"],
        sources=frozenset(row["sources"] or ()),
        interaction_hits=int(row["interaction_hits"]),
        totals={name: int(row[name] or 0) for name in names},
        daily=DailyActivity(day, *(int(row[f"daily_{k}"]) for k in _DAILY)),
        users=frame.filter(kind == _USER)
        .select(list(users))
        .with_columns(pl.col(list(names)).fill_null(0)),
        anonymous=frame.filter(kind == _ANON).get_column(ANONYMOUS),
        pages=frame.filter(kind == _PAGE).select(list(page_schema(per_user=True))),
        agents=frame.filter(kind == _AGENT).select(list(AGENT_COLUMNS)),
    )


def write_summary(storage: Storage, key: str, summary: DaySummary) -> None:
    """Keep a summary at ``key``, atomically."""
    with storage.writing(key) as target:
        to_frame(summary).write_parquet(target, compression="zstd", statistics=True)


def read_summaries(
    wh: Warehouse,
    keys: Sequence[str],
    config: Config,
    *,
    kinds: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Summary files as one frame with their ``date``: rows of ``kinds`` (all: None),
    ``columns`` (all: None). OSError or a polars error if one cannot be read."""
    storage = wh.storage
    lf = pl.scan_parquet(
        [storage.location(k) for k in keys], schema=summary_schema(config),
        hive_partitioning=True, hive_schema={"date": pl.Date()}, missing_columns="insert",
        extra_columns="ignore", glob=False, storage_options=storage.storage_options,
    )  # fmt: skip
    if kinds is not None:
        lf = lf.filter(pl.col("kind").is_in(list(kinds)))
    if columns is not None:
        lf = lf.select("date", "kind", *columns)
    return lf.collect()


# --- the day task (top level, picklable: inline, in threads or on Dask workers) -----------------


@dataclass(frozen=True)
class DayTask:
    """One local day to summarise from its hits: the parts to read, where to keep it."""

    day: dt.date
    warehouse: Warehouse
    parts: tuple[Part, ...]
    config: Config
    #: the parts are those of the store dates around ``day`` (the store's dates are another
    #: zone's): only hits of local date ``day`` count
    window: bool = False
    #: where to keep the summary, and the day's summaries it replaces (same settings and
    #: mode, other parts: stale)
    key: str | None = None
    stale: tuple[str, ...] = ()
    #: failing to keep it is an error (prune), not a note (a report)
    required: bool = False


def _hit_columns(config: Config) -> list[str]:
    cols = list(HIT_COLUMNS)
    if config.user_field.column not in cols:
        cols.append(config.user_field.column)
    return cols


def summarize_day(task: DayTask) -> DaySummary:
    """Read, label and sessionize one local day, one group of its visitors at a time when its
    parts exceed ``GROUP_BYTES``; keep its summary at ``task.key``; return it."""
    config = task.config
    columns = _hit_columns(config)
    groups = max(1, -(-sum(part.size for part in task.parts) // GROUP_BYTES))
    split: dict[int, list[pl.DataFrame]] = {}
    for part in task.parts:  # one at a time: a part holds at most an ingest chunk's hits
        # a day repeats few distinct user agents over many rows: as a categorical the column
        # (most of a day's bytes as text) weighs 4 bytes a row
        hits = task.warehouse.read([part], columns).with_columns(
            pl.col("user_agent").cast(pl.Categorical)
        )
        for group, frame in visitor_groups(hits, groups=groups, config=config).items():
            split.setdefault(group, []).append(frame)
        del hits
    summaries = []
    for group in sorted(split):
        frames = split.pop(group)
        hits = pl.concat(frames, rechunk=False)
        del frames
        summaries.append(day_summary(hits, day=task.day, config=config, window=task.window))
    summary = merged(summaries)
    if task.key is not None:
        _keep(task, summary)
    return summary


def _keep(task: DayTask, summary: DaySummary) -> None:
    storage = task.warehouse.storage
    assert task.key is not None
    try:
        write_summary(storage, task.key, summary)
        if task.stale:
            storage.delete(task.stale)
    except (LogmetricsError, OSError, pl.exceptions.PolarsError) as exc:
        if task.required:
            raise WarehouseError(f"{storage.location(task.key)}: cannot write: {exc}") from None
        log.debug("%s: summary not kept (%s)", storage.location(task.key), exc)


def run_tasks(ex: cf.Executor | None, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
    """``fn`` over ``tasks``, results in task order: inline one at a time (``ex`` None), or all
    submitted to ``ex`` (the rest cancelled if one fails)."""
    if ex is None:
        yield from map(fn, tasks)
        return
    futures = [ex.submit(fn, task) for task in tasks]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


# --- which days: read a kept summary, or summarise the hits -------------------------------------


@dataclass(frozen=True)
class DayPlan:
    """A day's summary: a kept one to read (``read``), or one to make (``task``)."""

    day: dt.date
    read: str | None = None
    task: DayTask | None = None


def plan_day(
    wh: Warehouse,
    day: dt.date,
    parts: Sequence[Part],
    *,
    config: Config,
    stored: set[str],
    window: bool,
    settings: str | None = None,
) -> DayPlan:
    """Read the day's summary if one for these parts and settings is kept, else make it.
    ``settings``: ``settings_key(config)``, if the caller has it."""
    settings = settings or settings_key(config)
    name = summary_name(parts_key(parts, window=window), settings, window=window)
    if name in stored:
        return DayPlan(day, read=summary_key(day, name))
    stale = tuple(
        summary_key(day, n) for n in sorted(stored) if same_kind(n, settings, window=window)
    )
    key = summary_key(day, name)
    return DayPlan(day, task=DayTask(day, wh, tuple(parts), config, window, key, stale))


def listed_parts(wh: Warehouse, manifest: Manifest, *, end: dt.date) -> dict[dt.date, list[Part]]:
    """The committed hits parts with store dates up to ``end``, per date (in date order)."""
    listed: dict[dt.date, list[Part]] = {}
    for part in wh.parts(HITS, end=end, manifest=manifest):
        listed.setdefault(part.date, []).append(part)
    return listed


@dataclass
class Days:
    """Every day of the store up to a month's end, as a report needs it."""

    #: the days of the report's month and previous month, whole
    full: dict[dt.date, DaySummary]
    #: every day's users: date, user, interaction_hits, last_local_ts and ``ev_<name>`` counts
    users: pl.DataFrame
    #: every day's date, hits and shifts
    totals: pl.DataFrame

    def shifts(self, *, since: dt.date | None) -> set[int]:
        """The shifts of the days from ``since`` on (all: None)."""
        frame = self.totals if since is None else self.totals.filter(pl.col("date") >= since)
        return set(frame.get_column("shifts").explode().drop_nulls().to_list())

    def first_day(self) -> dt.date | None:
        """The first day with a hit: where the store's data begins."""
        return self.totals.filter(pl.col("hits") > 0).get_column("date").min()  # type: ignore[return-value]


def _history_columns(config: Config) -> list[str]:
    return ["user", "interaction_hits", "last_local_ts", *(f"ev_{e.name}" for e in config.events)]


def _read(
    wh: Warehouse, plans: list[DayPlan], config: Config, *, whole: bool
) -> tuple[pl.DataFrame, list[DayPlan]]:
    """The kept summaries of ``plans`` as one frame (``whole``: every row and column, else the
    day and user rows' history columns), and the plans of the days whose summary could not be
    read (it vanished or is damaged: they are made again)."""
    keys = [p.read for p in plans if p.read is not None]
    kinds, columns = (
        (None, None) if whole else ((_DAY, _USER), ["hits", "shifts", *_history_columns(config)])
    )
    step = WHOLE_DAYS if whole else HISTORY_DAYS
    try:
        batches = [
            read_summaries(wh, keys[i : i + step], config, kinds=kinds, columns=columns)
            for i in range(0, len(keys), step)
        ]
        return pl.concat(batches), []
    except (OSError, pl.exceptions.PolarsError):
        pass  # one by one, to find the ones that fail
    frames, redo = [], []
    for plan in plans:
        assert plan.read is not None
        try:
            frames.append(read_summaries(wh, [plan.read], config, kinds=kinds, columns=columns))
        except (OSError, pl.exceptions.PolarsError) as exc:
            redo.append(plan)
            log.info("%s: cannot read (%s); the day is summarised again",
                     wh.storage.location(plan.read), exc)  # fmt: skip
    return pl.concat(frames) if frames else pl.DataFrame(), redo


def _history(summary: DaySummary, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A summary's user rows and day row, as ``Days.users`` and ``Days.totals`` hold them."""
    users = summary.users.select(pl.lit(summary.day).alias("date"), *_history_columns(config))
    totals = pl.DataFrame(
        {"date": [summary.day], "hits": [summary.hits], "shifts": [sorted(summary.shifts)]},
        schema=_TOTALS.schema,
    )
    return users, totals


def gather(
    ex: cf.Executor | None,
    wh: Warehouse,
    plans: list[DayPlan],
    *,
    config: Config,
    full: tuple[dt.date, dt.date],
    redo: Callable[[DayPlan], DayTask | None],
) -> Days:
    """Read or make every planned day's summary; the days within ``full`` whole, the others'
    users and totals only. ``redo`` gives the task of a day whose kept summary cannot be read
    (None: that day has no hits left to make it from, an error)."""
    days = Days({}, pl.DataFrame(), pl.DataFrame())
    users: list[pl.DataFrame] = []
    totals: list[pl.DataFrame] = []
    tasks = [p.task for p in plans if p.task is not None]
    for whole in (True, False):
        reads = [p for p in plans if p.read is not None and (full[0] <= p.day <= full[1]) == whole]
        if not reads:
            continue
        frame, failed = _read(wh, reads, config, whole=whole)
        for plan in failed:
            task = redo(plan)
            if task is None:
                raise WarehouseError(f"{wh.storage.location(str(plan.read))}: cannot be read")
            tasks.append(task)
        if not frame.height:
            continue
        if whole:
            for (day,), rows in frame.partition_by("date", as_dict=True).items():
                days.full[day] = from_frame(rows, day=day, config=config)
        else:
            kind = pl.col("kind")
            users.append(frame.filter(kind == _USER).select("date", *_history_columns(config)))
            totals.append(frame.filter(kind == _DAY).select("date", "hits", "shifts"))
    for summary in run_tasks(ex, summarize_day, tasks):
        if full[0] <= summary.day <= full[1]:
            days.full[summary.day] = summary
        else:
            user_rows, day_row = _history(summary, config)
            users.append(user_rows)
            totals.append(day_row)
    for summary in days.full.values():
        user_rows, day_row = _history(summary, config)
        users.append(user_rows)
        totals.append(day_row)
    days.users = pl.concat(users) if users else _history_users(config)
    days.users = days.users.sort("date", "user")
    days.totals = pl.concat(totals).sort("date") if totals else _TOTALS.clear()
    return days


_TOTALS = pl.DataFrame(
    schema={"date": pl.Date(), "hits": pl.Int64(), "shifts": pl.List(pl.Int64())}
)


def _history_users(config: Config) -> pl.DataFrame:
    schema = user_schema(config)
    return pl.DataFrame(
        schema={"date": pl.Date(), **{c: schema[c] for c in _history_columns(config)}}
    )


def _pass(
    ex: cf.Executor | None,
    wh: Warehouse,
    days: dict[dt.date, list[Part]],
    *,
    window: bool,
    pruned: list[DayPlan],
    stored: dict[dt.date, set[str]],
    config: Config,
    full: tuple[dt.date, dt.date],
) -> Days:
    """Every day of ``days`` (date -> the parts to read it from) and the ``pruned`` ones."""
    kw: dict[str, Any] = {"config": config, "window": window, "settings": settings_key(config)}
    plans = [
        plan_day(wh, day, parts, stored=stored.get(day, set()), **kw) for day, parts in days.items()
    ]

    def redo(plan: DayPlan) -> DayTask | None:
        if plan.day not in days or plan.read == pruned_key(plan.day):
            return None
        return plan_day(wh, plan.day, days[plan.day], stored=set(), **kw).task

    return gather(ex, wh, pruned + plans, config=config, full=full, redo=redo)


def day_summaries(
    ex: cf.Executor | None,
    wh: Warehouse,
    *,
    config: Config,
    manifest: Manifest,
    end: dt.date,
    full_from: dt.date,
) -> Days:
    """Every day of the store up to ``end``, those from ``full_from`` on whole.

    Each store date is a day. A store dated in another zone than the configured one (some
    hits' local dates are not their store dates) has its days made again, each local day from
    the store dates around it, so that a day's sessions are whole. Pruned days are their
    kept summaries, whatever settings made them.
    """
    cutoff = manifest.pruned_date
    listed = listed_parts(wh, manifest, end=end + SLACK)
    stored = stored_summaries(wh.storage)
    pruned = [
        DayPlan(day, read=pruned_key(day))
        for day, names in sorted(stored.items())
        if cutoff is not None and day < cutoff and day <= end and PRUNED in names
    ]
    common: dict[str, Any] = {"pruned": pruned, "stored": stored, "config": config,
                              "full": (full_from, end)}  # fmt: skip
    plain = {day: parts for day, parts in listed.items() if day <= end}
    days = _pass(ex, wh, plain, window=False, **common)
    shifts = days.shifts(since=cutoff)
    if not shifts - {0}:
        return days
    log.info("the store's dates are not %s's: summarising each day from its neighbours too",
             config.timezone)  # fmt: skip
    local = {
        d: parts for d, parts in _windows(listed, shifts, end=end) if not cutoff or d >= cutoff
    }
    return _pass(ex, wh, local, window=True, **common)


def _windows(
    listed: dict[dt.date, list[Part]], shifts: set[int], *, end: dt.date
) -> Iterator[tuple[dt.date, list[Part]]]:
    """Each local day up to ``end`` with the parts of the store dates its hits may be on."""
    if not listed:
        return
    day = min(listed) + dt.timedelta(days=min(shifts))
    while day <= end:
        parts = [
            part
            for shift in range(max(shifts), min(shifts) - 1, -1)
            for part in listed.get(day - dt.timedelta(days=shift), [])
        ]
        if parts:
            yield day, parts
        day += dt.timedelta(days=1)
