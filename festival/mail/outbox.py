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

Mail an attendee's own actions trigger (registering, asking again for a ticket,
confirming, cancelling; and a hold that runs out, which the registering started) is
capped per recipient address: at most MAIL_CAP such messages an hour are sendable.
Beyond that a message is still written, with status 'capped': the sender never takes
it, organisers see it on the outbox page and may release it with "Retry now". Whoever
types someone else's address into a form over and over (50 registrations, 25
register/cancel cycles) thus reaches that inbox at most MAIL_CAP times an hour.
Organisers' notices (a screening moved or cancelled, a promotion from the waitlist) are
never capped, and do not count towards the cap.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from festival.core import i18n, times
from festival.core.store import Connection, Database, fetch_all, fetch_one, fetch_value
from festival.mail.facts import MessageFacts
from festival.programme.queries import get_screening, guest_view

# What registrations queue; other subjects (e.g. a changed screening) may add kinds.
REGISTRATION_KINDS = ("confirmed", "held", "waitlisted", "promoted", "cancelled", "expired")
# The kinds an attendee's own actions queue: capped per address.
ATTENDEE_KINDS = ("confirmed", "held", "waitlisted", "cancelled", "expired")
# Organisers' notices: never capped (festival.mail.facts.KINDS minus ATTENDEE_KINDS).
NOTICE_KINDS = ("promoted", "screening_changed", "screening_cancelled", "moved", "message")
MAIL_CAP = 12  # sendable messages of ATTENDEE_KINDS per address ...
MAIL_CAP_WINDOW = timedelta(hours=1)  # ... in this long
# Every status a message can have; the sender takes 'pending' ones only.
STATUSES = ("pending", "sending", "sent", "failed", "capped")

_ATTENDEE_KINDS_SQL = ", ".join(f"'{kind}'" for kind in ATTENDEE_KINDS)
_ENQUEUE = f"""
INSERT INTO outbox (created_at, kind, registration_id, recipient, recipient_key, message_id,
                    next_attempt_at, status, screening_message_id)
SELECT :now, :kind, r.id, r.email, r.email_key, :message_id, :now,
       CASE WHEN :capped AND (
                SELECT COUNT(*) FROM outbox o
                WHERE o.recipient_key = r.email_key AND o.created_at > :since
                  AND o.status != 'capped'
                  AND o.kind IN ({_ATTENDEE_KINDS_SQL}, 'promoted')) >= :cap
            THEN 'capped' ELSE 'pending' END,
       :screening_message_id
FROM registrations r WHERE r.id = :registration_id
RETURNING status
"""


def new_message_id() -> str:
    """A globally unique RFC 5322 Message-ID."""
    return f"<{secrets.token_hex(16)}@festival>"


async def enqueue(conn: Connection, *, kind: str, registration_id: int,
                  by_attendee: bool = False, by_organiser: bool = False,
                  screening_message_id: int | None = None) -> str:
    """Queues a message of `kind` for a registration's attendee; call it inside the
    transaction that made the change. Answers its status: 'pending', or 'capped' when
    it is of ATTENDEE_KINDS (or a notice that an attendee's own action set off,
    `by_attendee`: a promotion after someone cancels, which a script could repeat) and
    MAIL_CAP of those went to the address within the last MAIL_CAP_WINDOW (then it is
    recorded, never sent). Organisers' notices are never capped, nor is any kind an
    organiser's own action queues (`by_organiser`: a ticket re-sent, a registration
    cancelled from the attendee list). Kind 'message' carries `screening_message_id`,
    the organiser's text (festival.seats.management.send_message)."""
    if kind not in ATTENDEE_KINDS and kind not in NOTICE_KINDS:
        raise ValueError(f"unknown kind of mail {kind!r}")
    moment = times.utc_now()
    now = times.utc_text(moment)
    # One statement, one trip to the database thread: the recipient is read from the
    # row this transaction just wrote, the cap counted by the (recipient_key,
    # created_at) index.
    inserted = list(await fetch_all(conn, _ENQUEUE, {
        "now": now, "kind": kind, "message_id": new_message_id(),
        "capped": (kind in ATTENDEE_KINDS or by_attendee) and not by_organiser,
        "screening_message_id": screening_message_id,
        "since": times.utc_text(moment - MAIL_CAP_WINDOW),
        "cap": MAIL_CAP, "registration_id": registration_id}))
    if not inserted:
        raise LookupError(f"no registration {registration_id} to write to")
    return str(inserted[0][0])


async def read_facts(conn: Connection, *, kind: str, registration_id: int,
                     message_id: str, queued_at: str | None,
                     screening_message_id: int | None = None) -> MessageFacts:
    """Everything the message of `kind` to a registration's attendee says, as `conn`
    sees the database now (its Date is `queued_at`, the outbox row's created_at)."""
    row = await fetch_one(
        conn, """SELECT r.*, a.secret AS attendee_secret FROM registrations r
                 LEFT JOIN attendees a ON a.email_key = r.email_key WHERE r.id = ?""",
        (registration_id,))
    if row is None:
        raise LookupError(f"no registration {registration_id}")
    registration = dict(row)
    secret = registration.pop("attendee_secret")
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
        earlier_cancellations=int(earlier or 0), attendee_secret=secret,
        note=await _note(conn, screening_message_id))


async def _note(conn: Connection, screening_message_id: int | None
                ) -> dict[str, Any] | None:
    """An organiser's message to a screening's registrants (kind 'message'), or None."""
    if screening_message_id is None:
        return None
    row = await fetch_one(conn, "SELECT subject, body FROM screening_messages WHERE id = ?",
                          (screening_message_id,))
    if row is None:
        raise LookupError(f"no screening message {screening_message_id}")
    return dict(row)


async def latest_status(db: Database, registration_id: int) -> str | None:
    """The status of the last message queued for a registration's attendee about it
    ('pending', 'sending', 'sent', 'failed' or 'capped'), None when there is none: what
    the ticket page tells the attendee about their mail."""
    row = await db.fetch_one(
        f"""SELECT status FROM outbox WHERE registration_id = ?
            AND kind IN ({", ".join(f"'{k}'" for k in REGISTRATION_KINDS)})
            ORDER BY id DESC LIMIT 1""", (registration_id,))
    return None if row is None else str(row["status"])
