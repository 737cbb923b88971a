"""The ingest run: each file's chunks as tasks, the refusal verdict, the commits, the rebuild.

``run_files`` takes the files in order. For each (``ingest_file``): identify its source and
where its new content starts (``ingest_plan``), cut that content into chunks and submit one
task per chunk (``submit_chunks``); as tasks complete, take their results back in file order
(``settle``), judge the file (``Verdict``: the "mostly failing" rule), record what it judged
good in the source's state and commit the manifest (``commit``), and close the file's job once
every chunk is back (``finish``). A refused file stops the run (``refuse``). A rebuild commits
nothing until every file is read, then swaps its dates in one commit (``rebuild``).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import sources
from .errors import IngestRefused, InputError
from .ingest_plan import (
    GZIP_WRITING,
    LINE_INCOMPLETE,
    Cursor,
    Plan,
    Probe,
    Skip,
    SourceIndex,
    begin,
    estimate,
    identify,
    probe,
    too_short,
    unchanged,
)
from .manifest import Manifest, SourceState, now_iso, save_manifest
from .recovery import delete_parts, stage_and_swap
from .sources import FINGERPRINT_BYTES, Chunk, TruncatedGzip, Unreadable
from .storage import Storage

if TYPE_CHECKING:
    from .ingest import ChunkResult

log = logging.getLogger(__name__)

#: The "mostly fails" rule: refuse when more than this share of the first lines is rejected ...
REFUSE_RATIO = 0.5
#: ... judged on at least this many lines (or all lines of a new, shorter file).
REFUSE_MIN_LINES = 20

ProgressFn = Callable[[int, int], None]

#: The summary line names at most this many waiting files (``--json`` lists them all).
WAITING_NAMED = 3


# --- the summary -----------------------------------------------------------------------------


@dataclass
class FileReport:
    """What happened to one file: new / resumed / rebuilt / skipped / waiting / refused /
    unreadable (not read this time: ``reason`` says why, the next run tries again)."""

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
    files_unreadable: int = 0
    lines_ingested: int = 0
    lines_rejected: int = 0
    #: lines dated before the pruned cutoff, skipped
    lines_pruned: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    partitions: list[str] = field(default_factory=list)
    rebuilt_dates: list[str] | None = None
    files: list[FileReport] = field(default_factory=list)

    @property
    def files_total(self) -> int:
        return len(self.files)

    @property
    def unreadable(self) -> list[FileReport]:
        """The files (or directories) that could not be read this time."""
        return [rep for rep in self.files if rep.status == "unreadable"]

    def tally(self) -> None:
        """Count the files by outcome."""
        for rep in self.files:
            name = f"files_{rep.status}"
            if rep.status in ("new", "resumed", "rebuilt", "waiting", "skipped", "unreadable"):
                setattr(self, name, getattr(self, name) + 1)

    def line(self) -> str:
        """One line for cron mail: files by outcome, lines ingested and rejected, bytes, time,
        and why files wait."""
        parts = [f"{self.files_new} new", f"{self.files_resumed} resumed"]
        if self.files_rebuilt or self.rebuilt_dates is not None:
            parts.append(f"{self.files_rebuilt} rebuilt")
        parts += [f"{self.files_skipped} skipped", f"{self.files_waiting} waiting"]
        if self.files_unreadable:
            parts.append(f"{self.files_unreadable} unreadable")
        text = (
            f"ingest: {self.files_total} file(s) ({', '.join(parts)}); "
            f"{self.lines_ingested:,} lines ingested, {self.lines_rejected:,} rejected; "
            f"{self.bytes_read / 1e6:,.1f} MB in {self.seconds:.1f} s"
        )
        if self.rebuilt_dates is not None:
            text += f"; {len(self.rebuilt_dates)} date(s) rebuilt"
        waiting = [rep for rep in self.files if rep.status == "waiting"]
        if waiting:
            named = ", ".join(f"{rep.path} ({rep.reason})" for rep in waiting[:WAITING_NAMED])
            more = len(waiting) - WAITING_NAMED
            text += f"; waiting: {named}" + (f" and {more} more" if more > 0 else "")
        if self.lines_pruned:
            text += f"; {self.lines_pruned:,} dated in pruned months skipped"
        return text

    def record(self) -> dict[str, Any]:
        """What the manifest keeps of the run (``Manifest.last_ingest``): when it ended (UTC),
        its files by outcome and its line and byte counts."""
        outcomes = Counter(rep.status for rep in self.files)
        return {
            "at": now_iso(),
            "files": self.files_total,
            **{f"files_{s}": outcomes[s] for s in ("new", "resumed", "rebuilt", "skipped",
                                                  "waiting")},
            "lines_ingested": self.lines_ingested,
            "lines_rejected": self.lines_rejected,
            "bytes_read": self.bytes_read,
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable (for ``--json``)."""
        d = dataclasses.asdict(self)
        d["files_total"] = self.files_total
        d["seconds"] = round(self.seconds, 3)
        return d


