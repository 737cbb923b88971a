"""The workbook people filter and forward: typed cells, and formulas only where meant.

Every value goes through a typed ``write_*`` call, and the workbook refuses to guess
(``strings_to_formulas/urls/numbers`` off), so ``=HYPERLINK(...)`` in a user name stays a
string. The only formulas are the matrices' Total rows: ``SUBTOTAL`` over the table (with the
value Python computed cached), so Excel's and LibreOffice's filters change the totals. Rates
there divide summed components, never average rates: each matrix row carries its sessions,
bounces, page views, exits and seconds on page in hidden columns at the right (grouped, so an
analyst can unfold them; inside the filter range, so sorting keeps them with their row).
Output is byte-for-byte reproducible: XlsxWriter fixes the zip member timestamps in memory
mode, and the document's creation date is the report's ``generated_at``.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.utility import xl_range, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..errors import OutputError
from ..model import History, MatrixTable, MonthReport
from . import _history as history_section
from ._common import (
    AVERAGE_TIME,
    PAGE_COLUMNS,
    PART_LABELS,
    RATIOS,
    UNKNOWN_COLUMNS,
    column_values,
    coverage_rows,
    label_column,
    matrix_totals,
    parts_needed,
    pinned_through,
    row_parts,
)
from ._definitions import definitions
from ._text import (
    clean_text,
    column_kind,
    fmt_duration,
    fmt_int,
    month_label,
    pct2,
    tipo_name,
)

_MAX_CELL = 32767
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
NUMBER_FORMATS = {
    "text": "@",
    "count": "#,##0",
    "percent": "0.00%",
    "duration": "[hh]:mm:ss",
    "datetime": "yyyy-mm-dd hh:mm:ss",
    "seconds": "#,##0",  # a component: seconds on page, summed (may hold fractions)
}
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DISPLAY_WIDTH = {"percent": 8, "duration": 9, "datetime": 19}


@dataclass
class _Formats:
    header: Any
    cells: dict[str, Any]
    totals: dict[str, Any]
    title: Any
    label: Any
    wrap: Any
    note: Any


def _formats(wb: Workbook) -> _Formats:
    base = {"font_name": "Calibri", "font_size": 11, "valign": "top"}
    header = wb.add_format(
        base | {"bold": True, "text_wrap": True, "bg_color": "#DCE6F0", "bottom": 1}
    )
    cells = {k: wb.add_format(base | {"num_format": f}) for k, f in NUMBER_FORMATS.items()}
    totals = {
        k: wb.add_format(base | {"num_format": f, "bold": True, "top": 1})
        for k, f in NUMBER_FORMATS.items()
    }
    return _Formats(
        header=header,
        cells=cells,
        totals=totals,
        title=wb.add_format(base | {"bold": True, "font_size": 14}),
        label=wb.add_format(base | {"bold": True}),
        wrap=wb.add_format(base | {"text_wrap": True}),
        note=wb.add_format(base | {"italic": True, "font_color": "#595959"}),
    )


def cell_text(value: Any) -> str:
    """Text as the workbook stores it: forbidden characters gone, within Excel's cell limit."""
    s = clean_text(value)
    return s if len(s) <= _MAX_CELL else s[: _MAX_CELL - 1] + "…"


def _display_len(kind: str, value: Any) -> int:
    if value is None:
        return 0
    if kind == "text":
        return max((len(line) for line in cell_text(value).splitlines()), default=0)
    if kind in ("count", "seconds"):
        return len(fmt_int(round(value)))
    if kind == "duration":
        return len(fmt_duration(value))
    return _DISPLAY_WIDTH[kind]


