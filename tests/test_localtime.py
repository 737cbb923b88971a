"""Local wall-clock times of UTC instants (classify.local_times), as the zone rules give them."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from logmetrics.classify import local_times


@pytest.mark.parametrize(
    ("tz", "first", "days"),
    [
        ("America/Lima", "2022-03-01", 3),
        ("America/New_York", "2022-03-12", 3),  # spring forward at 07:00 UTC
        ("America/New_York", "2022-11-05", 3),  # fall back at 06:00 UTC
        ("Australia/Lord_Howe", "2022-04-02", 2),  # half-hour DST: back at 15:00 UTC
        ("Australia/Lord_Howe", "2022-10-01", 2),  # forward at 15:30 UTC, mid-hour
        ("Asia/Kathmandu", "2022-03-01", 1),  # +05:45
        ("America/New_York", "2019-01-01", 1200),  # years: converted row by row
    ],
)
def test_local_times_follow_the_zone_rules(tz: str, first: str, days: int) -> None:
    """Local times equal polars' own conversion, through DST changes in mid-hour and nulls."""
    start = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC)
    step = dt.timedelta(minutes=7, seconds=13) if days < 10 else dt.timedelta(hours=5, minutes=1)
    n = int(dt.timedelta(days=days) / step)
    ts = pl.Series("ts", [start + i * step for i in range(n)] + [None], pl.Datetime("us", "UTC"))
    want = ts.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    got = local_times(ts, tz)
    assert got.dtype == pl.Datetime("us") and got.name == "ts"
    assert got.to_list() == want.to_list()


def test_local_times_of_nothing() -> None:
    """No instants (or only nulls) give as many local times."""
    empty = pl.Series("ts", [], pl.Datetime("us", "UTC"))
    assert local_times(empty, "America/Lima").len() == 0
    nulls = pl.Series("ts", [None, None], pl.Datetime("us", "UTC"))
    assert local_times(nulls, "America/Lima").to_list() == [None, None]
