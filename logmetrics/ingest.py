"""Nightly ingestion: incremental, rotation-proof, crash-safe, in bounded memory.

``ingest(paths, ...)`` discovers the files (``sources.discover``), recognises each one's source
by the fingerprint of its first 1024 decompressed bytes (see Short files), and parses only what
the manifest does not hold yet, chunk by chunk (``chunk_bytes`` of complete lines). Each chunk
is one task, ``run_chunk(ChunkTask) -> ChunkResult``, a top-level function that parses and
writes its own deterministic part files; the parent commits the manifest in order.
``jobs > 1`` runs the tasks in that many threads; any ``concurrent.futures.Executor`` can be
passed instead. The steps: lock and recover (``recovery``), then per file identify its source
and where to start (``ingest_plan``), submit its chunks, judge and commit their results in
order, and for a rebuild swap at the end (``ingest_run``).

Decisions an operator can rely on:

- **Short files.** A file shorter than 1024 bytes is ingested now, known by its complete lines
  (all of it when final: a gzip archive, or ``final=True``), so ``fp_len`` records how many
  bytes the fingerprint covers. A later, longer file starting with those bytes (the same log
  grown, rotated or compressed) continues the same source where it stopped; once the source
  passes 1024 bytes its fingerprint becomes its first 1024, like every other source's. A new
  short file after rotation differs in content, so it is a source of its own. Two files with
  byte-identical content are one source (a copy of a log is not new content): two different
  logs whose whole content is the same lines, to the second, are counted once. A file with no
  complete line yet waits.
- **Unreadable files.** A file or directory that exists but cannot be read (permissions, or
  removed since it was listed) is skipped and listed in the summary as "unreadable"; the
  others are ingested and committed, and the next run reads it once it is readable. A path that
  does not exist at all (or a glob matching nothing) is an InputError before anything is done.
- **IP anonymization.** With ``config.anonymize_ip`` each chunk's client addresses are
  shortened before it is written (``privacy``), and the manifest says which sources hold only
  shortened ones (``SourceState.anonymized``).
- **Partial lines.** A last line without newline is held back until complete; in a final file
  it ends at EOF (a line appended later to such a file would be read as a separate line).
- **Truncated gzip.** A .gz whose stream stops inside a member is still being written: nothing
  of it is committed (``waiting``) and it is read again on the next run.
- **Rewritten files.** A file whose content no longer matches what was committed (its
  fingerprint changed, or it shrank at the same path: copytruncate, recreation) is read from its
  start as a new source. A shorter copy of a known source elsewhere (a copy in progress, an
  old backup) adds nothing.
- **Mostly failing files.** If more than half of a file's first 20 or more new lines (or all its
  lines, for a new file shorter than that) are rejected, the run stops with IngestRefused naming
  the file and its first rejected lines; nothing of that file is committed, files committed
  before it stay. An append of fewer than 20 lines to a known source is never refused.
- **Pruned days.** Lines dated before a prune's cutoff (``logmetrics prune``) are skipped and
  counted (``lines_pruned``), not refused: a nightly ingest of a directory that still holds
  old archives goes on (archives ingested before the prune are known and skipped anyway).
- **Rebuild** (``rebuild=(start, end)``): re-parse the given files (e.g. after a log format
  change) and replace their hits and rejects dated in [start, end], atomically, leaving every
  other date untouched. Each file is matched to its source as usual but read from its start;
  chunks of content the warehouse already held contribute only dates in the window, content it
  never held is ingested for all dates. Staged partitions also keep the other sources' parts,
  and are swapped in one manifest commit (see ``recovery``). That commit lists, for each
  rebuilt source, its earlier ranges (their parts still hold its hits on the other dates) plus
  the new ones, and moves its offset to the end of what was read, so the next nightly ingest
  resumes after it. If the files given hold less of a source than was already ingested, the
  rebuild is refused (InputError) and nothing changes. A rebuild is all-or-nothing, so a
  refusal in a rebuild commits nothing at all.
- **Parallelism.** ``jobs > 1`` parses chunks of one file and of several files at once in
  ``jobs`` threads of this process: the parse runs in polars, which releases the GIL, and so
  does pyarrow's Parquet writer, so threads use the cores without the start-up (imports) and
  the copying of worker processes. With ``jobs=1`` the
  calling thread parses and one writer thread writes the previous chunk's parts meanwhile.
  Chunks are ``POOL_CHUNK_BYTES`` so every thread has work until the end of a file, and at most
  ``2 * jobs`` chunks are in flight. Files of one source are
  read one after the other, since each resumes where the previous one stopped. With
  ``scheduler`` (a Dask scheduler address) the same tasks run on a cluster (see ``cluster``):
  each chunk's bytes travel with its task, the warehouse must be on storage every worker sees.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import functools
import logging
import re
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from . import formats, parse, privacy, sources
from . import parts as wh  # the chunk task writes its parts with ``wh.write_chunk_parts``
from .cluster import dask_executor, parse_address
from .config import Config
from .errors import ConfigError, IngestRefused, InputError, LogmetricsError
from .ingest_run import (
    REFUSE_MIN_LINES,
    REFUSE_RATIO,
    FileReport,
    IngestSummary,
    Job,
    Progress,
    ProgressFn,
    Run,
    Settings,
    note_unreadable,
    run_files,
    save,
)
from .layout import require_rename, warehouse_storage
from .manifest import locked
from .recovery import discard_staging, new_staging, recover
from .sources import Chunk
from .storage import Storage

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Bytes of complete lines per chunk task: bounds the memory of each parse (a caller's
#: executor, a Dask cluster).
CHUNK_BYTES = 32 << 20
#: ... in this process (``jobs`` threads, or ``jobs=1``'s parse and writer threads): smaller,
#: so there are enough tasks to keep every thread busy until the end of a file, and two
#: chunks in flight cost less memory.
POOL_CHUNK_BYTES = 16 << 20


# --- the chunk task (top level: process pools and clusters import it by name) ---------------


@dataclass(frozen=True)
class ChunkTask:
    """One (source, byte range) of complete lines to parse and write as deterministic parts."""

    warehouse: str
    source: str
    file: str
    start: int
    end: int
    first_line_no: int
    log_format: str
    timezone: str
    ingested_at: dt.datetime
    #: the bytes [start, end); None: the task reads them from ``file`` (plain files only) and
    #: checks them against ``crc`` (the file must not have changed since the parent read it)
    data: bytes | None = None
    crc: int | None = None
    #: rebuild: dates in ``window`` go to ``staging``; the others only if ``outside``
    staging: str | None = None
    window: tuple[dt.date, dt.date] | None = None
    outside: bool = True
    #: shorten client addresses before writing (``[privacy] anonymize_ip``)
    anonymize_ip: bool = False
    #: hits and rejects dated before this day (pruned: ``Manifest.pruned_before``) are skipped
    keep_from: dt.date | None = None


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk task did: counts, dates written, and its first rejected lines."""

    source: str
    start: int
    end: int
    parsed_hits: int
    parsed_rejects: int
    hits: int
    rejects: int
    dates: tuple[str, ...]
    sample_rejects: tuple[tuple[int, str, str], ...]
    #: lines skipped for being dated before the pruned cutoff (``ChunkTask.keep_from``)
    pruned: int = 0