def _write(ws: Worksheet, row: int, col: int, kind: str, value: Any, fmt: Any) -> None:
    if value is None or (kind == "text" and value == ""):
        ws.write_blank(row, col, None, fmt)
    elif kind == "text":
        ws.write_string(row, col, cell_text(value), fmt)
    elif kind == "count":
        ws.write_number(row, col, int(value), fmt)
    elif kind == "percent":
        ws.write_number(row, col, float(pct2(value) / 100), fmt)
    elif kind == "duration":
        ws.write_number(row, col, int(value) / 86400, fmt)
    elif kind == "datetime":
        ws.write_datetime(row, col, value, fmt)
    elif kind == "seconds":
        ws.write_number(row, col, float(value), fmt)
    else:  # pragma: no cover - kinds are fixed above
        raise ValueError(kind)


def _cached(kind: str, value: Any) -> Any:
    """A total as the cell stores it, cached beside its formula: what ``_write`` would write."""
    if value is None:
        return ""
    if kind == "percent":
        return float(pct2(value) / 100)
    if kind == "duration":
        return int(value) / 86400
    if kind == "datetime":
        return (value - _EXCEL_EPOCH) / dt.timedelta(days=1)
    return value


@dataclass
class _Total:
    """A totals cell: a formula with its cached value, or a plain value (``formula`` empty)."""

    value: Any
    formula: str = ""


def _table(
    ws: Worksheet,
    fm: _Formats,
    *,
    headers: Sequence[str],
    kinds: Sequence[str],
    rows: Iterable[Sequence[Any]],
    totals: Sequence[_Total] | None = None,
    empty_note: str = "",
    freeze_cols: int = 0,
) -> None:
    """Header row, typed rows, optional totals; frozen header (and ``freeze_cols`` leading
    columns), filter and fitted widths."""
    widths = [0] * len(headers)
    for c, h in enumerate(headers):
        ws.write_string(0, c, cell_text(h), fm.header)
    r = 0
    for r, values in enumerate(rows, start=1):
        for c, (kind, value) in enumerate(zip(kinds, values, strict=True)):
            _write(ws, r, c, kind, value, fm.cells[kind])
            widths[c] = max(widths[c], _display_len(kind, value))
    last = r
    if last == 0 and empty_note:
        ws.write_string(1, 0, empty_note, fm.note)
    if last:
        ws.autofilter(0, 0, last, len(headers) - 1)
    if totals is not None and last:
        for c, (kind, total) in enumerate(zip(kinds, totals, strict=True)):
            if total.formula:
                cached = _cached(kind, total.value)
                ws.write_formula(last + 1, c, total.formula, fm.totals[kind], cached)
            else:
                _write(ws, last + 1, c, kind, total.value, fm.totals[kind])
            widths[c] = max(widths[c], _display_len(kind, total.value))
    ws.freeze_panes(1, freeze_cols)
    lines = 1
    for c, h in enumerate(headers):
        longest_word = max((len(w) for w in h.split()), default=0)
        width = max(widths[c] + 2, min(len(h) + 2, 18), longest_word + 2, 8)
        width = min(width, 60)
        ws.set_column(c, c, width)
        lines = max(lines, math.ceil(len(h) / max(width - 2, 1)))
    ws.set_row(0, 15 * min(lines, 6))


def _sheet_name(title: str, used: set[str], fallback: str) -> str:
    name = re.sub(r"\s+", " ", _SHEET_BAD.sub(" ", clean_text(title))).strip().strip("'")
    name = name[:31].strip() or fallback
    base, n = name, 2
    while name.casefold() in used:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(name.casefold())
    return name


def _header_footer_text(text: str) -> str:
    return text.replace("&", "&&")[:100]


def _print_setup(ws: Worksheet, title: str) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.set_header(f"&L{_header_footer_text(title)}")
    ws.set_footer("&RPágina &P de &N")


