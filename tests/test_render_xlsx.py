"""The workbook read back with openpyxl: typed cells, formats, frozen header, inert text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import report_factory as rf

from logmetrics.render import write_report, write_xlsx, xlsx_bytes

GOLDEN = Path(__file__).parent / "golden" / "reporte-usuario-aliado-2022-03.xlsx.json"
UPDATE = os.environ.get("LOGMETRICS_UPDATE_GOLDEN") == "1"
MATRIX_SHEETS = ("Gobiernos Regionales y Locales", "Otros Aliados")


def _load(report=None, *, cached: bool = False) -> openpyxl.Workbook:
    """The workbook as openpyxl reads it; ``cached``: formulas' cached values, not formulas."""
    data = xlsx_bytes(report or rf.make_report())
    return openpyxl.load_workbook(io.BytesIO(data), data_only=cached)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"timedelta:{value.total_seconds():g}"
    return value


def dump(wb: openpyxl.Workbook, cached: openpyxl.Workbook) -> dict[str, Any]:
    """Everything a reader of the workbook sees, as JSON-able data (a formula with its cached
    value from ``cached``, the same workbook read with ``data_only``)."""
    out: dict[str, Any] = {"sheets": wb.sheetnames}
    for ws in wb.worksheets:
        values = cached[ws.title]
        out[ws.title] = {
            "freeze_panes": ws.freeze_panes,
            "auto_filter": ws.auto_filter.ref,
            "hidden_columns": sorted(k for k, d in ws.column_dimensions.items() if d.hidden),
            "cells": [
                [c.coordinate, c.data_type, c.number_format, _plain(c.value)]
                + ([_plain(values[c.coordinate].value)] if c.data_type == "f" else [])
                for row in ws.iter_rows()
                for c in row
                if c.value is not None
            ],
        }
    return out