@functools.lru_cache(maxsize=16)
def _compiled(spec: str) -> Any:
    return formats.compile_format(spec)


_TS_CLF = re.compile(r"\[(\d{1,2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
_TS_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z))")


def date_rejects(
    rejects: pl.DataFrame, hits: pl.DataFrame, *, tz: str, ingested_at: dt.datetime
) -> pl.DataFrame:
    """Add the local ``date`` (in ``tz``) of each rejected line: its own timestamp, else its
    neighbours' (the hit just before it by offset, else the one just after), else the run's.

    Dating by content keeps a re-run identical and lets a rebuild swap a date's rejects.
    """
    zone = ZoneInfo(tz)
    dates = [_own_date(raw, zone) for raw in rejects.get_column("raw").to_list()]
    undated = [i for i, d in enumerate(dates) if d is None]
    if undated and hits.height:
        near = hits.select("offset", "date")
        if not near.get_column("offset").is_sorted():
            near = near.sort("offset", maintain_order=True)
        offsets = rejects.get_column("offset").gather(undated)
        at = near.get_column("offset").search_sorted(offsets, "left")
        days = near.get_column("date").gather((at.cast(pl.Int64) - 1).clip(0, None)).to_list()
        for i, day in zip(undated, days, strict=True):
            dates[i] = day
    run_date = ingested_at.astimezone(zone).date()
    return rejects.with_columns(date=pl.Series([d or run_date for d in dates], dtype=pl.Date))


