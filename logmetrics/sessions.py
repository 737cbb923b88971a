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
    time, plus ``session`` (Int64), ``time_on_page`` (Float64 seconds to the next page view of
    the session, null on the session's last page view and on events), ``is_exit``,
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

    pv = pl.col("is_pageview")
    pv_ts = pl.when(pv).then(pl.col("ts"))
    # next page view's time in the session: backward fill over the rows after this one
    next_pv = pv_ts.shift(-1).backward_fill().over("session")
    first_pv = pv_ts.forward_fill().shift(1).over("session")
    df = df.with_columns(
        pl.when(pv)
        .then((next_pv - pl.col("ts")).dt.total_microseconds() / 1_000_000)
        .otherwise(None)
        .alias("time_on_page"),
        (pv & next_pv.is_null()).alias("is_exit"),
        (pv & first_pv.is_null()).alias("is_entrance"),
        pl.len().over("session").cast(pl.Int64).alias("session_hits"),
    )
    return df
