"""Where a warehouse's files live: one small protocol, a local directory and an object store.

The manifest, the lock, the ingest and the readers talk to a ``Storage`` only; this module is
the one place that tells a directory from a bucket (``open_storage``). Keys are "/"-separated
paths relative to the warehouse's root (``manifest.json``, ``hits/date=2022-03-10/part-….parquet``).

What every store guarantees:

- ``write`` and ``writing`` are atomic: a reader finds nothing, the old content or the new one
  (locally: temp file, fsync, rename, directory fsync, also safe from power cuts; else a PUT).
  ``create`` writes only if nothing is there (a hard link locally, ``If-None-Match: *``).
- ``rename`` moves a key, or everything under a prefix, in one step: only where
  ``can_rename`` (object stores cannot).
- ``lock`` lets one holder in at a time. Locally ``fcntl.flock`` (the kernel releases it when
  the holder dies, even on SIGKILL); in an object store an object created only if absent and
  deleted when done: nothing releases a killed holder's, so the error names it.
- ``location`` and ``storage_options`` say how polars reads a Parquet file: a path, or a URL
  whose credentials come from the standard environment.
- Local directories are bookkeeping: made when a file is written, never listed, and removed
  by ``tidy`` once empty. ``tidy`` also deletes the temp files of writes a crash interrupted;
  it runs only while nothing writes (under the lock, before any task).
"""

from __future__ import annotations

import builtins
import concurrent.futures as cf
import contextlib
import datetime as dt
import errno
import fcntl
import importlib
import io
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, TypeVar

from .errors import ConfigError, LogmetricsError, WarehouseError, WarehouseLocked

T = TypeVar("T")
R = TypeVar("R")

#: Names of local temp files: never listed, removed by ``tidy``.
TMP_PREFIX = ".tmp-"


class Storage(Protocol):
    """The operations a warehouse needs from the place its files live."""

    @property
    def url(self) -> str:
        """How messages name the store: its directory, or ``s3://bucket/prefix``."""

    @property
    def can_rename(self) -> bool:
        """Whether ``rename`` works (a rebuild swaps partitions with it)."""

    @property
    def entry(self) -> str:
        """What messages call one stored item: "file" or "object"."""

    @property
    def description(self) -> str:
        """What messages call the warehouse: "a local warehouse", "an object-store warehouse"."""

    @property
    def shared_hint(self) -> str:
        """What every Dask worker must see, for the error of a worker that does not."""

    @property
    def storage_options(self) -> dict[str, Any] | None:
        """Polars' ``storage_options`` for ``location``s (None: the standard environment)."""

    def location(self, key: str) -> str:
        """The path or URL of a key: what polars reads and messages name."""

    def list(self, prefix: str = "") -> dict[str, int]:
        """Every stored key under ``prefix`` (or the key itself), with its size in bytes."""

    def read(self, key: str) -> bytes | None:
        """A key's bytes, None if nothing is stored there."""

    def size(self, key: str) -> int | None:
        """A key's size in bytes, None if nothing is stored there."""

    def modified(self, key: str) -> float | None:
        """When a key was last written (seconds since the epoch), None if absent."""

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically."""

    def writing(self, key: str) -> contextlib.AbstractContextManager[str | IO[bytes]]:
        """Where to write a key's bytes (a path or a binary buffer: pyarrow takes either);
        stored atomically when the block ends without an error."""

    def create(self, key: str, data: bytes) -> bool:
        """Store ``data`` only if nothing is at ``key``; False if something was."""

    def delete(self, keys: Iterable[str]) -> None:
        """Remove keys (absent ones are fine)."""

    def rename(self, src: str, dst: str) -> None:
        """Move a key or everything under a prefix to ``dst`` (which holds nothing) at once."""

    def copy(self, src: str, dst: str) -> None:
        """Make ``dst`` hold what ``src`` holds (a hard link where the store has them)."""

    def tidy(self, prefix: str = "") -> int:
        """Remove what interrupted writes left under ``prefix``; the number of items removed."""

    def lock(self, key: str, *, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold the lock ``key``; wait up to ``timeout`` s for another holder, then
        WarehouseLocked naming it."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> builtins.list[R]:
        """``fn`` over ``items``, several at once where the store answers each slowly."""

    def io(self, what: str, key: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Turn a failure of the store inside the block into one WarehouseError line."""