def _own_date(raw: str, zone: ZoneInfo) -> dt.date | None:
    """A rejected line's own date in ``zone``: its CLF or ISO 8601 time, if one is in it."""
    m = _TS_CLF.search(raw)
    if m:
        with contextlib.suppress(ValueError):
            when = dt.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z")
            return when.astimezone(zone).date()
    m = _TS_ISO.search(raw)
    if m:
        with contextlib.suppress(ValueError):
            when = dt.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            return when.astimezone(zone).date()
    return None


def _task_bytes(task: ChunkTask) -> bytes:
    if task.data is not None:
        return task.data
    try:
        with open(task.file, "rb") as fh:
            fh.seek(task.start)
            data = fh.read(task.end - task.start)
    except OSError as exc:
        raise InputError(f"{task.file}: cannot read: {exc.strerror or exc}") from None
    if len(data) != task.end - task.start or (
        task.crc is not None and zlib.crc32(data) != task.crc
    ):
        raise InputError(f"{task.file}: changed while being ingested; run the ingest again")
    return data


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Parse one chunk and write its parts (idempotent: same task, same files)."""
    return _noted(task, _run_chunk, task)


def _noted(task: ChunkTask, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; an unexpected error says which chunk it came from."""
    try:
        return fn(*args)
    except Exception as exc:
        if not isinstance(exc, LogmetricsError):
            exc.add_note(f"while ingesting {task.file}, bytes {task.start}-{task.end}")
        raise


def _run_chunk(task: ChunkTask) -> ChunkResult:
    return _write_chunk(task, _parse_chunk(task))


def _parse_chunk(task: ChunkTask) -> parse.ParsedChunk:
    """The first half of a chunk task: its hits and its rejects, dated."""
    parsed = parse.parse_chunk(
        _task_bytes(task),
        _compiled(task.log_format),
        source=task.source,
        file=task.file,
        first_line_no=task.first_line_no,
        base_offset=task.start,
        tz=task.timezone,
        ingested_at=task.ingested_at,
    )
    hits = parsed.hits
    rejects = date_rejects(parsed.rejects, hits, tz=task.timezone, ingested_at=task.ingested_at)
    if task.anonymize_ip:
        hits, rejects = privacy.anonymize_hits(hits), privacy.anonymize_rejects(rejects)
    return parse.ParsedChunk(hits, rejects, parsed.lines)


def _write_chunk(task: ChunkTask, parsed: parse.ParsedChunk) -> ChunkResult:
    """The second half: write the parts and say what was written."""
    hits, rejects = parsed.hits, parsed.rejects
    pruned = 0
    if task.keep_from is not None:
        kept = (f.filter(pl.col("date") >= task.keep_from) for f in (hits, rejects))
        kept_hits, kept_rejects = kept
        pruned = hits.height + rejects.height - kept_hits.height - kept_rejects.height
    else:
        kept_hits, kept_rejects = hits, rejects
    n_hits, n_rejects, dates = wh.write_chunk_parts(
        task.warehouse,
        source=task.source,
        start=task.start,
        end=task.end,
        hits=kept_hits,
        rejects=kept_rejects,
        staging=task.staging,
        window=task.window,
        outside=task.outside,
    )
    sample = tuple(
        (int(n), str(reason), str(raw)[:200])
        for n, reason, raw in rejects.head(3).select("line_no", "reason", "raw").iter_rows()
    )
    return ChunkResult(
        task.source, task.start, task.end, hits.height, rejects.height,
        n_hits, n_rejects, tuple(dates), sample, pruned,
    )  # fmt: skip


# --- executors -------------------------------------------------------------------------------


class _InlineExecutor(cf.Executor):
    """``jobs=1`` without pickling or extra processes: a chunk is parsed at submit time in the
    submitting thread, and its parts are written by one writer thread meanwhile the next chunk
    is read and parsed (pyarrow encodes a file on one core). Other tasks run at submit time."""

    def __init__(self) -> None:
        self._writer: cf.ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        fut: cf.Future[Any] = cf.Future()
        try:
            if fn is not run_chunk:
                fut.set_result(fn(*args, **kwargs))
                return fut
            (task,) = args
            parsed = _noted(task, _parse_chunk, task)
        except Exception as exc:  # delivered through the future, like a pool's
            fut.set_exception(exc)
            return fut
        if self._writer is None:
            self._writer = cf.ThreadPoolExecutor(1, thread_name_prefix="logmetrics-write")
        return self._writer.submit(_noted, task, _write_chunk, task, parsed)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=wait, cancel_futures=cancel_futures)


