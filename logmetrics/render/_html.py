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
from dataclasses import dataclass, field

import jinja2
from markupsafe import Markup

from .._resources import resource_dir
from ..errors import OutputError
from ..model import MonthReport, Totals
from . import _history as history_section
from ._common import (
    coverage_rows,
    zone_label,
)
from ._coverage import partial_notice
from ._definitions import definitions
from ._history import HistoryBlock
from ._sections import (
    charts,
    daily_table,
    device_charts,
    devices_table,
    idle_rows,
    idle_table,
    pages_table,
    unknown_table,
)
from ._tables import Table, matrix_table
from ._text import (
    clean_text,
    datetime_long,
    fmt_datetime,
    fmt_decimal,
    fmt_int,
    fmt_share,
    month_label,
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
    idle = idle_rows(report)
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
    idle = idle_rows(report)
    device_chart, browser_chart = device_charts(report)
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
        charts=charts(report),
        matrices=sections,
        idle=idle_table(report),
        idle_count=len(idle),
        never_count=sum(1 for r in idle if r.get("ultima_conexion") is None),
        unknown=unknown_table(report),
        pages=pages_table(report),
        devices=devices_table(report),
        device_chart=device_chart,
        browser_chart=browser_chart,
        daily=daily_table(report),
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
