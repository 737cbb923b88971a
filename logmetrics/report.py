"""Build one month's report: one task per local day, the days' counts added up, the allies joined.

The result is a typed ``MonthReport`` (model.py); rendering it is ``render``'s job. The report
depends only on the store's contents, the allies table and the configuration, so building it
twice gives the same report (its date is the store's last ingest, or ``SOURCE_DATE_EPOCH``).

Each local day of the month and of the previous month is one task (``report_day``): it reads
that day's committed parts, labels and sessionizes them, and returns small additive counts
(report_day.py), never its hits or sessions; older history is read in bounded spans
(``report_history``) for the known users' last connections only. Tasks run inline, on any
``concurrent.futures`` executor, or on a Dask cluster, and the client adds their counts up in
any order: memory stays at a day's frames plus the counts, and every figure is the same.
"""

from __future__ import annotations

import calendar
import concurrent.futures as cf
import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from . import allies as allies_mod
from .classify import HIT_COLUMNS, label_hits
from .cluster import dask_executor, parse_address
from .config import Config, normalize_user
from .coverage import month_coverage, problems
from .errors import ConfigError, NoDataError, PartialMonthError
from .insights import device_mix, pages_table
from .layout import Part
from .metrics import rates, sum_components, zero_components
from .model import (
    Coverage,
    DailyActivity,
    LogCoverage,
    MatrixTable,
    MonthReport,
    Totals,
    UnknownUser,
)
from .report_day import (
    DayCounts,
    MonthCounts,
    day_counts,
    last_interactions,
    merge_last,
    visitor_groups,
)
from .warehouse import HITS, Warehouse, open_warehouse

log = logging.getLogger(__name__)

_EPOCH_DATE = dt.date(1970, 1, 1)
#: Store dates read beyond the month's end: a hit's local date is at most two days from its
#: store date whatever the two zones (UTC offsets span 26 hours).
_SLACK = dt.timedelta(days=2)
#: Parquet bytes of a day's parts that one group of its visitors may span: about a day of a
#: million-hit month. A busier day is read part by part and counted in groups of visitors, so
#: a task's frames stay that size whatever the month's (measured: it cut a 5M-hit month's
#: peak by ~20 MB, to ~235 MB max RSS; a 1M-hit month's is ~170 MB).
GROUP_BYTES = 1 << 20
#: Parquet bytes of older history one task reads at most (more if a single day is bigger):
#: about a busy day's, so history costs the memory of a day, not of a month.
HISTORY_TASK_BYTES = 4 << 20

T = TypeVar("T")
R = TypeVar("R")

#: A committed hits part: its location (a path or an object URL) and its size in bytes.


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """``"2022-03"`` -> (first day, last day); a clear error for anything else."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise ConfigError(f"--month: {month!r} is not a month like 2022-03")
    year, mon = int(m.group(1)), int(m.group(2))
    return dt.date(year, mon, 1), dt.date(year, mon, calendar.monthrange(year, mon)[1])


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    prev = start - dt.timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


# --- reading the store ---------------------------------------------------------------------


def _list_parts(wh: Warehouse, start: dt.date, end: dt.date) -> dict[dt.date, list[Part]]:
    """The committed hits parts with store dates in [start, end], per date (in date order)."""
    listed: dict[dt.date, list[Part]] = {}
    for part in wh.parts(HITS, start=start, end=end):
        listed.setdefault(part.date, []).append(part)
    return listed


def _hit_columns(config: Config) -> list[str]:
    cols = list(HIT_COLUMNS)
    if config.user_field.column not in cols:
        cols.append(config.user_field.column)
    return cols


# --- the tasks (top level, picklable arguments: inline, in threads or on Dask workers) ------


@dataclass(frozen=True)
class DayTask:
    """One local day to count: the parts to read, and whether they span other dates too."""

    day: dt.date
    warehouse: Warehouse
    parts: tuple[Part, ...]
    config: Config
    known: frozenset[str]
    #: the parts are those of the store dates around ``day`` (the store's dates are another
    #: zone's): only hits of local date ``day`` count
    window: bool = False


def report_day(task: DayTask) -> list[DayCounts]:
    """Read, label and sessionize one local day; return its counts (report_day.DayCounts), one
    per group of its visitors when its parts exceed ``GROUP_BYTES``."""
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
    counts = []
    for group in sorted(split):
        frames = split.pop(group)
        hits = pl.concat(frames, rechunk=False)
        del frames
        counts.append(
            day_counts(hits, day=task.day, config=config, known=task.known, window=task.window)
        )
    return counts


@dataclass(frozen=True)
class HistoryTask:
    """A span of older history, read only for the known users' last connections."""

    warehouse: Warehouse
    parts: tuple[Part, ...]
    config: Config
    known: frozenset[str]


