"""Whatever file the operator hands over as the allies table, load_allies fails only cleanly."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logmetrics.allies import ALLIES_SCHEMA, load_allies
from logmetrics.errors import LogmetricsError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Cells near the valid ones, so generated tables reach the cross-row checks and the success path.
CELLS = st.one_of(
    st.sampled_from(["ana", " ANA ", "luis", "-", "", "GR", "gl", "OA", "XX", "150101", "150100",
                     "150000", "10101", "010101", "150101.0", "999999", "Muni", "MUNI", "=A1+1",
                     '"', '""', ",", ";", "\t", "\r", "\n", "\ufeff", "\x00", "ñ", "é"]),
    st.text(max_size=12),
)  # fmt: skip
HEADERS = st.lists(
    st.sampled_from(["usuario", "tipo", "ubigeo", "entidad", " USUARIO", "Tipo ", "x", ""]),
    max_size=6,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allies-fuzz")


def check(path: Path) -> None:
    """Either a frame of the documented schema or a one-line LogmetricsError naming the file."""
    try:
        df = load_allies(path)
    except LogmetricsError as exc:
        message = str(exc)
        assert str(path) in message
        assert "\n" not in message and "\r" not in message
        return
    assert df.schema == pl.Schema(ALLIES_SCHEMA)
    assert df.height > 0
    assert df["usuario"].is_unique().all()


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".csv", ".xlsx", ".txt"]))
def test_arbitrary_bytes(workdir, data, suffix):
    """Arbitrary bytes under any extension give a frame or a LogmetricsError, nothing else."""
    path = workdir / f"bytes{suffix}"
    path.write_bytes(data)
    check(path)


@FUZZ
@given(
    header=HEADERS,
    rows=st.lists(st.lists(CELLS, max_size=6), max_size=8),
    sep=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_table_shaped_text(workdir, header, rows, sep, encoding):
    """Table-like text with odd cells, separators and encodings fails only with LogmetricsError."""
    text = "\n".join(sep.join(cells) for cells in [header, *rows])
    path = workdir / "text.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    check(path)


def _xml_safe(text: str) -> str:
    return "".join(c for c in text if c >= " " or c in "\t\n\r")


@FUZZ
@given(rows=st.lists(st.lists(CELLS | st.integers() | st.floats(), max_size=5), max_size=6))
def test_xlsx_with_odd_cells(workdir, rows):
    """An XLSX whose cells hold any text or numbers fails only with LogmetricsError."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["usuario", "tipo", "ubigeo", "entidad"])
    for cells in rows:  # control characters cannot go into XML: openpyxl refuses them
        ws.append([_xml_safe(v) if isinstance(v, str) else v for v in cells])
    path = workdir / "cells.xlsx"
    wb.save(path)
    check(path)


def _valid_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["usuario", "tipo", "ubigeo", "entidad"])
    ws.append(["ana", "GL", 150101, "Muni"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


VALID_XLSX = _valid_xlsx()


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID_XLSX) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.none() | st.integers(0, len(VALID_XLSX)),
)
def test_corrupted_xlsx(workdir, edits, cut):
    """A valid XLSX with flipped bytes or cut short fails only with LogmetricsError."""
    data = bytearray(VALID_XLSX)
    for index, value in edits:
        data[index] = value
    path = workdir / "corrupt.xlsx"
    path.write_bytes(bytes(data[:cut]) if cut is not None else bytes(data))
    check(path)
