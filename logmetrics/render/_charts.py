"""Inline SVG charts that read without JavaScript (labels and values are drawn, not hovered).

Every text that reaches the markup goes through ``markupsafe.escape``; geometry is formatted
with fixed precision so the same report always gives the same bytes. Colours come from CSS
classes (no ``style`` attributes: the page's Content-Security-Policy forbids them).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from ..model import DailyActivity
from ._text import fmt_int, fmt_share

FONT = 13  # px, the chart text size set in report.css
ROW_H = 26
DEVICE_ORDER = ("Escritorio", "Móvil", "Tableta", "Otro")


def _n(x: float) -> str:
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of a sans-serif text's width, for laying out labels."""
    units = 0.0
    for ch in text:
        if ch.isupper():
            units += 0.74
        elif ch.isdigit():
            units += 0.64
        elif ch.isspace() or ch in ".,:;|!'()[]":
            units += 0.34
        else:
            units += 0.62
    return units * size


def _clip(label: str, width: float) -> str:
    if text_width(label) <= width:
        return label
    while label and text_width(label + "…") > width:
        label = label[:-1]
    return label + "…"


def _svg(width: float, height: float, title: str, body: list[str], *, cls: str = "") -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(cls)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
        f'role="img" aria-label="{escape(title)}">'
    )
    return Markup(head + f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, cls: str = "", anchor: str = "start") -> str:
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{_n(x)}" y="{_n(y)}"{a}{c}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, cls: str, tip: str = "") -> str:
    t = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(h)}" '
        f'class="{cls}">{t}</rect>'
    )


def nice_step(top: float, ticks: int = 4) -> int:
    """A 1-2-5 step that splits ``top`` into at most ``ticks`` intervals."""
    if top <= 0:
        return 1
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return max(int(m * mag), 1)
    return int(10 * mag)  # pragma: no cover


def hbar_chart(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    width: float = 420,
    highlight: frozenset[str] = frozenset(),
    empty: str = "Sin datos en el mes.",
) -> Markup:
    """Horizontal bars with the label on the left and the value at the bar's end."""
    if not items:
        return Markup('<p class="empty">') + escape(empty) + Markup("</p>")
    label_w = min(max(text_width(label) for label, _ in items) + 10, width * 0.45)
    value_w = max(text_width(fmt_int(v)) for _, v in items) + 10
    bar_w = width - label_w - value_w
    top = max(v for _, v in items) or 1
    body: list[str] = []
    for i, (label, value) in enumerate(items):
        y = i * ROW_H
        w = bar_w * value / top
        cls = "bar alt" if label in highlight else "bar"
        body.append(_text(label_w - 8, y + 17, _clip(label, label_w - 10), anchor="end"))
        body.append(_rect(label_w, y + 4, w, ROW_H - 8, cls, f"{label}: {fmt_int(value)}"))
        body.append(_text(label_w + w + 5, y + 17, fmt_int(value), cls="value"))
    return _svg(width, len(items) * ROW_H + 4, title, body, cls="hbar")


@dataclass(frozen=True)
class ShareRow:
    label: str
    part: int
    total: int


def share_chart(rows: Sequence[ShareRow], *, title: str, width: float = 420) -> Markup:
    """One bar per group, the filled part against the whole; 'n de N (p%)' above the bar."""
    if not rows:
        return Markup('<p class="empty">Sin aliados en la tabla.</p>')
    body: list[str] = []
    for i, r in enumerate(rows):
        y = i * 50
        frac = r.part / r.total if r.total else 0
        pct = fmt_share(r.part, r.total)
        note = f"{fmt_int(r.part)} de {fmt_int(r.total)} ({pct})"
        body.append(_text(0, y + 15, _clip(r.label, width - text_width(note) - 12)))
        body.append(_text(width, y + 15, note, cls="value", anchor="end"))
        body.append(_rect(0, y + 22, width, 18, "bar track"))
        body.append(_rect(0, y + 22, width * frac, 18, "bar", f"{r.label}: {note}"))
    return _svg(width, len(rows) * 50, title, body, cls="share")


def stacked_chart(
    rows: Sequence[tuple[str, dict[str, int]]],
    *,
    title: str,
    order: Sequence[str] = DEVICE_ORDER,
    width: float = 420,
) -> Markup:
    """100% stacked bars (one per group, label above) with a wrapping legend.

    A segment's share is printed inside it when it fits.
    """
    if not rows:
        return Markup('<p class="empty">Sin sesiones de aliados en el mes.</p>')
    keys = [k for k in order if any(parts.get(k) for _, parts in rows)]
    keys += sorted({k for _, parts in rows for k in parts if parts[k] and k not in keys})
    body: list[str] = []
    x, y = 0.0, 0.0
    for j, key in enumerate(keys):
        shown = _clip(key, width - 18)
        item_w = 18 + text_width(shown, 12) + 16
        if x > 0 and x + item_w > width:
            x, y = 0.0, y + 20
        body.append(_rect(x, y + 4, 12, 12, f"seg s{j % 6}"))
        body.append(_text(x + 17, y + 14, shown, cls="legend"))
        x += item_w
    top = y + 28
    for i, (label, parts) in enumerate(rows):
        y = top + i * 50
        total = sum(parts.values())
        body.append(_text(0, y + 15, _clip(label, width)))
        x = 0.0
        for j, key in enumerate(keys):
            n = parts.get(key, 0)
            if not n:
                continue
            w = width * n / total
            pct = fmt_share(n, total)
            tip = f"{label} · {key}: {fmt_int(n)} sesiones ({pct})"
            body.append(_rect(x, y + 22, w, 20, f"seg s{j % 6}", tip))
            if w >= text_width(pct, 11) + 6:
                body.append(_text(x + w / 2, y + 36, pct, cls=f"inseg t{j % 6}", anchor="middle"))
            x += w
    return _svg(width, top + len(rows) * 50, title, body, cls="stacked")


