"""The month's report from a real store: allies joined, history for last connection, totals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from logmetrics import summaries
from logmetrics.config import Config
from logmetrics.errors import AlliesError, NoDataError
from logmetrics.ingest import ingest
from logmetrics.report import build_report

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 Safari/537.36"  # noqa: E501
ALLIES = """usuario,tipo,ubigeo,entidad
ana,GR,080000,Gobierno Regional de Cusco
beto,GL,080101,Municipalidad Provincial del Cusco
carla,GL,080101,Municipalidad Provincial del Cusco
dora,OA,150101,Hospital Nacional Dos de Mayo
eva,GL,150101,Municipalidad Metropolitana de Lima
"""


def line(when: str, user: str, method: str, path: str, status: int, ua: str = CHROME,
         ip: str = "10.0.0.1") -> str:  # fmt: skip
    """A combined-format line at ``when`` ('YYYY-MM-DD HH:MM:SS', Lima, -0500)."""
    t = dt.datetime.fromisoformat(when)
    stamp = t.strftime("%d/%b/%Y:%H:%M:%S -0500")
    return f'{ip} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "{ua}"\n'


#: The store, worked out by hand (a few days of March: reported with allow_partial):
#:  - ana (GR Cusco): 2022-03-10 09:00 login, pages /inicio 09:00:05, /reportes 09:02:05
#:    → 1 session, 2 page views (unique 2), 1 exit, time 120 s ÷ (2−1) = 00:02:00,
#:    bounce 0/1 = 0.00, exit 1/2 = 50.00, 1 login; last connection 2022-03-10 09:02:05.
#:  - BETO (case differs) and carla (GL Cusco, one ally): beto 2022-03-11 10:00 /inicio (one-hit
#:    session), carla 2022-03-11 10:00 /inicio, 10:10 /inicio → ally: 2 sessions, 1 bounce
#:    (50.00), 3 page views, unique 2 (one per session), exits 2 → 66.67 %, time 600 ÷ 1.
#:  - dora (OA): only in February (2022-02-20 08:00 /inicio): idle in March, last connection
#:    2022-02-20 08:00:00.
#:  - eva: never seen. zoe: not in the table (unknown user, 2 hits).
#:  - a Googlebot hit with ana's name and an anonymous visitor's page view.
LOGS = [
    line("2022-02-20 08:00:00", "dora", "GET", "/inicio", 200),
    line("2022-03-10 09:00:00", "ana", "POST", "/login", 302),
    line("2022-03-10 09:00:05", "ana", "GET", "/inicio", 200),
    line("2022-03-10 09:00:06", "ana", "GET", "/static/app.css", 200),
    line("2022-03-10 09:02:05", "ana", "GET", "/reportes?x=1", 200),
    line("2022-03-10 09:05:00", "ana", "GET", "/inicio", 200, ua="Googlebot/2.1"),
    line("2022-03-11 10:00:00", "BETO", "GET", "/inicio", 200),
    line("2022-03-11 10:00:00", "carla", "GET", "/inicio", 200, ip="10.0.0.2"),
    line("2022-03-11 10:10:00", "carla", "GET", "/inicio", 200, ip="10.0.0.2"),
    line("2022-03-12 11:00:00", "zoe", "GET", "/inicio", 200),
    line("2022-03-12 11:01:00", "zoe", "GET", "/perfil", 404),
    line("2022-03-13 12:00:00", "-", "GET", "/inicio", 200, ip="9.9.9.9"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("report")
    logs = d / "access.log"
    logs.write_text("".join(LOGS), encoding="utf-8")
    allies = d / "aliados.csv"
    allies.write_text(ALLIES, encoding="utf-8")
    ingest([logs], warehouse=d / "wh", config=Config(), final=True)
    return d / "wh", allies


def _rows(store: tuple[Path, Path]) -> dict[str, dict]:
    report = build_report("2022-03", warehouse_dir=store[0], allies=store[1], allow_partial=True)
    return {r["entidad"]: r for m in report.matrices for r in m.rows}


def test_active_ally_cells(store: tuple[Path, Path]) -> None:
    """ana's ally: the cells worked out in LOGS' comment (bot hit and asset excluded)."""
    r = _rows(store)["Gobierno Regional de Cusco"]
    assert (r["ingresos"], r["vistas"], r["vistas_unicas"], r["tiempo_promedio"]) == (1, 2, 2, 120)
    assert (r["rebote"], r["salidas"]) == (0.0, 50.0)
    assert r["ultima_conexion"] == dt.datetime(2022, 3, 10, 9, 2, 5)


def test_accounts_of_one_ally_add_up(store: tuple[Path, Path]) -> None:
    """Two accounts of one ally (one logged in upper case) sum their components."""
    r = _rows(store)["Municipalidad Provincial del Cusco"]
    assert (r["vistas"], r["vistas_unicas"], r["tiempo_promedio"]) == (3, 2, 600)
    assert (r["rebote"], r["salidas"]) == (50.0, 66.67)


def test_idle_ally_keeps_last_connection_from_history(store: tuple[Path, Path]) -> None:
    """An ally idle this month shows zeros, empty rates and its February connection."""
    rows = _rows(store)
    dora = rows["Hospital Nacional Dos de Mayo"]
    assert (dora["vistas"], dora["ingresos"], dora["rebote"], dora["salidas"]) == (0, 0, None, None)
    assert dora["ultima_conexion"] == dt.datetime(2022, 2, 20, 8, 0, 0)
    assert not dora["_active"]
    eva = rows["Municipalidad Metropolitana de Lima"]
    assert eva["ultima_conexion"] is None and eva["tiempo_promedio"] == 0


def test_every_ally_in_ubigeo_order(store: tuple[Path, Path]) -> None:
    """Matrix 1 lists GR+GL allies by ubigeo then entidad; matrix 2 the OA ally."""
    report = build_report("2022-03", warehouse_dir=store[0], allies=store[1], allow_partial=True)
    gob, otros = report.matrices
    assert [r["ubigeo"] for r in gob.rows] == ["080000", "080101", "150101"]
    assert [r["entidad"] for r in otros.rows] == ["Hospital Nacional Dos de Mayo"]
    assert gob.rows[0]["region"] == "Cusco" and gob.rows[0]["provincia"] == ""


def test_unknown_users_and_totals(store: tuple[Path, Path]) -> None:
    """zoe is listed with her 2 hits; the month's totals include zoe and the anonymous visitor
    (sessions: ana 1 + beto 1 + carla 1 + zoe 1 + anonymous 1 = 5; page views 2+1+2+1+1 = 7)."""
    report = build_report("2022-03", warehouse_dir=store[0], allies=store[1], allow_partial=True)
    assert [(u.user, u.hits) for u in report.unknown_users] == [("zoe", 2)]
    assert report.totals.sessions == 5 and report.totals.pageviews == 7
    assert report.totals.anonymous_visitors == 1 and report.totals.events["ingresos"] == 1
    assert report.coverage.bot_hits == 1
    assert report.previous_totals is None  # February holds one hit, not the whole month


def test_matrix_to_pandas(store: tuple[Path, Path]) -> None:
    """The Python API gives each matrix as a DataFrame with the Spanish headers."""
    report = build_report("2022-03", warehouse_dir=store[0], allies=store[1], allow_partial=True)
    df = report.matrix("gobiernos").to_pandas()
    assert list(df.columns)[:2] == ["Ubigeo", "Región"] and df.shape == (3, 19)
    assert df["Tipo"].tolist() == ["GR", "GL", "GL"]  # from the allies table


def test_month_without_data(store: tuple[Path, Path]) -> None:
    """A month the store has no hit for is a NoDataError naming the month."""
    with pytest.raises(NoDataError, match="2021-12"):
        build_report("2021-12", warehouse_dir=store[0], allies=store[1])


def test_bad_allies_stop_everything(store: tuple[Path, Path], tmp_path: Path) -> None:
    """A bad allies table is reported before the store is read."""
    bad = tmp_path / "a.csv"
    bad.write_text("usuario,tipo,ubigeo,entidad\nx,ZZ,999999,E\n", encoding="utf-8")
    with pytest.raises(AlliesError, match="row 2"):
        build_report("2022-03", warehouse_dir=store[0], allies=bad)


@pytest.mark.parametrize("group_bytes", [None, 1])
def test_a_user_named_as_an_anonymous_visitor_is_that_visitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_bytes: int | None
) -> None:
    """Visitors are counted by their key: a user literally named ``anon:<ip>|<user agent>`` is
    the anonymous visitor of that IP and user agent (1 visitor, 1 user, 0 anonymous; its two
    page views 30 s apart one session), and another IP's anonymous page view is a second
    visitor, also when days are counted in groups of visitors."""
    if group_bytes is not None:
        monkeypatch.setattr(summaries, "GROUP_BYTES", group_bytes)
    ua = "mozilla/5.0"  # lower case: user names are case-folded
    logs = tmp_path / "access.log"
    logs.write_text(
        line("2022-03-10 09:00:00", f"anon:10.0.0.9|{ua}", "GET", "/inicio", 200, ua=ua)
        + line("2022-03-10 09:00:30", "-", "GET", "/inicio", 200, ua=ua, ip="10.0.0.9")
        + line("2022-03-11 09:00:00", "-", "GET", "/inicio", 200, ua=ua, ip="10.0.0.8"),
        encoding="utf-8",
    )
    allies = tmp_path / "aliados.csv"
    allies.write_text(ALLIES, encoding="utf-8")
    ingest([logs], warehouse=tmp_path / "wh", config=Config(), final=True)
    totals = build_report(
        "2022-03", warehouse_dir=tmp_path / "wh", allies=allies, allow_partial=True
    ).totals
    assert (totals.visitors, totals.users, totals.anonymous_visitors) == (2, 1, 1)
    assert totals.sessions == 2
