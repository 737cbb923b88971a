"""Build one month's report: read the store, interpret, sessionize, measure, join the allies.

The result is a typed ``MonthReport`` (model.py); rendering it is ``render``'s job. The report
depends only on the store's contents, the allies table and the configuration, so building it
twice gives the same report (its date is the store's last ingest, or ``SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

import polars as pl

from . import allies as allies_mod
from . import insights, warehouse
from .classify import HIT_COLUMNS, interactions, label_hits
from .config import Config, normalize_user
from .errors import ConfigError, InputError, NoDataError
from .metrics import components, rates, sum_components
from .model import (
    Coverage,
    DailyActivity,
    MatrixTable,
    MonthReport,
    Totals,
    UnknownUser,
)
from .sessions import sessionize

log = logging.getLogger(__name__)

_EPOCH_DATE = dt.date(1970, 1, 1)


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


def _hit_columns(config: Config) -> list[str]:
    cols = list(HIT_COLUMNS)
    if config.user_field.column not in cols:
        cols.append(config.user_field.column)
    return cols


def _read_hits(wh: Path, start: dt.date, end: dt.date, config: Config) -> pl.DataFrame:
    return warehouse.scan_hits(wh, start=start, end=end, columns=_hit_columns(config)).collect()


def _sessionized(hits: pl.DataFrame, config: Config) -> tuple[pl.DataFrame, pl.DataFrame]:
    labelled = label_hits(hits, config=config)
    return labelled, sessionize(interactions(labelled), config=config)


def _totals(sess: pl.DataFrame, config: Config) -> Totals:
    comp = components(sess, by="visitor", config=config)
    summed = sum_components(comp, config=config)
    r = rates(summed)
    users = sess.get_column("user").drop_nulls().n_unique()
    visitors = sess.get_column("visitor").n_unique()
    return Totals(
        sessions=int(summed["sessions"]),
        pageviews=int(summed["pageviews"]),
        unique_pageviews=int(summed["unique_pageviews"]),
        visitors=visitors,
        users=users,
        anonymous_visitors=visitors - users,
        bounces=int(summed["bounces"]),
        exits=int(summed["exits"]),
        time_on_page_seconds=float(summed["time_on_page"]),
        avg_time_on_page=r["tiempo_promedio"],
        bounce_rate=r["rebote"],
        exit_rate=r["salidas"],
        events={e.name: int(summed[f"ev_{e.name}"]) for e in config.events},
    )


def _last_connections(wh: Path, end: dt.date, config: Config, users: set[str]) -> pl.DataFrame:
    """Latest interaction hit per known user over the whole store up to ``end`` (Lima date)."""
    cols = _hit_columns(config)
    user_col = config.user_field.column
    lazy = warehouse.scan_hits(wh, start=_EPOCH_DATE, end=end, columns=cols)
    hits = lazy.filter(pl.col(user_col).is_not_null()).collect()
    if hits.is_empty():
        return pl.DataFrame(schema={"user": pl.Utf8, "last_local_ts": pl.Datetime("us")})
    inter = interactions(label_hits(hits, config=config))
    return (
        inter.filter(pl.col("user").is_in(list(users)))
        .group_by("user")
        .agg(pl.col("local_ts").max().alias("last_local_ts"))
    )


def _report_time(wh: Path, config: Config) -> dt.datetime:
    """The report's date: ``SOURCE_DATE_EPOCH`` if set, else when the store last changed."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        stamp = float(epoch)
    else:
        manifest = wh / "manifest.json"
        stamp = manifest.stat().st_mtime if manifest.exists() else wh.stat().st_mtime
    local = dt.datetime.fromtimestamp(stamp, tz=dt.UTC).astimezone(config.tz)
    return local.replace(tzinfo=None, microsecond=0)


def _matrix_rows(
    config: Config,
    ally_frame: pl.DataFrame,
    ally_comp: dict[tuple[str, str], dict[str, Any]],
    ally_last: dict[tuple[str, str], dt.datetime],
) -> list[MatrixTable]:
    tables: list[MatrixTable] = []
    zero = {name: 0 for name in ("sessions", "bounces", "pageviews", "unique_pageviews", "exits")}
    zero["time_on_page"] = 0.0
    for e in config.events:
        zero[f"ev_{e.name}"] = 0
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
    for key in ("ubigeo", "region", "provincia", "distrito", "entidad"):
        values[key] = ally.get(key) or ""
    for e in config.events:
        values[e.name] = int(comp[f"ev_{e.name}"])
    row = {c: values[c] for c in columns}
    row["_active"] = int(comp["sessions"]) > 0
    row["_tipo"] = ally.get("tipo", "")
    return row


