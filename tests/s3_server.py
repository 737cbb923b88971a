"""A real S3 protocol server for tests: moto in server mode, on a free port, with a bucket."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[Any]:
    """Start the server, point the AWS environment (s3fs, polars) at it, make ``bucket``; yield
    an s3fs filesystem on it (skips the test without moto's server mode or s3fs)."""
    moto_server = pytest.importorskip(
        "moto.server", reason="needs moto in server mode: pip install 'moto[server]'"
    )
    s3fs = pytest.importorskip("s3fs", reason="needs s3fs: pip install 'logmetrics[s3]'")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = pytest.MonkeyPatch()
    env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.delenv(var, raising=False)
    # logmetrics' stores share s3fs' cached filesystems: none may keep another server's endpoint
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fs = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)
        fs.mkdir(bucket)
        yield fs
    finally:
        env.undo()
        server.stop()
        s3fs.S3FileSystem.clear_instance_cache()
