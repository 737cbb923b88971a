"""Unreadable files are skipped, not fatal: the readable ones are ingested and committed, each
unreadable one is named on stderr, the run exits 66, and the next run picks it up.

The files are made unreadable for real (``chmod 000``, a directory without permissions); as
root the runs go through ``tests/unprivileged.py`` so that the permissions bind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_helpers import append, expected_uris, make_lines, run_ingest, uris
from unprivileged import logmetrics

from logmetrics import sources
from logmetrics.cli import EXIT_UNREADABLE


def test_unreadable_rotated_file_is_skipped_then_picked_up(tmp_path: Path) -> None:
    """access.log (30 lines) is ingested while access.log.1 (20 lines, chmod 000) is named in
    one stderr line and the run exits 66; once readable, the next run adds its 20 lines."""
    logs, wh = tmp_path / "logs", tmp_path / "wh"
    logs.mkdir()
    a, old = make_lines(30, tag="a"), make_lines(20, tag="old")
    append(logs / "access.log", a)
    append(logs / "access.log.1", old)
    (logs / "access.log.1").chmod(0)
    first = logmetrics("ingest", logs, "--warehouse", wh)
    assert first.returncode == EXIT_UNREADABLE == 66
    assert first.stderr == f"logmetrics: skipped {logs / 'access.log.1'}: permission denied\n"
    assert first.stdout.startswith("ingest: 2 file(s) (1 new, 0 resumed, 0 skipped, 0 waiting, "
                                   "1 unreadable); 30 lines ingested")  # fmt: skip
    assert uris(wh) == expected_uris(a)
    (logs / "access.log.1").chmod(0o644)
    second = logmetrics("ingest", logs, "--warehouse", wh, "--json")
    assert (second.returncode, second.stderr) == (0, "")
    data = json.loads(second.stdout)
    assert (data["files_new"], data["files_skipped"], data["lines_ingested"]) == (1, 1, 20)
    assert uris(wh) == expected_uris(a + old)


def test_unlistable_directory_is_skipped(tmp_path: Path) -> None:
    """Of two directories given, one that cannot be listed is named and skipped (exit 66, in
    --json as "unreadable"); the other's 12 lines are committed."""
    good, locked, wh = tmp_path / "good", tmp_path / "locked", tmp_path / "wh"
    for d in (good, locked):
        d.mkdir()
        append(d / "access.log", make_lines(12, tag=d.name))
    locked.chmod(0)
    try:
        done = logmetrics("ingest", good, locked, "--warehouse", wh, "--json")
    finally:
        locked.chmod(0o755)
    assert done.returncode == 66
    assert done.stderr == f"logmetrics: skipped {locked}: cannot list directory: permission denied\n"
    data = json.loads(done.stdout)
    assert (data["files_new"], data["files_unreadable"], data["lines_ingested"]) == (1, 1, 12)
    assert [f["status"] for f in data["files"]] == ["unreadable", "new"]
    assert len(uris(wh)) == 12


def test_missing_explicit_path_still_stops_before_anything(tmp_path: Path) -> None:
    """A path given that does not exist is an operator's mistake: exit 3, nothing ingested, even
    with a readable file beside it."""
    log, wh = tmp_path / "access.log", tmp_path / "wh"
    append(log, make_lines(12))
    done = logmetrics("ingest", log, tmp_path / "acces.log", "--warehouse", wh)
    assert done.returncode == 3 and "acces.log: no such file or directory" in done.stderr
    assert not wh.exists()


def test_file_gone_since_discovery_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file removed between discovery and its read (logrotate at that moment) is reported
    unreadable with the reason; the other file's 12 lines are ingested."""
    log, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    append(log, make_lines(12))
    append(rotated, make_lines(12, tag="r"))

    def discover_then_rotate(paths: list[str | Path]) -> sources.Discovered:
        found = real_discover(paths)
        rotated.unlink()
        return found

    real_discover = sources.discover
    monkeypatch.setattr(sources, "discover", discover_then_rotate)
    summary = run_ingest([tmp_path], tmp_path / "wh")
    assert [(Path(f.path).name, f.status, f.reason) for f in summary.files] == [
        ("access.log.1", "unreadable", "no such file or directory"),
        ("access.log", "new", ""),
    ]
    assert (summary.files_unreadable, summary.lines_ingested) == (1, 12)