# --- what a run carries from file to file -----------------------------------------------------


@dataclass
class Progress:
    """Bytes of input done out of the estimated total, reported to ``callback``."""

    callback: ProgressFn | None
    total: int = 0
    done: int = 0

    def _report(self) -> None:
        if self.callback:
            self.callback(self.done, self.total)

    def start(self, total: int) -> None:
        self.total = total
        self._report()

    def tick(self, n: int) -> None:
        self.done = min(self.total, self.done + max(0, n))
        self._report()

    def end(self) -> None:
        self.done = self.total
        self._report()


@dataclass
class Verdict:
    """The "mostly failing" rule for one file: refuse if more than ``REFUSE_RATIO`` of its
    first ``REFUSE_MIN_LINES`` or more new lines are rejected (all lines of a new, shorter
    file; an append of fewer lines to a known source is never refused)."""

    ok: bool | None = None
    lines: int = 0
    rejects: int = 0

    def add(self, result: ChunkResult) -> None:
        if self.ok is None:
            self.lines += result.parsed_hits + result.parsed_rejects
            self.rejects += result.parsed_rejects
            if self.lines >= REFUSE_MIN_LINES:
                self.ok = self.rejects <= REFUSE_RATIO * self.lines

    def close(self, *, new_file: bool) -> None:
        """Every line is in: judge a short file now."""
        if self.ok is None:
            self.ok = not (new_file and self.lines) or self.rejects <= REFUSE_RATIO * self.lines


@dataclass
class Pending:
    """A chunk submitted as a task (its bytes dropped), and its result once taken back."""

    meta: Chunk
    future: cf.Future[ChunkResult]
    progress: int
    result: ChunkResult | None = None


@dataclass
class Job:
    """One file being read: where it starts, its chunks in file order, what was committed."""

    probe: Probe
    report: FileReport
    plan: Plan
    estimate: int
    chunks: list[Pending] = field(default_factory=list)
    done: int = 0  # results taken back, in order
    committed: int = 0  # results recorded in the source's state, in order
    generated: bool = False  # every chunk submitted
    truncated: bool = False  # a .gz still being written: nothing of it is committed
    length: int | None = None  # decompressed length, once read to EOF
    verdict: Verdict = field(default_factory=Verdict)
    reported: int = 0  # progress counted so far
    finished: bool = False

    @property
    def state(self) -> SourceState:
        return self.plan.state

    @property
    def all_done(self) -> bool:
        return self.generated and self.done == len(self.chunks)


@dataclass(frozen=True)
class Settings:
    """What is the same for every file of a run."""

    spec: str
    final: bool
    chunk_bytes: int
    #: tasks get the chunk's bytes (else, for plain files, a CRC to check what they re-read)
    send_data: bool
    max_inflight: int
    commit_interval: float
    #: the chunk tasks shorten client addresses (``[privacy] anonymize_ip``)
    anonymize_ip: bool = False
    #: a rebuild's date window and staging area
    window: tuple[dt.date, dt.date] | None = None
    staging: str | None = None
    #: lines dated before this day are skipped (the days before it are pruned)
    keep_from: dt.date | None = None


@dataclass
class Run:
    """The state of one ingest: the sources, the tasks in flight, the files' jobs."""

    storage: Storage
    manifest: Manifest
    settings: Settings
    #: submits a chunk's task: (job, chunk) -> future of its ChunkResult
    submit: Callable[[Job, Chunk], cf.Future[ChunkResult]]
    summary: IngestSummary
    progress: Progress
    index: SourceIndex = field(init=False)
    #: a rebuild's re-read state of each source, by id (None: not a rebuild)
    rebuilt: dict[str, SourceState] | None = field(init=False)
    open_jobs: dict[str, Job] = field(default_factory=dict)
    inflight: dict[cf.Future[ChunkResult], Job] = field(default_factory=dict)
    partitions: set[str] = field(default_factory=set)
    last_save: float = 0.0

    def __post_init__(self) -> None:
        self.index = SourceIndex(self.manifest)
        self.rebuilt = {} if self.settings.window is not None else None


