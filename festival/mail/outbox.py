"""The outbox: mail is written in the same transaction as the change it reports.

Why: a registration that commits has its message committed with it, and one that rolls
back leaves no message behind; the sender (festival.mail.sender) delivers rows later,
retrying until accepted. `enqueue` is the one call path for queuing a message.

What the transaction writes is the message's identity: its kind, recipient and the
Message-ID it will carry. The sender renders the text, HTML and invitation just before
delivery, from the rows as they are then: `read_facts` reads everything the message
says into one value, and festival.mail.compose turns that into bytes without touching
the database. Rendering takes about 14 ms; inside the transaction it would hold
SQLite's one write lock that long and cap registrations near 70 a second. The row is
what makes the mail impossible to lose; its words describe the screening as it stands
when the mail leaves.
"""
from __future__ import annotations

import secrets

import aiosqlite

from festival.core import i18n, times
from festival.core.store import fetch_one, fetch_value
from festival.mail.facts import MessageFacts
from festival.programme.queries import get_screening, guest_view

# What registrations queue; other subjects (e.g. a changed screening) may add kinds.
REGISTRATION_KINDS = ("confirmed", "waitlisted", "promoted", "cancelled")


def new_message_id() -> str:
    """A globally unique RFC 5322 Message-ID."""
    return f"<{secrets.token_hex(16)}@festival>"


async def enqueue(conn: aiosqlite.Connection, *, kind: str, registration_id: int) -> None:
    """Queues a pending message of `kind` for a registration's attendee; call it inside
    the transaction that made the change."""
    now = times.now_text()
    # One statement, one trip to the database thread: the recipient is read from the
    # row this transaction just wrote.
    inserted = await conn.execute_fetchall(
        """INSERT INTO outbox (created_at, kind, registration_id, recipient, message_id,
                               next_attempt_at)
           SELECT ?, ?, id, email, ?, ? FROM registrations WHERE id = ?
           RETURNING id""",
        (now, kind, new_message_id(), now, registration_id))
    if not list(inserted):
        raise LookupError(f"no registration {registration_id} to write to")


async def read_facts(conn: aiosqlite.Connection, *, kind: str, registration_id: int,
                     message_id: str, queued_at: str | None) -> MessageFacts:
    """Everything the message of `kind` to a registration's attendee says, as `conn`
    sees the database now (its Date is `queued_at`, the outbox row's created_at)."""
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
    # Each change of an earlier registration (promoted, cancelled) raised SEQUENCE once.
    earlier = await fetch_value(
        conn, """SELECT COALESCE(SUM(changes), 0) FROM registrations WHERE screening_id = ?
                 AND email_key = ? AND status = 'cancelled' AND id < ?""",
        (registration["screening_id"], registration["email_key"], registration_id))
    return MessageFacts(
        kind=kind, message_id=message_id,
        date=times.parse_utc(queued_at) if queued_at else times.utc_now(),
        locale=registration.get("locale") or i18n.DEFAULT_LOCALE,
        registration=registration, screening=screening,
        waitlist_position=None if position is None else int(position),
        earlier_cancellations=int(earlier or 0))