def _make_executor(
    jobs: int,
    *,
    scheduler: str | None = None,
    storage: Storage | None = None,
    spec: str | None = None,
) -> cf.Executor:
    if scheduler is not None:
        return dask_executor(scheduler, storage=storage)  # imports Dask (an optional extra)
    if jobs == 1:
        return _InlineExecutor()
    return _start_pool(jobs, spec)


def _start_pool(jobs: int, spec: str | None = None) -> cf.ThreadPoolExecutor:
    """``jobs`` threads for the chunk tasks (see the module docstring, Parallelism)."""
    pool = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="logmetrics-ingest")
    if spec is not None:  # a first tiny parse (polars warms up) while this thread reads files
        pool.submit(_warm, _compiled(spec))
    return pool


def _warm(fmt: formats.LogFormat) -> None:
    parse.parse_chunk(b"-\n", fmt, source="", file="", first_line_no=1, base_offset=0, tz="UTC")


# --- the run ----------------------------------------------------------------------------------


def ingest(
    paths: Sequence[str | Path],
    *,
    warehouse: str | Path,
    config: Config,
    log_format: str | None = None,
    jobs: int = 1,
    final: bool = False,
    rebuild: tuple[dt.date, dt.date] | None = None,
    progress: ProgressFn | None = None,
    chunk_bytes: int | None = None,
    lock_timeout: float = 10.0,
    commit_interval: float = 1.0,
    executor: cf.Executor | None = None,
    scheduler: str | None = None,
) -> IngestSummary:
    """Ingest what is new in ``paths`` into ``warehouse``; see the module docstring.

    ``log_format`` defaults to ``config.log_format``. ``final`` marks plain files as closed
    archives. ``progress(done_bytes, total_bytes)`` is called as chunks complete (bytes of input:
    compressed bytes for .gz). A second ingest waits ``lock_timeout`` seconds for the lock, then
    raises WarehouseLocked. The manifest is committed at most every ``commit_interval`` seconds
    (0: after every chunk) and at the end, so thousands of small files do not rewrite it
    thousands of times. ``chunk_bytes`` defaults to ``POOL_CHUNK_BYTES`` (chunks parsed in
    this process), or ``CHUNK_BYTES`` with an ``executor`` or a ``scheduler``. ``executor``
    (any concurrent.futures.Executor, e.g. a Dask client's) runs the chunk tasks instead of
    ``jobs`` local threads;
    ``scheduler`` (``tcp://HOST:8786``) runs them on that Dask cluster (the warehouse must be
    storage every worker sees: a shared path or an object store).
    """
    t0 = time.monotonic()
    _check_options(jobs, chunk_bytes, rebuild, scheduler, executor)
    storage = warehouse_storage(warehouse)
    if rebuild is not None:
        require_rename(storage)  # refused on an object store, before anything is touched
    spec = log_format or config.log_format
    _compiled(spec)  # a bad format fails before anything is touched
    found = sources.discover(paths)
    summary = IngestSummary(warehouse=storage.url)
    for what in found.unreadable:
        note_unreadable(summary, what)
    local = executor is None and scheduler is None
    # the local threads for --jobs N (jobs=1 runs each chunk at submit time)
    early = _start_pool(jobs, spec) if local and jobs > 1 else None
    try:
        with locked(storage, timeout=lock_timeout):
            manifest = recover(storage)
            ex = early or executor or _make_executor(
                jobs, scheduler=scheduler, storage=storage, spec=spec
            )
            settings = _settings(
                ex, own=executor is None, local=local, cluster=scheduler is not None, jobs=jobs,
                chunk_bytes=chunk_bytes, spec=spec, final=final, commit_interval=commit_interval,
                anonymize_ip=config.anonymize_ip, window=rebuild,
                staging=new_staging(storage) if rebuild else None,
                keep_from=manifest.pruned_date,
            )  # fmt: skip
            run = Run(
                storage, manifest, settings, _submitter(ex, storage, settings, config.timezone),
                summary, Progress(progress),
            )  # fmt: skip
            _run(run, found.files, ex, own=executor is None)
    finally:
        if early is not None:
            early.shutdown(wait=True, cancel_futures=True)
    summary.tally()
    summary.seconds = time.monotonic() - t0
    if summary.lines_pruned:
        log.warning(
            "%s: %d line(s) dated before %s were skipped: those days are pruned",
            storage.url, summary.lines_pruned, manifest.pruned_before,
        )  # fmt: skip
    log.info("%s", summary.line())
    return summary


