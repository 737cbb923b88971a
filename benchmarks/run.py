"""Benchmark logmetrics against GoAccess and apache-log-parser on the same generated month.

Issue 5 sets ratio targets rather than absolute times, because only ratios measured side by side
in one run on one machine mean anything. Every tool runs as its own subprocess on the same file,
measured for wall time and peak memory, ``--repeat`` times (medians reported); the result is a
table, ``benchmarks/work/results.json`` / ``results.md`` and one PASS/FAIL line per target.

    .venv/bin/python benchmarks/run.py                 # 1M lines, 3 repeats
    .venv/bin/python benchmarks/run.py --scale         # plus the 5M scaling run
    .venv/bin/python benchmarks/run.py --quick         # smoke run in well under a minute
    .venv/bin/python benchmarks/run.py --profile       # also profile ingest and report
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import hashlib
import importlib.util
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import genlogs  # noqa: E402  (sibling module; benchmarks/ is not a package)

GNU_TIME = "/usr/bin/time"
APACHE_FORMAT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
MB = 1e6
GB = 1e9

# Issue 5's targets.
T_GOACCESS = 6.0  # ingest lines/s ÷ GoAccess lines/s, plain and gzip
T_ALP = 40.0  # ingest lines/s ÷ apache-log-parser lines/s
T_END_TO_END = 4.0  # GoAccess HTML time ÷ (ingest + report) time
T_RSS = 1 * GB  # peak ingest memory
T_FLAT = 0.15  # 5M peak memory within 15% of 1M
T_LINEAR = 5.5  # 5M time ≤ 5.5 × 1M time


# --- measuring a subprocess ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (any of its threads may have forked them)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
    except OSError:
        pass
    return out


def _memory_kb(pid: int) -> int:
    """PSS of one process (shared pages split between sharers), else its RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


class TreeSampler(threading.Thread):
    """Peak total memory of a process tree, sampled: GNU time only sees the largest process,
    which under-reports a ``zcat | goaccess`` pipe (and any tool that forks workers)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.max_procs = 0
        self._halt = threading.Event()

    def run(self) -> None:
        enabled = os.path.isdir(f"/proc/{self.pid}")
        while enabled and not self._halt.wait(self.interval):
            seen, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                seen.append(p)
                todo.extend(_children(p))
            self.peak_kb = max(self.peak_kb, sum(_memory_kb(p) for p in seen))
            self.max_procs = max(self.max_procs, len(seen))

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Run:
    """One measured subprocess."""

    label: str
    cmd: list[str]
    wall: float
    maxrss_mb: float  # largest single process (GNU time -v or getrusage)
    tree_mb: float  # sampled peak of the whole process tree (PSS)
    rc: int
    cpu: float = 0.0  # user + system seconds of the tool (all its processes)
    others: float = 0.0  # cores used by everything else on the machine meanwhile
    stdout: str = ""
    stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_mb(self) -> float:
        return max(self.maxrss_mb, self.tree_mb)


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(label: str, cmd: list[str], *, scratch: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` under GNU time (or a getrusage wrapper) and the tree sampler."""
    scratch.mkdir(parents=True, exist_ok=True)
    tfile = scratch / "time.txt"
    tfile.unlink(missing_ok=True)
    if os.access(GNU_TIME, os.X_OK):
        wrapped = [GNU_TIME, "-v", "-o", str(tfile), *cmd]
    else:
        wrapped = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_rusage",
            str(tfile),
            "--",
            *cmd,
        ]
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        busy0 = _busy_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        busy = _busy_seconds() - busy0
        sampler.stop()
    maxrss_kb = 0
    cpu = 0.0
    text = tfile.read_text(errors="replace") if tfile.exists() else ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Maximum resident set size (kbytes):"):
            maxrss_kb = int(line.rsplit(":", 1)[1])
        elif line.startswith("Exit status:"):
            rc = int(line.rsplit(":", 1)[1])
        elif line.startswith(("User time (seconds):", "System time (seconds):", "cpu_s=")):
            cpu += float(line.replace("=", ":").rsplit(":", 1)[1])
        elif line.startswith("maxrss_kb="):
            maxrss_kb = int(line.split("=", 1)[1])
        elif line.startswith("rc="):
            rc = int(line.split("=", 1)[1])
    # GNU time prefixes "Command exited with non-zero status N" to its report.
    if text.startswith("Command exited with non-zero status"):
        rc = int(text.split("\n", 1)[0].rsplit(" ", 1)[1])
    return Run(
        label=label,
        cmd=cmd,
        wall=wall,
        maxrss_mb=maxrss_kb * 1024 / MB,
        tree_mb=sampler.peak_kb * 1024 / MB,
        rc=rc,
        cpu=cpu,
        others=max(0.0, busy - cpu) / wall if wall > 0 else 0.0,
        stdout=out_path.read_text(errors="replace")[-4000:],
        stderr=err_path.read_text(errors="replace")[-4000:],
    )


