"""Registrations for a screening's free seats: register, cancel, promote from the waitlist.

How seats stay exact
- Each change is one short write transaction (`Database.transaction`: BEGIN IMMEDIATE
  takes SQLite's write lock before the first read). The checks that guard it (is it open,
  how many seats are confirmed, is anyone waiting, is this email already registered) run
  inside it, so no two writers ever decide on the same count: never more confirmed seats
  than capacity, whatever the number of requests or of `festival serve` workers. The
  transaction commits before the view answers, so a confirmed seat is never lost.
- Seats left are derived (capacity minus the sum of confirmed seats), never stored.
- An attendee is their email, trimmed and lower-cased (`email_key`): registering again
  for the same screening returns the first registration. The unique partial index on
  (screening_id, email_key) is the backstop.
- Mail is queued with `outbox.enqueue` in the same transaction as the change it reports.

The waitlist rule: strict order of arrival
- A newcomer is confirmed at once only when their seats fit AND nobody is waiting:
  nobody jumps the queue.
- When seats free up (a cancellation, a capacity increase), the longest-waiting party is
  confirmed first when all its seats fit; a party is only ever promoted whole. If it does
  not fit, nobody behind it is promoted, not even a smaller party that would fit: those
  seats stay free until the head of the queue fits (more cancellations, more capacity) or
  leaves.
- Why: it is what attendees expect of a queue ("first come, first served"), a family of
  four is never starved by a stream of single seats, and a place on the waitlist only
  ever moves forward. The cost is at most max_seats - 1 empty seats while smaller
  parties wait; walk-ins at the door fill them.
- A party larger than the screening's capacity is refused when registering (it could
  never be seated and would hold the queue for good). If organisers later lower the
  capacity below a waiting party's size, that party holds the queue until capacity rises
  again or it is cancelled; organisers see it on their list.
- Nobody is promoted once a screening has started or was cancelled.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from festival.core import times
from festival.core.errors import Conflict, NotFound, RegistrationClosed, ValidationError, _
from festival.core.store import Database, execute
from festival.core.text import clean_email, email_key, has_unsafe_characters
from festival.mail import outbox
from festival.programme import queries

NAME_MAX = 200
TOKEN_BYTES = 24  # 192 bits of randomness; the token is the ticket's only key
RESEND_INTERVAL = timedelta(minutes=10)  # at most one re-sent ticket mail per registration
FEW_SEATS = 5  # "few seats left": at most 5, or at most a tenth of the room (as _partials)


REGISTRATION_SELECT = """
SELECT r.*,
       CASE WHEN r.status = 'waitlisted' THEN (
           SELECT COUNT(*) FROM registrations w
           WHERE w.screening_id = r.screening_id AND w.status = 'waitlisted' AND w.id <= r.id)
       END AS waitlist_position
FROM registrations r
"""

# Everything `register` decides on, read in one statement inside its transaction.
SCREENING_STATE = """
SELECT s.id, s.status, s.starts_at, s.capacity, s.max_seats,
       (SELECT COALESCE(SUM(seats), 0) FROM registrations
        WHERE screening_id = s.id AND status = 'confirmed') AS confirmed_seats,
       (SELECT COUNT(*) FROM registrations
        WHERE screening_id = s.id AND status = 'waitlisted') AS waiting,
       (SELECT id FROM registrations
        WHERE screening_id = s.id AND email_key = ? AND status != 'cancelled') AS existing_id
