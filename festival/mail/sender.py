"""The sender: delivers the outbox over SMTP, with retries and backoff.

Messages are composed by festival.mail.compose, from the facts festival.mail.outbox
reads; this module claims due rows, sends each one and records what happened.
Organisers list and retry messages through festival.organisers.overview.

Choices a reader might question:
- One SMTP connection per message: a refused recipient or a dropped connection then
  cannot leave a shared session in a half state, and a festival sends thousands of
  mails, not millions. When the server cannot be reached, the rest of the batch is
  postponed without trying.
- Claims: a batch is claimed in one write transaction (`status='sending'` with a lease),
  so several workers or processes never send one message twice; a crashed worker's
  claim expires after `LEASE` and the message is picked up again. A message is marked
  sent only after the server's 250. A crash between the 250 and that mark resends it
  once with the same Message-ID, which receivers use to recognise the duplicate.
- The logger keeps the name "festival.mail" it had before the sender left mail.py, so
  log filters that operators already set up still catch delivery failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from festival.core import times
from festival.core.settings import Settings
from festival.core.store import Database, execute, fetch_all, fetch_value, in_list, skip_locked
from festival.mail import compose, outbox

log = logging.getLogger("festival.mail")

LEASE = timedelta(minutes=2)       # how long a claim protects a message from other workers
SEND_WINDOW = 60.0                 # seconds of a batch after which unsent claims are released
SMTP_TIMEOUT = 10.0                # per SMTP operation
BACKOFF_BASE, BACKOFF_CAP = 2, 60  # seconds: 2, 4, 8, 16, 32, 60, 60, ...
MAX_ATTEMPTS = 10                  # for permanent (5xx) errors; 4xx and refusals retry forever


class MailNotConfigured(RuntimeError):
    """Delivery was asked for without FESTIVAL_SMTP_URL."""


async def render_pending(db: Database, settings: Settings, row: Mapping[str, Any]) -> bytes:
    """The message of an outbox row, composing and storing it first when the row was
    queued without one (kept, so a retry sends the very same bytes)."""
    if row["message"] is not None:
        return bytes(row["message"])
    async with db.transaction() as conn:
        stored = await fetch_value(conn, "SELECT message FROM outbox WHERE id = ?", (row["id"],))
        if stored is not None:
            return bytes(stored)
        facts = await outbox.read_facts(conn, kind=row["kind"],
                                        registration_id=row["registration_id"],
                                        message_id=row["message_id"],
                                        queued_at=row["created_at"],
                                        screening_message_id=row["screening_message_id"])
        message = compose.render(facts, settings)
        await execute(conn, "UPDATE outbox SET message = ?, subject = ? WHERE id = ?",
                      (message, compose.subject_of(message), row["id"]))
    return message


# --- SMTP --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    use_tls: bool = False      # smtps://: TLS from the first byte
    start_tls: bool = False    # smtp+starttls:// or ?starttls=1: upgrade, and insist on it
    username: str | None = None
    password: str | None = None
    cafile: str | None = None  # ?cafile=/path.pem: trust a private CA's certificates


def parse_smtp_url(url: str | None) -> SmtpTarget:
    """smtp://[user:password@]host[:port][?starttls=1], smtp+starttls://..., smtps://...

    Plain smtp:// never upgrades on its own: a local relay with a self-signed
    certificate would otherwise refuse every message. With TLS, certificates are
    checked against the system's CAs, or the `cafile` given."""
    if not url:
        raise MailNotConfigured("FESTIVAL_SMTP_URL is not set; mail stays in the outbox")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise ValueError(f"FESTIVAL_SMTP_URL must look like smtp://host:port, not {url!r}")
    query = parse_qs(parts.query)
    flag = query.get("starttls", ["0"])[-1].lower()
    start_tls = scheme == "smtp+starttls" or flag in ("1", "true", "yes", "on")
    use_tls = scheme == "smtps"
    default_port = 465 if use_tls else 587 if start_tls else 25
    return SmtpTarget(
        hostname=parts.hostname, port=parts.port or default_port, use_tls=use_tls,
        start_tls=start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        cafile=query.get("cafile", [None])[-1])


async def _smtp_send(target: SmtpTarget, settings: Settings, recipient: str,
                     message: bytes) -> None:
    """One message over its own connection; raises unless the server answered 250."""
    await aiosmtplib.send(
        message, sender=email.utils.parseaddr(settings.mail_from)[1],
        recipients=[email.utils.parseaddr(recipient)[1] or recipient],
        hostname=target.hostname, port=target.port, use_tls=target.use_tls,
        start_tls=target.start_tls, username=target.username, password=target.password,
        cert_bundle=target.cafile, timeout=SMTP_TIMEOUT,
        # Our public host name: socket.getfqdn() can stall for seconds on a bad resolver.
        local_hostname=urlsplit(settings.base_url).hostname or "localhost")


