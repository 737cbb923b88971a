"""The Parquet warehouse: layout, manifest, lock, crash-safe writes, and the readers.

Layout (docs/design.md)::

    WAREHOUSE/
      hits/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet     # Lima date of the hit
      rejects/date=YYYY-MM-DD/part-<source>-<start>-<end>.parquet  # see "Rejects" below
      manifest.json                                                # committed after the data
      .lock                                                        # held by a running ingest
      .staging/<run>/                                              # a rebuild being prepared

``<source>`` is the source id (hex), ``<start>-<end>`` the decompressed byte range of the chunk
(zero-padded), so a re-run of the same range rewrites the same names instead of adding copies.

Commit protocol. A part is written to ``.tmp-*``, fsynced, renamed into place, and its directory
fsynced. The manifest lists, per source, the byte ranges committed; it is replaced atomically
(temp file, fsync, rename, directory fsync) only after the parts it lists are durable. Readers
(``scan_hits``, ``scan_rejects``, ``ingest_stats``) see only parts whose (source, range) the
manifest lists, so a crashed run's leftovers are invisible; the next ingest deletes them under
the lock before doing anything else (``recover``).

Lock. ``.lock`` is taken with ``fcntl.flock`` (released by the kernel if the holder dies, even on
SIGKILL). A second ingest polls for ``timeout`` seconds (default 10) and then raises
WarehouseLocked, naming the holder's pid, with exit code 75 (EX_TEMPFAIL) so cron retries later.

Rebuild swap. A rebuild prepares whole date partitions under ``.staging/<run>/`` and commits by
writing the manifest with a ``pending_swap`` record (staging dir + dates) together with the new
source ranges: that write is the atomic commit point. The partitions are then swapped by
renames and the record cleared. Readers that see the record read the staged directories that
are not swapped yet, and a crash after the commit point is rolled forward by the next ingest.
(A report that lists a staged directory just before it is renamed fails and must be re-run; it
never reads a mix of old and new partitions.)

Object stores. ``--warehouse s3://bucket/prefix`` (``ObjectStore``: fsspec with s3fs) keeps the
same layout and manifest; only the mechanics differ. A PUT is atomic, so a part is one PUT under
its deterministic name (a retried task overwrites it with the same bytes), and the manifest is
one PUT by the client once the parts it lists exist: still the commit point. Readers list the
partitions and keep the parts the manifest lists, so a part written by a task whose ingest never
committed is not read; ``recover`` deletes such parts under the lock. The lock is an object
created only if absent (``If-None-Match: *``), holding host, pid and start time, and deleted at
the end; nothing releases the lock of a killed ingest, so WarehouseLocked names the object to
delete once the operator knows no ingest runs. A rebuild, which swaps partitions by renames, is
refused (ConfigError). The readers use polars' own cloud reader: ranged GETs of the footers and
of the selected columns, in the listed partitions only. Credentials and endpoint come from the
standard environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, instance roles), which s3fs and polars both read.

Rejects. A rejected line is dated by the timestamp found in its raw text (``[10/Mar/2022:...]``
or ISO 8601) when there is one, else by the nearest parsed hit of the same chunk, else by the
ingest time; all in America/Lima. Dating by content (not ingest time) keeps re-runs identical and
lets a rebuild replace a date range's rejects with its hits.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import errno
import fcntl
import importlib
import io
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._lazy import LazyModule
from .errors import ConfigError, LogmetricsError, WarehouseError, WarehouseLocked
from .formats import HEAD_TYPES, REJECTS_TYPES, TAIL_TYPES, lazy_schemas

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
else:
    pl = LazyModule("polars", globals(), "pl")
    pa = LazyModule("pyarrow", globals(), "pa")

log = logging.getLogger(__name__)

HITS = "hits"
REJECTS = "rejects"
MANIFEST = "manifest.json"
LOCK = ".lock"
STAGING = ".staging"
MANIFEST_VERSION = 1

if TYPE_CHECKING:
    #: The hits columns every reader can rely on (``date`` comes from the partition
    #: directory) and the rejects columns, as polars types (built on first use, so an ingest,
    #: which never reads, does not import polars).
    HITS_SCHEMA: dict[str, pl.DataType]
    REJECTS_SCHEMA: dict[str, pl.DataType]


_schema = __getattr__ = lazy_schemas(
    globals(),
    HITS_SCHEMA={c: t for c, t in {**HEAD_TYPES, **TAIL_TYPES}.items() if c != "date"},
    REJECTS_SCHEMA=REJECTS_TYPES,
)

_EXTRA_PREFIXES = ("req_", "resp_", "cookie_")
_PART = re.compile(r"^part-([0-9a-f]+)-(\d+)-(\d+)\.parquet$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")

PartKey = tuple[str, int, int]
T = TypeVar("T")


# --- names and durable writes --------------------------------------------------------------


def part_name(source: str, start: int, end: int) -> str:
    """Deterministic part file name for a source's byte range (a re-run overwrites, never adds)."""
    return f"part-{source}-{start:013d}-{end:013d}.parquet"


