"""The month's report as plain typed data: what ``metrics`` builds and ``render`` writes.

Values are typed, never pre-formatted strings, so each renderer formats them its own way
(HTML the Peruvian way, XLSX as typed cells, CSV as SPEC says):

- counts: ``int``
- ``ultima_conexion``: naive ``datetime`` in the configured time zone (Lima by default), or ``None`` if never seen
- ``tiempo_promedio``: ``int`` seconds, already rounded half up (0 when the divisor is 0)
- ``rebote`` / ``salidas``: ``float`` percentage 0-100 rounded half up to 2 decimals,
  or ``None`` when the divisor is 0
- text columns (``ubigeo`` six digits, names): ``str`` ("" when empty)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .config import Config, MatrixSpec

#: Columns whose values are percentages / durations / date-times (for renderers).
PERCENT_COLUMNS = frozenset({"rebote", "salidas"})
DURATION_COLUMNS = frozenset({"tiempo_promedio"})
DATETIME_COLUMNS = frozenset({"ultima_conexion"})
TEXT_COLUMNS = frozenset({"ubigeo", "region", "provincia", "distrito", "entidad"})


@dataclass
class MatrixTable:
    """One matrix: every ally of its types, in ubigeo then entidad order."""

    spec: MatrixSpec
    headers: list[str]  # Spanish headers, same order as spec.columns
    rows: list[dict[str, Any]]  # column key -> typed value (see module docstring)
    totals: dict[str, Any]  # same keys; text columns "" except entidad = "Total"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.spec.columns

    @property
    def active_allies(self) -> int:
        """Allies with at least one interaction hit in the month."""
        return sum(1 for r in self.rows if r.get("_active"))

    def to_pandas(self) -> pd.DataFrame:
        """The matrix as a DataFrame with the Spanish headers (``ubigeo`` kept as text)."""
        import pandas as pd

        data = {
            h: [r[k] for r in self.rows]
            for k, h in zip(self.spec.columns, self.headers, strict=False)
        }
        return pd.DataFrame(data, columns=self.headers)


@dataclass
class Totals:
    """Month-wide figures over all human interaction hits, anonymous visitors included."""

    sessions: int = 0
    pageviews: int = 0
    unique_pageviews: int = 0
    visitors: int = 0  # distinct visitors (users + anonymous ip/ua pairs)
    users: int = 0  # distinct authenticated users
    anonymous_visitors: int = 0
    bounces: int = 0
    exits: int = 0
    time_on_page_seconds: float = 0.0
    avg_time_on_page: int = 0  # seconds, rounded half up
    bounce_rate: float | None = None
    exit_rate: float | None = None
    events: dict[str, int] = field(default_factory=dict)  # event name -> count


#: What a ``Gap`` is (coverage.py states the rules): days with no line at all, the month's
#: first line late or its last line early, the month not over at the last ingest, and a log
#: family absent, starting late, stopping early or silent between two of its files.
GAP_KINDS = (
    "silent_days",
    "starts_late",
    "stops_early",
    "in_progress",
    "family_missing",
    "family_starts_late",
    "family_stops_early",
    "family_silent",
)


@dataclass(frozen=True)
class Gap:
    """A stretch of the month its logs do not cover: ``start`` to ``end`` (local naive, the end
    excluded); ``family`` names the log family of the ``family_*`` kinds."""

    kind: str  # one of GAP_KINDS
    start: dt.datetime
    end: dt.datetime
    family: str = ""


@dataclass(frozen=True)
class LogFamily:
    """One log as the operator sees it (a directory and a file name without rotation suffixes:
    ``access.log``, ``access.log.1``, ``access.log.2.gz`` are one) over the month."""

    name: str
    first: dt.datetime  # local naive: its first and last line in the month
    last: dt.datetime
    lines: int  # its stored hits in the month
    files: int  # its sources (one per logrotate cycle) with lines in the month


@dataclass(frozen=True)
class LogCoverage:
    """Which stretch of a month the store's logs cover, and what they miss (coverage.py)."""

    month: str  # "YYYY-MM"
    first: dt.datetime | None  # the month's first and last line, local naive
    last: dt.datetime | None
    lines: int  # hits and rejected lines of the month's days, bots and assets included
    families: tuple[LogFamily, ...]
    silent_days: tuple[dt.date, ...]  # days of the month with no line at all
    gaps: tuple[Gap, ...]  # empty: the month is whole

    @property
    def partial(self) -> bool:
        return bool(self.gaps)


