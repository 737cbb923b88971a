"""Nightly ingestion scenarios through the library API, each with exact row counts.

Generated lines are about 125 bytes, so the 1024-byte fingerprint spans about 9 lines: every
file below that must be fingerprinted has at least 10 lines unless the test is about short ones.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import zlib
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import (
    append,
    bad_lines,
    combined_line,
    copytruncate,
    expected_uris,
    gzip_to,
    make_lines,
    read_hits,
    read_rejects,
    run_ingest,
    uris,
)

from logmetrics import warehouse as wh
from logmetrics.errors import FormatError, IngestRefused, InputError, WarehouseLocked
from logmetrics.ingest import ChunkTask, date_rejects, run_chunk
from logmetrics.manifest import load_manifest, locked
from logmetrics.storage import open_storage

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "wh"


def test_repeat_runs_add_nothing(logs: Path, store: Path) -> None:
    """Ingesting the same directory three times stores its 40 lines once."""
    lines = make_lines(40)
    append(logs / "access.log", lines)
    first = run_ingest([logs], store)
    assert (first.files_new, first.lines_ingested) == (1, 40)
    for _ in range(2):
        again = run_ingest([logs], store)
        assert (again.files_skipped, again.lines_ingested, again.bytes_read) == (1, 0, 0)
    assert uris(store) == expected_uris(lines)


def test_append_adds_exactly_the_new_lines(logs: Path, store: Path) -> None:
    """40 lines, then 15 appended: the second run ingests 15 (lines 41-55), 55 in all."""
    lines = make_lines(55)
    append(logs / "access.log", lines[:40])
    run_ingest([logs], store)
    append(logs / "access.log", lines[40:])
    second = run_ingest([logs], store)
    assert (second.files_resumed, second.lines_ingested) == (1, 15)
    hits = read_hits(store)
    assert hits.height == 55
    assert hits.get_column("line_no").to_list() == list(range(1, 56))


def test_rename_and_compress_rotation(logs: Path, store: Path) -> None:
    """access.log -> .1 -> .2.gz is one source: 40 + 10 appended before rotation + 25 + 12 = 87."""
    a, b, c = make_lines(50, tag="a"), make_lines(25, tag="b"), make_lines(12, tag="c")
    append(logs / "access.log", a[:40])
    assert run_ingest([logs], store).lines_ingested == 40
    append(logs / "access.log", a[40:])  # written before logrotate renames it
    (logs / "access.log").rename(logs / "access.log.1")
    append(logs / "access.log", b)
    second = run_ingest([logs], store)
    assert (second.files_new, second.files_resumed, second.lines_ingested) == (1, 1, 35)
    # next rotation: .1 -> .2.gz, access.log -> .1, a fresh access.log
    gzip_to(logs / "access.log.1", logs / "access.log.2.gz")
    (logs / "access.log").rename(logs / "access.log.1")
    append(logs / "access.log", c)
    third = run_ingest([logs], store)
    assert (third.files_new, third.files_skipped, third.lines_ingested) == (1, 2, 12)
    fourth = run_ingest([logs], store)
    assert fourth.lines_ingested == 0
    # an archive already read whole is recognised by its stat, without inflating it again
    assert {f.reason for f in fourth.files if f.path.endswith(".gz")} == {
        "unchanged since last ingest"
    }
    assert uris(store) == expected_uris(a + b + c)
    assert len(load_manifest(open_storage(store)).sources) == 3


def test_copytruncate(logs: Path, store: Path) -> None:
    """Copy + truncate: the copy adds its 5 unseen lines, the truncated file's 3 new lines
    (< 1024 bytes) are a new source at once, and its 17 later lines resume it: 40 + 5 + 3 + 17."""
    a, b = make_lines(45, tag="a"), make_lines(20, tag="b")
    log = logs / "access.log"
    append(log, a[:40])
    run_ingest([logs], store)
    append(log, a[40:])
    copytruncate(log, logs / "access.log.1")
    append(log, b[:3])
    second = run_ingest([logs], store)
    assert (second.files_new, second.files_resumed, second.lines_ingested) == (1, 1, 3 + 5)
    append(log, b[3:])
    third = run_ingest([logs], store)
    assert (third.files_resumed, third.lines_ingested) == (1, 17)
    assert uris(store) == expected_uris(a + b)


def test_partial_last_line_completed_later(logs: Path, store: Path) -> None:
    """A last line without newline waits; once completed it is line 31 at its own offset."""
    lines = make_lines(35)
    log = logs / "access.log"
    append(log, lines[:30] + [lines[30][:17]])
    assert run_ingest([logs], store).lines_ingested == 30
    append(log, [lines[30][17:]] + lines[31:])
    assert run_ingest([logs], store).lines_ingested == 5
    hits = read_hits(store)
    row = hits.filter(pl.col("line_no") == 31).row(0, named=True)
    assert row["offset"] == sum(len(x) for x in lines[:30])
    assert row["uri"] == "/p/a/30"
    assert hits.height == 35


def test_final_ends_the_last_line_at_eof(logs: Path, store: Path) -> None:
    """With final=True the unterminated last line is ingested: 12 lines, the 12th without \\n."""
    lines = make_lines(12)
    append(logs / "access.log", lines[:11] + [lines[11].rstrip(b"\n")])
    assert run_ingest([logs], store, final=True).lines_ingested == 12


def test_truncated_gzip_is_retried(logs: Path, store: Path) -> None:
    """A .gz still being written commits nothing; complete, its 50 lines are ingested."""
    lines = make_lines(50)
    blob = gzip.compress(b"".join(lines))
    gz = logs / "access.log.2.gz"
    gz.write_bytes(blob[: len(blob) * 2 // 3])
    first = run_ingest([logs], store)
    assert (first.files_waiting, first.lines_ingested) == (1, 0)
    assert load_manifest(open_storage(store)).sources == {}
    assert uris(store) == []
    gz.write_bytes(blob)
    second = run_ingest([logs], store)
    assert (second.files_new, second.lines_ingested) == (1, 50)
    assert uris(store) == expected_uris(lines)


def test_truncated_gzip_of_known_source_adds_nothing_until_complete(
    logs: Path, store: Path
) -> None:
    """A half-written .gz of an ingested file with 10 more lines waits, then adds exactly 10."""
    lines = make_lines(60)
    append(logs / "access.log", lines[:50])
    run_ingest([logs], store)
    (logs / "access.log").unlink()
    blob = gzip.compress(b"".join(lines), compresslevel=1)
    gz = logs / "access.log.1.gz"
    gz.write_bytes(blob[:-40])
    assert run_ingest([logs], store).lines_ingested == 0
    gz.write_bytes(blob)
    assert run_ingest([logs], store).lines_ingested == 10
    assert uris(store) == expected_uris(lines)


def test_concatenated_gzip_members(logs: Path, store: Path) -> None:
    """Two gzip members (30 + 30 lines) in one file are read whole: 60 lines."""
    lines = make_lines(60)
    (logs / "access.log.1.gz").write_bytes(
        gzip.compress(b"".join(lines[:30])) + gzip.compress(b"".join(lines[30:]))
    )
    assert run_ingest([logs], store).lines_ingested == 60
    assert uris(store) == expected_uris(lines)


def test_deleted_and_recreated_file(logs: Path, store: Path) -> None:
    """A file deleted and recreated with new content is a new source: 40 + 30 = 70."""
    a, b = make_lines(40, tag="a"), make_lines(30, tag="b")
    log = logs / "access.log"
    append(log, a)
    run_ingest([logs], store)
    log.unlink()
    append(log, b)
    second = run_ingest([logs], store)
    assert (second.files_new, second.lines_ingested) == (1, 30)
    assert uris(store) == expected_uris(a + b)


def test_shrunk_file_with_same_start_is_new_content(logs: Path, store: Path) -> None:
    """Rewritten in place shorter but with the same first 15 lines: read from its start (20)."""
    a = make_lines(40, tag="a")
    c = make_lines(5, start=100, tag="c")
    log = logs / "access.log"
    append(log, a)
    run_ingest([logs], store)
    log.write_bytes(b"".join(a[:15] + c))
    second = run_ingest([logs], store)
    assert (second.files_new, second.lines_ingested) == (1, 20)
    assert uris(store) == expected_uris(a + a[:15] + c)


def test_short_file_is_ingested_at_once_and_resumed(logs: Path, store: Path) -> None:
    """3 lines (< 1024 bytes) are ingested on a plain run; growing later adds only the 9 more,
    and the source is then known by its first 1024 bytes."""
    lines = make_lines(12)
    log = logs / "access.log"
    append(log, lines[:3])
    first = run_ingest([logs], store)
    assert (first.files_new, first.lines_ingested) == (1, 3)
    (state,) = load_manifest(open_storage(store)).sources.values()
    assert state.fp_len == len(b"".join(lines[:3]))
    append(log, lines[3:])
    assert run_ingest([logs], store).lines_ingested == 9
    (grown,) = load_manifest(open_storage(store)).sources.values()
    assert (grown.id, grown.fp_len) == (state.id, 1024)
    assert uris(store) == expected_uris(lines)


def test_lock_contention(logs: Path, store: Path) -> None:
    """An ingest while another holds the lock waits briefly, then refuses with exit code 75."""
    append(logs / "access.log", make_lines(20))
    with locked(open_storage(store)), pytest.raises(WarehouseLocked, match="another ingest is running"):
        run_ingest([logs], store, lock_timeout=0.2)
    assert not (store / "hits").exists()
    assert run_ingest([logs], store).lines_ingested == 20


def test_mostly_failing_file_is_refused(logs: Path, store: Path) -> None:
    """25 of 30 lines rejected: IngestRefused names the file, shows lines, commits none of it;
    the good file before it (30 lines) stays."""
    good = make_lines(30, tag="good")
    append(logs / "a-good.log", good)
    append(logs / "b-bad.log", bad_lines(25) + make_lines(5, tag="bad"))
    with pytest.raises(IngestRefused) as err:
        run_ingest([logs / "a-good.log", logs / "b-bad.log"], store)
    msg = str(err.value)
    assert "b-bad.log: 25 of 30 lines" in msg and "--log-format" in msg
    assert "line 1: 'bad line 0: this is not an access log line'" in msg
    assert "\n" not in msg
    assert uris(store) == expected_uris(good)
    assert read_rejects(store).height == 0
    assert [s.path for s in load_manifest(open_storage(store)).sources.values()] == [str(logs / "a-good.log")]


def test_short_new_file_mostly_bad_and_small_bad_append(logs: Path, store: Path) -> None:
    """A new 12-line (final) file with 7 bad lines is refused; 5 bad lines appended to a known
    source are kept as rejects (30 hits + 5 rejects), never refused."""
    short = logs / "short.log"
    append(short, bad_lines(7) + make_lines(5, tag="s"))
    with pytest.raises(IngestRefused, match="7 of 12 lines"):
        run_ingest([short], store, final=True)
    log = logs / "access.log"
    append(log, make_lines(30))
    run_ingest([log], store)
    append(log, bad_lines(5))
    summary = run_ingest([log], store)
    assert (summary.lines_ingested, summary.lines_rejected) == (0, 5)
    assert (read_hits(store).height, read_rejects(store).height) == (30, 5)


def test_rejects_are_dated_by_content(logs: Path, store: Path) -> None:
    """A bad line with its own timestamp takes its date; one without takes its neighbour's."""
    lines = make_lines(20, first=dt.datetime(2022, 3, 10, 10, tzinfo=dt.UTC))
    broken = b'10.0.0.9 - - [12/Mar/2022:10:00:00 -0500] "GET /x HTTP/1.1" 200 oops\n'
    append(logs / "access.log", lines[:10] + [broken, b"garbage\n"] + lines[10:])
    summary = run_ingest([logs], store)
    assert (summary.lines_ingested, summary.lines_rejected) == (20, 2)
    rejects = read_rejects(store)
    assert rejects.get_column("line_no").to_list() == [11, 12]
    assert rejects.get_column("date").to_list() == [dt.date(2022, 3, 12), dt.date(2022, 3, 10)]
    stats = wh.ingest_stats(store, start=dt.date(2022, 3, 12), end=dt.date(2022, 3, 12))
    assert (stats["lines_ingested"], stats["lines_rejected"]) == (0, 1)


