"""End to end through the command line on the shipped sample month (fixtures/).

``logmetrics ingest fixtures/logs`` then ``logmetrics report --month 2022-03``; the expected
cells of S1–S4 and of a never-seen ally are derived by hand, hit by hit, in fixtures/README.md
("Hand-derived matrix cells"): each expectation below names its section there.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from logmetrics.api import report_month
from logmetrics.cli import main
from logmetrics.config import DEFAULT_MATRICES, Config
from tests.fixture_month import ALLIES, FILES, LOGS, MONTH

GOB = f"matriz-gobiernos-{MONTH}.csv"
OTROS = f"matriz-otros-aliados-{MONTH}.csv"

# Spanish headers (SPEC's column names; logmetrics/config.py holds them).
INGRESOS = "Número de ingresos a la aplicación"
DESCARGAS = "Número de descargas realizadas"
VIGENTES = "Número de usos del botón total de usuarios vigentes"
SUSPENDIDOS = "Número de usos del botón total de suspendidos"
DESAFILIADOS = "Número de usos del botón total de desafiliados"
MENORES = "Número de usos del botón menores sin autorización"
SOLICITUDES = "Total de solicitudes remitidas"
ULTIMA = "Fecha y hora de última conexión"
PROMEDIO = "Promedio de tiempo en la página"
VISTAS = "Vistas de página"
UNICAS = "Número de vistas de página únicas"
REBOTE = "Porcentaje de rebote"
SALIDAS = "Porcentaje de salidas"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "logmetrics", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"logmetrics {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    return proc


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, bytes]]:
    """Ingest the fixtures into a fresh store and render March twice into the same directory."""
    base = tmp_path_factory.mktemp("e2e")
    wh, out = base / "W", base / "O"
    _run("ingest", str(LOGS), "--warehouse", str(wh), cwd=base)
    report = ("report", "--month", MONTH, "--warehouse", str(wh), "--allies", str(ALLIES),
              "--out", str(out))  # fmt: skip
    _run(*report, cwd=base)
    first = {name: (out / name).read_bytes() for name in FILES}
    _run(*report, cwd=base)
    return {"warehouse": wh, "out": out, "first": first}


def _row(out: Path, matrix: str, ubigeo: str, entidad: str) -> dict[str, str]:
    rows = [r for r in _read(out / matrix) if r["Ubigeo"] == ubigeo and r["Entidad"] == entidad]
    assert len(rows) == 1, f"{ubigeo} {entidad}: {len(rows)} rows in {matrix}"
    return rows[0]


def _allies_table() -> list[dict[str, str]]:
    with ALLIES.open(encoding="utf-8", newline="") as f:
        return [{k: v.strip() for k, v in r.items()} for r in csv.DictReader(f)]


# --- the files --------------------------------------------------------------------------------


def test_report_writes_the_four_files(run: dict) -> None:
    """The report writes the HTML, the XLSX and the two CSV matrices, none empty."""
    for name in FILES:
        assert (run["out"] / name).stat().st_size > 0, name


def test_report_twice_gives_identical_files(run: dict) -> None:
    """Rendering the same month from the same store twice gives byte-identical files (all four)."""
    for name in FILES:
        assert (run["out"] / name).read_bytes() == run["first"][name], f"{name} changed"


def test_csv_headers_are_the_memo_columns_in_order(run: dict) -> None:
    """Each CSV's header row is its matrix's Spanish columns in the memo's order."""
    cfg = Config()
    for spec, name in zip(DEFAULT_MATRICES, (GOB, OTROS), strict=True):
        assert _header(run["out"] / name) == [cfg.column_header(k) for k in spec.columns]
    assert MENORES in _header(run["out"] / GOB)
    assert MENORES not in _header(run["out"] / OTROS)