def io_reason(exc: BaseException) -> str:
    """The operator-facing cause of a storage failure, in one line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    for known in ("No space left on device", "Disk quota exceeded", "Permission denied",
                  "Read-only file system"):  # fmt: skip
        if known in text:
            return known
    return text[:200]


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _holder_error(where: str, held: str, timeout: float, hint: str = "") -> WarehouseLocked:
    return WarehouseLocked(
        f"{where}: another ingest is running ({held or 'unknown process'}); "
        f"waited {timeout:g} s, try again later{hint}"
    )


# --- a local directory ---------------------------------------------------------------------


def _fsync(path: Path) -> None:
    """fsync a file or directory by name: its data, or its entries (a rename, a new file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """mkdir -p that also makes each new directory entry durable."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    _fsync(path.parent)


@dataclass(frozen=True)
class LocalStorage:
    """A warehouse in a directory (local, or a shared mount every Dask worker sees)."""

    root: Path

    can_rename: ClassVar[bool] = True
    entry: ClassVar[str] = "file"
    description: ClassVar[str] = "a local warehouse"
    shared_hint: ClassVar[str] = "it must be on storage every worker sees at the same path"
    storage_options: ClassVar[dict[str, Any] | None] = None

    @property
    def url(self) -> str:
        return str(self.root)

    def __str__(self) -> str:
        return self.url

    def _path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def location(self, key: str) -> str:
        return str(self._path(key))

    @contextlib.contextmanager
    def io(self, what: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            where = self.location(key) if key is not None else self.url
            raise WarehouseError(f"{where}: cannot {what}: {io_reason(exc)}") from None

    def list(self, prefix: str = "") -> dict[str, int]:
        base = self._path(prefix)
        out: dict[str, int] = {}
        with self.io("list", prefix):
            if base.is_file():
                return {prefix: base.stat().st_size}
            self._walk(base, f"{prefix}/" if prefix else "", out)
        return out

    def _walk(self, directory: Path | str, rel: str, out: dict[str, int]) -> None:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in entries:
            if e.name.startswith(TMP_PREFIX):
                continue
            try:
                if e.is_dir():
                    self._walk(e.path, f"{rel}{e.name}/", out)
                elif e.is_file():
                    out[rel + e.name] = e.stat().st_size
            except FileNotFoundError:  # removed meanwhile
                continue

    def read(self, key: str) -> bytes | None:
        with self.io("read", key):
            try:
                return self._path(key).read_bytes()
            except FileNotFoundError:
                return None

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except OSError:
            return None

    def modified(self, key: str) -> float | None:
        try:
            return self._path(key).stat().st_mtime
        except OSError:
            return None

    def _tmp(self, path: Path) -> Path:
        return path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    @contextlib.contextmanager
    def writing(self, key: str) -> Iterator[str]:
        """A temp path next to the key's; fsynced and renamed into place after the block."""
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            _ensure_dir(path.parent)
            yield str(tmp)
            _fsync(tmp)
            os.replace(tmp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):  # pyarrow's I/O errors (a full disk) are OSErrors
                raise WarehouseError(f"{path}: cannot write: {io_reason(exc)}") from None
            raise
        _fsync(path.parent)

    def write(self, key: str, data: bytes) -> None:
        with self.writing(key) as tmp:
            Path(tmp).write_bytes(data)

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._tmp(path)
        with self.io("write", key):
            try:
                _ensure_dir(path.parent)
                tmp.write_bytes(data)
                _fsync(tmp)
                os.link(tmp, path)  # fails if the key exists: a complete file or none
            except FileExistsError:
                return False
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            _fsync(path.parent)
        return True

    def delete(self, keys: Iterable[str]) -> None:
        parents: set[Path] = set()
        for key in keys:
            path = self._path(key)
            with self.io("delete", key), contextlib.suppress(FileNotFoundError):
                path.unlink()
                parents.add(path.parent)
        for parent in parents:
            with contextlib.suppress(OSError):
                _fsync(parent)

    def rename(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        with self.io(f"rename to {target}", src):
            _ensure_dir(target.parent)
            os.replace(source, target)
            _fsync(target.parent)
            if source.parent != target.parent:
                _fsync(source.parent)

    def copy(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        with self.io(f"copy to {target}", src):
            _ensure_dir(target.parent)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
                _fsync(target)
            _fsync(target.parent)

    def tidy(self, prefix: str = "") -> int:
        """Delete temp files and empty directories under ``prefix`` (never the root)."""
        removed = 0
        for directory, _, files in os.walk(self._path(prefix), topdown=False):
            for name in files:
                if name.startswith(TMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(directory, name))
                    removed += 1
            if Path(directory) != self.root:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # only if empty
        return removed

    @contextlib.contextmanager
    def lock(self, key: str, *, timeout: float) -> Iterator[None]:
        """``fcntl.flock`` on ``key``, which holds the holder's pid while it runs."""
        path = self._path(key)
        try:
            _ensure_dir(self.root)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WarehouseError(
                f"{self.root}: cannot create the warehouse: {exc.strerror or exc}"
            ) from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise WarehouseError(f"{path}: cannot lock: {exc}") from None
                    if time.monotonic() >= deadline:
                        held = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                        raise _holder_error(self.url, held, timeout) from None
                    time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {_now_iso()}\n".encode(), 0)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> builtins.list[R]:
        return [fn(item) for item in items]


# --- an object store (``--warehouse s3://bucket/prefix``) -----------------------------------

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_LOCAL_PROTOCOLS = ("file", "local")
#: Protocols a warehouse may use: the lock needs an atomic exclusive create (``If-None-Match:
#: *``), and the report reads the parts with polars' own cloud reader. Verified for S3 only.
OBJECT_PROTOCOLS = ("s3", "s3a")
#: The pip extra that brings each protocol's fsspec driver.
_EXTRA = {"s3": "logmetrics[s3]", "s3a": "logmetrics[s3]"}
#: Concurrent requests for ``map`` (reading many parts' footers, sizes).
_REQUESTS = 16


def _check_protocol(protocol: str, url: str) -> None:
    """The protocol is supported and its fsspec driver importable, else one ConfigError line."""
    if protocol not in OBJECT_PROTOCOLS:
        raise ConfigError(
            f"{url}: the {protocol}:// protocol is not supported for a warehouse (use "
            f"{', '.join(p + '://' for p in OBJECT_PROTOCOLS)} or a shared path)"
        )
    install = f"install it with: pip install '{_EXTRA[protocol]}'"
    try:
        from fsspec.registry import known_implementations
    except ImportError:
        raise ConfigError(f"{url}: object-store warehouses need fsspec; {install}") from None
    module = known_implementations[protocol]["class"].rsplit(".", 1)[0]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{url}: a {protocol}:// warehouse needs the {module.split('.')[0]} package; {install}"
        ) from None


class ObjectStorage:
    """A warehouse in an object store, named by an fsspec URL (``s3://bucket/prefix``).

    Pickles as its URL: a worker makes its own filesystem from its own environment (standard
    credentials: ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, profiles, instance roles, …),
    which polars reads too.
    """

    can_rename: ClassVar[bool] = False
    entry: ClassVar[str] = "object"
    description: ClassVar[str] = "an object-store warehouse"
    shared_hint: ClassVar[str] = (
        "every worker must reach the same object store (check its endpoint and credentials there)"
    )
    storage_options: ClassVar[dict[str, Any] | None] = None

    def __init__(self, url: str) -> None:
        m = _URL.match(url)
        if not m:
            raise ConfigError(f"{url!r} is not a URL like s3://bucket/prefix")
        self.protocol = m.group(1).lower()
        self.path = m.group(2).strip("/")
        self.url = f"{self.protocol}://{self.path}"
        _check_protocol(self.protocol, url)
        if not self.path:
            raise ConfigError(f"{url}: name a bucket (and a prefix): s3://bucket/prefix")
        self._fs: Any = None

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"ObjectStorage({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectStorage) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ObjectStorage, (self.url,))

    @property
    def fs(self) -> Any:
        """The fsspec filesystem, without a listings cache (other processes write too)."""
        if self._fs is None:
            import fsspec

            with self.io("connect"):
                self._fs = fsspec.filesystem(self.protocol, use_listings_cache=False)
        return self._fs

    def _key(self, key: str) -> str:
        """The object key (bucket/prefix/...) of a key inside the warehouse."""
        return f"{self.path}/{key}" if key else self.path

    def location(self, key: str) -> str:
        return f"{self.protocol}://{self._key(key)}"

    @contextlib.contextmanager
    def io(self, what: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (LogmetricsError, FileExistsError):
            raise
        except Exception as exc:  # noqa: BLE001 - drivers raise OSError, botocore's own, aiohttp's
            where = self.location(key) if key is not None else self.url
            reason = io_reason(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            raise WarehouseError(
                f"{where}: cannot {what}: {' '.join(str(reason).split())[:300]}"
            ) from None

    def list(self, prefix: str = "") -> dict[str, int]:
        base = self._key(prefix)
        with self.io("list", prefix):
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                return {}
        start = len(self.path) + 1
        return {
            k[start:]: int(v.get("size") or 0)
            for k, v in found.items()
            if v.get("type") != "directory" and (k == base or k.startswith(base + "/"))
        }

    def _get(self, key: str, fn: Callable[[str], Any]) -> Any:
        """``fn`` of the object's key, None if there is no such object."""
        with self.io("read", key):
            try:
                return fn(self._key(key))
            except FileNotFoundError:
                return None

    def read(self, key: str) -> bytes | None:
        data = self._get(key, self.fs.cat_file)
        return None if data is None else bytes(data)

    def size(self, key: str) -> int | None:
        size = self._get(key, self.fs.size)
        return None if size is None else int(size)

    def modified(self, key: str) -> float | None:
        stamp = self._get(key, self.fs.modified)
        return None if stamp is None else float(stamp.timestamp())

    def write(self, key: str, data: bytes) -> None:
        """One PUT: the object is absent, the old one or complete, never partial."""
        with self.io("write", key):
            self.fs.pipe_file(self._key(key), data)

    @contextlib.contextmanager
    def writing(self, key: str) -> Iterator[IO[bytes]]:
        """A buffer, PUT as one object after the block."""
        buf = io.BytesIO()
        yield buf
        self.write(key, buf.getvalue())

    def create(self, key: str, data: bytes) -> bool:
        """``If-None-Match: *``; False if the object exists."""
        with self.io("write", key):
            try:
                self.fs.pipe_file(self._key(key), data, mode="create")
            except FileExistsError:
                return False
        return True

    def delete(self, keys: Iterable[str]) -> None:
        doomed = [self._key(k) for k in keys]
        if doomed:
            with self.io("delete", doomed[0][len(self.path) + 1 :]):
                self.fs.rm(doomed)

    def rename(self, src: str, dst: str) -> None:
        raise NotImplementedError(f"{self.url}: an object store has no rename (see can_rename)")

    def copy(self, src: str, dst: str) -> None:
        with self.io(f"copy to {self.location(dst)}", src):
            self.fs.copy(self._key(src), self._key(dst))

    def tidy(self, prefix: str = "") -> int:
        """Nothing to do: a PUT leaves no temp object, and there are no directories."""
        return 0

    @contextlib.contextmanager
    def lock(self, key: str, *, timeout: float) -> Iterator[None]:
        """An object created only if absent, holding host, pid and start time; deleted when
        done. Nothing releases it if the holder dies (unlike flock): the error names it, for
        an operator who knows no ingest runs to delete."""
        body = (
            f"host {socket.gethostname()} pid {os.getpid()} since {_now_iso()} "
            f"token {uuid.uuid4().hex}\n"
        ).encode()
        deadline = time.monotonic() + timeout
        # a store that ignored If-None-Match would overwrite a held lock: look first, and
        # read back what was written
        while not (self.read(key) is None and self.create(key, body) and self.read(key) == body):
            if time.monotonic() >= deadline:
                held = (self.read(key) or b"").decode("utf-8", "replace")
                hint = (
                    f" (if no ingest is running, it was killed: delete the stale lock "
                    f"{self.location(key)} and run again)"
                )
                raise _holder_error(self.url, held.split(" token ")[0].strip(), timeout, hint)
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        try:
            yield
        finally:
            # only our own lock: an operator may have cleared it and another ingest taken it
            with contextlib.suppress(LogmetricsError):
                if self.read(key) == body:
                    self.delete([key])

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> builtins.list[R]:
        todo = list(items)
        if len(todo) <= 1:
            return [fn(item) for item in todo]
        with cf.ThreadPoolExecutor(min(_REQUESTS, len(todo))) as pool:
            return list(pool.map(fn, todo))


# --- from a --warehouse value ----------------------------------------------------------------


def open_storage(where: str | Path | Storage) -> Storage:
    """The store a ``--warehouse`` value names: a directory (also ``file://`` URLs), or an
    object store for another URL (ConfigError if its protocol or driver is missing)."""
    if not isinstance(where, str | Path):
        return where
    m = _URL.match(str(where)) if isinstance(where, str) else None
    if m and m.group(1).lower() in _LOCAL_PROTOCOLS:
        return LocalStorage(Path(m.group(2)))
    if m:
        return ObjectStorage(str(where))
    return LocalStorage(Path(where))