def report_history(task: HistoryTask) -> pl.DataFrame:
    """Latest interaction per known user in a span of history: user, last_local_ts."""
    config = task.config
    hits = task.warehouse.read(task.parts, _hit_columns(config))
    hits = hits.filter(pl.col(config.user_field.column).is_not_null())
    return last_interactions(label_hits(hits, config=config), task.known)


def _history_spans(listed: dict[dt.date, list[Part]], before: dt.date) -> list[list[Part]]:
    """The parts of the store dates before ``before``, in spans of consecutive dates of at most
    ``HISTORY_TASK_BYTES`` (a bigger single date is a span of its own)."""
    spans: list[list[Part]] = []
    size = HISTORY_TASK_BYTES
    for day, parts in sorted(listed.items()):
        if day >= before:
            break
        day_size = sum(part.size for part in parts)
        if size + day_size > HISTORY_TASK_BYTES:
            spans.append([])
            size = 0
        spans[-1].extend(parts)
        size += day_size
    return spans


def _run(ex: cf.Executor | None, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
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


# --- counting the month ----------------------------------------------------------------------


@dataclass
class _Counted:
    """The month's and the previous month's days added up, and the known users' last
    connections over the whole store up to the month's end."""

    month: MonthCounts
    prev: MonthCounts
    last: pl.DataFrame


def _no_data(wh: Warehouse, month: str) -> NoDataError:
    return NoDataError(f"{wh}: no hits stored for {month}; ingest that month's logs first")


def _count_days(
    ex: cf.Executor | None, tasks: list[DayTask], start: dt.date, config: Config
) -> tuple[MonthCounts, MonthCounts]:
    """The days from ``start`` on, and those before it, each added up."""
    month, prev = MonthCounts(config), MonthCounts(config)
    for day in _run(ex, report_day, tasks):
        for counts in day:
            (month if counts.day >= start else prev).add(counts)
    return month, prev


def _count(
    ex: cf.Executor | None, wh: Warehouse, month: str, config: Config, known: set[str]
) -> _Counted:
    """One task per store date of the month and of the previous month, then per span of older
    history. A store dated in another zone than the configured one (some hits' local dates
    are not their store dates) has its days counted again, each from the store dates around
    it, so that a day's sessions are whole."""
    start, end = month_bounds(month)
    p_start, _ = month_bounds(previous_month(month))
    listed = _list_parts(wh, _EPOCH_DATE, end + _SLACK)
    if not any(start <= day <= end for day in listed):
        raise _no_data(wh, month)
    users = frozenset(known)
    tasks = [
        DayTask(day, wh, tuple(parts), config, users)
        for day, parts in listed.items()
        if p_start <= day <= end
    ]
    days, prev = _count_days(ex, tasks, start, config)
    shifts = days.shifts | prev.shifts
    if shifts - {0}:
        log.info("the store's dates are not %s's: counting each day from its neighbours too",
                 config.timezone)  # fmt: skip
        tasks = []
        for n in range((end - p_start).days + 1):
            day = p_start + dt.timedelta(days=n)
            parts = [
                part
                for shift in range(max(shifts), min(shifts) - 1, -1)
                for part in listed.get(day - dt.timedelta(days=shift), [])
            ]
            if parts:
                tasks.append(DayTask(day, wh, tuple(parts), config, users, window=True))
        days, prev = _count_days(ex, tasks, start, config)
        if days.hits == 0:
            raise _no_data(wh, month)
    history = [
        HistoryTask(wh, tuple(parts), config, users) for parts in _history_spans(listed, p_start)
    ]
    last = merge_last([days.last, prev.last, *_run(ex, report_history, history)])
    return _Counted(days, prev, last)


def build_report(
    month: str,
    *,
    warehouse_dir: str | Path,
    allies: str | Path | pl.DataFrame,
    config: Config | None = None,
    scheduler: str | None = None,
    executor: cf.Executor | None = None,
    allow_partial: bool = False,
) -> MonthReport:
    """Build the typed report for ``month`` (``YYYY-MM``) from the store and the allies table.

    The allies table is validated first, so a bad table stops everything before any work.
    A month the store's logs do not wholly cover (coverage.py) is a PartialMonthError before
    any day is counted, unless ``allow_partial``: then its report says so
    (``coverage.logs.gaps``). The day tasks run inline, on ``executor`` (any
    concurrent.futures Executor), or on the Dask cluster at ``scheduler``: the report is the
    same.
    """
    config = config or Config()
    start, end = month_bounds(month)
    wh = Warehouse.at(warehouse_dir)
    if scheduler is not None:
        parse_address(scheduler)
        if executor is not None:
            raise ConfigError("build_report: give a scheduler or an executor, not both")
    table = allies if isinstance(allies, pl.DataFrame) else allies_mod.load_allies(allies)
    table = table.with_columns(
        pl.col("usuario").map_elements(normalize_user, return_dtype=pl.Utf8).alias("usuario")
    )
    known = set(table.get_column("usuario").to_list())
    wh = open_warehouse(wh)
    logs = month_coverage(wh, start, config=config)
    if logs[0].partial and not allow_partial:
        if logs[0].first is None:
            raise _no_data(wh, month)
        raise PartialMonthError(logs[0].month, problems(logs[0]))
    if scheduler is None:
        counted = _count(executor, wh, month, config, known)
    else:
        ex = dask_executor(scheduler)
        try:
            counted = _count(ex, wh, month, config, known)
        finally:
            ex.shutdown(wait=False, cancel_futures=True)
    return _month_report(wh, month, config, table, counted, logs)


def _month_report(
    wh: Warehouse,
    month: str,
    config: Config,
    table: pl.DataFrame,
    counted: _Counted,
    logs: tuple[LogCoverage, LogCoverage],
) -> MonthReport:
    """The report from the counted days, the allies table (users normalised) and the coverage
    of the month and of the previous one: no comparison with or against a partial month."""
    start, end = month_bounds(month)
    ally_frame = allies_mod.allies_frame(table)
    user_ally = {r["usuario"]: (r["ubigeo"], r["entidad"]) for r in table.iter_rows(named=True)}
    tipo_of = {(r["ubigeo"], r["entidad"]): r["tipo"] for r in ally_frame.iter_rows(named=True)}
    days, prev = counted.month, counted.prev

    # per ally: sum of its accounts' components, latest of its accounts' connections
    user_comp = days.known.sort("user")
    by_ally: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(user_comp.get_column("user").to_list()):
        by_ally.setdefault(user_ally[u], []).append(i)
    ally_comp = {key: sum_components(user_comp[idx], config=config) for key, idx in by_ally.items()}
    ally_last: dict[tuple[str, str], dt.datetime] = {}
    for u, ts in counted.last.iter_rows():
        key = user_ally[u]
        if key not in ally_last or ts > ally_last[key]:
            ally_last[key] = ts

    compare = not (logs[0].partial or logs[1].partial)
    return MonthReport(
        month=f"{start.year:04d}-{start.month:02d}",
        period_start=start,
        period_end=end,
        generated_at=_report_time(wh, config),
        config=config,
        matrices=_matrix_rows(config, ally_frame, ally_comp, ally_last),
        totals=_totals(days, config),
        coverage=_coverage(wh, days, start, end, logs[0]),
        unknown_users=_unknown_users(days.unknown),
        daily=_daily(days, start, end),
        pages=pages_table(days.pages),
        devices=device_mix(days.agents, user_tipo={u: tipo_of[user_ally[u]] for u in user_ally}),
        previous_totals=_totals(prev, config) if compare else None,
        logins_by_region=_logins_by_region(config, ally_frame, ally_comp),
    )


def _totals(counts: MonthCounts, config: Config) -> Totals:
    """Figures over all human interaction hits (anonymous visitors included)."""
    summed = counts.totals
    r = rates(summed)
    visitors, users = counts.visitors(), counts.users.len()
    return Totals(
        sessions=summed["sessions"],
        pageviews=summed["pageviews"],
        unique_pageviews=summed["unique_pageviews"],
        visitors=visitors,
        users=users,
        anonymous_visitors=visitors - users,
        bounces=summed["bounces"],
        exits=summed["exits"],
        time_on_page_seconds=summed["time_on_page_us"] / 1_000_000,
        avg_time_on_page=r["tiempo_promedio"],
        bounce_rate=r["rebote"],
        exit_rate=r["salidas"],
        events={e.name: summed[f"ev_{e.name}"] for e in config.events},
    )


def _report_time(wh: Warehouse, config: Config) -> dt.datetime:
    """The report's date: ``SOURCE_DATE_EPOCH`` if set, else when the store last changed."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = float(epoch) if epoch and epoch.strip().isdigit() else wh.last_change() or 0.0
    local = dt.datetime.fromtimestamp(stamp, tz=dt.UTC).astimezone(config.tz)
    return local.replace(tzinfo=None, microsecond=0)


def _matrix_rows(
    config: Config,
    ally_frame: pl.DataFrame,
    ally_comp: dict[tuple[str, str], dict[str, Any]],
    ally_last: dict[tuple[str, str], dt.datetime],
) -> list[MatrixTable]:
    tables: list[MatrixTable] = []
    zero = zero_components(config)
    for spec in config.matrices:
        members = ally_frame.filter(pl.col("tipo").is_in(list(spec.tipos))).sort(
            ["ubigeo", "entidad"]
        )
        rows: list[dict[str, Any]] = []
        summed = dict(zero)
        last_all: dt.datetime | None = None
        for ally in members.iter_rows(named=True):
            key = (ally["ubigeo"], ally["entidad"])
            comp = ally_comp.get(key, zero)
            for k in summed:
                summed[k] += comp[k]
            last = ally_last.get(key)
            if last is not None and (last_all is None or last > last_all):
                last_all = last
            rows.append(_row(spec.columns, ally, comp, last, config))
        totals = _row(
            spec.columns,
            {"ubigeo": "", "region": "", "provincia": "", "distrito": "", "entidad": "Total",
             "tipo": ""},
            summed, last_all, config,
        )  # fmt: skip
        headers = [config.column_header(c) for c in spec.columns]
        tables.append(MatrixTable(spec=spec, headers=headers, rows=rows, totals=totals))
    return tables


def _row(
    columns: tuple[str, ...],
    ally: dict[str, Any],
    comp: dict[str, Any],
    last: dt.datetime | None,
    config: Config,
) -> dict[str, Any]:
    values: dict[str, Any] = rates(comp)
    values["ultima_conexion"] = last
    for key in ("ubigeo", "region", "provincia", "distrito", "entidad", "tipo"):
        values[key] = ally.get(key) or ""
    for e in config.events:
        values[e.name] = int(comp[f"ev_{e.name}"])
    row = {c: values[c] for c in columns}
    row["_active"] = int(comp["sessions"]) > 0
    row["_tipo"] = ally.get("tipo", "")
    row["_components"] = dict(comp)  # renderers total the rows a reader filters from these
    return row


def _unknown_users(unknown: pl.DataFrame) -> list[UnknownUser]:
    merged = unknown.sort(["hits", "user"], descending=[True, False])
    return [
        UnknownUser(user=r["user"], hits=int(r["hits"]), sessions=int(r["sessions"]),
                    last_seen=r["last_seen"])
        for r in merged.iter_rows(named=True)
    ]  # fmt: skip


def _coverage(
    wh: Warehouse, counts: MonthCounts, start: dt.date, end: dt.date, logs: LogCoverage
) -> Coverage:
    stats = wh.ingest_stats(start=start, end=end)
    return Coverage(
        first_hit=counts.first_local,
        last_hit=counts.last_local,
        hits=counts.hits,
        bot_hits=counts.bot_hits,
        human_hits=counts.hits - counts.bot_hits,
        interaction_hits=counts.interaction_hits,
        files=len(counts.sources),
        lines_rejected=int(stats.get("lines_rejected", 0)),
        logs=logs,
    )


def _daily(counts: MonthCounts, start: dt.date, end: dt.date) -> list[DailyActivity]:
    days = (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return [counts.daily.get(day) or DailyActivity(day, 0, 0, 0, 0) for day in days]


def _logins_by_region(
    config: Config, ally_frame: pl.DataFrame, ally_comp: dict[tuple[str, str], dict[str, Any]]
) -> list[tuple[str, int]]:
    if not any(e.name == "ingresos" for e in config.events):
        return []
    totals: dict[str, int] = {}
    for r in ally_frame.iter_rows(named=True):
        comp = ally_comp.get((r["ubigeo"], r["entidad"]))
        region = r["region"] or "(sin región)"
        totals[region] = totals.get(region, 0) + (int(comp["ev_ingresos"]) if comp else 0)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
