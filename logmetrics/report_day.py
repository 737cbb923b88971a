"""One local day of the store reduced to what reports need: its ``DaySummary``, and its counts.

Sessions never cross midnight, so a day sessionized alone cuts the sessions its month would.
A day's ``DaySummary`` is small, additive and independent of the allies table: per user name
(known to the table or not) the metric components, the interaction and human hits and the last
interaction; per user the pages and the user agents sessions began with; the anonymous
visitors as keys (a hash, not their address and user agent); the day's totals. Never its hits
or sessions. ``counts`` narrows a summary to one allies table (``DayCounts``), and
``MonthCounts`` adds days up in any order, so a report's memory is a day's frames plus these
counts, and every figure equals the one a whole month sessionized at once gives. Summaries are
kept in the warehouse (``summaries``): a day is read from its hits once per content and
interpretation settings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
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
#: A day's users: the columns besides the components (metrics.component_names).
USER_COLUMNS = pl.Schema(
    {
        "user": pl.Utf8(),
        "interaction_hits": pl.Int64(),
        "human_hits": pl.Int64(),
        "last_seen": pl.Datetime("us"),
        "last_local_ts": pl.Datetime("us"),
    }
)
AGENT_COLUMNS = pl.Schema({"user": pl.Utf8(), "user_agent": pl.Utf8(), "sessions": pl.Int64()})
ANONYMOUS = "anon"


def user_schema(config: Config) -> pl.Schema:
    """The columns of ``DaySummary.users``: who, then one Int64 per component."""
    return pl.Schema({**USER_COLUMNS, **dict.fromkeys(component_names(config), pl.Int64())})


def page_schema(*, per_user: bool) -> pl.Schema:
    """The columns of page counts (``insights.PAGE_SCHEMA``), per ``user`` too if asked."""
    head = {"user": pl.Utf8()} if per_user else {}
    return pl.Schema({**head, **PAGE_SCHEMA})


@dataclass(frozen=True)
class DayFigures:
    """What a day is whatever the allies table: its hits, their extremes and totals."""

    day: dt.date
    #: local date − ``day``, in days, over the hits read: {0} when the store's dates are the
    #: configured zone's (else the day's sessions are not whole: see summaries.day_summaries)
    shifts: frozenset[int]
    hits: int
    bot_hits: int
    first_local: dt.datetime | None
    last_local: dt.datetime | None
    sources: frozenset[str]
    interaction_hits: int
    #: components (metrics.components) over every visitor of the day
    totals: dict[str, int]
    daily: DailyActivity


@dataclass(frozen=True)
class DaySummary(DayFigures):
    """What one local day holds for any report, whatever the allies table."""

    #: one row per user name with a human hit (or, for a day read with its neighbours, an
    #: earlier interaction): ``user_schema``; interaction_hits 0 for one without interactions
    users: pl.DataFrame
    #: distinct anonymous visitors: a stable 64-bit hash of each one's ``anon:<ip>|<ua>`` key
    anonymous: pl.Series
    #: per user: insights.page_counts and insights.session_agents
    pages: pl.DataFrame
    agents: pl.DataFrame


@dataclass(frozen=True)
class DayCounts(DayFigures):
    """What one local day adds to its month, for one allies table."""

    #: distinct user names, and the anonymous visitors' keys: the month counts its visitors
    #: across days
    users: pl.Series
    anonymous: pl.Series
    #: human hits of users the allies table does not know: user, hits, sessions, last_seen
    unknown: pl.DataFrame
    #: known users' components, one row per user
    known: pl.DataFrame
    #: known users' last interaction (up to this day's end): user, last_local_ts
    last: pl.DataFrame
    #: insights.page_counts and insights.session_agents of known users
    pages: pl.DataFrame
    agents: pl.DataFrame


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


def visitor_keys(keys: Iterable[str]) -> pl.Series:
    """Visitor keys (``anon:<ip>|<user agent>``) as stable 64-bit hashes: what a summary
    keeps of anonymous visitors, to count them across days without their address (polars'
    own hash may change between versions; kept summaries must not)."""
    digests = (hashlib.blake2b(k.encode("utf-8", "surrogatepass"), digest_size=8).digest()
               for k in keys)  # fmt: skip
    return pl.Series(ANONYMOUS, [int.from_bytes(d, "big") for d in digests], dtype=pl.UInt64)


def _anonymous(labelled: pl.DataFrame) -> pl.Series:
    """The day's distinct anonymous visitors (interaction hits without a user), hashed."""
    keys = (
        labelled.filter(is_interaction() & pl.col("user").is_null())
        .select(
            pl.concat_str(
                pl.lit("anon:"),
                pl.col("remote_addr").fill_null(""),
                pl.lit("|"),
                pl.col("user_agent").cast(pl.Utf8).fill_null(""),
            ).alias("key")
        )
        .unique()
        .get_column("key")
        .sort()
    )
    return visitor_keys(keys.to_list())


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in buffers of its own. Polars' text columns are views: a day's few hundred
    user names or pages, gathered from its hits, keep all their text alive (measured: ~0.4 MB
    a day, 150 MB over a year's summaries), so a summary copies them out."""
    table = pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(table, pl.DataFrame)
    return table


def _last_interactions(labelled: pl.DataFrame) -> pl.DataFrame:
    """Latest interaction hit per user in labelled hits: user, last_local_ts."""
    return (
        interactions(labelled.filter(pl.col("user").is_not_null()))
        .group_by("user")
        .agg(pl.col("local_ts").max().alias("last_local_ts"))
    )


def _users(
    labelled: pl.DataFrame, named: pl.DataFrame, earlier: pl.DataFrame | None, config: Config
) -> pl.DataFrame:
    """One row per user with a human hit: components of its sessions (``named``: the day's
    sessions of users), interaction and human hits, last human hit and last interaction
    (also from ``earlier`` days read with this one)."""
    human = (
        labelled.filter(~pl.col("is_bot") & pl.col("user").is_not_null())
        .group_by("user")
        .agg(
            pl.len().cast(pl.Int64).alias("human_hits"),
            pl.col("local_ts").max().alias("last_seen"),
        )
    )
    comp = components(named, by="user", config=config).join(
        named.group_by("user").agg(pl.len().cast(pl.Int64).alias("interaction_hits")),
        on="user",
    )
    users = human.join(comp, on="user", how="left")
    if earlier is not None:
        users = users.join(
            earlier.rename({"last_local_ts": "_earlier"}), on="user", how="full", coalesce=True
        ).with_columns(pl.max_horizontal("last_local_ts", "_earlier").alias("last_local_ts"))
    schema = user_schema(config)
    counts = [c for c, t in schema.items() if t == pl.Int64()]
    return _compact(
        users.with_columns(pl.col(counts).fill_null(0)).select(list(schema)).sort("user")
    )


def day_summary(hits: pl.DataFrame, *, day: dt.date, config: Config, window: bool) -> DaySummary:
    """Label and sessionize the hits of local date ``day`` and reduce them to a ``DaySummary``.

    ``window``: the hits are those of several store dates around ``day`` (the store's dates
    are another zone's): only the hits of local date ``day`` count, and those before it for
    the last interactions.
    """
    labelled = label_hits(hits, config=config)
    del hits
    local_date = pl.col("local_date")
    shifts = labelled.select((local_date - pl.lit(day)).dt.total_days().unique())
    earlier = None
    if window:
        earlier = _last_interactions(labelled.filter(local_date < day))
        labelled = labelled.filter(local_date == day)
    sess = sessionize(interactions(labelled), config=config)
    named = sess.filter(pl.col("user").is_not_null())
    everyone = named.get_column("user").unique().to_list()
    local = labelled.get_column("local_ts")
    return DaySummary(
        day=day,
        shifts=frozenset(shifts.to_series().to_list()),
        hits=labelled.height,
        bot_hits=int(labelled.get_column("is_bot").sum()),
        first_local=local.min(),  # type: ignore[arg-type]
        last_local=local.max(),  # type: ignore[arg-type]
        sources=frozenset(labelled.get_column("source").unique().to_list()),
        interaction_hits=sess.height,
        totals=_ints(components(sess, by=None, config=config).row(0, named=True), config),
        daily=_daily(day, sess),
        users=_users(labelled, named, earlier, config),
        anonymous=_anonymous(labelled),
        pages=_compact(
            page_counts(
                named, known_users=everyone, groups=config.page_groups, per_user=True
            ).sort("user", "page")
        ),
        agents=_compact(
            session_agents(named, known_users=everyone)
            .with_columns(pl.col("user_agent").cast(pl.Utf8))
            .sort("user", "user_agent")
        ),
    )


def merged(groups: list[DaySummary]) -> DaySummary:
    """One day's summary from those of groups of its visitors (``visitor_groups``: each user,
    and each anonymous visitor, is in one group)."""
    if len(groups) == 1:
        return groups[0]
    firsts = [g.first_local for g in groups if g.first_local is not None]
    lasts = [g.last_local for g in groups if g.last_local is not None]
    daily = groups[0].daily
    for g in groups[1:]:
        daily = _added(daily, g.daily)
    return DaySummary(
        day=groups[0].day,
        shifts=frozenset().union(*(g.shifts for g in groups)),
        hits=sum(g.hits for g in groups),
        bot_hits=sum(g.bot_hits for g in groups),
        first_local=min(firsts, default=None),
        last_local=max(lasts, default=None),
        sources=frozenset().union(*(g.sources for g in groups)),
        interaction_hits=sum(g.interaction_hits for g in groups),
        totals={k: sum(g.totals[k] for g in groups) for k in groups[0].totals},
        daily=daily,
        users=pl.concat([g.users for g in groups]).sort("user"),
        anonymous=pl.concat([g.anonymous for g in groups]).sort(),
        pages=pl.concat([g.pages for g in groups]).sort("user", "page"),
        agents=pl.concat([g.agents for g in groups]).sort("user", "user_agent"),
    )


def counts(summary: DaySummary, known: frozenset[str], config: Config) -> DayCounts:
    """The day's counts for an allies table whose (normalised) user names are ``known``."""
    users = summary.users
    is_known = pl.col("user").is_in(sorted(known))
    active = pl.col("interaction_hits") > 0
    return DayCounts(
        **{f.name: getattr(summary, f.name) for f in dataclasses.fields(DayFigures)},
        users=users.filter(active).get_column("user"),
        anonymous=summary.anonymous,
        unknown=users.filter(~is_known & (pl.col("human_hits") > 0)).select(
            "user", pl.col("human_hits").alias("hits"), "sessions", "last_seen"
        ),
        known=users.filter(is_known & active).select("user", *component_names(config)),
        last=users.filter(is_known & pl.col("last_local_ts").is_not_null()).select(list(_LAST)),
        pages=add_page_counts(
            pl.DataFrame(schema=PAGE_SCHEMA), summary.pages.filter(is_known).drop("user")
        ),
        agents=summary.agents.filter(is_known),
    )


def day_counts(
    hits: pl.DataFrame, *, day: dt.date, config: Config, known: frozenset[str], window: bool
) -> DayCounts:
    """``counts`` of the ``day_summary`` of these hits."""
    return counts(day_summary(hits, day=day, config=config, window=window), known, config)


def _ints(row: dict[str, Any], config: Config) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in component_names(config)}


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
        #: anonymous visitors' keys (``visitor_keys``)
        self.anonymous = pl.Series(ANONYMOUS, [], dtype=pl.UInt64)
        self._pending: list[pl.Series] = []  # not yet in ``anonymous``: merged when they
        self._pending_rows = 0  # outnumber it, so each visitor is merged a few times at most
        self.unknown = pl.DataFrame(schema=_UNKNOWN)
        ints = dict.fromkeys(component_names(config), pl.Int64)
        self.known = pl.DataFrame(schema=pl.Schema({"user": pl.Utf8, **ints}))
        self.last = pl.DataFrame(schema=_LAST)
        self.pages = pl.DataFrame(schema=page_schema(per_user=False))
        self.agents = pl.DataFrame(schema=AGENT_COLUMNS)
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
        if d.anonymous.len():
            self._pending.append(d.anonymous)
            self._pending_rows += d.anonymous.len()
            if self._pending_rows > max(self.anonymous.len(), 1 << 16):
                self._merge_anonymous()
        self.unknown = _summed(self.unknown, d.unknown, ["hits", "sessions"], maxima=["last_seen"])
        self.known = _summed(self.known, d.known, list(component_names(self.config)))
        self.last = merge_last([self.last, d.last])
        self.pages = add_page_counts(self.pages, d.pages)
        self.agents = _summed(self.agents, d.agents, ["sessions"], key=["user", "user_agent"])
        was = self.daily.get(d.day)
        self.daily[d.day] = d.daily if was is None else _added(was, d.daily)

    def _merge_anonymous(self) -> None:
        self.anonymous = pl.concat([self.anonymous, *self._pending]).unique()
        self._pending, self._pending_rows = [], 0

    def visitors(self) -> int:
        """Distinct visitors: users and anonymous visitors (a user named as an anonymous
        visitor's key, ``anon:<ip>|<user agent>``, is that visitor)."""
        self._merge_anonymous()
        count = self.users.len() + self.anonymous.len()
        odd = self.users.filter(self.users.str.starts_with("anon:"))
        if odd.len():
            count -= int(visitor_keys(odd.to_list()).is_in(self.anonymous).sum())
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
