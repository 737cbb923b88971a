"""UTC instants to local dates, looked up per hour instead of per row: the parse's partition
date of each hit (the report's local times are ``classify.local_times``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import numpy as np

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US


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