@pytest.mark.parametrize("shuffled", [False, True])
def test_undated_rejects_take_the_previous_hits_date_else_the_next_one(shuffled: bool) -> None:
    """Neighbours are found by offset whatever the hits' order: the hit before a bad line
    gives its date, the first hit when none is before it; with no hits at all, the run's
    Lima date. A bad line with its own timestamp keeps it."""
    hits = pl.DataFrame(
        {"offset": [100, 200, 300], "date": [dt.date(2022, 3, 1), dt.date(2022, 3, 2),
                                             dt.date(2022, 3, 3)]}  # fmt: skip
    )
    if shuffled:
        hits = hits.reverse()
    own = '1.1.1.1 - - [05/Mar/2022:23:30:00 -0500] "GET / HTTP/1.1" 20'
    rejects = pl.DataFrame({"offset": [50, 150, 250, 350, 260], "raw": ["x", "y", "z", "w", own]})
    # 02:00 UTC on 2 May is still 1 May in Lima; 23:30 -0500 on 5 Mar is 5 Mar in Lima
    at = dt.datetime(2022, 5, 2, 2, tzinfo=dt.UTC)
    got = date_rejects(rejects, hits, tz="America/Lima", ingested_at=at)
    assert got.get_column("date").to_list() == [
        dt.date(2022, 3, 1), dt.date(2022, 3, 1), dt.date(2022, 3, 2), dt.date(2022, 3, 3),
        dt.date(2022, 3, 5),
    ]  # fmt: skip
    alone = date_rejects(rejects, hits.clear(), tz="America/Lima", ingested_at=at)
    assert alone.get_column("date").to_list() == [dt.date(2022, 5, 1)] * 4 + [dt.date(2022, 3, 5)]


