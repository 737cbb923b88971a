"""Build small hits-schema frames by hand, in Lima local time, for stage tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

LIMA = dt.timezone(dt.timedelta(hours=-5))
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36"  # noqa: E501

HITS_SCHEMA = {
    "ts": pl.Datetime("us", "UTC"),
    "remote_addr": pl.Utf8,
    "remote_user": pl.Utf8,
    "method": pl.Utf8,
    "path": pl.Utf8,
    "status": pl.Int16,
    "user_agent": pl.Utf8,
    "source": pl.Utf8,
    "offset": pl.Int64,
}


def hit(
    when: str,
    path: str,
    *,
    user: str | None = "ana",
    method: str = "GET",
    status: int = 200,
    ua: str | None = CHROME,
    ip: str = "10.0.0.1",
) -> dict[str, Any]:
    """One hit at ``when`` = 'YYYY-MM-DD HH:MM:SS' Lima time."""
    local = dt.datetime.fromisoformat(when).replace(tzinfo=LIMA)
    return {
        "ts": local.astimezone(dt.UTC),
        "remote_addr": ip,
        "remote_user": user,
        "method": method,
        "path": path,
        "status": status,
        "user_agent": ua,
    }


def frame(*hits: dict[str, Any]) -> pl.DataFrame:
    """A hits frame; ``offset`` follows the order given, as lines in one file would."""
    rows = [dict(h, source="src", offset=i * 100) for i, h in enumerate(hits)]
    return pl.DataFrame(rows, schema=HITS_SCHEMA)