# --- the steps ---------------------------------------------------------------------------------


def run_files(run: Run, files: list[Path]) -> None:
    """Ingest ``files`` in order, then commit what is left (a rebuild: swap its dates). A file
    that cannot be read is reported "unreadable" and the others are ingested."""
    probes: list[Probe] = []
    for f in files:
        found = probe(f, final=run.settings.final)
        if isinstance(found, Unreadable):
            note_unreadable(run.summary, found)
        else:
            probes.append(found)
    rebuild = run.rebuilt is not None
    run.progress.start(sum(estimate(p, run.index, rebuild=rebuild) for p in probes))
    for p in probes:
        ingest_file(run, p)
        _collect(run, [f for f in run.inflight if f.done()])
    while run.inflight:
        done, _ = cf.wait(list(run.inflight), return_when=cf.FIRST_COMPLETED)
        _collect(run, done)
    for job in list(run.open_jobs.values()):
        settle(run, job)
    run.manifest.last_ingest = run.summary.record()  # committed by the last save or the swap
    if rebuild:
        run.summary.rebuilt_dates = rebuild_dates(run)
    else:
        save(run, force=True)
    run.summary.partitions = sorted(run.partitions)
    run.progress.end()


def note_unreadable(summary: IngestSummary, what: Unreadable) -> None:
    """A path that could not be read: in the summary, and logged (the CLI names it on stderr)."""
    summary.files.append(FileReport(str(what.path), "unreadable", what.reason))
    log.info("%s: unreadable (%s)", what.path, what.reason)


def ingest_file(run: Run, p: Probe) -> None:
    """Identify one file's source and submit its new content as chunk tasks (or skip it)."""
    report = FileReport(path=str(p.path))
    run.summary.files.append(report)
    est = estimate(p, run.index, rebuild=run.rebuilt is not None)
    skip = too_short(p)
    if skip is not None:
        return _skip(run, report, skip, est)
    for c in run.index.candidates(p.head):  # a file of the same source may still be running
        job = run.open_jobs.get(c.id)
        if job is not None:
            drain(run, job)
    candidates = run.index.candidates(p.head)
    skip = unchanged(p, candidates) if run.rebuilt is None else None
    if skip is not None:
        return _skip(run, report, skip, est)
    with Cursor(p) as cursor:
        try:
            found = identify(p, candidates, cursor, run.index, rebuild=run.rebuilt is not None)
            if isinstance(found, Skip):
                return _skip(run, report, found, est)
            plan = begin(p, *found, index=run.index, cursor=cursor, rebuilt=run.rebuilt)
            if isinstance(plan, Skip):
                return _skip(run, report, plan, est)
            report.source, report.start = plan.state.id, plan.start
            job = Job(p, report, plan, est)
            run.open_jobs[plan.state.id] = job
            submit_chunks(run, job, cursor)
        except TruncatedGzip:
            _skip(run, report, Skip("waiting", GZIP_WRITING), est)


def _skip(run: Run, report: FileReport, skip: Skip, estimate: int) -> None:
    if skip.source is not None:
        report.source = skip.source
    _mark(report, skip.status, skip.reason)
    run.progress.tick(estimate)


def _mark(report: FileReport, status: str, reason: str) -> None:
    report.status, report.reason = status, reason
    log.info("%s: %s (%s)", report.path, status, reason)


def submit_chunks(run: Run, job: Job, cursor: Cursor) -> None:
    """Cut the file's content from the job's start into chunks of whole lines, one task each."""
    p, settings = job.probe, run.settings
    tail = (cursor.tail_at(job.plan.start) or b"") if job.plan.start else b""
    raw_prev = cursor.stream.raw_pos
    try:
        chunks = sources.iter_chunks(
            cursor.blocks_from(job.plan.start),
            start=job.plan.start,
            first_line_no=job.state.lines + 1,
            chunk_bytes=settings.chunk_bytes,
            final=p.final,
            tail=tail,
            split_at=job.plan.old_offset if run.rebuilt is not None else None,
            # a pool re-reads plain chunks itself: the parent keeps only their CRC
            keep_data=settings.send_data or p.gzip,
        )
        for chunk in chunks:
            if chunk.start == job.plan.start and job.state.open_tail:
                log.warning("%s: grew after it was ingested as final; its next line may be split",
                            p.path)  # fmt: skip
            raw_now = cursor.stream.raw_pos
            step = (raw_now - raw_prev) if p.gzip else (chunk.end - chunk.start)
            raw_prev = raw_now
            _submit(run, job, chunk, step)
    except TruncatedGzip:
        job.truncated = True
    finally:
        job.generated = True
        job.length = cursor.length
    settle(run, job)


