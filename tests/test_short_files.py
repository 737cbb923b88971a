"""Files shorter than the 1024-byte fingerprint: ingested on a plain run, then grown, rotated,
compressed and copytruncated across runs with nothing counted twice and nothing lost.

Generated lines are 120-125 bytes (``ingest_helpers.combined_line``), so up to 8 lines make a
short file and 9 or more pass 1024 bytes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from ingest_helpers import (
    append,
    copytruncate,
    expected_uris,
    gzip_to,
    make_lines,
    read_hits,
    run_ingest,
    uris,
)

from logmetrics.ingest import IngestSummary
from logmetrics.manifest import SourceState, load_manifest
from logmetrics.storage import open_storage


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """The log directory: a test's files, with ``store`` beside it."""
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


@pytest.fixture
def store(logs: Path) -> Path:
    return logs.parent / "wh"


def _sources(store: Path) -> dict[str, SourceState]:
    """The manifest's sources by the path they were last read from."""
    return {Path(s.path).name: s for s in load_manifest(open_storage(store)).sources.values()}


def _statuses(summary: IngestSummary) -> dict[str, tuple[str, str]]:
    """Each file's outcome and reason, by file name."""
    return {Path(f.path).name: (f.status, f.reason) for f in summary.files}


def test_short_log_grown_rotated_and_compressed(logs: Path, store: Path) -> None:
    """A 2-line log grows to 5 lines, then to 15 and is rotated; a new 1-line log starts and
    grows to 3; then .1 is compressed and rotated again: every line is stored once
    (2 + 3 + 10 + 1 + 2 + 2 = 20 lines), each log one source."""
    a, b, c = make_lines(15, tag="a"), make_lines(3, tag="b"), make_lines(2, tag="c")
    log = logs / "access.log"
    append(log, a[:2])
    first = run_ingest([logs], store)
    assert (first.files_new, first.lines_ingested) == (1, 2)
    assert _sources(store)["access.log"].fp_len == len(b"".join(a[:2]))
    append(log, a[2:5])  # 5 lines: still short
    second = run_ingest([logs], store)
    assert (second.files_resumed, second.lines_ingested) == (1, 3)
    append(log, a[5:])  # 15 lines: past 1024 bytes, then logrotate
    log.rename(logs / "access.log.1")
    append(log, b[:1])
    third = run_ingest([logs], store)
    assert _statuses(third) == {"access.log": ("new", ""), "access.log.1": ("resumed", "")}
    assert third.lines_ingested == 10 + 1
    grown, fresh = _sources(store)["access.log.1"], _sources(store)["access.log"]
    assert grown.fp_len == 1024 and fresh.fp_len == len(b[0])
    append(log, b[1:])
    gzip_to(logs / "access.log.1", logs / "access.log.2.gz")
    log.rename(logs / "access.log.1")
    append(log, c)
    fourth = run_ingest([logs], store)
    assert _statuses(fourth) == {
        "access.log": ("new", ""),
        "access.log.1": ("resumed", ""),
        "access.log.2.gz": ("skipped", "nothing new"),
    }
    assert fourth.lines_ingested == 2 + 2
    assert run_ingest([logs], store).lines_ingested == 0
    assert uris(store) == expected_uris(a + b + c)
    assert len(load_manifest(open_storage(store)).sources) == 3


def test_short_gzip_then_its_grown_plain_file(logs: Path, store: Path) -> None:
    """A complete 4-line .gz is ingested; the same log as a plain file grown to 12 lines adds
    exactly the 8 lines the archive lacks."""
    lines = make_lines(12)
    (logs / "old.log.gz").write_bytes(gzip.compress(b"".join(lines[:4])))
    assert run_ingest([logs], store).lines_ingested == 4
    append(logs / "access.log", lines)
    again = run_ingest([logs / "access.log"], store)
    assert (again.files_resumed, again.lines_ingested) == (1, 8)
    assert uris(store) == expected_uris(lines)