def _rusage_main(tfile: str, cmd: list[str]) -> int:
    """Fallback for machines without GNU time: run ``cmd``, write its peak RSS to ``tfile``."""
    import resource

    rc = subprocess.call(cmd, stdin=subprocess.DEVNULL)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss in KiB on Linux
    Path(tfile).write_text(
        f"maxrss_kb={ru.ru_maxrss}\ncpu_s={ru.ru_utime + ru.ru_stime}\nrc={rc}\n"
    )
    return rc


def _alp_main(path: str, sample: int) -> int:
    """apache-log-parser's normal use, one call per line, over the first ``sample`` lines."""
    import itertools

    import apache_log_parser

    parser = apache_log_parser.make_parser(APACHE_FORMAT)
    ok = bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = list(itertools.islice(fh, sample))
    t0 = time.perf_counter()
    for line in lines:
        try:
            parser(line)
            ok += 1
        except apache_log_parser.LineDoesntMatchException:
            bad += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"lines": len(lines), "ok": ok, "bad": bad, "seconds": seconds}))
    return 0


# --- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gb"] = round(int(line.split()[1]) * 1024 / 2**30, 1)
    except OSError:
        pass
    with contextlib.suppress(AttributeError):
        info["affinity_cores"] = len(os.sched_getaffinity(0))
    for mod in ("polars", "pyarrow", "numba", "apache_log_parser"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a version string is best effort
            try:
                from importlib.metadata import version

                info[mod] = version(mod.replace("_", "-"))
            except Exception:  # noqa: BLE001
                info[mod] = None
    try:
        sys.path.insert(0, str(ROOT))
        info["logmetrics"] = __import__("logmetrics").__version__
        info["logmetrics_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "logmetrics"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if dirty:
            info["logmetrics_commit"] += "+uncommitted"
    except Exception:  # noqa: BLE001
        pass
    goaccess = shutil.which("goaccess")
    if goaccess:
        out = subprocess.run([goaccess, "--version"], capture_output=True, text=True).stdout
        first = out.split("\n", 1)[0]  # "GoAccess - 1.7."
        info["goaccess"] = "GoAccess " + first.rsplit("-", 1)[-1].strip().rstrip(".")
    return info


def code_digest() -> str:
    """Hash of logmetrics' sources: a benchmark whose code changed mid-run says so."""
    h = hashlib.sha256()
    for f in sorted((ROOT / "logmetrics").rglob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _ensure_goaccess() -> str | None:
    """GoAccess's path; installed with apt-get when missing and we are root."""
    found = shutil.which("goaccess")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("goaccess missing: apt-get install -y goaccess …", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "goaccess"], env=env, check=False)
    return shutil.which("goaccess")


# --- the benchmark ----------------------------------------------------------------------------


class Bench:
    """Runs the tools, keeps every measurement, and summarises them."""

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
        self.goaccess = None if args.no_goaccess else _ensure_goaccess()
        self.goaccess_gz_native: bool | None = None
        self.allies = self.work / f"aliados-s{args.seed}.csv"
        genlogs.write_allies(self.allies, args.seed)

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def _record(self, run: Run, n_lines: int, n_bytes: int, **extra: Any) -> Run:
        run.extra.update(lines=n_lines, bytes=n_bytes, **extra)
        self.runs.append(run)
        status = "" if run.rc == 0 else f"  EXIT {run.rc}: {run.stderr.strip()[-300:]}"
        self.log(
            f"  {run.label:<38} {run.wall:8.2f} s  {n_lines / run.wall:>12,.0f} lines/s  "
            f"peak {run.peak_mb:8.1f} MB  cpu {run.cpu:6.1f} s  others {run.others:4.2f} cores"
            f"{status}"
        )
        return run

    def prepare(self, plain: Path) -> None:
        """Put logmetrics in the state an installed, used copy is in, untimed.

        ``pip install`` compiles a package's bytecode; this checkout is an editable install,
        and with PYTHONDONTWRITEBYTECODE set every run would recompile every module. And a
        nightly ingest finds the compiled parse cached by the run before; the first run on a
        fresh machine compiles it (10-20 s), so one small ingest goes first.
        """
        compileall.compile_dir(str(ROOT / "logmetrics"), quiet=1)
        sample = self.work / "runs" / "warmup.log"
        sample.parent.mkdir(parents=True, exist_ok=True)
        with open(plain, "rb") as src:
            sample.write_bytes(b"".join(itertools.islice(src, 2000)))
        wh = self.work / "runs" / "wh-warmup"
        shutil.rmtree(wh, ignore_errors=True)
        cmd = [*self.lm, "ingest", str(sample), "--warehouse", str(wh), "--log-format", "nginx"]
        subprocess.run(cmd, env=self.env, capture_output=True, check=False)
        shutil.rmtree(wh, ignore_errors=True)

    # each tool

    def ingest(self, path: Path, meta: dict, jobs: int, tag: str, rep: int) -> Run:
        wh = self.work / "runs" / f"wh-{tag}-j{jobs}"
        shutil.rmtree(wh, ignore_errors=True)
        cmd = [*self.lm, "ingest", str(path), "--warehouse", str(wh), "--log-format", "nginx"]
        cmd += ["--jobs", str(jobs), "--json"]
        label = f"logmetrics ingest --jobs {jobs} ({tag})"
        run = measure(label, cmd, scratch=self.work / "runs" / "scratch", env=self.env)
        summary: dict[str, Any] = {}
        with contextlib.suppress(ValueError, IndexError):
            summary = json.loads(run.stdout.strip().splitlines()[-1])
        wh_bytes = sum(f.stat().st_size for f in wh.rglob("*") if f.is_file()) if wh.exists() else 0
        return self._record(
            run,
            meta["lines"],
            meta["bytes"],
            tool="ingest",
            jobs=jobs,
            input=tag,
            rep=rep,
            warehouse=str(wh),
            warehouse_bytes=wh_bytes,
            summary=summary,
        )

    def report(self, warehouse: str, meta: dict, rep: int) -> Run:
        out = self.work / "runs" / "report-out"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*self.lm, "report", "--month", meta["month"], "--warehouse", warehouse]
        cmd += ["--allies", str(self.allies), "--out", str(out)]
        run = measure(
            "logmetrics report (month)", cmd, scratch=self.work / "runs" / "scratch", env=self.env
        )
        files = sorted(p.name for p in out.glob("*")) if out.exists() else []
        return self._record(run, meta["lines"], meta["bytes"], tool="report", rep=rep, files=files)

    def goaccess_run(self, path: Path, meta: dict, gz: bool, rep: int, tag: str) -> Run | None:
        if not self.goaccess:
            return None
        html = self.work / "runs" / "goaccess-report.html"
        html.unlink(missing_ok=True)
        opts = ["--log-format=COMBINED", "--no-global-config", "-o", str(html)]
        if gz and self.goaccess_gz_native is None:
            probe = subprocess.run(
                [self.goaccess, str(path), *opts], stdin=subprocess.DEVNULL, capture_output=True
            )
            self.goaccess_gz_native = probe.returncode == 0 and html.exists()
            html.unlink(missing_ok=True)
        if gz and not self.goaccess_gz_native:
            pipe = (
                f"zcat {shlex.quote(str(path))} | {shlex.quote(self.goaccess)} - {shlex.join(opts)}"
            )
            cmd = ["sh", "-c", pipe]
            label = f"GoAccess HTML (zcat | goaccess -, {tag})"
        else:
            cmd = [self.goaccess, str(path), *opts]
            label = f"GoAccess HTML ({tag})"
        run = measure(label, cmd, scratch=self.work / "runs" / "scratch")
        if run.rc == 0 and not html.exists():
            run.rc = -1
            run.stderr += "\nno HTML written"
        return self._record(run, meta["lines"], meta["bytes"], tool="goaccess", input=tag, rep=rep)

    def alp(self, path: Path, meta: dict, rep: int) -> Run | None:
        if importlib.util.find_spec("apache_log_parser") is None:
            self.log("apache-log-parser is not installed in this Python: skipped")
            return None
        sample = min(self.args.sample, meta["lines"])
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_alp", str(path), str(sample)]
        run = measure(
            f"apache-log-parser ({sample // 1000}k sample)",
            cmd,
            scratch=self.work / "runs" / "scratch",
        )
        try:
            res = json.loads(run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            run.rc = run.rc or -1
            return self._record(run, sample, 0, tool="alp", rep=rep)
        # lines/s from the parse loop alone (no interpreter start-up, no file read): kindest to it.
        run.wall = res["seconds"]
        return self._record(
            run,
            res["lines"],
            round(meta["bytes"] * res["lines"] / meta["lines"]),
            tool="alp",
            rep=rep,
            ok=res["ok"],
            bad=res["bad"],
        )

    # the whole plan

    def main_size(self) -> tuple[Path, Path, dict]:
        a = self.args
        plain, gz, meta = genlogs.ensure_logs(self.work, a.lines, a.seed)
        self.log(
            f"input: {plain.name}: {meta['lines']:,} lines, {meta['bytes'] / MB:,.1f} MB "
            f"({meta['gz_bytes'] / MB:,.1f} MB gzip), {meta['malformed']:,} malformed"
        )
        self.prepare(plain)
        for rep in range(a.repeat):
            self.log(f"repeat {rep + 1}/{a.repeat} at {a.lines:,} lines")
            for jobs in (1, 2):
                self.ingest(plain, meta, jobs, "plain", rep)
                self.ingest(gz, meta, jobs, "gz", rep)
            # the report reads the store the plain --jobs 2 ingest just wrote
            self.report(str(self.work / "runs" / "wh-plain-j2"), meta, rep)
            self.goaccess_run(plain, meta, False, rep, "plain")
            self.goaccess_run(gz, meta, True, rep, "gz")
            self.alp(plain, meta, rep)
        return plain, gz, meta

    def scale_size(self) -> dict | None:
        a = self.args
        if not a.scale:
            return None
        plain, _gz, meta = genlogs.ensure_logs(self.work, a.scale_lines, a.seed)
        self.log(f"scaling run: {meta['lines']:,} lines, {meta['bytes'] / MB:,.1f} MB")
        for rep in range(a.repeat):
            self.log(f"repeat {rep + 1}/{a.repeat} at {a.scale_lines:,} lines")
            for jobs in (1, 2):
                self.ingest(plain, meta, jobs, "plain-scale", rep)
        if a.scale_goaccess:
            self.goaccess_run(plain, meta, False, 0, "plain-scale")
        return meta


# --- summarising ------------------------------------------------------------------------------


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def summarise(runs: list[Run]) -> dict[str, dict[str, Any]]:
    """Median wall time and peak memory per label (failed runs are excluded and counted)."""
    rows: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r.label for r in runs):
        group = [r for r in runs if r.label == label]
        ok = [r for r in group if r.rc == 0]
        first = group[0].extra
        row: dict[str, Any] = {
            "label": label,
            "tool": first.get("tool"),
            "input": first.get("input"),
            "jobs": first.get("jobs"),
            "lines": first["lines"],
            "bytes": first["bytes"],
            "runs": len(group),
            "failed": len(group) - len(ok),
        }
        if ok:
            wall = _median(ok, "wall")
            row.update(
                wall=wall,
                lines_per_s=first["lines"] / wall,
                mb_per_s=first["bytes"] / MB / wall if first["bytes"] else None,
                cpu=_median(ok, "cpu"),
                others=_median(ok, "others"),
                maxrss_mb=_median(ok, "maxrss_mb"),
                tree_mb=_median(ok, "tree_mb"),
                peak_mb=max(
                    r.peak_mb for r in ok
                ),  # worst case, not median: a ceiling is a ceiling
                walls=[round(r.wall, 3) for r in ok],
            )
        else:
            row["error"] = group[-1].stderr.strip()[-500:]
        rows[label] = row
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def evaluate(rows: dict[str, dict[str, Any]], args: argparse.Namespace, n: int) -> dict[str, Any]:
    """The ratios and one verdict per target of issue 5."""

    def get(label: str, key: str = "lines_per_s") -> float | None:
        return rows.get(label, {}).get(key)

    ing = {(j, t): f"logmetrics ingest --jobs {j} ({t})" for j in (1, 2) for t in ("plain", "gz")}
    ga_plain = "GoAccess HTML (plain)"
    ga_gz = next(
        (k for k in rows if k.startswith("GoAccess HTML (") and "gz" in k and "scale" not in k), ""
    )
    alp = next((k for k in rows if k.startswith("apache-log-parser")), "")
    ratios: dict[str, Any] = {}
    for j in (1, 2):
        ratios[f"ingest_j{j}_vs_goaccess_plain"] = _ratio(get(ing[j, "plain"]), get(ga_plain))
        ratios[f"ingest_j{j}_vs_goaccess_gz"] = _ratio(get(ing[j, "gz"]), get(ga_gz))
        ratios[f"ingest_j{j}_vs_alp"] = _ratio(get(ing[j, "plain"]), get(alp))
    # ingest + report with the faster ingest setting, against GoAccess writing its HTML
    best_j = min((1, 2), key=lambda j: get(ing[j, "plain"], "wall") or float("inf"))
    ingest_wall = get(ing[best_j, "plain"], "wall")
    report_wall = get("logmetrics report (month)", "wall")
    e2e = ingest_wall + report_wall if ingest_wall and report_wall else None
    ratios["best_jobs"] = best_j
    ratios["ingest_plus_report_s"] = e2e
    ratios["goaccess_vs_ingest_plus_report"] = _ratio(get(ga_plain, "wall"), e2e)

    targets: list[dict[str, Any]] = []

    def target(name: str, value: float | None, ok: bool | None, detail: str) -> None:
        verdict = "SKIP" if value is None or ok is None else ("PASS" if ok else "FAIL")
        targets.append({"target": name, "value": value, "verdict": verdict, "detail": detail})

    def best(key: str) -> float | None:
        vals = [ratios[f"ingest_j{j}_{key}"] for j in (1, 2) if ratios[f"ingest_j{j}_{key}"]]
        return max(vals) if vals else None

    for key, what in (("vs_goaccess_plain", "plain"), ("vs_goaccess_gz", "gzip")):
        v = best(key)
        target(
            f"ingest ≥ {T_GOACCESS:g}× GoAccess lines/s ({what})",
            v,
            None if v is None else v >= T_GOACCESS,
            "best of --jobs 1/2: "
            + ", ".join(f"j{j} {_fmt_x(ratios[f'ingest_j{j}_{key}'])}" for j in (1, 2)),
        )
    v = best("vs_alp")
    target(
        f"ingest ≥ {T_ALP:g}× apache-log-parser lines/s",
        v,
        None if v is None else v >= T_ALP,
        ", ".join(f"j{j} {_fmt_x(ratios[f'ingest_j{j}_vs_alp'])}" for j in (1, 2)),
    )
    v = ratios["goaccess_vs_ingest_plus_report"]
    target(
        f"ingest + report ≥ {T_END_TO_END:g}× faster than GoAccess HTML",
        v,
        None if v is None else v >= T_END_TO_END,
        f"ingest --jobs {best_j} {ingest_wall or 0:.2f} s + report {report_wall or 0:.2f} s = "
        f"{e2e or 0:.2f} s vs GoAccess {get(ga_plain, 'wall') or 0:.2f} s",
    )
    peaks = {
        k: r["peak_mb"] for k, r in rows.items() if r.get("tool") == "ingest" and "peak_mb" in r
    }
    worst = max(peaks.values()) if peaks else None
    target(
        f"peak ingest memory < {T_RSS / GB:g} GB",
        worst,
        None if worst is None else worst * MB < T_RSS,
        f"worst {worst or 0:,.0f} MB over {len(peaks)} ingest settings (max of GNU time RSS "
        "and sampled tree PSS)",
    )
    scaling: list[dict[str, Any]] = []
    for j in (1, 2):
        small, big = (
            rows.get(ing[j, "plain"]),
            rows.get(f"logmetrics ingest --jobs {j} (plain-scale)"),
        )
        if small and big and "wall" in small and "wall" in big:
            scaling.append(
                {
                    "jobs": j,
                    "lines_small": small["lines"],
                    "lines_big": big["lines"],
                    "wall_small": small["wall"],
                    "wall_big": big["wall"],
                    "time_ratio": big["wall"] / small["wall"],
                    "size_ratio": big["lines"] / small["lines"],
                    "peak_small": small["peak_mb"],
                    "peak_big": big["peak_mb"],
                    "peak_ratio": big["peak_mb"] / small["peak_mb"],
                }
            )
    if scaling:
        size_ratio = scaling[0]["size_ratio"]
        limit = T_LINEAR * size_ratio / 5  # 5.5× for 5×; scaled if --scale-lines differs
        flat = max(s["peak_ratio"] - 1 for s in scaling)  # growth; less memory is fine
        target(
            f"peak memory flat 1M→5M (within {T_FLAT:.0%})",
            flat,
            flat <= T_FLAT,
            ", ".join(
                f"j{s['jobs']} {s['peak_small']:,.0f}→{s['peak_big']:,.0f} MB ({s['peak_ratio']:.2f}×)"
                for s in scaling
            ),
        )
        worst_t = max(s["time_ratio"] for s in scaling)
        target(
            f"time linear: big/small ≤ {limit:.2f}× ({size_ratio:g}× the lines)",
            worst_t,
            worst_t <= limit,
            ", ".join(f"j{s['jobs']} {s['time_ratio']:.2f}×" for s in scaling),
        )
    else:
        target("peak memory flat 1M→5M (within 15%)", None, None, "run with --scale")
        target("time linear: 5M ≤ 5.5× 1M", None, None, "run with --scale")
    return {"ratios": ratios, "targets": targets, "scaling": scaling, "lines": n}


def _fmt_x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}×"


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def render(
    machine_info: dict[str, Any],
    rows: dict[str, dict[str, Any]],
    ev: dict[str, Any],
    notes: list[str],
) -> tuple[str, str]:
    """The plain-text table for the terminal and the Markdown for the README."""
    head = ("tool", "lines/s", "MB/s", "wall s", "CPU s", "peak MB", "max RSS MB", "runs")
    table = []
    for r in rows.values():
        table.append(
            (
                r["label"],
                _fmt(r.get("lines_per_s"), ",.0f"),
                _fmt(r.get("mb_per_s"), ",.1f"),
                _fmt(r.get("wall"), ".2f"),
                _fmt(r.get("cpu"), ".2f"),
                _fmt(r.get("peak_mb"), ",.0f"),
                _fmt(r.get("maxrss_mb"), ",.0f"),
                f"{r['runs'] - r['failed']}/{r['runs']}" + (" FAILED" if r["failed"] else ""),
            )
        )
    ratio_lines = []
    rt = ev["ratios"]
    for j in (1, 2):
        ratio_lines.append(
            f"ingest --jobs {j}: {_fmt_x(rt[f'ingest_j{j}_vs_goaccess_plain'])} GoAccess (plain), "
            f"{_fmt_x(rt[f'ingest_j{j}_vs_goaccess_gz'])} GoAccess (gz), "
            f"{_fmt_x(rt[f'ingest_j{j}_vs_alp'])} apache-log-parser"
        )
    cpu_ratio = _ratio(
        rows.get("GoAccess HTML (plain)", {}).get("cpu"),
        rows.get("logmetrics ingest --jobs 1 (plain)", {}).get("cpu"),
    )
    ratio_lines.append(
        f"CPU seconds (robust to a busy machine): GoAccess (plain) uses {_fmt_x(cpu_ratio)} the CPU "
        "of ingest --jobs 1"
    )
    ratio_lines.append(
        f"ingest --jobs {rt['best_jobs']} + report: {_fmt(rt['ingest_plus_report_s'], '.2f')} s, "
        f"GoAccess HTML is {_fmt_x(rt['goaccess_vs_ingest_plus_report'])} slower"
    )
    m = machine_info
    mline = (
        f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM; Python {m.get('python')}, "
        f"polars {m.get('polars')}, pyarrow {m.get('pyarrow')}, numba {m.get('numba')}, "
        f"{m.get('goaccess', 'GoAccess missing')}, "
        f"apache-log-parser {m.get('apache_log_parser')}; logmetrics {m.get('logmetrics')} "
        f"({m.get('logmetrics_commit', '?')})"
    )

    widths = [max(len(str(x)) for x in col) for col in zip(head, *table, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    txt = [f"machine: {mline}", "", line(head), line(tuple("-" * w for w in widths))]
    txt += [line(t) for t in table]
    txt += ["", "ratios (medians):", *(f"  {x}" for x in ratio_lines)]
    if ev["scaling"]:
        txt += ["", "scaling:"]
        for s in ev["scaling"]:
            txt.append(
                f"  ingest --jobs {s['jobs']}: {s['lines_small']:,} → {s['lines_big']:,} lines: "
                f"time {s['wall_small']:.2f} → {s['wall_big']:.2f} s ({s['time_ratio']:.2f}×), "
                f"peak {s['peak_small']:,.0f} → {s['peak_big']:,.0f} MB ({s['peak_ratio']:.2f}×)"
            )
    txt += ["", "targets (issue 5):"]
    txt += [f"  {t['verdict']:<4}  {t['target']}: {t['detail']}" for t in ev["targets"]]
    if notes:
        txt += ["", "notes:", *(f"  - {n}" for n in notes)]

    md = [f"Machine: {mline}.", ""]
    md.append("| " + " | ".join(head) + " |")
    md.append("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    md += ["| " + " | ".join(str(c).replace("|", "\\|") for c in t) + " |" for t in table]
    md += ["", *(f"- {x}" for x in ratio_lines)]
    if ev["scaling"]:
        md += [""]
        md += [
            f"- Scaling, ingest --jobs {s['jobs']}: {s['lines_small']:,} → {s['lines_big']:,} lines, "
            f"time ×{s['time_ratio']:.2f}, peak memory {s['peak_small']:,.0f} → "
            f"{s['peak_big']:,.0f} MB"
            for s in ev["scaling"]
        ]
    md += ["", "| target | verdict | measured |", "| --- | --- | --- |"]
    md += [f"| {t['target']} | {t['verdict']} | {t['detail']} |" for t in ev["targets"]]
    if notes:
        md += ["", *(f"- {n}" for n in notes)]
    return "\n".join(txt) + "\n", "\n".join(md) + "\n"


# --- profiling --------------------------------------------------------------------------------


def profile(bench: Bench, plain: Path, meta: dict) -> list[str]:
    """Profile ingest (--jobs 1, in-process) and report; save the profiles; top costs as text."""
    work = bench.work
    lines: list[str] = []
    pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    has_pyinstrument = importlib.util.find_spec("pyinstrument") is not None
    if not has_pyinstrument and not pyspy:
        return [
            "--profile needs pyinstrument or py-spy: .venv/bin/pip install pyinstrument (not installed)"
        ]
    wh = work / "runs" / "wh-profile"
    shutil.rmtree(wh, ignore_errors=True)
    out = work / "runs" / "report-profile"
    shutil.rmtree(out, ignore_errors=True)
    n = f"{meta['lines'] // 1000}k"
    steps = [
        (
            "ingest",
            ["ingest", str(plain), "--warehouse", str(wh), "--log-format", "nginx", "--jobs", "1"],
        ),
        (
            "report",
            [
                "report",
                "--month",
                meta["month"],
                "--warehouse",
                str(wh),
                "--allies",
                str(bench.allies),
            ]
            + ["--out", str(out)],
        ),
    ]
    for name, lm_args in steps:
        if has_pyinstrument:
            session = work / f"profile-{name}-{n}.pyisession"
            cmd = [sys.executable, "-m", "pyinstrument", "-r", "session", "-o", str(session)]
            cmd += ["-m", "logmetrics", *lm_args]
            bench.log(f"profiling {name} under pyinstrument …")
            t0 = time.perf_counter()
            rc = subprocess.run(cmd, env=bench.env, stdin=subprocess.DEVNULL).returncode
            bench.log(f"  {name}: exit {rc} in {time.perf_counter() - t0:.1f} s")
            if rc != 0 or not session.exists():
                lines.append(f"profile of {name} failed (exit {rc})")
                continue
            for renderer, suffix in (("html", "html"), ("text", "txt")):
                subprocess.run(
                    [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", renderer]
                    + ["-o", str(work / f"profile-{name}-{n}.{suffix}")]
                    + (["--show-all"] if renderer == "text" else []),
                    env=bench.env,
                    check=False,
                )
            lines += [f"{name}: {work / f'profile-{name}-{n}.html'}", *top_costs(session)]
        else:
            svg = work / f"profile-{name}-{n}.svg"
            cmd = [
                pyspy,
                "record",
                "--subprocesses",
                "-o",
                str(svg),
                "--",
                sys.executable,
                "-m",
                "logmetrics",
            ]
            rc = subprocess.run(
                [*cmd, *lm_args], env=bench.env, stdin=subprocess.DEVNULL
            ).returncode
            lines.append(f"{name}: py-spy flame graph {svg} (exit {rc})")
    return lines


def top_costs(session_path: Path, top: int = 15) -> list[str]:
    """Self time and inclusive time per function from a pyinstrument session."""
    from pyinstrument.frame import SYNTHETIC_FRAME_IDENTIFIERS
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    root = session.root_frame()
    if root is None:
        return ["(empty profile)"]
    total = root.time or 1e-9
    self_t: dict[str, float] = {}
    incl: dict[str, float] = {}

    def key(f: Any) -> str:
        path = f.file_path_short or f.file_path or ""
        return f"{f.function} ({path}:{f.line_no})"

    def walk(f: Any, on_stack: frozenset[str]) -> None:
        if f.identifier in SYNTHETIC_FRAME_IDENTIFIERS:
            return  # "[self]" children: already in their parent's total_self_time
        k = key(f)
        self_t[k] = self_t.get(k, 0.0) + f.total_self_time
        if k not in on_stack:  # count recursion once
            incl[k] = incl.get(k, 0.0) + f.time
        for c in f.children:
            walk(c, on_stack | {k})

    walk(root, frozenset())
    out = [f"  total {total:.2f} s; top self time:"]
    for k, v in sorted(self_t.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"    {v:7.2f} s {v / total:6.1%}  {k}")
    out.append("  top inclusive time (logmetrics code):")
    ours = [(k, v) for k, v in incl.items() if "logmetrics" in k and "<module>" not in k]
    for k, v in sorted(ours, key=lambda kv: -kv[1])[:top]:
        out.append(f"    {v:7.2f} s {v / total:6.1%}  {k}")
    return out


# --- entry point ------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark logmetrics ingest/report against GoAccess and apache-log-parser."
    )
    p.add_argument("--lines", type=int, default=1_000_000, help="lines of the main run (1M)")
    p.add_argument(
        "--repeat", type=int, default=3, help="runs per tool, medians reported (3; 0: none)"
    )
    p.add_argument("--seed", type=int, default=genlogs.DEFAULT_SEED)
    p.add_argument("--scale", action="store_true", help="also ingest --scale-lines lines (5M)")
    p.add_argument("--scale-lines", type=int, default=5_000_000)
    p.add_argument(
        "--scale-goaccess", action=argparse.BooleanOptionalAction, default=True,
        help="with --scale, run GoAccess once on the big file too",
    )  # fmt: skip
    p.add_argument("--sample", type=int, default=100_000, help="apache-log-parser sample lines")
    p.add_argument("--quick", action="store_true", help="smoke run: 50k lines, 1 repeat, 5k sample")
    p.add_argument(
        "--profile", action="store_true", help="profile ingest and report (pyinstrument)"
    )
    p.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    p.add_argument("--workdir", type=Path, default=HERE / "work", help="(benchmarks/work)")
    args = p.parse_args(argv)
    if args.quick:  # explicit --lines / --repeat still win
        args.lines = 50_000 if args.lines == 1_000_000 else args.lines
        args.repeat = 1 if args.repeat == 3 else args.repeat
        args.sample, args.scale = 5_000, False
    if args.repeat < 0:
        p.error("--repeat must be >= 0 (0 with --profile: profile only)")
    args.workdir = args.workdir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets may still FAIL), 1 when a tool failed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_rusage"]:
        return _rusage_main(argv[1], argv[3:])
    if argv[:1] == ["--_alp"]:
        return _alp_main(argv[1], int(argv[2]))
    args = _args(argv)
    bench = Bench(args)
    info = machine()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    bench.log(f"machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('ram_gb')} GB")
    digest = code_digest()
    info["logmetrics_code"] = digest
    plain, _gz, meta = bench.main_size()
    scale_meta = bench.scale_size()
    notes: list[str] = []
    if args.no_goaccess:
        notes.append("GoAccess skipped (--no-goaccess): its ratios are n/a")
    elif not bench.goaccess:
        notes.append("GoAccess missing (not installed, not root to apt-get it): its ratios are n/a")
    elif bench.goaccess_gz_native is False:
        notes.append(
            "GoAccess 1.7 cannot read .gz itself: the gzip run is `zcat FILE | goaccess -`"
        )
    notes.append(
        "apache-log-parser: lines/s of its parse loop alone over the first "
        f"{min(args.sample, meta['lines']):,} lines (start-up and reading excluded), extrapolated"
    )
    notes.append(
        "peak MB = max(GNU time max RSS of the largest process, sampled PSS sum of the process "
        "tree); --jobs 2 runs threads in one process"
    )
    notes.append(
        "before the timed runs, logmetrics' bytecode is compiled (as pip install does) and an "
        "untimed 2,000-line ingest loads or builds the compiled parse's cache (as a nightly run finds it)"
    )
    notes.append(
        f"input: {meta['lines']:,} lines ({meta['bytes'] / MB:,.1f} MB, "
        f"{meta['gz_bytes'] / MB:,.1f} MB gzip), {meta['malformed']:,} malformed; MB/s counts "
        "uncompressed bytes"
    )
    if code_digest() != digest:
        notes.append("CHANGED: logmetrics' source changed while the benchmark ran: rerun it")
    checked = wrong = 0
    for r in bench.runs:  # ingest must find exactly the lines the generator wrote
        s = r.extra.get("summary") or {}
        if r.rc == 0 and r.extra.get("tool") == "ingest" and s:
            m = scale_meta if "scale" in (r.extra.get("input") or "") else meta
            got = _summary_counts(s)
            checked += got is not None
            if got and got != (m["valid"], m["malformed"]) and not wrong:
                wrong += 1
                notes.append(
                    f"CHECK: {r.label} stored {got[0]:,} hits / {got[1]:,} rejects, the generator "
                    f"wrote {m['valid']:,} valid / {m['malformed']:,} malformed lines"
                )
    if checked and not wrong:
        notes.append(
            f"every ingest ({checked} runs) stored exactly the generator's valid lines as hits and "
            "its malformed lines as rejects"
        )
    busy = [r.others for r in bench.runs if r.rc == 0]
    if busy and statistics.median(busy) > 0.25:
        notes.append(
            f"DISTURBED: other processes used {statistics.median(busy):.2f} cores (median; max "
            f"{max(busy):.2f}) of {os.cpu_count()} while the tools ran: rerun on an idle machine"
        )
    rows = summarise(bench.runs)
    ev = evaluate(rows, args, meta["lines"])
    profile_lines = profile(bench, plain, meta) if args.profile else []
    text, md = render(info, rows, ev, notes)
    if profile_lines:
        text += "\nprofile:\n" + "\n".join(profile_lines) + "\n"
    print(text)
    results = {
        "started": started,
        "command": "benchmarks/run.py " + shlex.join(argv),
        "machine": info,
        "input": meta,
        "scale_input": scale_meta,
        "rows": rows,
        "evaluation": ev,
        "notes": notes,
        "profile": profile_lines,
        "runs": [asdict(r) for r in bench.runs],
    }
    stem = "results-quick" if args.quick else "results"  # a smoke run keeps the real table
    (args.workdir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.workdir / f"{stem}.md").write_text(md)
    (args.workdir / f"{stem}.txt").write_text(text)
    print(f"wrote {args.workdir / stem}.json, .md and .txt")
    return 1 if any(r.rc != 0 for r in bench.runs) else 0


def _summary_counts(summary: dict[str, Any]) -> tuple[int, int] | None:
    """(hits, rejects) from the ingest JSON summary (``lines_ingested`` / ``lines_rejected``)."""
    hits = next((summary[k] for k in ("lines_ingested", "hits") if k in summary), None)
    rej = next((summary[k] for k in ("lines_rejected", "rejects") if k in summary), None)
    if isinstance(hits, int) and isinstance(rej, int):
        return hits, rej
    return None


if __name__ == "__main__":
    sys.exit(main())
