"""Figures derived from the model that more than one renderer shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import OutputError
from ..model import MatrixTable, MonthReport, PageRow, UnknownUser
from ._coverage import coverage_line, partial_notice
from ._text import column_kind, month_label

#: Columns that name the ally: they stay in view while the figures scroll sideways.
PINNED = ("ubigeo", "entidad")

#: Percentage columns as (numerator, denominator) components, as ``metrics.rates`` divides them.
RATIOS: dict[str, tuple[str, str]] = {
    "rebote": ("bounces", "sessions"),
    "salidas": ("exits", "pageviews"),
}
#: The average time on page: Σ time on page ÷ (page views − exits).
AVERAGE_TIME = "tiempo_promedio"
TIME_PARTS = ("time_on_page", "pageviews", "exits")
#: Every component a total of shown rows may need, in the order renderers write them, with the
#: Spanish name the workbook gives its (hidden) column.
PART_LABELS = {
    "sessions": "Componente: sesiones",
    "bounces": "Componente: rebotes",
    "pageviews": "Componente: vistas de página",
    "exits": "Componente: salidas",
    "time_on_page": "Componente: segundos en la página",
}
PARTS = tuple(PART_LABELS)


def pinned_through(columns: tuple[str, ...]) -> int:
    """How many leading columns stay in view, up to the last pinned one (Entidad by default)."""
    return max((i + 1 for i, key in enumerate(columns) if key in PINNED), default=0)


def label_column(columns: tuple[str, ...]) -> str | None:
    """The column whose total cell reads "Total": Entidad, else a leading text column."""
    if "entidad" in columns:
        return "entidad"
    if columns and column_kind(columns[0]) == "text":
        return columns[0]
    return None


def total_rule(key: str, columns: tuple[str, ...]) -> str:
    """How a column's total comes from the rows shown.

    ``sum`` (counts), ``max`` (dates), ``ratio`` (percentages, from summed components),
    ``time`` (average time on page, from summed components), ``label`` or ``""`` (text).
    """
    kind = column_kind(key)
    if kind == "count":
        return "sum"
    if kind == "datetime":
        return "max"
    if key in RATIOS:
        return "ratio"
    if key == AVERAGE_TIME:
        return "time"
    return "label" if key == label_column(columns) else ""


def parts_needed(columns: tuple[str, ...]) -> list[str]:
    """The components the matrix's rate and duration columns are computed from."""
    wanted: set[str] = set()
    for key in columns:
        if key in RATIOS:
            wanted.update(RATIOS[key])
        elif key == AVERAGE_TIME:
            wanted.update(TIME_PARTS)
    return [p for p in PARTS if p in wanted]


def row_parts(row: dict[str, Any], parts: list[str]) -> list[int | float]:
    """A matrix row's components, in ``parts`` order (the report builder stores them)."""
    comp = row.get("_components")
    if parts and comp is None:
        raise OutputError(
            f"matrix row {row.get('ubigeo', '')} {row.get('entidad', '')}: no components "
            "to total its rates from (rows come from report.build_report)"
        )
    if not comp:
        return []
    # time on page is summed in whole microseconds (metrics); readers total it in seconds
    return [comp["time_on_page_us"] / 1e6 if p == "time_on_page" else int(comp[p]) for p in parts]


def matrix_totals(matrix: MatrixTable) -> dict[str, Any]:
    """The totals row: counts summed over the rows; rates, durations and dates as the builder gave.

    Rates cannot be summed, so they come from ``matrix.totals``, which the report builder
    computes from the summed components.
    """
    out: dict[str, Any] = {}
    label = label_column(matrix.columns)
    for key in matrix.columns:
        kind = column_kind(key)
        if kind == "count":
            out[key] = sum(int(r.get(key) or 0) for r in matrix.rows)
        elif kind == "text":
            out[key] = "Total" if key == label else ""
        else:
            out[key] = matrix.totals.get(key)
    return out


def coverage_rows(report: MonthReport) -> list[tuple[str, Any]]:
    """(label, typed value) pairs saying what data the report stands on."""
    cfg, cov = report.config, report.coverage
    rows = [
        ("Programa", cfg.programme),
        ("Aplicación", cfg.application),
        (
            "Periodo",
            f"{month_label(report.month)} ({report.period_start:%Y-%m-%d} al "
            f"{report.period_end:%Y-%m-%d}, {zone_label(cfg.timezone)})",
        ),
        ("Generado", report.generated_at),
        ("Primera petición del mes", cov.first_hit),
        ("Última petición del mes", cov.last_hit),
        ("Archivos de registro con peticiones del mes", cov.files),
        ("Peticiones almacenadas del mes", cov.hits),
        ("Peticiones de robots (excluidas)", cov.bot_hits),
        ("Peticiones de personas", cov.human_hits),
        ("Peticiones de interacción (vistas de página y eventos)", cov.interaction_hits),
        ("Líneas rechazadas (no legibles) en las ingestas", cov.lines_rejected),
    ]
    return _with_logs(rows, report)


def _with_logs(rows: list[tuple[str, Any]], report: MonthReport) -> list[tuple[str, Any]]:
    """The rows with what the month's logs cover (after the last request) and, for a partial
    month, why it is partial (after the period)."""
    logs = report.coverage.logs
    if logs is None:
        return rows
    at = next(i for i, (label, _) in enumerate(rows) if label == "Última petición del mes") + 1
    rows.insert(at, ("Cobertura de los registros", coverage_line(logs)))
    notice = partial_notice(report)
    if notice:
        rows.insert(3, ("Mes incompleto", notice))
    return rows


def zone_label(timezone: str) -> str:
    """How the report names its clock: "hora de Lima" for the default zone."""
    return "hora de Lima" if timezone == "America/Lima" else f"hora de {timezone}"


#: A table column both the HTML and the XLSX show: header, value kind (see ``_text``), value.
Column = tuple[str, str, Callable[[Any], Any]]

#: The Páginas table: a row is a page or a group of pages (page_groups), which shows how many
#: distinct pages it gathers, never which (they may hold record ids).
PAGE_COLUMNS: list[Column] = [
    ("Página o grupo", "text", lambda p: p.page),
    ("Vistas de página", "count", lambda p: p.pageviews),
    ("Vistas de página únicas", "count", lambda p: p.unique_pageviews),
    ("Promedio de tiempo en la página", "duration", lambda p: p.avg_time_on_page),
    ("Entradas", "count", lambda p: p.entrances),
    ("Porcentaje de rebote", "percent", lambda p: p.bounce_rate),
    ("Porcentaje de salidas", "percent", lambda p: p.exit_rate),
    ("Páginas distintas", "count", lambda p: p.paths),
]
UNKNOWN_COLUMNS: list[Column] = [
    ("Usuario", "text", lambda u: u.user),
    ("Peticiones", "count", lambda u: u.hits),
    ("Sesiones", "count", lambda u: u.sessions),
    ("Última vez visto", "datetime", lambda u: u.last_seen),
]


def column_values(columns: list[Column], item: PageRow | UnknownUser) -> list[Any]:
    """One item's values, in column order."""
    return [get(item) for _, _, get in columns]
