"""The plan of runs: every tool a subprocess on the same generated file, at two sizes.

Issue 15's targets are about throughput at scale and bounded memory, so the main size is the
targets' 5M lines and the second size (1M) is there for the flatness of memory: at both sizes,
``logmetrics ingest`` (plain and gzip, ``--jobs 1`` and ``2``, a fresh warehouse each run) and
``logmetrics report`` on the warehouse the plain ``--jobs 2`` ingest wrote; GoAccess writing its
HTML report (plain, and ``zcat | goaccess -`` for the gzip copy) at the main size and, plain, at
the second; apache-log-parser's parse loop over a sample, as a reference. Each repeat runs the
sizes in turn, so a slow phase of the machine touches every tool.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import genlogs, traffic
from benchmarks.measure import MB, ROOT, Run, measure

HERE = Path(__file__).resolve().parent

#: Issue 17's measurement plugs in here: a function that, given the ``Bench``, measures
#: ``logmetrics report`` with its "last 12 months" section on a store of 12 months × 1M hits
#: (``tool="report-12m"``) and the same report on a store holding only that month
#: (``tool="report-1m"``), each recorded with ``Bench.record``. The verdict row
#: (``verdicts.twelve_month_target``) compares their median wall times; while this is None
#: the run skips the step and the row says it was not measured.
TWELVE_MONTHS: Callable[[Bench], None] | None = None


def size_name(n: int) -> str:
    """5000000 → "5M", 1500000 → "1.5M", 50000 → "50k": the sizes in labels."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return str(n)


@dataclass(frozen=True)
class LogFile:
    """One generated month: its plain file, its gzip copy and the generator's counts."""

    plain: Path
    gz: Path
    meta: dict[str, Any]

    @property
    def lines(self) -> int:
        return int(self.meta["lines"])

    @property
    def name(self) -> str:
        return size_name(self.lines)


