"""Build one month's report: read the store, interpret, sessionize, measure, join the allies.

The result is a typed ``MonthReport`` (model.py); rendering it is ``render``'s job. The report
depends only on the store's contents, the allies table and the configuration, so building it
twice gives the same report (its date is the store's last ingest, or ``SOURCE_DATE_EPOCH``).

On a Dask cluster (``scheduler``) or any executor, the reading, labelling and sessionizing is
one task per Lima day (``report_day``; sessions never cross midnight, so a day alone cuts the
same sessions), plus one task per older month for the last connections; the client merges the
days' sessions in the order and numbering one local ``sessionize`` gives, so every figure, and
every rendered byte, is the local run's.
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
from . import insights, warehouse
from .agents import IN_PROCESS, Classifier
from .classify import HIT_COLUMNS, INTERACTION_COLUMNS, interactions, label_hits
from .cluster import parse_address, warehouse_path
from .config import Config, normalize_user
from .errors import ConfigError, InputError, NoDataError, WarehouseError
from .localtime import local_times
from .metrics import components, rates, sum_components, zero_components
from .model import (
    Coverage,
    DailyActivity,
    MatrixTable,
    MonthReport,
    Totals,
    UnknownUser,
)
from .sessions import _SORT as SESSION_ORDER
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


def _read_hits(wh: warehouse.Root, start: dt.date, end: dt.date, config: Config) -> pl.DataFrame:
    return warehouse.scan_hits(wh, start=start, end=end, columns=_hit_columns(config)).collect()


def _sessionized(
    hits: pl.DataFrame, config: Config, agents: Classifier = IN_PROCESS
) -> tuple[pl.DataFrame, pl.DataFrame]:
    labelled = label_hits(hits, config=config, agents=agents)
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


def _last_of(inter: pl.DataFrame, users: set[str] | frozenset[str]) -> pl.DataFrame:
    """Latest interaction hit per known user in an interactions (or sessionized) frame."""
    return (
        inter.filter(pl.col("user").is_in(list(users)))
        .group_by("user")
        .agg(pl.col("local_ts").max().alias("last_local_ts"))
    )


def _no_last() -> pl.DataFrame:
    return pl.DataFrame(schema={"user": pl.Utf8, "last_local_ts": pl.Datetime("us")})


def _last_connections(
    wh: warehouse.Root, end: dt.date, config: Config, users: set[str],
    agents: Classifier = IN_PROCESS,
) -> pl.DataFrame:
    """Latest interaction hit per known user over the whole store up to ``end`` (Lima date)."""
    cols = _hit_columns(config)
    user_col = config.user_field.column
    lazy = warehouse.scan_hits(wh, start=_EPOCH_DATE, end=end, columns=cols)
    hits = lazy.filter(pl.col(user_col).is_not_null()).collect()
    if hits.is_empty():
        return _no_last()
    return _last_of(interactions(label_hits(hits, config=config, agents=agents)), users)


def _report_time(wh: warehouse.Root, config: Config) -> dt.datetime:
    """The report's date: ``SOURCE_DATE_EPOCH`` if set, else when the store last changed."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        stamp = float(epoch)
    elif isinstance(wh, warehouse.ObjectStore):
        stamp = warehouse.manifest_mtime(wh) or 0.0
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


@dataclass(frozen=True)
class HitSummary:
    """What the report needs of a period's hits (bots included) besides its sessions."""

    hits: int
    bot_hits: int
    first_local: dt.datetime | None
    last_local: dt.datetime | None
    sources: frozenset[str]
    #: human hits of user names the allies table does not know: user, hits, last_seen
    unknown: pl.DataFrame


def _summarize(labelled: pl.DataFrame, known: set[str] | frozenset[str]) -> HitSummary:
    human = labelled.select("user", "local_ts", "is_bot").filter(~pl.col("is_bot"))
    unknown = (
        human.filter(pl.col("user").is_not_null() & ~pl.col("user").is_in(list(known)))
        .group_by("user")
        .agg(pl.len().cast(pl.Int64).alias("hits"), pl.col("local_ts").max().alias("last_seen"))
    )
    local = labelled.get_column("local_ts")
    return HitSummary(
        hits=labelled.height,
        bot_hits=int(labelled.get_column("is_bot").sum()),
        first_local=local.min(),  # type: ignore[arg-type]
        last_local=local.max(),  # type: ignore[arg-type]
        sources=frozenset(labelled.get_column("source").unique().to_list()),
        unknown=unknown,
    )