FROM screenings s WHERE s.id = ?
"""


# --- input ---------------------------------------------------------------------------------

def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def clean_name(value: Any) -> tuple[str, str | None]:
    """(the trimmed name, an error or None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "", _("Please enter your name.")
    if not isinstance(value, str):
        return "", _("Please enter your name as text.")
    name = value.strip()
    if len(name) > NAME_MAX:
        return name, _("Please shorten your name to 200 characters or fewer.")
    if has_unsafe_characters(name):
        return name, _("Your name contains characters we cannot use (such as line breaks).")
    return name, None


def seats_error(seats: Any, max_seats: int, capacity: int) -> str | None:
    """Why `seats` cannot be booked here, or None. Only whole numbers count: not true or
    false, not 2.0, not "2" (views turn form text into numbers first)."""
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= max_seats:
        return _("Please choose a whole number of seats from 1 to %(max)d.") % {"max": max_seats}
    if seats > capacity:
        return _("This screening has only %(capacity)d seats.") % {"capacity": capacity}
    return None


# --- state ---------------------------------------------------------------------------------

def closed_reason(status: str, starts_at: str, moment: str) -> str | None:
    """Why registration is closed ('cancelled', 'started', 'unpublished') or None."""
    if status == "cancelled":
        return "cancelled"
    if status != "scheduled":
        return "unpublished"
    if starts_at <= moment:
        return "started"
    return None


CLOSED_MESSAGES = {
    "cancelled": _("This screening has been cancelled, so registration is closed."),
    "started": _("This screening has already started, so registration is closed."),
    "unpublished": _("Registration for this screening is closed."),
}


def booking_state(screening: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """What the screening page shows about seats: 'open', 'few' (seats left), 'full'
    (new registrations join the waitlist) or 'closed' (with its reason)."""
    reason = closed_reason(screening["status"], screening["starts_at"], times.moment(now))
    seats_left = max(0, screening["capacity"] - screening["confirmed_seats"])
    if reason:
        state = "closed"
    elif seats_left == 0 or screening["waitlist"] > 0:
        state = "full"  # with people waiting, a newcomer waits too (nobody jumps the queue)
    elif seats_left <= FEW_SEATS or seats_left * 10 <= screening["capacity"]:
        state = "few"
    else:
        state = "open"
    return {"state": state, "open": reason is None, "closed_reason": reason,
            "closed_message": CLOSED_MESSAGES.get(reason or ""), "seats_left": seats_left,
            "waitlist": screening["waitlist"],
            # What the form offers: a party larger than the room is refused anyway.
            "max_seats": max(1, min(screening["max_seats"], screening["capacity"]))}


# --- register ------------------------------------------------------------------------------

async def register(
    db: Database, screening_id: int, name: Any, email: Any, seats: Any, *,
    locale: str = "en", now: datetime | None = None, resend_ticket: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Registers an attendee: (the registration, True), or (their existing registration,
    False) when this email is already registered for the screening. With `resend_ticket`
    the existing registration's mail (and so its ticket link) is queued again, at most
    once per RESEND_INTERVAL: whoever typed the address may not own it.

    NotFound, RegistrationClosed or ValidationError(fields) leave nothing written."""
    clean_name_, name_error = clean_name(name)
    clean_email_, email_error = clean_email(email)
    errors = {k: v for k, v in (("name", name_error), ("email", email_error)) if v}
    moment = times.moment(now)
    async with db.transaction() as conn:
        # A refused email (it may hold lone surrogates) is never sent to the database.
        key = "" if email_error else email_key(clean_email_)
        state = await _first(conn, SCREENING_STATE, (key, screening_id))
        if state is None or state["status"] == "draft":
            raise NotFound(_("There is no such screening."))
        reason = closed_reason(state["status"], state["starts_at"], moment)
        if reason:
            raise RegistrationClosed(CLOSED_MESSAGES[reason])
        seat_error = seats_error(seats, state["max_seats"], state["capacity"])
        if seat_error:
            errors["seats"] = seat_error
        if errors:
            raise ValidationError(fields=errors)
        if state["existing_id"] is not None:
            existing = await _load(conn, "r.id = ?", state["existing_id"])
            if resend_ticket:
                await _resend(conn, existing)
            return existing, False
        fits = seats <= state["capacity"] - state["confirmed_seats"] and state["waiting"] == 0
        status = "confirmed" if fits else "waitlisted"
        registration = {
            "screening_id": screening_id, "token": new_token(), "name": clean_name_,
            "email": clean_email_, "email_key": email_key(clean_email_), "seats": seats,
            "status": status, "locale": _clean_locale(locale), "created_at": moment,
            "confirmed_at": moment if fits else None, "updated_at": moment,
        }
        try:
            registration["id"] = await _insert(conn, registration)
        except sqlite3.IntegrityError:
            # The unique index caught a duplicate our check missed: answer the existing.
            existing = await _existing(conn, screening_id, registration["email_key"])
            if resend_ticket:
                await _resend(conn, existing)
            return existing, False
        await outbox.enqueue(conn, kind=status, registration_id=registration["id"])
    registration.update(cancelled_at=None, checked_in_at=None, checked_in_by=None, walk_in=0,
                        waitlist_position=None if fits else state["waiting"] + 1)
    return registration, True


async def _resend(conn: aiosqlite.Connection, registration: dict[str, Any]) -> bool:
    """Queues the registration's mail again, unless any mail was queued for it within
    RESEND_INTERVAL (a form submitted in a loop must not flood someone's inbox)."""
    since = times.utc_text(times.utc_now() - RESEND_INTERVAL)  # the outbox's own clock
    recent = await _first(conn, "SELECT 1 FROM outbox WHERE registration_id = ? "
                                "AND created_at > ?", (registration["id"], since))
    if recent is not None:
        return False
    await outbox.enqueue(conn, kind=registration["status"], registration_id=registration["id"])
    return True


async def resend_tickets(db: Database, email: Any, *, now: datetime | None = None) -> int:
    """Queues again the mail of every live registration of this address for a screening
    that has not started (each at most once per RESEND_INTERVAL): the way back to a lost
    ticket. Answers how many were queued; ValidationError for a bad address. Callers
    must not tell the visitor the number, or the form would reveal who registered."""
    address, problem = clean_email(email)
    if problem:
        raise ValidationError(fields={"email": problem})
    sql = f"""{REGISTRATION_SELECT} JOIN screenings s ON s.id = r.screening_id
              WHERE r.email_key = ? AND r.status != 'cancelled'
              AND s.status = 'scheduled' AND s.starts_at > ? ORDER BY r.id"""
    params = (email_key(address), times.moment(now))
    # An unknown address must not take the write lock from registrations: read first.
    if not await db.fetch_all(sql, params):
        return 0
    async with db.transaction() as conn:  # read again: the rows may have changed since
        queued = 0
        for row in await conn.execute_fetchall(sql, params):
            queued += await _resend(conn, dict(row))
        return queued


def _clean_locale(locale: str) -> str:
    ok = isinstance(locale, str) and 0 < len(locale) <= 16 and locale.replace("_", "").isalnum()
    return locale if ok else "en"


async def _first(conn: aiosqlite.Connection, sql: str, params: Any) -> sqlite3.Row | None:
    # execute_fetchall is one trip to the connection's thread (a cursor costs three):
    # it keeps the write lock held for less time.
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def _insert(conn: aiosqlite.Connection, r: dict[str, Any]) -> int:
    row = await _first(
        conn,
        """INSERT INTO registrations (screening_id, token, name, email, email_key, seats,
               status, locale, created_at, confirmed_at, updated_at)
           VALUES (:screening_id, :token, :name, :email, :email_key, :seats, :status, :locale,
                   :created_at, :confirmed_at, :updated_at)
           RETURNING id""", r)
    assert row is not None
    return int(row[0])


async def _existing(conn: aiosqlite.Connection, screening_id: int, key: str) -> dict[str, Any]:
    return await _load(conn, "r.screening_id = ? AND r.email_key = ? AND r.status != 'cancelled'",
                       screening_id, key)


async def _load(conn: aiosqlite.Connection, where: str, *params: Any) -> dict[str, Any]:
    row = await _first(conn, f"{REGISTRATION_SELECT} WHERE {where}", params)
    if row is None:
        raise NotFound(_("There is no such registration."))
    return dict(row)


# --- cancel and promote --------------------------------------------------------------------

async def cancel(db: Database, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Cancels a registration (again: the same answer), frees its seats and promotes the
    waitlist in the same transaction. Answers the registration, now cancelled."""
    _check_token(token)
    moment = times.moment(now)
    async with db.transaction() as conn:
        registration = await _load(conn, "r.token = ?", token)
        if registration["status"] == "cancelled":
            return registration
        if registration["checked_in_at"] is not None:
            raise Conflict(_("This ticket was used at the door, so it can no longer be "
                             "cancelled."))
        await execute(conn, """UPDATE registrations SET status = 'cancelled', cancelled_at = ?,
                               updated_at = ?, changes = changes + 1 WHERE id = ?""",
                      (moment, moment, registration["id"]))
        await outbox.enqueue(conn, kind="cancelled", registration_id=registration["id"])
        # Also when a waiting party leaves: the one behind it may fit where it did not.
        await promote_waitlist(conn, registration["screening_id"], now=now)
        return await _load(conn, "r.id = ?", registration["id"])


async def notify_registrants(conn: aiosqlite.Connection, screening_id: int, kind: str) -> int:
    """Queues mail of `kind` (screening_changed, screening_cancelled) to everyone
    registered and not cancelled, inside the transaction that made the change; answers
    how many."""
    rows = await conn.execute_fetchall(
        "SELECT id FROM registrations WHERE screening_id = ? AND status != 'cancelled'"
        " ORDER BY id", (screening_id,))
    for row in rows:
        await outbox.enqueue(conn, kind=kind, registration_id=row["id"])
    return len(list(rows))


async def promote_waitlist(
    conn: aiosqlite.Connection, screening_id: int, *, now: datetime | None = None
) -> list[int]:
    """Confirms waiting parties in order of arrival while the longest-waiting one fits
    (strict order, whole parties: see the module docstring). Call it inside the
    transaction that freed seats (a cancellation, a capacity increase); answers the ids
    promoted, each with a 'promoted' mail queued."""
    moment = times.moment(now)
    screening = await _first(
        conn, """SELECT s.status, s.starts_at, s.capacity,
                        (SELECT COALESCE(SUM(seats), 0) FROM registrations
                         WHERE screening_id = s.id AND status = 'confirmed') AS confirmed_seats
                 FROM screenings s WHERE s.id = ?""", (screening_id,))
    if screening is None or closed_reason(screening["status"], screening["starts_at"], moment):
        return []
    free = screening["capacity"] - screening["confirmed_seats"]
    if free <= 0:
        return []
    # Each party has at least one seat, so at most `free` of them can be promoted.
    waiting = await conn.execute_fetchall(
        """SELECT id, seats FROM registrations
           WHERE screening_id = ? AND status = 'waitlisted' ORDER BY id LIMIT ?""",
        (screening_id, free))
    promoted = []
    for party in waiting:
        if party["seats"] > free:
            break  # strict order: nobody behind the longest-waiting party jumps ahead
        await execute(conn, """UPDATE registrations SET status = 'confirmed', confirmed_at = ?,
                               updated_at = ?, changes = changes + 1 WHERE id = ?""",
                      (moment, moment, party["id"]))
        await outbox.enqueue(conn, kind="promoted", registration_id=party["id"])
        free -= party["seats"]
        promoted.append(party["id"])
    return promoted


# --- reading -------------------------------------------------------------------------------

def _check_token(token: str) -> None:
    # Cheap refusal of what cannot be a token, before touching the database.
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        raise NotFound(_("There is no such registration."))


async def get_registration(db: Database, token: str) -> dict[str, Any]:
    """A registration by its token, with its place on the waitlist and its screening
    (as the public sees it); NotFound for an unknown token."""
    _check_token(token)
    async with db.reader() as conn:
        registration = await _load(conn, "r.token = ?", token)
    try:
        registration["screening"] = await queries.get_screening(db, registration["screening_id"])
    except NotFound:  # its screening went back to draft: keep the ticket private too
        raise NotFound(_("There is no such registration.")) from None
    return registration


async def attendee_tickets(
    db: Database, token: str
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], str]:
    """(registration, screening) pairs of the token's attendee, and their latest change;
    NotFound for an unknown token. Screenings since turned draft are left out."""
    row = await db.fetch_one("SELECT email_key FROM registrations WHERE token = ?", (token,))
    if row is None:
        raise NotFound(_("There is no such registration."))
    rows = await db.fetch_all(
        "SELECT id, screening_id, token, status, seats, changes, updated_at"
        " FROM registrations WHERE email_key = ? ORDER BY id", (row["email_key"],))
    tickets = []
    for registration in rows:
        try:
            screening = await queries.get_screening(db, registration["screening_id"])
        except NotFound:
            continue
        tickets.append((dict(registration), screening))
    return tickets, max(r["updated_at"] for r in rows)


async def waitlist_position(conn: aiosqlite.Connection, registration_id: int) -> int | None:
    """The 1-based place among the screening's waiting registrations; None unless waiting."""
    registration = await _load(conn, "r.id = ?", registration_id)
    return registration["waitlist_position"]
