"""The Python API: the same steps the command line runs, callable from a notebook or a script.

>>> import logmetrics
>>> logmetrics.ingest(["/var/log/nginx"], warehouse="store", config=logmetrics.Config())
>>> report = logmetrics.build_report("2022-03", warehouse_dir="store", allies="aliados.csv")
>>> report.matrix("gobiernos").to_pandas()
>>> logmetrics.write_report(report, "out")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from . import mail
from .config import Config
from .model import MonthReport
from .render import output_paths, write_report
from .report import build_report, month_bounds

#: ``--month previous``: the last whole month, so cron needs no date arithmetic.
PREVIOUS = "previous"


def resolve_month(month: str, *, timezone: str, now: dt.datetime | None = None) -> str:
    """``YYYY-MM`` as given, or for ``previous`` the month before ``now``'s in ``timezone``.

    ``now`` (aware; default: the clock) is read in the report's time zone: at 2022-04-01 03:00
    UTC it is still 31 March in Lima, so the previous month is February.
    """
    if month.strip() != PREVIOUS:
        month_bounds(month)  # a clear error for anything that is not a month
        return month.strip()
    local = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(timezone))
    last = local.date().replace(day=1) - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def report_month(
    month: str,
    *,
    warehouse: str | Path,
    allies: str | Path | pl.DataFrame,
    out_dir: str | Path,
    config: Config | None = None,
    scheduler: str | None = None,
    mail_to: Sequence[str] = (),
    now: dt.datetime | None = None,
    allow_partial: bool = False,
    on_report: Callable[[MonthReport], None] | None = None,
) -> list[Path]:
    """Build the month's report and write its HTML, XLSX and CSV files; returns their paths.

    ``month`` is ``YYYY-MM`` or ``previous`` (see ``resolve_month``; ``now`` is for tests).
    The allies table is validated before anything is computed, and the files are written
    only once the whole report is built, so a failure leaves no partial output. With
    ``scheduler`` (``tcp://HOST:8786``) each day is read and sessionized on a Dask cluster;
    the files are the same as a local run's. With ``mail_to``, the ``[mail]`` settings are
    checked first and the written HTML and XLSX are then mailed to those addresses
    (``mail.mail_report``; a ``MailError`` leaves the files). A month its logs do not wholly
    cover is a PartialMonthError unless ``allow_partial`` (``build_report``). ``on_report`` is
    called with the built report before its files are written (the CLI says from it whether
    the month is partial).
    """
    config = config or Config()
    month = resolve_month(month, timezone=config.timezone, now=now)
    plan = mail.delivery(config, mail_to) if mail_to else None
    report = build_report(
        month,
        warehouse_dir=warehouse,
        allies=allies,
        config=config,
        scheduler=scheduler,
        allow_partial=allow_partial,
    )
    if on_report is not None:
        on_report(report)
    paths = write_report(report, Path(out_dir))
    if plan is not None:
        mail.mail_report(report, output_paths(report, Path(out_dir)), plan)
    return paths
