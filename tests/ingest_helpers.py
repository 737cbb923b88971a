"""Shared helpers for the ingest tests: combined-format lines with known timestamps, and readers.

Every generated line is unique (its URL carries ``tag`` and a sequence number), so a test can
tell exactly which logged lines the warehouse holds, and rotated copies never look like new
content by accident. Scenario tests call ``run_ingest``; a CLI variant can wrap the same paths.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from logmetrics.config import Config
from logmetrics.ingest import IngestSummary, ingest
from logmetrics.warehouse import scan_hits, scan_rejects

#: 2022-03-10 12:00 in Lima (UTC-5, no DST since 2000)
T0 = dt.datetime(2022, 3, 10, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
FAR_PAST = dt.date(1970, 1, 1)
FAR_FUTURE = dt.date(2100, 1, 1)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clf_time(ts: dt.datetime) -> str:
    """``10/Mar/2022:12:00:00 -0500`` (English month names whatever the locale)."""
    off = ts.utcoffset() or dt.timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{ts:%d}/{_MONTHS[ts.month - 1]}/{ts:%Y:%H:%M:%S} {sign}{hh:02d}{mm:02d}"


def combined_line(seq: int, ts: dt.datetime, *, tag: str = "a", user: str = "-") -> bytes:
    """One combined-format line, newline included, whose URL is ``/p/<tag>/<seq>``."""
    ip = f"10.{(seq >> 16) & 255}.{(seq >> 8) & 255}.{seq & 255}"
    return (
        f'{ip} - {user} [{clf_time(ts)}] "GET /p/{tag}/{seq} HTTP/1.1" 200 {512 + seq % 997} '
        f'"-" "Mozilla/5.0 (X11; Linux x86_64) logmetrics-test"\n'
    ).encode()


def make_lines(
    n: int,
    *,
    start: int = 0,
    first: dt.datetime = T0,
    step: dt.timedelta = dt.timedelta(seconds=30),
    tag: str = "a",
) -> list[bytes]:
    """``n`` lines numbered ``start``.. with timestamps ``first + i * step``."""
    return [combined_line(start + i, first + i * step, tag=tag) for i in range(n)]


def bad_lines(n: int, *, tag: str = "bad") -> list[bytes]:
    """Lines no access-log format matches."""
    return [f"{tag} line {i}: this is not an access log line\n".encode() for i in range(n)]


def append(path: Path, lines: Iterable[bytes]) -> None:
    with open(path, "ab") as fh:
        fh.write(b"".join(lines))


def copytruncate(log: Path, copy: Path) -> None:
    """Rotate ``log`` like logrotate's copytruncate: copy it to ``copy``, then empty it."""
    shutil.copyfile(log, copy)
    with open(log, "r+b") as fh:
        fh.truncate(0)


def gzip_to(src: Path, dst: Path, *, remove: bool = True) -> None:
    """Compress ``src`` into ``dst`` like logrotate does (then drop ``src``)."""
    dst.write_bytes(gzip.compress(src.read_bytes()))
    if remove:
        os.unlink(src)


def run_ingest(paths: Sequence[str | Path], warehouse: Path, **kw: Any) -> IngestSummary:
    """The library entry point with the default configuration (combined format)."""
    kw.setdefault("config", Config())
    return ingest(paths, warehouse=warehouse, **kw)


def read_hits(warehouse: Path, **kw: Any) -> pl.DataFrame:
    """Every committed hit (in (source, offset) order when those columns are read)."""
    df = scan_hits(warehouse, start=FAR_PAST, end=FAR_FUTURE, **kw).collect()
    return df.sort("source", "offset") if {"source", "offset"} <= set(df.columns) else df


def read_rejects(warehouse: Path) -> pl.DataFrame:
    return scan_rejects(warehouse).collect().sort("source", "offset")


def uris(warehouse: Path) -> list[str]:
    """Sorted request URIs of all committed hits (one per logged line, duplicates kept)."""
    return sorted(read_hits(warehouse, columns=["uri"]).get_column("uri").to_list())


def expected_uris(lines: Iterable[bytes]) -> list[str]:
    """The URIs the warehouse should hold for these generated lines."""
    return sorted(line.split(b'"')[1].split(b" ")[1].decode() for line in lines)