def _submit(run: Run, job: Job, chunk: Chunk, step: int) -> None:
    while len(run.inflight) >= run.settings.max_inflight:
        done, _ = cf.wait(list(run.inflight), return_when=cf.FIRST_COMPLETED)
        _collect(run, done)
    fut = run.submit(job, chunk)
    job.chunks.append(Pending(dataclasses.replace(chunk, data=b""), fut, step))
    run.inflight[fut] = job
    if fut.done():
        _collect(run, [fut])


def _collect(run: Run, futures: Iterable[cf.Future[ChunkResult]]) -> None:
    for fut in futures:
        job = run.inflight.pop(fut, None)
        if job is not None:
            settle(run, job)


def drain(run: Run, job: Job) -> None:
    """Wait for all of a job's chunks and settle it (before its source is matched again)."""
    while waiting := [p.future for p in job.chunks[job.done :]]:
        cf.wait(waiting, return_when=cf.FIRST_COMPLETED)
        settle(run, job)
    settle(run, job)


def settle(run: Run, job: Job) -> None:
    """Take back the job's completed results in file order, judge the file, commit, finish."""
    while job.done < len(job.chunks) and job.chunks[job.done].future.done():
        pending = job.chunks[job.done]
        run.inflight.pop(pending.future, None)
        res = pending.result = pending.future.result()  # a worker's error propagates
        job.done += 1
        job.reported += pending.progress
        run.progress.tick(pending.progress)
        for line_no, reason, raw in res.sample_rejects:
            if len(job.report.first_rejects) < 3:
                job.report.first_rejects.append({"line_no": line_no, "reason": reason, "raw": raw})
        job.verdict.add(res)
    if job.all_done:
        job.verdict.close(new_file=job.plan.start == 0)
    if job.verdict.ok is False:
        refuse(run, job)
    commit(run, job)
    if job.all_done and not job.finished:
        finish(run, job)


def commit(run: Run, job: Job) -> None:
    """Record the results taken back, in order, in the source's state, and save the manifest
    (not in a rebuild). A .gz, and every file of a rebuild, commits only once wholly read."""
    if not job.verdict.ok:
        return
    if (job.probe.gzip or run.rebuilt is not None) and not (job.all_done and not job.truncated):
        return
    changed = job.committed < job.done
    for pending in job.chunks[job.committed : job.done]:
        _record(run, job, pending)
    job.committed = job.done
    state = job.state
    if state.fp_len < FINGERPRINT_BYTES <= min(state.offset, len(job.probe.head)):
        run.index.regrow(state, job.probe.head)  # a short source grown past 1024 bytes
        changed = True
    path = str(job.probe.path)
    if job.all_done and not job.truncated and job.length is not None:
        seen = {**job.probe.stat_key(), "length": job.length}
        if job.state.files.get(path) != seen:
            job.state.files[path] = seen
            changed = True
    if changed:
        job.state.path = path
        job.state.updated_at = now_iso()
        save(run)


def _record(run: Run, job: Job, pending: Pending) -> None:
    """One chunk's result into the source's state, the file's report and the summary."""
    meta, res, state, rep, summary = (
        pending.meta,
        pending.result,
        job.state,
        job.report,
        run.summary,
    )
    assert res is not None
    # every committed range stored with shortened addresses (a source's first range decides)
    state.anonymized = run.settings.anonymize_ip and (state.anonymized or not state.ranges)
    state.ranges.append([res.start, res.end, res.hits, res.rejects])
    state.offset = meta.end
    state.lines = meta.first_line_no - 1 + meta.lines
    state.check = meta.check
    state.open_tail = meta.open_tail
    rep.end = meta.end
    rep.lines += meta.lines
    rep.hits += res.hits
    rep.rejects += res.rejects
    summary.lines_ingested += res.hits
    summary.lines_rejected += res.rejects
    summary.lines_pruned += res.pruned
    summary.bytes_read += res.end - res.start
    run.partitions.update(res.dates)


