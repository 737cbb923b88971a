"""A real Dask cluster for tests: two single-threaded worker processes on this machine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest


@contextlib.contextmanager
def local_cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes (skips the test when dask.distributed is absent)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        yield cluster
    finally:
        cluster.close()