class Bench:
    """Runs the tools and keeps every measurement."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.workdir
        self.work.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.lm = [sys.executable, "-m", "logmetrics"]
        self.goaccess = None if args.no_goaccess else shutil.which("goaccess")
        self.goaccess_gz_native: bool | None = None
        self.allies = self.work / f"aliados-s{args.seed}.csv"
        traffic.write_allies(self.allies, args.seed)
        self.scratch = self.work / "runs" / "scratch"
        self._restored: list[Path] = []  # plain copies to delete at the end (--gzip-only)

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def record(
        self, run: Run, *, tool: str, size: int, lines: int, nbytes: int, **extra: Any
    ) -> Run:
        """Keep ``run`` with what the verdicts look it up by: tool, size of the file, lines read."""
        run.extra.update(tool=tool, size=size, lines=lines, bytes=nbytes, **extra)
        self.runs.append(run)
        status = "" if run.rc == 0 else f"  EXIT {run.rc}: {run.stderr.strip()[-300:]}"
        self.log(
            f"  {run.label:<44} {run.wall:8.2f} s  {lines / run.wall:>12,.0f} lines/s  "
            f"peak {run.peak_mb:8.1f} MB  cpu {run.cpu:6.1f} s  others {run.others:4.2f} cores"
            f"{status}"
        )
        return run

    def record_file(self, run: Run, log: LogFile, *, tool: str, **extra: Any) -> Run:
        """Keep a run that read the whole of ``log``."""
        lines, nbytes = log.lines, log.meta["bytes"]
        return self.record(run, tool=tool, size=lines, lines=lines, nbytes=nbytes, **extra)

    # --- the input ----------------------------------------------------------------------------

    def log_file(self, n_lines: int) -> LogFile:
        """The generated month of ``n_lines`` lines, its plain copy restored if kept gzip-only."""
        gzip_only = self.args.gzip_only
        plain, gz, meta = genlogs.ensure_logs(
            self.work, n_lines, self.args.seed, plain=not gzip_only
        )
        if not plain.exists():
            self.log(f"restoring {plain.name} from its gzip copy for the plain runs …")
            genlogs.restore_plain(gz, plain, meta)
        if gzip_only:
            self._restored.append(plain)
        self.log(
            f"input: {plain.name}: {meta['lines']:,} lines, {meta['bytes'] / MB:,.1f} MB "
            f"({meta['gz_bytes'] / MB:,.1f} MB gzip), {meta['malformed']:,} malformed"
        )
        return LogFile(plain, gz, meta)

    def drop_plain_copies(self) -> None:
        """With ``--gzip-only``, keep only the gzip copies once the run is over."""
        for path in self._restored:
            path.unlink(missing_ok=True)

    def prepare(self) -> None:
        """Compile logmetrics' bytecode, untimed, as ``pip install`` does for an installed copy.

        This checkout is an editable install: with PYTHONDONTWRITEBYTECODE set, every timed run
        would otherwise compile every module again.
        """
        import compileall

        compileall.compile_dir(str(ROOT / "logmetrics"), quiet=1)

    # --- each tool ----------------------------------------------------------------------------

    def ingest(self, log: LogFile, *, jobs: int, gz: bool, rep: int) -> Run:
        kind = "gz" if gz else "plain"
        wh = self.warehouse(log, jobs=jobs, kind=kind)
        shutil.rmtree(wh, ignore_errors=True)
        path = log.gz if gz else log.plain
        cmd = [*self.lm, "ingest", str(path), "--warehouse", str(wh), "--log-format", "nginx"]
        cmd += ["--jobs", str(jobs), "--json"]
        run = measure(
            f"logmetrics ingest --jobs {jobs} ({kind}, {log.name})",
            cmd,
            scratch=self.scratch,
            env=self.env,
        )
        summary: dict[str, Any] = {}
        with contextlib.suppress(ValueError, IndexError):
            summary = json.loads(run.stdout.strip().splitlines()[-1])
        wh_bytes = sum(f.stat().st_size for f in wh.rglob("*") if f.is_file()) if wh.exists() else 0
        return self.record_file(
            run,
            log,
            tool="ingest",
            jobs=jobs,
            input=kind,
            rep=rep,
            expect=[log.meta["valid"], log.meta["malformed"]],
            summary=summary,
            warehouse_bytes=wh_bytes,
        )

    def warehouse(self, log: LogFile, *, jobs: int, kind: str) -> Path:
        return self.work / "runs" / f"wh-{log.name}-{kind}-j{jobs}"

    def report(self, log: LogFile, *, rep: int) -> Run:
        """The month's report from the store the plain ``--jobs 2`` ingest just wrote."""
        out = self.work / "runs" / f"report-{log.name}"
        shutil.rmtree(out, ignore_errors=True)
        wh = self.warehouse(log, jobs=2, kind="plain")
        cmd = [*self.lm, "report", "--month", log.meta["month"], "--warehouse", str(wh)]
        cmd += ["--allies", str(self.allies), "--out", str(out)]
        run = measure(f"logmetrics report ({log.name})", cmd, scratch=self.scratch, env=self.env)
        files = sorted(p.name for p in out.iterdir()) if out.exists() else []
        if run.rc == 0 and not files:
            run.rc, run.stderr = -1, run.stderr + "\nno report written"
        return self.record_file(
            run,
            log,
            tool="report",
            rep=rep,
            files=files,
        )

    def _goaccess_reads_gz(self, log: LogFile) -> bool:
        """Whether this GoAccess reads .gz itself (1.7 from Debian does not), on a small copy."""
        if self.goaccess_gz_native is None:
            probe = self.work / "runs" / "goaccess-probe.log.gz"
            probe.parent.mkdir(parents=True, exist_ok=True)
            with open(log.plain, "rb") as src, gzip.open(probe, "wb") as out:
                out.write(b"".join(itertools.islice(src, 200)))
            html = probe.with_suffix(".html")
            html.unlink(missing_ok=True)
            done = subprocess.run(
                [self.goaccess or "goaccess", str(probe), *self._goaccess_opts(html)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            self.goaccess_gz_native = done.returncode == 0 and html.exists()
        return self.goaccess_gz_native

    @staticmethod
    def _goaccess_opts(html: Path) -> list[str]:
        return ["--log-format=COMBINED", "--no-global-config", "-o", str(html)]

    def goaccess_html(self, log: LogFile, *, gz: bool, rep: int) -> Run | None:
        """GoAccess's HTML report of the file: the tool the targets compare with."""
        if not self.goaccess:
            return None
        html = self.work / "runs" / "goaccess-report.html"
        html.unlink(missing_ok=True)
        opts = self._goaccess_opts(html)
        if gz and not self._goaccess_reads_gz(log):
            pipe = f"zcat {shlex.quote(str(log.gz))} | {shlex.quote(self.goaccess)} - "
            cmd = ["sh", "-c", pipe + shlex.join(opts)]
            label = f"GoAccess HTML (zcat | goaccess -, {log.name})"
        else:
            cmd = [self.goaccess, str(log.gz if gz else log.plain), *opts]
            label = f"GoAccess HTML ({'gz' if gz else 'plain'}, {log.name})"
        run = measure(label, cmd, scratch=self.scratch)
        if run.rc == 0 and not html.exists():
            run.rc, run.stderr = -1, run.stderr + "\nno HTML written"
        return self.record_file(
            run,
            log,
            tool="goaccess",
            input="gz" if gz else "plain",
            rep=rep,
        )

    def alp(self, log: LogFile, *, rep: int) -> Run | None:
        """apache-log-parser's parse loop over the first ``--sample`` lines: a reference row."""
        if importlib.util.find_spec("apache_log_parser") is None:
            self.log("apache-log-parser is not installed in this Python: skipped")
            return None
        sample = min(self.args.sample, log.lines)
        cmd = [sys.executable, str(HERE / "alp_loop.py"), str(log.plain), str(sample)]
        label = f"apache-log-parser ({size_name(sample)} of {log.name}, reference)"
        run = measure(label, cmd, scratch=self.scratch)
        res: dict[str, Any] = {}
        with contextlib.suppress(ValueError, IndexError):
            res = json.loads(run.stdout.strip().splitlines()[-1])
        if not res:
            run.rc = run.rc or -1
            return self.record(run, tool="alp", size=log.lines, lines=sample, nbytes=0, rep=rep)
        run.wall = res["seconds"]  # the loop alone: no start-up, no file read
        return self.record(
            run,
            tool="alp",
            size=log.lines,
            lines=res["lines"],
            nbytes=round(log.meta["bytes"] * res["lines"] / log.lines),
            rep=rep,
            ok=res["ok"],
            bad=res["bad"],
        )

    # --- the plan -----------------------------------------------------------------------------

    def one_size(self, log: LogFile, *, rep: int, main: bool) -> None:
        """One repeat at one size; GoAccess's gzip run and apache-log-parser at the main size."""
        for jobs in (1, 2):
            self.ingest(log, jobs=jobs, gz=False, rep=rep)
            self.ingest(log, jobs=jobs, gz=True, rep=rep)
        self.report(log, rep=rep)
        self.goaccess_html(log, gz=False, rep=rep)
        if main:
            self.goaccess_html(log, gz=True, rep=rep)
            self.alp(log, rep=rep)

    def run_all(self, big: LogFile, small: LogFile) -> None:
        """``--repeat`` rounds of both sizes, then issue 17's 12-month step when it is wired."""
        self.prepare()
        for rep in range(self.args.repeat):
            for log in (small, big):
                self.log(f"repeat {rep + 1}/{self.args.repeat} at {log.lines:,} lines")
                self.one_size(log, rep=rep, main=log is big)
        if TWELVE_MONTHS is not None and self.args.repeat:
            self.log("the report's 12-month section (issue 17) …")
            TWELVE_MONTHS(self)
