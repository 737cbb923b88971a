"""The ingest's steps before any parsing: probe a file, identify its source, find where to start.

A source is a log's content, whatever its file is called: it is recognised by the fingerprint
of its first 1024 decompressed bytes (a shorter file: of the bytes ``Probe.ident`` says, until
it grows past 1024 and ``SourceIndex.regrow`` gives it the usual fingerprint), and a file
continues it only if its bytes just before the committed offset still match
(``SourceState.check``). The module docstring of ``ingest`` states the decisions an operator
relies on; each is one branch of ``too_short``, ``unchanged``, ``identify`` or ``begin`` here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from . import sources
from .errors import UnreadableFile
from .manifest import Manifest, SourceState, now_iso
from .sources import FINGERPRINT_BYTES, ByteStream, Unreadable

log = logging.getLogger(__name__)

_EMPTY_CHECK = sources.fingerprint(b"")

#: Why a file waits (the summary line says it).
GZIP_WRITING = "gzip archive still being written"
LINE_INCOMPLETE = "last line incomplete"


@dataclass(frozen=True)
class Probe:
    """What a file is before it is read: its stat, whether it is gzip, its first bytes."""

    path: Path
    gzip: bool
    size: int
    mtime_ns: int
    ino: int
    head: bytes
    head_eof: bool
    #: a closed archive (a .gz, or ``--final``): its last line ends at EOF
    final: bool = False

    def stat_key(self) -> dict[str, int | None]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ino": self.ino}

    @property
    def ident(self) -> bytes:
        """The bytes a new source of this file is known by: its first 1024; all of a shorter
        final file; a shorter open file's complete lines (its last line may still grow)."""
        if len(self.head) >= FINGERPRINT_BYTES or self.final:
            return self.head
        return self.head[: self.head.rfind(b"\n") + 1]


def probe(path: Path, *, final: bool = False) -> Probe | Unreadable:
    """What ``path`` is (``final``: ``--final``, the files are closed), or why it cannot be read
    (it was removed or its permissions changed since discovery)."""
    try:
        st = path.stat()
        with ByteStream(path, block=64 << 10) as s:
            head, eof = s.head(FINGERPRINT_BYTES)
            gz = s.gzip
    except OSError as exc:
        return Unreadable(path, sources.why(exc))
    except UnreadableFile as exc:
        return Unreadable(path, exc.reason)
    return Probe(path, gz, st.st_size, st.st_mtime_ns, st.st_ino, head, eof, final=gz or final)


class Cursor:
    """Random access to plain content, forward-only to gzip content (re-inflating if needed)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.stream = ByteStream(probe.path, gzip=probe.gzip)
        self.length: int | None = None  # decompressed length, once EOF was seen
        self._it: Iterator[bytes] | None = None
        self._pos = 0
        self._buf = b""  # content from _pos on, already inflated
        self._win = b""  # the bytes just before _pos (up to FINGERPRINT_BYTES)
        self._restart_needed = False

    def __enter__(self) -> Cursor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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

    def matches(self, offset: int, check: str) -> bool:
        """Whether the content goes on to ``offset`` and its bytes before it are ``check``'s."""
        tail = self.tail_at(offset)
        return tail is not None and sources.fingerprint(tail) == check

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


# --- the manifest's sources, indexed ------------------------------------------------------------


def _source_id(fp: str, generation: int) -> str:
    if generation == 0:
        return fp[:16]
    return hashlib.sha256(f"{fp}:{generation}".encode()).hexdigest()[:16]


class SourceIndex:
    """The manifest's sources by fingerprint and by path, so that archives of thousands of
    files stay linear. Adding and dropping sources changes the manifest's ``sources`` too."""

    def __init__(self, manifest: Manifest) -> None:
        self.sources = manifest.sources
        self._by_fp: dict[tuple[int, str], list[SourceState]] = {}
        self._owner: dict[str, SourceState] = {}
        for state in manifest.sources.values():
            self.add(state)
            for path in state.files:
                self._owner[path] = state

    def add(self, state: SourceState) -> None:
        self.sources[state.id] = state
        self._by_fp.setdefault((state.fp_len, state.fingerprint), []).append(state)

    def drop(self, state: SourceState) -> None:
        self.sources.pop(state.id, None)
        same = self._by_fp.get((state.fp_len, state.fingerprint), [])
        if state in same:
            same.remove(state)
        for path in state.files:
            if self._owner.get(path) is state:
                del self._owner[path]

    def regrow(self, state: SourceState, head: bytes) -> None:
        """A source first known by fewer bytes has grown past ``FINGERPRINT_BYTES``: from now on
        it is known by its first 1024 (``head``), like every other source; its id stays."""
        key = (state.fp_len, state.fingerprint)
        same = self._by_fp.get(key, [])
        indexed = any(s is state for s in same)
        if indexed:
            same.remove(state)
        state.fp_len = FINGERPRINT_BYTES
        state.fingerprint = sources.fingerprint(head[:FINGERPRINT_BYTES])
        if indexed:  # a rebuild's working copy is not indexed
            self._by_fp.setdefault((state.fp_len, state.fingerprint), []).append(state)

    def candidates(self, head: bytes) -> list[SourceState]:
        """The sources whose fingerprint this file's first bytes have, furthest read first."""
        out = []
        for n in {n for n, _ in self._by_fp if n <= len(head)}:
            out += self._by_fp.get((n, sources.fingerprint(head[:n])), [])
        return sorted(out, key=lambda s: (-s.offset, s.generation))

    def new_source(self, ident: bytes, *, rewritten: bool, path: Path) -> SourceState:
        """A source for content not seen before (the next generation of its fingerprint), known
        by ``ident`` (``Probe.ident``)."""
        fp_len = min(len(ident), FINGERPRINT_BYTES)
        fp = sources.fingerprint(ident[:fp_len])
        same = self._by_fp.get((fp_len, fp), [])
        gen = (max(s.generation for s in same) + 1) if same else 0
        if rewritten:
            log.info("%s: content rewritten (copytruncate or recreated): new source", path)
        state = SourceState(
            id=_source_id(fp, gen), fingerprint=fp, fp_len=fp_len, generation=gen,
            check=_EMPTY_CHECK, first_seen=now_iso(),
        )  # fmt: skip
        self.add(state)
        return state

    def claim(self, probe: Probe, state: SourceState) -> None:
        """The file now belongs to ``state`` (a path belongs to its latest source)."""
        path = str(probe.path)
        owner = self._owner.get(path)
        if owner is not None and owner is not state:
            owner.files.pop(path, None)
        self._owner[path] = state
        state.files[path] = {**probe.stat_key(), "length": None}


