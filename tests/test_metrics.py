"""Metric arithmetic: rounding half up, empty rates, durations."""

from __future__ import annotations

from logmetrics.metrics import average_time_on_page, format_duration, percentage, rates


def test_percentage_rounds_half_up() -> None:
    """1/32 = 3.125 % → 3.13; 1/3 → 33.33; 2/3 → 66.67."""
    assert percentage(1, 32) == 3.13
    assert percentage(1, 3) == 33.33
    assert percentage(2, 3) == 66.67


def test_zero_divisor_is_empty() -> None:
    """A percentage with a zero divisor is empty, not 0."""
    assert percentage(0, 0) is None


def test_average_time_rounds_half_up() -> None:
    """61 s over 3 page views with 1 exit → 30.5 s → 31 s; no divisor → 0."""
    assert average_time_on_page(61_000_000, 3, 1) == 31
    assert average_time_on_page(0, 2, 2) == 0


def test_format_duration() -> None:
    """Durations print as HH:MM:SS, hours past 24 allowed."""
    assert format_duration(31) == "00:00:31"
    assert format_duration(90061) == "25:01:01"


def test_idle_rates() -> None:
    """An idle ally: zeros, average time 00:00:00 and empty rates."""
    assert rates({}) == {"vistas": 0, "vistas_unicas": 0, "sesiones": 0, "tiempo_promedio": 0,
                         "rebote": None, "salidas": None}  # fmt: skip
