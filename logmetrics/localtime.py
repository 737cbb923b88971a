"""UTC instants to local wall-clock times, looked up per hour instead of per row.

Shared by the parse (each hit's Lima date, which picks its partition) and the report (local
times of the month's hits).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ._lazy import LazyModule

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
else:
    pl = LazyModule("polars", globals(), "pl")

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US


def local_times(ts: pl.Series, tz: str) -> pl.Series:
    """Naive local times in ``tz`` of UTC instants (µs): ``convert_time_zone`` done per hour.

    Why: converting every row looks each one up in the zone's rules (~0.1 s a million rows);
    a zone's offset changes at most once in an hour, so it is looked up at each hour boundary
    of the span, and only rows in an hour whose two boundaries differ are converted one by one.
    """
    ts = ts.dt.cast_time_unit("us")

    def exact(s: pl.Series) -> pl.Series:
        return s.dt.convert_time_zone(tz).dt.replace_time_zone(None)

    us = ts.dt.replace_time_zone(None).cast(pl.Int64)
    lo, hi = us.min(), us.max()
    if not isinstance(lo, int) or not isinstance(hi, int):  # no instants at all
        return exact(ts)
    h0, h1 = lo // _HOUR_US, hi // _HOUR_US + 1
    if h1 - h0 > 24 * 800:  # a span of years: the per-hour table would be the bigger cost
        return exact(ts)
    grid = pl.int_range(h0, h1 + 1, eager=True, dtype=pl.Int64) * _HOUR_US
    grid_ts = grid.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    offset = exact(grid_ts).cast(pl.Int64) - grid
    if offset.n_unique() == 1:  # no change in the span (always so in Lima): one offset
        return (us + offset[0]).cast(pl.Datetime("us")).alias(ts.name)
    hour = us // _HOUR_US - h0
    o0, o1 = offset.gather(hour), offset.gather(hour + 1)
    local = us + o0
    moved = (o0 != o1).arg_true()
    if moved.len():
        local = local.scatter(moved, exact(ts.gather(moved)).cast(pl.Int64))
    return local.cast(pl.Datetime("us")).alias(ts.name)


def _offset_us(zone: ZoneInfo, us: int) -> int:
    """The UTC offset of ``zone`` at the instant ``us`` (µs since the epoch), in µs."""
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    off = when.astimezone(zone).utcoffset()
    assert off is not None
    return (off.days * 86400 + off.seconds) * 1_000_000 + off.microseconds


def local_days(us: np.ndarray, tz: str) -> np.ndarray:
    """Days since the epoch (int32) of the local dates in ``tz`` of UTC instants (µs).

    The parse's partition date, without polars (an ingest does not import it): as in
    ``local_times``, the zone's offset is looked up at each hour boundary of the span, and only
    instants in an hour whose two boundaries differ are looked up one by one.
    """
    import numpy as np  # here: the report, which imports this module, never needs numpy

    if len(us) == 0:
        return np.zeros(0, np.int32)
    zone = ZoneInfo(tz)
    h0, h1 = int(us.min()) // _HOUR_US, int(us.max()) // _HOUR_US + 1
    if h1 - h0 > 24 * 800:  # a span of years: every instant on its own
        local = us + np.array([_offset_us(zone, int(u)) for u in us.tolist()], np.int64)
    else:
        offset = np.array(
            [_offset_us(zone, h * _HOUR_US) for h in range(h0, h1 + 1)], np.int64
        )
        hour = us // _HOUR_US - h0
        o0, o1 = offset[hour], offset[hour + 1]
        local = us + o0
        for i in np.flatnonzero(o0 != o1).tolist():
            local[i] = us[i] + _offset_us(zone, int(us[i]))
    return np.floor_divide(local, _DAY_US).astype(np.int32)
