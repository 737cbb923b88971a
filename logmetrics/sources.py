"""Finding log files and reading them as byte streams that survive rotation and compression.

Discovery (``discover``): each PATH is a file (always taken, whatever its name), a directory or a
glob (``**`` allowed). A directory contributes the regular files *directly inside it* (no
recursion: ``/var/log/nginx`` must not pull in sub-directories of old backups) whose name looks
like an access log: ``*.log``, ``*.gz``, ``*_log``, and rotated names such as ``access.log.1``,
``access.log.2.gz``, ``access.log-20240101``; hidden files and names containing ``error`` are
left out (nginx and Apache keep their error logs next to the access logs). A directory matched
by a glob follows the same rule. A missing path, or a glob matching nothing, is an InputError
(an operator's mistake: nothing is done). A path that exists but cannot be read (a file without
read permission, a directory that cannot be listed) is ``Unreadable``: the others are still
taken, and the caller names it to the operator.

Identity: a source is known by a fingerprint of the first ``FINGERPRINT_BYTES`` bytes of its
*decompressed* content, so ``access.log`` -> ``access.log.1`` -> ``access.log.2.gz`` is one
source. gzip is recognised by its magic bytes, concatenated members are read whole, and a stream
that ends inside a member (``gzip`` still writing) raises ``TruncatedGzip`` so the caller can
retry later instead of half-ingesting it.

Chunking (``iter_chunks``): content is cut into chunks of about ``chunk_bytes`` that end on a
newline, so memory is bounded by the chunk size, not the file size. A last line without its
newline is held back unless the source is final.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import stat
import types
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, UnreadableFile

_inflate_lib: types.ModuleType
try:  # ISA-L's inflate: the same streams, about twice as fast as zlib here
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _inflate_lib = zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_lib.error)

log = logging.getLogger(__name__)

#: How many decompressed bytes identify a source (log shippers use about as many).
FINGERPRINT_BYTES = 1024

#: Size of the blocks read from disk (plain) or fed to zlib (gzip).
READ_BLOCK = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_LOG_NAME = re.compile(
    r"""^(?:
        .*\.(?:log|gz)                       # access.log, site.log, access.log.2.gz
      | .*[._]log[.-]\d[\w.-]*               # access.log.1, access.log-20240101(.gz)
      | .*_log                               # Apache's access_log
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def _last_bytes(pieces: Sequence[Any], n: int) -> bytes:
    """The last ``n`` bytes of the concatenation of ``pieces`` (all of it if shorter)."""
    out: list[bytes] = []
    need = n
    for piece in reversed(pieces):
        if need <= 0:
            break
        out.append(bytes(piece[-need:]) if len(piece) > need else bytes(piece))
        need -= len(out[-1])
    return b"".join(reversed(out))


class TruncatedGzip(Exception):
    """A gzip stream ended inside a member: the archive is still being written."""


def is_log_name(name: str) -> bool:
    """Whether a file found in a directory is taken as an access log (see the module docstring)."""
    if name.startswith(".") or "error" in name.lower():
        return False
    return bool(_LOG_NAME.match(name))


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


@dataclass(frozen=True)
class Unreadable:
    """An existing path that cannot be read this time (``reason``: why); the next run tries again."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Discovered:
    """What the paths given hold: the log files to read, in order, and the unreadable paths."""

    files: list[Path]
    unreadable: list[Unreadable]


def why(exc: OSError) -> str:
    """An OS error as the operator reads it: ``permission denied``, ``is a directory`` ..."""
    return (exc.strerror or str(exc)).lower()


def _dir_files(directory: Path, unreadable: list[Unreadable]) -> list[Path]:
    out: list[Path] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        unreadable.append(Unreadable(directory, f"cannot list directory: {why(exc)}"))
        return out
    for entry in entries:
        if not is_log_name(entry.name):
            continue
        try:
            regular = entry.is_file()
        except FileNotFoundError:  # removed while listed (rotation), or a dangling link
            continue
        except OSError as exc:  # e.g. a link into a directory this user cannot search
            unreadable.append(Unreadable(Path(entry.path), f"cannot stat: {why(exc)}"))
            continue
        if regular:
            out.append(Path(entry.path))
    if not out:
        log.warning("%s: no access log files in this directory", directory)
    return out


def _unreadable_file(path: Path) -> Unreadable | None:
    """Why ``path`` cannot be read, or None when its first byte can be."""
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return Unreadable(path, why(exc))
    return None


def _unlistable_parent(pattern: str) -> Unreadable | None:
    """For a glob matching nothing: the directory before its first wildcard, when that
    directory exists but cannot be listed (a glob silently skips it)."""
    head = Path(pattern)
    while _has_magic(str(head)):
        head = head.parent
    try:
        with os.scandir(head):
            return None
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Unreadable(head, f"cannot list directory: {why(exc)}")


def _candidates(text: str, unreadable: list[Unreadable]) -> list[Path]:
    """The paths one PATH argument names: itself if it exists, else its glob's matches."""
    try:
        os.stat(text)
        return [Path(text)]
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:  # it may exist, behind a directory this user cannot search
        if not _has_magic(text):
            unreadable.append(Unreadable(Path(text), f"cannot stat: {why(exc)}"))
            return []
    if not _has_magic(text):
        raise InputError(f"{text}: no such file or directory")
    matches = sorted(glob.glob(text, recursive=True))
    if not matches:
        parent = _unlistable_parent(text)
        if parent is None:
            raise InputError(f"{text}: no file matches this pattern")
        unreadable.append(parent)
    return [Path(m) for m in matches]


def discover(paths: Sequence[str | Path]) -> Discovered:
    """Expand files, directories and globs into the log files, each once, in given order, and
    the paths that exist but cannot be read (see the module docstring)."""
    if not paths:
        raise InputError("no input path given")
    found: list[Path] = []
    unreadable: list[Unreadable] = []
    for raw in paths:
        for c in _candidates(str(raw), unreadable):
            try:
                mode = c.stat().st_mode
            except FileNotFoundError:  # a glob's match removed since (rotation)
                continue
            except OSError as exc:
                unreadable.append(Unreadable(c, f"cannot stat: {why(exc)}"))
                continue
            if stat.S_ISDIR(mode):
                found.extend(_dir_files(c, unreadable))
            elif stat.S_ISREG(mode):
                found.append(c)
            else:
                raise InputError(f"{c}: not a regular file")
    seen: set[Path] = set()
    unique: list[Path] = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            problem = _unreadable_file(f)
            if problem is None:
                unique.append(f)
            else:
                unreadable.append(problem)
    named = {str(u.path): u for u in unreadable}  # a path given twice is named once
    return Discovered(unique, list(named.values()))


def is_gzip(path: Path) -> bool:
    """Whether a file is gzip-compressed, by its magic bytes (names lie)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise UnreadableFile(str(path), why(exc)) from None


class ByteStream:
    """Decompressed content of one file as blocks, with the compressed position for progress.

    Gzip members are chained (``cat a.gz b.gz`` is one stream); zero padding after the last
    member is ignored; data that is neither is corruption (InputError). A stream that stops
    inside a member raises TruncatedGzip when it reaches EOF.
    """

    def __init__(self, path: Path, *, gzip: bool | None = None, block: int = READ_BLOCK) -> None:
        self.path = path
        self.gzip = is_gzip(path) if gzip is None else gzip
        self.block = block
        self.raw_pos = 0
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()/context manager
        except OSError as exc:
            raise UnreadableFile(str(path), why(exc)) from None

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _read_raw(self, n: int) -> bytes:
        try:
            data = self._fh.read(n)
        except OSError as exc:
            raise UnreadableFile(str(self.path), f"read error: {why(exc)}") from None
        self.raw_pos += len(data)
        return data

    def blocks(self, *, start: int = 0) -> Iterator[bytes]:
        """Yield decompressed content from byte ``start`` on (gzip has to inflate the prefix)."""
        if not self.gzip:
            self._fh.seek(start)
            self.raw_pos = start
            while True:
                data = self._read_raw(self.block)
                if not data:
                    return
                yield data
        else:
            pos = 0
            for data in self._inflate():
                end = pos + len(data)
                if end > start:
                    yield data[max(0, start - pos) :] if pos < start else data
                pos = end

    def _inflate(self) -> Iterator[bytes]:
        self._fh.seek(0)
        self.raw_pos = 0
        d: Any = None  # a decompressor; None between members
        buf = b""
        while True:
            if not buf:
                buf = self._read_raw(self.block)
                if not buf:
                    if d is not None:
                        raise TruncatedGzip(f"{self.path}: gzip stream ends inside a member")
                    return
            if d is None:
                buf = buf.lstrip(b"\x00")  # zero padding after a member is allowed
                if not buf:
                    continue
                if len(buf) < 2:
                    more = self._read_raw(self.block)
                    if not more:
                        raise InputError(f"{self.path}: trailing data after the gzip stream")
                    buf += more
                    continue
                if buf[:2] != _GZIP_MAGIC:
                    raise InputError(f"{self.path}: trailing data after the gzip stream")
                d = _inflate_lib.decompressobj(wbits=31)
            data, buf = buf, b""
            try:
                while True:
                    out = d.decompress(data, self.block * 4)
                    if out:
                        yield out
                    if d.eof:
                        buf, d = d.unused_data, None
                        break
                    data = d.unconsumed_tail
                    if not data:
                        break
            except _INFLATE_ERRORS as exc:
                raise InputError(f"{self.path}: corrupt gzip data: {exc}") from None

    def head(self, n: int = FINGERPRINT_BYTES) -> tuple[bytes, bool]:
        """First ``n`` decompressed bytes and whether the content is known to end there (EOF).

        A truncated gzip shorter than ``n`` gives what it has and ``False``.
        """
        buf = bytearray()
        try:
            for data in self.blocks():
                buf += data
                if len(buf) > n:
                    return bytes(buf[:n]), False
        except TruncatedGzip:
            return bytes(buf[:n]), False
        return bytes(buf[:n]), len(buf) <= n


def fingerprint(data: bytes) -> str:
    """Hex digest identifying content (the first bytes of a source, or a checkpoint window)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A run of complete lines: decompressed bytes [start, end) starting at line ``first_line_no``."""

    start: int
    end: int
    first_line_no: int
    lines: int
    #: the bytes [start, end); empty (``b""``) when the chunks were cut with ``keep_data=False``
    data: bytes
    #: fingerprint of the up-to-FINGERPRINT_BYTES bytes before ``end`` (the resume checkpoint)
    check: str
    #: whether the chunk ends at EOF with a line that has no newline (only when final)
    open_tail: bool = False
    #: zlib.crc32 of the bytes, computed instead of keeping them (``keep_data=False``)
    crc: int | None = None


def iter_chunks(
    blocks: Iterator[bytes],
    *,
    start: int,
    first_line_no: int,
    chunk_bytes: int,
    final: bool,
    tail: bytes = b"",
    split_at: int | None = None,
    keep_data: bool = True,
) -> Iterator[Chunk]:
    """Cut a block stream (beginning at ``start``) into newline-ended chunks of ~``chunk_bytes``.

    ``tail`` is the content just before ``start`` (for the first chunk's checkpoint). With
    ``split_at`` (an offset on a line boundary) no chunk straddles that offset: a rebuild needs
    re-parsed and never-seen content in separate chunks. A final stream's last line without a
    newline becomes its own last bit of the final chunk; otherwise it is held back. With
    ``keep_data=False`` a chunk carries the CRC-32 of its bytes instead of the bytes (a caller
    whose workers re-read them from the file saves a copy of the whole content).
    """
    pos = start
    prev = tail[-FINGERPRINT_BYTES:]
    line_no = first_line_no
    # the content not yet cut, as [block, lo, hi] spans of the blocks it arrived in: a chunk
    # is joined from them once, instead of growing one buffer and copying each chunk out of it
    # (both copies held the GIL, page-faulting fresh memory, while parse threads waited)
    pending: list[list[Any]] = []
    size = 0

    def take(cut: int, open_tail: bool = False) -> Chunk:
        """The chunk of the first ``cut`` pending bytes, removed from ``pending``."""
        nonlocal pos, prev, line_no, size
        pieces: list[Any] = []
        lines = int(open_tail)
        need = cut
        while need:
            block, lo, hi = pending[0]
            end = hi if hi - lo <= need else lo + need
            lines += block.count(b"\n", lo, end)
            pieces.append(block if lo == 0 and end == len(block) else memoryview(block)[lo:end])
            if end == hi:
                pending.pop(0)
            else:
                pending[0][1] = end
            need -= end - lo
        size -= cut
        window = (prev + _last_bytes(pieces, FINGERPRINT_BYTES))[-FINGERPRINT_BYTES:]
        data = b""
        crc = None
        if keep_data:
            data = b"".join(pieces)
        else:
            crc = 0
            for piece in pieces:
                crc = zlib.crc32(piece, crc)
        chunk = Chunk(
            pos, pos + cut, line_no, lines, data, fingerprint(window), open_tail, crc
        )  # fmt: skip
        pos += cut
        prev = window
        line_no += lines
        return chunk

    def limit() -> int:
        if split_at is not None and pos < split_at:
            return min(chunk_bytes, split_at - pos)
        return chunk_bytes

    def last_newline(lim: int) -> int:
        """Index of the last newline in the first ``lim`` pending bytes, or -1."""
        spans = []
        at = 0
        for span in pending:
            if at >= lim:
                break
            spans.append((at, span))
            at += span[2] - span[1]
        for base, (block, lo, hi) in reversed(spans):
            i = block.rfind(b"\n", lo, min(hi, lo + lim - base))
            if i >= 0:
                return base + i - lo
        return -1

    def first_newline(frm: int) -> int:
        """Index of the first newline at or after ``frm`` in the pending bytes, or -1."""
        at = 0
        for block, lo, hi in pending:
            if at + hi - lo > frm:
                i = block.find(b"\n", lo + max(0, frm - at), hi)
                if i >= 0:
                    return at + i - lo
            at += hi - lo
        return -1

    def cut_point(lim: int) -> int:
        """Index after the last newline within ``lim`` bytes (or the first one after), or -1."""
        cut = last_newline(lim)
        if cut < 0:
            cut = first_newline(lim)  # one line longer than a chunk: take it whole
        return cut + 1 if cut >= 0 else -1

    for block in blocks:
        if not block:
            continue
        pending.append([block, 0, len(block)])
        size += len(block)
        while size >= limit():
            cut = cut_point(limit())
            if cut < 0:
                break
            yield take(cut)
    while size:
        cut = cut_point(limit()) if size > limit() else last_newline(size) + 1
        if cut <= 0:
            if final:
                yield take(size, open_tail=True)
            return
        yield take(cut)
