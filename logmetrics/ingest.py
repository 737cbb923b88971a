"""Nightly ingestion: incremental, rotation-proof, crash-safe, in bounded memory.

``ingest(paths, ...)`` discovers the files (``sources.discover``), recognises each one's source
by the fingerprint of its first 1024 decompressed bytes, and parses only what the manifest does
not hold yet, chunk by chunk (``chunk_bytes`` of complete lines). Each chunk is one task,
``run_chunk(ChunkTask) -> ChunkResult``, a top-level function that parses and writes its own
deterministic part files; the parent commits the manifest in order. ``jobs > 1`` runs the tasks
in that many threads; any ``concurrent.futures.Executor`` can be passed instead.

Decisions an operator can rely on:

- **Short files.** A file shorter than 1024 bytes has no fingerprint yet and waits for the next
  run, unless it is final (a gzip archive, or ``final=True``): then its whole content is the
  fingerprint, and a later, longer file starting with that content continues the same source.
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
- **Rebuild** (``rebuild=(start, end)``): re-parse the given files (e.g. after a log format
  change) and replace their hits and rejects dated in [start, end], atomically, leaving every
  other date untouched. Each file is matched to its source as usual but read from its start;
  chunks of content the warehouse already held contribute only dates in the window, content it
  never held is ingested for all dates. Staged partitions also keep the other sources' parts,
  and are swapped in one manifest commit (see ``warehouse``). That commit lists, for each
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
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from . import formats, parse, sources
from . import warehouse as wh
from .cluster import parse_address, warehouse_path
from .config import Config
from .errors import ConfigError, IngestRefused, InputError, LogmetricsError
from .sources import FINGERPRINT_BYTES, ByteStream, Chunk, TruncatedGzip

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The "mostly fails" rule: refuse when more than this share of the first lines is rejected ...
REFUSE_RATIO = 0.5
#: ... judged on at least this many lines (or all lines of a new, shorter file).
REFUSE_MIN_LINES = 20

ProgressFn = Callable[[int, int], None]

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
    rejects = date_rejects(
        parsed.rejects, parsed.hits, tz=task.timezone, ingested_at=task.ingested_at
    )
    return parse.ParsedChunk(parsed.hits, rejects, parsed.lines)


def _write_chunk(task: ChunkTask, parsed: parse.ParsedChunk) -> ChunkResult:
    """The second half: write the parts and say what was written."""
    hits, rejects = parsed.hits, parsed.rejects
    n_hits, n_rejects, dates = wh.write_chunk_parts(
        task.warehouse,
        source=task.source,
        start=task.start,
        end=task.end,
        hits=hits,
        rejects=rejects,
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
        n_hits, n_rejects, tuple(dates), sample,
    )  # fmt: skip


# --- the summary -----------------------------------------------------------------------------


@dataclass
class FileReport:
    """What happened to one file: new / resumed / rebuilt / skipped / waiting / refused."""

    path: str
    status: str = "skipped"
    reason: str = ""
    source: str | None = None
    start: int = 0
    end: int = 0
    lines: int = 0
    hits: int = 0
    rejects: int = 0
    first_rejects: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IngestSummary:
    """The outcome of one ingest: a one-line human summary, or a JSON-ready dict."""

    warehouse: str = ""
    files_new: int = 0
    files_resumed: int = 0
    files_rebuilt: int = 0
    files_skipped: int = 0
    files_waiting: int = 0
    lines_ingested: int = 0
    lines_rejected: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    partitions: list[str] = field(default_factory=list)
    rebuilt_dates: list[str] | None = None
    files: list[FileReport] = field(default_factory=list)

    @property
    def files_total(self) -> int:
        return len(self.files)

    def line(self) -> str:
        """One line for cron mail: files by outcome, lines ingested and rejected, bytes, time."""
        parts = [f"{self.files_new} new", f"{self.files_resumed} resumed"]
        if self.files_rebuilt or self.rebuilt_dates is not None:
            parts.append(f"{self.files_rebuilt} rebuilt")
        parts += [f"{self.files_skipped} skipped", f"{self.files_waiting} waiting"]
        text = (
            f"ingest: {self.files_total} file(s) ({', '.join(parts)}); "
            f"{self.lines_ingested:,} lines ingested, {self.lines_rejected:,} rejected; "
            f"{self.bytes_read / 1e6:,.1f} MB in {self.seconds:.1f} s"
        )
        if self.rebuilt_dates is not None:
            text += f"; {len(self.rebuilt_dates)} date(s) rebuilt"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable (for ``--json``)."""
        d = dataclasses.asdict(self)
        d["files_total"] = self.files_total
        d["seconds"] = round(self.seconds, 3)
        return d


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
    warehouse: wh.Root | None = None,
    spec: str | None = None,
) -> cf.Executor:
    if scheduler is not None:
        from .cluster import dask_executor  # only now: Dask is an optional extra

        return dask_executor(scheduler, warehouse=warehouse)
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


