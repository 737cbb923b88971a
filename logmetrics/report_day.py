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

from .classify import interactions, is_interaction, label_hits, user_names
from .config import Config
from .insights import PAGE_SCHEMA, add_page_counts, page_counts, session_agents
from .metrics import component_names, components, zero_components
from .model import DailyActivity
from .sessions import sessionize

_UNKNOWN = pl.Schema(
    {"user": pl.Utf8(), "hits": pl.Int64(), "sessions": pl.Int64(), "last_seen": pl.Datetime("us")}
)
_LAST = pl.Schema({"user": pl.Utf8(), "last_local_ts": pl.Datetime("us")})


@dataclass(frozen=True)
class DayCounts:
    """What one local day (or one group of its visitors) adds to its month."""

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
    #: distinct user names, and distinct (remote_addr, user_agent) of anonymous visitors (nulls
    #: as ""): the month counts its visitors across days
    users: pl.Series
    anonymous: pl.DataFrame
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


def visitor_groups(hits: pl.DataFrame, *, groups: int, config: Config) -> dict[int, pl.DataFrame]:
    """The hits split into up to ``groups`` frames, each holding every hit of its visitors: a
    session belongs to one visitor, so each frame is sessionized alone and their counts add
    up to the whole's.

    A user's hits go by a hash of the user, an anonymous visitor's by a hash of its address
    (its key is ``anon:<ip>|<user agent>``). A user named like such a key would be that
    visitor: a day with one is not split.
    """
    if groups <= 1:
        return {0: hits}
    users = user_names(hits, config=config)
    if users.str.starts_with("anon:").any():
        return {0: hits}
    address = hits.get_column("remote_addr").fill_null("")
    key = pl.select(pl.when(users.is_not_null()).then(users.hash()).otherwise(address.hash()))
    group = (key.to_series() % groups).alias("_group")
    split = hits.with_columns(group).partition_by("_group", as_dict=True, include_key=False)
    return {int(k[0]): frame for k, frame in split.items()}


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
    labelled = label_hits(hits, config=config)
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
        users=sess.get_column("user").drop_nulls().unique(),
        anonymous=labelled.filter(is_interaction() & pl.col("user").is_null())
        .select(
            pl.col("remote_addr").fill_null(""),
            pl.col("user_agent").cast(pl.Utf8).fill_null(""),
        )
        .unique(),
        unknown=_unknown(labelled, sess, known),
        known=components(known_sess, by="user", config=config).drop("last_local_ts"),
        last=last,
        pages=page_counts(known_sess, known_users=known, groups=config.page_groups),
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
        self.shifts: set[int] = set()
        self.hits = self.bot_hits = self.interaction_hits = 0
        self.first_local: dt.datetime | None = None
        self.last_local: dt.datetime | None = None
        self.sources: set[str] = set()
        self.totals = zero_components(config)
        self.users = pl.Series("user", [], dtype=pl.Utf8)
        #: anonymous visitors as (remote_addr, number of the user agent in ``_agents``): a
        #: month's hundreds of thousands of them, kept as text, weighed more than a day's work
        self.anonymous = pl.DataFrame(schema={"remote_addr": pl.Utf8, "agent": pl.UInt32})
        self._agents: dict[str, int] = {}
        self._pending: list[pl.DataFrame] = []  # not yet in ``anonymous``: merged when they
        self._pending_rows = 0  # outnumber it, so each visitor is merged a few times at most
        self.unknown = pl.DataFrame(schema=_UNKNOWN)
        ints = dict.fromkeys(component_names(config), pl.Int64)
        self.known = pl.DataFrame(schema=pl.Schema({"user": pl.Utf8, **ints}))
        self.last = pl.DataFrame(schema=_LAST)
        self.pages = pl.DataFrame(schema=PAGE_SCHEMA)
        self.agents = pl.DataFrame(
            schema={"user": pl.Utf8, "user_agent": pl.Utf8, "sessions": pl.Int64}
        )
        self.daily: dict[dt.date, DailyActivity] = {}

    def add(self, d: DayCounts) -> None:
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
        self.users = pl.concat([self.users, d.users]).unique()
        if d.anonymous.height:
            self._add_anonymous(d.anonymous)
        self.unknown = _summed(self.unknown, d.unknown, ["hits", "sessions"], maxima=["last_seen"])
        self.known = _summed(self.known, d.known, list(component_names(self.config)))
        self.last = merge_last([self.last, d.last])
        self.pages = add_page_counts(self.pages, d.pages)
        self.agents = _summed(self.agents, d.agents, ["sessions"], key=["user", "user_agent"])
        was = self.daily.get(d.day)
        self.daily[d.day] = d.daily if was is None else _added(was, d.daily)

    def _add_anonymous(self, anonymous: pl.DataFrame) -> None:
        for agent in anonymous.get_column("user_agent").unique().to_list():
            self._agents.setdefault(agent, len(self._agents))
        agents = pl.Series(list(self._agents), dtype=pl.Utf8)
        numbers = pl.int_range(agents.len(), dtype=pl.UInt32, eager=True)
        numbered = anonymous.select(
            "remote_addr", pl.col("user_agent").replace_strict(agents, numbers).alias("agent")
        )
        self._pending.append(numbered)
        self._pending_rows += numbered.height
        if self._pending_rows > max(self.anonymous.height, 1 << 16):
            self._merge_anonymous()

    def _merge_anonymous(self) -> None:
        self.anonymous = pl.concat([self.anonymous, *self._pending]).unique()
        self._pending, self._pending_rows = [], 0

    def visitors(self) -> int:
        """Distinct visitors: users and anonymous visitors (a user named as an anonymous
        visitor's key, ``anon:<ip>|<user agent>``, is that visitor)."""
        self._merge_anonymous()
        count = self.users.len() + self.anonymous.height
        odd = self.users.filter(self.users.str.starts_with("anon:"))
        if odd.len():
            agents = pl.Series(list(self._agents), dtype=pl.Utf8)
            keys = self.anonymous.select(
                pl.concat_str(
                    pl.lit("anon:"), "remote_addr", pl.lit("|"), pl.lit(agents).gather("agent")
                )
            ).to_series()
            count -= int(odd.is_in(keys).sum())
        return count


def _added(a: DailyActivity, b: DailyActivity) -> DailyActivity:
    """Two groups of one day's visitors (their users are distinct)."""
    return DailyActivity(
        day=a.day,
        sessions=a.sessions + b.sessions,
        pageviews=a.pageviews + b.pageviews,
        logins=a.logins + b.logins,
        users=a.users + b.users,
    )


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