def _combine(parts: list[HitSummary]) -> HitSummary:
    """One summary for several days: sums, extremes, union, unknown users re-aggregated."""
    firsts = [p.first_local for p in parts if p.first_local is not None]
    lasts = [p.last_local for p in parts if p.last_local is not None]
    frames = [p.unknown for p in parts]
    unknown = (
        pl.concat(frames).group_by("user").agg(pl.col("hits").sum(), pl.col("last_seen").max())
        if frames
        else pl.DataFrame(
            schema={"user": pl.Utf8, "hits": pl.Int64, "last_seen": pl.Datetime("us")}
        )
    )
    return HitSummary(
        hits=sum(p.hits for p in parts),
        bot_hits=sum(p.bot_hits for p in parts),
        first_local=min(firsts) if firsts else None,
        last_local=max(lasts) if lasts else None,
        sources=frozenset().union(*(p.sources for p in parts)),
        unknown=unknown,
    )


@dataclass
class _Month:
    """The month's sessions and summary, last connections, and the previous month if whole."""

    sess: pl.DataFrame
    summary: HitSummary
    last: pl.DataFrame  # user, last_local_ts: over the whole store up to the month's end
    prev_sess: pl.DataFrame | None


def _no_data(wh: warehouse.Root, month: str) -> NoDataError:
    return NoDataError(f"{wh}: no hits stored for {month}; ingest that month's logs first")


def _month_local(
    wh: warehouse.Root, month: str, start: dt.date, end: dt.date, config: Config, known: set[str],
    agents: Classifier = IN_PROCESS,
) -> _Month:
    hits = _read_hits(wh, start, end, config)
    if hits.is_empty():
        raise _no_data(wh, month)
    labelled, sess = _sessionized(hits, config, agents)
    del hits
    summary = _summarize(labelled, known)
    del labelled
    # the month's own interaction hits are already sessionized: read only older history
    before = start - dt.timedelta(days=1)
    last = _merge_last(
        [_last_of(sess, known), _last_connections(wh, before, config, known, agents)]
    )
    p_start, p_end = month_bounds(previous_month(month))
    prev_hits = _read_hits(wh, p_start, p_end, config)
    local = local_times(prev_hits.get_column("ts"), config.timezone).dt.date()
    prev_sess = None
    if _covers_month(local.min(), local.max(), p_start, p_end):  # type: ignore[arg-type]
        prev_sess = _sessionized(prev_hits, config, agents)[1]
    return _Month(sess, summary, last, prev_sess)


# --- one task per Lima day (executors, Dask) ---------------------------------------------------

#: Session ids of day d are offset by ``d.toordinal()`` times this: unique across days.
DAY_SESSION_STRIDE = 1_000_000_000


@dataclass(frozen=True)
class DayTask:
    """One Lima day of the store to read, interpret and sessionize.

    ``files`` are the committed parts the client listed, with their sizes (a worker that sees
    other files fails instead of reading them). ``last_only``: a span of older history, read
    only for the known users' last connections.
    """

    day: dt.date
    files: tuple[tuple[str, int], ...]
    config: Config
    known: frozenset[str]
    last_only: bool = False


@dataclass(frozen=True)
class DayResult:
    """A day's sessions (ids unique across days) and summary, and its users' last hits."""

    day: dt.date
    last: pl.DataFrame
    sess: pl.DataFrame | None = None
    summary: HitSummary | None = None
    #: every session row's Lima date is ``day`` (else the client re-sessionizes the period)
    exact: bool = True


def _read_files(files: tuple[tuple[str, int], ...], config: Config) -> pl.DataFrame:
    return warehouse.scan_listed(files, warehouse.HITS_SCHEMA, _hit_columns(config)).collect()


def report_day(task: DayTask) -> DayResult:
    """Read, interpret and sessionize one day's partition (a top-level task for any executor).

    Sessions never cross midnight, so a day sessionized alone cuts the same sessions as its
    whole month does.
    """
    config = task.config
    hits = _read_files(task.files, config)
    if task.last_only:
        hits = hits.filter(pl.col(config.user_field.column).is_not_null())
        if hits.is_empty():
            return DayResult(task.day, _no_last())
        return DayResult(
            task.day, _last_of(interactions(label_hits(hits, config=config)), task.known)
        )
    labelled, sess = _sessionized(hits, config)
    exact = bool(sess.get_column("local_date").eq(task.day).all())
    sess = sess.with_columns(pl.col("session") + task.day.toordinal() * DAY_SESSION_STRIDE)
    return DayResult(
        task.day, _last_of(sess, task.known), sess, _summarize(labelled, task.known), exact
    )


