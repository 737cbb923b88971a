"""Write the month's report: HTML to read and mail, XLSX to filter and forward, CSV for tools.

``write_report`` renders every file in memory, then writes them as a group (temporary names in
the output directory, renamed once all are on disk), so a failure leaves no half-written file.
Rendering is deterministic: the same report gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OutputError
from ..model import MatrixTable, MonthReport
from ._csv import csv_bytes, csv_text
from ._html import render_html, summary_sentences
from ._output import write_files
from ._xlsx import xlsx_bytes

__all__ = [
    "csv_text",
    "output_paths",
    "render_html",
    "summary_sentences",
    "write_csv",
    "write_html",
    "write_report",
    "write_xlsx",
    "xlsx_bytes",
]


def output_paths(report: MonthReport, out_dir: Path) -> dict[str, Path]:
    """Where each file of the month goes: ``html``, ``xlsx`` and one ``csv:<matrix key>`` each."""
    out = Path(out_dir)
    paths = {
        "html": out / f"reporte-usuario-aliado-{report.month}.html",
        "xlsx": out / f"reporte-usuario-aliado-{report.month}.xlsx",
    }
    for m in report.matrices:
        path = out / f"{m.spec.file_stem}-{report.month}.csv"
        if path in paths.values():
            raise OutputError(f"{path}: two matrices would write the same file (file_stem)")
        paths[f"csv:{m.spec.key}"] = path
    return paths


def write_report(report: MonthReport, out_dir: Path) -> list[Path]:
    """Write HTML, XLSX and one CSV per matrix into ``out_dir`` (created if missing)."""
    paths = output_paths(report, out_dir)
    files = {
        paths["html"]: render_html(report).encode("utf-8"),
        paths["xlsx"]: xlsx_bytes(report),
    }
    for m in report.matrices:
        files[paths[f"csv:{m.spec.key}"]] = csv_bytes(m)
    return write_files(files)


def write_html(report: MonthReport, path: Path) -> Path:
    """Write only the HTML report to ``path``, atomically."""
    return write_files({Path(path): render_html(report).encode("utf-8")})[0]


def write_xlsx(report: MonthReport, path: Path) -> Path:
    """Write only the workbook to ``path``, atomically."""
    return write_files({Path(path): xlsx_bytes(report)})[0]


def write_csv(matrix: MatrixTable, path: Path) -> Path:
    """Write one matrix as CSV to ``path``, atomically."""
    return write_files({Path(path): csv_bytes(matrix)})[0]
