"""Registrations for a screening's free seats: register, cancel, promote from the waitlist.

How seats stay exact
- Each change is one short write transaction (`Database.transaction`: on SQLite BEGIN
  IMMEDIATE takes the write lock before the first read; on PostgreSQL `expire_overdue`,
  where every decision on a screening starts, locks the screening's row). The checks
  that guard it (is it open,
  how many seats are confirmed, is anyone waiting, is this email already registered) run
  inside it, so no two writers ever decide on the same count: never more confirmed seats
  than capacity, whatever the number of requests or of `festival serve` workers. The
  transaction commits before the view answers, so a confirmed seat is never lost.
- Seats left are capacity minus the seats taken (confirmed and held). The seats taken
  and the parties waiting are kept per screening in `screening_seats` by triggers
  (migration 0015) in the transaction of every change to registrations, whoever makes
  it; nothing here writes them. Deciding on a seat reads that one row (TAKEN_SEATS,
  WAITING), however many registrations the screening has.
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

Who holds which key
- A registration's token (192 random bits) is the key to that one registration and
  nothing else: its ticket page, its feed (that one event), its cancellation. Registering
  again with a known address never answers the token: the registration's mail goes to
  the address instead (`resend_ticket`, at most once per RESEND_INTERVAL).
- An attendee's secret (table `attendees`, 192 random bits, one per email_key) is the
  key to their own page and feed of every registration of their address
  (`attendee_registrations`). It is only ever mailed: no answer to a request made with
  a token, an address or a registration form holds it.
- Mail an attendee's own actions trigger is capped per address (festival.mail.outbox).

Holding seats until the address is confirmed (an edition's `confirm_email`, off by
default; `set_email_confirmation`)
- A newcomer whose seats fit is `held`: its seats count as taken (never more confirmed
  plus held seats than capacity) until `held_until`, and its mail carries a confirmation
  link with a code that is only mailed (`confirm_code`): the token alone cannot confirm,
  because whoever filled in the form sees the ticket. Confirming makes it `confirmed`.
- A waiting registration may confirm its address early (`email_confirmed_at`); when
  promoted it is then confirmed at once, otherwise it is held like a newcomer.
- A hold not confirmed in time is cancelled with cancel_reason 'expired' and the
  waitlist moves up in order: lazily, inside the next write transaction that touches the
  screening (`promote_waitlist` and every write here start with it; reads that meet an
  overdue hold run `expire_holds` first), and by `expire_holds` run periodically.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from festival.core import times
from festival.core.errors import Conflict, NotFound, RegistrationClosed, ValidationError, _
from festival.core.i18n import Text
from festival.core.store import Connection, Database, execute, fetch_all, fetch_one, lock_row
from festival.core.text import clean_email, email_key, has_unsafe_characters
from festival.mail import outbox
from festival.organisers import audit
from festival.programme import queries

log = logging.getLogger("festival.seats")

NAME_MAX = 200
TOKEN_BYTES = 24  # 192 bits of randomness; the token is the ticket's only key
SECRET_BYTES = 24  # an attendee's secret: 192 bits, the key to their own page and feed
CODE_BYTES = 24  # the mailed code that confirms an address (held seats)
RESEND_INTERVAL = timedelta(minutes=10)  # at most one re-sent ticket mail per registration
FEW_SEATS = 5  # "few seats left": at most 5, or at most a tenth of the room (as _partials)
HOLD_MINUTES = 30  # how long seats are held for an address to be confirmed, by default
HOLD_MINUTES_RANGE = (5, 1440)  # what organisers may choose (migration 0007 checks it too)
EXPIRY_INTERVAL = 60.0  # seconds between two runs of `expire_holds_periodically`
TAKEN = "('confirmed', 'held')"  # the statuses whose seats are taken
# The seats taken (TAKEN's) and the parties waiting of the screening aliased `s`, as the
# triggers of migration 0015 keep them: one row by its key, not a sum over the
# screening's registrations. (Migration 0015 spells TAKEN's statuses out again.)
TAKEN_SEATS = "(SELECT taken FROM screening_seats WHERE screening_id = s.id)"
WAITING = "(SELECT waiting FROM screening_seats WHERE screening_id = s.id)"


REGISTRATION_SELECT = """
SELECT r.*,
       CASE WHEN r.status = 'waitlisted' THEN (
           SELECT COUNT(*) FROM registrations w
           WHERE w.screening_id = r.screening_id AND w.status = 'waitlisted' AND w.id <= r.id)
       END AS waitlist_position