def _ua_as_header_format() -> str:
    # like combined, but the user agent lands in req_x_ua: the "wrong" format to rebuild from
    return '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{X-Ua}i"'


def test_rebuild_swaps_only_the_date_range(logs: Path, store: Path) -> None:
    """Rebuilding Mar 11 re-parses it with the new format; Mar 10 and 12 keep the old parse,
    the other source's Mar 11 hits stay, and no row is added or lost (12+24+24 + 5)."""
    a = make_lines(60, step=HOUR)  # Mar 10 12:00 .. Mar 12 23:00 Lima: 12 + 24 + 24
    b = make_lines(10, first=dt.datetime(2022, 3, 11, 15, tzinfo=dt.UTC), tag="b", step=HOUR)
    append(logs / "a.log", a)
    append(logs / "b.log", b)
    run_ingest([logs], store, log_format=_ua_as_header_format())
    before = read_hits(store)
    summary = run_ingest(
        [logs / "a.log"], store, rebuild=(dt.date(2022, 3, 11), dt.date(2022, 3, 11))
    )
    assert summary.rebuilt_dates == ["2022-03-11"]
    assert (summary.files_rebuilt, summary.lines_ingested) == (1, 24)
    after = read_hits(store)
    assert after.height == before.height == 70
    by_day = after.group_by("date", pl.col("user_agent").is_not_null().alias("ua")).len()
    counts = {(r["date"].day, r["ua"]): r["len"] for r in by_day.iter_rows(named=True)}
    # a's 24 Mar 11 lines now have a user agent; b (not rebuilt, 10 lines on Mar 11) keeps none
    assert counts == {(10, False): 12, (11, True): 24, (11, False): 10, (12, False): 24}
    outside = pl.col("date") != dt.date(2022, 3, 11)
    assert after.filter(outside).equals(before.filter(outside))
    assert run_ingest([logs], store).lines_ingested == 0
    assert not (store / ".staging").exists()