@dataclass
class _Probe:
    path: Path
    gzip: bool
    size: int
    mtime_ns: int
    ino: int
    head: bytes
    head_eof: bool

    def stat_key(self) -> dict[str, int | None]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ino": self.ino}


def _probe(path: Path) -> _Probe:
    try:
        st = path.stat()
        with ByteStream(path, block=64 << 10) as s:
            head, eof = s.head(FINGERPRINT_BYTES)
            gz = s.gzip
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _Probe(path, gz, st.st_size, st.st_mtime_ns, st.st_ino, head, eof)


class _Cursor:
    """Random access to plain content, forward-only to gzip content (re-inflating if needed)."""

    def __init__(self, probe: _Probe) -> None:
        self.probe = probe
        self.stream = ByteStream(probe.path, gzip=probe.gzip)
        self.length: int | None = None  # decompressed length, once EOF was seen
        self._it: Iterator[bytes] | None = None
        self._pos = 0
        self._buf = b""  # content from _pos on, already inflated
        self._win = b""  # the bytes just before _pos (up to FINGERPRINT_BYTES)
        self._restart_needed = False

    def close(self) -> None:
        self.stream.close()

    def _plain_size(self) -> int:
        return os.fstat(self.stream._fh.fileno()).st_size

    def _restart(self) -> None:
        self.stream.close()
        self.stream = ByteStream(self.probe.path, gzip=True)
        self._it, self._pos, self._buf, self._win = None, 0, b"", b""
        self._restart_needed = False

    def _advance(self, offset: int) -> bool:
        """Inflate up to ``offset``; False if the content ends before it."""
        if offset < self._pos or self._restart_needed:
            self._restart()
        if self._it is None:
            self._it = self.stream.blocks()
        while self._pos + len(self._buf) < offset:
            block = next(self._it, None)
            if block is None:
                self.length = self._pos + len(self._buf)
                return False
            self._buf += block
            excess = min(len(self._buf), offset - self._pos) - FINGERPRINT_BYTES
            if excess > 4 * sources.READ_BLOCK:  # bound memory while skipping a long prefix
                self._win = self._buf[excess - FINGERPRINT_BYTES : excess]
                self._buf = self._buf[excess:]
                self._pos += excess
        cut = offset - self._pos
        self._win = (self._win + self._buf[:cut])[-FINGERPRINT_BYTES:]
        self._buf = self._buf[cut:]
        self._pos = offset
        return True

    def tail_at(self, offset: int) -> bytes | None:
        """The up-to-1024 bytes before ``offset``, or None if the content is shorter."""
        if not self.probe.gzip:
            if offset > self._plain_size():
                return None
            lo = max(0, offset - FINGERPRINT_BYTES)
            return os.pread(self.stream._fh.fileno(), offset - lo, lo)
        if not self._advance(offset):
            return None
        return self._win[-offset:] if offset else b""

    def blocks_from(self, offset: int) -> Iterator[bytes]:
        """Content from ``offset`` to EOF; sets ``length`` when EOF is reached."""
        if not self.probe.gzip:
            yield from self.stream.blocks(start=offset)
            self.length = self.stream.raw_pos
            return
        if not self._advance(offset):
            return
        it = self._it
        assert it is not None
        pos = self._pos
        first, self._buf = self._buf, b""
        if first:
            yield first
            pos += len(first)
        for block in it:
            yield block
            pos += len(block)
        self.length = pos
        self._it = None
        self._pos = pos
        self._win = b""
        self._restart_needed = True


