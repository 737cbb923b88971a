"""logmetrics: Google-Analytics-style usage metrics per user and ally from web server access logs.

The public API mirrors the command line: ``ingest`` logs into a Parquet store, ``build_report``
for a month (matrices as pandas DataFrames via ``MatrixTable.to_pandas()``), ``write_report``
to HTML, XLSX and CSV, or ``report_month`` for both steps; ``prune`` deletes old raw data.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import report_month
from .config import Config, load_config
from .errors import LogmetricsError
from .ingest import ingest
from .prune import prune
from .render import write_report
from .report import build_report

__all__ = [
    "Config",
    "LogmetricsError",
    "build_report",
    "ingest",
    "load_config",
    "prune",
    "report_month",
    "write_report",
    "__version__",
]
