"""The HTML report's tables and charts: the sections below the matrices (allies without
activity, unknown users, pages, devices, day by day), each built from the typed report."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from markupsafe import Markup

from ..model import MonthReport
from ._charts import ShareRow, daily_chart, hbar_chart, share_chart, stacked_chart
from ._common import PAGE_COLUMNS, UNKNOWN_COLUMNS, Column, column_values
from ._tables import NEVER, Cell, Head, Row, Table, typed_cell
from ._text import clean_text, fmt_int, half_up, months_between, tipo_name

# --- sections ------------------------------------------------------------------------------


def _all_rows(report: MonthReport) -> list[dict[str, Any]]:
    return [r for m in report.matrices for r in m.rows]


def idle_bucket(last: dt.datetime | None, period_end: dt.date) -> str:
    """How long an ally without activity this month has been away, in reader's terms."""
    if last is None:
        return "Nunca"
    months = months_between(last.date(), period_end)
    if months <= 1:
        return "El mes anterior"
    if months <= 3:
        return "Hace 2 a 3 meses"
    if months <= 6:
        return "Hace 4 a 6 meses"
    if months <= 12:
        return "Hace 7 a 12 meses"
    return "Hace más de un año"


IDLE_BUCKETS = (
    "El mes anterior",
    "Hace 2 a 3 meses",
    "Hace 4 a 6 meses",
    "Hace 7 a 12 meses",
    "Hace más de un año",
    "Nunca",
)


def days_idle(last: dt.datetime, period_end: dt.date) -> int:
    """Whole days from the last connection to the end of the reported month."""
    end = dt.datetime.combine(period_end + dt.timedelta(days=1), dt.time())
    return (end - last).days


def idle_rows(report: MonthReport) -> list[dict[str, Any]]:
    rows = [r for r in _all_rows(report) if not r.get("_active")]

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        last = r.get("ultima_conexion")
        return (
            last is not None,
            last or dt.datetime.min,
            r.get("ubigeo", ""),
            r.get("entidad", ""),
        )

    return sorted(rows, key=order)


def idle_table(report: MonthReport) -> Table:
    rows = []
    for r in idle_rows(report):
        last = r.get("ultima_conexion")
        if last is None:
            away = Cell(NEVER, str(10**9), num=True, cls="na")
        else:
            d = days_idle(last, report.period_end)
            away = Cell(f"{fmt_int(d)} días", str(d), num=True)
        rows.append(
            Row(
                [
                    Cell(clean_text(r.get("_tipo", ""))),
                    Cell(clean_text(r.get("ubigeo", ""))),
                    Cell(clean_text(r.get("region", ""))),
                    Cell(clean_text(r.get("entidad", ""))),
                    typed_cell("datetime", last),
                    away,
                ]
            )
        )
    return Table(
        id="sin-actividad",
        caption="Aliados sin actividad en el mes",
        headers=[
            Head("Tipo"),
            Head("Ubigeo"),
            Head("Región"),
            Head("Entidad"),
            Head("Fecha y hora de última conexión", True),
            Head("Tiempo sin conexión", True),
        ],
        rows=rows,
        empty="Todos los aliados tuvieron actividad en el mes.",
    )


def _heads(columns: list[Column]) -> list[Head]:
    return [Head(label, kind != "text") for label, kind, _ in columns]


def _row(columns: list[Column], item: Any) -> Row:
    """Text from logs (pages, user names) in code style; other values typed."""
    return Row(
        [
            Cell(clean_text(v), cls="code") if kind == "text" else typed_cell(kind, v)
            for (_, kind, _), v in zip(columns, column_values(columns, item), strict=True)
        ]
    )


def unknown_table(report: MonthReport) -> Table:
    return Table(
        id="desconocidos",
        caption="Usuarios desconocidos",
        headers=_heads(UNKNOWN_COLUMNS),
        rows=[_row(UNKNOWN_COLUMNS, u) for u in report.unknown_users],
        empty="Ningún usuario desconocido en el mes: la tabla de aliados está completa.",
    )


def pages_table(report: MonthReport) -> Table:
    return Table(
        id="paginas",
        caption="Páginas vistas en sesiones de aliados",
        headers=_heads(PAGE_COLUMNS),
        rows=[_row(PAGE_COLUMNS, p) for p in report.pages],
        empty="Sin vistas de página de aliados en el mes.",
    )