def build_report(
    month: str,
    *,
    warehouse_dir: str | Path,
    allies: str | Path | pl.DataFrame,
    config: Config | None = None,
) -> MonthReport:
    """Build the typed report for ``month`` (``YYYY-MM``) from the store and the allies table.

    The allies table is validated first, so a bad table stops everything before any work.
    """
    config = config or Config()
    start, end = month_bounds(month)
    wh = Path(warehouse_dir)
    table = allies if isinstance(allies, pl.DataFrame) else allies_mod.load_allies(allies)
    table = table.with_columns(
        pl.col("usuario").map_elements(normalize_user, return_dtype=pl.Utf8).alias("usuario")
    )
    ally_frame = allies_mod.allies_frame(table)
    known = set(table.get_column("usuario").to_list())
    user_ally = {r["usuario"]: (r["ubigeo"], r["entidad"]) for r in table.iter_rows(named=True)}
    tipo_of = {(r["ubigeo"], r["entidad"]): r["tipo"] for r in ally_frame.iter_rows(named=True)}

    if not wh.is_dir():
        raise InputError(f"{wh}: no such warehouse directory (run 'logmetrics ingest' first)")
    hits = _read_hits(wh, start, end, config)
    if hits.is_empty():
        raise NoDataError(f"{wh}: no hits stored for {month}; ingest that month's logs first")
    labelled, sess = _sessionized(hits, config)

    # per ally: sum of its accounts' components
    user_comp = components(sess.filter(pl.col("user").is_in(list(known))), by="user", config=config)
    ally_comp: dict[tuple[str, str], dict[str, Any]] = {}
    by_ally: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(user_comp.get_column("user").to_list()):
        by_ally.setdefault(user_ally[u], []).append(i)
    for key, idx in by_ally.items():
        ally_comp[key] = sum_components(user_comp[idx], config=config)

    last = _last_connections(wh, end, config, known)
    ally_last: dict[tuple[str, str], dt.datetime] = {}
    for u, ts in last.iter_rows():
        key = user_ally[u]
        if key not in ally_last or ts > ally_last[key]:
            ally_last[key] = ts

    matrices = _matrix_rows(config, ally_frame, ally_comp, ally_last)

    human = labelled.filter(~pl.col("is_bot"))
    unknown_users = _unknown_users(human, sess, known)
    coverage = _coverage(wh, labelled, sess, start, end)
    daily = _daily(sess, start, end)
    logins_by_region = _logins_by_region(config, ally_frame, ally_comp)

    prev_totals = None
    p_start, p_end = month_bounds(previous_month(month))
    prev_hits = _read_hits(wh, p_start, p_end, config)
    if _covers_month(prev_hits, p_start, p_end, config):
        prev_totals = _totals(_sessionized(prev_hits, config)[1], config)

    known_sess = sess.filter(pl.col("user").is_in(list(known)))
    user_tipo = {u: tipo_of[user_ally[u]] for u in known}
    return MonthReport(
        month=f"{start.year:04d}-{start.month:02d}",
        period_start=start,
        period_end=end,
        generated_at=_report_time(wh, config),
        config=config,
        matrices=matrices,
        totals=_totals(sess, config),
        coverage=coverage,
        unknown_users=unknown_users,
        daily=daily,
        pages=insights.pages_table(known_sess, known_users=known),
        devices=insights.device_mix(known_sess, user_tipo=user_tipo),
        previous_totals=prev_totals,
        logins_by_region=logins_by_region,
    )


def _covers_month(hits: pl.DataFrame, start: dt.date, end: dt.date, config: Config) -> bool:
    """Whether the store holds that month as a whole, not a sliver (a few hits of its last night
    read from the next month's first log): hits within its first and its last three days."""
    if hits.is_empty():
        return False
    local = hits.get_column("ts").dt.convert_time_zone(config.timezone).dt.date()
    first, last = local.min(), local.max()
    slack = dt.timedelta(days=2)
    return bool(first <= start + slack and last >= end - slack)  # type: ignore[operator]


def _unknown_users(human: pl.DataFrame, sess: pl.DataFrame, known: set[str]) -> list[UnknownUser]:
    unknown = human.filter(pl.col("user").is_not_null() & ~pl.col("user").is_in(list(known)))
    if unknown.is_empty():
        return []
    hits = unknown.group_by("user").agg(
        pl.len().alias("hits"), pl.col("local_ts").max().alias("last_seen")
    )
    sessions = (
        sess.filter(pl.col("user").is_not_null())
        .group_by("user")
        .agg(pl.col("session").n_unique().alias("sessions"))
    )
    merged = hits.join(sessions, on="user", how="left").sort(
        ["hits", "user"], descending=[True, False]
    )
    return [
        UnknownUser(user=r["user"], hits=int(r["hits"]), sessions=int(r["sessions"] or 0),
                    last_seen=r["last_seen"])
        for r in merged.iter_rows(named=True)
    ]  # fmt: skip


def _coverage(
    wh: Path, labelled: pl.DataFrame, sess: pl.DataFrame, start: dt.date, end: dt.date
) -> Coverage:
    stats = warehouse.ingest_stats(wh, start=start, end=end)
    bots = int(labelled.get_column("is_bot").sum())
    return Coverage(
        first_hit=labelled.get_column("local_ts").min(),  # type: ignore[arg-type]
        last_hit=labelled.get_column("local_ts").max(),  # type: ignore[arg-type]
        hits=labelled.height,
        bot_hits=bots,
        human_hits=labelled.height - bots,
        interaction_hits=sess.height,
        files=labelled.get_column("source").n_unique(),
        lines_rejected=int(stats.get("lines_rejected", 0)),
    )


def _daily(sess: pl.DataFrame, start: dt.date, end: dt.date) -> list[DailyActivity]:
    per_day = {
        r["local_date"]: r
        for r in sess.group_by("local_date")
        .agg(
            pl.col("session").n_unique().alias("sessions"),
            pl.col("is_pageview").sum().alias("pageviews"),
            (pl.col("event") == "ingresos").sum().alias("logins"),
            pl.col("user").drop_nulls().n_unique().alias("users"),
        )
        .iter_rows(named=True)
    }
    out = []
    day = start
    while day <= end:
        r = per_day.get(day)
        out.append(
            DailyActivity(
                day=day,
                sessions=int(r["sessions"]) if r else 0,
                pageviews=int(r["pageviews"]) if r else 0,
                logins=int(r["logins"]) if r else 0,
                users=int(r["users"]) if r else 0,
            )
        )
        day += dt.timedelta(days=1)
    return out


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
