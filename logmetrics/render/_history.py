"""The last 12 months per ally ("Últimos 12 meses"), as the HTML section and the XLSX sheet show it.

One row per ally of each matrix (the matrix's order), its ally columns, one column per month
holding that month's ingresos (or "sin datos" for a month the store holds nothing of), and
"Meses consecutivos sin actividad", which the training team sorts by. The HTML adds a chart per
matrix of its allies with activity per month.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from ..model import History, HistoryTable
from ._charts import monthly_chart
from ._tables import Cell, Head, Row, Table, pin_classes, typed_cell
from ._text import MONTHS_ES, clean_text, date_long

SECTION = "ultimos-12-meses"
TITLE = "Últimos 12 meses"
NO_DATA = "sin datos"
IDLE = "Meses consecutivos sin actividad"
ALLY_COLUMNS = (
    ("ubigeo", "Ubigeo"),
    ("region", "Región"),
    ("provincia", "Provincia"),
    ("distrito", "Distrito"),
    ("entidad", "Entidad"),
    ("tipo", "Tipo"),
)


def month_short(month: str) -> tuple[str, str]:
    """``2022-03`` -> (``mar``, ``2022``)."""
    year, mon = month.split("-")
    return MONTHS_ES[int(mon) - 1][:3], year


def headers(history: History) -> list[str]:
    """The columns: the ally's, one per month (``mar 2022``), the months without activity."""
    months = [" ".join(month_short(m)) for m in history.months]
    return [label for _, label in ALLY_COLUMNS] + months + [IDLE]


def kinds(history: History) -> list[str]:
    """Each column's kind (``_text.column_kind``'s): a month without data is text."""
    months = ["count" if ok else "text" for ok in history.with_data]
    return ["text"] * len(ALLY_COLUMNS) + months + ["count"]


def rows(history: History) -> Iterator[list[Any]]:
    """Every matrix's rows, in order, as typed values ("sin datos" for a month without data)."""
    for table in history.tables:
        for r in table.rows:
            months = [NO_DATA if v is None else v for v in r.values]
            yield [r.ally[k] for k, _ in ALLY_COLUMNS] + months + [r.idle_months]


def lead(history: History, period: str) -> str:
    """How the section reads."""
    return (
        f"{clean_text(history.label)} de cada aliado en los 12 meses hasta {period}. "
        f"«{NO_DATA}»: un mes del que el almacén no guarda registros (empiezan el "
        f"{date_long(history.first_day)}). «{IDLE}»: meses hasta {period} inclusive, contados "
        "hacia atrás, sin ninguna interacción del aliado (desde su última conexión); para un "
        "aliado que nunca tuvo actividad, todos los meses desde el primero con datos."
    )


@dataclass
class HistoryBlock:
    """One matrix's part of the HTML section: its chart and its table."""

    title: str
    chart: Markup
    table: Table


def _table(history: History, table: HistoryTable, number: int) -> Table:
    columns = tuple(k for k, _ in ALLY_COLUMNS)
    pins = pin_classes(columns)
    out = []
    for r in table.rows:
        cells = [Cell(clean_text(r.ally[k]), cls=pins.get(k, "")) for k in columns]
        for v in r.values:
            cells.append(
                Cell(NO_DATA, "", num=True, cls="na") if v is None else typed_cell("count", v)
            )
        cells.append(typed_cell("count", r.idle_months))
        out.append(Row(cells, cls="" if r.idle_months == 0 else "idle"))
    labels = headers(history)
    return Table(
        id=f"{SECTION}-{number}",
        caption=f"{TITLE}: {clean_text(table.spec.title)}",
        headers=[
            Head(
                clean_text(h),
                i >= len(columns),
                pins.get(columns[i], "") if i < len(columns) else "",
            )
            for i, h in enumerate(labels)
        ],  # fmt: skip
        rows=out,
        empty="La tabla de aliados no tiene aliados de este tipo.",
    )


def blocks(history: History) -> list[HistoryBlock]:
    """Per matrix: a chart of its allies with activity per month, and its table."""
    out = []
    months = [month_short(m) for m in history.months]
    shown = [(label, year if i == 0 or label == "ene" else "") for i, (label, year) in
             enumerate(months)]  # fmt: skip
    for number, table in enumerate(history.tables, start=1):
        title = clean_text(table.spec.title)
        chart = monthly_chart(
            shown,
            table.active,
            total=len(table.rows),
            title=f"{title}: aliados con actividad por mes",
        )
        out.append(HistoryBlock(title, chart, _table(history, table, number)))
    return out