def to_json(data: dict[str, Any]) -> str:
    """The dump as JSON with one cell per line, so a golden diff reads cell by cell."""
    lines = ["{", f' "sheets": {json.dumps(data["sheets"], ensure_ascii=False)},']
    for i, name in enumerate(data["sheets"]):
        sheet = data[name]
        lines.append(f" {json.dumps(name, ensure_ascii=False)}: {{")
        lines.append(f'  "freeze_panes": {json.dumps(sheet["freeze_panes"])},')
        lines.append(f'  "auto_filter": {json.dumps(sheet["auto_filter"])},')
        lines.append(f'  "hidden_columns": {json.dumps(sheet["hidden_columns"])},')
        cells = [f"   {json.dumps(c, ensure_ascii=False)}" for c in sheet["cells"]]
        lines.append('  "cells": [')
        lines.append(",\n".join(cells))
        lines.append("  ]")
        lines.append(" }" + ("," if i < len(data["sheets"]) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def test_workbook_matches_golden():
    """Sheets, cell types, number formats and values equal the reviewed golden dump."""
    got = dump(_load(), _load(cached=True))
    if UPDATE:
        GOLDEN.write_text(to_json(got), encoding="utf-8")
    assert got == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_matrix_sheet_cells_are_typed():
    """Ubigeo is text with its zero, counts integers, rates fractions, time a duration."""
    wb = _load()
    assert wb.sheetnames == [
        "Gobiernos Regionales y Locales", "Otros Aliados", "Páginas", "Dispositivos",
        "Usuarios desconocidos", "Notas",
    ]  # fmt: skip
    ws = wb["Gobiernos Regionales y Locales"]
    assert [c.value for c in ws[1]][:7] == [
        "Ubigeo", "Región", "Provincia", "Distrito", "Entidad", "Tipo",
        "Número de ingresos a la aplicación",
    ]  # fmt: skip
    a2 = ws["A2"]
    assert (a2.value, a2.data_type, a2.number_format) == ("010000", "s", "@")
    assert [ws[f"F{r}"].value for r in range(2, 10)] == [
        "GR", "GL", "GL", "GL", "GR", "GL", "GL", "GR",
    ]  # fmt: skip
    assert (ws["G2"].value, ws["G2"].number_format) == (12, "#,##0")
    # 32.86 % is stored as the fraction 0.3286 with a percent format
    assert (ws["S2"].value, ws["S2"].number_format) == (0.3286, "0.00%")
    assert ws["O2"].value == dt.timedelta(seconds=185)
    assert ws["O2"].number_format == "[hh]:mm:ss"  # 00:03:05, as in the HTML and the CSV
    assert ws["N2"].value == dt.datetime(2022, 3, 30, 17, 45, 3)
    assert ws["N2"].number_format == "yyyy-mm-dd hh:mm:ss"
    # an ally that never connected: empty date, empty rates (not 0)
    assert ws["N4"].value is None and ws["R4"].value is None and ws["S4"].value is None
    assert "Tipo" not in [c.value for c in wb["Otros Aliados"][1]]


def test_matrix_sheet_freezes_the_ally_and_filters_rows_with_their_components():
    """Header row and Ubigeo to Entidad frozen; the filter spans the hidden component columns."""
    ws = _load()["Gobiernos Regionales y Locales"]
    assert ws.freeze_panes == "F2"  # row 1 and columns A:E (Ubigeo through Entidad)
    assert ws.auto_filter.ref == "A1:X9"  # sorting in the filter keeps components with rows
    assert [c.value for c in ws[1]][19:] == [
        "Componente: sesiones", "Componente: rebotes", "Componente: vistas de página",
        "Componente: salidas", "Componente: segundos en la página",
    ]  # fmt: skip
    assert [c.value for c in ws[2]][19:] == [48, 6, 140, 46, 17390]
    helpers = ws.column_dimensions["T"]  # openpyxl groups T:X under their first column
    assert (helpers.min, helpers.max, helpers.hidden, helpers.outline_level) == (20, 24, True, 1)
    assert all(not ws.column_dimensions[c].hidden for c in "ABCDEFGNO")
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    assert widths["E"] >= len("Municipalidad Provincial de Chachapoyas")
    assert widths["A"] >= len("010000")
    assert _load()["Otros Aliados"].freeze_panes == "F2"


def test_matrix_totals_are_subtotal_formulas_with_the_reports_values_cached():
    """Totals are SUBTOTAL formulas (rates from summed components) caching the report's totals."""
    ws = _load()["Gobiernos Regionales y Locales"]
    formulas = {c.column_letter: c.value for c in ws[10] if c.data_type == "f"}
    assert ws["E10"].value == "Total" and ws["E10"].data_type == "s" and ws["E10"].font.b
    assert formulas["G"] == "=SUBTOTAL(109,G2:G9)"
    assert formulas["N"] == '=IF(SUBTOTAL(102,N2:N9)=0,"",SUBTOTAL(104,N2:N9))'
    assert formulas["O"] == "=IF((V10-W10)<=0,0,ROUND(X10/(V10-W10),0)/86400)"
    assert formulas["R"] == '=IF(T10=0,"",ROUND(U10*100/T10,2)/100)'  # rebotes / sesiones
    assert formulas["S"] == '=IF(V10=0,"",ROUND(W10*100/V10,2)/100)'  # salidas / vistas
    assert formulas["X"] == "=SUBTOTAL(109,X2:X9)"
    assert sorted(formulas) == list("GHIJKLMNOPQRSTUVWX")
    totals = [c.value for c in _load(cached=True)["Gobiernos Regionales y Locales"][10]]
    assert totals[6:13] == [1255, 315, 61, 13, 8, 21, 83]
    assert totals[13] == dt.datetime(2022, 3, 31, 23, 59, 59)
    assert totals[14] == dt.timedelta(seconds=3692)  # 44,796,620 s / (15,397 - 3,264)
    assert totals[15:17] == [15397, 9998]
    assert totals[17:19] == [0.0427, 0.212]  # 27 / 632 bounces, 3,264 / 15,397 exits
    assert totals[19:] == [632, 27, 15397, 3264, 44796620]


def test_hostile_text_stays_string_cells_and_formulas_are_only_totals():
    """Formula-like names are string cells holding the exact text; the only formulas are the
    matrices' Total rows, built of SUBTOTAL, IF and ROUND over cell references."""
    data = xlsx_bytes(rf.make_report())
    wb = openpyxl.load_workbook(io.BytesIO(data))
    values: dict[str, str] = {}
    formula = re.compile(r'=[A-Z0-9(),:*/<=+\-"]+')
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    assert ws.title in MATRIX_SHEETS and c.row == 10, (ws.title, c.coordinate)
                    assert formula.fullmatch(c.value), c.value
                    assert set(re.findall(r"[A-Z]{2,}", c.value)) <= {"SUBTOTAL", "IF", "ROUND"}
                elif isinstance(c.value, str):
                    values[c.value] = c.data_type
    for payload in (*rf.HOSTILE, "/" + rf.IMG):
        # a carriage return is stored as Excel's escape _x000D_, which openpyxl leaves as is
        stored = payload.replace("\r", "_x000D_")
        assert values.get(stored) == "s", payload
    assert "Municipalidad" in values and "ctluser" in values  # control characters removed
    assert not any(ch in v for v in values for ch in "\x00\x01\x07\x1b\x1f\ufffe")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        matrices = {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"}
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet") and name not in matrices:
                xml = zf.read(name).decode("utf-8")
                assert "<f>" not in xml and "<f " not in xml, name


def test_pages_unknown_and_notes_sheets():
    """Pages are typed like the matrices; unknown users listed; Notas defines every metric."""
    wb = _load()
    pages = wb["Páginas"]
    assert [c.value for c in pages[2]] == [
        "/inicio",
        9000,
        6000,
        dt.timedelta(seconds=95),
        2100,
        0.0333,
        0.1,
        1,
    ]
    assert pages["F4"].value is None  # no entrance rate: empty, not 0
    assert pages["A5"].value == "/beneficiarios/{id}" and pages["H5"].value == 130
    assert pages.freeze_panes == "A2" and pages.auto_filter.ref == "A1:H9"
    unknown = wb["Usuarios desconocidos"]
    assert [c.value for c in unknown[2]] == ["jperez", 57, 6, dt.datetime(2022, 3, 28, 15, 2, 44)]
    notes = wb["Notas"]
    text = {c.value for row in notes.iter_rows() for c in row if isinstance(c.value, str)}
    assert "marzo de 2022 (2022-03-01 al 2022-03-31, hora de Lima)" in text
    for term in ("Vista de página", "Sesión", "Porcentaje de rebote", "Porcentaje de salidas",
                 "Promedio de tiempo en la página", "Fecha y hora de última conexión",
                 "Número de usos del botón menores sin autorización"):  # fmt: skip
        assert term in text, term
    labels = {r[0].value: r[1].value for r in notes.iter_rows(min_row=3, max_row=14)}
    assert labels["Peticiones de robots (excluidas)"] == 120456
    assert labels["Generado"] == dt.datetime(2022, 4, 1, 6, 0)


def test_empty_lists_leave_a_note_and_no_filter():
    """A month without unknown users or pages says so instead of an empty filtered table."""
    wb = _load(rf.empty_report())
    ws = wb["Usuarios desconocidos"]
    assert ws["A2"].value == "Ningún usuario desconocido en el mes."
    assert ws.auto_filter.ref is None
    assert wb["Páginas"]["A2"].value == "Sin vistas de página de aliados en el mes."


def test_matrix_without_allies_has_header_and_note_only():
    """An empty matrix sheet keeps its header, says why it is empty, and has no totals row."""
    report = rf.make_report()
    report.matrices[1].rows = []
    ws = _load(report)["Otros Aliados"]
    assert ws["A1"].value == "Ubigeo"
    assert ws["A2"].value == "Sin aliados de este tipo en la tabla de aliados."
    assert ws.max_row == 2 and ws.auto_filter.ref is None


def test_sheet_names_are_cleaned_shortened_and_unique():
    """Titles lose characters Excel forbids, fit 31 characters, and never collide."""
    report = rf.make_report()
    long_title = "Gobiernos: Regionales/Locales [todos] y más allá"
    report.matrices[0].spec = dataclasses.replace(report.matrices[0].spec, title=long_title)
    report.matrices[1].spec = dataclasses.replace(report.matrices[1].spec, title="Notas")
    names = _load(report).sheetnames
    assert names[0] == "Gobiernos Regionales Locales to"
    assert names[1] == "Notas (2)"
    assert all(len(n) <= 31 for n in names)


def test_same_report_gives_identical_bytes():
    """Rendering twice, a second apart, gives the same file (fixed dates and zip times)."""
    first = xlsx_bytes(rf.make_report())
    time.sleep(1.1)
    assert xlsx_bytes(rf.make_report()) == first
    props = openpyxl.load_workbook(io.BytesIO(first)).properties
    assert props.created == dt.datetime(2022, 4, 1, 11, 0)  # 06:00 in Lima is 11:00 UTC


def test_write_xlsx_writes_the_workbook(tmp_path):
    """write_xlsx puts a readable workbook at the path and nothing else."""
    path = tmp_path / "r.xlsx"
    write_xlsx(rf.make_report(), path)
    assert openpyxl.load_workbook(path).sheetnames[0] == "Gobiernos Regionales y Locales"
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]


#: A LibreOffice profile setting: recalculate every formula of an .xlsx when loading it.
RECALC_ON_LOAD = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def _office(
    tmp_path: Path, src: Path, target: str, *, recalc: bool = False
) -> subprocess.CompletedProcess[str]:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice is not installed (no libreoffice or soffice on PATH)")
    profile = tmp_path / "profile"
    if recalc:
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_ON_LOAD)
    return subprocess.run(
        [office, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", target,
         "--outdir", str(tmp_path), str(src)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_libreoffice_opens_the_workbook(tmp_path):
    """LibreOffice converts the workbook to PDF without complaint (no repair needed)."""
    src = tmp_path / "reporte.xlsx"
    write_xlsx(rf.make_report(), src)
    proc = _office(tmp_path, src, "pdf")
    assert proc.returncode == 0, proc.stderr
    pdf = tmp_path / "reporte.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF"), proc.stdout + proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr


@pytest.mark.slow
def test_libreoffice_reads_typed_cells_and_keeps_formulas_inert(tmp_path):
    """As LibreOffice reads the first sheet: zeros kept, formats applied, no formula evaluated."""
    src = tmp_path / "reporte.xlsx"
    write_xlsx(rf.make_report(), src)
    proc = _office(tmp_path, src, "csv:Text - txt - csv (StarCalc):44,34,76,1")
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "reporte.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('"010000","AMAZONAS",,,"Gobierno Regional de Amazonas","GR",12,')
    # then the hidden components: sessions, bounces, page views, exits, seconds on page
    assert lines[1].endswith(',2022-03-30 17:45:03,00:03:05,140,98,12.50%,32.86%,48,6,140,46,"17,390"')
    assert lines[4].startswith('"080101","CUSCO","CUSCO","CUSCO","=HYPERLINK(""http://x"",""y"")",')
    assert lines[3].split(",")[4] == '"<script>alert(1)</script>"'
    assert lines[-1].startswith(',,,,"Total",')


@pytest.mark.slow
def test_libreoffice_totals_follow_hidden_rows(tmp_path):
    """After hiding rows (as a filter does) and recalculating, Total sums only the rows shown."""
    wb = _load()
    gob = wb["Gobiernos Regionales y Locales"]
    for row in range(5, 10):  # only the three AMAZONAS allies (sheet rows 2 to 4) stay shown
        gob.row_dimensions[row].hidden = True
    src = tmp_path / "in" / "oculto.xlsx"
    src.parent.mkdir()
    wb.save(src)  # openpyxl keeps the formulas, without cached values
    proc = _office(tmp_path, src, "xlsx", recalc=True)
    assert proc.returncode == 0, proc.stderr
    recalculated = openpyxl.load_workbook(tmp_path / "oculto.xlsx", data_only=True)
    total = [c.value for c in recalculated["Gobiernos Regionales y Locales"][10]]
    assert total[4] == "Total"
    assert total[6:13] == [17, 4, 4, 1, 0, 2, 6]  # 12+5+0, 4+0+0, ... of the three rows
    assert total[13] == dt.datetime(2022, 3, 30, 17, 45, 3)  # the latest of the three
    assert total[14] == dt.timedelta(seconds=168)  # (17,390 + 915) s / (160 - 51) = 167.9
    assert total[15:17] == [160, 115]
    assert total[17:19] == [0.1509, 0.3188]  # 8 / 53 bounces; 51 / 160 exits = 31.875 -> 31.88
    # nothing hidden on the other sheet: LibreOffice's totals are the report's
    otros = [c.value for c in recalculated["Otros Aliados"][10]]
    assert otros[4] == "Total" and otros[5:11] == [43, 12, 6, 2, 1, 10]
    assert otros[11:] == [
        dt.datetime(2022, 3, 29, 12, 0, 1), dt.timedelta(seconds=95), 315, 254, 0.2105, 0.1873,
        133, 28, 315, 59, 24220,
    ]  # fmt: skip


@pytest.mark.slow
def test_durations_read_hh_mm_ss_in_every_file(tmp_path):
    """HTML, CSV and the workbook (as LibreOffice shows it) all write HH:MM:SS, 100 hours too."""
    report = rf.make_report()
    report.matrices[0].rows[0]["tiempo_promedio"] = 360000  # 100 hours
    write_report(report, tmp_path)
    html = (tmp_path / "reporte-usuario-aliado-2022-03.html").read_text(encoding="utf-8")
    assert '<td class="num" data-v="360000">100:00:00</td>' in html
    assert '<td class="num" data-v="61">00:01:01</td>' in html
    rows = (tmp_path / "matriz-gobiernos-2022-03.csv").read_text(encoding="utf-8-sig")
    assert ",100:00:00," in rows.splitlines()[1] and ",00:01:01," in rows.splitlines()[2]
    ws = openpyxl.load_workbook(tmp_path / "reporte-usuario-aliado-2022-03.xlsx").worksheets[0]
    assert ws["O2"].value == dt.timedelta(hours=100)  # a typed duration, not text
    proc = _office(
        tmp_path, tmp_path / "reporte-usuario-aliado-2022-03.xlsx",
        "csv:Text - txt - csv (StarCalc):44,34,76,1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "reporte-usuario-aliado-2022-03.csv").read_text(encoding="utf-8")
    shown = [line.split(",")[14] for line in lines.splitlines()[1:3]]
    assert shown == ["100:00:00", "00:01:01"]