def test_rebuild_adds_content_never_seen(logs: Path, store: Path) -> None:
    """Lines appended after the last ingest are ingested on every date by a rebuild (40 + 20)."""
    a = make_lines(60, step=HOUR)
    append(logs / "a.log", a[:40])
    run_ingest([logs], store)
    append(logs / "a.log", a[40:])
    summary = run_ingest([logs], store, rebuild=(dt.date(2022, 3, 10), dt.date(2022, 3, 10)))
    assert summary.lines_ingested == 12 + 20
    assert uris(store) == expected_uris(a)


def test_rebuild_refuses_an_incomplete_copy(logs: Path, store: Path) -> None:
    """Rebuilding from a copy holding less than was ingested changes nothing (InputError)."""
    a = make_lines(60, step=HOUR)
    append(logs / "a.log", a)
    run_ingest([logs], store)
    before = read_hits(store)
    append(logs / "partial.log", a[:30])
    with pytest.raises(InputError, match="give its complete file"):
        run_ingest(
            [logs / "partial.log"], store, rebuild=(dt.date(2022, 3, 10), dt.date(2022, 3, 12))
        )
    assert read_hits(store).equals(before)


def test_parallel_jobs_give_the_same_dataset(logs: Path, tmp_path: Path) -> None:
    """--jobs 2 over small chunks writes exactly the rows --jobs 1 writes (2 x 400 lines)."""
    append(logs / "access.log", make_lines(400, tag="a"))
    (logs / "access.log.1.gz").write_bytes(gzip.compress(b"".join(make_lines(400, tag="b"))))
    one = run_ingest([logs], tmp_path / "one", chunk_bytes=8000)
    two = run_ingest([logs], tmp_path / "two", chunk_bytes=8000, jobs=2)
    assert one.lines_ingested == two.lines_ingested == 800
    assert read_hits(tmp_path / "one").equals(read_hits(tmp_path / "two"))