def save(run: Run, *, force: bool = False) -> None:
    """Commit the manifest, at most once per ``commit_interval`` unless forced (archives of
    many files); never during a rebuild, whose one commit is the swap."""
    if run.rebuilt is not None:
        return
    now = time.monotonic()
    if force or now - run.last_save >= run.settings.commit_interval:
        # a source whose first chunk is still pending has nothing to record yet
        live = {k: v for k, v in run.manifest.sources.items() if v.ranges}
        save_manifest(run.storage, dataclasses.replace(run.manifest, sources=live))
        run.last_save = now


def finish(run: Run, job: Job) -> None:
    """Every chunk of the file is back: say what happened to it."""
    job.finished = True
    if run.open_jobs.get(job.state.id) is job:
        del run.open_jobs[job.state.id]
    run.progress.tick(job.estimate - job.reported)
    job.reported = job.estimate
    if job.committed == 0 and job.plan.new_source:
        run.index.drop(job.state)
        if run.rebuilt is not None:
            run.rebuilt.pop(job.state.id, None)
    rep = job.report
    if job.truncated:
        discard(run, job)
        _mark(rep, "waiting", GZIP_WRITING)
    elif job.committed == 0:
        held = (job.length or 0) > job.plan.start  # content, but no complete line of it
        _mark(rep, *(("waiting", LINE_INCOMPLETE) if held else ("skipped", "nothing new")))
    else:
        rep.status = (
            "rebuilt" if run.rebuilt is not None else "new" if job.plan.new_source else "resumed"
        )
        log.info(
            "%s: %s, lines %d-%d: %d hits, %d rejected",
            rep.path, rep.status, job.chunks[0].meta.first_line_no,
            job.state.lines, rep.hits, rep.rejects,
        )  # fmt: skip


def discard(run: Run, job: Job) -> None:
    """Delete the parts of a job's chunks that were not committed."""
    keys = [(job.state.id, p.meta.start, p.meta.end) for p in job.chunks[job.committed :]]
    delete_parts(run.storage, keys, staging=run.settings.staging)


def refuse(run: Run, job: Job) -> None:
    """Stop the run: wait for running chunks, drop everything uncommitted, raise."""
    for fut in list(run.inflight):
        fut.cancel()
    cf.wait(list(run.inflight))
    run.inflight.clear()
    for other in run.open_jobs.values():
        discard(run, other)
    discard(run, job)
    run.open_jobs.clear()
    if job.plan.new_source:
        run.index.drop(job.state)
    save(run, force=True)
    rep = job.report
    rep.status = "refused"
    samples = "; ".join(
        f"line {r['line_no']}: {r['raw'][:120]!r} ({r['reason']})" for r in rep.first_rejects
    )
    raise IngestRefused(
        f"{rep.path}: {job.verdict.rejects} of {job.verdict.lines} lines do not match the log "
        f"format {run.settings.spec!r}, which is probably wrong (try --log-format); nothing of "
        f"this file was committed. First rejected: {samples}"
    )


def rebuild_dates(run: Run) -> list[str]:
    """The rebuild's commit: each re-read source keeps its earlier ranges (their parts still
    hold its hits on the other dates) plus the new ones, then the dates are swapped. A source
    the files given hold less of than was ingested refuses the whole rebuild (InputError)."""
    assert run.rebuilt is not None and run.settings.window and run.settings.staging
    sources_ = run.manifest.sources
    for sid, work in run.rebuilt.items():
        old = sources_[sid]
        if work.offset < old.offset:
            raise InputError(
                f"{old.path}: the files given hold {work.offset} bytes of this source but "
                f"{old.offset} were already ingested; give its complete file to rebuild"
            )
    for sid, work in run.rebuilt.items():
        old = sources_[sid]
        merged = {(r[0], r[1]): r for r in old.ranges}
        merged.update({(r[0], r[1]): r for r in work.ranges})
        work.ranges = sorted(merged.values())
        work.files = {**old.files, **work.files}
        # the old parts still hold the dates outside the window, as they were stored
        work.anonymized = work.anonymized and (old.anonymized or not old.ranges)
        work.first_seen = old.first_seen or work.first_seen
        sources_[sid] = work
    return stage_and_swap(
        run.storage, run.manifest, staging=run.settings.staging, window=run.settings.window,
        rebuilt=set(run.rebuilt),
    )  # fmt: skip


__all__ = [
    "REFUSE_MIN_LINES",
    "REFUSE_RATIO",
    "FileReport",
    "IngestSummary",
    "Job",
    "Progress",
    "Run",
    "Settings",
    "note_unreadable",
    "run_files",
]
