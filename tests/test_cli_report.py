"""The monthly job cron runs: ``logmetrics report --month previous --mail-to …``, end to end.

The store is the shipped sample month (fixtures/, March 2022). The date the command sees is set
with Debian's ``faketime`` (libfaketime) around the real command, so the product has no clock
hook; the SMTP server is aiosmtpd with STARTTLS and AUTH (tests/smtp_server.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from logmetrics.api import report_month
from logmetrics.cli import main
from logmetrics.config import PASSWORD_ENV, Config
from logmetrics.ingest import ingest
from tests.fixture_month import ALLIES, LOGS
from tests.smtp_server import PASSWORD, Certificates, mail_table, make_certificates, smtp_server

FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(
    FAKETIME is None, reason="faketime (Debian package faketime) is not installed"
)
TO = ("acompanamiento@contigo.example", "jefatura@contigo.example")
MARCH = (
    "reporte-usuario-aliado-2022-03.html",
    "reporte-usuario-aliado-2022-03.xlsx",
    "matriz-gobiernos-2022-03.csv",
    "matriz-otros-aliados-2022-03.csv",
)
# fixtures/README.md: 37 allies (9 GR + 17 GL = 26 in matrix 1, 11 OA in matrix 2); idle in
# March: the four never seen, Chachapoyas (February only) and the Piura association (April
# only, so not yet connected by 31 March); one unknown user, mdchilca01.
SENTENCES = [
    "Gobiernos Regionales y Locales: 21 de 26 aliados usaron la aplicación en marzo de 2022.",
    "Otros Aliados: 10 de 11 aliados usaron la aplicación en marzo de 2022.",
    "6 aliados no tuvieron actividad en el mes; 5 nunca se han conectado.",
    "1 nombre de usuario visto en los registros no figura en la tabla de aliados"
    " (ver «Usuarios desconocidos»).",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wh = tmp_path_factory.mktemp("store")
    ingest([LOGS], warehouse=wh, config=Config(), final=True)
    return wh


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def _report_args(warehouse: Path, out: Path, config: Path, month: str) -> list[str]:
    return ["report", "--month", month, "--warehouse", str(warehouse), "--allies", str(ALLIES),
            "--out", str(out), "--config", str(config), "--mail-to", ",".join(TO)]  # fmt: skip


def _at(
    when: str, args: list[str], *, tz: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    """Run ``logmetrics ARGS`` with the clock at ``when`` (wall time in ``tz``) and TZ=tz."""
    assert FAKETIME is not None
    env = {**os.environ, "TZ": tz, PASSWORD_ENV: password}
    return subprocess.run(
        [FAKETIME, when, sys.executable, "-m", "logmetrics", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def _summary_items(html_report: str) -> list[str]:
    """The «Resumen» sentences of a written HTML report."""
    block = re.search(r'<ul class="summary">(.*?)</ul>', html_report, re.S)
    assert block is not None
    return re.findall(r"<li>(.*?)</li>", block.group(1))


@needs_faketime
def test_previous_month_run_in_april_mails_march(
    warehouse: Path, certs: Certificates, tmp_path: Path
) -> None:
    """On 2 April 2022 the cron line writes March's four files and mails one Spanish message."""
    out, cfg = tmp_path / "reportes", tmp_path / "logmetrics.toml"
    with smtp_server("starttls", certs) as server:
        cfg.write_text(mail_table(server, "starttls"), encoding="utf-8")
        proc = _at("2022-04-02 07:00:00", _report_args(warehouse, out, cfg, "previous"),
                   tz="America/Lima")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [str(out / n) for n in MARCH] + [
        f"mailed to {', '.join(TO)}"
    ]
    (envelope,) = server.inbox.received
    assert envelope.rcpt_tos == list(TO)
    (msg,) = server.inbox.messages()
    assert msg["Subject"] == "Reporte mensual USUARIO ALIADO — marzo de 2022"
    sent = msg["Date"].datetime
    assert sent.date() == dt.date(2022, 4, 2) and sent.utcoffset() == dt.timedelta(hours=-5)
    assert _attachments(msg) == {n: (out / n).read_bytes() for n in MARCH[:2]}
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for sentence in SENTENCES:
        assert f"- {sentence}\n" in text
    report_items = _summary_items((out / MARCH[0]).read_text(encoding="utf-8"))
    assert _summary_items(page.replace("<ul>", '<ul class="summary">')) == report_items
    assert len(report_items) == 5  # the four above and the region with most logins


def _attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {a.get_filename() or "": a.get_payload(decode=True) for a in msg.iter_attachments()}  # type: ignore[misc]