def daily_chart(
    days: Sequence[DailyActivity], *, start: dt.date, end: dt.date, title: str
) -> Markup:
    """Sessions per day as bars, logins as a line; weekends shaded; every day labelled."""
    by_day = {d.day: d for d in days}
    n = (end - start).days + 1
    all_days = [start + dt.timedelta(days=i) for i in range(n)]
    sessions = [by_day[d].sessions if d in by_day else 0 for d in all_days]
    logins = [by_day[d].logins if d in by_day else 0 for d in all_days]
    left, right, top, bottom = 44, 8, 30, 26
    slot = 26
    width = left + slot * n + right
    plot_h = 180
    height = top + plot_h + bottom
    step = nice_step(max(sessions + logins))
    ymax = step * max(math.ceil(max(sessions + logins) / step), 1)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / ymax

    body: list[str] = []
    body.append(_rect(left, 4, 12, 12, "bar"))
    body.append(_text(left + 16, 14, "Sesiones", cls="legend"))
    lx = left + 16 + text_width("Sesiones", 12) + 20
    body.append(f'<path d="M{_n(lx)} 10h16" class="line"/>')
    body.append(f'<circle cx="{_n(lx + 8)}" cy="10" r="3" class="dot"/>')
    body.append(_text(lx + 22, 14, "Ingresos a la aplicación", cls="legend"))
    for i, d in enumerate(all_days):
        if d.weekday() >= 5:
            body.append(_rect(left + i * slot, top, slot, plot_h, "weekend"))
    for v in range(0, ymax + 1, step):
        body.append(f'<path d="M{left} {_n(y(v))}H{_n(width - right)}" class="grid"/>')
        body.append(_text(left - 6, y(v) + 4, fmt_int(v), cls="axis", anchor="end"))
    points: list[str] = []
    for i, d in enumerate(all_days):
        x = left + i * slot
        tip = f"{d:%Y-%m-%d}: {fmt_int(sessions[i])} sesiones, {fmt_int(logins[i])} ingresos"
        if sessions[i]:
            body.append(_rect(x + 3, y(sessions[i]), slot - 6, y(0) - y(sessions[i]), "bar", tip))
        cls = "axis weekend-label" if d.weekday() >= 5 else "axis"
        body.append(_text(x + slot / 2, top + plot_h + 16, str(d.day), cls=cls, anchor="middle"))
        points.append(f"{_n(x + slot / 2)} {_n(y(logins[i]))}")
    body.append(f'<path d="M{" L".join(points)}" class="line"/>')
    for i, p in enumerate(points):
        cx, cy = p.split()
        tip = f"{all_days[i]:%Y-%m-%d}: {fmt_int(logins[i])} ingresos"
        body.append(
            f'<circle cx="{cx}" cy="{cy}" r="2.5" class="dot"><title>{escape(tip)}</title></circle>'
        )
    return _svg(width, height, title, body, cls="daily")


def monthly_chart(
    months: Sequence[tuple[str, str]],
    values: Sequence[int | None],
    *,
    total: int,
    title: str,
    unit: str = "aliados",
) -> Markup:
    """One bar per month (its label, and its year or "") on a scale up to ``total``, its value
    above it; a month without data (None) has no bar but "sin datos"."""
    left, right, top, bottom = 40, 8, 18, 40
    slot, plot_h = 44, 120
    width = left + slot * len(months) + right
    step = nice_step(total)
    ymax = step * max(math.ceil(total / step), 1)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / ymax

    body: list[str] = []
    for v in range(0, ymax + 1, step):
        body.append(f'<path d="M{left} {_n(y(v))}H{_n(width - right)}" class="grid"/>')
        body.append(_text(left - 6, y(v) + 4, fmt_int(v), cls="axis", anchor="end"))
    for i, ((label, year), value) in enumerate(zip(months, values, strict=True)):
        x = left + i * slot
        mid = x + slot / 2
        if value is None:  # two short lines: a slot is narrower than the words
            body.append(_text(mid, y(0) - 20, "sin", cls="axis", anchor="middle"))
            body.append(_text(mid, y(0) - 6, "datos", cls="axis", anchor="middle"))
        else:
            tip = f"{label} {year}: {fmt_int(value)} de {fmt_int(total)} {unit}"
            body.append(_rect(x + 6, y(value), slot - 12, y(0) - y(value), "bar", tip))
            body.append(_text(mid, y(value) - 4, fmt_int(value), cls="value", anchor="middle"))
        body.append(_text(mid, top + plot_h + 16, label, cls="axis", anchor="middle"))
        body.append(_text(mid, top + plot_h + 32, year, cls="axis", anchor="middle"))
    return _svg(width, top + plot_h + bottom, title, body, cls="monthly")
