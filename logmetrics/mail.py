"""Mail the month's report: one Spanish message with the HTML report and the XLSX workbook.

The memo wants the report sent to the Unidad de Acompañamiento every month; with
``report --month previous --mail-to`` cron does it. ``delivery`` checks everything that can be
checked before the month is built (the ``[mail]`` table, the addresses, the password, the CA
file); ``mail_report`` runs once the files are on disk and sends what is there, so a failed
send leaves the files written and running the command again resends them.

Sending is ``smtplib`` (STARTTLS, implicit TLS or none; the server's certificate is verified
against the system's CAs, ``SSL_CERT_FILE`` or ``[mail] cafile``). Every failure is a
``MailError`` child naming the server and what it answered. The password is read only from
``LOGMETRICS_SMTP_PASSWORD`` and appears in no error, log line or ``repr``.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from .config import PASSWORD_ENV, Config, MailSettings, mail_address
from .errors import (
    ConfigError,
    MailError,
    MailLoginRefused,
    MailRefused,
    MailUnreachable,
    OutputError,
)
from .model import MonthReport
from .render import summary_sentences
from .render._common import zone_label
from .render._coverage import partial_notice
from .render._text import clean_text, datetime_long, month_label

log = logging.getLogger(__name__)

#: Seconds to wait for the server at each step; a relay that does not answer is unreachable.
TIMEOUT = 60.0

#: The files attached, by their key in ``render.output_paths``, with their MIME types.
ATTACHED = {
    "html": ("text", "html"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@dataclass(frozen=True)
class Delivery:
    """A checked plan to mail a report: the relay, the recipients, the TLS context, the password."""

    settings: MailSettings
    to: tuple[str, ...]
    tls: ssl.SSLContext | None = field(repr=False)
    password: str | None = field(default=None, repr=False)


def delivery(
    config: Config, to: Sequence[str], *, environ: Mapping[str, str] = os.environ
) -> Delivery:
    """Check the ``[mail]`` table, the recipients and the password before the month is built."""
    settings = config.mail
    if settings is None:
        raise ConfigError("--mail-to: the configuration (--config) has no [mail] table")
    if not to:
        raise ConfigError("--mail-to: no address given")
    addresses = tuple(mail_address("--mail-to", a) for a in to)
    password = environ.get(PASSWORD_ENV) or None
    if settings.user is not None and password is None:
        raise ConfigError(f"mail.user is {settings.user!r}: set its password in {PASSWORD_ENV}")
    if settings.user is not None and settings.security == "none":
        raise ConfigError("mail.security 'none' would send the password unencrypted; use starttls")
    if settings.user is None and password is not None:
        log.warning("%s is set but [mail] has no user: not logging in", PASSWORD_ENV)
    tls = None
    if settings.security != "none":
        try:
            tls = ssl.create_default_context(cafile=settings.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"mail.cafile: {settings.cafile}: {exc}") from None
    return Delivery(settings, addresses, tls, password)


def subject(report: MonthReport) -> str:
    """``Reporte mensual USUARIO ALIADO — marzo de 2022``."""
    return clean_text(f"Reporte mensual {report.config.application} — {month_label(report.month)}")


def _bodies(report: MonthReport, names: Mapping[str, str]) -> tuple[str, str]:
    """The plain-text and HTML bodies: the month's summary sentences and what is attached."""
    cfg = report.config
    title = subject(report)
    programme = clean_text(cfg.programme)
    notice = partial_notice(report)  # a month reported with --allow-partial says so first
    sentences = [f"Mes incompleto. {notice}"] * bool(notice) + summary_sentences(report)
    attached = (
        f"Se adjuntan el reporte completo ({names['html']}, se abre en el navegador) y el libro "
        f"de Excel ({names['xlsx']}) con las matrices para filtrar y reenviar."
    )
    signed = (
        f"Generado por logmetrics el {datetime_long(report.generated_at)} "
        f"({zone_label(cfg.timezone)})."
    )
    text = "\n".join(
        [title, programme, "", *(f"- {s}" for s in sentences), "", attached, "", signed, ""]
    )
    e = html.escape
    items = "".join(f"<li>{e(s)}</li>\n" for s in sentences)
    page = (
        f'<!DOCTYPE html>\n<html lang="es-PE">\n<head><meta charset="utf-8">'
        f"<title>{e(title)}</title></head>\n<body>\n<p>{e(programme)}</p>\n"
        f"<h1>{e(title)}</h1>\n<ul>\n{items}</ul>\n<p>{e(attached)}</p>\n"
        f"<p><small>{e(signed)}</small></p>\n</body>\n</html>\n"
    )
    return text, page


