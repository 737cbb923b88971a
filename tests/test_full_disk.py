"""A full disk is an operator's error like any other: one line, non-zero exit, nothing half-written.

Uses a real 256 KiB tmpfs (needs root and mount); skips with the reason where that is refused.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest_helpers import append, make_lines, read_hits


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or 'mount failed'}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmetrics", *map(str, args)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock")


def test_ingest_on_a_full_disk(tmp_path: Path, small_disk: Path) -> None:
    """Ingesting 2.6 MB into a 256 KiB store fails with one line naming the store and the
    cause, leaves no temporary or uncommitted file, and the same logs ingest fine elsewhere."""
    log = tmp_path / "access.log"
    append(log, make_lines(20_000))
    wh = small_disk / "wh"
    out = cli("ingest", log, "--warehouse", wh)
    assert out.returncode not in (0, 70), out.stderr
    assert out.stderr.count("\n") == 1 and "No space left" in out.stderr and str(wh) in out.stderr
    assert not [p for p in _files(wh) if ".tmp" in p.name], _files(wh)
    assert read_hits(wh, columns=["uri"]).height == 0  # nothing committed
    ok = cli("ingest", log, "--warehouse", tmp_path / "roomy")
    assert ok.returncode == 0 and read_hits(tmp_path / "roomy", columns=["uri"]).height == 20_000


def test_report_on_a_full_disk(tmp_path: Path, small_disk: Path) -> None:
    """A report that does not fit exits 8 naming the file, and leaves no partial output
    (the disk is filled first, leaving 48 KiB: less than the report needs)."""
    (small_disk / "filler").write_bytes(b"\0" * (208 * 1024))
    out = cli("demo", "--out", small_disk / "out")
    assert out.returncode == 8 and "No space left" in out.stderr
    assert out.stderr.count("\n") == 1
    assert _files(small_disk / "out") == []