def _matrix_totals(matrix: MatrixTable, parts: list[str]) -> list[_Total]:
    """The Total row: ``SUBTOTAL`` over the rows (hidden and filtered-out rows left out), rates
    and the average time from the summed components, each with the value Python computed."""
    columns = matrix.columns
    first, last = 1, len(matrix.rows)  # data rows, 0-based; the totals go on row last + 1
    helper = {p: len(columns) + i for i, p in enumerate(parts)}
    cell = {p: xl_rowcol_to_cell(last + 1, c) for p, c in helper.items()}
    values = matrix_totals(matrix)
    label = label_column(columns)
    out: list[_Total] = []
    for c, key in enumerate(columns):
        kind, span, value = column_kind(key), xl_range(first, c, last, c), values.get(key)
        if kind == "count":
            out.append(_Total(value, f"=SUBTOTAL(109,{span})"))
        elif kind == "datetime":
            out.append(_Total(value, f'=IF(SUBTOTAL(102,{span})=0,"",SUBTOTAL(104,{span}))'))
        elif key in RATIOS:
            num, den = (cell[p] for p in RATIOS[key])
            out.append(_Total(value, f'=IF({den}=0,"",ROUND({num}*100/{den},2)/100)'))
        elif key == AVERAGE_TIME:
            top, views, exits = cell["time_on_page"], cell["pageviews"], cell["exits"]
            div = f"({views}-{exits})"
            out.append(_Total(value, f"=IF({div}<=0,0,ROUND({top}/{div},0)/86400)"))
        else:
            out.append(_Total("Total" if key == label else ""))
    per_row = [row_parts(r, parts) for r in matrix.rows]
    sums = [sum(row[i] for row in per_row) for i in range(len(parts))]
    for p, total in zip(parts, sums, strict=True):
        span = xl_range(first, helper[p], last, helper[p])
        out.append(_Total(total if p == "time_on_page" else int(total), f"=SUBTOTAL(109,{span})"))
    return out


def _matrix_sheet(wb: Workbook, fm: _Formats, matrix: MatrixTable, name: str, period: str) -> None:
    ws = wb.add_worksheet(name)
    parts = parts_needed(matrix.columns)
    kinds = [column_kind(k) for k in matrix.columns]
    kinds += ["seconds" if p == "time_on_page" else "count" for p in parts]
    _table(
        ws,
        fm,
        headers=[*matrix.headers, *(PART_LABELS[p] for p in parts)],
        kinds=kinds,
        rows=(
            [*(row.get(k) for k in matrix.columns), *row_parts(row, parts)]
            for row in matrix.rows
        ),
        totals=_matrix_totals(matrix, parts),
        empty_note="Sin aliados de este tipo en la tabla de aliados.",
        freeze_cols=pinned_through(matrix.columns),
    )
    if parts:  # components: hidden, grouped under an outline button, for the totals only
        first = len(matrix.columns)
        ws.set_column(first, first + len(parts) - 1, 14, None, {"hidden": True, "level": 1})
    _print_setup(ws, f"{matrix.spec.title} — {period}")


def _history_sheet(wb: Workbook, fm: _Formats, history: History, period: str) -> None:
    """«Últimos 12 meses»: every matrix's allies in one filterable table."""
    ws = wb.add_worksheet(history_section.TITLE)
    _table(
        ws,
        fm,
        headers=history_section.headers(history),
        kinds=history_section.kinds(history),
        rows=history_section.rows(history),
        empty_note="Sin aliados en la tabla de aliados.",
        freeze_cols=pinned_through(tuple(k for k, _ in history_section.ALLY_COLUMNS)),
    )
    _print_setup(ws, f"{history_section.TITLE} — {period}")


def _pages_sheet(wb: Workbook, fm: _Formats, report: MonthReport, name: str, period: str) -> None:
    ws = wb.add_worksheet(name)
    _table(
        ws,
        fm,
        headers=[label for label, _, _ in PAGE_COLUMNS],
        kinds=[kind for _, kind, _ in PAGE_COLUMNS],
        rows=(column_values(PAGE_COLUMNS, p) for p in report.pages),
        empty_note="Sin vistas de página de aliados en el mes.",
    )
    _print_setup(ws, f"Páginas (sesiones de aliados) — {period}")