def test_every_ally_appears_once_ordered_by_ubigeo_then_entidad(run: dict) -> None:
    """Matrix 1 holds every GR/GL ally and matrix 2 every OA ally of the table, active or not,
    each once, ordered by ubigeo then entidad; ubigeo keeps its leading zero."""
    table = _allies_table()
    for name, tipos in ((GOB, {"GR", "GL"}), (OTROS, {"OA"})):
        expected = sorted({(r["ubigeo"], r["entidad"]) for r in table if r["tipo"] in tipos})
        got = [(r["Ubigeo"], r["Entidad"]) for r in _read(run["out"] / name)]
        assert got == expected, name
    assert ("080000", "Gobierno Regional de Cusco") in [
        (r["Ubigeo"], r["Entidad"]) for r in _read(run["out"] / GOB)
    ]


# --- hand-derived cells (fixtures/README.md, "Hand-derived matrix cells") -----------------------


def test_s1_gobierno_regional_de_cusco(run: dict) -> None:
    """S1 (README): ordinary active GR ally with mixed-case names, a 29:59 and a 30:00 gap kept,
    a 30:01 gap split, a bot using its name excluded; half-up 15.625 → 15.63."""
    row = _row(run["out"], GOB, "080000", "Gobierno Regional de Cusco")
    assert row == {
        "Ubigeo": "080000",
        "Región": "Cusco",
        "Provincia": "",
        "Distrito": "",
        "Entidad": "Gobierno Regional de Cusco",
        "Tipo": "GR",
        INGRESOS: "4",
        DESCARGAS: "3",
        VIGENTES: "3",
        SUSPENDIDOS: "2",
        DESAFILIADOS: "1",
        MENORES: "1",
        SOLICITUDES: "3",
        ULTIMA: "2022-03-30 17:20:00",
        PROMEDIO: "00:04:29",  # 7255 s ÷ (32 − 5) = 268.70 s
        VISTAS: "32",
        UNICAS: "20",
        REBOTE: "33.33",  # 2 of 6 sessions
        SALIDAS: "15.63",  # 5 ÷ 32 = 15.625, half up
    }


def test_s2_chachapoyas_idle_last_seen_in_february(run: dict) -> None:
    """S2 (README): idle in March; its last connection is 2022-02-28 22:05:05 Lima, logged by
    the UTC server as 01/Mar/2022:03:05:05 +0000; rates are empty, not 0."""
    row = _row(run["out"], GOB, "010101", "Municipalidad Provincial de Chachapoyas - OMAPED")
    assert row == {
        "Ubigeo": "010101",
        "Región": "Amazonas",
        "Provincia": "Chachapoyas",
        "Distrito": "Chachapoyas",
        "Entidad": "Municipalidad Provincial de Chachapoyas - OMAPED",
        "Tipo": "GL",
        INGRESOS: "0",
        DESCARGAS: "0",
        VIGENTES: "0",
        SUSPENDIDOS: "0",
        DESAFILIADOS: "0",
        MENORES: "0",
        SOLICITUDES: "0",
        ULTIMA: "2022-02-28 22:05:05",
        PROMEDIO: "00:00:00",
        VISTAS: "0",
        UNICAS: "0",
        REBOTE: "",
        SALIDAS: "",
    }


def test_s3_loayza_sessions_split_at_midnight(run: dict) -> None:
    """S3 (README): sessions 15→16 March split at Lima midnight, 31 March's session cut at the
    month's end; 1779 s ÷ 6 = 296.5 s → 00:04:57 half up."""
    row = _row(run["out"], OTROS, "150101", "Hospital Nacional Arzobispo Loayza")
    assert row == {
        "Ubigeo": "150101",
        "Región": "Lima",
        "Provincia": "Lima",
        "Distrito": "Lima",
        "Entidad": "Hospital Nacional Arzobispo Loayza",
        INGRESOS: "2",
        DESCARGAS: "1",
        VIGENTES: "1",
        SUSPENDIDOS: "0",
        DESAFILIADOS: "0",
        SOLICITUDES: "1",
        ULTIMA: "2022-03-31 23:59:10",
        PROMEDIO: "00:04:57",
        VISTAS: "10",
        UNICAS: "9",
        REBOTE: "25.00",  # 1 of 4 sessions
        SALIDAS: "40.00",  # 4 ÷ 10
    }