def backoff_seconds(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed attempt: 2, 4, 8, ... up to 60."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(max(attempts, 1) - 1, 10))


def _classify(exc: BaseException) -> tuple[str, str]:
    """('retry' | 'limited' | 'fail', text): retry forever (refused connection, 4xx),
    retry up to MAX_ATTEMPTS (other 5xx, broken configuration), or fail now (a 5xx
    refusal of the recipient: that address will not start working)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    code = getattr(exc, "code", None)
    text = (f"{code} {getattr(exc, 'message', exc)}" if code
            else f"{type(exc).__name__}: {exc}")
    if isinstance(code, int) and 400 <= code < 500:
        return "retry", text
    if isinstance(code, int) and code >= 500:
        return ("fail" if isinstance(exc, aiosmtplib.SMTPRecipientRefused) else "limited"), text
    if isinstance(exc, OSError | TimeoutError | aiosmtplib.SMTPServerDisconnected):
        return "retry", text
    return "limited", text


def _unreachable(exc: BaseException) -> bool:
    """Refused, unroutable or silent: the next message would fare no better now."""
    return isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPTimeoutError) or (
        isinstance(exc, OSError) and not isinstance(exc, aiosmtplib.SMTPException))


# --- the outbox: claim, deliver, record --------------------------------------------------

_DUE = """(status = 'pending' AND next_attempt_at <= :now)
          OR (status = 'sending' AND claimed_until < :now)"""


def _later(moment: str, seconds: float) -> str:
    return times.utc_text(times.parse_utc(moment) + timedelta(seconds=seconds))


async def claim_due(db: Database, *, now: datetime | str | None = None,
                    batch: int = 20) -> list[dict[str, Any]]:
    """Claims up to `batch` due messages for this worker, atomically; answers them."""
    moment = times.moment(now)
    # A read first: most rounds find nothing, and must not take the write lock for it.
    if await db.fetch_one(f"SELECT 1 FROM outbox WHERE {_DUE} LIMIT 1", {"now": moment}) is None:
        return []
    async with db.transaction() as conn:
        # Rows another sender is claiming right now are skipped, not waited for
        # (PostgreSQL; on SQLite the transaction holds the whole file).
        ids = [r["id"] for r in await fetch_all(
            conn, f"SELECT id FROM outbox WHERE {_DUE} ORDER BY next_attempt_at, id LIMIT :n"
                  + skip_locked(conn), {"now": moment, "n": batch})]
        if not ids:
            return []
        marks, values = in_list(ids)
        # Due again in the UPDATE itself: a row claimed meanwhile is left to its claimer.
        claimed = [r["id"] for r in await fetch_all(
            conn, f"UPDATE outbox SET status = 'sending', claimed_until = ? "
                  f"WHERE id IN {marks} AND ({_DUE.replace(':now', '?')}) RETURNING id",
            [_later(moment, LEASE.total_seconds()), *values, moment, moment])]
        marks, values = in_list(claimed)
        rows = await fetch_all(conn, f"SELECT * FROM outbox WHERE id IN {marks} ORDER BY "
                                     "next_attempt_at, id", values)
    return [dict(r) for r in rows]


async def deliver_due(db: Database, settings: Settings, *, now: datetime | str | None = None,
                      batch: int = 20) -> int:
    """Delivers the messages that are due; answers how many the server accepted."""
    return (await _deliver_round(db, settings, now=now, batch=batch))[1]


async def _deliver_round(db: Database, settings: Settings, *, now: datetime | str | None,
                         batch: int) -> tuple[int, int]:
    """(claimed, sent) for one batch."""
    target = parse_smtp_url(settings.smtp_url)
    rows = await claim_due(db, now=now, batch=batch)
    started, sent, down = time.monotonic(), 0, None
    for index, row in enumerate(rows):
        if time.monotonic() - started > SEND_WINDOW:  # keep well inside the lease
            await _release(db, [r["id"] for r in rows[index:]])
            break
        if down is not None:  # the server is unreachable: do not knock 20 times
            await _record_failure(db, row, down, now=now)
            continue
        try:
            message = await render_pending(db, settings, row)
            await _smtp_send(target, settings, row["recipient"], message)
        except Exception as exc:  # every failure is recorded on the row, never raised
            outcome = _classify(exc)
            log.warning("mail %s to %s not delivered: %s", row["id"], row["recipient"],
                        outcome[1])
            await _record_failure(db, row, outcome, now=now)
            down = outcome if _unreachable(exc) else None
            continue
        await _record_sent(db, row["id"], now=now, message=message)
        sent += 1
    return len(rows), sent


def headers_of(message: bytes) -> bytes:
    """The header section of an RFC 5322 message, up to the blank line before its body."""
    end = re.search(rb"\r?\n\r?\n", message)
    return message if end is None else message[:end.start()]


async def _record_sent(db: Database, outbox_id: int, *, now: datetime | str | None,
                       message: bytes) -> None:
    # A sent message is not kept whole: its headers say what went where and when; its
    # body (the attendee's name, the ticket link that is their registration's key) goes.
    async with db.transaction() as conn:
        await execute(conn, """UPDATE outbox SET status = 'sent', sent_at = ?, message = ?,
                               attempts = attempts + 1, claimed_until = NULL WHERE id = ?""",
                      (times.moment(now), headers_of(message), outbox_id))


async def _record_failure(db: Database, row: Mapping[str, Any], outcome: tuple[str, str], *,
                          now: datetime | str | None) -> None:
    kind, text = outcome
    attempts = int(row["attempts"]) + 1
    failed = kind == "fail" or (kind == "limited" and attempts >= MAX_ATTEMPTS)
    moment = times.moment(now)
    async with db.transaction() as conn:
        await execute(
            conn, """UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?,
                     claimed_until = NULL, last_error = ? WHERE id = ?""",
            ("failed" if failed else "pending", attempts,
             _later(moment, backoff_seconds(attempts)), text[:1000], row["id"]))


async def _release(db: Database, ids: list[int]) -> None:
    marks = ",".join("?" * len(ids))
    async with db.transaction() as conn:
        await execute(conn, f"UPDATE outbox SET status = 'pending', claimed_until = NULL "
                            f"WHERE status = 'sending' AND id IN ({marks})", ids)


async def send_all_once(settings: Settings) -> int:
    """`festival mail send`: delivers everything due now, then stops; answers how many
    messages the server accepted. Raises MailNotConfigured without FESTIVAL_SMTP_URL."""
    parse_smtp_url(settings.smtp_url)
    db = await Database(settings.db_path, synchronous=settings.sqlite_synchronous,
                        pool_size=settings.db_pool).open()
    total, batch = 0, 20
    try:
        while True:
            claimed, sent = await _deliver_round(db, settings, now=None, batch=batch)
            total += sent
            if claimed < batch:  # failures wait for their backoff: they are not due now
                return total
    finally:
        await db.close()


# --- the sender inside the server --------------------------------------------------------

class MailSender:
    """Delivers the outbox from an asyncio task: a round every `interval` seconds, or
    at once when poked. Errors are logged, never raised. Without FESTIVAL_SMTP_URL it
    only logs each new message once (they stay pending, visible to organisers)."""

    STOP_WAIT = 15.0  # seconds a stop waits for the round in progress

    def __init__(self, db: Database, settings: Settings, *, interval: float = 1.0,
                 batch: int = 20) -> None:
        self.db, self.settings, self.interval, self.batch = db, settings, interval, batch
        self.enabled = bool(settings.smtp_url)
        if self.enabled:
            parse_smtp_url(settings.smtp_url)  # a bad URL stops the start, loudly
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._logged_up_to: int | None = None

    def start(self) -> MailSender:
        self._task = asyncio.create_task(self._run(), name="festival-mail-sender")
        return self

    def poke(self) -> None:
        """Something was queued: deliver now rather than at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        """Lets the current round finish (so no claim is left behind), then ends."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.STOP_WAIT)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run_once(self) -> int:
        """One round: delivers a batch (answers how many were claimed), or, without
        SMTP, logs the messages queued since the last round (answers 0)."""
        if not self.enabled:
            await self._log_unsent()
            return 0
        claimed, _sent = await _deliver_round(self.db, self.settings, now=None,
                                              batch=self.batch)
        return claimed

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            busy = False
            try:
                busy = await self.run_once() >= self.batch  # more may be due at once
            except Exception:
                log.exception("mail sender: a delivery round failed; trying again")
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)

    async def _log_unsent(self) -> None:
        if self._logged_up_to is None:
            row = await self.db.fetch_one(
                "SELECT COUNT(CASE WHEN status = 'pending' THEN 1 END) AS n,"
                " COALESCE(MAX(id), 0) AS last FROM outbox")
            self._logged_up_to = int(row["last"]) if row else 0
            if row and row["n"]:
                log.warning("FESTIVAL_SMTP_URL is not set: %d messages wait in the outbox",
                            row["n"])
            return
        for row in await self.db.fetch_all(
                "SELECT id, kind, recipient FROM outbox WHERE id > ? ORDER BY id LIMIT 100",
                (self._logged_up_to,)):
            log.info("mail %s (%s to %s) stays in the outbox: FESTIVAL_SMTP_URL is not set",
                     row["id"], row["kind"], row["recipient"])
            self._logged_up_to = row["id"]