def _devices_sheet(wb: Workbook, fm: _Formats, report: MonthReport, name: str, period: str) -> None:
    ws = wb.add_worksheet(name)
    _table(
        ws,
        fm,
        headers=[
            "Tipo",
            "Tipo de aliado",
            "Dispositivo",
            "Navegador",
            "Sistema operativo",
            "Sesiones",
        ],  # fmt: skip
        kinds=["text", "text", "text", "text", "text", "count"],
        rows=(
            [d.tipo, tipo_name(d.tipo), d.device, d.browser, d.os, d.sessions]
            for d in report.devices
        ),
        empty_note="Sin sesiones de aliados en el mes.",
    )
    _print_setup(ws, f"Dispositivos y navegadores — {period}")


def _unknown_sheet(wb: Workbook, fm: _Formats, report: MonthReport, name: str, period: str) -> None:
    ws = wb.add_worksheet(name)
    _table(
        ws,
        fm,
        headers=[label for label, _, _ in UNKNOWN_COLUMNS],
        kinds=[kind for _, kind, _ in UNKNOWN_COLUMNS],
        rows=(column_values(UNKNOWN_COLUMNS, u) for u in report.unknown_users),
        empty_note="Ningún usuario desconocido en el mes.",
    )
    _print_setup(ws, f"Usuarios desconocidos — {period}")


def _notes_sheet(wb: Workbook, fm: _Formats, report: MonthReport, name: str) -> None:
    ws = wb.add_worksheet(name)
    ws.set_column(0, 0, 44)
    ws.set_column(1, 1, 100)
    title = f"Reporte de uso de la aplicación {report.config.application}"
    ws.write_string(0, 0, cell_text(title), fm.title)
    r = 2
    for label, value in coverage_rows(report):
        ws.write_string(r, 0, label, fm.label)
        if isinstance(value, dt.datetime):
            _write(ws, r, 1, "datetime", value, fm.cells["datetime"])
        elif isinstance(value, int):
            _write(ws, r, 1, "count", value, fm.cells["count"])
        else:
            _write(ws, r, 1, "text", value, fm.wrap)
        r += 1
    r += 1
    ws.write_string(r, 0, "Definiciones", fm.title)
    r += 1
    for term, text in definitions(report.config):
        ws.write_string(r, 0, cell_text(term), fm.label)
        ws.write_string(r, 1, cell_text(text), fm.wrap)
        ws.set_row(r, 15 * max(1, math.ceil(len(text) / 95)))
        r += 1
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_footer("&RPágina &P de &N")


def _created_utc(report: MonthReport) -> dt.datetime:
    """The report's local generation time as the UTC instant Office stores."""
    local = report.generated_at.replace(tzinfo=report.config.tz)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def xlsx_bytes(report: MonthReport) -> bytes:
    """The workbook as bytes: matrices, Últimos 12 meses, Páginas, Dispositivos, Usuarios
    desconocidos, Notas."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    period = month_label(report.month)
    wb.set_properties(
        {
            "title": cell_text(f"Reporte {report.config.application} — {period}"),
            "subject": "Uso de la aplicación por aliado",
            "author": cell_text(report.config.programme),
            "company": cell_text(report.config.programme),
            "comments": "Generado por logmetrics",
            "created": _created_utc(report),
        }
    )
    fm = _formats(wb)
    used = {"páginas", "dispositivos", "usuarios desconocidos", "notas",
            history_section.TITLE.casefold()}  # fmt: skip
    for i, matrix in enumerate(report.matrices, start=1):
        name = _sheet_name(matrix.spec.title, used, f"Matriz {i}")
        _matrix_sheet(wb, fm, matrix, name, period)
    if report.history is not None:
        _history_sheet(wb, fm, report.history, period)
    _pages_sheet(wb, fm, report, "Páginas", period)
    _devices_sheet(wb, fm, report, "Dispositivos", period)
    _unknown_sheet(wb, fm, report, "Usuarios desconocidos", period)
    _notes_sheet(wb, fm, report, "Notas")
    try:
        wb.close()
    except XlsxWriterException as exc:
        raise OutputError(f"workbook for {report.month}: {exc}") from exc
    return buf.getvalue()
