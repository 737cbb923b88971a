"""Which stretch of a month the store's logs cover, and whether that is the whole month.

A month is **partial** (``LogCoverage.gaps`` not empty) when, in the configured time zone:

a. a calendar day of the month has no line at all, from any source (hits or rejected lines,
   bots and assets included: a quiet Sunday with only monitors and crawlers is not a gap);
b. the month's first line comes more than ``EDGE`` (12 hours) after the month starts, or its
   last line more than ``EDGE`` before it ends (a quiet night passes: monitors and crawlers hit
   all night on a real server, and 12 hours also lets a small app sleep from evening to
   morning); a month not over at the store's last ingest is partial too ("in progress");
c. a log family (a directory and a file name without rotation suffixes: ``access.log``,
   ``access.log.1``, ``access.log.2.gz``, ``access.log-20220301`` are one, since every
   logrotate cycle makes a new source) that wrote lines in the previous month has none this
   month or starts more than ``FAMILY_SLACK`` (a day) after the month starts; a family with
   lines this month or the previous one stops for good more than a day before the month
   ends; or a family is silent for more than a day between two of its files (a rotated file
   never copied). A family gap within what (a) and (b) already name is not repeated.

The facts come from the store, cheaply: the ``ts`` and ``source`` columns of the month's and
the previous month's hits, read one store date at a time and reduced to each source's first
and last line and lines per local day, and the rejected lines per date; the month before is
only listed (its parts' sources), never read. Days that ``prune`` deleted keep these facts in
``summaries/pruned-lines.parquet`` (``keep_pruned_lines``), so a month after them is checked,
and compared, as before the prune. The report's per-day tasks are not used: they
cover the two months but not the rejected lines, the sources' own spans, nor the month before,
and this check runs before them, so a partial month is refused before the month is counted.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

import polars as pl

from .classify import local_times
from .config import Config
from .layout import HITS, PRUNED_LINES, REJECTS, Part
from .manifest import Manifest
from .model import Gap, LogCoverage, LogFamily
from .warehouse import Warehouse

log = logging.getLogger(__name__)

#: Rule (b): the month's first line at most this long after its start, its last line at most
#: this long before its end.
EDGE = dt.timedelta(hours=12)
#: Rule (c): how long a log family may be late, early, or silent between two of its files.
FAMILY_SLACK = dt.timedelta(days=1)
#: Store dates read beyond a month's local dates: a hit's local date is at most two days from
#: its store date whatever the two zones (as in report.py).
_SLACK = dt.timedelta(days=2)

#: Compression suffixes, then one rotation suffix (``.1``, ``-20220301``, ``.2022-03-01``,
#: ``-2022030112``), stripped repeatedly from a file name to get its family.
_COMPRESSED = re.compile(r"\.(?:gz|bz2|xz|zst|lz4|z)$", re.IGNORECASE)
_ROTATED = re.compile(r"(?:\.\d{1,4}|[._-]\d{8}(?:\d{2})?|[._-]\d{4}-\d{2}-\d{2})$")


def log_family(path: str) -> str:
    """The log family of a source's last path seen: its directory and its file name without
    compression and rotation suffixes (``/var/log/nginx/access.log.2.gz`` ->
    ``/var/log/nginx/access.log``)."""
    p = PurePath(path)
    name = p.name
    while True:
        stripped = _ROTATED.sub("", _COMPRESSED.sub("", name))
        if stripped == name or not stripped:
            break
        name = stripped
    return str(p.with_name(name)) if name else path


# --- reading the store ----------------------------------------------------------------------


_SPANS = pl.Schema(
    {"source": pl.Utf8(), "day": pl.Date(), "first": pl.Datetime("us"), "last": pl.Datetime("us"),
     "lines": pl.Int64()}
)  # fmt: skip


@dataclass(frozen=True)
class _Lines:
    """What the store holds for a stretch of local dates: per (source, local date) the first
    and last line and the lines (``spans``); the rejected lines per date (``rejected``)."""

    spans: pl.DataFrame  # source, day, first, last, lines
    rejected: dict[dt.date, int]


def _read_lines(wh: Warehouse, man: Manifest, start: dt.date, end: dt.date, tz: str) -> _Lines:
    """The hits' first and last line and lines per source and local date in [start, end], read
    one store date at a time (two columns: a day's memory at most), and the rejects per date;
    pruned days' from what ``keep_pruned_lines`` kept."""
    by_date: dict[dt.date, list[Part]] = {}
    for part in wh.parts(HITS, start=start - _SLACK, end=end + _SLACK, manifest=man):
        by_date.setdefault(part.date, []).append(part)
    frames = [_spans(wh.scan(parts, ["ts", "source"]).collect(), start, end, tz)
              for parts in by_date.values()]  # fmt: skip
    rejects = wh.parts(REJECTS, start=start, end=end, manifest=man)
    counted = wh.scan(rejects, ["date"], kind=REJECTS).group_by("date").len().collect()
    rejected = {d: int(n) for d, n in counted.iter_rows()}
    cutoff = man.pruned_date
    if cutoff is not None and start < cutoff:
        kept = _kept_lines(wh, start, min(end, cutoff - dt.timedelta(days=1)))
        frames.append(kept.filter(pl.col("source").is_not_null()).select(list(_SPANS)))
        rows = kept.filter(pl.col("source").is_null()).select("day", "lines").iter_rows()
        rejected.update({d: int(n) for d, n in rows})
    spans = pl.concat([pl.DataFrame(schema=_SPANS), *frames])
    return _Lines(spans, rejected)


def _spans(hits: pl.DataFrame, start: dt.date, end: dt.date, tz: str) -> pl.DataFrame:
    """Hits (``ts``, ``source``) as first and last line and lines per source and local day."""
    local = local_times(hits.get_column("ts"), tz)
    return (
        hits.with_columns(local.alias("local"), local.dt.date().alias("day"))
        .filter(pl.col("day").is_between(start, end))
        .group_by("source", "day")
        .agg(
            pl.col("local").min().alias("first"),
            pl.col("local").max().alias("last"),
            pl.len().cast(pl.Int64).alias("lines"),
        )
    )


def _kept_lines(wh: Warehouse, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The kept lines of pruned days in [start, end]: ``_SPANS`` rows, and per day a row with
    a null source whose ``lines`` are the day's rejected lines."""
    data = wh.storage.read(PRUNED_LINES)
    if data is None:
        return pl.DataFrame(schema=_SPANS)
    return pl.read_parquet(data).filter(pl.col("day").is_between(start, end))


def keep_pruned_lines(wh: Warehouse, man: Manifest, *, before: dt.date, tz: str) -> None:
    """Before ``prune`` deletes the days before ``before``, keep their lines per source and day
    and their rejected lines per day (what the coverage check reads), with what an earlier
    prune kept; written atomically, and read only for days the manifest says are pruned, so a
    prune killed before its commit leaves nothing that counts."""
    done = man.pruned_date
    dates = [p.date for kind in (HITS, REJECTS) for p in wh.parts(kind, end=before, manifest=man)]
    first = min(dates, default=None)
    frames = [_kept_lines(wh, dt.date.min, done - dt.timedelta(days=1))] if done else []
    if first is not None:
        start = max(first - _SLACK, done or dt.date.min)
        lines = _read_lines(wh, man, start, before - dt.timedelta(days=1), tz)
        rejected = pl.DataFrame(
            {"day": list(lines.rejected), "lines": list(lines.rejected.values())},
            schema={"day": pl.Date(), "lines": pl.Int64()},
        )
        frames += [lines.spans, rejected]
    if not frames:
        return
    kept = pl.concat(frames, how="diagonal_relaxed").select(list(_SPANS)).sort("day", "source")
    buf = io.BytesIO()
    kept.write_parquet(buf, compression="zstd")
    wh.storage.write(PRUNED_LINES, buf.getvalue())


def _older_families(
    wh: Warehouse, man: Manifest, older: _Month, paths: dict[str, str]
) -> set[str]:
    """The log families of a month only listed (its parts' sources, or its kept lines')."""
    sources = {p.key[0] for p in wh.parts(HITS, start=older.start, end=older.end, manifest=man)}
    cutoff = man.pruned_date
    if cutoff is not None and older.start < cutoff:
        kept = _kept_lines(wh, older.start, older.end).get_column("source").drop_nulls()
        sources.update(kept.to_list())
    return {log_family(paths.get(sid, sid)) for sid in sources}


def local_stamp(stamp: str, tz: dt.tzinfo) -> dt.datetime | None:
    """A manifest's time (ISO 8601, UTC) as local naive time in ``tz``; None for ""."""
    if not stamp:
        return None
    when = dt.datetime.fromisoformat(stamp)
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone(tz).replace(tzinfo=None)


def last_ingest(man: Manifest, tz: dt.tzinfo) -> dt.datetime | None:
    """When the store's last ingest ended, local naive: the manifest's record of it, else
    when the manifest was last committed (stores written before the record existed)."""
    return local_stamp((man.last_ingest or {}).get("at") or man.updated_at, tz)


# --- the rules ------------------------------------------------------------------------------


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def date_runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive dates as (first, last) runs."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _store_gaps(
    first: dt.datetime | None,
    last: dt.datetime | None,
    silent: list[dt.date],
    bounds: tuple[dt.datetime, dt.datetime],
    last_ingest: dt.datetime | None,
) -> list[Gap]:
    """Rules (a) and (b): silent days, a late first line, an early last line, a month not over."""
    begin, end = bounds
    gaps = [
        Gap("silent_days", _start(a), _start(b + dt.timedelta(days=1))) for a, b in date_runs(silent)
    ]
    if first is not None and first - begin > EDGE:
        gaps.append(Gap("starts_late", begin, first))
    if last is not None and end - last > EDGE:
        gaps.append(Gap("stops_early", last, end))
    if last_ingest is not None and last_ingest < end:
        gaps.append(Gap("in_progress", max(last_ingest, begin), end))
    return gaps


def _family_gaps(
    family: str,
    spans: list[tuple[dt.datetime, dt.datetime]],
    *,
    before: bool,
    bounds: tuple[dt.datetime, dt.datetime],
) -> list[Gap]:
    """Rule (c) for one family: its sources' (first, last) lines in the month (none: absent),
    ``before``: whether it wrote lines in the previous month."""
    begin, end = bounds
    if not spans:
        return [Gap("family_missing", begin, end, family)] if before else []
    spans = sorted(spans)
    gaps = []
    if before and spans[0][0] - begin > FAMILY_SLACK:
        gaps.append(Gap("family_starts_late", begin, spans[0][0], family))
    reached = spans[0][1]
    for first, last in spans[1:]:
        if first - reached > FAMILY_SLACK:
            gaps.append(Gap("family_silent", reached, first, family))
        reached = max(reached, last)
    if end - reached > FAMILY_SLACK:
        gaps.append(Gap("family_stops_early", reached, end, family))
    return gaps


def _overlap(gap: Gap, others: list[Gap]) -> dt.timedelta:
    """How much of ``gap`` the union of ``others`` covers."""
    covered = dt.timedelta()
    reached = gap.start
    for other in sorted(others, key=lambda g: g.start):
        lo, hi = max(other.start, reached), min(other.end, gap.end)
        if hi > lo:
            covered += hi - lo
            reached = hi
    return covered


def _news(gaps: list[Gap], known: list[Gap]) -> list[Gap]:
    """The family gaps that say more than ``known`` (the store's own gaps): more than a day of
    them is not already named."""
    return [g for g in gaps if (g.end - g.start) - _overlap(g, known) > FAMILY_SLACK]


@dataclass(frozen=True)
class _Month:
    """A calendar month: its name and first and last local dates."""

    start: dt.date

    @property
    def name(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def end(self) -> dt.date:
        return self.start.replace(day=calendar.monthrange(self.start.year, self.start.month)[1])

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return _start(self.start), _start(self.end + dt.timedelta(days=1))

    def previous(self) -> _Month:
        return _Month((self.start - dt.timedelta(days=1)).replace(day=1))


def _coverage(
    month: _Month,
    lines: _Lines,
    *,
    paths: dict[str, str],
    before: set[str],
    last_ingest: dt.datetime | None,
) -> LogCoverage:
    """The month's coverage from its lines; ``before``: the families of the previous month."""
    spans = lines.spans.filter(pl.col("day").is_between(month.start, month.end))
    sources = spans.group_by("source").agg(
        pl.col("first").min(), pl.col("last").max(), pl.col("lines").sum()
    )
    grouped: dict[str, list[tuple[dt.datetime, dt.datetime, int]]] = {}
    for sid, first, last, n in sources.sort("first", "source").iter_rows():
        grouped.setdefault(log_family(paths.get(sid, sid)), []).append((first, last, n))
    families = tuple(
        LogFamily(name, min(s[0] for s in srcs), max(s[1] for s in srcs), sum(s[2] for s in srcs),
                  len(srcs))
        for name, srcs in sorted(grouped.items())
    )  # fmt: skip
    rejected = {d: n for d, n in lines.rejected.items() if month.start <= d <= month.end}
    days = set(spans.get_column("day").to_list()) | {d for d, n in rejected.items() if n}
    every = (month.start + dt.timedelta(days=n) for n in range((month.end - month.start).days + 1))
    silent = [d for d in every if d not in days]
    first = min((f.first for f in families), default=None)
    last = max((f.last for f in families), default=None)
    gaps = _store_gaps(first, last, silent, month.bounds, last_ingest)
    family_gaps = [
        gap
        for name in sorted(set(grouped) | before)
        for gap in _family_gaps(
            name, [(s[0], s[1]) for s in grouped.get(name, [])], before=name in before,
            bounds=month.bounds,
        )
    ]  # fmt: skip
    return LogCoverage(
        month=month.name,
        first=first,
        last=last,
        lines=int(spans.get_column("lines").sum()) + sum(rejected.values()),
        families=families,
        silent_days=tuple(silent),
        gaps=tuple(gaps + _news(family_gaps, gaps)),
    )


def month_coverage(
    warehouse: Warehouse, start: dt.date, *, config: Config
) -> tuple[LogCoverage, LogCoverage]:
    """The coverage of the month starting on ``start`` and of the month before it (whether the
    two may be compared)."""
    this = _Month(start.replace(day=1))
    prev = this.previous()
    older = prev.previous()
    man = warehouse.manifest()
    tz = config.timezone
    paths = {sid: state.path for sid, state in man.sources.items()}
    lines = _read_lines(warehouse, man, prev.start, this.end, tz)
    older_families = _older_families(warehouse, man, older, paths)
    ended = last_ingest(man, config.tz)
    prev_cov = _coverage(prev, lines, paths=paths, before=older_families, last_ingest=ended)
    prev_families = {f.name for f in prev_cov.families}
    this_cov = _coverage(this, lines, paths=paths, before=prev_families, last_ingest=ended)
    for cov in (this_cov, prev_cov):
        log.info("%s: %s", cov.month, "; ".join(problems(cov)) or "whole")
    return this_cov, prev_cov


# --- saying it ----------------------------------------------------------------------------


def _when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _days(gap: Gap) -> str:
    first, last = gap.start.date(), (gap.end - dt.timedelta(days=1)).date()
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _phrase(gap: Gap) -> str:
    """One gap in English (silent days are phrased together by ``problems``)."""
    phrases = {
        "starts_late": f"first line {_when(gap.end)}",
        "stops_early": f"last line {_when(gap.start)}",
        "in_progress": f"month in progress (last ingest {_when(gap.start)})",
        "family_missing": f"{gap.family}: no lines in the month (it had lines the month before)",
        "family_starts_late": f"{gap.family}: first line {_when(gap.end)}",
        "family_stops_early": f"{gap.family}: last line {_when(gap.start)}",
        "family_silent": f"{gap.family}: no lines from {_when(gap.start)} to {_when(gap.end)}",
    }
    return phrases[gap.kind]


def problems(cov: LogCoverage) -> list[str]:
    """What the month's logs miss, in English: the days without lines, then one phrase per
    other gap (the error's and the CLI's words)."""
    silent = [_days(g) for g in cov.gaps if g.kind == "silent_days"]
    out = [f"no log lines on {', '.join(silent)}"] if silent else []
    return out + [_phrase(g) for g in cov.gaps if g.kind != "silent_days"]


def partial_line(cov: LogCoverage) -> str:
    """The CLI's line for a month reported with ``--allow-partial``."""
    return f"partial month {cov.month}: {'; '.join(problems(cov))} (reported with --allow-partial)"


__all__ = [
    "EDGE",
    "FAMILY_SLACK",
    "date_runs",
    "last_ingest",
    "local_stamp",
    "log_family",
    "month_coverage",
    "partial_line",
    "problems",
]
