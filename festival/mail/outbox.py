"""The outbox: mail is written in the same transaction as the change it reports.

Why: a registration that commits has its message committed with it, and one that rolls
back leaves no message behind; the sender (festival.sender) delivers rows later,
retrying until accepted. `enqueue` is the one call path for queuing a message.

What the transaction writes is the message's identity: its kind, recipient and the
Message-ID it will carry. The sender renders the text, HTML and invitation just before
delivery (festival.mail.build_message), from the rows as they are then. Rendering takes
about 14 ms; inside the transaction it would hold SQLite's one write lock that long
and cap registrations near 70 a second. The row is what makes the mail impossible to
lose; its words describe the screening as it stands when the mail leaves.
"""
from __future__ import annotations

import secrets

import aiosqlite

from festival.core import times

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