@needs_faketime
def test_previous_is_read_in_lima_not_on_the_system_clock(warehouse: Path, tmp_path: Path) -> None:
    """At 03:00 UTC on 1 April it is still 31 March in Lima: 'previous' is February (whose
    sample logs hold only its last evening, hence --allow-partial)."""
    out = tmp_path / "o"
    proc = _at("2022-04-01 03:00:00", ["report", "--month", "previous", "--warehouse",
               str(warehouse), "--allies", str(ALLIES), "--out", str(out), "--allow-partial"],
               tz="UTC")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        n.replace("2022-03", "2022-02") for n in MARCH
    )


def test_api_previous_month_from_now(warehouse: Path, tmp_path: Path) -> None:
    """report_month('previous', now=…) writes the month before now's Lima month."""
    now = dt.datetime(2022, 4, 15, 12, 0, tzinfo=dt.UTC)
    paths = report_month("previous", warehouse=warehouse, allies=ALLIES, out_dir=tmp_path, now=now)
    assert [p.name for p in paths] == list(MARCH)


# --- a failed send: one line, exit 9, the files stay ---------------------------------------------


def _run_failing(
    warehouse: Path, tmp_path: Path, mail: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, Path]:
    out, cfg = tmp_path / "o", tmp_path / "c.toml"
    cfg.write_text(mail, encoding="utf-8")
    code = main(["-vv", *_report_args(warehouse, out, cfg, "2022-03")])
    return code, capsys.readouterr().err, out


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("logmetrics: error:")]
    assert len(lines) == 1
    return lines[0]


def test_refused_login_exits_9_and_keeps_the_files(
    warehouse: Path, certs: Certificates, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A wrong password: one error line naming the refused login, exit 9, four files written."""
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    caplog.set_level(logging.DEBUG)
    with smtp_server("starttls", certs) as server:
        code, err, out = _run_failing(warehouse, tmp_path, mail_table(server, "starttls"), capsys)
    line = _one_error_line(err)
    assert code == 9 and "login as 'reportes@contigo.example' refused" in line and "535" in line
    assert "mailing 'Reporte mensual USUARIO ALIADO — marzo de 2022'" in caplog.text
    assert PASSWORD not in err and PASSWORD not in caplog.text
    assert sorted(p.name for p in out.iterdir()) == sorted(MARCH)
    assert server.inbox.received == []


def test_unreachable_server_exits_9_and_keeps_the_files(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening on the port: one error line naming host:port, exit 9, files written."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mail = f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "r@x.pe"\n'
    code, err, out = _run_failing(warehouse, tmp_path, mail, capsys)
    line = _one_error_line(err)
    assert code == 9 and f"127.0.0.1:{port}: cannot reach the server" in line
    assert sorted(p.name for p in out.iterdir()) == sorted(MARCH)


def test_refused_recipient_exits_9_and_keeps_the_files(
    warehouse: Path, certs: Certificates, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A recipient answered 550: one error line with the server's answer, exit 9, files written."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with smtp_server("starttls", certs, refuse=frozenset(TO)) as server:
        code, err, out = _run_failing(warehouse, tmp_path, mail_table(server, "starttls"), capsys)
    line = _one_error_line(err)
    assert code == 9 and f"{TO[0]} refused: 550 5.1.1" in line and f"{TO[1]} refused" in line
    assert sorted(p.name for p in out.iterdir()) == sorted(MARCH)


# --- mistakes found before any work: exit 2, nothing written -------------------------------------


@pytest.mark.parametrize(
    ("toml", "mail_to", "needle"),
    [
        ("", ",".join(TO), "no [mail] table"),
        ('[mail]\nhost = "h"\nfrom = "r@x.pe"\nuser = "r"\n', ",".join(TO), PASSWORD_ENV),
        ('[mail]\nhost = "h"\nfrom = "r@x.pe"\n', "acompanamiento", "'acompanamiento'"),
        ('[mail]\nhost = "h"\nfrom = "r@x.pe"\n', f"{TO[0]},", "empty address"),
    ],
)
def test_mail_mistakes_exit_2_before_the_report(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, toml: str, mail_to: str, needle: str,
) -> None:  # fmt: skip
    """No [mail] table, no password, a bad address: exit 2 naming it, no file written."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    cfg, out = tmp_path / "c.toml", tmp_path / "o"
    cfg.write_text(toml, encoding="utf-8")
    code = main(["report", "--month", "2022-03", "--warehouse", str(warehouse), "--allies",
                 str(ALLIES), "--out", str(out), "--config", str(cfg), "--mail-to", mail_to])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1
    assert not out.exists()
