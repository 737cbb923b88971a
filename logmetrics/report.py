"""Build one month's report: every day's summary, the month's days added up, the allies joined.

The result is a typed ``MonthReport`` (model.py); rendering it is ``render``'s job. The report
depends only on the store's contents, the allies table and the configuration, so building it
twice gives the same report (its date is the store's last ingest, or ``SOURCE_DATE_EPOCH``).

Every day of the store up to the month's end is one summary (``summaries``): kept in the
warehouse, or made by a task that reads that day's committed parts, labels and sessionizes
them and reduces them to small additive counts per user (report_day.py), never its hits or
sessions. The month's and the previous month's days are added up for the matrices; every
day's users give the known users' last connections and the last 12 months per ally
(``history``). Tasks run inline, on any ``concurrent.futures`` executor, or on a Dask
cluster: memory stays at a day's frames plus the counts, and every figure is the same.
"""

from __future__ import annotations

import calendar
import concurrent.futures as cf
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from . import allies as allies_mod
from .cluster import dask_executor, parse_address
from .config import Config, normalize_user
from .coverage import month_coverage, problems
from .errors import ConfigError, MonthPruned, NoDataError, PartialMonthError
from .history import month_history
from .insights import device_mix, pages_table
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
from .report_day import MonthCounts, counts, merge_last
from .summaries import Days, day_summaries
from .warehouse import Warehouse, open_warehouse

log = logging.getLogger(__name__)


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


# --- counting the month ----------------------------------------------------------------------


@dataclass
class _Counted:
    """The month's and the previous month's days added up, the known users' last connections
    over the whole store up to the month's end, and every day as the history needs it."""

    month: MonthCounts
    prev: MonthCounts
    last: pl.DataFrame
    days: Days


def _no_data(wh: Warehouse, month: str) -> NoDataError:
    return NoDataError(f"{wh}: no hits stored for {month}; ingest that month's logs first")


def _count(
    ex: cf.Executor | None, wh: Warehouse, month: str, config: Config, known: set[str]
) -> _Counted:
    """Every day's summary up to the month's end (``summaries.day_summaries``), the month's
    and the previous month's counted for the allies table's users."""
    start, end = month_bounds(month)
    p_start, _ = month_bounds(previous_month(month))
    manifest = wh.manifest()
    if not wh.parts(start=start, end=end, manifest=manifest):
        raise _no_data(wh, month)
    days = day_summaries(ex, wh, config=config, manifest=manifest, end=end, full_from=p_start)
    users = frozenset(known)
    counted, prev = MonthCounts(config), MonthCounts(config)
    for day, summary in sorted(days.full.items()):
        (counted if day >= start else prev).add(counts(summary, users, config))
    if counted.hits == 0:
        raise _no_data(wh, month)
    rows = days.users.filter(pl.col("user").is_in(sorted(users)))
    last = merge_last(
        [rows.filter(pl.col("last_local_ts").is_not_null()).select("user", "last_local_ts")]
    )
    return _Counted(counted, prev, last, days)


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
    cutoff = wh.manifest().pruned_date
    if cutoff is not None and start < cutoff:
        raise MonthPruned(str(wh), month=month, before=cutoff)
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
        history=month_history(
            month,
            config=config,
            days=counted.days,
            ally_frame=ally_frame,
            user_ally=user_ally,
            ally_last=ally_last,
        ),  # fmt: skip
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