FROM registrations r
"""

# Everything `register` decides on, read in one statement inside its transaction.
SCREENING_STATE = f"""
SELECT s.id, s.status, s.starts_at, s.ends_at, s.capacity, s.max_seats, e.confirm_email,
       e.hold_minutes,
       {TAKEN_SEATS} AS taken_seats, {WAITING} AS waiting,
       (SELECT id FROM registrations
        WHERE screening_id = s.id AND email_key = ? AND status != 'cancelled') AS existing_id
FROM screenings s JOIN editions e ON e.id = s.edition_id WHERE s.id = ?
"""

# What no answer outside this module holds: the code only the attendee's mailbox gets.
PRIVATE_COLUMNS = ("confirm_code",)

NO_REGISTRATION = _("There is no such registration.")
BAD_CONFIRMATION = _("This confirmation link is not valid. Please use the link in the "
                     "latest email about this registration.")


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
        return Text(_("Please choose a whole number of seats from 1 to %(max)d."), max=max_seats)
    if seats > capacity:
        return Text(_("This screening has only %(capacity)d seats."), capacity=capacity)
    return None


# --- state ---------------------------------------------------------------------------------

def closed_reason(status: str, starts_at: str, moment: str,
                  ends_at: str | None = None) -> str | None:
    """Why registration is closed ('cancelled', 'ended' (with `ends_at`), 'started',
    'unpublished') or None."""
    if status == "cancelled":
        return "cancelled"
    if status != "scheduled":
        return "unpublished"
    if ends_at and ends_at <= moment:
        return "ended"
    if starts_at <= moment:
        return "started"
    return None


CLOSED_MESSAGES = {
    "cancelled": _("This screening has been cancelled, so registration is closed."),
    "started": _("This screening has already started, so registration is closed."),
    "ended": _("This screening has taken place, so registration is closed."),
    "unpublished": _("Registration for this screening is closed."),
}


def booking_state(screening: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """What the screening page shows about seats: 'open', 'few' (seats left), 'full'
    (new registrations join the waitlist) or 'closed' (with its reason)."""
    reason = closed_reason(screening["status"], screening["starts_at"], times.moment(now),
                           screening.get("ends_at"))
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


def hold_end(moment: str, minutes: int) -> str:
    """The UTC text `minutes` after `moment` (UTC text)."""
    return times.utc_text(times.parse_utc(moment) + timedelta(minutes=int(minutes)))


def hold_is_over(registration: dict[str, Any], moment: str) -> bool:
    """A held registration whose time ran out (expired by the next write, if not yet)."""
    return (registration.get("status") == "held" and bool(registration.get("held_until"))
            and registration["held_until"] <= moment)


def _public(registration: dict[str, Any]) -> dict[str, Any]:
    """The registration without what only its attendee's mailbox may learn."""
    return {k: v for k, v in registration.items() if k not in PRIVATE_COLUMNS}


# --- register ------------------------------------------------------------------------------

