"""The HTML report's tables as the template draws them, and the matrices laid out for reading.

A matrix keeps the ally in view (Ubigeo and Entidad are pinned while the figures scroll
sideways) and its Total row follows the reader's filter: every row carries the components its
rates come from (``data-sessions``, ``data-bounces``, ...) and every total cell says how it is
made (``data-total``), so the page's script adds up the rows shown and divides the sums, never
averaging rates. Python writes the same totals for the whole table, for readers without script.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..model import MatrixTable
from ._common import PINNED, RATIOS, matrix_totals, parts_needed, row_parts, total_rule
from ._text import (
    clean_text,
    column_kind,
    fmt_datetime,
    fmt_duration,
    fmt_int,
    fmt_percent,
    pct2,
)

EMPTY_RATE = "—"
NEVER = "nunca"


@dataclass
class Cell:
    """One table cell: what the reader sees, and the key the sort script compares."""

    text: str
    sort: str | None = None  # numeric key for number columns; None sorts by the text
    num: bool = False
    cls: str = ""
    #: ``data-*`` attributes (name without the prefix, value): how a total cell is made
    data: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Row:
    cells: list[Cell]
    cls: str = ""
    active: bool | None = None  # matrices only: feeds the "con / sin actividad" filter
    #: ``data-*`` attributes: a matrix row's components, for totals of the rows shown
    data: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Head:
    """A column header; numeric columns align right and sort as numbers."""

    label: str
    num: bool = False
    cls: str = ""


@dataclass
class Table:
    """A sortable, filterable table as the template draws it."""

    id: str
    caption: str
    headers: list[Head]
    rows: list[Row]
    foot: list[Cell] | None = None
    activity_filter: bool = False
    empty: str = "Sin filas."


def _dt_key(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def typed_cell(kind: str, value: Any) -> Cell:
    """A model value as display text (es-PE) and sort key."""
    if kind == "text":
        return Cell(clean_text(value))
    if kind == "count":
        v = int(value or 0)
        return Cell(fmt_int(v), str(v), num=True)
    if kind == "percent":
        if value is None:
            return Cell(EMPTY_RATE, "", num=True, cls="na")
        return Cell(fmt_percent(value), str(pct2(value)), num=True)
    if kind == "duration":
        v = int(value or 0)
        return Cell(fmt_duration(v), str(v), num=True)
    if kind == "datetime":
        if value is None:
            return Cell(NEVER, "", num=True, cls="na")
        return Cell(fmt_datetime(value), _dt_key(value), num=True, cls="dt")
    raise ValueError(kind)  # pragma: no cover


def pin_classes(columns: tuple[str, ...]) -> dict[str, str]:
    """CSS classes of the pinned columns: ``pin``, their fixed width, and the offset of the
    second (``after-ubigeo`` sits right of a pinned Ubigeo); the last pinned one draws the edge."""
    pinned = [k for k in columns if k in PINNED]
    out: dict[str, str] = {}
    for i, key in enumerate(pinned):
        cls = ["pin", f"w-{key}"]
        if i:
            cls.append(f"after-{pinned[i - 1]}")
        if i == len(pinned) - 1:
            cls.append("pin-edge")
        out[key] = " ".join(cls)
    return out


def _join(*classes: str) -> str:
    return " ".join(c for c in classes if c)


def _total_cell(key: str, rule: str, cell: Cell, pins: dict[str, str]) -> Cell:
    cell.cls = _join(cell.cls, pins.get(key, ""))
    if rule:
        cell.data.append(("total", rule))
    if rule == "ratio":
        num, den = RATIOS[key]
        cell.data += [("num", num), ("den", den)]
    if rule == "max" and cell.text == NEVER:
        cell.text, cell.cls = "", _join(pins.get(key, ""))
    return cell


def matrix_table(matrix: MatrixTable, number: int) -> Table:
    """A matrix as a table: pinned ally columns, component data on rows, a Total that follows
    the filter."""
    columns = matrix.columns
    kinds = [column_kind(k) for k in columns]
    pins = pin_classes(columns)
    parts = parts_needed(columns)
    rows = []
    for r in matrix.rows:
        cells = [typed_cell(kind, r.get(key)) for key, kind in zip(columns, kinds, strict=True)]
        for key, cell in zip(columns, cells, strict=True):
            cell.cls = _join(cell.cls, pins.get(key, ""))
        values = row_parts(r, parts)
        rows.append(
            Row(
                cells,
                cls="" if r.get("_active") else "idle",
                active=bool(r.get("_active")),
                data=[(p.replace("_", "-"), repr(v)) for p, v in zip(parts, values, strict=True)],
            )
        )
    totals = matrix_totals(matrix)
    foot = [
        _total_cell(key, total_rule(key, columns), typed_cell(kind, totals.get(key)), pins)
        for key, kind in zip(columns, kinds, strict=True)
    ]
    return Table(
        id=f"matriz-{number}",
        caption=f"Matriz {number}: {clean_text(matrix.spec.title)}",
        headers=[
            Head(clean_text(h), k != "text", pins.get(key, ""))
            for h, k, key in zip(matrix.headers, kinds, columns, strict=True)
        ],
        rows=rows,
        foot=foot,
        activity_filter=True,
        empty="La tabla de aliados no tiene aliados de este tipo.",
    )
