"""`logmetrics ingest` as cron runs it: one summary line, --json, exit codes, rotation-safe."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ingest_helpers import append, bad_lines, gzip_to, make_lines, read_hits


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the console entry point as cron would: no terminal, so no progress bar."""
    return subprocess.run(
        [sys.executable, "-m", "logmetrics", "ingest", *map(str, args)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def summary(wh: Path, *paths: Path) -> dict:
    out = cli(*paths, "--warehouse", wh, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_cron_output_is_one_line(tmp_path: Path) -> None:
    """Under cron (no TTY) ingest prints exactly one summary line and nothing on stderr."""
    log = tmp_path / "access.log"
    append(log, make_lines(50))
    out = cli(log, "--warehouse", tmp_path / "wh")
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.count("\n") == 1 and "50 lines ingested" in out.stdout


def test_nightly_rotation_through_the_cli(tmp_path: Path) -> None:
    """Night 1: 100 lines. Day 2: 40 appended, then logrotate renames and compresses, and 30 go
    to a fresh access.log. Night 2 over the directory adds exactly 40 + 30; night 3 adds 0."""
    d, wh = tmp_path / "logs", tmp_path / "wh"
    d.mkdir()
    log = d / "access.log"
    append(log, make_lines(100))
    assert summary(wh, d)["lines_ingested"] == 100
    append(log, make_lines(40, start=100))
    log.rename(d / "access.log.1")
    gzip_to(d / "access.log.1", d / "access.log.1.gz")
    append(log, make_lines(30, start=140, tag="b"))
    assert summary(wh, d)["lines_ingested"] == 70
    assert summary(wh, d)["lines_ingested"] == 0
    assert read_hits(wh, columns=["uri"]).height == 170


def test_glob_and_partial_line(tmp_path: Path) -> None:
    """A glob picks the files; a last line without newline waits for the next run."""
    wh = tmp_path / "wh"
    log = tmp_path / "access.log"
    lines = make_lines(30)
    log.write_bytes(b"".join(lines) + lines[0][:20].replace(b"/p/a/0", b"/p/z/0"))
    assert summary(wh, tmp_path / "*.log")["lines_ingested"] == 30
    append(log, [b"tail\n"])
    s = summary(wh, tmp_path / "*.log")
    assert s["lines_ingested"] + s["lines_rejected"] == 1


def test_wrong_format_is_refused(tmp_path: Path) -> None:
    """A file of lines that are not the format exits 5 with a hint and commits nothing."""
    log = tmp_path / "error.txt"
    append(log, bad_lines(40))
    wh = tmp_path / "wh"
    out = cli(log, "--warehouse", wh)
    assert out.returncode == 5
    assert "format" in out.stderr and str(log) in out.stderr
    assert not (wh / "hits").exists() or read_hits(wh, columns=["uri"]).height == 0


def test_missing_path(tmp_path: Path) -> None:
    """A path that does not exist exits 3 naming it, in one line."""
    out = cli(tmp_path / "nope.log", "--warehouse", tmp_path / "wh")
    assert out.returncode == 3 and "nope.log" in out.stderr
    assert out.stderr.count("\n") == 1


def test_unknown_format_directive(tmp_path: Path) -> None:
    """An unknown LogFormat directive exits 2 and points at it."""
    log = tmp_path / "access.log"
    append(log, make_lines(5))
    out = cli(log, "--warehouse", tmp_path / "wh", "--log-format", "%h %Z %t")
    assert out.returncode == 2 and "%Z" in out.stderr


def test_second_ingest_waits_then_refuses(tmp_path: Path) -> None:
    """While another ingest holds the lock, a second one exits 75 (EX_TEMPFAIL) after waiting."""
    wh = tmp_path / "wh"
    log = tmp_path / "access.log"
    append(log, make_lines(20))
    assert summary(wh, log)["lines_ingested"] == 20
    fd = os.open(wh / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        out = cli(log, "--warehouse", wh)
    finally:
        os.close(fd)
    assert out.returncode == 75 and "another ingest is running" in out.stderr


def test_output_to_a_file_survives_the_quick_exit(tmp_path: Path) -> None:
    """Stdout to a file (block-buffered) and stderr both arrive whole before the process exits."""
    log = tmp_path / "access.log"
    append(log, make_lines(20) + bad_lines(3))
    out_file, err_file = tmp_path / "out.json", tmp_path / "err.txt"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        code = subprocess.run(
            [sys.executable, "-m", "logmetrics", "-v", "ingest", str(log), "--warehouse",
             str(tmp_path / "wh"), "--json"],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=120,
        ).returncode  # fmt: skip
    assert code == 0
    assert json.loads(out_file.read_text())["lines_ingested"] == 20
    assert "access.log" in err_file.read_text()  # the -v log lines


def test_a_closed_pipe_still_gives_the_exit_code(tmp_path: Path) -> None:
    """When stdout's reader has gone, the run still ends with a non-zero code, not a hang."""
    log = tmp_path / "access.log"
    append(log, make_lines(20))
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "logmetrics", "ingest", str(log), "--warehouse",
             str(tmp_path / "wh"), "--json"],
            stdout=w, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
    finally:
        os.close(w)
    assert proc.returncode != 0


def test_a_profiler_still_gets_to_write_its_profile(tmp_path: Path) -> None:
    """Under a profiler the run exits the normal way, so the profile is written."""
    log = tmp_path / "access.log"
    append(log, make_lines(20))
    prof = tmp_path / "ingest.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "logmetrics", "ingest",
         str(log), "--warehouse", str(tmp_path / "wh")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert prof.stat().st_size > 0