def parse_part_name(name: str) -> PartKey | None:
    m = _PART.match(name)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def fsync_path(path: Path) -> None:
    """fsync a file or directory by name: a written file's data, or a directory's entries (a
    rename or a new entry in it) reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fsync_path(path)


def ensure_dir(path: Path) -> None:
    """mkdir -p that also makes each new directory entry durable."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


#: How every part is written, local or in an object store, by pyarrow's writer: zstd level 1
#: (3x faster to write than the default level, ~15% larger); dictionary encoding for text and
#: status (it costs no more time than plain text and halves most text columns: few distinct
#: values, or a few thousand repeated ones); plain numbers and times, with statistics (readers
#: other than logmetrics can skip row groups by them). No Arrow schema is stored: every reader
#: maps the Parquet types themselves (the parse's string views stay an in-memory detail).
PLAIN_COLUMNS = ("ts", "bytes", "request_time", "offset", "line_no", "ingested_at")
STATISTICS_COLUMNS = ("ts", "status", "bytes", "request_time", "offset", "line_no", "ingested_at")


def write_parquet(table: pa.Table, where: str | io.BytesIO) -> None:
    """Write one part (pyarrow writes without holding the GIL, so ``--jobs`` threads overlap)."""
    import pyarrow.parquet as pq

    names = table.column_names
    pq.write_table(
        table, where, compression="zstd", compression_level=1, store_schema=False,
        use_dictionary=[c for c in names if c not in PLAIN_COLUMNS],
        write_statistics=[c for c in names if c in STATISTICS_COLUMNS],
    )  # fmt: skip


