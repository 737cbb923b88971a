"""The shipped schedules (deploy/): cron lines and systemd units that run as the guide says.

Every ``logmetrics`` command they run parses with the real command-line parser, the example
configuration loads, the units pass ``systemd-analyze verify``, and the times are the ones the
Spanish operator guide states.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from logmetrics.api import resolve_month
from logmetrics.cli import _addresses, _parser
from logmetrics.config import load_config, mail_address

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CRON = DEPLOY / "cron" / "logmetrics"
UNITS = sorted((DEPLOY / "systemd").glob("logmetrics-*"))
TIMERS = {u.stem: u for u in UNITS if u.suffix == ".timer"}
BINARY = "/opt/logmetrics/bin/logmetrics"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze (Debian package systemd) is not installed"
)


def _guide() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme[readme.index("## Guía del operador") :]


def _cron_jobs() -> dict[str, tuple[list[str], str]]:
    """Command name -> (the five time fields, the command), from the cron.d file."""
    jobs: dict[str, tuple[list[str], str]] = {}
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"[A-Z_]+=", line):
            continue
        fields = line.split(None, 6)
        assert fields[5] == "logmetrics", f"cron.d lines name their user: {line}"
        args = _logmetrics_args(fields[6])
        jobs[args.command] = (fields[:5], fields[6])
    return jobs


def _unit_value(path: Path, key: str) -> str:
    (value,) = re.findall(rf"^{key}=(.*)$", path.read_text(encoding="utf-8"), re.M)
    return value


def _logmetrics_args(command: str) -> Namespace:
    """The options of the one ``logmetrics`` invocation in a shell command, as the CLI parses them."""
    words = shlex.split(command)
    start = words.index(BINARY) + 1
    args = words[start:]
    assert not {";", "&&", "||", "|"} & set(args), "logmetrics is the command's last step"
    try:
        return _parser().parse_args(args)
    except SystemExit:  # argparse has printed why
        pytest.fail(f"not a valid logmetrics command line: {command}")


def _commands() -> list[tuple[str, str]]:
    """(where, shell command) for every job: each cron line and each service's ExecStart."""
    out = [(f"cron-{name}", cmd) for name, (_, cmd) in _cron_jobs().items()]
    out += [(u.name, _unit_value(u, "ExecStart")) for u in UNITS if u.suffix == ".service"]
    return out


@pytest.mark.parametrize(("where", "command"), _commands(), ids=[w for w, _ in _commands()])
def test_every_scheduled_command_parses(where: str, command: str) -> None:
    """Each cron line and ExecStart is a valid logmetrics command with the shipped config."""
    args = _logmetrics_args(command)
    assert args.config == "/etc/logmetrics/logmetrics.toml"
    if args.command == "report":
        assert args.month == "previous" and args.mail_to
        resolve_month(args.month, timezone=load_config(DEPLOY / "logmetrics.toml").timezone)
        for address in _addresses(args.mail_to):
            mail_address("--mail-to", address)


def test_both_schedules_run_the_same_two_commands() -> None:
    """cron and systemd run the same ingest and the same report, word for word."""
    cron = {name: shlex.split(cmd) for name, (_, cmd) in _cron_jobs().items()}
    services = {
        u.stem.removeprefix("logmetrics-"): shlex.split(_unit_value(u, "ExecStart"))
        for u in UNITS
        if u.suffix == ".service"
    }
    assert set(cron) == set(services) == {"ingest", "report"}
    for name, words in services.items():
        assert cron[name][cron[name].index(BINARY) :] == words


def test_example_config_loads_with_a_mail_table() -> None:
    """deploy/logmetrics.toml, which the jobs name, is a valid configuration with [mail]."""
    cfg = load_config(DEPLOY / "logmetrics.toml")
    assert cfg.mail is not None and cfg.mail.security == "starttls" and cfg.mail.port == 587


def test_times_are_the_ones_the_guide_states() -> None:
    """The guide's nightly and monthly times are the cron fields and the timers' OnCalendar."""
    guide = " ".join(_guide().split())
    night = re.search(r"cada noche a las (\d\d):(\d\d)", guide)
    month = re.search(r"el día (\d+) de cada mes a las (\d\d):(\d\d) \(hora de Lima\)", guide)
    assert night and month
    hh, mm = night.groups()
    day, rh, rm = month.groups()
    jobs = _cron_jobs()
    assert jobs["ingest"][0] == [str(int(mm)), str(int(hh)), "*", "*", "*"]
    assert jobs["report"][0] == [str(int(rm)), str(int(rh)), day, "*", "*"]
    ingest_calendar = _unit_value(TIMERS["logmetrics-ingest"], "OnCalendar")
    report_calendar = _unit_value(TIMERS["logmetrics-report"], "OnCalendar")
    assert ingest_calendar == f"*-*-* {hh}:{mm}:00 America/Lima"
    assert report_calendar == f"*-*-{int(day):02d} {rh}:{rm}:00 America/Lima"


def test_guide_names_the_shipped_files() -> None:
    """Every deploy/ file exists and the guide names it, with the password variable."""
    guide = _guide()
    for path in [CRON, DEPLOY / "logmetrics.toml"]:
        assert str(path.relative_to(ROOT)) in guide
    assert "deploy/systemd/logmetrics-{ingest,report}.{service,timer}" in guide
    assert {u.name for u in UNITS} == {
        f"logmetrics-{n}.{s}" for n in ("ingest", "report") for s in ("service", "timer")
    }
    assert "LOGMETRICS_SMTP_PASSWORD" in guide and "--month previous" in guide


@needs_systemd
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the four units silently (an unknown key would warn)."""
    # copied with ExecStart naming this installation's program: verify checks that it exists
    here = Path(sys.prefix) / "bin" / "logmetrics"
    assert here.exists()
    for unit in UNITS:
        (tmp_path / unit.name).write_text(
            unit.read_text(encoding="utf-8").replace(BINARY, str(here)), encoding="utf-8"
        )
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout + proc.stderr == ""


@needs_systemd
@pytest.mark.parametrize("timer", sorted(TIMERS))
def test_timer_next_runs(timer: str) -> None:
    """systemd's own reading of OnCalendar: the report on the 2nd at 07:00, the ingest daily."""
    assert SYSTEMD_ANALYZE is not None
    calendar = _unit_value(TIMERS[timer], "OnCalendar")
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", "--iterations=3", calendar],
        capture_output=True, text=True, timeout=60, env={"TZ": "America/Lima", "LANG": "C"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\d{4}-\d\d-(\d\d)) (\d\d:\d\d:\d\d) -05",
                      proc.stdout)  # fmt: skip
    assert len(runs) == 3
    if timer == "logmetrics-report":
        assert {(d, t) for _, d, t in runs} == {("02", "07:00:00")}
        assert len({date[:7] for date, _, _ in runs}) == 3  # three months in a row
    else:
        assert {t for _, _, t in runs} == {"02:30:00"} and len({date for date, _, _ in runs}) == 3
