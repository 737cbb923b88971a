"""Formatting shared by the renderers: Spanish dates, Peruvian numbers, and text made inert.

Numbers follow CLDR's ``es-PE`` (what Peruvian browsers and most official documents use):
comma for thousands, point for decimals, ``33.33%``. Text that came from logs or from the
allies table is cleaned of characters that XML forbids (and lone surrogates, which no UTF-8
file can hold) before any renderer sees it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..model import DATETIME_COLUMNS, DURATION_COLUMNS, PERCENT_COLUMNS, TEXT_COLUMNS

MONTHS_ES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip

TIPO_NAMES = {
    "GR": "Gobiernos regionales",
    "GL": "Gobiernos locales",
    "OA": "Otros aliados",
}

#: C0 controls other than tab, LF and CR, plus the two XML non-characters.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def clean_text(value: Any) -> str:
    """Text safe for any output file: XML-forbidden characters dropped, surrogates made U+FFFD."""
    s = "" if value is None else str(value)
    s = _XML_FORBIDDEN.sub("", s)
    return _SURROGATE.sub("\ufffd", s)


#: The ally's tipo (GR, GL, OA) is text too: a matrix may show it as a column.
_TEXT = TEXT_COLUMNS | {"tipo"}


def column_kind(key: str) -> str:
    """How a matrix column is typed: text, percent, duration, datetime or count."""
    if key in _TEXT:
        return "text"
    if key in PERCENT_COLUMNS:
        return "percent"
    if key in DURATION_COLUMNS:
        return "duration"
    if key in DATETIME_COLUMNS:
        return "datetime"
    return "count"


def month_label(month: str) -> str:
    """``2022-03`` -> ``marzo de 2022``."""
    year, mon = month.split("-")
    return f"{MONTHS_ES[int(mon) - 1]} de {int(year)}"


def date_long(day: dt.date) -> str:
    """``2022-04-01`` -> ``1 de abril de 2022``."""
    return f"{day.day} de {MONTHS_ES[day.month - 1]} de {day.year}"


def datetime_long(moment: dt.datetime) -> str:
    """A local time the way a reader says it: ``1 de abril de 2022, 06:00``."""
    return f"{date_long(moment.date())}, {moment:%H:%M}"


def fmt_int(value: int | None) -> str:
    """``1234567`` -> ``1,234,567`` (es-PE grouping)."""
    return "" if value is None else f"{value:,}"


def half_up(value: float, places: int = 0) -> Decimal:
    """``value`` rounded half up (SPEC's rounding), exact on the decimal digits shown."""
    step = Decimal(1).scaleb(-places)
    return Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP)


def fmt_decimal(value: float | None, *, places: int = 2) -> str:
    """A decimal the es-PE way, rounded half up: ``1,234.50``."""
    return "" if value is None else f"{half_up(value, places):,.{places}f}"


def fmt_share(part: int, whole: int, *, places: int = 0) -> str:
    """``part`` of ``whole`` as a percentage rounded half up (``5`` of ``8`` -> ``63%``)."""
    if not whole:
        return "—"
    exact = Decimal(part) * 100 / Decimal(whole)
    step = Decimal(1).scaleb(-places)
    return f"{exact.quantize(step, rounding=ROUND_HALF_UP):,.{places}f}%"


def pct2(value: float) -> Decimal:
    """A 0-100 percentage to two decimals, half up (the model rounds already; this is exact)."""
    return half_up(value, 2)


def fmt_percent(value: float | None) -> str:
    """A 0-100 percentage: ``33.33%``; empty for ``None``."""
    return "" if value is None else f"{pct2(value):,.2f}%"


def fmt_duration(seconds: int | None) -> str:
    """Whole seconds as ``HH:MM:SS`` (hours may exceed 24)."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def fmt_datetime(value: dt.datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS``, empty for ``None`` (SPEC's format for last connection)."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def inert_csv(text: str) -> str:
    """Prefix a quote to text a spreadsheet would otherwise evaluate (ASVS 1.2.10)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def months_between(earlier: dt.date, later: dt.date) -> int:
    """Calendar months from ``earlier``'s month to ``later``'s (same month -> 0)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def tipo_name(tipo: str) -> str:
    """Spanish name of an ally type code, the code itself if unknown."""
    return TIPO_NAMES.get(tipo, tipo)
