"""The rejected lines kept under ``rejects/``, for ``logmetrics rejects``.

Which lines: those of a month or a date (the line's own date, see docs/design.md), or by
default those of the latest ingest that rejected any (their ``ingested_at``, the run's start to
the second): what an operator looks for after a nightly summary line says "N rejected",
whatever dates the lines carry.
Ordered by date, file and line number; ``limit`` rows at most, and the count of the rest.

Every field is shown on one line: control characters left in a line's text (the ingest already
writes C0 bytes as ``\\xHH``; tab, DEL, NEL and the Unicode line separators remain) are written
the same way, so one rejected line is one output line. As CSV, text a spreadsheet would evaluate
gets a leading quote (``render._text.inert_csv``), as in the report's CSV files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

import polars as pl

from .config import Config
from .errors import ConfigError
from .layout import REJECTS
from .render._text import inert_csv
from .report import month_bounds
from .warehouse import Warehouse, open_warehouse

#: Rows shown unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 100
COLUMNS = ("date", "file", "line_no", "reason", "raw")
_BREAKS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"


def one_line(text: str | None) -> str:
    """``text`` with every character that could break or hide a line written as ``\\xHH``."""
    return "" if text is None else _BREAKS.sub(_escaped, text)


@dataclass(frozen=True)
class Rejected:
    """The rejected lines selected: ``rows`` (``COLUMNS``, in order), how many there are in all,
    and what was selected, in words (``what``)."""

    what: str
    total: int
    rows: list[tuple[dt.date, str, int, str, str]]

    @property
    def more(self) -> int:
        """Selected lines not in ``rows`` (beyond the limit)."""
        return self.total - len(self.rows)

    def text(self) -> list[str]:
        """For a human: a heading, one line per rejected line, how many more."""
        out = [f"{self.what}: {self.total:,} rejected line(s)"]
        out += [
            f"{day}  {one_line(file)}:{line_no}  {one_line(reason)}  {one_line(raw)}"
            for day, file, line_no, reason, raw in self.rows
        ]
        if self.more:
            out.append(f"... {self.more:,} more (--limit N shows more, --limit 0 all)")
        return out

    def csv(self) -> str:
        """CSV (header row, CRLF ends): text fields on one line and never a formula."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for day, file, line_no, reason, raw in self.rows:
            text = [inert_csv(one_line(v)) for v in (file, reason, raw)]
            writer.writerow([day.isoformat(), text[0], line_no, *text[1:]])
        return buf.getvalue()


def _local(moment: dt.datetime, config: Config) -> str:
    return f"{moment.astimezone(config.tz):%Y-%m-%d %H:%M:%S} {config.timezone}"


def rejected_lines(
    warehouse: str | Warehouse,
    *,
    month: str | None = None,
    day: dt.date | None = None,
    limit: int = DEFAULT_LIMIT,
    config: Config | None = None,
) -> Rejected:
    """The rejected lines of ``month`` (``YYYY-MM``) or ``day``, else those of the latest
    ingest that rejected any; at most ``limit`` rows (0: all). ``config`` gives the time zone
    the latest ingest's time is told in."""
    config = config or Config()
    if month is not None and day is not None:
        raise ConfigError("rejects: give a month or a date, not both")
    wh = open_warehouse(warehouse)
    dates = month_bounds(month) if month is not None else (day, day) if day else None
    if dates is not None:
        parts = wh.parts(REJECTS, start=dates[0], end=dates[1])
        lf = wh.scan(parts, list(COLUMNS), kind=REJECTS)
        what = month.strip() if month is not None else f"{day}"
    else:
        parts = wh.parts(REJECTS)
        lf = wh.scan(parts, [*COLUMNS, "ingested_at"], kind=REJECTS)
        latest = lf.select(pl.col("ingested_at").max()).collect().item()
        if latest is None:
            return Rejected("the warehouse holds no rejected line", 0, [])
        lf = lf.filter(pl.col("ingested_at") == latest).select(COLUMNS)
        what = f"the ingest of {_local(latest, config)}"
        record = wh.manifest().last_ingest or {}
        if record.get("lines_rejected") == 0:
            ended = dt.datetime.fromisoformat(record["at"])
            what = f"the last ingest ({_local(ended, config)}) rejected none; {what}"
    total = int(lf.select(pl.len()).collect().item())
    ordered = lf.sort("date", "file", "line_no")
    rows = (ordered.head(limit) if limit else ordered).collect().rows()
    return Rejected(what, total, rows)


__all__ = ["COLUMNS", "DEFAULT_LIMIT", "Rejected", "one_line", "rejected_lines"]
