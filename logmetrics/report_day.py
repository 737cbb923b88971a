"""One local day of a month's report: label and sessionize its hits, keep only what adds up.

Sessions never cross midnight, so a day sessionized alone cuts the sessions its month would.
What a day gives its month (``DayCounts``) is small and additive: sums of whole numbers
(time on page in microseconds), minima and maxima, and distinct keys to unite; never the day's
hits or sessions. ``MonthCounts`` adds days up in any order, so the report's memory is a day's
frames plus these counts, whatever the month's size, and every figure equals the one a whole
month sessionized at once gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from .classify import interactions, label_hits
from .config import Config
from .insights import PAGE_COUNTS, page_counts, session_agents
from .metrics import component_names, components, zero_components
from .model import DailyActivity
from .sessions import sessionize

_UNKNOWN = pl.Schema(
    {"user": pl.Utf8(), "hits": pl.Int64(), "sessions": pl.Int64(), "last_seen": pl.Datetime("us")}
)
_LAST = pl.Schema({"user": pl.Utf8(), "last_local_ts": pl.Datetime("us")})


@dataclass(frozen=True)
class DayCounts:
    """What one local day adds to its month."""

    day: dt.date
    #: local date − ``day``, in days, over the hits read: {0} when the store's dates are the
    #: configured zone's (else the day's sessions are not whole: see report.build_report)
    shifts: frozenset[int]
    hits: int
    bot_hits: int
    first_local: dt.datetime | None
    last_local: dt.datetime | None
    sources: frozenset[str]
    interaction_hits: int
    #: components (metrics.components) over every visitor of the day
    totals: dict[str, int]
    #: distinct visitor keys and distinct user names: the month counts them across days
    visitors: pl.Series
    users: pl.Series
    #: human hits of users the allies table does not know: user, hits, sessions, last_seen
    unknown: pl.DataFrame
    #: known users' components, one row per user
    known: pl.DataFrame
    #: known users' last interaction (up to this day's end): user, last_local_ts
    last: pl.DataFrame
    #: insights.page_counts and insights.session_agents of known users
    pages: pl.DataFrame
    agents: pl.DataFrame
    daily: DailyActivity


def last_interactions(labelled: pl.DataFrame, known: Iterable[str]) -> pl.DataFrame:
    """Latest interaction hit per known user in labelled hits: user, last_local_ts."""
    return (
        interactions(labelled.filter(pl.col("user").is_in(list(known))))
        .group_by("user")
        .agg(pl.col("local_ts").max().alias("last_local_ts"))
    )


def day_counts(
    hits: pl.DataFrame, *, day: dt.date, config: Config, known: frozenset[str], window: bool
) -> DayCounts:
    """Label and sessionize the hits of local date ``day`` and reduce them to ``DayCounts``.

    ``window``: the hits are those of several store dates around ``day`` (the store's dates
    are another zone's): only the hits of local date ``day`` count, and those before it for
    the last interactions.
    """
    # a day repeats a few hundred user agents over its rows: as a categorical the column
    # (most of a day's bytes) weighs 4 bytes a row
    labelled = label_hits(
        hits.with_columns(pl.col("user_agent").cast(pl.Categorical)), config=config
    )
    del hits
    local_date = pl.col("local_date")
    shifts = labelled.select((local_date - pl.lit(day)).dt.total_days().unique())
    last = None
    if window:
        last = last_interactions(labelled.filter(local_date <= day), known)
        labelled = labelled.filter(local_date == day)
    sess = sessionize(interactions(labelled), config=config)
    known_sess = sess.filter(pl.col("user").is_in(list(known)))
    if last is None:
        last = known_sess.group_by("user").agg(pl.col("local_ts").max().alias("last_local_ts"))
    local = labelled.get_column("local_ts")
    return DayCounts(
        day=day,
        shifts=frozenset(shifts.to_series().to_list()),
        hits=labelled.height,
        bot_hits=int(labelled.get_column("is_bot").sum()),
        first_local=local.min(),  # type: ignore[arg-type]
        last_local=local.max(),  # type: ignore[arg-type]
        sources=frozenset(labelled.get_column("source").unique().to_list()),
        interaction_hits=sess.height,
        totals=_ints(components(sess, by=None, config=config).row(0, named=True), config),
        visitors=sess.get_column("visitor").unique(),
        users=sess.get_column("user").drop_nulls().unique(),
        unknown=_unknown(labelled, sess, known),
        known=components(known_sess, by="user", config=config).drop("last_local_ts"),
        last=last,
        pages=page_counts(known_sess, known_users=known),
        agents=session_agents(known_sess, known_users=known).with_columns(
            pl.col("user_agent").cast(pl.Utf8)
        ),
        daily=_daily(day, sess),
    )


def _ints(row: dict[str, Any], config: Config) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in component_names(config)}


def _unknown(labelled: pl.DataFrame, sess: pl.DataFrame, known: frozenset[str]) -> pl.DataFrame:
    """Human hits (and sessions) of user names the allies table does not know."""
    human = labelled.filter(
        ~pl.col("is_bot") & pl.col("user").is_not_null() & ~pl.col("user").is_in(list(known))
    )
    hits = human.group_by("user").agg(
        pl.len().cast(pl.Int64).alias("hits"), pl.col("local_ts").max().alias("last_seen")
    )
    sessions = sess.group_by("user").agg(
        pl.col("session").n_unique().cast(pl.Int64).alias("sessions")
    )
    return (
        hits.join(sessions, on="user", how="left")
        .with_columns(pl.col("sessions").fill_null(0))
        .select(list(_UNKNOWN))
    )


def _daily(day: dt.date, sess: pl.DataFrame) -> DailyActivity:
    return DailyActivity(
        day=day,
        sessions=sess.get_column("session").n_unique(),
        pageviews=int(sess.get_column("is_pageview").sum()),
        logins=int(sess.get_column("event").eq("ingresos").sum()),
        users=sess.get_column("user").drop_nulls().n_unique(),
    )


class MonthCounts:
    """The sum of a month's ``DayCounts`` (or of any set of days), added one day at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.days: list[dt.date] = []
        self.shifts: set[int] = set()
        self.hits = self.bot_hits = self.interaction_hits = 0
        self.first_local: dt.datetime | None = None
        self.last_local: dt.datetime | None = None
        self.sources: set[str] = set()
        self.totals = zero_components(config)
        self.visitors = pl.Series("visitor", [], dtype=pl.Utf8)
        self.users = pl.Series("user", [], dtype=pl.Utf8)
        self.unknown = pl.DataFrame(schema=_UNKNOWN)
        ints = dict.fromkeys(component_names(config), pl.Int64)
        self.known = pl.DataFrame(schema=pl.Schema({"user": pl.Utf8, **ints}))
        self.last = pl.DataFrame(schema=_LAST)
        counts = dict.fromkeys(PAGE_COUNTS, pl.Int64)
        self.pages = pl.DataFrame(schema=pl.Schema({"page": pl.Utf8, **counts}))
        self.agents = pl.DataFrame(
            schema={"user": pl.Utf8, "user_agent": pl.Utf8, "sessions": pl.Int64}
        )
        self.daily: dict[dt.date, DailyActivity] = {}

    def add(self, d: DayCounts) -> None:
        self.days.append(d.day)
        self.shifts |= d.shifts
        self.hits += d.hits
        self.bot_hits += d.bot_hits
        self.interaction_hits += d.interaction_hits
        if d.first_local is not None:
            self.first_local = min(d.first_local, self.first_local or d.first_local)
        if d.last_local is not None:
            self.last_local = max(d.last_local, self.last_local or d.last_local)
        self.sources |= d.sources
        for name, value in d.totals.items():
            self.totals[name] += value
        self.visitors = pl.concat([self.visitors, d.visitors]).unique()
        self.users = pl.concat([self.users, d.users]).unique()
        self.unknown = _summed(self.unknown, d.unknown, ["hits", "sessions"], maxima=["last_seen"])
        self.known = _summed(self.known, d.known, list(component_names(self.config)))
        self.last = merge_last([self.last, d.last])
        self.pages = _summed(self.pages, d.pages, list(PAGE_COUNTS), key="page")
        self.agents = _summed(self.agents, d.agents, ["sessions"], key=["user", "user_agent"])
        self.daily[d.day] = d.daily


def _summed(
    acc: pl.DataFrame,
    new: pl.DataFrame,
    sums: list[str],
    *,
    key: str | list[str] = "user",
    maxima: Iterable[str] = (),
) -> pl.DataFrame:
    """``acc`` and ``new`` as one frame: one row per key, columns summed (or their maximum)."""
    return (
        pl.concat([acc, new])
        .group_by(key)
        .agg(*(pl.col(c).sum() for c in sums), *(pl.col(c).max() for c in maxima))
    )


def merge_last(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Several (user, last_local_ts) frames as one: each user's latest."""
    return pl.concat(frames).group_by("user").agg(pl.col("last_local_ts").max())
