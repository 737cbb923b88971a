"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, with TLS and AUTH when asked.

The certificates are made here: a CA and a server certificate for ``127.0.0.1`` and
``localhost`` signed by it, valid 2020–2040 (the command-line tests run under faketime in 2022).
The client trusts the CA through ``[mail] cafile``, as an operator with a private CA would.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USER = "reportes@contigo.example"
PASSWORD = "s3cret-2022!"
PASSWORD_ES = "contraseña-Ñandú-2022"  # smtplib alone cannot send it
SENDER = "Reportes CONTIGO <reportes@contigo.example>"
NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what the client trusts
    cert: Path  # the server's certificate
    key: Path  # the server's private key


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_certificates(directory: Path) -> Certificates:
    """A test CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("logmetrics test CA"))
        .issuer_name(_name("logmetrics test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what it receives, answers 550 to the ``refuse`` addresses.

    With ``login_required`` a sender must have logged in (aiosmtpd's own check does not see
    implicit TLS, so the handler makes it for every mode).
    """

    refuse: frozenset[str] = frozenset()
    login_required: bool = False
    received: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        """What arrived, parsed."""
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(e.original_content or b"") for e in self.received]  # type: ignore[misc]


class _Authenticator:
    """Accepts USER with ``password`` only; records each (mechanism, login) tried."""

    def __init__(self, inbox: Inbox, password: str) -> None:
        self.inbox = inbox
        self.password = password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.inbox.logins.append((mechanism, data.login.decode()))
        ok = data.login == USER.encode() and data.password == self.password.encode()
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535


class _FreePortController(Controller):
    """aiosmtpd's threaded Controller listening on a port the system picks (port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class Server:
    port: int
    inbox: Inbox
    certificates: Certificates | None


def _server_tls(certs: Certificates) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.cert, certs.key)
    return ctx


@contextmanager
def smtp_server(
    security: str,
    certs: Certificates | None = None,
    *,
    auth: bool = True,
    password: str = PASSWORD,
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
    refuse: frozenset[str] = frozenset(),
) -> Iterator[Server]:
    """An SMTP server on 127.0.0.1 speaking ``security`` (starttls, ssl or none).

    With ``auth`` (TLS modes only) it requires AUTH (``mechanisms``) as USER with ``password``.
    """
    inbox = Inbox(refuse=refuse, login_required=auth and security != "none")
    kwargs: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 30.0}
    if security != "none":
        assert certs is not None
        tls = _server_tls(certs)
        if security == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        else:
            kwargs.update(ssl_context=tls)
        if auth:
            kwargs.update(
                authenticator=_Authenticator(inbox, password),
                auth_require_tls=security == "starttls",  # implicit TLS is TLS from the start
                auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in mechanisms],
            )
    controller = _FreePortController(inbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield Server(controller.port, inbox, certs)
    finally:
        controller.stop()


def mail_table(server: Server, security: str, *, user: str | None = USER) -> str:
    """The ``[mail]`` TOML table that points logmetrics at ``server``."""
    lines = [
        "[mail]",
        'host = "127.0.0.1"',
        f"port = {server.port}",
        f'security = "{security}"',
        f'from = "{SENDER}"',
    ]
    if user is not None:
        lines.append(f'user = "{user}"')
    if server.certificates is not None:
        lines.append(f'cafile = "{server.certificates.ca}"')
    return "\n".join(lines) + "\n"