@dataclass
class _Pending:
    meta: Chunk  # data dropped
    future: cf.Future[ChunkResult]
    progress: int


@dataclass
class _Job:
    probe: _Probe
    report: FileReport
    state: wh.SourceState
    new_source: bool
    start: int
    old_offset: int = 0  # rebuild: what the warehouse held before
    pending: list[_Pending] = field(default_factory=list)
    done: int = 0  # results consumed, in order
    committed: int = 0  # results committed (in order)
    results: list[ChunkResult] = field(default_factory=list)
    generated: bool = False
    truncated: bool = False
    length: int | None = None
    verdict: bool | None = None
    lines_judged: int = 0
    rejects_judged: int = 0
    estimate: int = 0
    reported: int = 0
    finished: bool = False

    @property
    def all_done(self) -> bool:
        return self.generated and self.done == len(self.pending)


_EMPTY_CHECK = sources.fingerprint(b"")


def _source_id(fp: str, generation: int) -> str:
    if generation == 0:
        return fp[:16]
    return hashlib.sha256(f"{fp}:{generation}".encode()).hexdigest()[:16]


class _Run:
    def __init__(
        self,
        *,
        root: wh.Root,
        manifest: wh.Manifest,
        executor: cf.Executor,
        max_inflight: int,
        spec: str,
        tz: str,
        final: bool,
        window: tuple[dt.date, dt.date] | None,
        chunk_bytes: int,
        progress: ProgressFn | None,
        summary: IngestSummary,
        send_data: bool,
        commit_interval: float,
    ) -> None:
        self.root = root
        self.man = manifest
        self.ex = executor
        self.max_inflight = max_inflight
        self.spec = spec
        self.tz = tz
        self.final = final
        self.window = window
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.summary = summary
        self.send_data = send_data
        self.commit_interval = commit_interval
        self.ingested_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.open_jobs: dict[str, _Job] = {}
        self.all_jobs: list[_Job] = []
        self.inflight: dict[cf.Future[ChunkResult], _Job] = {}
        self.staging = wh.new_staging(root) if window else None
        #: rebuild: the re-read state of each source, from offset 0
        self.rebuilt: dict[str, wh.SourceState] = {}
        self.done_bytes = 0
        self.total_bytes = 0
        self.partitions: set[str] = set()
        self.last_save = 0.0
        # indexes, so archives of thousands of files stay linear
        self.by_fp: dict[tuple[int, str], list[wh.SourceState]] = {}
        self.path_owner: dict[str, wh.SourceState] = {}
        for st in manifest.sources.values():
            self._add_source(st)
            for path in st.files:
                self.path_owner[path] = st

    def _add_source(self, state: wh.SourceState) -> None:
        self.man.sources[state.id] = state
        self.by_fp.setdefault((state.fp_len, state.fingerprint), []).append(state)

    def _drop_source(self, state: wh.SourceState) -> None:
        self.man.sources.pop(state.id, None)
        same = self.by_fp.get((state.fp_len, state.fingerprint), [])
        if state in same:
            same.remove(state)
        for path in state.files:
            if self.path_owner.get(path) is state:
                del self.path_owner[path]

    def save(self, *, force: bool = False) -> None:
        """Commit the manifest, at most once a second unless forced (archives of many files)."""
        if self.window is not None:
            return
        now = time.monotonic()
        if force or now - self.last_save >= self.commit_interval:
            # a source whose first chunk is still pending has nothing to record yet
            live = {k: v for k, v in self.man.sources.items() if v.ranges}
            wh.save_manifest(self.root, wh.Manifest(live, self.man.pending_swap))
            self.last_save = now

    # -- progress --

    def _tick(self, n: int) -> None:
        self.done_bytes = min(self.total_bytes, self.done_bytes + max(0, n))
        if self.progress:
            self.progress(self.done_bytes, self.total_bytes)

    # -- identification --

    def _candidates(self, head: bytes) -> list[wh.SourceState]:
        lengths = {n for n, _ in self.by_fp if n <= len(head)}
        out = []
        for n in lengths:
            out += self.by_fp.get((n, sources.fingerprint(head[:n])), [])
        return sorted(out, key=lambda s: (-s.offset, s.generation))

    def _estimate(self, probe: _Probe) -> int:
        if probe.gzip:
            return probe.size
        best = 0
        if len(probe.head) >= FINGERPRINT_BYTES:
            for s in self._candidates(probe.head):
                if s.offset <= probe.size:
                    best = max(best, s.offset)
        if self.window is not None:
            return probe.size
        return max(0, probe.size - best)

    # -- main loop --

    def run(self, files: list[Path]) -> None:
        probes = [_probe(f) for f in files]
        self.total_bytes = sum(self._estimate(p) for p in probes)
        if self.progress:
            self.progress(0, self.total_bytes)
        for probe in probes:
            self._file(probe)
            self._poll()
        while self.inflight:
            self._wait_one()
        for job in list(self.open_jobs.values()):
            self._advance(job)
        if self.window is not None:
            self._finish_rebuild()
        else:
            self.save(force=True)
        self.summary.partitions = sorted(self.partitions)
        self.done_bytes = self.total_bytes
        if self.progress:
            self.progress(self.total_bytes, self.total_bytes)

    def _skip(self, rep: FileReport, status: str, reason: str) -> None:
        rep.status, rep.reason = status, reason
        log.info("%s: %s (%s)", rep.path, status, reason)

    def _file(self, probe: _Probe) -> None:
        rep = FileReport(path=str(probe.path))
        self.summary.files.append(rep)
        head = probe.head
        est = self._estimate(probe)
        if len(head) < FINGERPRINT_BYTES:
            if not probe.head_eof:
                self._tick(est)
                return self._skip(rep, "waiting", "gzip archive still being written")
            if not head:
                return self._skip(rep, "skipped", "empty file")
            if not (probe.gzip or self.final):
                return self._skip(
                    rep, "waiting", f"shorter than {FINGERPRINT_BYTES} bytes: no fingerprint yet"
                )
        cands = self._candidates(head)
        for c in cands:
            job = self.open_jobs.get(c.id)
            if job is not None:
                self._drain(job)
        cands = self._candidates(head)
        # an unchanged file whose whole content is committed: no need to read it
        for c in cands:
            seen = c.files.get(str(probe.path))
            if (
                self.window is None
                and seen is not None
                and seen.get("length") is not None
                and {k: seen.get(k) for k in ("size", "mtime_ns", "ino")} == probe.stat_key()
                and int(seen["length"] or 0) <= c.offset
            ):
                rep.source = c.id
                self._tick(est)
                return self._skip(rep, "skipped", "unchanged since last ingest")
        cursor = _Cursor(probe)
        try:
            job = self._plan(probe, rep, cands, cursor, est)
            if job is not None:
                self._generate(job, cursor)
        except TruncatedGzip:
            self._tick(est)
            self._skip(rep, "waiting", "gzip archive still being written")
        finally:
            cursor.close()

    def _plan(
        self,
        probe: _Probe,
        rep: FileReport,
        cands: list[wh.SourceState],
        cursor: _Cursor,
        est: int,
    ) -> _Job | None:
        """Decide which source the file is and where to start reading it."""
        path = str(probe.path)
        matched: wh.SourceState | None = None
        for c in cands:
            tail = cursor.tail_at(c.offset)
            if tail is not None and sources.fingerprint(tail) == c.check:
                matched = c
                break
        fp_len = min(len(probe.head), FINGERPRINT_BYTES)
        fp = sources.fingerprint(probe.head[:fp_len])
        new_generation = False
        if matched is None and cands:
            shrank_here = any(path in c.files for c in cands)
            longer = all(cursor.tail_at(c.offset) is not None for c in cands)
            if shrank_here or longer or self.window is not None:
                if self.window is not None and not (shrank_here or longer):
                    matched = min(cands, key=lambda c: c.generation)
                else:
                    new_generation = True
            else:
                rep.source = cands[0].id
                self._tick(est)
                self._skip(rep, "skipped", "an older or partial copy of an ingested source")
                return None
        if matched is None:
            same = self.by_fp.get((fp_len, fp), [])
            gen = (max(s.generation for s in same) + 1) if same else 0
            if new_generation:
                log.info("%s: content rewritten (copytruncate or recreated): new source", path)
            state = wh.SourceState(
                id=_source_id(fp, gen), fingerprint=fp, fp_len=fp_len, generation=gen,
                check=_EMPTY_CHECK, first_seen=wh._now_iso(),
            )  # fmt: skip
            self._add_source(state)
            old_offset = 0
            new_source = True
        else:
            state = matched
            old_offset = matched.offset
            new_source = False
        rep.source = state.id
        if self.window is None:
            owner = self.path_owner.get(path)  # a path belongs to its latest source
            if owner is not None and owner is not state:
                owner.files.pop(path, None)
            self.path_owner[path] = state
            state.files[path] = {**probe.stat_key(), "length": None}
            job = _Job(probe, rep, state, new_source, start=state.offset)
        else:
            work = self.rebuilt.get(state.id)
            if work is None:
                work = dataclasses.replace(
                    state, offset=0, lines=0, check=_EMPTY_CHECK, ranges=[], files={}
                )
                work.open_tail = False
                self.rebuilt[state.id] = work
            elif work.offset:
                tail = cursor.tail_at(work.offset)
                if tail is None or sources.fingerprint(tail) != work.check:
                    self._tick(est)
                    self._skip(rep, "skipped", "an older or partial copy of a rebuilt source")
                    return None
            job = _Job(probe, rep, work, new_source, start=work.offset, old_offset=old_offset)
        job.estimate = est
        rep.start = job.start
        self.open_jobs[state.id] = job
        self.all_jobs.append(job)
        return job

    def _generate(self, job: _Job, cursor: _Cursor) -> None:
        probe = job.probe
        final = probe.gzip or self.final
        tail = (cursor.tail_at(job.start) or b"") if job.start else b""
        raw_prev = cursor.stream.raw_pos
        try:
            chunks = sources.iter_chunks(
                cursor.blocks_from(job.start),
                start=job.start,
                first_line_no=job.state.lines + 1,
                chunk_bytes=self.chunk_bytes,
                final=final,
                tail=tail,
                split_at=job.old_offset if self.window is not None else None,
                # a pool re-reads plain chunks itself: the parent keeps only their CRC
                keep_data=self.send_data or probe.gzip,
            )
            for chunk in chunks:
                if chunk.start == job.start and job.state.open_tail:
                    log.warning(
                        "%s: grew after it was ingested as final; its next line may be split",
                        probe.path,
                    )
                raw_now = cursor.stream.raw_pos
                step = (raw_now - raw_prev) if probe.gzip else (chunk.end - chunk.start)
                raw_prev = raw_now
                self._submit(job, chunk, step)
        except TruncatedGzip:
            job.truncated = True
        finally:
            job.generated = True
            job.length = cursor.length
        self._advance(job)

    def _submit(self, job: _Job, chunk: Chunk, step: int) -> None:
        while len(self.inflight) >= self.max_inflight:
            self._wait_one()
        window = self.window
        task = ChunkTask(
            warehouse=str(self.root),
            source=job.state.id,
            file=str(job.probe.path),
            start=chunk.start,
            end=chunk.end,
            first_line_no=chunk.first_line_no,
            log_format=self.spec,
            timezone=self.tz,
            ingested_at=self.ingested_at,
            # the chunk holds its bytes, or (cut without them) their CRC for the task to check
            # what it reads back; a task sent to another process gets bytes (it is pickled)
            data=(
                None if chunk.crc is not None
                else chunk.data if self.send_data
                else bytes(chunk.data)
            ),  # fmt: skip
            crc=chunk.crc,
            staging=self.staging,
            window=window,
            outside=window is None or chunk.start >= job.old_offset,
        )
        fut = self.ex.submit(run_chunk, task)
        meta = dataclasses.replace(chunk, data=b"")
        job.pending.append(_Pending(meta, fut, step))
        self.inflight[fut] = job
        if fut.done():
            self._collect(fut)

    def _collect(self, fut: cf.Future[ChunkResult]) -> None:
        job = self.inflight.pop(fut, None)
        if job is not None:
            self._advance(job)

    def _wait_one(self) -> None:
        done, _ = cf.wait(list(self.inflight), return_when=cf.FIRST_COMPLETED)
        for fut in done:
            self._collect(fut)

    def _poll(self) -> None:
        for fut in [f for f in self.inflight if f.done()]:
            self._collect(fut)

    def _drain(self, job: _Job) -> None:
        """Wait for all of a job's chunks and settle it (before its source is matched again)."""
        while True:
            waiting = [p.future for p in job.pending[job.done :]]
            if not waiting:
                break
            cf.wait(waiting, return_when=cf.FIRST_COMPLETED)
            self._advance(job)
        self._advance(job)

    # -- results, verdict, commit --

    def _advance(self, job: _Job) -> None:
        while job.done < len(job.pending) and job.pending[job.done].future.done():
            p = job.pending[job.done]
            self.inflight.pop(p.future, None)
            res = p.future.result()  # a worker's error propagates
            job.results.append(res)
            job.done += 1
            job.reported += p.progress
            self._tick(p.progress)
            rep = job.report
            for line_no, reason, raw in res.sample_rejects:
                if len(rep.first_rejects) < 3:
                    rep.first_rejects.append({"line_no": line_no, "reason": reason, "raw": raw})
            if job.verdict is None:
                job.lines_judged += res.parsed_hits + res.parsed_rejects
                job.rejects_judged += res.parsed_rejects
                if job.lines_judged >= REFUSE_MIN_LINES:
                    job.verdict = job.rejects_judged <= REFUSE_RATIO * job.lines_judged
        if job.verdict is None and job.all_done:
            short_new = job.start == 0 and job.lines_judged > 0
            job.verdict = not short_new or job.rejects_judged <= REFUSE_RATIO * job.lines_judged
        if job.verdict is False:
            self._refuse(job)
        self._commit(job)
        if job.all_done and not job.finished:
            self._finish(job)

    def _commit(self, job: _Job) -> None:
        """Record results in order in the source state; save the manifest (not in a rebuild)."""
        if not job.verdict:
            return
        whole_only = job.probe.gzip or self.window is not None
        if whole_only and not (job.all_done and not job.truncated):
            return
        state = job.state
        rep = job.report
        changed = job.committed < job.done
        for i in range(job.committed, job.done):
            meta, res = job.pending[i].meta, job.results[i]
            state.ranges.append([res.start, res.end, res.hits, res.rejects])
            state.offset = meta.end
            state.lines = meta.first_line_no - 1 + meta.lines
            state.check = meta.check
            state.open_tail = meta.open_tail
            rep.end = meta.end
            rep.lines += meta.lines
            rep.hits += res.hits
            rep.rejects += res.rejects
            self.summary.lines_ingested += res.hits
            self.summary.lines_rejected += res.rejects
            self.summary.bytes_read += res.end - res.start
            self.partitions.update(res.dates)
        job.committed = job.done
        path = str(job.probe.path)
        if job.all_done and not job.truncated and job.length is not None:
            record = {**job.probe.stat_key(), "length": job.length}
            if state.files.get(path) != record:
                state.files[path] = record
                changed = True
        if not changed:
            return
        state.path = path
        state.updated_at = wh._now_iso()
        self.save()

    def _finish(self, job: _Job) -> None:
        job.finished = True
        if self.open_jobs.get(job.state.id) is job:
            del self.open_jobs[job.state.id]
        rep = job.report
        self._tick(job.estimate - job.reported)
        job.reported = job.estimate
        if job.committed == 0 and job.new_source:
            self._drop_source(job.state)
            self.rebuilt.pop(job.state.id, None)
        if job.truncated:
            self._discard(job)
            self._skip(rep, "waiting", "gzip archive still being written")
        elif job.committed == 0:
            if job.new_source:
                self._skip(rep, "waiting", "no complete line yet")
            else:
                self._skip(rep, "skipped", "nothing new")
        else:
            rep.status = (
                "rebuilt" if self.window is not None else "new" if job.new_source else "resumed"
            )
            log.info(
                "%s: %s, lines %d-%d: %d hits, %d rejected",
                rep.path, rep.status, job.pending[0].meta.first_line_no,
                job.state.lines, rep.hits, rep.rejects,
            )  # fmt: skip

    def _discard(self, job: _Job) -> None:
        """Delete the parts of a job's chunks that were not committed."""
        keys = [(job.state.id, p.meta.start, p.meta.end) for p in job.pending[job.committed :]]
        wh.delete_parts(self.root, keys, staging=self.staging)

    def _refuse(self, job: _Job) -> None:
        """Stop the run: wait for running chunks, drop everything uncommitted, raise."""
        for fut in list(self.inflight):
            fut.cancel()
        cf.wait(list(self.inflight))
        self.inflight.clear()
        for other in self.open_jobs.values():
            self._discard(other)
        self._discard(job)
        self.open_jobs.clear()
        if job.new_source:
            self._drop_source(job.state)
        self.save(force=True)
        rep = job.report
        rep.status = "refused"
        samples = "; ".join(
            f"line {r['line_no']}: {r['raw'][:120]!r} ({r['reason']})" for r in rep.first_rejects
        )
        raise IngestRefused(
            f"{rep.path}: {job.rejects_judged} of {job.lines_judged} lines do not match the log "
            f"format {self.spec!r}, which is probably wrong (try --log-format); nothing of this "
            f"file was committed. First rejected: {samples}"
        )

    # -- rebuild --

    def _finish_rebuild(self) -> None:
        assert self.window is not None and self.staging is not None
        for sid, work in self.rebuilt.items():
            old = self.man.sources[sid]
            if work.offset < old.offset:
                raise InputError(
                    f"{old.path}: the files given hold {work.offset} bytes of this source but "
                    f"{old.offset} were already ingested; give its complete file to rebuild"
                )
        for sid, work in self.rebuilt.items():
            old = self.man.sources[sid]
            merged = {(r[0], r[1]): r for r in old.ranges}
            for r in work.ranges:
                merged[(r[0], r[1])] = r
            work.ranges = sorted(merged.values())
            work.files = {**old.files, **work.files}
            work.first_seen = old.first_seen or work.first_seen
            self.man.sources[sid] = work
        dates = wh.stage_and_swap(
            self.root,
            self.man,
            staging=self.staging,
            window=self.window,
            rebuilt=set(self.rebuilt),
        )
        self.summary.rebuilt_dates = dates