def test_new_short_log_after_rotation_is_its_own_source(logs: Path, store: Path) -> None:
    """After rotation a new 2-line access.log is new content, not the rotated log's: both
    stay (12 + 2), and the rotated 1-line-longer copy adds its 1 line."""
    a, b = make_lines(13, tag="a"), make_lines(2, tag="b")
    log = logs / "access.log"
    append(log, a[:12])
    run_ingest([logs], store)
    append(log, a[12:])
    log.rename(logs / "access.log.1")
    append(log, b)
    summary = run_ingest([logs], store)
    assert _statuses(summary) == {"access.log": ("new", ""), "access.log.1": ("resumed", "")}
    assert summary.lines_ingested == 2 + 1
    assert uris(store) == expected_uris(a + b)


def test_copytruncate_of_a_short_log(logs: Path, store: Path) -> None:
    """A 3-line log grows by 1 and is copied and truncated; 2 new lines follow in the truncated
    file: the copy adds 1, the truncated file's 2 lines are a new source (3 + 1 + 2 = 6)."""
    a, d = make_lines(4, tag="a"), make_lines(2, tag="d")
    log = logs / "access.log"
    append(log, a[:3])
    run_ingest([logs], store)
    append(log, a[3:])
    copytruncate(log, logs / "access.log.1")
    append(log, d)
    summary = run_ingest([logs], store)
    assert _statuses(summary) == {"access.log": ("new", ""), "access.log.1": ("resumed", "")}
    assert summary.lines_ingested == 2 + 1
    assert uris(store) == expected_uris(a + d)


def test_identical_short_logs_are_one_source(tmp_path: Path, store: Path) -> None:
    """Two files with byte-identical content (one line each) are one source: the line is
    stored once, and the second file is "nothing new" (a copy is not new content)."""
    line = make_lines(1)
    one, two = tmp_path / "one" / "access.log", tmp_path / "two" / "access.log"
    for f in (one, two):
        f.parent.mkdir()
        append(f, line)
    summary = run_ingest([one, two], store)
    assert [(f.status, f.reason) for f in summary.files] == [("new", ""), ("skipped", "nothing new")]
    assert summary.files[0].source == summary.files[1].source
    assert read_hits(store).height == 1


def test_partial_line_waits_and_the_summary_says_why(logs: Path, store: Path) -> None:
    """A short file's complete line is ingested at once and its incomplete last line held back;
    a file with only an incomplete line waits, and the summary line names it and the reason;
    completed, both lines follow (1 + 2 = 3)."""
    a, b = make_lines(2, tag="a"), make_lines(1, tag="b")
    append(logs / "a.log", [a[0], a[1][:30]])
    append(logs / "b.log", [b[0][:30]])
    first = run_ingest([logs], store)
    assert _statuses(first) == {
        "a.log": ("new", ""),
        "b.log": ("waiting", "last line incomplete"),
    }
    assert first.lines_ingested == 1
    assert first.line().endswith(f"; waiting: {logs / 'b.log'} (last line incomplete)")
    append(logs / "a.log", [a[1][30:]])
    append(logs / "b.log", [b[0][30:]])
    second = run_ingest([logs], store)
    assert (second.files_resumed, second.files_new, second.lines_ingested) == (1, 1, 2)
    assert uris(store) == expected_uris(a + b)


def test_summary_names_a_gzip_being_written(logs: Path, store: Path) -> None:
    """A short .gz cut inside its member waits, and the summary line says it is being written."""
    blob = gzip.compress(b"".join(make_lines(3)))
    (logs / "access.log.1.gz").write_bytes(blob[: len(blob) // 2])
    summary = run_ingest([logs], store)
    assert (summary.files_waiting, summary.lines_ingested) == (1, 0)
    assert summary.line().endswith(
        f"; waiting: {logs / 'access.log.1.gz'} (gzip archive still being written)"
    )
