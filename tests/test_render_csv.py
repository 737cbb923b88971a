"""The matrices as CSV: exact text, inert formula-like cells, atomic writes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import pytest
import report_factory as rf

from logmetrics.config import Config, MatrixSpec
from logmetrics.model import MatrixTable
from logmetrics.render import csv_text, write_csv, write_report

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LOGMETRICS_UPDATE_GOLDEN") == "1"

COLUMNS = (
    "ubigeo", "region", "entidad", "ingresos", "ultima_conexion", "tiempo_promedio",
    "rebote", "salidas",
)  # fmt: skip


def small_matrix() -> MatrixTable:
    cfg = Config()
    spec = MatrixSpec("m", "Prueba", "matriz-prueba", ("GL",), COLUMNS)
    rows = [
        {"ubigeo": "010101", "region": "AMAZONAS", "entidad": 'Municipalidad, "Provincial"',
         "ingresos": 1234, "ultima_conexion": dt.datetime(2022, 3, 5, 8, 9, 10),
         "tiempo_promedio": 3725, "rebote": 33.33, "salidas": 3.13},
        {"ubigeo": "150101", "region": "LIMA", "entidad": '=HYPERLINK("http://x","y")',
         "ingresos": 0, "ultima_conexion": None, "tiempo_promedio": 0, "rebote": None,
         "salidas": None},
        {"ubigeo": "080101", "region": "CUSCO", "entidad": "-1+1", "ingresos": 7,
         "ultima_conexion": dt.datetime(2021, 12, 31, 23, 59, 59), "tiempo_promedio": 90061,
         "rebote": 100.0, "salidas": 0.0},
        {"ubigeo": "040101", "region": "AREQUIPA", "entidad": "\t=1\x00\x1b", "ingresos": 0,
         "ultima_conexion": None, "tiempo_promedio": 0, "rebote": None, "salidas": 12.5},
    ]  # fmt: skip
    for r in rows:
        r["_active"], r["_tipo"] = bool(r["ingresos"]), "GL"
    return MatrixTable(spec, [cfg.column_header(c) for c in COLUMNS], rows, {})


def test_csv_text_is_exactly_as_specified():
    """BOM, Spanish header, six-digit ubigeo, HH:MM:SS, dates, two-decimal rates, CRLF."""
    expected = (
        "\ufeff"
        "Ubigeo,Región,Entidad,Número de ingresos a la aplicación,"
        "Fecha y hora de última conexión,Promedio de tiempo en la página,"
        "Porcentaje de rebote,Porcentaje de salidas\r\n"
        '010101,AMAZONAS,"Municipalidad, ""Provincial""",1234,2022-03-05 08:09:10,01:02:05,'
        "33.33,3.13\r\n"
        '150101,LIMA,"\'=HYPERLINK(""http://x"",""y"")",0,,00:00:00,,\r\n'
        "080101,CUSCO,'-1+1,7,2021-12-31 23:59:59,25:01:01,100.00,0.00\r\n"
        "040101,AREQUIPA,'\t=1,0,,00:00:00,,12.50\r\n"
    )
    assert csv_text(small_matrix()) == expected


def test_csv_reads_back_with_leading_zeros_and_spanish_headers():
    """A CSV reader with utf-8-sig gets the headers and six-digit ubigeo text back."""
    text = csv_text(small_matrix()).encode("utf-8").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["Ubigeo"] == "010101"
    assert rows[3]["Ubigeo"] == "040101"
    assert rows[0]["Región"] == "AMAZONAS"


def test_every_formula_like_text_is_prefixed_and_numbers_are_not():
    """Cells starting with = + - @ tab or CR carry a leading quote; no other cell changes."""
    report = rf.make_report()
    for matrix in report.matrices:
        text = csv_text(matrix)[1:]
        for row in csv.reader(io.StringIO(text, newline="")):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    gob = list(csv.reader(io.StringIO(csv_text(report.matrices[0])[1:], newline="")))
    otros = list(csv.reader(io.StringIO(csv_text(report.matrices[1])[1:], newline="")))
    entities = [r[4] for r in gob[1:]] + [r[4] for r in otros[1:]]
    for payload in rf.FORMULA_LIKE:
        assert "'" + payload in entities
    assert "Municipalidad" in entities  # control characters removed
    assert rf.SCRIPT in entities  # text is not mangled beyond what CSV needs
    assert gob[6][5:13] == ["GL", "1234", "310", "57", "12", "8", "19", "77"]


@pytest.mark.parametrize(
    "name", ["matriz-gobiernos-2022-03.csv", "matriz-otros-aliados-2022-03.csv"]
)
def test_report_csv_matches_golden(tmp_path, name):
    """The factory report's CSVs are byte-identical to the reviewed golden files."""
    write_report(rf.make_report(), tmp_path)
    got = (tmp_path / name).read_bytes()
    golden = GOLDEN / name
    if UPDATE:
        golden.write_bytes(got)
    assert got == golden.read_bytes()


def test_write_csv_writes_atomically(tmp_path):
    """write_csv leaves the finished file and no temporary beside it."""
    path = tmp_path / "sub" / "m.csv"
    write_csv(small_matrix(), path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfUbigeo,")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.csv"]
