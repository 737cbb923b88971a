"""Mailing the month's report: the [mail] table, the Spanish message, and a real SMTP server.

The server is aiosmtpd on 127.0.0.1 (tests/smtp_server.py) speaking STARTTLS, implicit TLS or
plain SMTP, with AUTH; what it received is parsed back and compared with the files sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from logmetrics import mail
from logmetrics.api import resolve_month
from logmetrics.config import PASSWORD_ENV, Config, MailSettings, config_from_dict
from logmetrics.errors import (
    ConfigError,
    MailError,
    MailLoginRefused,
    MailRefused,
    MailUnreachable,
)
from logmetrics.render import output_paths, write_report
from tests.report_factory import make_report
from tests.smtp_server import (
    PASSWORD,
    PASSWORD_ES,
    SENDER,
    USER,
    Certificates,
    Server,
    make_certificates,
    smtp_server,
)

HTML = "reporte-usuario-aliado-2022-03.html"
XLSX = "reporte-usuario-aliado-2022-03.xlsx"
SUBJECT = "Reporte mensual USUARIO ALIADO — marzo de 2022"
# tests/report_factory.make_report's summary (the golden HTML's «Resumen» says the same)
SENTENCES = [
    "Gobiernos Regionales y Locales: 5 de 8 aliados usaron la aplicación en marzo de 2022.",
    "Otros Aliados: 3 de 8 aliados usaron la aplicación en marzo de 2022.",
    "8 aliados no tuvieron actividad en el mes; 3 nunca se han conectado.",
    "La región con más ingresos fue LIMA (1,276).",
    "6 nombres de usuario vistos en los registros no figuran en la tabla de aliados"
    " (ver «Usuarios desconocidos»).",
]
TO = ("acompanamiento@contigo.example", "jefatura@contigo.example")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The factory report's four files, written once; the mail attaches two of them."""
    out = tmp_path_factory.mktemp("out")
    report = make_report()
    write_report(report, out)
    return output_paths(report, out)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield


def _settings(server: Server, security: str, **changes: object) -> MailSettings:
    certs = server.certificates
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": security,
        "sender": SENDER,
        "user": USER if security != "none" else None,
        "cafile": str(certs.ca) if certs else None,
    }
    values.update(changes)
    return MailSettings(**values)  # type: ignore[arg-type]


def _send(settings: MailSettings, written: dict[str, Path], to: tuple[str, ...] = TO) -> None:
    report = make_report()
    plan = mail.delivery(Config(mail=settings), to)
    mail.mail_report(report, written, plan)


def _parts(msg: EmailMessage) -> tuple[str, str, dict[str, tuple[str, bytes]]]:
    body = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert body is not None and page is not None
    files = {
        a.get_filename() or "": (a.get_content_type(), a.get_payload(decode=True))
        for a in msg.iter_attachments()
    }
    crlf = str.maketrans({"\r": None})  # the wire's line ends
    return body.get_content().translate(crlf), page.get_content().translate(crlf), files  # type: ignore[return-value]


# --- the message, through each kind of connection ----------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "ssl", "none"])
def test_server_receives_one_spanish_message_with_both_files(
    security: str, certs: Certificates, written: dict[str, Path]
) -> None:
    """Each security mode delivers one message: subject, From/To, both bodies, both files exact."""
    with smtp_server(security, certs if security != "none" else None) as server:
        _send(_settings(server, security), written)
    (envelope,) = server.inbox.received
    assert envelope.mail_from == "reportes@contigo.example"
    assert envelope.rcpt_tos == list(TO)
    if security != "none":  # the server requires TLS and AUTH, so arriving proves both
        assert server.inbox.logins == [("PLAIN", USER)]
    (msg,) = server.inbox.messages()
    assert msg["Subject"] == SUBJECT
    assert msg["From"] == SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == list(TO)
    text, page, files = _parts(msg)
    for sentence in SENTENCES:
        assert f"- {sentence}\n" in text
        assert f"<li>{sentence}</li>" in page
    assert HTML in text and XLSX in text
    assert files == {
        HTML: ("text/html", written["html"].read_bytes()),
        XLSX: (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            written["xlsx"].read_bytes(),
        ),
    }