def _count(summary: IngestSummary) -> None:
    for rep in summary.files:
        if rep.status == "new":
            summary.files_new += 1
        elif rep.status == "resumed":
            summary.files_resumed += 1
        elif rep.status == "rebuilt":
            summary.files_rebuilt += 1
        elif rep.status == "waiting":
            summary.files_waiting += 1
        elif rep.status == "skipped":
            summary.files_skipped += 1


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
    root = warehouse_path(warehouse)
    if rebuild is not None:
        wh.check_rebuild(root)  # refused on an object store, before anything is touched
    spec = log_format or config.log_format
    _compiled(spec)  # a bad format fails before anything is touched
    files = sources.discover(paths)
    summary = IngestSummary(warehouse=str(root))
    # the local threads for --jobs N (jobs=1 runs each chunk at submit time)
    early = _start_pool(jobs, spec) if executor is None and scheduler is None and jobs > 1 else None
    if chunk_bytes is None:
        local = executor is None and scheduler is None
        chunk_bytes = POOL_CHUNK_BYTES if local else CHUNK_BYTES
    try:
        summary = _ingest_locked(
            files, root=root, summary=summary, early=early, executor=executor,
            scheduler=scheduler, jobs=jobs, spec=spec, config=config, final=final,
            rebuild=rebuild, progress=progress, chunk_bytes=chunk_bytes,
            lock_timeout=lock_timeout, commit_interval=commit_interval,
        )  # fmt: skip
    finally:
        if early is not None:
            early.shutdown(wait=True, cancel_futures=True)
    _count(summary)
    summary.seconds = time.monotonic() - t0
    log.info("%s", summary.line())
    return summary


