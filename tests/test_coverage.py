"""A month's coverage (issue 16 item 1): a month whose logs start late, stop early or miss a day
is refused (exit 10) naming what is missing, unless ``--allow-partial``, which flags it in the
HTML banner, the Notas sheet and the CLI's line, with no comparison to or from a partial month.

The stores are real ingests: the shipped sample month (fixtures/README.md: app1's four rotated
files and app2's one file, 28 February 20:00 to 1 April 00:33 Lima) and small logs written
below, every line of which is a monitor, crawler or person at a time given in Lima.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

import logmetrics.ingest_run
from logmetrics import coverage, mail
from logmetrics.cli import main
from logmetrics.config import Config
from logmetrics.errors import PartialMonthError
from logmetrics.ingest import ingest
from logmetrics.render import render_html
from logmetrics.report import build_report
from tests.fixture_month import ALLIES, LOGS

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36"
)
UPTIME = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
#: the sample store's April: only 1 April 00:00-00:33 Lima (fixtures/README.md)
APRIL = "2022-04: no log lines on 2022-04-02..2022-04-30; last line 2022-04-01 00:33:00"
APRIL_BANNER = (
    "Mes incompleto. Los registros no cubren todo abril de 2022 (no hay registros del "
    "2022-04-02 al 2022-04-30; el último registro es del 2022-04-01 00:33:00). Las cifras cubren "
    "solo lo registrado y no se comparan con marzo de 2022."
)


def line(when: dt.datetime, *, ua: str = UPTIME, user: str = "-", path: str = "/login",
         method: str = "HEAD", status: int = 200) -> str:  # fmt: skip
    """A combined-format line at ``when`` (Lima, -0500)."""
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S -0500")
    return f'10.0.0.9 - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} 0 "-" "{ua}"\n'


def every(
    first: dt.datetime, last: dt.datetime, step: dt.timedelta = 2 * H
) -> Iterator[dt.datetime]:
    """``first``, ``first + step``, … up to ``last``."""
    while first <= last:
        yield first
        first += step


def monitor(first: dt.datetime, last: dt.datetime, step: dt.timedelta = 2 * H) -> str:
    """UptimeRobot's HEAD /login every ``step`` (a bot: no person in it)."""
    return "".join(line(t) for t in every(first, last, step))


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def store(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> text; ``.gz`` compressed) under ``logs/`` and ingest them."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for name, text in files.items():
        data = text.encode("utf-8")
        (logs / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    ingest([logs], warehouse=tmp_path / "wh", config=Config(), final=True)
    return tmp_path / "wh"


def refusal(wh: Path, month: str = "2022-03") -> PartialMonthError:
    with pytest.raises(PartialMonthError) as err:
        build_report(month, warehouse_dir=wh, allies=ALLIES)
    return err.value


#: Every hour of February and March (and 1 April's first hours): a whole store to start from.
FEB_MAR = monitor(t("2022-02-01 00:30"), t("2022-04-01 02:30"), H)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped sample month, ingested."""
    wh = tmp_path_factory.mktemp("sample") / "wh"
    ingest([LOGS], warehouse=wh, config=Config(), final=True)
    return wh


# --- the issue's example: April holds only 1 April 00:00-00:33 -----------------------------------


def test_the_issues_april_is_refused_with_what_is_missing(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --month 2022-04` on a store whose April is 33 minutes exits 10 with one line
    naming the days without lines and the last line, and writes nothing."""
    out = tmp_path / "out"
    code = main(["report", "--month", "2022-04", "--warehouse", str(sample), "--allies",
                 str(ALLIES), "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.splitlines()
    assert code == 10
    assert err == [f"logmetrics: error: {APRIL}; use --allow-partial to report it anyway"]
    assert not out.exists()
    refused = refusal(sample, "2022-04")
    assert refused.month == "2022-04"
    assert refused.problems == ["no log lines on 2022-04-02..2022-04-30",
                                "last line 2022-04-01 00:33:00"]  # fmt: skip


def test_allow_partial_flags_the_month_everywhere_and_compares_nothing(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --allow-partial the month is reported: the HTML opens with the banner, the Notas
    sheet repeats it, the CLI's last line says why, and no card says "respecto a"."""
    out = tmp_path / "out"
    code = main(["report", "--month", "2022-04", "--warehouse", str(sample), "--allies",
                 str(ALLIES), "--out", str(out), "--allow-partial"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"partial month {APRIL} (reported with --allow-partial)"
    html = (out / "reporte-usuario-aliado-2022-04.html").read_text(encoding="utf-8")
    banner = html[html.index('<aside class="partial-month"') : html.index("</aside>")]
    assert APRIL_BANNER.replace("Mes incompleto. ", "<strong>Mes incompleto.</strong> ") in banner
    assert html.index('partial-month"') < html.index('id="resumen"')
    assert "respecto a" not in html
    assert ("Registros del 2022-04-01 00:00:02 al 2022-04-01 00:33:00, 2 fuentes, 29 días sin "
            "registros (del 2022-04-02 al 2022-04-30)") in html  # fmt: skip
    notes = openpyxl.load_workbook(out / "reporte-usuario-aliado-2022-04.xlsx")["Notas"]
    rows = {r[0]: r[1] for r in notes.iter_rows(min_col=1, max_col=2, values_only=True) if r[0]}
    assert "Mes incompleto. " + rows["Mes incompleto"] == APRIL_BANNER


def test_a_partial_months_mail_says_so_first(sample: Path) -> None:
    """The mail of a month reported with allow_partial opens its summary with the banner."""
    report = build_report("2022-04", warehouse_dir=sample, allies=ALLIES, allow_partial=True)
    files = {"html": ("r.html", b"<html></html>"), "xlsx": ("r.xlsx", b"PK")}
    msg = mail.message(report, files, sender="a@ejemplo.gob.pe", to=["b@ejemplo.gob.pe"])
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content().splitlines()
    assert text[3] == f"- {APRIL_BANNER}"


def test_the_demo_month_is_whole_and_says_what_its_logs_cover(sample: Path) -> None:
    """March of the sample logs is whole: first line 1 March 00:00:00 (UptimeRobot, app1), last
    31 March 23:59:10 (S3's POST /solicitudes), two log families, every day with lines; and
    February (its last four hours only) is not compared with it."""
    report = build_report("2022-03", warehouse_dir=sample, allies=ALLIES)
    logs = report.coverage.logs
    assert logs is not None and not logs.partial
    assert [(f.name.rsplit("/", 1)[-1], f.files) for f in logs.families] == [
        ("access.log", 4), ("app2-access.log", 1)
    ]  # fmt: skip
    html = render_html(report)
    assert ("<dt>Cobertura de los registros</dt><dd>Registros del 2022-03-01 00:00:00 al "
            "2022-03-31 23:59:10, 2 fuentes, sin días sin registros</dd>") in html  # fmt: skip
    assert 'partial-month"' not in html and report.previous_totals is None


# --- the rules, one store each -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "whole"), [("2022-03-01 11:30", True), ("2022-03-01 12:30", False)]
)
def test_a_month_starting_late(tmp_path: Path, start: str, whole: bool) -> None:
    """The month's first line 11:30 after it starts passes (a quiet night); 12:30 after is
    refused, naming the first line."""
    wh = store(tmp_path, {"access.log": monitor(t(start), t("2022-03-31 23:30"), H)})
    if whole:
        logs = build_report("2022-03", warehouse_dir=wh, allies=ALLIES).coverage.logs
        assert logs is not None and logs.first == t(start) and not logs.partial
    else:
        assert refusal(wh).problems == ["first line 2022-03-01 12:30:00"]


def test_a_month_stopping_early(tmp_path: Path) -> None:
    """A last line 13 hours before the month ends is refused, naming it."""
    wh = store(tmp_path, {"access.log": monitor(t("2022-03-01 00:00"), t("2022-03-31 11:00"), H)})
    assert refusal(wh).problems == ["last line 2022-03-31 11:00:00"]


def test_a_day_without_any_line(tmp_path: Path) -> None:
    """A store with every hour of March but 15 March's is refused naming that day."""
    text = "".join(
        line(when) for when in every(t("2022-03-01 00:30"), t("2022-03-31 23:30"), H)
        if when.date() != dt.date(2022, 3, 15)
    )  # fmt: skip
    err = refusal(store(tmp_path, {"access.log": text}))
    assert err.problems == ["no log lines on 2022-03-15"]


def test_a_quiet_weekend_with_only_bot_lines_is_not_a_gap(tmp_path: Path) -> None:
    """People on weekdays only, and on Saturday 5 and Sunday 6 March a single Googlebot hit
    each (and a favicon on Sunday): the month is whole, the weekend days have no session."""
    hits = [(t("2022-03-01 00:05"), GOOGLEBOT, "/"), (t("2022-03-31 23:00"), GOOGLEBOT, "/"),
            (t("2022-03-06 13:00"), CHROME, "/favicon.ico")]  # fmt: skip
    for day in every(t("2022-03-01 00:00"), t("2022-03-31 00:00"), D):
        hits.append((day + 3 * H, GOOGLEBOT, "/robots.txt"))
        if day.weekday() < 5:
            hits += [(day + 8 * H, CHROME, "/inicio"), (day + 18 * H, CHROME, "/reportes")]
    text = "".join(
        line(when, ua=ua, user="ana" if ua == CHROME and path != "/favicon.ico" else "-",
             method="GET", path=path)
        for when, ua, path in sorted(hits)
    )  # fmt: skip
    report = build_report("2022-03", warehouse_dir=store(tmp_path, {"access.log": text}),
                          allies=ALLIES)  # fmt: skip
    assert report.coverage.logs is not None and not report.coverage.logs.partial
    assert report.coverage.logs.silent_days == ()
    weekend = [d.sessions for d in report.daily if d.day.day in (5, 6)]
    assert weekend == [0, 0]


def test_a_log_family_that_stops(tmp_path: Path) -> None:
    """Two servers; app2's log stops on 20 March 06:00 while app1's goes on: refused, naming
    app2's log and its last line (app1 alone keeps every day and both month ends covered)."""
    wh = store(tmp_path, {
        "access.log": FEB_MAR,
        "app2-access.log": monitor(t("2022-02-01 00:00"), t("2022-03-20 06:00"), H),
    })  # fmt: skip
    app2 = tmp_path / "logs" / "app2-access.log"
    assert refusal(wh).problems == [f"{app2}: last line 2022-03-20 06:00:00"]


def test_a_log_family_that_starts_late(tmp_path: Path) -> None:
    """app2 wrote lines all February but starts March only on the 3rd at 00:00 (its first
    days' logs never copied): refused, naming app2's first line."""
    wh = store(tmp_path, {
        "access.log": FEB_MAR,
        "app2-access.log.1": monitor(t("2022-02-01 00:00"), t("2022-02-28 23:00"), H),
        "app2-access.log": monitor(t("2022-03-03 00:00"), t("2022-04-01 01:00"), H),
    })  # fmt: skip
    app2 = tmp_path / "logs" / "app2-access.log"
    assert refusal(wh).problems == [f"{app2}: first line 2022-03-03 00:00:00"]


def test_a_log_family_missing_from_the_month(tmp_path: Path) -> None:
    """app2 wrote lines in February and none in March (its logs never copied): refused."""
    wh = store(tmp_path, {
        "access.log": FEB_MAR,
        "app2-access.log": monitor(t("2022-02-01 00:10"), t("2022-02-28 23:10"), H),
    })  # fmt: skip
    app2 = tmp_path / "logs" / "app2-access.log"
    assert refusal(wh).problems == [
        f"{app2}: no lines in the month (it had lines the month before)"
    ]


def test_a_rotated_file_never_copied(tmp_path: Path) -> None:
    """app1's weekly files with access.log.2.gz (8-14 March) missing, app2 covering every
    day: app1's log is silent from its .3.gz's last line to its .1's first."""
    wh = store(tmp_path, {
        "access.log.3.gz": monitor(t("2022-02-28 00:00"), t("2022-03-07 22:00")),
        "access.log.1": monitor(t("2022-03-15 00:00"), t("2022-03-21 22:00")),
        "access.log": monitor(t("2022-03-22 00:00"), t("2022-04-01 02:00")),
        "app2-access.log": monitor(t("2022-02-28 00:10"), t("2022-04-01 02:10")),
    })  # fmt: skip
    app1 = tmp_path / "logs" / "access.log"
    assert refusal(wh).problems == [
        f"{app1}: no lines from 2022-03-07 22:00:00 to 2022-03-15 00:00:00"
    ]


def test_a_month_in_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingested on 20 March at 12:00 Lima: March is not over, so it is partial even where its
    days so far are whole."""
    monkeypatch.setattr(logmetrics.ingest_run, "now_iso", lambda: "2022-03-20T17:00:00+00:00")
    wh = store(tmp_path, {"access.log": monitor(t("2022-03-01 00:30"), t("2022-03-20 11:30"), H)})
    assert refusal(wh).problems == [
        "no log lines on 2022-03-21..2022-03-31",
        "last line 2022-03-20 11:30:00",
        "month in progress (last ingest 2022-03-20 12:00:00)",
    ]


# --- the comparison with the previous month ------------------------------------------------------


def test_two_whole_months_are_compared(tmp_path: Path) -> None:
    """February and March both whole: the cards compare March with February."""
    report = build_report("2022-03", warehouse_dir=store(tmp_path, {"a.log": FEB_MAR}),
                          allies=ALLIES)  # fmt: skip
    assert report.previous_totals is not None
    assert "respecto a febrero de 2022" in render_html(report)


def test_no_comparison_with_a_partial_previous_month(tmp_path: Path) -> None:
    """February missing its 14th: March (whole) is reported without comparison."""
    text = "".join(
        line(w) for w in every(t("2022-02-01 00:30"), t("2022-04-01 02:30"), H)
        if w.date() != dt.date(2022, 2, 14)
    )  # fmt: skip
    report = build_report("2022-03", warehouse_dir=store(tmp_path, {"a.log": text}), allies=ALLIES)
    assert report.previous_totals is None and "respecto a" not in render_html(report)


def test_no_comparison_of_a_partial_month_with_a_whole_one(tmp_path: Path) -> None:
    """March missing its 14th, reported with allow_partial: not compared with February."""
    text = "".join(
        line(w) for w in every(t("2022-02-01 00:30"), t("2022-04-01 02:30"), H)
        if w.date() != dt.date(2022, 3, 14)
    )  # fmt: skip
    report = build_report("2022-03", warehouse_dir=store(tmp_path, {"a.log": text}),
                          allies=ALLIES, allow_partial=True)  # fmt: skip
    assert report.coverage.logs is not None
    assert [g.kind for g in report.coverage.logs.gaps] == ["silent_days"]
    assert report.previous_totals is None and "respecto a" not in render_html(report)


# --- log families --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/var/log/nginx/access.log", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log.1", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log.2.gz", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log-20220301", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log-20220301.gz", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log-2022030112.gz", "/var/log/nginx/access.log"),
        ("/var/log/nginx/access.log.2022-03-01", "/var/log/nginx/access.log"),
        ("/var/log/app2/access.log.1", "/var/log/app2/access.log"),
        ("logs/app2-access.log", "logs/app2-access.log"),
    ],
)
def test_a_log_family_is_its_directory_and_name_without_rotation_suffixes(
    path: str, family: str
) -> None:
    """Every logrotate cycle's file of one log is one family; another directory is another."""
    assert coverage.log_family(path) == family


def test_the_ingest_records_its_summary_in_the_manifest(sample: Path) -> None:
    """The sample ingest's record: its 5 new files and 4,724 lines ingested, 6 rejected
    (fixtures/README.md: 4,730 lines of which 6 malformed)."""
    record = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))["last_ingest"]
    assert (record["files"], record["files_new"], record["lines_ingested"],
            record["lines_rejected"]) == (5, 5, 4724, 6)  # fmt: skip
    assert dt.datetime.fromisoformat(record["at"]).tzinfo is not None