@dataclass
class Coverage:
    """The data behind the month: what was ingested and what was left out."""

    first_hit: dt.datetime | None  # local naive
    last_hit: dt.datetime | None
    hits: int  # all stored hits of the month (bots included)
    bot_hits: int
    human_hits: int
    interaction_hits: int
    files: int  # distinct source files with hits in the month
    lines_rejected: int  # rejected lines recorded in the month's ingests (whole store)
    logs: LogCoverage | None = None  # the stretch the logs cover; None: not computed


@dataclass
class UnknownUser:
    """A user name seen in the month's human hits that the allies table does not know."""

    user: str
    hits: int
    sessions: int
    last_seen: dt.datetime  # local naive


@dataclass
class DailyActivity:
    day: dt.date
    sessions: int
    pageviews: int
    logins: int
    users: int


@dataclass
class PageRow:
    """GA's "All pages" row, computed over allies' sessions (known users only): a page, or a
    group of pages (``/beneficiarios/{id}``: page_groups)."""

    page: str  # the page or group
    pageviews: int
    unique_pageviews: int
    avg_time_on_page: int  # seconds
    entrances: int
    bounce_rate: float | None  # bounces of sessions starting on the page / entrances
    exit_rate: float | None  # exits / pageviews
    paths: int = 1  # distinct pages (paths) of the group: 1 for a page alone


@dataclass
class DeviceRow:
    """Sessions by ally type, device family and browser family (ua-parser)."""

    tipo: str
    device: str  # "Escritorio", "Móvil", "Tableta", "Otro"
    browser: str
    os: str
    sessions: int


@dataclass
class HistoryRow:
    """One ally over the last 12 months."""

    #: ubigeo, region, provincia, distrito, entidad, tipo ("" when empty)
    ally: dict[str, str]
    #: the month's count of the history's event (ingresos) per month, oldest first; None for
    #: a month the store holds no data of ("sin datos")
    values: list[int | None]
    #: months up to the reported one, counted backwards, without any interaction hit of the
    #: ally (since the store's first month if it never had one)
    idle_months: int


@dataclass
class HistoryTable:
    """The allies of one matrix over the last 12 months, in the matrix's order."""

    spec: MatrixSpec
    rows: list[HistoryRow]
    #: allies with an interaction hit, per month; None for a month without data
    active: list[int | None]


@dataclass
class History:
    """The last 12 months per ally ("Últimos 12 meses"), ending with the reported month."""

    months: list[str]  # "YYYY-MM", oldest first
    #: whether the store holds data of each month (else its values are None: "sin datos")
    with_data: list[bool]
    #: the first day the store holds data of (hits, or a pruned day's summary)
    first_day: dt.date
    #: the event the months count, and its Spanish label
    event: str
    label: str
    tables: list[HistoryTable]


@dataclass
class MonthReport:
    """Everything a renderer needs for one month."""

    month: str  # "YYYY-MM"
    period_start: dt.date
    period_end: dt.date  # last day of the month
    generated_at: dt.datetime  # local naive
    config: Config
    matrices: list[MatrixTable]
    totals: Totals
    coverage: Coverage
    unknown_users: list[UnknownUser]
    daily: list[DailyActivity]
    pages: list[PageRow] = field(default_factory=list)
    devices: list[DeviceRow] = field(default_factory=list)
    previous_totals: Totals | None = None  # the previous month, when the store has it
    logins_by_region: list[tuple[str, int]] = field(default_factory=list)
    #: the last 12 months per ally; None when no event is named ``ingresos``
    history: History | None = None

    def matrix(self, key: str) -> MatrixTable:
        for m in self.matrices:
            if m.spec.key == key:
                return m
        raise KeyError(key)
