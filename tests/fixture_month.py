"""The sample month in ``fixtures/`` and the four report files made from it (shared by tests)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
LOGS = FIXTURES / "logs"
ALLIES = FIXTURES / "aliados.csv"
MONTH = "2022-03"
FILES = (
    f"reporte-usuario-aliado-{MONTH}.html",
    f"reporte-usuario-aliado-{MONTH}.xlsx",
    f"matriz-gobiernos-{MONTH}.csv",
    f"matriz-otros-aliados-{MONTH}.csv",
)