def write_parquet_durably(table: pa.Table, path: Path) -> None:
    """Temp name, fsync, rename, directory fsync: the part is either absent or complete."""
    ensure_dir(path.parent)
    tmp = _tmp_name(path)
    try:
        write_parquet(table, str(tmp))
        fsync_path(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # pyarrow's I/O errors (a full disk) are OSErrors
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WarehouseError(f"{path}: cannot write: {_io_reason(exc)}") from None
    fsync_dir(path.parent)


def _io_reason(exc: BaseException) -> str:
    """The operator-facing cause of a write failure, in one line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    for known in ("No space left on device", "Disk quota exceeded", "Permission denied",
                  "Read-only file system"):  # fmt: skip
        if known in text:
            return known
    return text[:200]


def _write_json_durably(obj: Any, path: Path) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WarehouseError(f"{path}: cannot write: {_io_reason(exc)}") from None
    fsync_dir(path.parent)


# --- object stores (``--warehouse s3://bucket/prefix``) ----------------------------------------

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_LOCAL_PROTOCOLS = ("file", "local")
#: Protocols a warehouse may use: the lock needs an atomic exclusive create (``If-None-Match:
#: *``), and the report reads the parts with polars' own cloud reader. Verified for S3 only.
OBJECT_PROTOCOLS = ("s3", "s3a")
#: The pip extra that brings each protocol's fsspec driver.
_EXTRA = {"s3": "logmetrics[s3]", "s3a": "logmetrics[s3]"}
#: Concurrent requests when reading many parts' footers (schemas, row counts).
_FOOTER_THREADS = 16


def is_url(warehouse: object) -> bool:
    """Whether ``warehouse`` is a URL with a protocol other than a local file one."""
    if not isinstance(warehouse, str):
        return False
    m = _URL.match(warehouse)
    return bool(m) and m.group(1).lower() not in _LOCAL_PROTOCOLS  # type: ignore[union-attr]


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


class ObjectStore:
    """A warehouse in an object store, named by an fsspec URL (``s3://bucket/prefix``).

    Pickles as its URL: a worker makes its own filesystem from its own environment (standard
    credentials: ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, profiles, instance roles, …).
    """

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
        return f"ObjectStore({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectStore) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ObjectStore, (self.url,))

    @property
    def fs(self) -> Any:
        """The fsspec filesystem, without a listings cache (other processes write too)."""
        if self._fs is None:
            import fsspec

            with self.io("connect"):
                self._fs = fsspec.filesystem(self.protocol, use_listings_cache=False)
        return self._fs

    def key(self, *parts: str) -> str:
        """The object key (bucket/prefix/...) of a path inside the warehouse."""
        return "/".join((self.path, *parts))

    def url_of(self, key: str) -> str:
        return f"{self.protocol}://{key}"

    @contextlib.contextmanager
    def io(self, what: str, key: str | None = None) -> Iterator[None]:
        """Turn a storage failure into one WarehouseError line naming the object."""
        try:
            yield
        except (LogmetricsError, FileExistsError):
            raise
        except Exception as exc:  # noqa: BLE001 - drivers raise OSError, botocore's own, aiohttp's
            where = self.url_of(key) if key else self.url
            reason = _io_reason(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            raise WarehouseError(
                f"{where}: cannot {what}: {' '.join(str(reason).split())[:300]}"
            ) from None

    def read(self, key: str) -> bytes | None:
        """An object's bytes, None if it does not exist."""
        with self.io("read", key):
            try:
                return bytes(self.fs.cat_file(key))
            except FileNotFoundError:
                return None

    def write(self, key: str, data: bytes) -> None:
        """One PUT: the object is either absent, the old one, or complete (never partial)."""
        with self.io("write", key):
            self.fs.pipe_file(key, data)

    def create(self, key: str, data: bytes) -> None:
        """Create only if absent (``If-None-Match: *``); FileExistsError if it exists."""
        with self.io("write", key):
            self.fs.pipe_file(key, data, mode="create")

    def delete(self, keys: list[str]) -> None:
        if keys:
            with self.io("delete", keys[0]):
                self.fs.rm(keys)

    def listing(self, *parts: str) -> dict[str, int]:
        """Every object under a path of the warehouse: key -> size."""
        with self.io("list", self.key(*parts)):
            try:
                found = self.fs.find(self.key(*parts), detail=True)
            except FileNotFoundError:
                return {}
        return {
            k: int(v.get("size") or 0) for k, v in found.items() if v.get("type") != "directory"
        }


#: A warehouse: a local directory or an object store.
Root = Path | ObjectStore


def as_root(warehouse: str | Path | ObjectStore) -> Root:
    """A local path, or an ObjectStore for a URL (``file://`` URLs are local paths)."""
    if isinstance(warehouse, ObjectStore | Path):
        return warehouse
    m = _URL.match(warehouse)
    if m and m.group(1).lower() in _LOCAL_PROTOCOLS:
        return Path(m.group(2))
    if m:
        return ObjectStore(warehouse)
    return Path(warehouse)


def _store(warehouse: str | Path | ObjectStore) -> ObjectStore | None:
    if isinstance(warehouse, ObjectStore):
        return warehouse
    return ObjectStore(warehouse) if isinstance(warehouse, str) and is_url(warehouse) else None


def _local(warehouse: str | Path | ObjectStore) -> Path:
    """A local warehouse's directory (once ``_store`` said it is not an object store)."""
    assert not isinstance(warehouse, ObjectStore)
    return Path(warehouse)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    write_parquet(table, buf)
    return buf.getvalue()


def _store_parts(store: ObjectStore, kind: str) -> list[tuple[dt.date, str, str, int]]:
    """(date, part name, key, size) of every object in ``kind``'s date partitions."""
    prefix = store.key(kind) + "/"
    out = []
    for key, size in store.listing(kind).items():
        directory, _, name = key[len(prefix) :].partition("/")
        m = _DATE_DIR.match(directory)
        if key.startswith(prefix) and m and "/" not in name:
            out.append((dt.date.fromisoformat(m.group(1)), name, key, size))
    return sorted(out)


def committed_objects(
    store: ObjectStore,
    kind: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    manifest: Manifest | None = None,
) -> list[tuple[dt.date, PartKey, str, int]]:
    """The committed parts of ``kind`` in an object store: (date, key, URL, size), date order.

    Only parts whose (source, range) the manifest lists: an object written by a task whose
    ingest never committed is not read.
    """
    man = manifest if manifest is not None else load_manifest(store)
    committed = man.committed()
    out = []
    for d, name, key, size in _store_parts(store, kind):
        if (start is not None and d < start) or (end is not None and d > end):
            continue
        pk = parse_part_name(name)
        if pk is not None and pk in committed:
            out.append((d, pk, store.url_of(key), size))
    return out


@contextlib.contextmanager
def _locked_store(store: ObjectStore, timeout: float) -> Iterator[None]:
    """The object-store lock: an object created only if absent, deleted when done.

    Nothing releases it if the holder dies (unlike flock): the error names it so that an
    operator who knows no ingest is running can delete it.
    """
    key = store.key(LOCK)
    body = (
        f"host {socket.gethostname()} pid {os.getpid()} since {_now_iso()} "
        f"token {uuid.uuid4().hex}\n"
    ).encode()
    deadline = time.monotonic() + timeout
    while True:
        try:
            # a store that ignored If-None-Match would overwrite a held lock: look first, and
            # read back what was written
            if store.read(key) is None:
                store.create(key, body)
                if store.read(key) == body:
                    break
        except FileExistsError:
            pass
        if time.monotonic() >= deadline:
            held = store.read(key) or b""
            holder = held.decode("utf-8", "replace").split(" token ")[0].strip()
            raise WarehouseLocked(
                f"{store.url}: another ingest is running ({holder or 'unknown process'}); "
                f"waited {timeout:g} s, try again later (if no ingest is running, it was killed: "
                f"delete the stale lock {store.url_of(key)} and run again)"
            )
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        # only our own lock: an operator may have cleared it and another ingest taken it
        with contextlib.suppress(LogmetricsError):
            if store.read(key) == body:
                store.delete([key])


def _recover_store(store: ObjectStore) -> Manifest:
    """Under the lock: delete every part no manifest lists, and the staging area."""
    manifest = load_manifest(store)
    if manifest.pending_swap:
        raise WarehouseError(
            f"{store.url}: the manifest records a rebuild swap, which an object store cannot hold"
        )
    committed = manifest.committed()
    doomed = []
    for kind in (HITS, REJECTS):
        for _, name, key, _ in _store_parts(store, kind):
            pk = parse_part_name(name)
            if pk is None or pk not in committed:
                doomed.append(key)
    staged = list(store.listing(STAGING))
    store.delete(doomed + staged)
    if doomed:
        log.info(
            "%s: removed %d uncommitted object(s) left by an interrupted ingest",
            store.url, len(doomed),
        )  # fmt: skip
    return manifest


def check_rebuild(warehouse: Root) -> None:
    """A rebuild needs renames to swap partitions: refused on an object store (ConfigError)."""
    if isinstance(warehouse, ObjectStore):
        raise ConfigError(
            f"--rebuild: {warehouse.url}: rebuilding is not supported on an object-store "
            "warehouse (it swaps partitions by renames); rebuild into a local warehouse and "
            "copy it to a new prefix"
        )


def discard_staging(warehouse: Root, staging: str) -> None:
    """Delete a rebuild's staging area (best effort)."""
    if isinstance(warehouse, ObjectStore):
        with contextlib.suppress(LogmetricsError):
            warehouse.delete(list(warehouse.listing(staging)))
        return
    shutil.rmtree(Path(warehouse) / staging, ignore_errors=True)


def exists(warehouse: Root) -> bool:
    """Whether there is a warehouse: a directory, or an object store with a manifest."""
    if isinstance(warehouse, ObjectStore):
        return warehouse.read(warehouse.key(MANIFEST)) is not None
    return Path(warehouse).is_dir()


def manifest_mtime(warehouse: Root) -> float | None:
    """When the manifest was last written (seconds since the epoch), None without one."""
    if isinstance(warehouse, ObjectStore):
        key = warehouse.key(MANIFEST)
        with warehouse.io("read", key):
            try:
                stamp = warehouse.fs.modified(key)
            except FileNotFoundError:
                return None
        return float(stamp.timestamp())
    path = manifest_path(Path(warehouse))
    return path.stat().st_mtime if path.exists() else None


# --- manifest ------------------------------------------------------------------------------


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class SourceState:
    """What the warehouse holds of one source (one log file's content, whatever its name)."""

    id: str
    fingerprint: str
    fp_len: int
    generation: int = 0
    #: committed decompressed offset: just after a newline, or EOF of a final source
    offset: int = 0
    lines: int = 0
    #: fingerprint of the up-to-1024 bytes before ``offset``: content must still match to resume
    check: str = ""
    #: the last commit ended at EOF on a line without newline (final)
    open_tail: bool = False
    path: str = ""
    #: committed chunks: [start, end, hits, rejects]
    ranges: list[list[int]] = field(default_factory=list)
    #: path -> {"size", "mtime_ns", "ino", "length"} as last seen (``length``: decompressed size
    #: when the whole file was read, so an unchanged .gz is skipped without inflating it)
    files: dict[str, dict[str, int | None]] = field(default_factory=dict)
    first_seen: str = ""
    updated_at: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SourceState:
        return cls(**d)


@dataclass
class Manifest:
    """The committed state: every source's ranges, and a rebuild swap not finished yet."""

    sources: dict[str, SourceState] = field(default_factory=dict)
    pending_swap: dict[str, Any] | None = None
    updated_at: str = ""

    def committed(self) -> set[PartKey]:
        keys: set[PartKey] = set()
        for s in self.sources.values():
            for r in s.ranges:
                keys.add((s.id, r[0], r[1]))
        return keys

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "updated_at": self.updated_at,
            "pending_swap": self.pending_swap,
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
        }


def manifest_path(root: Path) -> Path:
    return Path(root) / MANIFEST


def load_manifest(root: str | Path | ObjectStore) -> Manifest:
    """Read ``manifest.json`` (an absent one is an empty warehouse); corruption is an error."""
    store = _store(root)
    if store is not None:
        raw = store.read(store.key(MANIFEST))
        if raw is None:
            return Manifest()
        return _parse_manifest(raw.decode("utf-8", "replace"), store.url_of(store.key(MANIFEST)))
    path = manifest_path(_local(root))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        raise WarehouseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _parse_manifest(text, path)


def _parse_manifest(text: str, path: str | Path) -> Manifest:
    try:
        data = json.loads(text)
        if data.get("version") != MANIFEST_VERSION:
            raise WarehouseError(
                f"{path}: manifest version {data.get('version')!r} is not {MANIFEST_VERSION}"
            )
        sources = {k: SourceState.from_json(v) for k, v in data["sources"].items()}
        return Manifest(sources, data.get("pending_swap"), data.get("updated_at", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WarehouseError(f"{path}: corrupt manifest ({exc})") from None


def save_manifest(root: str | Path | ObjectStore, manifest: Manifest) -> None:
    """Atomically replace the manifest: the commit point of everything it lists."""
    manifest.updated_at = _now_iso()
    store = _store(root)
    if store is not None:  # one PUT: readers see the old manifest or the new one
        text = json.dumps(
            manifest.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )
        store.write(store.key(MANIFEST), (text + "\n").encode("utf-8"))
        return
    _write_json_durably(manifest.to_json(), manifest_path(_local(root)))


# --- lock ----------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(root: str | Path | ObjectStore, *, timeout: float = 10.0) -> Iterator[None]:
    """Hold the warehouse lock; wait up to ``timeout`` s for another ingest, then WarehouseLocked."""
    store = _store(root)
    if store is not None:
        with _locked_store(store, timeout):
            yield
        return
    root = _local(root)
    try:
        ensure_dir(root)
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WarehouseError(
            f"{root}: cannot create the warehouse: {exc.strerror or exc}"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise WarehouseError(f"{root / LOCK}: cannot lock: {exc}") from None
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    raise WarehouseLocked(
                        f"{root}: another ingest is running ({holder or 'unknown process'}); "
                        f"waited {timeout:g} s, try again later"
                    ) from None
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


# --- partitions and committed parts ---------------------------------------------------------


def _date_dirs(base: Path) -> dict[dt.date, Path]:
    out: dict[dt.date, Path] = {}
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return out
    for e in entries:
        m = _DATE_DIR.match(e.name)
        if m and e.is_dir():
            out[dt.date.fromisoformat(m.group(1))] = Path(e.path)
    return out


def _partition_dirs(
    root: Path, kind: str, manifest: Manifest, start: dt.date | None, end: dt.date | None
) -> dict[dt.date, Path]:
    """Date -> directory a reader should use, honouring a committed but unfinished swap."""
    dirs = _date_dirs(root / kind)
    swap = manifest.pending_swap
    if swap:
        staged = root / swap["staging"] / kind
        for d in swap.get(kind, []):
            p = staged / f"date={d}"
            if p.is_dir():
                dirs[dt.date.fromisoformat(d)] = p
    return {
        d: p
        for d, p in sorted(dirs.items())
        if (start is None or d >= start) and (end is None or d <= end)
    }


def committed_parts(
    root: str | Path,
    kind: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    manifest: Manifest | None = None,
) -> list[tuple[dt.date, PartKey, Path]]:
    """The committed part files of ``kind`` with Lima dates in [start, end], in date order."""
    root = Path(root)
    man = manifest if manifest is not None else load_manifest(root)
    committed = man.committed()
    out: list[tuple[dt.date, PartKey, Path]] = []
    for d, directory in _partition_dirs(root, kind, man, start, end).items():
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            continue
        for name in names:
            key = parse_part_name(name)
            if key is not None and key in committed:
                out.append((d, key, directory / name))
    return out


# --- writing a chunk's parts (runs in the task's thread or worker) ---------------------------


def _as_table(frame: pa.Table | pl.DataFrame) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def column_values(column: pa.ChunkedArray, dtype: Any) -> Any:
    """A fixed-width Arrow column's values as one numpy array (nulls hold arbitrary values).

    Why not ``to_numpy()``: for a chunked column pyarrow imports pandas (~0.3 s) to do it.
    """
    import numpy as np

    size = np.dtype(dtype).itemsize
    parts = [np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * size)
             for c in column.chunks if len(c)]  # fmt: skip
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _by_date(table: pa.Table) -> list[tuple[dt.date, pa.Table]]:
    """Split on the ``date`` column (dropped), keeping each date's rows in order.

    A time-ordered log's chunk holds runs of one or two dates: each run is a slice (no
    copying); the runs of a date that comes back (lines logged out of order around midnight)
    are concatenated, still without copying or pyarrow.compute.
    """
    import numpy as np

    col = table.column("date")
    if col.null_count:
        raise ValueError("write_chunk_parts: rows without a date")
    days = column_values(col, np.int32)
    table = table.drop_columns(["date"])
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    runs: dict[int, list[pa.Table]] = {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        if b > a:
            runs.setdefault(int(days[a]), []).append(table.slice(a, b - a))
    epoch = dt.date(1970, 1, 1)
    return [
        (epoch + dt.timedelta(days=day), parts[0] if len(parts) == 1 else
         pa.concat_tables(parts))
        for day, parts in runs.items()
    ]  # fmt: skip


def write_chunk_parts(
    root: str | Path | ObjectStore,
    *,
    source: str,
    start: int,
    end: int,
    hits: pa.Table | pl.DataFrame,
    rejects: pa.Table | pl.DataFrame,
    staging: str | None = None,
    window: tuple[dt.date, dt.date] | None = None,
    outside: bool = True,
) -> tuple[int, int, list[str]]:
    """Write one chunk's hits and rejects as one part per Lima date; (hits, rejects, dates).

    Both tables (or polars frames) carry a ``date`` column, which becomes the partition
    directory. For a rebuild,
    dates inside ``window`` go to the ``staging`` directory, and the others to the live
    partitions only if ``outside`` (content the warehouse never had), else they are dropped.
    """
    store = _store(root)
    if store is not None and (staging is not None or window is not None):
        check_rebuild(store)
    name = part_name(source, start, end)
    written_hits = written_rejects = 0
    dates: set[str] = set()
    for kind, frame in ((HITS, hits), (REJECTS, rejects)):
        table = _as_table(frame)
        if not table.num_rows:
            continue
        for day, part in _by_date(table):
            if store is not None:  # one PUT of a deterministic name: atomic and idempotent
                store.write(store.key(kind, f"date={day.isoformat()}", name), _parquet_bytes(part))
            else:
                local = _local(root)
                if window is not None and window[0] <= day <= window[1]:
                    assert staging is not None
                    base = local / staging
                elif outside:
                    base = local
                else:
                    continue
                write_parquet_durably(part, base / kind / f"date={day.isoformat()}" / name)
            if kind == HITS:
                written_hits += part.num_rows
                dates.add(day.isoformat())
            else:
                written_rejects += part.num_rows
    return written_hits, written_rejects, sorted(dates)


def delete_parts(
    root: str | Path | ObjectStore, keys: Iterable[PartKey], *, staging: str | None = None
) -> None:
    """Remove every part of the given (source, range) keys, in live and staged partitions."""
    names = {part_name(*k) for k in keys}
    if not names:
        return
    store = _store(root)
    if store is not None:
        store.delete(
            [key for kind in (HITS, REJECTS) for _, n, key, _ in _store_parts(store, kind)
             if n in names]
        )  # fmt: skip
        return
    root = _local(root)
    bases = [root] + ([root / staging] if staging else [])
    for base in bases:
        for kind in (HITS, REJECTS):
            for directory in _date_dirs(base / kind).values():
                for n in names:
                    with contextlib.suppress(FileNotFoundError):
                        (directory / n).unlink()


# --- recovery (under the lock) --------------------------------------------------------------


def _finish_swap(root: Path, manifest: Manifest) -> None:
    """Roll a committed rebuild swap forward (idempotent), then clear the record."""
    swap = manifest.pending_swap
    assert swap is not None
    staging = root / swap["staging"]
    trash = staging / "trash"
    for kind in (HITS, REJECTS):
        for d in swap.get(kind, []):
            staged = staging / kind / f"date={d}"
            live = root / kind / f"date={d}"
            if not staged.is_dir():
                continue  # already swapped
            ensure_dir(root / kind)
            if live.is_dir():
                ensure_dir(trash / kind)
                os.replace(live, trash / kind / f"date={d}")
            os.replace(staged, live)
            fsync_dir(root / kind)
            with contextlib.suppress(OSError):
                live.rmdir()  # an emptied partition (nothing left on that date)
    manifest.pending_swap = None
    save_manifest(root, manifest)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: rebuild swap of %s completed", root, swap["staging"])


def recover(root: str | Path | ObjectStore) -> Manifest:
    """Under the lock: finish a committed swap, then delete everything no manifest lists.

    Leftovers are temp files, parts beyond a source's committed ranges (a crashed run's
    output), and uncommitted staging areas.
    """
    store = _store(root)
    if store is not None:
        return _recover_store(store)
    root = _local(root)
    manifest = load_manifest(root)
    if manifest.pending_swap:
        _finish_swap(root, manifest)
    committed = manifest.committed()
    removed = 0
    for kind in (HITS, REJECTS):
        for directory in _date_dirs(root / kind).values():
            changed = False
            for name in os.listdir(directory):
                key = parse_part_name(name)
                if name.startswith(".tmp-") or (key is not None and key not in committed):
                    with contextlib.suppress(FileNotFoundError):
                        (directory / name).unlink()
                    removed += 1
                    changed = True
            if changed:
                fsync_dir(directory)
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if empty
    for leftover in root.glob(f".tmp-{MANIFEST}-*"):
        leftover.unlink()
    if (root / STAGING).exists():
        shutil.rmtree(root / STAGING, ignore_errors=True)
    if removed:
        log.info("%s: removed %d uncommitted file(s) left by an interrupted ingest", root, removed)
    return manifest


def new_staging(root: str | Path | ObjectStore) -> str:
    """A fresh staging directory for a rebuild, relative to the warehouse root."""
    store = _store(root)
    if store is not None:
        check_rebuild(store)
    rel = f"{STAGING}/{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ensure_dir(_local(root) / rel)
    return rel


def _link_or_copy(src: Path, dst: Path) -> None:
    ensure_dir(dst.parent)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
        with open(dst, "rb") as fh:
            os.fsync(fh.fileno())


def stage_and_swap(
    root: str | Path | ObjectStore,
    manifest: Manifest,
    *,
    staging: str,
    window: tuple[dt.date, dt.date],
    rebuilt: set[str],
) -> list[str]:
    """Complete and commit a rebuild: carry over other sources' parts, commit, swap.

    The staged partitions of ``window`` hold the rebuilt sources' new parts; the live parts of
    every other source in those dates are hard-linked next to them, so the swap replaces only
    what the rebuild re-read. ``manifest`` must already hold the new source states.
    Returns the swapped dates.
    """
    store = _store(root)
    if store is not None:
        check_rebuild(store)
    root = _local(root)
    old = load_manifest(root)
    dates: dict[str, set[str]] = {}
    for kind in (HITS, REJECTS):
        staged = _date_dirs(root / staging / kind)
        live = _date_dirs(root / kind)
        days = {d for d in set(staged) | set(live) if window[0] <= d <= window[1]}
        for _, key, path in committed_parts(
            root, kind, start=window[0], end=window[1], manifest=old
        ):
            if key[0] not in rebuilt:
                _link_or_copy(path, root / staging / kind / path.parent.name / path.name)
        for d in days:  # a staged directory for each day touched, even empty: the swap clears it
            ensure_dir(root / staging / kind / f"date={d.isoformat()}")
            fsync_dir(root / staging / kind / f"date={d.isoformat()}")
        dates[kind] = {d.isoformat() for d in days}
    manifest.pending_swap = {"staging": staging, **{k: sorted(v) for k, v in dates.items()}}
    save_manifest(root, manifest)  # the commit point
    _finish_swap(root, manifest)
    return sorted(dates[HITS] | dates[REJECTS])


# --- readers -------------------------------------------------------------------------------


def _union_schema(files: list[Path], base: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = dict(base)
    for f in files:
        for name, dtype in pl.read_parquet_schema(f).items():
            if name not in schema and name != "date":
                schema[name] = dtype
    return schema


def _footers(store: ObjectStore, urls: list[str], fn: Callable[[str], T]) -> list[T]:
    """``fn(url)`` for many parts at once (each is a request or two to the store)."""
    if not urls:
        return []
    with store.io("read part footers", urls[0].split("://", 1)[1]):
        if len(urls) == 1:
            return [fn(urls[0])]
        with cf.ThreadPoolExecutor(min(_FOOTER_THREADS, len(urls))) as pool:
            return list(pool.map(fn, urls))


def _object_schema(url: str) -> dict[str, pl.DataType]:
    return dict(pl.scan_parquet(url, hive_partitioning=False, glob=False).collect_schema())


def _scan(
    files: list[Path] | list[str],
    base: dict[str, pl.DataType],
    columns: list[str] | None,
    *,
    store: ObjectStore | None = None,
) -> pl.LazyFrame:
    if columns is not None and all(c in base or c == "date" for c in columns):
        schema = dict(base)  # no footer needed to know the columns asked for (~1 ms a part)
    elif store is None:
        schema = _union_schema(files, base)  # type: ignore[arg-type]
    else:
        schema = dict(base)
        for found in _footers(store, list(map(str, files)), _object_schema):
            for name, dtype in found.items():
                if name not in schema and name != "date":
                    schema[name] = dtype
    if files and store is not None:
        # polars' own cloud reader: ranged GETs of the footers and of the columns selected
        with store.io("read", str(files[0]).split("://", 1)[1]):
            lf = pl.scan_parquet(
                list(map(str, files)),
                schema=schema,
                hive_partitioning=True,
                hive_schema={"date": pl.Date()},
                missing_columns="insert",
                extra_columns="ignore",
                glob=False,
            )
    elif files:
        lf = pl.scan_parquet(
            files,
            schema=schema,
            hive_partitioning=True,
            hive_schema={"date": pl.Date()},
            missing_columns="insert",
            extra_columns="ignore",
        )
    else:
        lf = pl.LazyFrame(schema={**schema, "date": pl.Date()})
    if columns is None:
        return lf
    exprs: list[pl.Expr] = []
    for c in columns:
        if c in schema or c == "date":
            exprs.append(pl.col(c))
        elif c.startswith(_EXTRA_PREFIXES):
            exprs.append(pl.lit(None, dtype=pl.Utf8).alias(c))
        else:
            raise WarehouseError(f"unknown warehouse column {c!r}")
    return lf.select(exprs)


def _require(root: Path) -> None:
    if not root.is_dir():
        raise WarehouseError(f"{root}: no such warehouse directory (run 'logmetrics ingest' first)")


def _require_store(store: ObjectStore) -> Manifest:
    if not exists(store):
        raise WarehouseError(
            f"{store.url}: no warehouse there (no {MANIFEST}; run 'logmetrics ingest' first)"
        )
    return load_manifest(store)


def scan_listed(
    files: Sequence[tuple[str, int]], base: dict[str, pl.DataType], columns: list[str] | None
) -> pl.LazyFrame:
    """The parts a client listed (paths or object URLs, with sizes), for a task on a worker,
    once each has the listed size.

    A worker that does not see the same warehouse (another mount, another endpoint) fails
    instead of reading something else.
    """
    store = ObjectStore(files[0][0]) if files and is_url(files[0][0]) else None
    for name, size in files:
        if store is not None:
            key = name.split("://", 1)[1]
            with store.io("read", key):
                try:
                    found: int | None = int(store.fs.size(key))
                except FileNotFoundError:
                    found = None
        else:
            try:
                found = os.stat(name).st_size
            except OSError:
                found = None
        if found == size:
            continue
        if store is not None:
            what = "not found" if found is None else "not the object the client listed"
            raise WarehouseError(
                f"{name}: {what} from {socket.gethostname()}; every worker must reach the same "
                "object store (its endpoint and credentials), or an ingest changed it: run again"
            )
        what = "not found" if found is None else "not the file the client listed"
        raise WarehouseError(
            f"{name}: {what} on {socket.gethostname()}; the warehouse must be on storage "
            "every worker sees at the same path (or an ingest changed it: run again)"
        )
    if store is not None:
        return _scan([u for u, _ in files], base, columns, store=store)
    return _scan([Path(n) for n, _ in files], base, columns)


def _scan_committed(
    warehouse: str | Path | ObjectStore,
    kind: str,
    schema: dict[str, pl.DataType],
    columns: list[str] | None,
    *,
    start: dt.date | None,
    end: dt.date | None,
) -> pl.LazyFrame:
    """The committed parts of ``kind`` in [start, end], in a directory or an object store."""
    store = _store(warehouse)
    if store is not None:
        man = _require_store(store)
        urls = [u for _, _, u, _ in committed_objects(store, kind, start=start, end=end,
                                                      manifest=man)]  # fmt: skip
        return _scan(urls, schema, columns, store=store)
    root = Path(warehouse)  # type: ignore[arg-type]
    _require(root)
    files = [p for _, _, p in committed_parts(root, kind, start=start, end=end)]
    return _scan(files, schema, columns)


def scan_hits(
    warehouse: str | Path | ObjectStore,
    *,
    start: dt.date,
    end: dt.date,
    columns: list[str] | None = None,
) -> pl.LazyFrame:
    """Committed hits with Lima dates in [start, end], reading only those partitions.

    Parts may lack header/cookie columns (``req_*``, ``resp_*``, ``cookie_*``): those come back
    null, including ones no part has.
    """
    return _scan_committed(warehouse, HITS, _schema("HITS_SCHEMA"), columns, start=start, end=end)


def scan_rejects(
    warehouse: str | Path | ObjectStore,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.LazyFrame:
    """Committed rejected lines (with their ``date``, see the module docstring), optionally ranged."""
    return _scan_committed(warehouse, REJECTS, _schema("REJECTS_SCHEMA"), None, start=start, end=end)


def _object_rows(url: str) -> int:
    """Rows of one part in an object store (``_footers`` asks for many in parallel)."""
    return _rows([url])


def _rows(paths: list[Path] | list[str]) -> int:
    """Rows of Parquet files, from their footers: one scan (one per file cost ~1.5 ms each)."""
    if not paths:
        return 0
    lf = pl.scan_parquet(
        paths, hive_partitioning=False, glob=False, missing_columns="insert",
        extra_columns="ignore",
    )  # fmt: skip
    return int(lf.select(pl.len()).collect().item())


def ingest_stats(
    warehouse: str | Path | ObjectStore, *, start: dt.date, end: dt.date
) -> dict[str, Any]:
    """What the warehouse holds for [start, end]: counts from Parquet metadata, no data read.

    ``files`` are the last paths seen of the sources with hits in the range; rejected lines
    count by their date (see the module docstring).
    """
    hits_by_source: dict[str, int] = {}
    dates: set[str] = set()
    store = _store(warehouse)
    if store is not None:
        man = _require_store(store)
        hits = committed_objects(store, HITS, start=start, end=end, manifest=man)
        for (d, key, _, _), n in zip(
            hits, _footers(store, [u for _, _, u, _ in hits], _object_rows), strict=True
        ):
            hits_by_source[key[0]] = hits_by_source.get(key[0], 0) + n
            dates.add(d.isoformat())
        rejects = committed_objects(store, REJECTS, start=start, end=end, manifest=man)
        rejected = sum(_footers(store, [u for _, _, u, _ in rejects], _object_rows))
    else:
        root = Path(warehouse)  # type: ignore[arg-type]
        _require(root)
        man = load_manifest(root)
        by_source: dict[str, list[Path]] = {}
        for d, key, path in committed_parts(root, HITS, start=start, end=end, manifest=man):
            by_source.setdefault(key[0], []).append(path)
            dates.add(d.isoformat())
        hits_by_source = {sid: _rows(paths) for sid, paths in by_source.items()}
        rejected = _rows(
            [p for _, _, p in committed_parts(root, REJECTS, start=start, end=end, manifest=man)]
        )
    sources = [
        {"source": sid, "path": man.sources[sid].path, "hits": n}
        for sid, n in sorted(hits_by_source.items())
    ]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "lines_ingested": sum(hits_by_source.values()),
        "lines_rejected": rejected,
        "sources": sources,
        "files": sorted({s["path"] for s in sources}),
        "dates": sorted(dates),
        "last_ingest": man.updated_at or None,
    }