def estimate(probe: Probe, index: SourceIndex, *, rebuild: bool) -> int:
    """The bytes this file will make the progress advance by: what it holds beyond its
    source's committed offset (all of it for .gz, whose compressed bytes count)."""
    if probe.gzip or rebuild:
        return probe.size
    best = max([s.offset for s in index.candidates(probe.head) if s.offset <= probe.size] or [0])
    return max(0, probe.size - best)


# --- the decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """A file not read this time: ``status`` is "skipped" or "waiting", ``reason`` says why."""

    status: str
    reason: str
    source: str | None = None


@dataclass(frozen=True)
class Plan:
    """Where a file's new content begins: the state its chunks commit to, and the offset."""

    state: SourceState
    new_source: bool
    start: int
    #: rebuild: how much of the source the warehouse held before
    old_offset: int = 0


def too_short(probe: Probe) -> Skip | None:
    """A file shorter than 1024 bytes is read now, known by ``Probe.ident``; it waits only if
    that is nothing yet (a .gz still being written, a first line not complete), and an empty
    file is skipped."""
    head = probe.head
    if len(head) >= FINGERPRINT_BYTES:
        return None
    if not probe.head_eof:
        return Skip("waiting", GZIP_WRITING)
    if not head:
        return Skip("skipped", "empty file")
    if not probe.ident:
        return Skip("waiting", LINE_INCOMPLETE)
    return None


def unchanged(probe: Probe, candidates: list[SourceState]) -> Skip | None:
    """A file unchanged since it was read to its end, all of it committed: no need to read it."""
    for c in candidates:
        seen = c.files.get(str(probe.path))
        if (
            seen is not None
            and seen.get("length") is not None
            and {k: seen.get(k) for k in ("size", "mtime_ns", "ino")} == probe.stat_key()
            and int(seen["length"] or 0) <= c.offset
        ):
            return Skip("skipped", "unchanged since last ingest", c.id)
    return None


def identify(
    probe: Probe, candidates: list[SourceState], cursor: Cursor, index: SourceIndex, *,
    rebuild: bool,
) -> tuple[SourceState, bool] | Skip:  # fmt: skip
    """Which source the file continues (and whether that source is new), or why it is skipped.

    A candidate whose committed bytes the file still holds is continued. Otherwise the file is
    new content (a new generation of the fingerprint) if it was rewritten at the same path or
    is longer than every candidate; a shorter copy adds nothing. A rebuild re-reads such a copy
    as the candidate's oldest generation.
    """
    for c in candidates:
        if cursor.matches(c.offset, c.check):
            return c, False
    rewritten = False
    if candidates:
        shrank_here = any(str(probe.path) in c.files for c in candidates)
        longer = all(cursor.tail_at(c.offset) is not None for c in candidates)
        if not (shrank_here or longer or rebuild):
            return Skip(
                "skipped", "an older or partial copy of an ingested source", candidates[0].id
            )
        if rebuild and not (shrank_here or longer):
            return min(candidates, key=lambda c: c.generation), False
        rewritten = True
    return index.new_source(probe.ident, rewritten=rewritten, path=probe.path), True


def begin(
    probe: Probe,
    state: SourceState,
    new_source: bool,
    *,
    index: SourceIndex,
    cursor: Cursor,
    rebuilt: dict[str, SourceState] | None,
) -> Plan | Skip:
    """Where to start reading. A nightly ingest resumes at the source's committed offset; a
    rebuild (``rebuilt``: the sources it re-reads, by id) reads each source from its start,
    into a state of its own, and a second file of the same source must continue that."""
    if rebuilt is None:
        index.claim(probe, state)
        return Plan(state, new_source, state.offset)
    work = rebuilt.get(state.id)
    if work is None:
        work = dataclasses.replace(
            state, offset=0, lines=0, check=_EMPTY_CHECK, ranges=[], files={}, open_tail=False
        )
        rebuilt[state.id] = work
    elif work.offset and not cursor.matches(work.offset, work.check):
        return Skip("skipped", "an older or partial copy of a rebuilt source", state.id)
    return Plan(work, new_source, work.offset, old_offset=0 if new_source else state.offset)


__all__ = [
    "GZIP_WRITING",
    "LINE_INCOMPLETE",
    "Cursor",
    "Probe",
    "Skip",
    "SourceIndex",
    "Plan",
    "begin",
    "estimate",
    "identify",
    "probe",
    "too_short",
    "unchanged",
]