async def register(
    db: Database, screening_id: int, name: Any, email: Any, seats: Any, *,
    locale: str = "en", now: datetime | None = None, resend_ticket: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Registers an attendee: (the registration, True), or (their existing registration,
    False) when this email is already registered for the screening. With `resend_ticket`
    the existing registration's mail (and so its ticket link) is queued again, at most
    once per RESEND_INTERVAL: whoever typed the address may not own it, so callers must
    not show them the existing registration's token (nor anything built from it).

    A new registration is confirmed, held (the edition's confirm_email: its seats are
    taken until the address is confirmed) or waitlisted. NotFound, RegistrationClosed or
    ValidationError(fields) leave nothing written."""
    clean_name_, name_error = clean_name(name)
    clean_email_, email_error = clean_email(email)
    errors = {k: v for k, v in (("name", name_error), ("email", email_error)) if v}
    moment = times.moment(now)
    async with db.transaction() as conn:
        # A refused email (it may hold lone surrogates) is never sent to the database.
        key = "" if email_error else email_key(clean_email_)
        # Holds that ran out free their seats first, for the waitlist before newcomers.
        if await expire_overdue(conn, screening_id, moment):
            await promote_waitlist(conn, screening_id, now=now)
        state = await fetch_one(conn, SCREENING_STATE, (key, screening_id))
        if state is None or state["status"] == "draft":
            raise NotFound(_("There is no such screening."))
        reason = closed_reason(state["status"], state["starts_at"], moment, state["ends_at"])
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
            return _public(existing), False
        fits = seats <= state["capacity"] - state["taken_seats"] and state["waiting"] == 0
        confirm_email = bool(state["confirm_email"])
        status = ("held" if confirm_email else "confirmed") if fits else "waitlisted"
        registration = {
            "screening_id": screening_id, "token": new_token(), "name": clean_name_,
            "email": clean_email_, "email_key": email_key(clean_email_), "seats": seats,
            "status": status, "locale": _clean_locale(locale), "created_at": moment,
            "confirmed_at": moment if status == "confirmed" else None, "updated_at": moment,
            "held_until": hold_end(moment, state["hold_minutes"]) if status == "held" else None,
            "confirm_code": secrets.token_urlsafe(CODE_BYTES) if confirm_email else None,
        }
        registration_id = await _insert(conn, registration)
        if registration_id is None:
            # The unique index caught a duplicate our check missed: answer the existing.
            existing = await _existing(conn, screening_id, registration["email_key"])
            if resend_ticket:
                await _resend(conn, existing)
            return _public(existing), False
        registration["id"] = registration_id
        await ensure_attendee(conn, registration["email_key"], moment)
        await outbox.enqueue(conn, kind=status, registration_id=registration["id"])
    registration.update(cancelled_at=None, checked_in_at=None, checked_in_by=None, walk_in=0,
                        changes=0, email_confirmed_at=None, cancel_reason=None,
                        waitlist_position=state["waiting"] + 1 if status == "waitlisted"
                        else None)
    return _public(registration), True


async def ensure_attendee(conn: Connection, key: str, moment: str | None = None
                          ) -> None:
    """Gives the attendee `key` (an email_key) the secret of their own page, unless they
    have one; call it inside the transaction that queues their mail."""
    await fetch_all(conn,
        "INSERT INTO attendees (email_key, secret, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (email_key) DO NOTHING",
        (key, secrets.token_urlsafe(SECRET_BYTES), moment or times.now_text()))


async def _resend(conn: Connection, registration: dict[str, Any]) -> bool:
    """Queues the registration's mail again, unless any mail was queued for it within
    RESEND_INTERVAL (a form submitted in a loop must not flood someone's inbox; the
    outbox's cap per address stops the rest)."""
    since = times.utc_text(times.utc_now() - RESEND_INTERVAL)  # the outbox's own clock
    recent = await fetch_one(conn, "SELECT 1 FROM outbox WHERE registration_id = ? "
                                "AND created_at > ?", (registration["id"], since))
    if recent is not None:
        return False
    await ensure_attendee(conn, registration["email_key"])
    await outbox.enqueue(conn, kind=registration["status"], registration_id=registration["id"])
    return True


async def resend_tickets(db: Database, email: Any, *, now: datetime | None = None) -> int:
    """Queues again the mail of every live registration of this address for a screening
    that has not started (each at most once per RESEND_INTERVAL; each mail links the
    attendee's own page too): the way back to a lost ticket. Answers how many were
    queued; ValidationError for a bad address. Callers must not tell the visitor the
    number, or the form would reveal who registered."""
    address, problem = clean_email(email)
    if problem:
        raise ValidationError(fields={"email": problem})
    sql = f"""{REGISTRATION_SELECT} JOIN screenings s ON s.id = r.screening_id
              WHERE r.email_key = ? AND r.status != 'cancelled'
              AND s.status = 'scheduled' AND s.starts_at > ? ORDER BY r.id"""
    params = (email_key(address), times.moment(now))
    # An unknown address must not take the write lock from registrations: read first.
    rows = await db.fetch_all(sql, params)
    if not rows:
        return 0
    if any(hold_is_over(dict(r), params[1]) for r in rows):
        await expire_holds(db, now=now)  # a hold that ran out is not mailed as held
    async with db.transaction() as conn:  # read again: the rows may have changed since
        queued = 0
        for row in await fetch_all(conn, sql, params):
            queued += await _resend(conn, dict(row))
        return queued


def _clean_locale(locale: str) -> str:
    ok = isinstance(locale, str) and 0 < len(locale) <= 16 and locale.replace("_", "").isalnum()
    return locale if ok else "en"


async def _insert(conn: Connection, r: dict[str, Any]) -> int | None:
    """Inserts the registration; answers its id, or None when a unique index (one
    registration per address and screening) already holds it. DO NOTHING rather than
    catching the error: PostgreSQL aborts the whole transaction after one."""
    row = await fetch_one(
        conn,
        """INSERT INTO registrations (screening_id, token, name, email, email_key, seats,
               status, locale, created_at, confirmed_at, updated_at, held_until, confirm_code)
           VALUES (:screening_id, :token, :name, :email, :email_key, :seats, :status, :locale,
                   :created_at, :confirmed_at, :updated_at, :held_until, :confirm_code)
           ON CONFLICT DO NOTHING
           RETURNING id""", r)
    return None if row is None else int(row[0])


async def _existing(conn: Connection, screening_id: int, key: str) -> dict[str, Any]:
    return await _load(conn, "r.screening_id = ? AND r.email_key = ? AND r.status != 'cancelled'",
                       screening_id, key)


async def _load(conn: Connection, where: str, *params: Any) -> dict[str, Any]:
    row = await fetch_one(conn, f"{REGISTRATION_SELECT} WHERE {where}", params)
    if row is None:
        raise NotFound(NO_REGISTRATION)
    return dict(row)


# --- cancel, confirm, expire and promote ---------------------------------------------------

async def cancel(db: Database, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Cancels a registration (again: the same answer), frees its seats and promotes the
    waitlist in the same transaction. Answers the registration, now cancelled."""
    _check_token(token)
    moment = times.moment(now)
    async with db.transaction() as conn:
        registration = await _load(conn, "r.token = ?", token)
        screening_id = registration["screening_id"]
        if await expire_overdue(conn, screening_id, moment):
            await promote_waitlist(conn, screening_id, now=now)
        # Read again now that the screening is locked: it may have changed meanwhile.
        registration = await _load(conn, "r.id = ?", registration["id"])
        if registration["status"] == "cancelled":
            return _public(registration)
        if registration["checked_in_at"] is not None:
            raise Conflict(_("This ticket was used at the door, so it can no longer be "
                             "cancelled."))
        await execute(conn, """UPDATE registrations SET status = 'cancelled', cancelled_at = ?,
                               cancel_reason = 'attendee', updated_at = ?,
                               changes = changes + 1 WHERE id = ?""",
                      (moment, moment, registration["id"]))
        await outbox.enqueue(conn, kind="cancelled", registration_id=registration["id"])
        # Also when a waiting party leaves: the one behind it may fit where it did not.
        await promote_waitlist(conn, screening_id, now=now, by_attendee=True)
        return _public(await _load(conn, "r.id = ?", registration["id"]))


def _code_matches(expected: str | None, given: Any) -> bool:
    if not expected or not isinstance(given, str) or not given.isascii() or len(given) > 64:
        return False
    return secrets.compare_digest(expected.encode("ascii"), given.encode("ascii"))


async def confirmation(db: Database, token: str, code: Any, *,
                       now: datetime | None = None) -> dict[str, Any]:
    """The registration (with its screening) that this mailed confirmation link is for;
    NotFound unless the code is the registration's."""
    _check_token(token)
    async with db.reader() as conn:
        registration = await _load(conn, "r.token = ?", token)
    if not _code_matches(registration["confirm_code"], code):
        raise NotFound(BAD_CONFIRMATION)
    return await get_registration(db, token, now=now)


async def confirm(db: Database, token: str, code: Any, *,
                  now: datetime | None = None) -> dict[str, Any]:
    """The attendee confirms their address with the code their mail carried: held seats
    become confirmed (with the confirmed mail and its invitation); a waiting registration
    is marked so that its promotion confirms it at once. Confirming again changes
    nothing. NotFound for a wrong code; Conflict when the hold ran out first (its seats
    went to others) or the registration was cancelled. Answers the registration."""
    _check_token(token)
    moment = times.moment(now)
    async with db.transaction() as conn:
        registration = await _load(conn, "r.token = ?", token)
        if not _code_matches(registration["confirm_code"], code):
            raise NotFound(BAD_CONFIRMATION)
        screening_id = registration["screening_id"]
        if await expire_overdue(conn, screening_id, moment):
            await promote_waitlist(conn, screening_id, now=now)
        registration = await _load(conn, "r.id = ?", registration["id"])  # locked: read again
        status = registration["status"]
        if status == "cancelled":
            raise Conflict(
                _("You did not confirm your email address in time, so the seats we held "
                  "for you went to others. You are welcome to register again while seats "
                  "are left.") if registration["cancel_reason"] == "expired"
                else _("This registration is cancelled."))
        if status == "held":
            await execute(conn, """UPDATE registrations SET status = 'confirmed',
                                   confirmed_at = ?, email_confirmed_at = ?, held_until = NULL,
                                   updated_at = ?, changes = changes + 1 WHERE id = ?""",
                          (moment, moment, moment, registration["id"]))
            await outbox.enqueue(conn, kind="confirmed", registration_id=registration["id"])
        elif registration["email_confirmed_at"] is None:
            await execute(conn, "UPDATE registrations SET email_confirmed_at = ? WHERE id = ?",
                          (moment, registration["id"]))
        return _public(await _load(conn, "r.id = ?", registration["id"]))


async def expire_overdue(conn: Connection, screening_id: int, moment: str) -> int:
    """Cancels the screening's holds that ran out by `moment` (cancel_reason 'expired'),
    each with an 'expired' mail while the screening is still open; answers how many.
    Inside a write transaction; the caller then promotes the waitlist.

    Every decision on a screening's seats starts here (promote_waitlist too), so this is
    where the screening's row is locked: on PostgreSQL, transactions on other app servers
    that decide on the same screening wait until this one ends."""
    await lock_row(conn, "screenings", screening_id)
    rows = await fetch_all(conn,
        """UPDATE registrations SET status = 'cancelled', cancel_reason = 'expired',
                  cancelled_at = :moment, updated_at = :moment, changes = changes + 1
           WHERE screening_id = :screening AND status = 'held' AND held_until <= :moment
           RETURNING id""", {"moment": moment, "screening": screening_id})
    expired = sorted(int(row[0]) for row in rows)
    if expired:
        screening = await fetch_one(conn, "SELECT status, starts_at FROM screenings WHERE id = ?",
                                 (screening_id,))
        if screening is not None and not closed_reason(screening["status"],
                                                       screening["starts_at"], moment):
            for registration_id in expired:
                await outbox.enqueue(conn, kind="expired", registration_id=registration_id)
    return len(expired)


async def expire_holds(db: Database, *, now: datetime | None = None) -> int:
    """Cancels every hold that ran out (the address was not confirmed in time) and moves
    each screening's waitlist up, in one transaction; answers how many expired. Cheap when
    none is due (one indexed read, no write lock): the server runs it periodically
    (`expire_holds_periodically`), and reads that meet an overdue hold run it too."""
    moment = times.moment(now)
    due = await db.fetch_all(
        "SELECT DISTINCT screening_id FROM registrations WHERE status = 'held'"
        " AND held_until <= ? ORDER BY screening_id", (moment,))
    if not due:
        return 0
    expired = 0
    async with db.transaction() as conn:
        for row in due:
            count = await expire_overdue(conn, row["screening_id"], moment)
            if count:
                await promote_waitlist(conn, row["screening_id"], now=now)
            expired += count
    return expired


async def expire_holds_periodically(db: Database, *, interval: float = EXPIRY_INTERVAL
                                    ) -> None:
    """Runs `expire_holds` every `interval` seconds until cancelled; errors are logged,
    never raised (a server's background task)."""
    while True:
        try:
            await expire_holds(db)
        except asyncio.CancelledError:
            raise
        except Exception:  # a busy database, say: try again at the next round
            log.exception("expiring held seats failed")
        await asyncio.sleep(interval)


async def notify_registrants(conn: Connection, screening_id: int, kind: str) -> int:
    """Queues mail of `kind` (screening_changed, screening_cancelled) to everyone
    registered and not cancelled who has an address (not walk-ins without one, nor
    erased registrations), inside the transaction that made the change; answers how
    many."""
    rows = await fetch_all(conn,
        "SELECT id FROM registrations WHERE screening_id = ? AND status != 'cancelled'"
        " AND email != '' ORDER BY id", (screening_id,))
    for row in rows:
        await outbox.enqueue(conn, kind=kind, registration_id=row["id"])
    return len(list(rows))


async def promote_waitlist(
    conn: Connection, screening_id: int, *, now: datetime | None = None,
    by_attendee: bool = False,
) -> list[int]:
    """Gives seats to waiting parties in order of arrival while the longest-waiting one
    fits (strict order, whole parties: see the module docstring). Call it inside the
    transaction that freed seats (a cancellation, a capacity increase); holds that ran
    out are expired first. A promoted party is confirmed, or held when its edition asks
    for a confirmed address and it has not confirmed one yet; answers the ids promoted,
    each with a 'promoted' mail queued."""
    moment = times.moment(now)
    await expire_overdue(conn, screening_id, moment)
    screening = await fetch_one(
        conn, f"""SELECT s.status, s.starts_at, s.capacity, e.confirm_email, e.hold_minutes,
                         {TAKEN_SEATS} AS taken_seats
                  FROM screenings s JOIN editions e ON e.id = s.edition_id
                  WHERE s.id = ?""", (screening_id,))
    if screening is None or closed_reason(screening["status"], screening["starts_at"], moment):
        return []
    free = screening["capacity"] - screening["taken_seats"]
    if free <= 0:
        return []
    # Each party has at least one seat, so at most `free` of them can be promoted.
    waiting = await fetch_all(conn,
        """SELECT id, seats, email_confirmed_at FROM registrations
           WHERE screening_id = ? AND status = 'waitlisted' ORDER BY id LIMIT ?""",
        (screening_id, free))
    promoted = []
    for party in waiting:
        if party["seats"] > free:
            break  # strict order: nobody behind the longest-waiting party jumps ahead
        if screening["confirm_email"] and party["email_confirmed_at"] is None:
            await execute(
                conn, """UPDATE registrations SET status = 'held', held_until = ?,
                         confirm_code = COALESCE(confirm_code, ?), updated_at = ?,
                         changes = changes + 1 WHERE id = ?""",
                (hold_end(moment, screening["hold_minutes"]),
                 secrets.token_urlsafe(CODE_BYTES), moment, party["id"]))
        else:
            await execute(conn, """UPDATE registrations SET status = 'confirmed',
                                   confirmed_at = ?, updated_at = ?, changes = changes + 1
                                   WHERE id = ?""", (moment, moment, party["id"]))
        # After an attendee's cancellation the mail counts towards the promoted person's
        # cap: a script that books and cancels must not flood someone's inbox with it.
        await outbox.enqueue(conn, kind="promoted", registration_id=party["id"],
                             by_attendee=by_attendee)
        free -= party["seats"]
        promoted.append(party["id"])
    return promoted


# --- the edition's rule --------------------------------------------------------------------

async def set_email_confirmation(
    db: Database, edition_key: str, *, required: bool, hold_minutes: int = HOLD_MINUTES,
    organiser_id: int | None = None,
) -> dict[str, Any]:
    """Organisers turn on (or off) holding a new registration's seats until the attendee
    confirms their address, for `hold_minutes` (5 to 1440), for one edition; with its
    audit entry. Turning it off leaves current holds to be confirmed or to run out.
    Answers {"edition", "confirm_email", "hold_minutes"}; NotFound, ValidationError."""
    low, high = HOLD_MINUTES_RANGE
    if isinstance(hold_minutes, bool) or not isinstance(hold_minutes, int) or not (
            low <= hold_minutes <= high):
        raise ValidationError(fields={"hold_minutes": Text(_(
            "Please choose a whole number of minutes from %(low)d to %(high)d."),
            low=low, high=high)})
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT id, confirm_email, hold_minutes FROM editions"
                                 " WHERE key = ?", (edition_key,))
        if row is None:
            raise NotFound(_("There is no such edition."))
        before = {"confirm_email": bool(row["confirm_email"]),
                  "hold_minutes": int(row["hold_minutes"])}
        after = {"confirm_email": bool(required), "hold_minutes": hold_minutes}
        if after != before:
            await execute(conn, "UPDATE editions SET confirm_email = ?, hold_minutes = ?"
                                " WHERE id = ?", (int(bool(required)), hold_minutes, row["id"]))
            await audit.record(conn, organiser_id, "edition.confirm_email", "edition",
                               row["id"], before, after)
    return {"edition": edition_key, **after}


# --- reading -------------------------------------------------------------------------------

def _check_token(token: str) -> None:
    # Cheap refusal of what cannot be a token, before touching the database.
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        raise NotFound(NO_REGISTRATION)


async def get_registration(db: Database, token: str, *, now: datetime | None = None
                           ) -> dict[str, Any]:
    """A registration by its token, with its place on the waitlist and its screening
    (as the public sees it); NotFound for an unknown token. A hold that ran out is
    expired first, so the answer never shows seats that are no longer held."""
    _check_token(token)
    async with db.reader() as conn:
        registration = await _load(conn, "r.token = ?", token)
    if hold_is_over(registration, times.moment(now)):
        await expire_holds(db, now=now)
        async with db.reader() as conn:
            registration = await _load(conn, "r.id = ?", registration["id"])
    try:
        screening = await queries.get_screening(db, registration["screening_id"])
    except NotFound:  # its screening went back to draft: keep the ticket private too
        raise NotFound(NO_REGISTRATION) from None
    return {**_public(registration), "screening": screening}


Ticket = tuple[dict[str, Any], dict[str, Any]]  # (registration, screening)


async def ticket_events(db: Database, token: str, *, now: datetime | None = None
                        ) -> tuple[list[Ticket], str]:
    """What the token's own feed holds: its registration and screening, preceded by the
    attendee's earlier, cancelled registrations for that screening stripped to what
    raised the event's SEQUENCE (no token, name or anything else of theirs); and the
    registration's last change. NotFound as get_registration."""
    registration = await get_registration(db, token, now=now)
    screening = registration.pop("screening")
    earlier = await db.fetch_all(
        """SELECT id, changes FROM registrations WHERE screening_id = ? AND email_key = ?
           AND status = 'cancelled' AND id < ? ORDER BY id""",
        (registration["screening_id"], registration["email_key"], registration["id"]))
    tickets: list[Ticket] = [
        ({"id": row["id"], "status": "cancelled", "changes": row["changes"], "token": "",
          "seats": 1, "updated_at": ""}, screening) for row in earlier]
    tickets.append((registration, screening))
    return tickets, registration["updated_at"]


def _check_secret(secret: str) -> None:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 64:
        raise NotFound(_("There is no such page."))


async def attendee_registrations(db: Database, secret: str, *, now: datetime | None = None
                                 ) -> tuple[list[Ticket], str]:
    """Every registration of the attendee whose secret this is, each with its screening
    (those since turned draft left out), in order of registering, and their latest
    change; NotFound for an unknown secret."""
    _check_secret(secret)
    attendee = await db.fetch_one("SELECT email_key, created_at FROM attendees WHERE secret = ?",
                                  (secret,))
    if attendee is None:
        raise NotFound(_("There is no such page."))
    sql = f"{REGISTRATION_SELECT} WHERE r.email_key = ? ORDER BY r.id"
    rows = [dict(r) for r in await db.fetch_all(sql, (attendee["email_key"],))]
    if any(hold_is_over(r, times.moment(now)) for r in rows):
        await expire_holds(db, now=now)
        rows = [dict(r) for r in await db.fetch_all(sql, (attendee["email_key"],))]
    tickets: list[Ticket] = []
    for registration in rows:
        try:
            screening = await queries.get_screening(db, registration["screening_id"])
        except NotFound:
            continue
        tickets.append((_public(registration), screening))
    stamp = max([attendee["created_at"], *(r["updated_at"] for r in rows)])
    return tickets, stamp


async def waitlist_position(conn: Connection, registration_id: int) -> int | None:
    """The 1-based place among the screening's waiting registrations; None unless waiting."""
    registration = await _load(conn, "r.id = ?", registration_id)
    return registration["waitlist_position"]
