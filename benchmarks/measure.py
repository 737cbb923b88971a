"""Run one command as a subprocess and measure it: wall time, CPU time, peak memory.

Peak memory is the larger of two readings, because each misses something: GNU time's maximum
RSS sees only the largest single process (half of a ``zcat | goaccess`` pipe), and a sampled
sum of the process tree's PSS can miss a short spike between samples. The machine's other load
during the run is read from ``/proc/stat`` so that a disturbed measurement says so.

Run as a script (``python measure.py TFILE -- CMD…``) it is the fallback for machines without
GNU time: it runs CMD and writes its peak RSS and CPU seconds to TFILE.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GNU_TIME = "/usr/bin/time"
MB = 1e6
GB = 1e9
ROOT = Path(__file__).resolve().parent.parent


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
    """Peak total memory of a process tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
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

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Run:
    """One measured subprocess; ``extra`` holds what the plan knows about it (tool, size…)."""

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


def parse_time_report(text: str, rc: int) -> tuple[int, float, int]:
    """(max RSS in KiB, CPU seconds, exit status) from GNU time's ``-v`` report or ours."""
    maxrss_kb, cpu = 0, 0.0
    for raw in text.splitlines():
        line = raw.strip()
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
    # GNU time puts "Command exited with non-zero status N" before its report.
    if text.startswith("Command exited with non-zero status"):
        rc = int(text.split("\n", 1)[0].rsplit(" ", 1)[1])
    return maxrss_kb, cpu, rc


def measure(label: str, cmd: list[str], *, scratch: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` under GNU time (or our getrusage wrapper) and the tree sampler."""
    scratch.mkdir(parents=True, exist_ok=True)
    tfile = scratch / "time.txt"
    tfile.unlink(missing_ok=True)
    if os.access(GNU_TIME, os.X_OK):
        wrapped = [GNU_TIME, "-v", "-o", str(tfile), *cmd]
    else:
        wrapped = [sys.executable, str(Path(__file__).resolve()), str(tfile), "--", *cmd]
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
    text = tfile.read_text(errors="replace") if tfile.exists() else ""
    maxrss_kb, cpu, rc = parse_time_report(text, rc)
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
    """Run ``cmd``; write its peak RSS, CPU seconds and exit status to ``tfile``."""
    import resource

    rc = subprocess.call(cmd, stdin=subprocess.DEVNULL)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss in KiB on Linux
    Path(tfile).write_text(
        f"maxrss_kb={ru.ru_maxrss}\ncpu_s={ru.ru_utime + ru.ru_stime}\nrc={rc}\n"
    )
    return rc


# --- what the numbers were measured on --------------------------------------------------------


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module.replace("_", "-"))
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The CPU, cores, memory and versions of everything measured."""
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gb"] = round(int(line.split()[1]) * 1024 / 2**30, 1)
    with contextlib.suppress(AttributeError):
        info["affinity_cores"] = len(os.sched_getaffinity(0))
    for module in ("logmetrics", "polars", "pyarrow", "apache_log_parser"):
        info[module] = _version(module)
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if commit.returncode == 0:
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "logmetrics"], capture_output=True, text=True
        ).stdout.strip()
        info["logmetrics_commit"] = commit.stdout.strip() + ("+uncommitted" if dirty else "")
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


if __name__ == "__main__":
    # python measure.py TFILE -- CMD…
    sys.exit(_rusage_main(sys.argv[1], sys.argv[3:]))
