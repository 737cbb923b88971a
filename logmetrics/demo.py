"""The shipped sample month, end to end: ingest the fixtures into a fresh store and render."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ._resources import resource_dir
from .config import Config
from .ingest import IngestSummary, ingest
from .render import write_report
from .report import build_report

#: The month the shipped sample logs cover.
DEMO_MONTH = "2022-03"


def demo_paths() -> tuple[Path, Path]:
    """(logs directory, allies table) of the shipped sample month."""
    fixtures = resource_dir("fixtures")
    return fixtures / "logs", fixtures / "aliados.csv"


def run_demo(
    *, out_dir: str | Path, warehouse_dir: str | Path | None = None
) -> tuple[IngestSummary, list[Path]]:
    """Ingest the sample logs into ``warehouse_dir`` (a temporary one if None) and render the month."""
    logs, allies = demo_paths()
    config = Config()
    if warehouse_dir is None:
        with tempfile.TemporaryDirectory(prefix="logmetrics-demo-") as tmp:
            return _run(logs, allies, Path(tmp), Path(out_dir), config)
    return _run(logs, allies, Path(warehouse_dir), Path(out_dir), config)


def _run(
    logs: Path, allies: Path, wh: Path, out: Path, config: Config
) -> tuple[IngestSummary, list[Path]]:
    summary = ingest([logs], warehouse=wh, config=config, final=True)
    report = build_report(DEMO_MONTH, warehouse_dir=wh, allies=allies, config=config)
    return summary, write_report(report, out)
