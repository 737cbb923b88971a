"""The last 12 months per ally: each month's logins, and how long the ally has been idle.

The training team sorts allies by "Meses consecutivos sin actividad" to find those that stopped
using the application. Both come from every day's summary (``summaries.Days``): the months'
counts of the ``ingresos`` event per user, added up per ally; the months without activity from
the ally's last connection (the months after it, up to the reported one), or, for an ally that
never had an interaction hit, every month since the store's first data. A month the store
holds no data of (before its first data, or a gap in the logs) is "sin datos" (None), not 0.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from .config import Config
from .model import History, HistoryRow, HistoryTable

if TYPE_CHECKING:
    from .summaries import Days

#: The event whose monthly count the history shows.
EVENT = "ingresos"
MONTHS = 12
_ALLY = ("ubigeo", "region", "provincia", "distrito", "entidad", "tipo")


def _index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def last_months(month: str, n: int = MONTHS) -> list[str]:
    """The ``n`` months ending with ``month`` (``YYYY-MM``), oldest first."""
    end = _index(dt.date.fromisoformat(f"{month}-01"))
    return [_month(i) for i in range(end - n + 1, end + 1)]


def idle_months(month: str, *, last: dt.datetime | None, first_day: dt.date) -> int:
    """Months up to and including ``month`` after the one of ``last`` (the last connection);
    without one, every month from the one of ``first_day`` on."""
    end = _index(dt.date.fromisoformat(f"{month}-01"))
    if last is not None:
        return end - _index(last.date())
    return end - _index(first_day) + 1


def month_history(
    month: str,
    *,
    config: Config,
    days: Days,
    ally_frame: pl.DataFrame,
    user_ally: dict[str, tuple[str, str]],
    ally_last: dict[tuple[str, str], dt.datetime],
) -> History | None:
    """The last 12 months of every ally of the matrices; None without an ``ingresos`` event.

    ``days`` holds every day up to ``month``'s end, ``user_ally`` the (normalised) user names'
    allies (ubigeo, entidad), ``ally_last`` each ally's last connection.
    """
    event = next((e for e in config.events if e.name == EVENT), None)
    first_day = days.first_day()
    if event is None or first_day is None:
        return None
    months = last_months(month)
    with_data = set(
        days.totals.filter(pl.col("hits") > 0)
        .select(pl.col("date").dt.strftime("%Y-%m"))
        .to_series()
        .to_list()
    )
    owners = pl.DataFrame(
        [(u, k[0], k[1]) for u, k in user_ally.items()],
        schema={"user": pl.Utf8, "ubigeo": pl.Utf8, "entidad": pl.Utf8},
        orient="row",
    )
    per_month = (
        days.users.with_columns(pl.col("date").dt.strftime("%Y-%m").alias("month"))
        .filter(pl.col("month").is_in(months))
        .join(owners, on="user")
        .group_by("ubigeo", "entidad", "month")
        .agg(
            pl.col(f"ev_{event.name}").sum().alias("count"),
            pl.col("interaction_hits").sum().alias("interactions"),
        )
    )
    found = {
        (r["ubigeo"], r["entidad"], r["month"]): (int(r["count"]), int(r["interactions"]))
        for r in per_month.iter_rows(named=True)
    }
    tables = []
    for spec in config.matrices:
        members = ally_frame.filter(pl.col("tipo").is_in(list(spec.tipos))).sort(
            ["ubigeo", "entidad"]
        )
        rows = []
        active = [0 if m in with_data else None for m in months]
        for ally in members.iter_rows(named=True):
            key = (ally["ubigeo"], ally["entidad"])
            values: list[int | None] = []
            for i, m in enumerate(months):
                count, interactions = found.get((*key, m), (0, 0))
                values.append(count if m in with_data else None)
                if interactions and active[i] is not None:
                    active[i] = (active[i] or 0) + 1
            rows.append(
                HistoryRow(
                    ally={k: ally.get(k) or "" for k in _ALLY},
                    values=values,
                    idle_months=idle_months(month, last=ally_last.get(key), first_day=first_day),
                )
            )
        tables.append(HistoryTable(spec=spec, rows=rows, active=active))
    return History(
        months=months, with_data=[m in with_data for m in months], first_day=first_day,
        event=event.name, label=event.label, tables=tables,
    )  # fmt: skip