def _merge_sessions(days: list[DayResult], config: Config) -> pl.DataFrame:
    """The days' sessions as one ``sessionize`` of the period gives them (same order and ids)."""
    merged = pl.concat([d.sess for d in days if d.sess is not None])
    if not all(d.exact for d in days):  # the store's dates are not the config's time zone's
        return sessionize(merged.select(INTERACTION_COLUMNS), config=config)
    merged = merged.sort(list(SESSION_ORDER))
    new = pl.col("session") != pl.col("session").shift(1)
    return merged.with_columns(new.fill_null(True).cum_sum().cast(pl.Int64).alias("session"))


def _merge_last(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return _no_last()
    return pl.concat(frames).group_by("user").agg(pl.col("last_local_ts").max())


def _month_by_day(
    ex: cf.Executor,
    wh: warehouse.Root,
    month: str,
    start: dt.date,
    end: dt.date,
    config: Config,
    known: set[str],
) -> _Month:
    """The month, its previous month and older history as tasks: one per day, one per older
    month (last connections only); the client merges their small results."""
    p_start, p_end = month_bounds(previous_month(month))
    listed: dict[dt.date, list[tuple[str, int]]] = {}
    if isinstance(wh, warehouse.ObjectStore):
        for day, _, url, size in warehouse.committed_objects(wh, warehouse.HITS, end=end):
            listed.setdefault(day, []).append((url, size))
    else:
        try:
            for day, _, path in warehouse.committed_parts(wh, warehouse.HITS, end=end):
                listed.setdefault(day, []).append((str(path), path.stat().st_size))
        except OSError as exc:
            raise WarehouseError(f"{wh}: cannot list the store: {exc.strerror or exc}") from None
    if not any(day >= start for day in listed):
        raise _no_data(wh, month)
    users = frozenset(known)
    tasks: list[DayTask] = []
    history: dict[dt.date, list[tuple[str, int]]] = {}
    for day, files in sorted(listed.items()):
        if day >= p_start:
            tasks.append(DayTask(day, tuple(files), config, users))
        else:
            history.setdefault(day.replace(day=1), []).extend(files)
    tasks += [
        DayTask(first, tuple(files), config, users, last_only=True)
        for first, files in sorted(history.items())
    ]
    futures = [ex.submit(report_day, task) for task in tasks]
    try:
        results: list[DayResult] = [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    days = [r for r in results if r.sess is not None and r.day >= start]
    summary = _combine([r.summary for r in days if r.summary is not None])
    if summary.hits == 0:
        raise _no_data(wh, month)
    prev_days = [r for r in results if r.sess is not None and r.day < start]
    prev = _combine([r.summary for r in prev_days if r.summary is not None])
    prev_sess = None
    if (
        prev.first_local is not None
        and prev.last_local is not None
        and _covers_month(prev.first_local.date(), prev.last_local.date(), p_start, p_end)
    ):
        prev_sess = _merge_sessions(prev_days, config)
    return _Month(
        sess=_merge_sessions(days, config),
        summary=summary,
        last=_merge_last([r.last for r in results]),
        prev_sess=prev_sess,
    )


def build_report(
    month: str,
    *,
    warehouse_dir: str | Path,
    allies: str | Path | pl.DataFrame,
    config: Config | None = None,
    scheduler: str | None = None,
    executor: cf.Executor | None = None,
    agents: Classifier = IN_PROCESS,
) -> MonthReport:
    """Build the typed report for ``month`` (``YYYY-MM``) from the store and the allies table.

    The allies table is validated first, so a bad table stops everything before any work.
    With ``scheduler`` (a Dask scheduler address) or ``executor`` (any concurrent.futures
    Executor), each Lima day is read, interpreted and sessionized by its own task
    (``report_day``), and the client merges the results: the report is the same as a local one.
    ``agents`` classifies user agents for a local run (``agents.Helper`` for a one-shot process).
    """
    config = config or Config()
    start, end = month_bounds(month)
    wh = warehouse_path(warehouse_dir)
    if scheduler is not None:
        parse_address(scheduler)
        if executor is not None:
            raise ConfigError("build_report: give a scheduler or an executor, not both")
    table = allies if isinstance(allies, pl.DataFrame) else allies_mod.load_allies(allies)
    table = table.with_columns(
        pl.col("usuario").map_elements(normalize_user, return_dtype=pl.Utf8).alias("usuario")
    )
    ally_frame = allies_mod.allies_frame(table)
    known = set(table.get_column("usuario").to_list())
    user_ally = {r["usuario"]: (r["ubigeo"], r["entidad"]) for r in table.iter_rows(named=True)}
    tipo_of = {(r["ubigeo"], r["entidad"]): r["tipo"] for r in ally_frame.iter_rows(named=True)}

    if isinstance(wh, warehouse.ObjectStore):
        if not warehouse.exists(wh):
            raise InputError(
                f"{wh}: no warehouse there (no manifest; run 'logmetrics ingest' first)"
            )
    elif not wh.is_dir():
        raise InputError(f"{wh}: no such warehouse directory (run 'logmetrics ingest' first)")
    if scheduler is None and executor is None:
        data = _month_local(wh, month, start, end, config, known, agents)
    else:
        ex = executor
        if ex is None:
            from .cluster import dask_executor

            assert scheduler is not None
            ex = dask_executor(scheduler)
        try:
            data = _month_by_day(ex, wh, month, start, end, config, known)
        finally:
            if executor is None:
                ex.shutdown(wait=False, cancel_futures=True)
    sess = data.sess

    # per ally: sum of its accounts' components
    user_comp = components(sess.filter(pl.col("user").is_in(list(known))), by="user", config=config)
    ally_comp: dict[tuple[str, str], dict[str, Any]] = {}
    by_ally: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(user_comp.get_column("user").to_list()):
        by_ally.setdefault(user_ally[u], []).append(i)
    for key, idx in by_ally.items():
        ally_comp[key] = sum_components(user_comp[idx], config=config)

    ally_last: dict[tuple[str, str], dt.datetime] = {}
    for u, ts in data.last.iter_rows():
        key = user_ally[u]
        if key not in ally_last or ts > ally_last[key]:
            ally_last[key] = ts

    matrices = _matrix_rows(config, ally_frame, ally_comp, ally_last)

    unknown_users = _unknown_users(data.summary.unknown, sess)
    coverage = _coverage(wh, data.summary, sess, start, end)
    daily = _daily(sess, start, end)
    logins_by_region = _logins_by_region(config, ally_frame, ally_comp)
    prev_totals = _totals(data.prev_sess, config) if data.prev_sess is not None else None

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
        devices=insights.device_mix(known_sess, user_tipo=user_tipo, agents=agents),
        previous_totals=prev_totals,
        logins_by_region=logins_by_region,
    )


def _covers_month(
    first: dt.date | None, last: dt.date | None, start: dt.date, end: dt.date
) -> bool:
    """Whether the store holds that month as a whole, not a sliver (a few hits of its last night
    read from the next month's first log): Lima dates of its first and last hits within its
    first and its last three days."""
    if first is None or last is None:
        return False
    slack = dt.timedelta(days=2)
    return first <= start + slack and last >= end - slack


def _unknown_users(unknown: pl.DataFrame, sess: pl.DataFrame) -> list[UnknownUser]:
    if unknown.is_empty():
        return []
    sessions = (
        sess.filter(pl.col("user").is_not_null())
        .group_by("user")
        .agg(pl.col("session").n_unique().alias("sessions"))
    )
    merged = unknown.join(sessions, on="user", how="left").sort(
        ["hits", "user"], descending=[True, False]
    )
    return [
        UnknownUser(user=r["user"], hits=int(r["hits"]), sessions=int(r["sessions"] or 0),
                    last_seen=r["last_seen"])
        for r in merged.iter_rows(named=True)
    ]  # fmt: skip


def _coverage(
    wh: warehouse.Root, summary: HitSummary, sess: pl.DataFrame, start: dt.date, end: dt.date
) -> Coverage:
    stats = warehouse.ingest_stats(wh, start=start, end=end)
    return Coverage(
        first_hit=summary.first_local,
        last_hit=summary.last_local,
        hits=summary.hits,
        bot_hits=summary.bot_hits,
        human_hits=summary.hits - summary.bot_hits,
        interaction_hits=sess.height,
        files=len(summary.sources),
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