def test_progress_and_summary(logs: Path, store: Path) -> None:
    """Progress rises to bytes total; the summary is one line, says why a file waits, and is
    JSON-ready."""
    append(logs / "access.log", make_lines(100))
    append(logs / "access.log.1", [make_lines(1, tag="short")[0][:40]])
    calls: list[tuple[int, int]] = []
    summary = run_ingest(
        [logs], store, chunk_bytes=3000, progress=lambda d, t: calls.append((d, t))
    )
    size = (logs / "access.log").stat().st_size
    assert calls[0] == (0, calls[-1][1]) and calls[-1][0] == calls[-1][1] >= size
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    text = summary.line()
    assert "\n" not in text and "1 new" in text and "100 lines ingested" in text
    assert text.endswith(f"1 waiting); 100 lines ingested, 0 rejected; {summary.bytes_read / 1e6:.1f} MB "
                         f"in {summary.seconds:.1f} s; waiting: {logs / 'access.log.1'} "
                         "(last line incomplete)")  # fmt: skip
    data = json.loads(json.dumps(summary.as_dict()))
    assert data["files_waiting"] == 1 and data["lines_ingested"] == 100
    waiting = [f for f in data["files"] if f["status"] == "waiting"]
    assert waiting[0]["path"].endswith("access.log.1")


def test_first_rejected_lines_reported_per_file(logs: Path, store: Path) -> None:
    """The summary keeps each file's first 3 rejected lines (line 5, 7, 9 here)."""
    lines = make_lines(30)
    for i in (4, 6, 8, 10):
        lines[i] = b"junk %d\n" % i
    append(logs / "access.log", lines)
    report = run_ingest([logs], store).files[0]
    assert (report.hits, report.rejects) == (26, 4)
    assert [r["line_no"] for r in report.first_rejects] == [5, 7, 9]


def test_bad_inputs_touch_nothing(logs: Path, store: Path) -> None:
    """A missing path or an invalid format fails before the warehouse is created."""
    with pytest.raises(InputError, match="missing.log"):
        run_ingest([logs / "missing.log"], store)
    append(logs / "access.log", make_lines(20))
    with pytest.raises(FormatError):
        run_ingest([logs], store, log_format="%h %Q")
    assert not store.exists()


def test_lines_with_utc_offsets_land_on_lima_dates(logs: Path, store: Path) -> None:
    """A hit at 03:00 UTC on Mar 11 is Mar 10 in Lima (UTC-5): partitions follow Lima."""
    ts = dt.datetime(2022, 3, 11, 3, 0, tzinfo=dt.UTC)
    append(logs / "access.log", [combined_line(i, ts) for i in range(12)])
    summary = run_ingest([logs], store)
    assert summary.partitions == ["2022-03-10"]
    assert os.listdir(store / "hits") == ["date=2022-03-10"]


def test_chunk_task_reads_its_range_and_checks_it(logs: Path, store: Path) -> None:
    """A task without bytes reads its range from the file; a changed file is an InputError."""
    data = b"".join(make_lines(10))
    (logs / "access.log").write_bytes(data)
    task = ChunkTask(
        warehouse=str(store), source="ab", file=str(logs / "access.log"), start=0,
        end=len(data), first_line_no=1, log_format="combined", timezone="America/Lima",
        ingested_at=dt.datetime(2022, 3, 11, tzinfo=dt.UTC), crc=zlib.crc32(data),
    )  # fmt: skip
    assert (run_chunk(task).hits, run_chunk(task).rejects) == (10, 0)
    (logs / "access.log").write_bytes(data.replace(b"/p/a/3 ", b"/p/a/X "))
    with pytest.raises(InputError, match="changed while being ingested"):
        run_chunk(task)
