"""logmetrics: Google-Analytics-style usage metrics per user and ally from web server access logs.

The public API mirrors the command line: ``ingest`` logs into a Parquet store, ``build_report``
for a month (matrices as pandas DataFrames via ``MatrixTable.to_pandas()``), ``write_report``
to HTML, XLSX and CSV, or ``report_month`` for both steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Config",
    "LogmetricsError",
    "build_report",
    "ingest",
    "load_config",
    "report_month",
    "write_report",
    "__version__",
]

from .config import Config, load_config
from .errors import LogmetricsError

if TYPE_CHECKING:
    from .api import report_month
    from .ingest import ingest
    from .render import write_report
    from .report import build_report

_LAZY = {
    "ingest": ("ingest", "ingest"),
    "build_report": ("report", "build_report"),
    "write_report": ("render", "write_report"),
    "report_month": ("api", "report_month"),
}


def __getattr__(name: str) -> Any:
    """Import the heavy stages (polars, pyarrow) only when first used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(name)
