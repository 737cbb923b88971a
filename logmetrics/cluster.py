"""Running the task functions on a Dask cluster (``--scheduler tcp://HOST:8786``).

The cluster runs the same top-level task functions as local processes: ``ingest.run_chunk``
per file chunk, ``summaries.summarize_day`` per local day (whose summary the worker keeps in
the warehouse). The client keeps every decision that needs
the whole picture: it reads and chunks the logs, commits the manifest in order once a chunk's
parts are written (so the manifest stays consistent whatever the workers do), and does the
report's final aggregation.

Decisions an operator can rely on:

- **Optional.** Nothing here imports Dask at module level; only ``connect`` and the executor
  do, so a run without ``--scheduler`` never loads it (``pip install 'logmetrics[dask]'``).
- **Storage.** The warehouse must be a directory every worker sees at the same path (NFS,
  CephFS, …), or an object store (``s3://bucket/prefix``) every worker reaches with its own
  credentials: the workers write the parts, the client commits them. Each ingest task first
  checks a marker the client wrote, and each report task checks the sizes of the parts the
  client listed, so a worker looking at another disk (or another endpoint) fails with a clear
  error instead of writing or reading elsewhere.
- **Logs need not be shared.** The client sends each chunk's bytes with its task (through the
  scheduler), as it does for .gz content anyway.
- **Worker loss.** The scheduler re-runs the tasks of a worker that died; a task that raised is
  retried twice (a storage hiccup). Part names are deterministic per (source, byte range), so a
  re-run replaces a part and never duplicates it. A task whose workers keep dying fails the run
  with ClusterError; what was committed before stays.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import __version__
from .errors import ClusterError, ConfigError, LogmetricsError, WarehouseError
from .layout import STAGING
from .storage import Storage

log = logging.getLogger(__name__)

#: Seconds to wait for the scheduler to answer, and for a first worker to be there.
CONNECT_TIMEOUT = 10.0
#: Extra attempts for a task that raised (a lost worker's tasks are re-run regardless).
RETRIES = 2
DEFAULT_PORT = 8786

_ADDRESS = re.compile(
    r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?$"
)


def parse_address(address: str) -> tuple[str, str, int]:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``, ``HOST``; ``tls://`` too) -> (scheme, host, port)."""
    m = _ADDRESS.match(address.strip())
    scheme = (m.group("scheme") or "tcp") if m else ""
    if not m or scheme not in ("tcp", "tls"):
        raise ConfigError(
            f"--scheduler: {address!r} is not a scheduler address like tcp://HOST:8786"
        )
    port = int(m.group("port") or DEFAULT_PORT)
    if not 0 < port < 65536:
        raise ConfigError(f"--scheduler: {address!r}: port {port} is out of range")
    return scheme, m.group("host"), port


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _worker_version() -> str:
    """Runs on each worker: proves it can import logmetrics, and which version."""
    return __version__


