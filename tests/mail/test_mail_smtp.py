"""Delivery over TLS with a login, to a real SMTP server on loopback (aiosmtpd) with a
freshly made self-signed certificate: STARTTLS, implicit TLS (smtps://), a refused
login, and no mail in clear text when STARTTLS was asked for but is not offered."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail import sender
from tests.helpers import Inbox, free_port, outbox_row, smtp_server
from tests.helpers import queue_registration as register

pytestmark = pytest.mark.slow

LOGIN, PASSWORD = "festival", "s3cret: p@ss/word"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, self-signed."""
    crypto = pytest.importorskip("cryptography", reason="needs 'cryptography' to make a cert")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    assert crypto
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class Logins:
    """An aiosmtpd authenticator that accepts one login and remembers every try."""

    def __init__(self) -> None:
        self.tried: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.tried.append((login, password))
        ok = (login, password) == (LOGIN, PASSWORD)
        return AuthResult(success=ok, handled=False)  # unhandled: aiosmtpd answers 535


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(make: Callable[[], SMTP], port: int, **kwargs: Any) -> None:
        servers.append(await smtp_server(make, port, **kwargs))

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def url(scheme: str, port: int, cafile: Path, *, password: str = PASSWORD,
        query: str = "") -> str:
    return (f"{scheme}://{LOGIN}:{quote(password, safe='')}@127.0.0.1:{port}"
            f"?cafile={quote(str(cafile))}{query}")


async def test_mail_is_delivered_over_starttls_with_a_login(
        loaded: Database, settings: Settings, certificate: tuple[Path, Path],
        server_tls: ssl.SSLContext, serve: Any) -> None:
    inbox, logins, port = Inbox(), Logins(), free_port()
    await serve(lambda: SMTP(inbox, hostname="smtp.test", tls_context=server_tls,
                             require_starttls=True, auth_required=True, authenticator=logins),
                port)
    rid = await register(loaded)
    mail_settings = dataclasses.replace(
        settings, smtp_url=url("smtp+starttls", port, certificate[0]))

    assert await sender.deliver_due(loaded, mail_settings) == 1

    assert logins.tried == [(LOGIN, PASSWORD)]
    assert inbox.one()["To"] == "Ana Silva <ana@example.org>"
    assert (await outbox_row(loaded, rid, "confirmed"))["status"] == "sent"


async def test_mail_is_delivered_over_implicit_tls(
        loaded: Database, settings: Settings, certificate: tuple[Path, Path],
        server_tls: ssl.SSLContext, serve: Any) -> None:
    inbox, logins, port = Inbox(), Logins(), free_port()
    await serve(lambda: SMTP(inbox, hostname="smtp.test", auth_require_tls=False,
                             authenticator=logins), port, ssl=server_tls)
    await register(loaded)
    mail_settings = dataclasses.replace(settings, smtp_url=url("smtps", port, certificate[0]))

    assert await sender.deliver_due(loaded, mail_settings) == 1

    assert logins.tried == [(LOGIN, PASSWORD)]
    assert len(inbox.envelopes) == 1


async def test_mail_with_a_refused_login_waits_in_the_outbox(
        loaded: Database, settings: Settings, certificate: tuple[Path, Path],
        server_tls: ssl.SSLContext, serve: Any) -> None:
    inbox, logins, port = Inbox(), Logins(), free_port()
    await serve(lambda: SMTP(inbox, hostname="smtp.test", tls_context=server_tls,
                             auth_required=True, authenticator=logins), port)
    rid = await register(loaded)
    mail_settings = dataclasses.replace(
        settings, smtp_url=url("smtp", port, certificate[0], password="wrong",
                               query="&starttls=1"))

    assert await sender.deliver_due(loaded, mail_settings) == 0

    row = await outbox_row(loaded, rid, "confirmed")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("535")
    assert inbox.envelopes == []


async def test_mail_is_not_sent_in_clear_when_starttls_is_not_offered(
        loaded: Database, settings: Settings, certificate: tuple[Path, Path],
        serve: Any) -> None:
    inbox, port = Inbox(), free_port()
    await serve(lambda: SMTP(inbox, hostname="smtp.test"), port)
    rid = await register(loaded)
    mail_settings = dataclasses.replace(
        settings, smtp_url=url("smtp+starttls", port, certificate[0]))

    assert await sender.deliver_due(loaded, mail_settings) == 0

    assert inbox.envelopes == []
    row = await outbox_row(loaded, rid, "confirmed")
    assert row["status"] == "pending"
    assert "STARTTLS" in row["last_error"]
