"""The last 12 months per ally (issue 17 item 3): the view, its HTML section and XLSX sheet.

The store is the sample month plus an older log of November 2021 to February 2022
(tests/history_fixture.py, whose docstring derives every expected value by hand).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pytest

from logmetrics.config import Config
from logmetrics.history import idle_months, last_months
from logmetrics.ingest import ingest
from logmetrics.model import MonthReport
from logmetrics.render import render_html, write_report, xlsx_bytes
from logmetrics.report import build_report
from tests.fixture_month import ALLIES, LOGS, MONTH
from tests.history_fixture import FIRST_DAY, history_store

MONTHS = [f"2021-{m:02d}" for m in range(4, 13)] + ["2022-01", "2022-02", "2022-03"]
NO_DATA = [True] * 7 + [False, True, False, False, False]  # Apr-Oct, Dec 2021: "sin datos"
EPOCH = "1650000000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return history_store(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def report(store: Path) -> MonthReport:
    return build_report(MONTH, warehouse_dir=store, allies=ALLIES, allow_partial=True)


def _rows(report: MonthReport, matrix: int = 0) -> dict[str, tuple[list[int | None], int]]:
    assert report.history is not None
    table = report.history.tables[matrix]
    return {r.ally["entidad"]: (r.values, r.idle_months) for r in table.rows}


def _tail(values: list[int | None]) -> list[int | None]:
    """November 2021 to March 2022."""
    return values[7:]


def test_months_and_where_the_data_begins(report: MonthReport) -> None:
    """The view holds the 12 months ending with the reported one; months before the store's
    first data (2 November 2021) and December (no logs) have no data."""
    history = report.history
    assert history is not None
    assert history.months == MONTHS
    assert history.with_data == [not x for x in NO_DATA]
    assert history.first_day == FIRST_DAY
    assert (history.event, [t.spec.key for t in history.tables]) == (
        "ingresos",
        ["gobiernos", "otros_aliados"],
    )


def test_hand_derived_rows(report: MonthReport) -> None:
    """Each month's ingresos and the months without activity, as history_fixture derives them:
    logins only count (Junín's page views do not), a bot with an ally's account does not, and
    an ally never seen is idle since the store's first month."""
    rows = _rows(report)
    assert rows["Gobierno Regional de Cusco"] == ([None] * 7 + [2, None, 1, 0, 4], 0)
    assert rows["Gobierno Regional de Junín"] == ([None] * 7 + [0, None, 0, 0, 0], 4)
    chachapoyas = rows["Municipalidad Provincial de Chachapoyas - OMAPED"]
    assert chachapoyas == ([None] * 7 + [0, None, 1, 1, 0], 1)
    assert _tail(rows["Gobierno Regional de Arequipa"][0])[:4] == [0, None, 0, 0]
    assert rows["Gobierno Regional de Arequipa"][1] == 0
    miraflores = rows["Municipalidad Distrital de Miraflores - OMAPED"]
    assert miraflores == ([None] * 7 + [0, None, 0, 1, 0], 1)
    assert rows["Gobierno Regional de Amazonas"] == ([None] * 7 + [0, None, 0, 0, 0], 5)


def test_active_allies_per_month(report: MonthReport) -> None:
    """Allies with an interaction per month: November 2, January 2, February 3 in matrix 1,
    none before March in matrix 2; March's is the matrix's own count."""
    assert report.history is not None
    gob, otros = report.history.tables
    assert gob.active == [None] * 7 + [2, None, 2, 3, report.matrices[0].active_allies]
    assert otros.active == [None] * 7 + [0, None, 0, 0, report.matrices[1].active_allies]


def test_reported_month_equals_the_matrix(report: MonthReport) -> None:
    """For every ally of both matrices, the reported month's column is the matrix's ingresos,
    and the rows are the matrix's allies in its order; an ally active in the month has been
    idle 0 months."""
    assert report.history is not None
    for matrix, table in zip(report.matrices, report.history.tables, strict=True):
        assert [r.ally["entidad"] for r in table.rows] == [r["entidad"] for r in matrix.rows]
        for row, hist in zip(matrix.rows, table.rows, strict=True):
            assert hist.values[-1] == row["ingresos"], row["entidad"]
            assert (hist.idle_months == 0) == row["_active"], row["entidad"]
        assert sum(1 for r in table.rows if r.idle_months == 0) == matrix.active_allies


def test_idle_months_counts_back_from_the_last_connection() -> None:
    """A last connection in the reported month is 0 months idle, in the month before 1, a year
    before 12; without one, every month since the first data's, the reported one included."""
    first = dt.date(2021, 11, 2)
    assert idle_months("2022-03", last=dt.datetime(2022, 3, 31, 23, 59), first_day=first) == 0
    assert idle_months("2022-03", last=dt.datetime(2022, 2, 1), first_day=first) == 1
    assert idle_months("2022-03", last=dt.datetime(2021, 3, 31), first_day=first) == 12
    assert idle_months("2022-03", last=None, first_day=first) == 5
    assert idle_months("2022-01", last=None, first_day=dt.date(2022, 1, 31)) == 1
    assert last_months("2022-02", 3) == ["2021-12", "2022-01", "2022-02"]


def test_html_section(report: MonthReport, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML has the section «Últimos 12 meses» (id ultimos-12-meses) in its table of
    contents, a chart per matrix and a table per matrix with one row per ally: Cusco's row
    reads sin datos for April, 2 for November and 4 for March, and 0 months idle."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    html = render_html(report)
    assert '<a href="#ultimos-12-meses">Últimos 12 meses</a>' in html
    section = html[html.index('<section id="ultimos-12-meses"') :]
    section = section[: section.index("</section>")]
    assert section.count('class="chart monthly"') == 2
    assert section.count("<table ") == 2
    gob = section[
        section.index('id="ultimos-12-meses-1"') : section.index('id="ultimos-12-meses-2"')
    ]
    assert gob.count("<tr") == 1 + len(report.matrices[0].rows)
    row = next(r for r in gob.split("<tr")[1:] if "Gobierno Regional de Cusco" in r)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td.*?</td>", row)]
    assert cells[:6] == ["080000", "Cusco", "", "", "Gobierno Regional de Cusco", "GR"]
    assert cells[6:] == ["sin datos"] * 7 + ["2", "sin datos", "1", "0", "4", "0"]
    assert "Meses consecutivos sin actividad" in section and "2 de noviembre de 2021" in section


def test_xlsx_sheet(report: MonthReport) -> None:
    """The workbook has a sheet «Últimos 12 meses» after the matrices: the ally columns, one
    per month («abr 2021» … «mar 2022»), «Meses consecutivos sin actividad», a filter over
    every ally of both matrices, numbers where the store has data and «sin datos» where not."""
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(report)))
    assert wb.sheetnames[:3] == ["Gobiernos Regionales y Locales", "Otros Aliados",
                                 "Últimos 12 meses"]  # fmt: skip
    ws = wb["Últimos 12 meses"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:7] == ("Ubigeo", "Región", "Provincia", "Distrito", "Entidad", "Tipo",
                           "abr 2021")  # fmt: skip
    assert rows[0][-2:] == ("mar 2022", "Meses consecutivos sin actividad")
    allies = sum(len(m.rows) for m in report.matrices)
    assert len(rows) == 1 + allies and ws.auto_filter.ref == f"A1:S{1 + allies}"
    amazonas = next(r for r in rows if r[4] == "Gobierno Regional de Amazonas")
    assert list(amazonas[6:]) == ["sin datos"] * 7 + [0, "sin datos", 0, 0, 0, 5]
    loayza = next(r for r in rows if r[4] == "Hospital Nacional Arzobispo Loayza")
    assert loayza[5] == "OA" and loayza[-2:] == (2, 0)  # S3: 2 ingresos in March


