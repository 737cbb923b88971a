"""The matrices as CSV, for anyone's tooling and for Excel.

Decisions: UTF-8 *with* a byte-order mark, because Excel in Spanish locales only detects UTF-8
(tildes, eñes) when the BOM is there, while pandas, polars and ``encoding="utf-8-sig"`` read it
transparently; comma separator and CRLF line ends (RFC 4180); no totals row (a data file, not
a report). Values as SPEC says: ubigeo six digits as text, percentages ``33.33`` (empty when
undefined), durations ``HH:MM:SS``, dates ``YYYY-MM-DD HH:MM:SS``. Text cells that a
spreadsheet would evaluate (``= + - @``, tab, CR first) get a leading quote; numbers never do.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..model import MatrixTable
from ._text import clean_text, column_kind, fmt_datetime, fmt_duration, inert_csv, pct2

BOM = "\ufeff"


def _cell(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "text":
        return inert_csv(clean_text(value))
    if kind == "percent":
        return f"{pct2(value):.2f}"
    if kind == "duration":
        return fmt_duration(value)
    if kind == "datetime":
        return fmt_datetime(value)
    return str(int(value))


def csv_text(matrix: MatrixTable) -> str:
    """The matrix as CSV text, BOM first, header row of Spanish column names."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([inert_csv(clean_text(h)) for h in matrix.headers])
    kinds = [column_kind(k) for k in matrix.columns]
    for row in matrix.rows:
        writer.writerow(
            [_cell(kind, row.get(key)) for key, kind in zip(matrix.columns, kinds, strict=True)]
        )
    return BOM + buf.getvalue()


def csv_bytes(matrix: MatrixTable) -> bytes:
    """:func:`csv_text` encoded as UTF-8."""
    return csv_text(matrix).encode("utf-8")