def test_s4_piura_association_seen_only_in_april(run: dict) -> None:
    """S4 (README): its only hits are on 1 April (Lima), so March shows zeros and no last
    connection."""
    row = _row(run["out"], OTROS, "200101", "Asociación de Personas con Discapacidad de Piura")
    assert row == {
        "Ubigeo": "200101",
        "Región": "Piura",
        "Provincia": "Piura",
        "Distrito": "Piura",
        "Entidad": "Asociación de Personas con Discapacidad de Piura",
        INGRESOS: "0",
        DESCARGAS: "0",
        VIGENTES: "0",
        SUSPENDIDOS: "0",
        DESAFILIADOS: "0",
        SOLICITUDES: "0",
        ULTIMA: "",
        PROMEDIO: "00:00:00",
        VISTAS: "0",
        UNICAS: "0",
        REBOTE: "",
        SALIDAS: "",
    }


def test_never_seen_ally_has_zeros_and_empty_cells(run: dict) -> None:
    """README "Never seen": a region-level GR ally with no hit at all: zeros, empty rates and
    last connection; only Región filled."""
    row = _row(run["out"], GOB, "010000", "Gobierno Regional de Amazonas")
    assert row == {
        "Ubigeo": "010000",
        "Región": "Amazonas",
        "Provincia": "",
        "Distrito": "",
        "Entidad": "Gobierno Regional de Amazonas",
        "Tipo": "GR",
        INGRESOS: "0",
        DESCARGAS: "0",
        VIGENTES: "0",
        SUSPENDIDOS: "0",
        DESAFILIADOS: "0",
        MENORES: "0",
        SOLICITUDES: "0",
        ULTIMA: "",
        PROMEDIO: "00:00:00",
        VISTAS: "0",
        UNICAS: "0",
        REBOTE: "",
        SALIDAS: "",
    }


def test_province_level_ubigeo_fills_region_and_province(run: dict) -> None:
    """A province-level code (140100 Chiclayo) fills Región and Provincia, not Distrito."""
    row = _row(run["out"], GOB, "140100", "Municipalidad Provincial de Chiclayo - OMAPED")
    assert (row["Región"], row["Provincia"], row["Distrito"]) == ("Lambayeque", "Chiclayo", "")


def test_unknown_user_is_listed_in_the_html(run: dict) -> None:
    """The user name the table does not know (mdchilca01) is listed in the HTML report."""
    html = (run["out"] / FILES[0]).read_text(encoding="utf-8")
    assert "mdchilca01" in html


# --- demo -------------------------------------------------------------------------------------


def test_demo_writes_the_four_files(tmp_path: Path) -> None:
    """``logmetrics demo --out DIR`` ingests the shipped month and writes the four files."""
    out = tmp_path / "demo"
    _run("demo", "--out", str(out), cwd=tmp_path)
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    gob = {(r["Ubigeo"], r["Entidad"]): r for r in _read(out / GOB)}
    assert gob[("080000", "Gobierno Regional de Cusco")][VISTAS] == "32"  # S1 (README)


def test_report_command_writes_what_the_api_writes(run: dict, tmp_path: Path) -> None:
    """`logmetrics report` and ``report_month`` write the same four files, byte for byte."""
    out, here = tmp_path / "O", tmp_path / "P"
    wh = str(run["warehouse"])
    code = main(["report", "--month", MONTH, "--warehouse", wh, "--allies", str(ALLIES),
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    report_month(MONTH, warehouse=wh, allies=ALLIES, out_dir=here)
    for name in FILES:
        assert (out / name).read_bytes() == (here / name).read_bytes(), name
