"""The month's coverage in Spanish: the data section's line, the partial month's banner, and
the definition of a whole month (coverage.py holds the rules; these sentences tell them)."""

from __future__ import annotations

import datetime as dt

from ..coverage import EDGE, FAMILY_SLACK, date_runs
from ..model import Gap, LogCoverage, MonthReport
from ._text import clean_text, fmt_datetime, fmt_int, month_label


def _days(first: dt.date, last: dt.date) -> str:
    return f"el {first:%Y-%m-%d}" if first == last else f"del {first:%Y-%m-%d} al {last:%Y-%m-%d}"


def _runs(days: tuple[dt.date, ...]) -> list[str]:
    """Consecutive days as "del A al B", single days as "el A"."""
    return [_days(a, b) for a, b in date_runs(days)]


def coverage_line(logs: LogCoverage) -> str:
    """What the month's logs cover: "Registros del … al …, 2 fuentes, sin días sin registros"."""
    if logs.first is None or logs.last is None:
        return "Sin registros en el mes"
    n = len(logs.families)
    text = (
        f"Registros del {fmt_datetime(logs.first)} al {fmt_datetime(logs.last)}, "
        f"{fmt_int(n)} fuente{'s' if n != 1 else ''}, "
    )
    silent = len(logs.silent_days)
    if not silent:
        return text + "sin días sin registros"
    which = ", ".join(_runs(logs.silent_days))
    return text + f"{fmt_int(silent)} día{'s' if silent != 1 else ''} sin registros ({which})"


def _gap(gap: Gap) -> str:
    family = clean_text(gap.family)
    last_day = (gap.end - dt.timedelta(days=1)).date()
    phrases = {
        "silent_days": f"no hay registros {_days(gap.start.date(), last_day)}",
        "starts_late": f"el primer registro es del {fmt_datetime(gap.end)}",
        "stops_early": f"el último registro es del {fmt_datetime(gap.start)}",
        "in_progress": f"el mes no había terminado en la última ingesta ({fmt_datetime(gap.start)})",
        "family_missing": f"{family} no tiene registros en el mes (sí en el mes anterior)",
        "family_starts_late": f"{family} empieza el {fmt_datetime(gap.end)}",
        "family_stops_early": f"{family} termina el {fmt_datetime(gap.start)}",
        "family_silent": (
            f"{family} no tiene registros del {fmt_datetime(gap.start)} al {fmt_datetime(gap.end)}"
        ),
    }
    return phrases[gap.kind]


def partial_notice(report: MonthReport) -> str:
    """What the banner of a month reported with ``--allow-partial`` says after "Mes
    incompleto" ("" for a whole month): what the logs miss, and that no comparison with the
    previous month is made."""
    logs = report.coverage.logs
    if logs is None or not logs.partial:
        return ""
    prev = f"{report.period_start - dt.timedelta(days=1):%Y-%m}"
    reasons = "; ".join(_gap(g) for g in logs.gaps)
    return (
        f"Los registros no cubren todo {month_label(report.month)} ({reasons}). "
        f"Las cifras cubren solo lo registrado y no se comparan con {month_label(prev)}."
    )


def coverage_definition() -> tuple[str, str]:
    """The report's definition of a whole month, with coverage.py's thresholds."""
    edge = int(EDGE.total_seconds() // 3600)
    slack = int(FAMILY_SLACK.total_seconds() // 3600)
    return (
        "Mes completo",
        "Mes cuyos registros lo cubren entero: todos sus días tienen alguna línea de registro "
        "(de personas, robots o recursos: un día con solo robots no es un día vacío); la primera "
        f"línea llega a lo más {edge} horas después del inicio del mes y la última a lo más "
        f"{edge} horas antes de su fin; el mes había terminado en la última ingesta; y cada "
        "fuente (un archivo de registro con sus rotaciones: access.log, access.log.1, "
        "access.log.2.gz…) que tenía líneas el mes anterior empieza a lo más "
        f"{slack} horas tarde, ninguna termina más de {slack} horas antes del fin del mes ni "
        f"calla más de {slack} horas entre dos de sus archivos. Un mes incompleto no se reporta "
        "salvo con --allow-partial; entonces se advierte al inicio del reporte y no se compara "
        "con el mes anterior, como tampoco un mes con un mes anterior incompleto.",
    )
