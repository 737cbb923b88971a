"""Metrics from the sessionized frame: additive components per group, then rates.

Rates are never averaged: an ally's (or the month's) figures come from its summed components
(page views, exits, time on page, sessions, bounces), exactly as GA computes them. Every
component is a whole number (time on page in microseconds), so a month's components are the
exact sums of its days'.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from .config import Config

#: The additive components, per group. ``last_local_ts`` is a max, not a sum.
COMPONENTS = (
    "sessions", "bounces", "pageviews", "unique_pageviews", "exits", "time_on_page_us",
)  # fmt: skip


def components(sessionized: pl.DataFrame, *, by: str | None, config: Config) -> pl.DataFrame:
    """One row per value of ``by`` (one row for the whole frame if None) with the additive
    components and one count per event.

    Schema: ``by``, sessions, bounces, pageviews, unique_pageviews, exits, time_on_page_us
    (Int64 microseconds), ``ev_<name>`` per event rule (Int64), last_local_ts.
    A session belongs to one visitor, so grouping by ``user`` or ``visitor`` never splits one.
    """
    pv = pl.col("is_pageview")
    aggs: list[pl.Expr] = [
        pl.col("session").n_unique().cast(pl.Int64).alias("sessions"),
        pl.col("session")
        .filter(pl.col("session_hits") == 1)
        .n_unique()
        .cast(pl.Int64)
        .alias("bounces"),
        pv.sum().cast(pl.Int64).alias("pageviews"),
        pl.struct("session", "page").filter(pv).n_unique().cast(pl.Int64).alias("unique_pageviews"),
        pl.col("is_exit").sum().cast(pl.Int64).alias("exits"),
        pl.col("time_on_page_us").sum().cast(pl.Int64).alias("time_on_page_us"),
        pl.col("local_ts").max().alias("last_local_ts"),
    ]
    for rule in config.events:
        aggs.append((pl.col("event") == rule.name).sum().cast(pl.Int64).alias(f"ev_{rule.name}"))
    if by is None:
        return sessionized.select(aggs)
    return sessionized.group_by(by).agg(aggs).sort(by)


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percentage(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator × 100`` rounded half up to two decimals; None when dividing by 0."""
    if not denominator:
        return None
    return float(round_half_up(Decimal(numerator) * 100 / Decimal(denominator), 2))


def average_time_on_page(time_on_page_us: int, pageviews: int, exits: int) -> int:
    """Σ time on page (µs) ÷ (page views − exits), in whole seconds rounded half up; 0 when
    undefined."""
    divisor = pageviews - exits
    if divisor <= 0:
        return 0
    return int(round_half_up(Decimal(int(time_on_page_us)).scaleb(-6) / Decimal(divisor), 0))


def rates(row: dict[str, Any]) -> dict[str, Any]:
    """From summed components to the report's typed metric values (model.py conventions)."""
    pageviews = int(row.get("pageviews") or 0)
    exits = int(row.get("exits") or 0)
    return {
        "vistas": pageviews,
        "vistas_unicas": int(row.get("unique_pageviews") or 0),
        "sesiones": int(row.get("sessions") or 0),
        "tiempo_promedio": average_time_on_page(row.get("time_on_page_us") or 0, pageviews, exits),
        "rebote": percentage(int(row.get("bounces") or 0), int(row.get("sessions") or 0)),
        "salidas": percentage(exits, pageviews),
    }


def component_names(config: Config) -> tuple[str, ...]:
    """The additive components plus one ``ev_<name>`` count per event rule."""
    return (*COMPONENTS, *(f"ev_{r.name}" for r in config.events))


def zero_components(config: Config) -> dict[str, Any]:
    """The components of a group with no interaction hit (an idle ally)."""
    return dict.fromkeys(component_names(config), 0)


def sum_components(frame: pl.DataFrame, *, config: Config) -> dict[str, Any]:
    """Add up the components of several groups (e.g. an ally's accounts, or a whole matrix)."""
    return {
        name: int(frame.get_column(name).sum() or 0) if name in frame.columns else 0
        for name in component_names(config)
    }


def format_duration(seconds: int) -> str:
    """Whole seconds as ``HH:MM:SS`` (hours may exceed 24)."""
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