def test_sample_month_alone_starts_on_28_february(tmp_path: Path) -> None:
    """On a store of the sample month alone the data begins on 28 February: every month but
    February and March is "sin datos", and Amazonas (never seen) has been idle 2 months."""
    ingest([LOGS], warehouse=tmp_path / "wh", config=Config())
    report = build_report(
        MONTH, warehouse_dir=tmp_path / "wh", allies=ALLIES, allow_partial=True
    )
    assert report.history is not None
    assert report.history.with_data == [False] * 10 + [True, True]
    assert report.history.first_day == dt.date(2022, 2, 28)
    assert _rows(report)["Gobierno Regional de Amazonas"] == ([None] * 10 + [0, 0], 2)


def test_without_an_ingresos_event_there_is_no_view(store: Path, tmp_path: Path) -> None:
    """A configuration without an event named «ingresos» has no 12-month view: no section,
    no sheet."""
    config = Config()
    events = tuple(e for e in config.events if e.name != "ingresos")
    matrices = tuple(
        dataclasses.replace(m, columns=tuple(c for c in m.columns if c != "ingresos"))
        for m in config.matrices
    )
    config = dataclasses.replace(config, events=events, matrices=matrices)
    report = build_report(
        MONTH, warehouse_dir=store, allies=ALLIES, config=config, allow_partial=True
    )
    assert report.history is None
    paths = write_report(report, tmp_path / "out")
    assert 'id="ultimos-12-meses"' not in paths[0].read_text(encoding="utf-8")
    assert "Últimos 12 meses" not in openpyxl.load_workbook(paths[1]).sheetnames
