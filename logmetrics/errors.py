"""The error tree. Library code raises these; only the CLI turns them into a line and an exit code.

Every message is one line that names the file, line or field at fault, because the operator
reads it in a cron mail at 2 a.m. and has nothing else to go on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class LogmetricsError(Exception):
    """Base of every error the tool reports to its user (exit code 1 unless a child says otherwise)."""

    exit_code = 1


class ConfigError(LogmetricsError):
    """The TOML configuration (or a command-line option) is invalid."""

    exit_code = 2


class FormatError(ConfigError):
    """A log format string cannot be compiled: ``spec`` is the format as given, ``problem``
    what is wrong, and ``token`` / ``position`` (0-based, in the format string) the directive
    or text at fault, when one is."""

    def __init__(
        self, spec: str, problem: str, token: str | None = None, position: int | None = None
    ) -> None:
        self.spec = spec
        self.problem = problem
        self.token = token
        self.position = position
        super().__init__(spec, problem, token, position)

    def __str__(self) -> str:
        at = ""
        if self.token is not None:
            at = f"{self.token!r}" + ("" if self.position is None else f" at column {self.position + 1}")
            at += ": "
        return f"log format {self.spec!r}: {at}{self.problem}"


class InputError(LogmetricsError):
    """A path given by the user is missing, unreadable or not a log file."""

    exit_code = 3


class UnreadableFile(InputError):
    """A file exists but cannot be opened or read: ``path``, and ``reason`` (``permission
    denied``, an I/O error). An ingest skips such a file and names it (``sources.Unreadable``);
    raised only where skipping is not possible (a file that fails in the middle of a read)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(path, reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class TableProblem:
    """One problem of the allies table, at its spreadsheet row (the header is row 1; 0: the
    file as a whole)."""

    row: int
    text: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.text}" if self.row else self.text


class AlliesError(LogmetricsError):
    """The allies lookup table has problems; ``problems`` lists every one with its row."""

    exit_code = 4

    def __init__(self, path: str, problems: list[TableProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        head = f"{path}: {len(self.problems)} problem(s) in the allies table: "
        super().__init__(head + "; ".join(map(str, self.problems)))


class IngestRefused(LogmetricsError):
    """Most lines of a file failed to parse: the format is probably wrong, nothing was committed."""

    exit_code = 5


class WarehouseError(LogmetricsError):
    """The warehouse is unusable: corrupt manifest, locked by another ingest, unwritable."""

    exit_code = 6


class WarehouseLocked(WarehouseError):
    """Another ingest holds the warehouse lock."""

    exit_code = 75  # EX_TEMPFAIL: cron may simply try again later


class ClusterError(LogmetricsError):
    """The Dask scheduler is unreachable, has no usable workers, or lost them for good."""

    exit_code = 69  # EX_UNAVAILABLE: a service the run needs is not there


class NoDataError(LogmetricsError):
    """The warehouse holds no hit for the requested month."""

    exit_code = 7


class PartialMonthError(NoDataError):
    """The store's logs do not cover the whole month (coverage.py's rules): ``month``, and
    ``problems``, what is missing, each a phrase naming days, times or a log family."""

    exit_code = 10

    def __init__(self, month: str, problems: list[str]) -> None:
        self.month = month
        self.problems = list(problems)
        super().__init__(month, self.problems)

    def __str__(self) -> str:
        return (
            f"{self.month}: {'; '.join(self.problems)}; use --allow-partial to report it anyway"
        )


class StaleIngestError(LogmetricsError):
    """``status --max-age``: the last ingest (``last``, local naive, None if none is recorded)
    ran more than ``max_age_hours`` ago (``age_hours``), in time zone ``zone``."""

    exit_code = 11

    def __init__(
        self, last: dt.datetime | None, *, age_hours: float | None, max_age_hours: float, zone: str
    ) -> None:
        self.last = last
        self.age_hours = age_hours
        self.max_age_hours = max_age_hours
        self.zone = zone
        super().__init__(last, age_hours, max_age_hours, zone)

    def __str__(self) -> str:
        if self.last is None or self.age_hours is None:
            return f"no ingest is recorded in the warehouse (--max-age {self.max_age_hours:g})"
        return (
            f"last ingest {self.last:%Y-%m-%d %H:%M:%S} ({self.zone}), {self.age_hours:.1f} hours "
            f"ago: older than --max-age {self.max_age_hours:g}"
        )


class MonthPruned(NoDataError):
    """The month's hits were deleted by ``logmetrics prune``: ``month`` is before ``before``,
    the first day the warehouse still holds hits of."""

    def __init__(self, warehouse: str, *, month: str, before: dt.date) -> None:
        self.warehouse = warehouse
        self.month = month
        self.before = before
        super().__init__(warehouse, month, before)

    def __str__(self) -> str:
        return (
            f"{self.warehouse}: {self.month} was pruned (its hits are deleted; the warehouse "
            f"holds hits from {self.before:%Y-%m} on); its figures live on in later months' "
            "12-month view and last connections"
        )


class OutputError(LogmetricsError):
    """A report file could not be written (disk full, permissions)."""

    exit_code = 8


class MailError(LogmetricsError):
    """The report files are written but mailing them failed; running the command again resends.

    ``host``/``port`` name the SMTP server, ``problem`` what went wrong, ``code``/``reply`` what
    the server answered (when it answered), ``refused`` each refused recipient's answer.
    """

    exit_code = 9

    def __init__(
        self,
        problem: str,
        *,
        host: str,
        port: int,
        code: int | None = None,
        reply: str | None = None,
        refused: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.problem = problem
        self.host = host
        self.port = port
        self.code = code
        self.reply = reply
        self.refused = dict(refused or {})
        super().__init__(problem)

    def __str__(self) -> str:
        text = f"mail via {self.host}:{self.port}: {self.problem}"
        if self.code is not None:
            text += f" (server: {_answer(self.code, self.reply)})"
        for addr, (code, reply) in self.refused.items():
            text += f"; {addr} refused: {_answer(code, reply)}"
        return text + "; the report files are written, run again to resend"


def _answer(code: int, reply: str | None) -> str:
    return f"{code} {reply}" if reply else str(code)


class MailUnreachable(MailError):
    """The SMTP server could not be reached, or its TLS handshake or certificate failed."""


class MailLoginRefused(MailError):
    """The SMTP server refused the user and password (``LOGMETRICS_SMTP_PASSWORD``)."""


class MailRefused(MailError):
    """The server refused the sender, a recipient or the message itself."""


class PageGroupError(ConfigError):
    """A page group pattern (``[pages] groups``) cannot be used: ``key`` names it
    (``pages.groups[1]``), ``pattern`` is the text given, ``problem`` what is wrong, ``source``
    the configuration file (or ``config``)."""

    def __init__(self, *, key: str, pattern: str, problem: str, source: str = "config") -> None:
        self.key = key
        self.pattern = pattern
        self.problem = problem
        self.source = source
        super().__init__(key, pattern, problem, source)

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.pattern!r} {self.problem}"