def connect(address: str, *, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` on ``address`` with at least one worker running this version.

    Raises ConfigError for a bad address or a missing extra, ClusterError (one line) for a
    scheduler that does not answer within ``timeout`` seconds, no workers, or workers that
    cannot run logmetrics.
    """
    scheme, host, port = parse_address(address)
    url = f"{scheme}://{host}:{port}"
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "--scheduler: Dask is not installed; install it with: pip install 'logmetrics[dask]'"
        ) from None
    if not log.isEnabledFor(logging.DEBUG):
        # a failure is reported once, as one line; Dask's own tracebacks only with -vv
        for name in [
            n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"
        ]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
    # a refused connection fails now, instead of after the client's retries up to its timeout
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"{url}: cannot reach the Dask scheduler ({reason}); is 'dask scheduler' running there?"
        ) from None
    try:
        client = distributed.Client(url, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"{url}: the Dask scheduler did not answer within {timeout:g} s ({_one_line(exc)})"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, distributed.TimeoutError):
            raise ClusterError(
                f"{url}: no Dask worker joined the scheduler within {timeout:g} s; start some "
                f"with: dask worker {url}"
            ) from None
        try:
            versions = client.run(_worker_version)
        except Exception as exc:  # noqa: BLE001 - whatever a worker without logmetrics raises
            raise ClusterError(
                f"{url}: a Dask worker cannot run logmetrics ({type(exc).__name__}: "
                f"{_one_line(exc)}); "
                f"install logmetrics {__version__} with the dask extra on every worker"
            ) from None
        wrong = sorted(f"{w} has {v}" for w, v in versions.items() if v != __version__)
        if wrong:
            raise ClusterError(
                f"{url}: Dask workers run another logmetrics version than {__version__} "
                f"({'; '.join(wrong)}); install the same version everywhere"
            )
    except BaseException:
        client.close()
        raise
    return client


@dataclass(frozen=True)
class Marker:
    """An object the client wrote in the warehouse; a task runs only where it is visible."""

    storage: Storage
    key: str

    def check(self) -> None:
        """WarehouseError (one line) unless this worker sees the marker."""
        if self.storage.size(self.key) is None:
            raise WarehouseError(
                f"{self.storage.url}: the warehouse is not visible from Dask worker "
                f"{socket.gethostname()}; {self.storage.shared_hint}"
            )


def run_in_warehouse(marker: Marker, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Runs on a worker: ``fn(*args)`` only if the client's marker is visible there."""
    marker.check()
    return fn(*args, **kwargs)


class DaskExecutor(cf.Executor):
    """``concurrent.futures`` on a Dask client: impure tasks, retried, errors made one line.

    A task sent to a cluster cannot be recalled, so its future counts as running from
    submission and ``cancel()`` returns False: a caller that cancels and waits (ingest, when it
    refuses a file) really waits for what workers may still write. ``shutdown`` closes the
    client. ``storage``: write a marker in that warehouse's staging area that every task must
    see before it runs.
    """

    def __init__(
        self,
        client: Any,
        *,
        retries: int = RETRIES,
        storage: Storage | None = None,
    ) -> None:
        self.client = client
        self.retries = retries
        self.address = str(client.scheduler.address)
        #: worker threads when connected: ingest keeps about twice as many tasks in flight
        self.workers = max(1, sum(client.nthreads().values()))
        self._pending: set[Any] = set()
        self._lock = threading.Lock()
        self._shutdown = False
        self._storage = storage
        self._marker: Marker | None = None

    def _ensure_marker(self) -> Marker | None:
        if self._storage is None:
            return None
        if self._marker is None:
            key = f"{STAGING}/cluster-{uuid.uuid4().hex}"
            self._storage.create(key, f"{socket.gethostname()} {os.getpid()}\n".encode())
            self._marker = Marker(self._storage, key)
        return self._marker

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        import dask

        if self._shutdown:
            raise RuntimeError("cannot submit to a DaskExecutor after shutdown")
        marker = self._ensure_marker()
        if marker is not None:
            args = (marker, fn, *args)
            fn = run_in_warehouse
        # a chunk's bytes travel with its task on purpose: the logs need not be shared
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"}):
            future = self.client.submit(fn, *args, retries=self.retries, pure=False, **kwargs)
        cf_future: cf.Future[Any] = cf.Future()
        cf_future.set_running_or_notify_cancel()
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._settle(f, cf_future))
        return cf_future

    def _settle(self, future: Any, cf_future: cf.Future[Any]) -> None:
        """Runs in Dask's callback thread: hand the outcome to the concurrent future."""
        with self._lock:
            self._pending.discard(future)
        try:
            status = future.status
            if status == "finished":
                cf_future.set_result(future.result())
            elif status == "error":
                cf_future.set_exception(_translate(future.exception(), self.address))
            else:  # cancelled or lost: the client lost the scheduler, or shutdown cancelled it
                cf_future.set_exception(
                    ClusterError(
                        f"{self.address}: lost contact with the Dask scheduler ({status}); what "
                        "was committed is kept, run again"
                    )
                )
        except BaseException as exc:  # noqa: BLE001 - never leave the future unresolved
            if not cf_future.done():
                cf_future.set_exception(
                    ClusterError(
                        f"{self.address}: lost contact with the Dask scheduler "
                        f"({type(exc).__name__}); what was committed is kept, run again"
                    )
                )

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        with self._lock:
            pending = list(self._pending)
        try:
            if cancel_futures and pending:
                self.client.cancel(pending)
            elif wait and pending:
                import distributed

                distributed.wait(pending)
        finally:
            if self._marker is not None:
                with contextlib.suppress(LogmetricsError, OSError):
                    self._marker.storage.delete([self._marker.key])
                    self._marker.storage.tidy(STAGING)  # an empty staging directory
            self.client.close()


def _translate(exc: BaseException | None, address: str) -> BaseException:
    """A worker's LogmetricsError passes as is; Dask's own failures become one-line errors."""
    if exc is None:
        return ClusterError(f"{address}: a task failed without an error")
    if type(exc).__name__ == "KilledWorker":
        return ClusterError(
            f"{address}: the Dask workers running one task all died (out of memory? see their "
            "logs); what was committed is kept, run again"
        )
    return exc


def dask_executor(address: str, *, storage: Storage | None = None) -> DaskExecutor:
    """Connect to ``address`` and return an executor; with ``storage``, tasks check they see
    that warehouse.

    The marker lives in the warehouse's staging area, which the next ingest clears if a run
    dies before removing it.
    """
    return DaskExecutor(connect(address), storage=storage)


__all__ = [
    "CONNECT_TIMEOUT",
    "DaskExecutor",
    "Marker",
    "connect",
    "dask_executor",
    "parse_address",
    "run_in_warehouse",
]
