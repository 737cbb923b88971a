"""``--profile``: where ingest and report spend their time, on the main size's file.

pyinstrument (not a dependency: ``.venv/bin/pip install pyinstrument``) writes a session, an
HTML and a text profile per step; its top costs go into the results. py-spy's flame graph is
used when it is the one installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.runs import Bench, LogFile


def _steps(bench: Bench, log: LogFile) -> list[tuple[str, list[str]]]:
    """The two commands profiled: ingest --jobs 1 into a fresh store, then its report."""
    wh = bench.work / "runs" / "wh-profile"
    shutil.rmtree(wh, ignore_errors=True)
    out = bench.work / "runs" / "report-profile"
    shutil.rmtree(out, ignore_errors=True)
    ingest = ["ingest", str(log.plain), "--warehouse", str(wh), "--log-format", "nginx"]
    report = ["report", "--month", log.meta["month"], "--warehouse", str(wh)]
    report += ["--allies", str(bench.allies), "--out", str(out)]
    return [("ingest", [*ingest, "--jobs", "1"]), ("report", report)]


def profile(bench: Bench, log: LogFile) -> list[str]:
    """Profile ingest (--jobs 1) and report; save the profiles; the top costs as text lines."""
    work = bench.work
    pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    has_pyinstrument = importlib.util.find_spec("pyinstrument") is not None
    if not has_pyinstrument and not pyspy:
        return ["--profile needs pyinstrument or py-spy: .venv/bin/pip install pyinstrument"]
    lines: list[str] = []
    for name, lm_args in _steps(bench, log):
        stem = f"profile-{name}-{log.name}"
        if not has_pyinstrument:
            svg = work / f"{stem}.svg"
            cmd = [pyspy or "py-spy", "record", "--subprocesses", "-o", str(svg), "--"]
            rc = subprocess.run(
                [*cmd, *bench.lm, *lm_args], env=bench.env, stdin=subprocess.DEVNULL
            ).returncode
            lines.append(f"{name}: py-spy flame graph {svg} (exit {rc})")
            continue
        session = work / f"{stem}.pyisession"
        cmd = [sys.executable, "-m", "pyinstrument", "-r", "session", "-o", str(session)]
        bench.log(f"profiling {name} under pyinstrument …")
        t0 = time.perf_counter()
        rc = subprocess.run(
            [*cmd, "-m", "logmetrics", *lm_args], env=bench.env, stdin=subprocess.DEVNULL
        ).returncode
        bench.log(f"  {name}: exit {rc} in {time.perf_counter() - t0:.1f} s")
        if rc != 0 or not session.exists():
            lines.append(f"profile of {name} failed (exit {rc})")
            continue
        for renderer, suffix in (("html", ".html"), ("text", ".txt")):
            subprocess.run(
                [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", renderer]
                + ["-o", str(work / f"{stem}{suffix}")]
                + (["--show-all"] if renderer == "text" else []),
                env=bench.env,
                check=False,
            )
        lines += [f"{name}: {work / f'{stem}.html'}", *top_costs(session)]
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
