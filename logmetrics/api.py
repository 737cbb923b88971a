"""The Python API: the same steps the command line runs, callable from a notebook or a script.

>>> import logmetrics
>>> logmetrics.ingest(["/var/log/nginx"], warehouse="store", config=logmetrics.Config())
>>> report = logmetrics.build_report("2022-03", warehouse_dir="store", allies="aliados.csv")
>>> report.matrix("gobiernos").to_pandas()
>>> logmetrics.write_report(report, "out")
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .config import Config
from .render import write_report
from .report import build_report


def report_month(
    month: str,
    *,
    warehouse: str | Path,
    allies: str | Path | pl.DataFrame,
    out_dir: str | Path,
    config: Config | None = None,
    scheduler: str | None = None,
) -> list[Path]:
    """Build the month's report and write its HTML, XLSX and CSV files; returns their paths.

    The allies table is validated before anything is computed, and the files are written
    only once the whole report is built, so a failure leaves no partial output. With
    ``scheduler`` (``tcp://HOST:8786``) each day is read and sessionized on a Dask cluster;
    the files are the same as a local run's.
    """
    report = build_report(
        month,
        warehouse_dir=warehouse,
        allies=allies,
        config=config,
        scheduler=scheduler,
    )
    return write_report(report, Path(out_dir))
