"""What the programme needs to design improvements: GA's "All pages" table and the device mix.

Both read the sessionized frame (docs/design.md) and keep only sessions of users the allies
table knows, so the figures describe allies, not scanners or people who never logged in.
Anonymous sessions are left out of the device mix too: an anonymous visitor has no ally type,
and before logging in an ally is the same person as after (their session counts once, under
their user). Rates and durations round half up, as SPEC says, with ``decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from .agents import IN_PROCESS, Classifier
from .agents import device as classify_user_agent
from .model import DeviceRow, PageRow

__all__ = ["classify_user_agent", "device_mix", "pages_table"]


def _normal_users(users: set[str] | pl.Series | Iterable[str]) -> list[str]:
    return sorted({u.strip().casefold() for u in users if u is not None})


def _rate(part: int, whole: int) -> float | None:
    """part / whole × 100, two decimals half up; ``None`` when ``whole`` is 0."""
    if whole == 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return float(value)


def _avg_seconds(total: float, count: int) -> int:
    """Σ seconds / count rounded half up to the second; 0 when nothing to divide by."""
    if count <= 0:
        return 0
    exact = Decimal(repr(float(total))).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    return int((exact / count).quantize(Decimal(1), ROUND_HALF_UP))


def pages_table(sessionized: pl.DataFrame, *, known_users: set[str] | pl.Series) -> list[PageRow]:
    """GA's "All pages" over allies' sessions, by page views (desc) then page."""
    known = _normal_users(known_users)
    frame = sessionized.filter(pl.col("user").is_in(known) & pl.col("is_pageview"))
    if frame.is_empty():
        return []
    grouped = (
        frame.group_by("page")
        .agg(
            pl.len().alias("pageviews"),
            pl.col("session").n_unique().alias("unique_pageviews"),
            pl.col("time_on_page").fill_null(0.0).sum().alias("time"),
            pl.col("is_exit").sum().alias("exits"),
            pl.col("is_entrance").sum().alias("entrances"),
            (pl.col("is_entrance") & (pl.col("session_hits") == 1)).sum().alias("bounces"),
        )
        .sort(["pageviews", "page"], descending=[True, False])
    )
    rows = []
    for r in grouped.iter_rows(named=True):
        pv, exits, entrances = int(r["pageviews"]), int(r["exits"]), int(r["entrances"])
        rows.append(
            PageRow(
                page=r["page"],
                pageviews=pv,
                unique_pageviews=int(r["unique_pageviews"]),
                avg_time_on_page=_avg_seconds(r["time"], pv - exits),
                entrances=entrances,
                bounce_rate=_rate(int(r["bounces"]), entrances),
                exit_rate=_rate(exits, pv),
            )
        )
    return rows


def device_mix(
    sessionized: pl.DataFrame, *, user_tipo: dict[str, str], agents: Classifier = IN_PROCESS
) -> list[DeviceRow]:
    """Allies' sessions by type, device category, browser and OS (of each session's first hit).

    ``agents`` (ua-parser) answers once per distinct user agent. Sorted by type, sessions
    (desc), then device, browser and OS.
    """
    tipos = {u.strip().casefold(): t for u, t in user_tipo.items()}
    frame = sessionized.filter(pl.col("user").is_in(sorted(tipos)))
    if frame.is_empty():
        return []
    firsts = (
        frame.sort(["session", "ts"], maintain_order=True)
        .group_by("session", maintain_order=True)
        .agg(pl.col("user").first(), pl.col("user_agent").first())
    )
    distinct = firsts.get_column("user_agent").unique().to_list()
    parsed = dict(zip(distinct, agents.devices(distinct), strict=True))
    counts: dict[tuple[str, str, str, str], int] = {}
    for user, ua in firsts.select("user", "user_agent").iter_rows():
        key = (tipos[user], *parsed[ua])
        counts[key] = counts.get(key, 0) + 1
    rows = [DeviceRow(t, d, b, o, n) for (t, d, b, o), n in counts.items()]
    rows.sort(key=lambda r: (r.tipo, -r.sessions, r.device, r.browser, r.os))
    return rows
