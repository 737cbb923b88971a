"""The command line: parse options, build a config, call one library function, map errors.

Every ``LogmetricsError`` becomes one line on stderr and its exit code; under cron the only
other output is the one-line summary (and, after an ingest that skipped unreadable files, one
stderr line naming each).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import Config, load_config
from .errors import ConfigError, LogmetricsError

if TYPE_CHECKING:
    from .model import MonthReport

log = logging.getLogger("logmetrics")

EXIT_INTERNAL = 70  # EX_SOFTWARE
#: the ingest committed what it could read but skipped unreadable files (EX_NOINPUT)
EXIT_UNREADABLE = 66
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="logmetrics",
        description="Turn Nginx/Apache access logs into monthly usage matrices per user and ally.",
    )
    p.add_argument("--version", action="version", version=f"logmetrics {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    p.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ing = sub.add_parser(
        "ingest",
        help="add access logs to the Parquet store",
        description="Add access logs (files, directories or globs; .gz read transparently) to the "
        "store. Already ingested content is skipped, so it is safe to run from cron every night.",
    )
    ing.add_argument("paths", nargs="+", metavar="PATH", help="log file, directory or glob")
    ing.add_argument("--warehouse", default="warehouse", metavar="DIR",
                     help="the Parquet store: a directory, or an object-store URL like "
                     "s3://bucket/prefix (default: ./warehouse)")  # fmt: skip
    ing.add_argument("--config", metavar="FILE", help="TOML configuration")
    ing.add_argument(
        "--log-format", metavar="FORMAT",
        help="preset (combined, common, vhost_combined, nginx), an Apache LogFormat or an nginx "
        "log_format string (default: the config's log_format, else combined)",
    )  # fmt: skip
    ing.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel parse workers")
    ing.add_argument("--final", action="store_true",
                     help="the files are closed archives: ingest a last line without newline")  # fmt: skip
    ing.add_argument(
        "--rebuild", metavar="FROM:TO",
        help="reprocess archives: replace the stored days FROM..TO (YYYY-MM-DD, local dates in the configured time zone) by "
        "what PATHs hold for those days, atomically; other days are untouched",
    )  # fmt: skip
    ing.add_argument("--json", action="store_true", help="print the summary as JSON")
    ing.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the tasks on a Dask cluster (tcp://HOST:8786)")  # fmt: skip

    rep = sub.add_parser(
        "report",
        help="render a month's matrices (HTML, XLSX, CSV)",
        description="Build the month's two matrices from the store and the allies table and write "
        "the HTML report, the XLSX workbook and one CSV per matrix.",
    )
    rep.add_argument("--month", required=True, metavar="YYYY-MM|previous",
                     help="the month to report; 'previous': the last whole month in the "
                     "configured time zone")  # fmt: skip
    rep.add_argument("--warehouse", default="warehouse", metavar="DIR",
                     help="the Parquet store: a directory, or an object-store URL like "
                     "s3://bucket/prefix (default: ./warehouse)")  # fmt: skip
    rep.add_argument("--allies", default="aliados.csv", metavar="FILE",
                     help="allies lookup table, CSV or XLSX (default: ./aliados.csv)")  # fmt: skip
    rep.add_argument("--out", default=".", metavar="DIR", help="output directory (default: .)")
    rep.add_argument("--config", metavar="FILE", help="TOML configuration")
    rep.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the tasks on a Dask cluster (tcp://HOST:8786)")  # fmt: skip
    rep.add_argument("--mail-to", metavar="ADDR[,ADDR...]",
                     help="mail the HTML and XLSX to these addresses once written (SMTP server "
                     "in the config's [mail] table, password in LOGMETRICS_SMTP_PASSWORD)")  # fmt: skip
    rep.add_argument("--allow-partial", action="store_true",
                     help="report a month the logs do not wholly cover (they start late, stop "
                     "early or miss a day), flagged as partial; refused otherwise (exit 10)")  # fmt: skip
    _store_commands(sub)

    pr = sub.add_parser(
        "prune",
        help="delete old hits and rejected lines, keep what reports need",
        description="Delete the hits and rejected lines dated before a month (client IPs and "
        "user agents are personal data), keeping each day's summary: later reports still show "
        "last connections, the previous month's comparison and the last 12 months, the same "
        "as before. The summaries are those of --config (the default configuration without "
        "it): pruned months keep the interpretation they had when pruned. A pruned month can "
        "no longer be reported; an ingest skips lines dated in it.",
    )
    pr.add_argument("--before", required=True, metavar="YYYY-MM",
                    help="prune every day before this month (at most the current month)")  # fmt: skip
    pr.add_argument("--warehouse", default="warehouse", metavar="DIR",
                    help="the Parquet store: a directory, or an object-store URL like "
                    "s3://bucket/prefix (default: ./warehouse)")  # fmt: skip
    pr.add_argument("--config", metavar="FILE",
                    help="TOML configuration the kept summaries interpret hits with "
                    "(default: the defaults)")  # fmt: skip
    pr.add_argument("--json", action="store_true", help="print the summary as JSON")

    demo = sub.add_parser(
        "demo",
        help="ingest the shipped sample month and render its report",
        description="Ingest the shipped sample month into a temporary store and render its "
        "report, end to end.",
    )
    demo.add_argument("--out", default="logmetrics-demo", metavar="DIR",
                      help="output directory (default: ./logmetrics-demo)")  # fmt: skip
    return p


_WAREHOUSE_HELP = "the Parquet store: a directory or an object-store URL (default: ./warehouse)"


def _store_commands(sub: Any) -> None:
    """``status`` and ``rejects``: what the store holds."""
    st = sub.add_parser(
        "status",
        help="what the store holds: sources, last ingest, lines per day, size",
        description="Show the store's sources, its last ingest, the lines, interaction hits and "
        "rejected lines of each of its last 31 days with data, and its size.",
    )
    st.add_argument("--warehouse", default="warehouse", metavar="DIR", help=_WAREHOUSE_HELP)
    st.add_argument("--config", metavar="FILE", help="TOML configuration (time zone, events)")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.add_argument("--max-age", type=float, metavar="HOURS",
                    help="exit 11 when the last ingest ended more than HOURS ago (monitoring)")  # fmt: skip
    rj = sub.add_parser(
        "rejects",
        help="the rejected lines: file, line number, reason, text",
        description="Show the lines the ingest could not read, by date, file and line number: "
        "those of a month or a date, or by default those of the latest ingest that rejected any.",
    )
    rj.add_argument("--warehouse", default="warehouse", metavar="DIR", help=_WAREHOUSE_HELP)
    which = rj.add_mutually_exclusive_group()
    which.add_argument("--month", metavar="YYYY-MM", help="the rejected lines dated in this month")
    which.add_argument("--date", metavar="YYYY-MM-DD", help="the rejected lines of this date")
    rj.add_argument("--limit", type=int, default=100, metavar="N",
                    help="show at most N lines, then how many more (default 100; 0: all)")  # fmt: skip
    rj.add_argument("--csv", action="store_true", help="write CSV to stdout (UTF-8, header row)")
    rj.add_argument("--config", metavar="FILE", help="TOML configuration (time zone)")


def _config(path: str | None) -> Config:
    return load_config(path)


def _date_range(text: str) -> tuple[dt.date, dt.date]:
    first, sep, last = text.partition(":")
    if not sep:
        first, sep, last = text.partition("..")
    try:
        start = dt.date.fromisoformat(first.strip())
        end = dt.date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ConfigError(f"--rebuild: {text!r} is not FROM:TO (YYYY-MM-DD:YYYY-MM-DD)") from None
    if end < start:
        raise ConfigError(f"--rebuild: {text!r} ends before it starts")
    return start, end


def _addresses(text: str | None) -> list[str]:
    """``--mail-to a@x.pe,b@y.pe`` -> the addresses; an empty list item is an error."""
    if text is None:
        return []
    addresses = [a.strip() for a in text.split(",")]
    if not all(addresses):
        raise ConfigError(f"--mail-to: {text!r} has an empty address")
    return addresses


class _ProgressBar:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        frac = done / total if total else 1.0
        width = 30
        filled = int(frac * width)
        mb = done / 1e6
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {frac:6.1%} {mb:,.1f} MB"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest

    if args.jobs < 1:
        raise ConfigError("--jobs: must be at least 1")
    config = _config(args.config)
    bar = _ProgressBar("ingest") if sys.stderr.isatty() and not args.json else None
    kwargs: dict[str, object] = {}
    if args.scheduler:
        kwargs["scheduler"] = args.scheduler
    try:
        summary = ingest(
            args.paths,
            warehouse=args.warehouse,
            config=config,
            log_format=args.log_format,
            jobs=args.jobs,
            final=args.final,
            rebuild=_date_range(args.rebuild) if args.rebuild else None,
            progress=bar,
            **kwargs,  # type: ignore[arg-type]
        )
    finally:
        if bar:
            bar.close()
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print(summary.line())
    for rep in summary.unreadable:
        print(f"logmetrics: skipped {rep.path}: {rep.reason}", file=sys.stderr)
    return EXIT_UNREADABLE if summary.unreadable else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .api import report_month
    from .coverage import partial_line

    to = _addresses(args.mail_to)
    built: list[MonthReport] = []
    paths = report_month(
        args.month,
        warehouse=args.warehouse,
        allies=args.allies,
        out_dir=args.out,
        config=_config(args.config),
        scheduler=args.scheduler,
        mail_to=to,
        allow_partial=args.allow_partial,
        on_report=built.append,
    )
    for path in paths:
        print(path)
    logs = built[0].coverage.logs if built else None
    if logs is not None and logs.partial:
        print(partial_line(logs))
    if to:
        print(f"mailed to {', '.join(to)}")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from .prune import prune

    summary = prune(warehouse=args.warehouse, before=args.before, config=_config(args.config))
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print(summary.line())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_MONTH, run_demo

    summary, paths = run_demo(out_dir=args.out)
    print(f"demo: {summary.line()}")
    print(f"demo: report for {DEMO_MONTH} written to {Path(args.out).resolve()}:")
    for path in paths:
        print(f"  {path}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .status import check_age, store_status

    if args.max_age is not None and not args.max_age > 0:
        raise ConfigError("--max-age: must be a number of hours above 0")
    status = store_status(args.warehouse, config=_config(args.config))
    if args.json:
        print(json.dumps(status.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print("\n".join(status.text()))
    if args.max_age is not None:
        sys.stdout.flush()
        check_age(status, max_age_hours=args.max_age)
    return 0


def _cmd_rejects(args: argparse.Namespace) -> int:
    from .rejects import rejected_lines

    if args.limit < 0:
        raise ConfigError("--limit: must be 0 (all) or more")
    try:
        day = dt.date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise ConfigError(f"--date: {args.date!r} is not a date like 2022-03-05") from None
    found = rejected_lines(
        args.warehouse, month=args.month, day=day, limit=args.limit, config=_config(args.config)
    )
    if args.csv:
        sys.stdout.flush()
        sys.stdout.buffer.write(found.csv().encode("utf-8"))
        if found.more:
            print(f"logmetrics: {found.more:,} more rejected line(s) (--limit 0: all)",
                  file=sys.stderr)  # fmt: skip
    else:
        print("\n".join(found.text()))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ingest": _cmd_ingest,
    "report": _cmd_report,
    "prune": _cmd_prune,
    "demo": _cmd_demo,
    "status": _cmd_status,
    "rejects": _cmd_rejects,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``logmetrics`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="logmetrics: %(levelname)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except LogmetricsError as exc:
        print(f"logmetrics: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("logmetrics: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence, one line for cron
        if args.debug:
            raise
        print(
            f"logmetrics: internal error: {type(exc).__name__}: {exc} (re-run with --debug)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run() -> None:
    """The console script: ``main()``'s return value is the exit code."""
    sys.exit(main())