def message(
    report: MonthReport,
    files: Mapping[str, tuple[str, bytes]],
    *,
    sender: str,
    to: Sequence[str],
) -> EmailMessage:
    """The Spanish message: subject, summary (plain text and HTML), and the files attached.

    ``files`` maps ``html`` and ``xlsx`` to (file name, bytes).
    """
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    # the sender's domain: make_msgid's default asks DNS for this host's name
    msg["Message-ID"] = make_msgid(domain=msg["From"].addresses[0].domain)
    text, page = _bodies(report, {key: name for key, (name, _) in files.items()})
    msg.set_content(text)
    msg.add_alternative(page, subtype="html")
    for key, (maintype, subtype) in ATTACHED.items():
        name, data = files[key]
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def mail_report(report: MonthReport, paths: Mapping[str, Path], plan: Delivery) -> None:
    """Mail the report's HTML and XLSX, as written at ``paths`` (``render.output_paths``)."""
    files: dict[str, tuple[str, bytes]] = {}
    for key in ATTACHED:
        path = paths[key]
        try:
            files[key] = (path.name, path.read_bytes())
        except OSError as exc:
            raise OutputError(f"{path}: cannot read the file to mail: {exc.strerror}") from None
    msg = message(report, files, sender=plan.settings.sender, to=plan.to)
    send(msg, plan)


def send(msg: EmailMessage, plan: Delivery) -> None:
    """Send ``msg`` to ``plan.to`` through the relay; a refusal or failure is a ``MailError``."""
    s = plan.settings
    log.info("mailing %r to %s via %s:%d (%s)", msg["Subject"], ", ".join(plan.to), s.host,
             s.port, s.security)  # fmt: skip
    try:
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=TIMEOUT, context=plan.tls)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=plan.tls)
            if s.user is not None:
                _login(smtp, s.user, plan.password or "")
            refused = smtp.send_message(msg, to_addrs=list(plan.to))
    except OSError as exc:  # smtplib's errors are OSErrors too
        raise _failure(exc, s) from None
    if refused:
        accepted = ", ".join(a for a in plan.to if a not in refused)
        raise MailRefused(f"sent to {accepted} only", host=s.host, port=s.port,
                          refused=_refusals(refused))  # fmt: skip
    log.info("mailed to %s", ", ".join(plan.to))


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """``smtp.login``; for non-ASCII credentials AUTH PLAIN in UTF-8 (RFC 4616), which smtplib
    cannot send: it encodes every AUTH answer as ASCII, and an operator's password may hold ñ."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPException("a non-ASCII user or password needs AUTH PLAIN; not offered")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code not in (235, 503):  # 503: already authenticated
        raise smtplib.SMTPAuthenticationError(code, reply)


def _failure(exc: OSError, s: MailSettings) -> MailError:
    """The ``MailError`` that tells the operator what ``exc`` means."""
    at: dict[str, Any] = {"host": s.host, "port": s.port}
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return MailRefused("every recipient refused", **at, refused=_refusals(exc.recipients))
    if isinstance(exc, smtplib.SMTPResponseException):
        answer: dict[str, Any] = {"code": exc.smtp_code, "reply": _text(exc.smtp_error)}
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailLoginRefused(f"login as {s.user!r} refused", **at, **answer)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return MailRefused(f"sender {exc.sender} refused", **at, **answer)
        if isinstance(exc, smtplib.SMTPConnectError):
            return MailUnreachable("the server refused the connection", **at, **answer)
        if isinstance(exc, smtplib.SMTPDataError):
            return MailRefused("the server refused the message", **at, **answer)
        return MailError("the server answered with an error", **at, **answer)
    # a TLS client on a plain port fails its handshake; a plain client on an implicit-TLS port
    # waits for a greeting that never comes (smtplib reports that as a lost connection)
    hint = f" (is mail.security {s.security!r} right for port {s.port}?)"
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return MailUnreachable(f"no answer within {TIMEOUT:g} s{hint}", **at)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailUnreachable(f"connection lost: {_reason(exc)}", **at)
    if isinstance(exc, smtplib.SMTPException):  # no STARTTLS or AUTH offered, no common mechanism
        return MailError(_reason(exc), **at)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailUnreachable(f"TLS: certificate not trusted: {exc.verify_message}", **at)
    if isinstance(exc, ssl.SSLError):
        return MailUnreachable(f"TLS: {_reason(exc)}{hint}", **at)
    return MailUnreachable(f"cannot reach the server: {_reason(exc)}", **at)


def _refusals(answers: Mapping[str, tuple[int, bytes]]) -> dict[str, tuple[int, str]]:
    return {addr: (code, _text(reply)) for addr, (code, reply) in answers.items()}


def _text(reply: bytes | str) -> str:
    """A server's answer as one line of text."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _reason(exc: BaseException) -> str:
    """An exception as one short line: its text, else its type."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
