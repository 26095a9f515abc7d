"""Mail to attendees: composing messages, and the sender that delivers the outbox.

Composition is pure (rows in, an `EmailMessage` out); `build_message` reads what it
needs through one connection, so it can run inside the transaction that queues the mail.

Choices a reader might question:
- A message carrying an invitation is `multipart/mixed` holding `multipart/alternative`
  (text/plain, text/html, text/calendar) and the same calendar as an `invite.ics`
  attachment. This is what Google Calendar itself sends. Outlook writes text, HTML and
  calendar as alternatives (MS-OXCMAIL 2.1.3.3.8) and reads iMIP data only from the
  first child of a multipart/mixed (its notes on RFC 6047); Gmail and Apple Mail read
  the alternative; clients that ignore calendar alternatives still show the attachment.
- The calendar part's header is written as Outlook writes it,
  `text/calendar; charset="utf-8"; method=REQUEST`, base64. The modern email API always
  quotes parameters, so that one part is built with the legacy `MIMEText`.
- One SMTP connection per message: a refused recipient or a dropped connection then
  cannot leave a shared session in a half state, and a festival sends thousands of
  mails, not millions. When the server cannot be reached, the rest of the batch is
  postponed without trying.
- Claims: a batch is claimed in one write transaction (`status='sending'` with a lease),
  so several workers or processes never send one message twice; a crashed worker's
  claim expires after `LEASE` and the message is picked up again. A message is marked
  sent only after the server's 250. A crash between the 250 and that mark resends it
  once with the same Message-ID, which receivers use to recognise the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import functools
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import aiosqlite
import jinja2

from festival import calendar, templating, times
from festival.db import Database, execute, fetch_all, fetch_one, fetch_value
from festival.errors import Conflict, NotFound, _
from festival.programme import get_screening, guest_view
from festival.settings import Settings

log = logging.getLogger("festival.mail")

KINDS = ("confirmed", "waitlisted", "promoted", "cancelled", "screening_changed",
         "screening_cancelled")
STATUSES = ("pending", "sending", "sent", "failed")
LEASE = timedelta(minutes=2)       # how long a claim protects a message from other workers
SEND_WINDOW = 60.0                 # seconds of a batch after which unsent claims are released
SMTP_TIMEOUT = 10.0                # per SMTP operation
BACKOFF_BASE, BACKOFF_CAP = 2, 60  # seconds: 2, 4, 8, 16, 32, 60, 60, ...
MAX_ATTEMPTS = 10                  # for permanent (5xx) errors; 4xx and refusals retry forever

_METHOD = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)
_CONTROL = {c: " " for c in range(32)} | {127: " "}
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class MailNotConfigured(RuntimeError):
    """Delivery was asked for without FESTIVAL_SMTP_URL."""


# --- composition -------------------------------------------------------------------------

def compose(
    kind: str,
    *,
    registration: Mapping[str, Any],
    screening: Mapping[str, Any],
    settings: Settings,
    waitlist_position: int | None,
    ics: bytes | None,
    locale: str,
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """The whole message of `kind` for a registration, in its language (`locale`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of mail {kind!r}")
    run = contextvars.copy_context().run  # the language must not leak into the caller
    return run(_compose, kind, registration, screening, settings, waitlist_position, ics,
               locale, message_id, date or times.utc_now())


def _compose(kind: str, registration: Mapping[str, Any], screening: Mapping[str, Any],
             settings: Settings, waitlist_position: int | None, ics: bytes | None,
             locale: str, message_id: str, date: datetime) -> EmailMessage:
    templating.use_locale(locale)
    context = _context(registration, screening, settings, waitlist_position, bool(ics))
    env = _environment(settings)
    text_template = env.get_template(f"mail/{kind}.txt")
    subject = one_line("".join(text_template.blocks["subject"](
        text_template.new_context(context))))
    context["subject"] = subject
    # Templates may be generous with blank lines; the mail keeps one between paragraphs.
    text = _BLANK_LINES.sub("\n\n", text_template.render(context)).strip() + "\n"
    html = env.get_template(f"mail/{kind}.html").render(context)

    msg = EmailMessage(policy=policy.SMTP)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    msg["From"] = settings.mail_from
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    # Address() refuses CR/LF; one_line() removes them (and other control characters)
    # first, so a name with line breaks is delivered, on one line, and injects nothing.
    msg["To"] = Address(display_name=one_line(registration["name"])[:200],
                        addr_spec=registration["email"].strip())
    msg["Subject"] = subject
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to us
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    if ics:
        _attach_invite(msg, ics)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # only the top level needs it
    msg["Content-Language"] = templating.current_locale()
    return msg


def _attach_invite(msg: EmailMessage, ics: bytes) -> None:
    found = _METHOD.search(ics)
    if found is None:
        raise ValueError("the calendar part has no METHOD")
    method = found.group(1).decode("ascii").upper()
    part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")  # base64
    part.set_param("method", method, requote=False)
    msg.attach(part)  # type: ignore[arg-type]  # a legacy part, for its header
    msg.make_mixed()
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")


def _context(registration: Mapping[str, Any], screening: Mapping[str, Any],
             settings: Settings, waitlist_position: int | None, has_invite: bool
             ) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    festival_name = email.utils.parseaddr(settings.mail_from)[0] or screening.get(
        "edition_name") or templating.gettext("Global Migration Film Festival")
    return {
        "name": one_line(registration["name"]),
        "registration": registration,
        "screening": screening,
        "seats": int(registration["seats"]),
        "ticket_url": f"{base}/tickets/{registration['token']}",
        "screening_url": calendar.screening_url(screening, base),
        "location": calendar.location(screening),
        "waitlist_position": waitlist_position,
        "has_invite": has_invite,
        "festival_name": festival_name,
        "base_url": base,
        "locale": templating.current_locale(),
    }


@functools.lru_cache(maxsize=8)
def _environment(settings: Settings) -> jinja2.Environment:
    return templating.create_environment(settings)


def one_line(text: str) -> str:
    """Text for a header: control characters and line breaks become single spaces."""
    return " ".join(str(text).translate(_CONTROL).split())


async def build_message(
    conn: aiosqlite.Connection, settings: Settings, kind: str, registration_id: int,
    message_id: str, *, date: str | None = None,
) -> bytes:
    """The RFC 5322 bytes of one outbox message, from the database as `conn` sees it."""
    row = await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?", (registration_id,))
    if row is None:
        raise LookupError(f"no registration {registration_id}")
    registration = dict(row)
    screening = await get_screening(conn, registration["screening_id"], public=False)
    # Mail goes to the public: unlisted debate guests stay anonymous here too.
    screening["guests"] = [guest_view(g, public=True) for g in screening["guests"]]
    position = None
    if registration["status"] == "waitlisted":
        position = await fetch_value(
            conn, """SELECT COUNT(*) FROM registrations WHERE screening_id = ?
                     AND status = 'waitlisted' AND id <= ?""",
            (registration["screening_id"], registration_id))
    earlier = await fetch_value(
        conn, """SELECT COUNT(*) FROM registrations WHERE screening_id = ? AND email_key = ?
                 AND status = 'cancelled' AND id < ?""",
        (registration["screening_id"], registration["email_key"], registration_id))
    locale = registration.get("locale") or templating.DEFAULT_LOCALE
    ics = contextvars.copy_context().run(
        _invite, kind, registration, screening, settings, int(earlier or 0), locale)
    message = compose(kind, registration=registration, screening=screening, settings=settings,
                      waitlist_position=position, ics=ics, locale=locale,
                      message_id=message_id,
                      date=times.parse_utc(date) if date else None)
    return message.as_bytes()


def _invite(kind: str, registration: dict[str, Any], screening: dict[str, Any],
            settings: Settings, earlier_cancellations: int, locale: str) -> bytes | None:
    """The calendar part for `kind`, or None when the attendee never had a seat.

    An attendee's own cancellation raises SEQUENCE above the screening's, as iTIP
    wants; someone who cancelled and registered again gets their earlier cancellations
    added, with a later DTSTAMP, so their calendar does not take the new invitation for
    an old one."""
    templating.use_locale(locale)
    had_seat = registration["confirmed_at"] is not None or registration["status"] == "confirmed"
    method: Literal["REQUEST", "CANCEL"]
    if kind in ("confirmed", "promoted") or (kind == "screening_changed"
                                             and registration["status"] == "confirmed"):
        method = "REQUEST"
    elif kind in ("cancelled", "screening_cancelled") and had_seat:
        method = "CANCEL"
    else:
        return None
    sequence = dtstamp = None
    own = 1 if kind == "cancelled" else 0
    if earlier_cancellations or own:
        sequence = int(screening["sequence"]) + earlier_cancellations + own
        dtstamp = max(screening["updated_at"], registration["updated_at"])
    name, address = email.utils.parseaddr(settings.mail_from)
    ticket = f"{settings.base_url.rstrip('/')}/tickets/{registration['token']}"
    return calendar.invite(
        screening, method=method, attendee_name=one_line(registration["name"]),
        attendee_email=registration["email"], organiser_email=address,
        organiser_name=name or screening.get("edition_name") or "",
        base_url=settings.base_url, sequence=sequence, dtstamp=dtstamp,
        note=templating.gettext("Your ticket: ") + ticket)


def subject_of(message: bytes) -> str:
    """The decoded Subject of a composed message."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(message)
    return str(headers.get("Subject", ""))


async def render_pending(db: Database, settings: Settings, row: Mapping[str, Any]) -> bytes:
    """The message of an outbox row, composing and storing it first when the row was
    queued without one (kept, so a retry sends the very same bytes)."""
    if row["message"] is not None:
        return bytes(row["message"])
    async with db.transaction() as conn:
        stored = await fetch_value(conn, "SELECT message FROM outbox WHERE id = ?", (row["id"],))
        if stored is not None:
            return bytes(stored)
        message = await build_message(conn, settings, row["kind"], row["registration_id"],
                                      row["message_id"], date=row["created_at"])
        await execute(conn, "UPDATE outbox SET message = ?, subject = ? WHERE id = ?",
                      (message, subject_of(message), row["id"]))
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


def _moment(now: datetime | str | None) -> str:
    if now is None:
        return times.now_text()
    return now if isinstance(now, str) else times.utc_text(now)


def _later(moment: str, seconds: float) -> str:
    return times.utc_text(times.parse_utc(moment) + timedelta(seconds=seconds))


async def claim_due(db: Database, *, now: datetime | str | None = None,
                    batch: int = 20) -> list[dict[str, Any]]:
    """Claims up to `batch` due messages for this worker, atomically; answers them."""
    moment = _moment(now)
    # A read first: most rounds find nothing, and must not take the write lock for it.
    if await db.fetch_one(f"SELECT 1 FROM outbox WHERE {_DUE} LIMIT 1", {"now": moment}) is None:
        return []
    async with db.transaction() as conn:
        ids = [r["id"] for r in await fetch_all(
            conn, f"SELECT id FROM outbox WHERE {_DUE} ORDER BY next_attempt_at, id LIMIT :n",
            {"now": moment, "n": batch})]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        await execute(conn, f"UPDATE outbox SET status = 'sending', claimed_until = ? "
                            f"WHERE id IN ({marks})", [_later(moment, LEASE.total_seconds()), *ids])
        rows = await fetch_all(conn, f"SELECT * FROM outbox WHERE id IN ({marks}) ORDER BY "
                                     "next_attempt_at, id", ids)
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
        await _record_sent(db, row["id"], now=now)
        sent += 1
    return len(rows), sent


async def _record_sent(db: Database, outbox_id: int, *, now: datetime | str | None) -> None:
    async with db.transaction() as conn:
        await execute(conn, """UPDATE outbox SET status = 'sent', sent_at = ?,
                               attempts = attempts + 1, claimed_until = NULL WHERE id = ?""",
                      (_moment(now), outbox_id))


async def _record_failure(db: Database, row: Mapping[str, Any], outcome: tuple[str, str], *,
                          now: datetime | str | None) -> None:
    kind, text = outcome
    attempts = int(row["attempts"]) + 1
    failed = kind == "fail" or (kind == "limited" and attempts >= MAX_ATTEMPTS)
    moment = _moment(now)
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
    db = await Database(settings.db_path, synchronous=settings.sqlite_synchronous).open()
    total, batch = 0, 20
    try:
        while True:
            claimed, sent = await _deliver_round(db, settings, now=None, batch=batch)
            total += sent
            if claimed < batch:  # failures wait for their backoff: they are not due now
                return total
    finally:
        await db.close()


# --- organisers' view --------------------------------------------------------------------

async def list_outbox(db: Database, *, status: str | None = None,
                      limit: int = 200) -> list[dict[str, Any]]:
    """The newest messages first (without their bytes), with the screening they concern."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown outbox status {status!r}")
    rows = await db.fetch_all(
        """SELECT o.id, o.created_at, o.kind, o.registration_id, o.recipient, o.subject,
                  o.message_id, o.status, o.attempts, o.next_attempt_at, o.claimed_until,
                  o.last_error, o.sent_at, o.message IS NOT NULL AS composed,
                  r.name AS attendee_name, r.token, r.screening_id, f.title,
                  v.country, v.city
           FROM outbox o
           LEFT JOIN registrations r ON r.id = o.registration_id
           LEFT JOIN screenings s ON s.id = r.screening_id
           LEFT JOIN films f ON f.id = s.film_id
           LEFT JOIN venues v ON v.id = s.venue_id
           WHERE (:status IS NULL OR o.status = :status)
           ORDER BY o.id DESC LIMIT :limit""", {"status": status, "limit": limit})
    return [dict(r) for r in rows]


async def outbox_counts(db: Database) -> dict[str, int]:
    """How many messages are in each status (every status present, zero or more)."""
    rows = await db.fetch_all("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    return {s: 0 for s in STATUSES} | {r["status"]: int(r["n"]) for r in rows}


async def retry(db: Database, outbox_id: int, *, now: datetime | str | None = None) -> None:
    """Queues a failed (or waiting) message for delivery now, with a fresh attempt count."""
    async with db.transaction() as conn:
        status = await fetch_value(conn, "SELECT status FROM outbox WHERE id = ?", (outbox_id,))
        if status is None:
            raise NotFound(_("There is no such message."))
        if status in ("sent", "sending"):
            raise Conflict(_("This message was already sent.") if status == "sent"
                           else _("This message is being sent right now."))
        await execute(conn, """UPDATE outbox SET status = 'pending', attempts = 0,
                               next_attempt_at = ?, claimed_until = NULL WHERE id = ?""",
                      (_moment(now), outbox_id))


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
                "SELECT COALESCE(SUM(status = 'pending'), 0) AS n, COALESCE(MAX(id), 0) AS last "
                "FROM outbox")
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
