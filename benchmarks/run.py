"""Benchmark logmetrics against GoAccess on the same generated month: issue 15's targets.

Every tool runs as its own subprocess on the same file, measured for wall time, CPU time and
peak memory, ``--repeat`` times (medians reported); the result is a table, one PASS/FAIL line
per target, and ``benchmarks/work/results.{json,md,txt}``. See ``benchmarks/README.md``.

    .venv/bin/python benchmarks/run.py                 # 5M and 1M lines, 3 repeats
    .venv/bin/python benchmarks/run.py --gzip-only     # the same, the logs kept gzip-only on disk
    .venv/bin/python benchmarks/run.py --quick         # smoke run of about a minute
    .venv/bin/python benchmarks/run.py --profile --repeat 0   # profiles only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: import the package, not its modules one by one
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import genlogs, history, runs  # noqa: E402
from benchmarks.measure import MB, code_digest, machine  # noqa: E402
from benchmarks.profiling import profile  # noqa: E402
from benchmarks.render import render  # noqa: E402
from benchmarks.runs import Bench, LogFile  # noqa: E402
from benchmarks.verdicts import count_check, disturbed, evaluate, summarise  # noqa: E402

HERE = Path(__file__).resolve().parent
QUICK = {"lines": 100_000, "small_lines": 20_000, "repeat": 1, "sample": 5_000}
FULL = {"lines": 5_000_000, "small_lines": 1_000_000, "repeat": 3, "sample": 100_000}


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark logmetrics ingest/report against GoAccess (issue 15's targets)."
    )
    p.add_argument("--lines", type=int, help="lines of the main size, the targets' (5M)")
    p.add_argument("--small-lines", type=int, help="lines of the size memory is compared to (1M)")
    p.add_argument("--repeat", type=int, help="runs per tool, medians reported (3; 0: none)")
    p.add_argument("--seed", type=int, default=genlogs.DEFAULT_SEED)
    p.add_argument("--sample", type=int, help="apache-log-parser's sample lines (100k)")
    p.add_argument("--quick", action="store_true", help="smoke run: 100k and 20k lines, 1 repeat")
    p.add_argument("--profile", action="store_true", help="profile ingest and report")
    p.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    p.add_argument(
        "--gzip-only",
        action="store_true",
        help="keep the logs gzip-only on disk: plain copies are restored for the run, then deleted",
    )
    p.add_argument(
        "--twelve-months",
        action="store_true",
        help="also measure the report's last-12-months section on a store of 12 months of "
        "--small-lines each (history.py; ~15 min more at 1M)",
    )
    p.add_argument("--workdir", type=Path, default=HERE / "work", help="(benchmarks/work)")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():  # explicit values win
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.repeat < 0:
        p.error("--repeat must be >= 0 (0 with --profile: profile only)")
    if not 0 < args.small_lines < args.lines:
        p.error("--small-lines must be below --lines")
    args.workdir = args.workdir.resolve()
    return args


def notes(bench: Bench, big: LogFile, small: LogFile, digest: str) -> list[str]:
    """What the reader must know to trust the table, and what went wrong."""
    args, out = bench.args, []
    if args.quick:
        out.append("SMOKE RUN (--quick): the sizes are far from the targets', ignore the verdicts")
    if args.no_goaccess:
        out.append("GoAccess skipped (--no-goaccess): its ratios are n/a")
    elif not bench.goaccess:
        out.append("GoAccess is not installed (apt-get install goaccess): its ratios are n/a")
    elif bench.goaccess_gz_native is False:
        out.append("this GoAccess cannot read .gz itself: its gzip run is `zcat FILE | goaccess -`")
    out.append(
        "apache-log-parser (a reference, no target): lines/s of its parse loop alone over the "
        f"first {min(args.sample, big.lines):,} lines (start-up and reading excluded)"
    )
    out.append(
        "peak MB = max(GNU time max RSS of the largest process, sampled PSS sum of the process "
        "tree), the worst run; --jobs 2 runs threads in one process"
    )
    out.append("logmetrics' bytecode is compiled before the timed runs, as pip install does")
    for log in (big, small):
        m = log.meta
        out.append(
            f"input: {m['lines']:,} lines ({m['bytes'] / MB:,.1f} MB, {m['gz_bytes'] / MB:,.1f} "
            f"MB gzip), {m['malformed']:,} malformed; MB/s counts uncompressed bytes"
        )
    if args.gzip_only:
        out.append("--gzip-only: the plain logs were restored from gzip for this run, then deleted")
    out += count_check(bench.runs)
    if warning := disturbed(bench.runs):
        out.append(warning)
    if code_digest() != digest:
        out.append("CHANGED: logmetrics' source changed while the benchmark ran: rerun it")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets may still FAIL), 1 when a tool failed."""
    argv = sys.argv[1:] if argv is None else argv
    args = _args(argv)
    bench = Bench(args)
    if args.twelve_months:
        runs.TWELVE_MONTHS = history.bench_step
    info = machine()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    bench.log(f"machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('ram_gb')} GB")
    info["logmetrics_code"] = digest = code_digest()
    big, small = bench.log_file(args.lines), bench.log_file(args.small_lines)
    try:
        bench.run_all(big, small)
        profile_lines = profile(bench, big) if args.profile else []
    finally:
        bench.drop_plain_copies()
    rows = summarise(bench.runs)
    ev = evaluate(rows, big=big.lines, small=small.lines)
    noted = notes(bench, big, small, digest)
    text, md = render(info, rows, ev, noted, quick=args.quick)
    if profile_lines:
        text += "\nprofile:\n" + "\n".join(profile_lines) + "\n"
    print(text)
    results: dict[str, Any] = {
        "started": started,
        "command": "benchmarks/run.py " + shlex.join(argv),
        "machine": info,
        "inputs": [big.meta, small.meta],
        "rows": rows,
        "evaluation": {**ev, "targets": [asdict(t) for t in ev["targets"]]},
        "notes": noted,
        "profile": profile_lines,
        "runs": [asdict(r) for r in bench.runs],
    }
    stem = "results-quick" if args.quick else "results"  # a smoke run keeps the real table
    (args.workdir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.workdir / f"{stem}.md").write_text(md)
    (args.workdir / f"{stem}.txt").write_text(text)
    print(f"wrote {args.workdir / stem}.json, .md and .txt")
    return 1 if any(r.rc != 0 for r in bench.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
