"""What the programme needs to design improvements: GA's "All pages" table and the device mix.

The pages table's rows are page groups (page_groups: ``/beneficiarios/{id}``, never a record
id), counted as GA counts a content group: page views of the group, unique page views as
distinct (session, group), time on page to the next page view of the session (whatever its
group), exits and entrances of the group's page views.

Both read the sessionized frame (docs/design.md) and keep only sessions of users the allies
table knows, so the figures describe allies, not scanners or people who never logged in.
Anonymous sessions are left out of the device mix too: an anonymous visitor has no ally type,
and before logging in an ally is the same person as after (their session counts once, under
their user). Each is two steps: additive counts from a sessionized frame (one day's), then the
rows from counts summed over the month. Rates and durations round half up, as SPEC says.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from .agents import device as classify_user_agent
from .metrics import average_time_on_page, percentage
from .model import DeviceRow, PageRow
from .page_groups import PageGroups

__all__ = [
    "PAGE_COUNTS",
    "PAGE_SCHEMA",
    "add_page_counts",
    "classify_user_agent",
    "device_mix",
    "page_counts",
    "pages_table",
    "session_agents",
]

#: The additive columns of ``page_counts`` (besides ``page`` and ``paths``).
PAGE_COUNTS = (
    "pageviews", "unique_pageviews", "time_on_page_us", "exits", "entrances", "bounces",
)  # fmt: skip
#: ``page_counts``' frame: the group, its counts, and the distinct pages it gathers (which
#: stay in memory: only their number reaches the report)
PAGE_SCHEMA = pl.Schema(
    {"page": pl.Utf8(), **dict.fromkeys(PAGE_COUNTS, pl.Int64()), "paths": pl.List(pl.Utf8())}
)


def _normal_users(users: set[str] | pl.Series | Iterable[str]) -> list[str]:
    return sorted({u.strip().casefold() for u in users if u is not None})


def page_counts(
    sessionized: pl.DataFrame,
    *,
    known_users: Iterable[str],
    groups: PageGroups,
    per_user: bool = False,
) -> pl.DataFrame:
    """Per page group of allies' page views (``PAGE_SCHEMA``): ``page`` (the group), the
    ``PAGE_COUNTS``, which add up over days (a session never crosses midnight), and
    ``paths``, the distinct pages gathered, which unite (``add_page_counts``). ``per_user``:
    per ``user`` and group, which add up over users too (a session belongs to one user)."""
    known = _normal_users(known_users)
    frame = sessionized.filter(pl.col("user").is_in(known) & pl.col("is_pageview"))
    named = groups.groups(frame.get_column("page").unique().to_list())
    frame = frame.with_columns(
        pl.col("page").replace_strict(named, return_dtype=pl.Utf8).alias("group")
    )
    counts = frame.group_by(["user", "group"] if per_user else "group").agg(
        pl.len().cast(pl.Int64).alias("pageviews"),
        pl.col("session").n_unique().cast(pl.Int64).alias("unique_pageviews"),
        pl.col("time_on_page_us").fill_null(0).sum().cast(pl.Int64).alias("time_on_page_us"),
        pl.col("is_exit").sum().cast(pl.Int64).alias("exits"),
        pl.col("is_entrance").sum().cast(pl.Int64).alias("entrances"),
        (pl.col("is_entrance") & (pl.col("session_hits") == 1))
        .sum()
        .cast(pl.Int64)
        .alias("bounces"),
        pl.col("page").unique().alias("paths"),
    )
    head = ["user"] if per_user else []
    return counts.rename({"group": "page"}).select(head + list(PAGE_SCHEMA))


def add_page_counts(acc: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Two ``page_counts`` frames (say a month's so far and a day's) as one: counts summed,
    distinct pages united, per group."""
    return (
        pl.concat([acc, new])
        .group_by("page")
        .agg(*(pl.col(c).sum() for c in PAGE_COUNTS), pl.col("paths").explode().unique())
        .select(list(PAGE_SCHEMA))
    )


def pages_table(counts: pl.DataFrame) -> list[PageRow]:
    """GA's "All pages" from ``page_counts`` (summed per group), by page views (desc) then
    group. Each row says how many distinct pages it gathers, never which."""
    rows = []
    for r in counts.sort(["pageviews", "page"], descending=[True, False]).iter_rows(named=True):
        pv, exits, entrances = int(r["pageviews"]), int(r["exits"]), int(r["entrances"])
        rows.append(
            PageRow(
                page=r["page"],
                pageviews=pv,
                unique_pageviews=int(r["unique_pageviews"]),
                avg_time_on_page=average_time_on_page(r["time_on_page_us"], pv, exits),
                entrances=entrances,
                bounce_rate=percentage(int(r["bounces"]), entrances),
                exit_rate=percentage(exits, pv),
                paths=len(r["paths"]),
            )
        )
    return rows


def session_agents(sessionized: pl.DataFrame, *, known_users: Iterable[str]) -> pl.DataFrame:
    """Allies' sessions per ``user`` and ``user_agent`` of each session's first hit
    (``sessions``, Int64): the device mix's counts, which add up over days."""
    known = _normal_users(known_users)
    frame = sessionized.filter(pl.col("user").is_in(known))
    firsts = (
        frame.sort(["session", "ts"], maintain_order=True)
        .group_by("session", maintain_order=True)
        .agg(pl.col("user").first(), pl.col("user_agent").first())
    )
    return firsts.group_by("user", "user_agent").agg(pl.len().cast(pl.Int64).alias("sessions"))


def device_mix(agents: pl.DataFrame, *, user_tipo: dict[str, str]) -> list[DeviceRow]:
    """Allies' sessions by type, device category, browser and OS, from ``session_agents``
    counts (summed per user and user agent).

    ua-parser answers once per distinct user agent. Sorted by type, sessions (desc), then
    device, browser and OS.
    """
    tipos = {u.strip().casefold(): t for u, t in user_tipo.items()}
    frame = agents.filter(pl.col("user").is_in(sorted(tipos)))
    distinct = frame.get_column("user_agent").unique().to_list()
    parsed = {ua: classify_user_agent(ua) for ua in distinct}
    counts: dict[tuple[str, str, str, str], int] = {}
    for user, ua, n in frame.select("user", "user_agent", "sessions").iter_rows():
        key = (tipos[user], *parsed[ua])
        counts[key] = counts.get(key, 0) + int(n)
    rows = [DeviceRow(t, d, b, o, n) for (t, d, b, o), n in counts.items()]
    rows.sort(key=lambda r: (r.tipo, -r.sessions, r.device, r.browser, r.os))
    return rows