def test_html_body_escapes_text_from_the_allies_table() -> None:
    """A matrix title with markup reaches the HTML body as text, never as markup."""
    report = make_report()
    report.matrices[0].spec = dataclasses.replace(report.matrices[0].spec, title="<b>GR & GL</b>")
    files = {"html": (HTML, b"h"), "xlsx": (XLSX, b"x")}
    msg = mail.message(report, files, sender=SENDER, to=TO)
    _, page, _ = _parts(msg)
    assert "&lt;b&gt;GR &amp; GL&lt;/b&gt;: 5 de 8" in page and "<b>" not in page


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_mechanism_the_server_offers(
    mechanism: str, certs: Certificates, written: dict[str, Path]
) -> None:
    """AUTH PLAIN or AUTH LOGIN, whichever the server offers, logs in and delivers."""
    with smtp_server("starttls", certs, mechanisms=(mechanism,)) as server:
        _send(_settings(server, "starttls"), written)
    assert server.inbox.logins == [(mechanism, USER)] and len(server.inbox.received) == 1


def test_non_ascii_password(
    certs: Certificates, written: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password with ñ logs in (AUTH PLAIN in UTF-8), which smtplib alone cannot send."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD_ES)
    with smtp_server("ssl", certs, password=PASSWORD_ES) as server:
        _send(_settings(server, "ssl"), written)
    assert server.inbox.logins == [("PLAIN", USER)] and len(server.inbox.received) == 1


def test_non_ascii_password_needs_plain(
    certs: Certificates, written: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server offering only AUTH LOGIN cannot take a non-ASCII password: one clear MailError."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD_ES)
    with (
        smtp_server("starttls", certs, password=PASSWORD_ES, mechanisms=("LOGIN",)) as server,
        pytest.raises(MailError, match="needs AUTH PLAIN") as info,
    ):
        _send(_settings(server, "starttls"), written)
    assert server.inbox.received == [] and PASSWORD_ES not in str(info.value)


def test_certificate_from_ssl_cert_file(
    certs: Certificates, written: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without [mail] cafile, the CA named by SSL_CERT_FILE is trusted (OpenSSL's variable)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    with smtp_server("starttls", certs) as server:
        _send(_settings(server, "starttls", cafile=None), written)
    assert len(server.inbox.received) == 1


# --- failures: one error that carries its facts, nothing leaked ---------------------------------


def test_wrong_password_is_a_refused_login(
    certs: Certificates, written: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password the server refuses gives MailLoginRefused with its answer, not the password."""
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    with smtp_server("starttls", certs) as server, pytest.raises(MailLoginRefused) as info:
        _send(_settings(server, "starttls"), written)
    err = info.value
    assert (err.host, err.port, err.code) == ("127.0.0.1", server.port, 535)
    assert "Authentication credentials invalid" in (err.reply or "")
    assert server.inbox.received == []
    assert PASSWORD not in str(err) and "\n" not in str(err) and err.exit_code == 9


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_unreachable(written: dict[str, Path]) -> None:
    """A port where nothing listens gives MailUnreachable naming host and port."""
    port = _closed_port()
    settings = MailSettings(host="127.0.0.1", port=port, sender=SENDER, security="none")
    with pytest.raises(MailUnreachable) as info:
        _send(settings, written)
    assert (info.value.host, info.value.port) == ("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value).lower()


def test_untrusted_certificate_is_unreachable(
    certs: Certificates, written: dict[str, Path]
) -> None:
    """A server certificate no trusted CA signed is refused (verification is on by default)."""
    with smtp_server("starttls", certs) as server, pytest.raises(MailUnreachable) as info:
        _send(_settings(server, "starttls", cafile=None), written)
    assert "certificate" in str(info.value) and server.inbox.received == []
    assert server.inbox.logins == []  # the password was never sent


def test_implicit_tls_on_a_starttls_port_names_the_setting(
    certs: Certificates, written: dict[str, Path]
) -> None:
    """security 'ssl' against a STARTTLS server fails its handshake; the error names the key."""
    with smtp_server("starttls", certs) as server, pytest.raises(MailUnreachable) as info:
        _send(_settings(server, "ssl"), written)
    assert f"(is mail.security 'ssl' right for port {server.port}?)" in str(info.value)


def test_starttls_on_an_implicit_tls_port_times_out_with_a_hint(
    certs: Certificates, written: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain client on an implicit-TLS port gets no greeting: the time-out names the key."""
    monkeypatch.setattr(mail, "TIMEOUT", 1.0)
    with smtp_server("ssl", certs) as server, pytest.raises(MailUnreachable) as info:
        _send(_settings(server, "starttls"), written)
    assert str(info.value).startswith(
        f"mail via 127.0.0.1:{server.port}: no answer within 1 s "
        f"(is mail.security 'starttls' right for port {server.port}?)"
    )


def test_every_recipient_refused(certs: Certificates, written: dict[str, Path]) -> None:
    """Recipients the server answers 550 to are listed with its answer; nothing is delivered."""
    with (
        smtp_server("starttls", certs, refuse=frozenset(TO)) as server,
        pytest.raises(MailRefused) as info,
    ):
        _send(_settings(server, "starttls"), written)
    assert info.value.refused == {a: (550, f"5.1.1 <{a}>: mailbox unavailable") for a in TO}
    assert server.inbox.received == []


def test_one_recipient_refused_names_who_got_it(
    certs: Certificates, written: dict[str, Path]
) -> None:
    """If some recipients are refused, the others get the mail and the error says who did not."""
    with (
        smtp_server("starttls", certs, refuse=frozenset(TO[1:])) as server,
        pytest.raises(MailRefused) as info,
    ):
        _send(_settings(server, "starttls"), written)
    assert list(info.value.refused) == [TO[1]]
    assert f"sent to {TO[0]} only" in str(info.value)
    (envelope,) = server.inbox.received
    assert envelope.rcpt_tos == [TO[0]]


def test_mail_error_is_one_line_with_the_facts() -> None:
    """MailError's message names server, problem, answer and refusals on one line (exit 9)."""
    err = MailRefused("every recipient refused", host="smtp.x.pe", port=587,
                      refused={"a@x.pe": (550, "no such user")})  # fmt: skip
    assert str(err) == (
        "mail via smtp.x.pe:587: every recipient refused; a@x.pe refused: 550 no such user; "
        "the report files are written, run again to resend"
    )
    assert isinstance(err, MailError) and err.exit_code == 9
    login = MailLoginRefused("login as 'r' refused", host="h", port=465, code=535, reply="5.7.8 no")
    assert str(login).startswith("mail via h:465: login as 'r' refused (server: 535 5.7.8 no); ")


# --- checked before the month is built ----------------------------------------------------------


def test_delivery_needs_a_mail_table() -> None:
    """--mail-to without a [mail] table is a configuration error."""
    with pytest.raises(ConfigError, match=r"\[mail\]"):
        mail.delivery(Config(), TO)


def test_delivery_needs_the_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """With mail.user set, a missing LOGMETRICS_SMTP_PASSWORD is named before any work."""
    monkeypatch.delenv(PASSWORD_ENV)
    cfg = Config(mail=MailSettings(host="h", sender=SENDER, user=USER))
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        mail.delivery(cfg, TO)


def test_delivery_rejects_a_bad_address() -> None:
    """A recipient that is not one address is refused, naming --mail-to."""
    cfg = Config(mail=MailSettings(host="h", sender=SENDER))
    with pytest.raises(ConfigError, match="--mail-to: 'acompanamiento'"):
        mail.delivery(cfg, ["acompanamiento"])


def test_delivery_rejects_a_missing_cafile(tmp_path: Path) -> None:
    """A [mail] cafile that does not exist is named before any work."""
    cfg = Config(mail=MailSettings(host="h", sender=SENDER, cafile=str(tmp_path / "ca.pem")))
    with pytest.raises(ConfigError, match="mail.cafile"):
        mail.delivery(cfg, TO)


def test_delivery_refuses_a_password_in_clear() -> None:
    """security 'none' with a user would send the password unencrypted: refused."""
    cfg = Config(mail=MailSettings(host="h", sender=SENDER, user=USER, security="none", port=25))
    with pytest.raises(ConfigError, match="unencrypted"):
        mail.delivery(cfg, TO)


def test_delivery_repr_hides_the_password() -> None:
    """The checked plan holds the password but never shows it."""
    cfg = Config(mail=MailSettings(host="h", sender=SENDER, user=USER))
    plan = mail.delivery(cfg, TO)
    assert plan.password == PASSWORD and PASSWORD not in repr(plan) and PASSWORD not in repr(cfg)


# --- the [mail] table ---------------------------------------------------------------------------


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_mail_table_port_follows_security(security: str, port: int) -> None:
    """Without a port, each security mode uses its usual one (587, 465, 25)."""
    cfg = config_from_dict({"mail": {"host": "smtp.x.pe", "from": "r@x.pe", "security": security}})
    assert cfg.mail == MailSettings(host="smtp.x.pe", sender="r@x.pe", port=port, security=security)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"host": "h", "from": "r@x.pe", "password": "p"}, f"set {PASSWORD_ENV}"),
        ({"host": "h", "from": "r@x.pe", "pasword": "p"}, "unknown key 'pasword'"),
        ({"from": "r@x.pe"}, "missing key 'host'"),
        ({"host": "h"}, "missing key 'from'"),
        ({"host": "h", "from": "r@x.pe", "security": "tls"}, "mail.security: 'tls'"),
        ({"host": "h", "from": "r@x.pe", "port": 0}, "mail.port: 0"),
        ({"host": "h", "from": "r@x.pe", "port": "587"}, "mail.port: expected a port"),
        ({"host": "h", "from": "reportes"}, "mail.from: 'reportes' is not one e-mail address"),
    ],
)
def test_mail_table_errors(table: dict[str, object], needle: str) -> None:
    """Each mistake in [mail] is one ConfigError naming the key; a password in the file too."""
    with pytest.raises(ConfigError) as info:
        config_from_dict({"mail": table}, source="c.toml")
    assert needle in str(info.value) and str(info.value).startswith("c.toml: ")
    assert "'p'" not in str(info.value)


# --- --month previous ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "timezone", "month"),
    [
        (dt.datetime(2022, 4, 15, 12, 0, tzinfo=dt.UTC), "America/Lima", "2022-03"),
        (dt.datetime(2022, 4, 1, 3, 0, tzinfo=dt.UTC), "America/Lima", "2022-02"),  # 31 Mar, 22:00
        (dt.datetime(2022, 4, 1, 5, 0, tzinfo=dt.UTC), "America/Lima", "2022-03"),  # 1 Apr, 00:00
        (dt.datetime(2022, 4, 1, 3, 0, tzinfo=dt.UTC), "UTC", "2022-03"),
        (dt.datetime(2022, 1, 2, 12, 0, tzinfo=dt.UTC), "America/Lima", "2021-12"),
    ],
)
def test_previous_month_in_the_configured_zone(now: dt.datetime, timezone: str, month: str) -> None:
    """'previous' is the month before the current one in the report's time zone, not UTC."""
    assert resolve_month("previous", timezone=timezone, now=now) == month


def test_explicit_month_is_kept_and_checked() -> None:
    """YYYY-MM keeps working; anything else is the usual --month error."""
    assert resolve_month("2022-03", timezone="America/Lima") == "2022-03"
    with pytest.raises(ConfigError, match="--month: 'last'"):
        resolve_month("last", timezone="America/Lima")
