"""The HTML report: one self-contained Spanish page that is read on laptops, phones and paper.

Python prepares every figure as display text plus a sort key; the Jinja2 template (autoescape
on, undefined names are errors) only lays them out. The page loads nothing: CSS, script and SVG
are inline, and a Content-Security-Policy carrying the SHA-256 of the exact inline style and
script forbids every other load or script, so a payload that slipped past escaping would still
not run. Tables are sorted, filtered and totalled by reading the cells (``data-v`` sort keys)
and the matrix rows' components (``data-*``, see ``_tables``), so no data is embedded as JSON
in a script.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import jinja2
from markupsafe import Markup

from .._resources import resource_dir
from ..errors import OutputError
from ..model import MonthReport, Totals
from . import _history as history_section
from ._charts import ShareRow, daily_chart, hbar_chart, share_chart, stacked_chart
from ._common import (
    PAGE_COLUMNS,
    UNKNOWN_COLUMNS,
    Column,
    column_values,
    coverage_rows,
    zone_label,
)
from ._coverage import partial_notice
from ._definitions import definitions
from ._history import HistoryBlock
from ._tables import NEVER, Cell, Head, Row, Table, matrix_table, typed_cell
from ._text import (
    clean_text,
    datetime_long,
    fmt_datetime,
    fmt_decimal,
    fmt_int,
    fmt_share,
    half_up,
    month_label,
    months_between,
    tipo_name,
)

TEMPLATE = "report.html.j2"


@dataclass
class Card:
    label: str
    value: str
    note: str = ""
    change: str = ""
    trend: str = ""  # "up", "down" or "" (no previous month or no change)


@dataclass
class Section:
    """A matrix section of the page."""

    id: str
    number: int
    title: str
    active: int
    total: int
    table: Table


@dataclass
class Page:
    """Everything the template needs, already formatted."""

    title: str
    lang: str
    programme: str
    application: str
    period: str
    generated: str
    generated_iso: str
    zone: str
    csp: str
    css: Markup
    js: Markup
    summary: list[str]
    cards: list[Card]
    coverage: list[tuple[str, str]]
    charts: dict[str, Markup]
    matrices: list[Section]
    idle: Table
    idle_count: int
    never_count: int
    unknown: Table
    pages: Table
    devices: Table
    device_chart: Markup
    browser_chart: Markup
    daily: Table
    definitions: list[tuple[str, str]]
    toc: list[tuple[str, str]] = field(default_factory=list)
    partial: str = ""  # the partial month's banner (_coverage.partial_notice), "" if whole
    #: the last 12 months (``_history``): how it reads, and one block per matrix
    history_lead: str = ""
    history: list[HistoryBlock] = field(default_factory=list)


# --- environment ---------------------------------------------------------------------------


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates in a per-user temp directory (jinja2 checks it is the user's own,
    mode 0700), keyed by the template's source: a report skips ~0.04 s of compiling. Only a
    cache: a file it cannot read or write is a miss, never a failed report."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - a damaged entry: compile again
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> _TemplateCache | None:
    try:
        return _TemplateCache()
    except (OSError, RuntimeError):  # no safe temp directory of our own
        return None


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        bytecode_cache=_template_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["int_es"] = fmt_int
    return env


def _asset(name: str) -> str:
    path = resource_dir("templates") / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot read report template: {exc.strerror}") from exc


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(*, css: str, js: str) -> str:
    """Nothing may load; only our own inline style and script may apply."""
    return (
        "default-src 'none'; "
        f"style-src {csp_hash(css)}; "
        f"script-src {csp_hash(js)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


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


def _idle_rows(report: MonthReport) -> list[dict[str, Any]]:
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


def _idle_table(report: MonthReport) -> Table:
    rows = []
    for r in _idle_rows(report):
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


def _unknown_table(report: MonthReport) -> Table:
    return Table(
        id="desconocidos",
        caption="Usuarios desconocidos",
        headers=_heads(UNKNOWN_COLUMNS),
        rows=[_row(UNKNOWN_COLUMNS, u) for u in report.unknown_users],
        empty="Ningún usuario desconocido en el mes: la tabla de aliados está completa.",
    )


def _pages_table(report: MonthReport) -> Table:
    return Table(
        id="paginas",
        caption="Páginas vistas en sesiones de aliados",
        headers=_heads(PAGE_COLUMNS),
        rows=[_row(PAGE_COLUMNS, p) for p in report.pages],
        empty="Sin vistas de página de aliados en el mes.",
    )


def _devices_table(report: MonthReport) -> Table:
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


def _daily_table(report: MonthReport) -> Table:
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


def _charts(report: MonthReport) -> dict[str, Markup]:
    rows = _all_rows(report)
    share = []
    for tipo in _tipo_order(report):
        of_tipo = [r for r in rows if r.get("_tipo") == tipo]
        if of_tipo:
            active = sum(1 for r in of_tipo if r.get("_active"))
            share.append(ShareRow(_tipo_label(tipo), active, len(of_tipo)))
    idle = Counter(
        idle_bucket(r.get("ultima_conexion"), report.period_end) for r in _idle_rows(report)
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


def _device_charts(report: MonthReport) -> tuple[Markup, Markup]:
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


def previous_month(month: str) -> str:
    """``2022-03`` -> ``2022-02``; ``2022-01`` -> ``2021-12``."""
    year, mon = (int(x) for x in month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def change(current: int, previous: int | None, *, prev_label: str) -> tuple[str, str]:
    """The change against the previous month as text and a trend, ("", "") if unknown."""
    if previous is None:
        return "", ""
    if previous == 0:
        if current == 0:
            return f"sin cambio respecto a {prev_label}", ""
        return f"+{fmt_int(current)} ({prev_label}: 0)", "up"
    pct = (current - previous) / previous * 100
    if round(pct, 1) == 0:
        return f"sin cambio respecto a {prev_label}", ""
    sign = "+" if pct > 0 else "−"
    trend = "up" if pct > 0 else "down"
    return f"{sign}{fmt_decimal(abs(pct), places=1)}% respecto a {prev_label}", trend


_HEADLINE_EVENTS = (
    ("ingresos", "Ingresos a la aplicación"),
    ("descargas", "Descargas"),
    ("solicitudes", "Solicitudes remitidas"),
)


def _cards(report: MonthReport) -> list[Card]:
    prev: Totals | None = report.previous_totals
    prev_label = month_label(previous_month(report.month))
    cards: list[Card] = []
    for m in report.matrices:
        total = len(m.rows)
        pct = fmt_share(m.active_allies, total)
        cards.append(
            Card(
                label=f"Aliados activos · {clean_text(m.spec.title)}",
                value=f"{fmt_int(m.active_allies)} de {fmt_int(total)}",
                note=f"{pct} con al menos una interacción",
            )
        )
    t = report.totals
    figures = [
        ("Sesiones", t.sessions, prev.sessions if prev else None),
        ("Vistas de página", t.pageviews, prev.pageviews if prev else None),
    ]
    names = {e.name for e in report.config.events}
    for key, label in _HEADLINE_EVENTS:
        if key in names:
            before = prev.events.get(key, 0) if prev else None
            figures.append((label, t.events.get(key, 0), before))
    figures.append(("Usuarios con actividad", t.users, prev.users if prev else None))
    for label, value, before in figures:
        text, trend = change(value, before, prev_label=prev_label)
        cards.append(Card(label=label, value=fmt_int(value), change=text, trend=trend))
    return cards


def summary_sentences(report: MonthReport) -> list[str]:
    """The month in a few Spanish sentences: the report's «Resumen» and the mail's body."""
    period = month_label(report.month)
    out: list[str] = []
    for m in report.matrices:
        total = len(m.rows)
        if total:
            out.append(
                f"{clean_text(m.spec.title)}: {fmt_int(m.active_allies)} de {fmt_int(total)} "
                f"aliados usaron la aplicación en {period}."
            )
    idle = _idle_rows(report)
    never = sum(1 for r in idle if r.get("ultima_conexion") is None)
    if idle:
        text = f"{fmt_int(len(idle))} aliados no tuvieron actividad en el mes"
        text += f"; {fmt_int(never)} nunca se han conectado." if never else "."
        out.append(text)
    if report.logins_by_region:
        name, n = min(report.logins_by_region, key=lambda item: (-item[1], item[0]))
        if n:
            out.append(f"La región con más ingresos fue {clean_text(name)} ({fmt_int(n)}).")
    if report.unknown_users:
        k = len(report.unknown_users)
        out.append(
            f"{fmt_int(k)} nombre{'s' if k != 1 else ''} de usuario visto{'s' if k != 1 else ''}"
            " en los registros no figura"
            f"{'n' if k != 1 else ''} en la tabla de aliados (ver «Usuarios desconocidos»)."
        )
    return out


def _coverage(report: MonthReport) -> list[tuple[str, str]]:
    out = []
    for label, value in coverage_rows(report)[2:]:
        if isinstance(value, dt.datetime):
            text = fmt_datetime(value)
        elif value is None:
            text = "sin peticiones"
        elif isinstance(value, int):
            text = fmt_int(value)
        else:
            text = clean_text(value)
        out.append((label, text))
    return out


def page_model(report: MonthReport) -> Page:
    """Everything the template shows, formatted for a Spanish-speaking reader in Peru."""
    css, js = _asset("report.css"), _asset("report.js")
    cfg = report.config
    period = month_label(report.month)
    sections = [
        Section(
            id=f"matriz-{i}-seccion",
            number=i,
            title=clean_text(m.spec.title),
            active=m.active_allies,
            total=len(m.rows),
            table=matrix_table(m, i),
        )
        for i, m in enumerate(report.matrices, start=1)
    ]
    idle = _idle_rows(report)
    device_chart, browser_chart = _device_charts(report)
    toc = [("resumen", "Resumen"), ("graficos", "Gráficos")]
    toc += [(s.id, f"Matriz {s.number}") for s in sections]
    toc.append(("sin-actividad-seccion", "Sin actividad"))
    if report.history is not None:
        toc.append((history_section.SECTION, history_section.TITLE))
    toc += [
        ("desconocidos-seccion", "Usuarios desconocidos"),
        ("paginas-seccion", "Páginas"),
        ("dispositivos-seccion", "Dispositivos"),
        ("definiciones", "Definiciones"),
    ]
    return Page(
        title=clean_text(f"Reporte {cfg.application} — {period}"),
        lang="es-PE",
        programme=clean_text(cfg.programme),
        application=clean_text(cfg.application),
        period=period,
        generated=datetime_long(report.generated_at),
        generated_iso=report.generated_at.strftime("%Y-%m-%dT%H:%M:%S"),
        zone=zone_label(cfg.timezone),
        csp=content_security_policy(css=css, js=js),
        css=Markup(css),
        js=Markup(js),
        summary=summary_sentences(report),
        cards=_cards(report),
        coverage=_coverage(report),
        charts=_charts(report),
        matrices=sections,
        idle=_idle_table(report),
        idle_count=len(idle),
        never_count=sum(1 for r in idle if r.get("ultima_conexion") is None),
        unknown=_unknown_table(report),
        pages=_pages_table(report),
        devices=_devices_table(report),
        device_chart=device_chart,
        browser_chart=browser_chart,
        daily=_daily_table(report),
        definitions=[(clean_text(t), clean_text(d)) for t, d in definitions(cfg)],
        toc=toc,
        partial=partial_notice(report),
        history_lead=history_section.lead(report.history, period) if report.history else "",
        history=history_section.blocks(report.history) if report.history else [],
    )


def render_page(page: Page) -> str:
    """The page model through the Jinja2 template."""
    try:
        template = _environment().get_template(TEMPLATE)
    except jinja2.TemplateNotFound as exc:
        raise OutputError(f"report template not found: {exc.name}") from exc
    return template.render(page=page)


def render_html(report: MonthReport) -> str:
    """The whole HTML report as text."""
    return render_page(page_model(report))
