"""Sessions as Universal Analytics cut them: per visitor, a gap of more than the timeout, or a
change of local date, starts a new one, so a session never crosses midnight nor a month.
"""

from __future__ import annotations

import polars as pl

from .config import Config

_SORT = ("visitor", "ts", "source", "offset")


def sessionize(interactions: pl.DataFrame, *, config: Config) -> pl.DataFrame:
    """Cut interaction hits into sessions and mark time on page, exits and entrances.

    Input: the interactions frame (docs/design.md). Output: the same rows sorted by visitor and
    time, plus ``session`` (Int64), ``time_on_page_us`` (Int64 microseconds to the next page
    view of the session, null on the session's last page view and on events: whole numbers,
    so sums of days add up exactly to the month's), ``is_exit``,
    ``is_entrance`` (first/last page view of the session) and ``session_hits``.
    """
    timeout_us = int(config.session_timeout_minutes * 60 * 1_000_000)
    df = interactions.sort(list(_SORT))
    prev_visitor = pl.col("visitor").shift(1)
    gap = (pl.col("ts") - pl.col("ts").shift(1)).dt.total_microseconds()
    new = (
        prev_visitor.is_null()
        | (pl.col("visitor") != prev_visitor)
        | (gap > timeout_us)
        | (pl.col("local_date") != pl.col("local_date").shift(1))
    )
    df = df.with_columns(new.fill_null(True).cum_sum().cast(pl.Int64).alias("session"))

    # Sessions are contiguous runs of rows (sorted above), so "within the session" is a
    # comparison of session ids carried by fills, not a window group-by per session.
    pv = pl.col("is_pageview")
    session = pl.col("session")
    pv_ts = pl.when(pv).then(pl.col("ts"))
    pv_session = pl.when(pv).then(session)
    # the next page view after this row (its time and session), and whether one came before
    next_ts = pv_ts.shift(-1).backward_fill()
    next_in = pv_session.shift(-1).backward_fill() == session
    before_in = pv_session.forward_fill().shift(1) == session
    next_pv = pl.when(next_in).then(next_ts)
    df = df.with_columns(
        pl.when(pv)
        .then((next_pv - pl.col("ts")).dt.total_microseconds())
        .otherwise(None)
        .alias("time_on_page_us"),
        (pv & ~next_in.fill_null(False)).alias("is_exit"),
        (pv & ~before_in.fill_null(False)).alias("is_entrance"),
    )
    # each session's size, repeated over its rows (runs of the sorted session column)
    runs = df.get_column("session").rle().struct.field("len").cast(pl.Int64)
    hits = runs.repeat_by(runs).explode().alias("session_hits")
    df = df.with_columns(hits)
    return df
