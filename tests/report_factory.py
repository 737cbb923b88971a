"""A realistic MonthReport for March 2022, built by hand so renderer tests need no pipeline.

Every figure is written out literally (no computation), so tests can assert rendered values
against this file. Each matrix row also carries the components behind its rates (sessions,
bounces, page views, exits, seconds on page), and rows and totals agree with them, so the total
of any filtered set of rows can be worked out by hand. Hostile strings sit in the fields that come from outside: entity names
(allies table), unknown user names and pages (logs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from logmetrics.config import Config
from logmetrics.model import (
    Coverage,
    DailyActivity,
    DeviceRow,
    LogCoverage,
    LogFamily,
    MatrixTable,
    MonthReport,
    PageRow,
    Totals,
    UnknownUser,
)

D = dt.datetime

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HYPERLINK = '=HYPERLINK("http://x","y")'
PLUS = "+cmd"
MINUS = "-1+1"
AT = "@SUM(A1)"
TAB = "\t=1"
CR = "\r=1"
JNDI = "${jndi:ldap://x}"
CONTROL = "Muni\x00ci\x07pal\x1bidad\ufffe"
CONTROL_CLEAN = "Municipalidad"

#: Every hostile string the tests check, as it is in the report.
HOSTILE = (SCRIPT, IMG, HYPERLINK, PLUS, MINUS, AT, TAB, CR, JNDI)
FORMULA_LIKE = (HYPERLINK, PLUS, MINUS, AT, TAB, CR)


def _row(
    tipo: str,
    ubigeo: str,
    region: str,
    provincia: str,
    distrito: str,
    entidad: str,
    counts: tuple[int, ...],
    last: dt.datetime | None,
    avg: int,
    vistas: int,
    unicas: int,
    rebote: float | None,
    salidas: float | None,
    parts: tuple[int, int, int, int] = (0, 0, 0, 0),
    *,
    menores: bool = True,
) -> dict[str, Any]:
    """``parts``: sessions, bounces, exits and seconds on page, the components behind the rates."""
    ingresos, descargas, vigentes, suspendidos, desafiliados, menores_n, solicitudes = counts
    sessions, bounces, exits, time_on_page = parts
    row: dict[str, Any] = {
        "ubigeo": ubigeo,
        "region": region,
        "provincia": provincia,
        "distrito": distrito,
        "entidad": entidad,
        "tipo": tipo,
        "ingresos": ingresos,
        "descargas": descargas,
        "vigentes": vigentes,
        "suspendidos": suspendidos,
        "desafiliados": desafiliados,
        "solicitudes": solicitudes,
        "ultima_conexion": last,
        "tiempo_promedio": avg,
        "vistas": vistas,
        "vistas_unicas": unicas,
        "rebote": rebote,
        "salidas": salidas,
        "_active": vistas > 0 or any(counts),
        "_tipo": tipo,
        "_components": {
            "sessions": sessions, "bounces": bounces, "pageviews": vistas, "exits": exits,
            "time_on_page_us": time_on_page * 1_000_000,
        },
    }  # fmt: skip
    if menores:
        row["menores_sin_autorizacion"] = menores_n
    return row


def gobiernos_rows() -> list[dict[str, Any]]:
    """Matrix 1: three regional and five local governments, in ubigeo order."""
    return [
        _row("GR", "010000", "AMAZONAS", "", "", "Gobierno Regional de Amazonas",
             (12, 4, 3, 1, 0, 2, 5), D(2022, 3, 30, 17, 45, 3), 185, 140, 98, 12.5, 32.86,
             (48, 6, 46, 17390)),
        _row("GL", "010101", "AMAZONAS", "CHACHAPOYAS", "CHACHAPOYAS",
             "Municipalidad Provincial de Chachapoyas",
             (5, 0, 1, 0, 0, 0, 1), D(2022, 3, 2, 9, 5, 59), 61, 20, 17, 40.0, 25.0, (5, 2, 5, 915)),
        _row("GL", "010102", "AMAZONAS", "CHACHAPOYAS", "ASUNCIÓN", SCRIPT,
             (0, 0, 0, 0, 0, 0, 0), None, 0, 0, 0, None, None),
        _row("GL", "080101", "CUSCO", "CUSCO", "CUSCO", HYPERLINK,
             (1, 0, 0, 0, 0, 0, 0), D(2022, 3, 14, 11, 0, 0), 0, 1, 1, 100.0, 100.0, (1, 1, 1, 0)),
        _row("GR", "150000", "LIMA", "", "", "Gobierno Regional de Lima",
             (0, 0, 0, 0, 0, 0, 0), D(2022, 1, 20, 8, 30, 0), 0, 0, 0, None, None),
        _row("GL", "150101", "LIMA", "LIMA", "LIMA", "Municipalidad Metropolitana de Lima",
             (1234, 310, 57, 12, 8, 19, 77), D(2022, 3, 31, 23, 59, 59), 3725, 15230, 9876,
             3.13, 21.07, (575, 18, 3209, 44778225)),
        _row("GL", "150132", "LIMA", "LIMA", "SAN JUAN DE LURIGANCHO", CONTROL,
             (0, 0, 0, 0, 0, 0, 0), D(2021, 2, 3, 10, 0, 0), 0, 0, 0, None, None),
        _row("GR", "250000", "UCAYALI", "", "", IMG,
             (3, 1, 0, 0, 0, 0, 0), D(2022, 3, 1, 0, 0, 0), 30, 6, 6, 0.0, 50.0, (3, 0, 3, 90)),
    ]  # fmt: skip


def otros_rows() -> list[dict[str, Any]]:
    """Matrix 2: other allies, some with formula-like or injected names."""
    return [
        _row("OA", "040101", "AREQUIPA", "AREQUIPA", "AREQUIPA", PLUS,
             (0, 0, 0, 0, 0, 0, 0), D(2021, 12, 15, 16, 20, 0), 0, 0, 0, None, None,
             menores=False),
        _row("OA", "150101", "LIMA", "LIMA", "LIMA", "Hospital Nacional Dos de Mayo",
             (40, 12, 6, 2, 1, 0, 9), D(2022, 3, 29, 12, 0, 1), 95, 310, 250, 20.0, 18.06,
             (130, 26, 56, 24130), menores=False),
        _row("OA", "150122", "LIMA", "LIMA", "MIRAFLORES", "Asociación Ñaña & Cía <b>",
             (0, 0, 0, 0, 0, 0, 0), None, 0, 0, 0, None, None, menores=False),
        _row("OA", "150130", "LIMA", "LIMA", "SAN BORJA", AT,
             (2, 0, 0, 0, 0, 0, 1), D(2022, 3, 10, 10, 10, 10), 45, 4, 3, 50.0, 50.0,
             (2, 1, 2, 90), menores=False),
        _row("OA", "200101", "PIURA", "PIURA", "PIURA", MINUS,
             (1, 0, 0, 0, 0, 0, 0), D(2022, 3, 5, 8, 0, 0), 0, 1, 1, 100.0, 100.0,
             (1, 1, 1, 0), menores=False),
        _row("OA", "210101", "PUNO", "PUNO", "PUNO", TAB,
             (0, 0, 0, 0, 0, 0, 0), D(2022, 2, 28, 23, 0, 0), 0, 0, 0, None, None,
             menores=False),
        _row("OA", "220101", "SAN MARTÍN", "MOYOBAMBA", "MOYOBAMBA", JNDI,
             (0, 0, 0, 0, 0, 0, 0), None, 0, 0, 0, None, None, menores=False),
        _row("OA", "230101", "TACNA", "TACNA", "TACNA", CR,
             (0, 0, 0, 0, 0, 0, 0), D(2022, 2, 1, 7, 0, 0), 0, 0, 0, None, None,
             menores=False),
    ]  # fmt: skip


GOBIERNOS_TOTALS = {
    "ubigeo": "", "region": "", "provincia": "", "distrito": "", "entidad": "Total", "tipo": "",
    "ingresos": 1255, "descargas": 315, "vigentes": 61, "suspendidos": 13, "desafiliados": 8,
    "menores_sin_autorizacion": 21, "solicitudes": 83,
    "ultima_conexion": D(2022, 3, 31, 23, 59, 59), "tiempo_promedio": 3692,
    "vistas": 15397, "vistas_unicas": 9998, "rebote": 4.27, "salidas": 21.2,
}  # fmt: skip

OTROS_TOTALS = {
    "ubigeo": "", "region": "", "provincia": "", "distrito": "", "entidad": "Total",
    "ingresos": 43, "descargas": 12, "vigentes": 6, "suspendidos": 2, "desafiliados": 1,
    "solicitudes": 10, "ultima_conexion": D(2022, 3, 29, 12, 0, 1), "tiempo_promedio": 95,
    "vistas": 315, "vistas_unicas": 254, "rebote": 21.05, "salidas": 18.73,
}  # fmt: skip


def matrices(config: Config) -> list[MatrixTable]:
    specs = {m.key: m for m in config.matrices}
    out = []
    for key, rows, totals in (
        ("gobiernos", gobiernos_rows(), GOBIERNOS_TOTALS),
        ("otros_aliados", otros_rows(), OTROS_TOTALS),
    ):
        spec = specs[key]
        out.append(
            MatrixTable(
                spec=spec,
                headers=[config.column_header(c) for c in spec.columns],
                rows=rows,
                totals=dict(totals),
            )
        )
    return out


def totals() -> Totals:
    return Totals(
        sessions=2410, pageviews=15890, unique_pageviews=10380, visitors=131, users=118,
        anonymous_visitors=13, bounces=118, exits=2380, time_on_page_seconds=45233987.0,
        avg_time_on_page=3371, bounce_rate=4.9, exit_rate=14.98,
        events={"ingresos": 1320, "descargas": 327, "vigentes": 67, "suspendidos": 15,
                "desafiliados": 9, "menores_sin_autorizacion": 21, "solicitudes": 93},
    )  # fmt: skip


def previous_totals() -> Totals:
    return Totals(
        sessions=2000, pageviews=16000, unique_pageviews=10000, visitors=120, users=110,
        anonymous_visitors=10, bounces=100, exits=2000, time_on_page_seconds=1.0,
        avg_time_on_page=3000, bounce_rate=5.0, exit_rate=12.5,
        events={"ingresos": 1320, "descargas": 0, "solicitudes": 100},
    )  # fmt: skip


def unknown_users() -> list[UnknownUser]:
    return [
        UnknownUser("jperez", 57, 6, D(2022, 3, 28, 15, 2, 44)),
        UnknownUser(SCRIPT, 9, 2, D(2022, 3, 3, 3, 3, 3)),
        UnknownUser(HYPERLINK, 4, 1, D(2022, 3, 4, 4, 4, 4)),
        UnknownUser(TAB, 3, 1, D(2022, 3, 5, 5, 5, 5)),
        UnknownUser(JNDI, 2, 1, D(2022, 3, 6, 6, 6, 6)),
        UnknownUser("ctl\x01\x1fuser", 1, 1, D(2022, 3, 7, 7, 7, 7)),
    ]


def pages() -> list[PageRow]:
    return [
        PageRow("/inicio", 9000, 6000, 95, 2100, 3.33, 10.0),
        PageRow("/reportes", 4000, 2500, 240, 150, 12.0, 25.5),
        PageRow("/solicitudes/nueva", 2300, 1700, 410, 40, None, 30.43),
        PageRow("/beneficiarios/{id}", 1300, 700, 120, 300, 40.0, 35.5, paths=130),
        PageRow("/" + IMG, 2, 2, 0, 2, 100.0, 100.0),
        PageRow(HYPERLINK, 1, 1, 0, 1, 100.0, 100.0),
        PageRow(MINUS, 1, 1, 0, 1, 100.0, 100.0),
        PageRow(AT, 1, 1, 0, 1, 100.0, 100.0),
    ]


def devices() -> list[DeviceRow]:
    return [
        DeviceRow("GR", "Escritorio", "Chrome", "Windows", 120),
        DeviceRow("GR", "Móvil", "Chrome Mobile", "Android", 30),
        DeviceRow("GL", "Escritorio", "Chrome", "Windows", 1500),
        DeviceRow("GL", "Escritorio", "Firefox", "Windows", 250),
        DeviceRow("GL", "Móvil", "Chrome Mobile", "Android", 300),
        DeviceRow("GL", "Tableta", "Mobile Safari", "iOS", 20),
        DeviceRow("GL", "Escritorio", "Edge", "Windows", 90),
        DeviceRow("OA", "Escritorio", "Chrome", "Windows", 60),
        DeviceRow("OA", "Móvil", SCRIPT, "Android", 5),
        DeviceRow("OA", "Otro", "Otro", "Otro", 1),
    ]


def daily() -> list[DailyActivity]:
    d = dt.date
    return [
        DailyActivity(d(2022, 3, 1), 80, 520, 45, 40),
        DailyActivity(d(2022, 3, 2), 95, 610, 50, 44),
        DailyActivity(d(2022, 3, 3), 110, 700, 61, 50),
        DailyActivity(d(2022, 3, 5), 12, 60, 8, 6),
        DailyActivity(d(2022, 3, 7), 130, 820, 70, 58),
        DailyActivity(d(2022, 3, 14), 140, 900, 75, 60),
        DailyActivity(d(2022, 3, 15), 125, 800, 66, 55),
        DailyActivity(d(2022, 3, 21), 150, 1000, 80, 62),
        DailyActivity(d(2022, 3, 28), 145, 950, 77, 61),
        DailyActivity(d(2022, 3, 31), 160, 1100, 90, 66),
    ]


def coverage() -> Coverage:
    return Coverage(
        first_hit=D(2022, 3, 1, 0, 0, 0),
        last_hit=D(2022, 3, 31, 23, 59, 59),
        hits=812345,
        bot_hits=120456,
        human_hits=691889,
        interaction_hits=27000,
        files=31,
        lines_rejected=17,
        logs=LogCoverage(
            month="2022-03",
            first=D(2022, 3, 1, 0, 0, 0),
            last=D(2022, 3, 31, 23, 59, 59),
            lines=812345 + 17,
            families=(
                LogFamily("/var/log/nginx/access.log", D(2022, 3, 1, 0, 0, 0),
                          D(2022, 3, 31, 23, 59, 59), 700000, 5),
                LogFamily("/var/log/nginx/app2-access.log", D(2022, 3, 1, 0, 0, 12),
                          D(2022, 3, 31, 23, 58, 1), 112345, 1),
            ),
            silent_days=(),
            gaps=(),
        ),  # fmt: skip
    )


def make_report(*, config: Config | None = None, previous: bool = True) -> MonthReport:
    """The March 2022 report with two matrices, hostile strings included."""
    cfg = config or Config()
    return MonthReport(
        month="2022-03",
        period_start=dt.date(2022, 3, 1),
        period_end=dt.date(2022, 3, 31),
        generated_at=D(2022, 4, 1, 6, 0, 0),
        config=cfg,
        matrices=matrices(cfg),
        totals=totals(),
        coverage=coverage(),
        unknown_users=unknown_users(),
        daily=daily(),
        pages=pages(),
        devices=devices(),
        previous_totals=previous_totals() if previous else None,
        logins_by_region=[
            ("AMAZONAS", 17),
            ("CUSCO", 1),
            ("LIMA", 1276),
            ("PIURA", 1),
            ("UCAYALI", 3),
        ],  # fmt: skip
    )


def empty_report() -> MonthReport:
    """A month whose allies table is known but nobody came: no rows of activity at all."""
    cfg = Config()
    report = make_report(config=cfg, previous=False)
    for m in report.matrices:
        for r in m.rows:
            r["_active"] = False
    report.totals = Totals()
    report.unknown_users = []
    report.daily = []
    report.pages = []
    report.devices = []
    report.logins_by_region = []
    return report