def devices_table(report: MonthReport) -> Table:
    per_tipo: Counter[str] = Counter()
    for d in report.devices:
        per_tipo[d.tipo] += d.sessions
    rows = []
    for d in report.devices:
        share = float(half_up(d.sessions / per_tipo[d.tipo] * 100, 2)) if per_tipo[d.tipo] else None
        rows.append(
            Row(
                [
                    Cell(clean_text(d.tipo)),
                    Cell(clean_text(d.device)),
                    Cell(clean_text(d.browser)),
                    Cell(clean_text(d.os)),
                    typed_cell("count", d.sessions),
                    typed_cell("percent", share),
                ]
            )
        )
    return Table(
        id="dispositivos",
        caption="Sesiones de aliados por dispositivo, navegador y sistema operativo",
        headers=[
            Head("Tipo"),
            Head("Dispositivo"),
            Head("Navegador"),
            Head("Sistema operativo"),
            Head("Sesiones", True),
            Head("% del tipo", True),
        ],
        rows=rows,
        empty="Sin sesiones de aliados en el mes.",
    )


def daily_table(report: MonthReport) -> Table:
    return Table(
        id="diario",
        caption="Actividad diaria",
        headers=[
            Head("Día"),
            Head("Sesiones", True),
            Head("Vistas de página", True),
            Head("Ingresos", True),
            Head("Usuarios", True),
        ],
        rows=[
            Row(
                [
                    Cell(f"{d.day:%Y-%m-%d}"),
                    typed_cell("count", d.sessions),
                    typed_cell("count", d.pageviews),
                    typed_cell("count", d.logins),
                    typed_cell("count", d.users),
                ]
            )
            for d in sorted(report.daily, key=lambda d: d.day)
        ],
        empty="Sin actividad en el mes.",
    )


def _tipo_label(tipo: str) -> str:
    name = tipo_name(tipo)
    return name if name == tipo else f"{name} ({tipo})"


def _tipo_order(report: MonthReport) -> list[str]:
    order: list[str] = []
    for m in report.matrices:
        for t in m.spec.tipos:
            if t not in order:
                order.append(t)
    for r in _all_rows(report):
        t = r.get("_tipo", "")
        if t not in order:
            order.append(t)
    for d in report.devices:
        if d.tipo not in order:
            order.append(d.tipo)
    return order


def charts(report: MonthReport) -> dict[str, Markup]:
    rows = _all_rows(report)
    share = []
    for tipo in _tipo_order(report):
        of_tipo = [r for r in rows if r.get("_tipo") == tipo]
        if of_tipo:
            active = sum(1 for r in of_tipo if r.get("_active"))
            share.append(ShareRow(_tipo_label(tipo), active, len(of_tipo)))
    idle = Counter(
        idle_bucket(r.get("ultima_conexion"), report.period_end) for r in idle_rows(report)
    )
    regions = sorted(
        ((clean_text(name) or "Sin región", n) for name, n in report.logins_by_region),
        key=lambda item: (-item[1], item[0]),
    )
    return {
        "regions": hbar_chart(
            regions,
            title="Ingresos a la aplicación por región",
            empty="Ningún ingreso de aliados en el mes.",
        ),
        "active": share_chart(share, title="Aliados con actividad en el mes, por tipo"),
        "daily": daily_chart(
            report.daily,
            start=report.period_start,
            end=report.period_end,
            title="Sesiones e ingresos por día",
        ),
        "idle": hbar_chart(
            [(b, idle[b]) for b in IDLE_BUCKETS if idle[b]],
            title="Aliados sin actividad en el mes, según su última conexión",
            highlight=frozenset({"Nunca"}),
            empty="Todos los aliados tuvieron actividad en el mes.",
        ),
    }


def device_charts(report: MonthReport) -> tuple[Markup, Markup]:
    devices: dict[str, Counter[str]] = defaultdict(Counter)
    browsers: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for d in report.devices:
        devices[d.tipo][clean_text(d.device)] += d.sessions
        browsers[d.tipo][clean_text(d.browser)] += d.sessions
        overall[clean_text(d.browser)] += d.sessions
    top = [b for b, _ in sorted(overall.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    order = [t for t in _tipo_order(report) if t in devices]
    browser_rows = []
    for t in order:
        parts: Counter[str] = Counter()
        for b, n in browsers[t].items():
            parts[b if b in top else "Otros"] += n
        browser_rows.append((_tipo_label(t), dict(parts)))
    return (
        stacked_chart(
            [(_tipo_label(t), dict(devices[t])) for t in order],
            title="Sesiones de aliados por tipo de dispositivo",
        ),
        stacked_chart(
            browser_rows, title="Sesiones de aliados por navegador", order=[*top, "Otros"]
        ),
    )


