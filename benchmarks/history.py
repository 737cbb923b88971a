"""The report with its last 12 months, on a year of logs: the speed target of issue 17 item 3.

A store of 12 generated months (April 2021 to March 2022, ``genlogs.py --month``, the same
seed, so the same allies table) and a store of March alone; ``logmetrics report --month
2022-03`` on each, first with no day summary kept (the first report after an ingest makes
them) and then with them (every later report). Target: on the 12-month store, the report with
its summaries kept takes at most 2x the single-month store's. Each run is a subprocess,
measured like ``run.py``'s (wall time, peak memory); runs of the two stores alternate and the
medians of ``--repeat`` runs are reported.

    .venv/bin/python benchmarks/history.py --work /tmp/lm-history   # 12 x 1M lines, ~15 min
    .venv/bin/python benchmarks/history.py --quick --work /tmp/lm-history-quick

``benchmarks/run.py --twelve-months`` runs the same measurement as a step of the main
benchmark (``bench_step``), with its verdict in the table.

The logs are written gzip'd alone (12 x 15 MB for 1M lines) and deleted at the end unless
``--keep-logs``; the warehouses stay in the work directory.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __name__ == "__main__":  # run as a script: import the package, not its modules one by one
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import genlogs, traffic  # noqa: E402
from benchmarks.measure import ROOT, Run, measure  # noqa: E402

if TYPE_CHECKING:
    from benchmarks.runs import Bench

HERE = Path(__file__).resolve().parent

MONTH = "2022-03"
#: The 12-month store's report (summaries kept) may take at most this many times the
#: single-month store's.
T_HISTORY = 2.0


def months_before(month: str, n: int) -> list[str]:
    """The ``n`` months ending with ``month``, oldest first."""
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + mon - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


def _lm(*args: str) -> list[str]:
    return [sys.executable, "-m", "logmetrics", *args]


def _check(run: Run) -> Run:
    if run.rc != 0:
        raise RuntimeError(f"{run.label}: exit {run.rc}\n{run.stderr}")
    return run


def measure_history(
    work: Path,
    *,
    lines: int = 1_000_000,
    months: int = 12,
    repeat: int = 3,
    seed: int = genlogs.DEFAULT_SEED,
    keep_logs: bool = False,
    log: Any = print,
    on_run: Callable[[str, Run], None] | None = None,
) -> dict[str, Any]:
    """Generate, ingest and report (see the module docstring); the measurements as a dict:
    per run kind its median seconds and worst peak MB, the ratios, and the target's verdict.
    ``on_run(label, run)`` is told of every report run (``bench_step`` records them)."""
    work.mkdir(parents=True, exist_ok=True)
    compileall.compile_dir(str(ROOT / "logmetrics"), quiet=1)  # as an installed copy is
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": "1650000000"}
    logs = work / "logs"
    allies = work / f"aliados-s{seed}.csv"
    traffic.write_allies(allies, seed)
    gz = []
    for month in months_before(MONTH, months):
        log(f"logs of {month} ({lines:,} lines) …")
        gz.append(
            genlogs.ensure_logs(logs, lines, seed, month=month, plain=False, verbose=False)[1]
        )
    stores = {"one month": work / "wh-1", f"{months} months": work / f"wh-{months}"}
    ingests: dict[str, float] = {}
    for (name, wh), files in zip(stores.items(), (gz[-1:], gz), strict=True):
        shutil.rmtree(wh, ignore_errors=True)
        log(f"ingest {name} …")
        cmd = _lm("ingest", *map(str, files), "--warehouse", str(wh), "--log-format", "nginx")
        run = measure(f"ingest {name}", cmd, scratch=work / "scratch", env=env)
        ingests[name] = _check(run).wall
    if not keep_logs:
        shutil.rmtree(logs)
    runs: dict[str, list[Run]] = {}
    for rep in range(repeat):
        for name, wh in stores.items():
            shutil.rmtree(wh / "summaries", ignore_errors=True)
            for kind in ("first", "kept"):
                label = f"{name}, {kind}"
                out = work / "out" / label.replace(" ", "-").replace(",", "")
                shutil.rmtree(out, ignore_errors=True)
                cmd = _lm("report", "--month", MONTH, "--warehouse", str(wh),
                          "--allies", str(allies), "--out", str(out))  # fmt: skip
                run = _check(measure(label, cmd, scratch=work / "scratch", env=env))
                log(f"  {rep + 1}/{repeat} {label}: {run.wall:.2f} s, {run.maxrss_mb:.0f} MB")
                runs.setdefault(label, []).append(run)
                if on_run is not None:
                    on_run(label, run)
    table = {
        label: {
            "seconds": round(statistics.median(r.wall for r in rs), 3),
            "peak_mb": round(max(r.maxrss_mb for r in rs), 1),
            "runs": [round(r.wall, 3) for r in rs],
        }
        for label, rs in runs.items()
    }
    year = table[f"{months} months, kept"]["seconds"]
    one_kept = table["one month, kept"]["seconds"]
    one_first = table["one month, first"]["seconds"]
    result = {
        "lines_per_month": lines,
        "months": months,
        "repeat": repeat,
        "ingest_seconds": {k: round(v, 2) for k, v in ingests.items()},
        "reports": table,
        "ratio_to_one_month_kept": round(year / one_kept, 2),
        "ratio_to_one_month_first": round(year / one_first, 2),
        "target": f"{months}-month report (summaries kept) <= {T_HISTORY:g}x the one-month one",
        "pass": year <= T_HISTORY * one_kept,
    }
    return result


def bench_step(bench: Bench) -> None:
    """The measurement as a step of ``run.py`` (``runs.TWELVE_MONTHS``): the reports with
    their summaries kept are recorded as ``report-12m`` and ``report-1m``, which
    ``verdicts.twelve_month_target`` compares."""
    lines = bench.args.small_lines

    def record(label: str, run: Run) -> None:
        if label.endswith("kept"):
            months = 1 if label.startswith("one month") else 12
            tool = "report-1m" if months == 1 else "report-12m"
            bench.record(run, tool=tool, size=months * lines, lines=months * lines, nbytes=0)

    measure_history(
        bench.work / "history", lines=lines, repeat=bench.args.repeat, seed=bench.args.seed,
        log=bench.log, on_run=record,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=HERE / "work" / "history")
    p.add_argument("--lines", type=int, default=1_000_000, help="lines per month")
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="20k lines a month, one repeat")
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.lines, args.repeat = 20_000, 1
    result = measure_history(
        args.work, lines=args.lines, months=args.months, repeat=args.repeat,
        keep_logs=args.keep_logs,
    )  # fmt: skip
    text = json.dumps(result, indent=2)
    (args.work / "history-results.json").write_text(text + "\n")
    print(text)
    print(("PASS" if result["pass"] else "FAIL") + f" {result['target']}: "
          f"{result['ratio_to_one_month_kept']}x")  # fmt: skip
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