def _ingest_locked(
    files: list[Path],
    *,
    root: wh.Root,
    summary: IngestSummary,
    early: cf.Executor | None,
    executor: cf.Executor | None,
    scheduler: str | None,
    jobs: int,
    spec: str,
    config: Config,
    final: bool,
    rebuild: tuple[dt.date, dt.date] | None,
    progress: ProgressFn | None,
    chunk_bytes: int,
    lock_timeout: float,
    commit_interval: float,
) -> IngestSummary:
    with wh.locked(root, timeout=lock_timeout):
        manifest = wh.recover(root)
        own = executor is None
        if early is not None:
            ex: cf.Executor = early
        elif own:
            ex = _make_executor(jobs, scheduler=scheduler, warehouse=root, spec=spec)
        else:
            assert executor is not None
            ex = executor
        workers = getattr(ex, "workers", jobs) if own else max(jobs, 2)
        run = _Run(
            root=root,
            manifest=manifest,
            executor=ex,
            max_inflight=2 * workers,
            spec=spec,
            tz=config.timezone,
            final=final,
            window=rebuild,
            chunk_bytes=chunk_bytes,
            progress=progress,
            summary=summary,
            # inline and thread runs share the chunk bytes; a caller's process pool re-reads
            # plain chunks from the page cache (nothing big is pickled), while decompressed
            # .gz content has to travel, and so does every chunk to a cluster (its workers
            # need not see the logs)
            send_data=isinstance(ex, (_InlineExecutor, cf.ThreadPoolExecutor))
            or scheduler is not None,
            commit_interval=commit_interval,
        )
        try:
            run.run(files)
        except BaseException as exc:
            if own:
                ex.shutdown(wait=True, cancel_futures=True)
            if run.staging:
                wh.discard_staging(root, run.staging)
            elif not isinstance(exc, IngestRefused):
                with contextlib.suppress(LogmetricsError, OSError):
                    run.save(force=True)  # keep what was committed before the failure
            # a caller's own process pool (whose module is then loaded: not imported for
            # thread runs, which would cost 0.02 s)
            pools = sys.modules.get("concurrent.futures.process")
            if pools is not None and isinstance(exc, pools.BrokenProcessPool):
                raise LogmetricsError(
                    f"{root}: a parsing process died (out of memory?); what was committed is "
                    "kept, run the ingest again (perhaps with fewer --jobs)"
                ) from exc
            raise
        finally:
            if own:
                ex.shutdown(wait=True)
    return summary


__all__ = [
    "ChunkResult",
    "ChunkTask",
    "FileReport",
    "IngestSummary",
    "date_rejects",
    "ingest",
    "run_chunk",
]