def _check_options(
    jobs: int,
    chunk_bytes: int | None,
    rebuild: tuple[dt.date, dt.date] | None,
    scheduler: str | None,
    executor: cf.Executor | None,
) -> None:
    """Options that cannot work stop the ingest before anything is read or locked."""
    if jobs < 1:
        raise ConfigError(f"jobs: must be at least 1, got {jobs}")
    if chunk_bytes is not None and chunk_bytes < 1:
        raise ConfigError(f"chunk_bytes: must be positive, got {chunk_bytes}")
    if rebuild is not None and rebuild[0] > rebuild[1]:
        raise ConfigError(f"rebuild: start {rebuild[0]} is after end {rebuild[1]}")
    if scheduler is not None:
        parse_address(scheduler)
        if executor is not None:
            raise ConfigError("ingest: give a scheduler or an executor, not both")


def _settings(
    ex: cf.Executor,
    *,
    own: bool,
    local: bool,
    cluster: bool,
    jobs: int,
    chunk_bytes: int | None,
    **fixed: Any,
) -> Settings:
    """How the run feeds ``ex``: chunk size, whether tasks get the chunk's bytes, how many
    tasks in flight (two per worker thread)."""
    return Settings(
        chunk_bytes=chunk_bytes or (POOL_CHUNK_BYTES if local else CHUNK_BYTES),
        # inline and thread runs share the chunk bytes; a caller's process pool re-reads plain
        # chunks from the page cache (nothing big is pickled), while decompressed .gz content
        # has to travel, and so does every chunk to a cluster (its workers need not see the logs)
        send_data=isinstance(ex, _InlineExecutor | cf.ThreadPoolExecutor) or cluster,
        max_inflight=2 * (getattr(ex, "workers", jobs) if own else max(jobs, 2)),
        **fixed,
    )


def _submitter(
    ex: cf.Executor, storage: Storage, settings: Settings, timezone: str
) -> Callable[[Job, Chunk], cf.Future[ChunkResult]]:
    """How the run submits a chunk: as a ``ChunkTask`` for ``run_chunk`` on ``ex``."""
    ingested_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    window = settings.window

    def submit(job: Job, chunk: Chunk) -> cf.Future[ChunkResult]:
        task = ChunkTask(
            warehouse=storage.url,
            source=job.state.id,
            file=str(job.probe.path),
            start=chunk.start,
            end=chunk.end,
            first_line_no=chunk.first_line_no,
            log_format=settings.spec,
            timezone=timezone,
            ingested_at=ingested_at,
            # the chunk holds its bytes, or (cut without them) their CRC for the task to check
            # what it reads back; a task sent to another process gets bytes (it is pickled)
            data=(
                None if chunk.crc is not None
                else chunk.data if settings.send_data
                else bytes(chunk.data)
            ),  # fmt: skip
            crc=chunk.crc,
            staging=settings.staging,
            window=window,
            outside=window is None or chunk.start >= job.plan.old_offset,
            anonymize_ip=settings.anonymize_ip,
            keep_from=settings.keep_from,
        )
        return ex.submit(run_chunk, task)

    return submit


def _run(run: Run, files: list[Path], ex: cf.Executor, *, own: bool) -> None:
    """``run_files``; on a failure, keep what was committed (a rebuild: nothing) and say
    plainly that a caller's process pool lost a worker."""
    try:
        run_files(run, files)
    except BaseException as exc:
        if own:
            ex.shutdown(wait=True, cancel_futures=True)
        if run.settings.staging:
            discard_staging(run.storage, run.settings.staging)
        elif not isinstance(exc, IngestRefused):
            with contextlib.suppress(LogmetricsError, OSError):
                save(run, force=True)  # keep what was committed before the failure
        # a caller's own process pool (whose module is then loaded: not imported for
        # thread runs, which would cost 0.02 s)
        pools = sys.modules.get("concurrent.futures.process")
        if pools is not None and isinstance(exc, pools.BrokenProcessPool):
            raise LogmetricsError(
                f"{run.storage.url}: a parsing process died (out of memory?); what was committed "
                "is kept, run the ingest again (perhaps with fewer --jobs)"
            ) from exc
        raise
    finally:
        if own:
            ex.shutdown(wait=True)


__all__ = [
    "CHUNK_BYTES",
    "POOL_CHUNK_BYTES",
    "REFUSE_MIN_LINES",
    "REFUSE_RATIO",
    "ChunkResult",
    "ChunkTask",
    "FileReport",
    "IngestSummary",
    "date_rejects",
    "ingest",
    "run_chunk",
]
