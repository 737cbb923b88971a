"""Running a command for which file permissions bind, also when the tests run as root (CI).

root reads a ``chmod 000`` file through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. Under
``setpriv`` without those two capabilities (kept neither in the bounding nor the inheritable
set, so the program started cannot get them back) root is held to the permission bits like
any user, and still owns the test's files. A test needing that is skipped, with the reason,
only when this machine cannot do it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_DROP = "-dac_override,-dac_read_search"


@functools.cache
def _prefix() -> tuple[tuple[str, ...], str]:
    """The argv prefix under which permissions bind, or () and why there is none."""
    if os.geteuid() != 0:
        return (), ""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return (), "running as root and setpriv (util-linux) is not installed"
    prefix = (setpriv, f"--inh-caps={_DROP}", f"--bounding-set={_DROP}")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            done = subprocess.run(
                [*prefix, sys.executable, "-c", f"open({str(probe)!r}).read()"],
                capture_output=True, timeout=60,
            )  # fmt: skip
        except OSError as exc:
            return (), f"setpriv cannot run here: {exc}"
    if done.returncode == 0:
        return (), "root still reads a chmod 000 file under setpriv here"
    if b"PermissionError" not in done.stderr:
        return (), f"setpriv failed: {done.stderr.decode(errors='replace').strip()}"
    return prefix, ""


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` run so that a ``chmod 000`` file cannot be read (skips the test otherwise)."""
    prefix, why = _prefix()
    if why:
        pytest.skip(why)
    return [*prefix, *argv]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` with binding permissions (see ``unprivileged``)."""
    argv = unprivileged([sys.executable, "-c", code, *args])
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def logmetrics(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``logmetrics ARGS`` as cron runs it (no terminal), with binding permissions."""
    argv = unprivileged([sys.executable, "-m", "logmetrics", *map(str, args)])
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
