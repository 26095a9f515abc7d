"""Organisers manage registrations from a screening's attendee list: cancel one, change
its seats, move it to another screening, send its ticket again, check in part of a
party, and write to everyone registered.

The rules are those of festival.seats.registrations (its docstring), applied by an
organiser instead of the attendee:
- Each action is one write transaction holding its check, its change, its mail
  (outbox.enqueue, never capped: `by_organiser`) and its audit entry (no name or
  address in it: festival.organisers.audit). Holds that ran out are expired first.
- Every function takes the organiser and checks their country itself
  (door.managed_screening; inside a write, door.screening_for_change, which reads the
  seat counts kept per screening instead of summing registrations), and the
  registration must belong to the screening the organiser is looking at (NotFound
  otherwise).
- Strict order of the waitlist: whatever frees seats (a cancellation, fewer seats, a
  registration moved away) promotes the waitlist in order. More seats, or a party
  moved in, are given only when they fit AND nobody is waiting for them there: an
  organiser does not make anyone jump the queue either.
- A moved registration keeps its token (its ticket link and QR code): it is confirmed
  at the new screening (organisers vouch for it, so no address confirmation is asked)
  and its attendee gets a 'moved' mail with the new invitation.
- Arrivals: `checked_in_seats` counts the seats of a party that have arrived (NULL:
  all of them once `checked_in_at` is set, as the door's scan records it). Check-in by
  part sets it; the rest of the party may be checked in later.
- A checked-in registration cannot be cancelled or moved, nor given fewer seats than
  have arrived.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from festival.core import times
from festival.core.errors import Conflict, NotFound, ValidationError, _
from festival.core.i18n import Text
from festival.core.store import (
    Connection,
    Database,
    execute,
    fetch_all,
    fetch_one,
    fetch_value,
    insert_returning_id,
    lock_row,
)
from festival.core.text import has_unsafe_characters
from festival.mail import outbox
from festival.mail.facts import MessageFacts
from festival.organisers import audit
from festival.seats import door, registrations
from festival.seats.registrations import TAKEN_SEATS, WAITING, expire_overdue, promote_waitlist

SUBJECT_MAX = 200
BODY_MAX = 5000
LIVE = ("confirmed", "held", "waitlisted")
PREVIEW_TOKEN = "TICKET"  # noqa: S105  # a preview shows this, not the ticket link

CHECKED_IN = _("This ticket was used at the door, so it can no longer be cancelled.")
NOT_LIVE = _("This registration is cancelled.")
CANCELLED_SCREENING = _("This screening was cancelled, so its registrations cannot be changed.")

_SEATS = f"""SELECT s.capacity, s.max_seats, {TAKEN_SEATS} AS taken_seats, {WAITING} AS waiting
FROM screenings s WHERE s.id = ?"""


def arrived_seats(registration: dict[str, Any]) -> int:
    """How many of the party's seats have been checked in."""
    if not registration.get("checked_in_at"):
        return 0
    arrived = registration.get("checked_in_seats")
    return int(registration["seats"] if arrived is None else arrived)


async def _registration(conn: Connection, organiser: dict[str, Any],
                        screening_id: int, registration_id: Any, moment: str
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the screening, the registration) inside a write transaction: the organiser's
    country checked, overdue holds expired first (and the waitlist moved up). The
    screening's row is locked first (festival.core.store.lock_row)."""
    await lock_row(conn, "screenings", screening_id)
    screening = await door.screening_for_change(conn, organiser, screening_id)
    if await expire_overdue(conn, screening_id, moment):
        await promote_waitlist(conn, screening_id, now=times.parse_utc(moment))
    if isinstance(registration_id, bool) or not isinstance(registration_id, int):
        raise NotFound(registrations.NO_REGISTRATION)
    row = await fetch_one(conn, "SELECT * FROM registrations WHERE id = ? AND screening_id = ?",
                          (registration_id, screening_id))
    if row is None:
        raise NotFound(registrations.NO_REGISTRATION)
    return screening, dict(row)


def _live(screening: dict[str, Any], registration: dict[str, Any]) -> None:
    if registration["status"] not in LIVE:
        raise Conflict(NOT_LIVE)
    if screening["status"] == "cancelled":
        raise Conflict(CANCELLED_SCREENING)


async def _state(conn: Connection, screening_id: int) -> dict[str, Any]:
    row = await fetch_one(conn, _SEATS, (screening_id,))
    assert row is not None
    return dict(row)


async def attendee_list(db: Database, organiser: dict[str, Any], screening_id: int
                        ) -> dict[str, Any]:
    """The attendee list (door.attendees) with the screenings its registrations may move
    to (`move_targets`)."""
    data = await door.attendees(db, organiser, screening_id)
    return {**data, "move_targets": await move_targets(db, organiser, screening_id)}


# --- cancel --------------------------------------------------------------------------------

async def cancel(db: Database, organiser: dict[str, Any], screening_id: int,
                 registration_id: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Cancels a registration (cancel_reason 'organiser'), mails its attendee, frees its
    seats and promotes the waitlist. Conflict when it was checked in or is cancelled."""
    moment = times.moment(now)
    async with db.transaction() as conn:
        screening, registration = await _registration(conn, organiser, screening_id,
                                                      registration_id, moment)
        if registration["status"] == "cancelled":
            raise Conflict(NOT_LIVE)
        if registration["checked_in_at"] is not None:
            raise Conflict(CHECKED_IN)
        await execute(conn, """UPDATE registrations SET status = 'cancelled', cancelled_at = ?,
                               cancel_reason = 'organiser', held_until = NULL, updated_at = ?,
                               changes = changes + 1 WHERE id = ?""",
                      (moment, moment, registration["id"]))
        if registration["email"]:
            await outbox.enqueue(conn, kind="cancelled", registration_id=registration["id"],
                                 by_organiser=True)
        await audit.record(conn, organiser["id"], "registration.cancel", "registration",
                           registration["id"], {"status": registration["status"]},
                           {"status": "cancelled", "cancel_reason": "organiser"})
        await promote_waitlist(conn, screening_id, now=now)
        return dict(await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?",
                                    (registration["id"],)) or {})


# --- seats ---------------------------------------------------------------------------------

async def change_seats(db: Database, organiser: dict[str, Any], screening_id: int,
                       registration_id: Any, seats: Any, *, now: datetime | None = None
                       ) -> dict[str, Any]:
    """Gives a registration `seats` seats. Fewer free seats and promote the waitlist;
    more are given to a party with seats only when they are free and nobody waits (a
    waiting party just waits for more). Mails the attendee what they now hold.
    ValidationError(seats); Conflict (no room, cancelled); NotFound; Forbidden."""
    moment = times.moment(now)
    async with db.transaction() as conn:
        screening, registration = await _registration(conn, organiser, screening_id,
                                                      registration_id, moment)
        _live(screening, registration)
        problem = registrations.seats_error(seats, screening["max_seats"], screening["capacity"])
        if problem:
            raise ValidationError(fields={"seats": problem})
        old = registration["seats"]
        if seats == old:
            return registration
        arrived = arrived_seats(registration)
        if seats < arrived:
            raise ValidationError(fields={"seats": Text(_(
                "%(num)d seats of this party have already been checked in: it cannot have "
                "fewer."), num=arrived)})
        if seats > old and registration["status"] != "waitlisted":
            state = await _state(conn, screening_id)
            free = state["capacity"] - state["taken_seats"]
            if state["waiting"]:
                raise Conflict(_("People are waiting for seats at this screening: more seats "
                                 "go to them first."))
            if seats - old > free:
                raise Conflict(Text(_("Only %(num)d more seats are free at this screening."),
                                    num=max(0, free)))
        await execute(conn, """UPDATE registrations SET seats = ?, checked_in_seats = ?,
                               updated_at = ?, changes = changes + 1 WHERE id = ?""",
                      (seats, arrived or None, moment, registration["id"]))
        await audit.record(conn, organiser["id"], "registration.seats", "registration",
                           registration["id"], {"seats": old}, {"seats": seats})
        await promote_waitlist(conn, screening_id, now=now)
        after = dict(await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?",
                                     (registration["id"],)) or {})
        if after["email"]:
            await outbox.enqueue(conn, kind=after["status"], registration_id=after["id"],
                                 by_organiser=True)
        return after


# --- move ----------------------------------------------------------------------------------

async def move_targets(db: Database, organiser: dict[str, Any], screening_id: int
                       ) -> list[dict[str, Any]]:
    """The screenings a registration of this one may move to: scheduled, not started,
    of the same country and edition, with their free seats (earliest first)."""
    screening = await door.managed_screening(db, organiser, screening_id)
    rows = await db.fetch_all(
        f"""SELECT s.id, s.starts_at, s.timezone, s.capacity, f.title, v.name AS venue,
                   v.city,
                   s.capacity - {TAKEN_SEATS} AS free
            FROM screenings s JOIN venues v ON v.id = s.venue_id
            JOIN films f ON f.id = s.film_id
            WHERE v.country = ? AND s.edition_id = ? AND s.id != ?
              AND s.status = 'scheduled' AND s.starts_at > ?
            ORDER BY s.starts_at, s.id""",
        (screening["country"], screening["edition_id"], screening_id, times.moment()))
    return [{**dict(r), "starts_local": times.to_local(r["starts_at"], r["timezone"])}
            for r in rows]


async def move(db: Database, organiser: dict[str, Any], screening_id: int,
               registration_id: Any, target_id: Any, *, now: datetime | None = None
               ) -> dict[str, Any]:
    """Moves a registration to another screening of the same country, in one
    transaction: its seats must be free there with nobody waiting; it is confirmed there
    with the same token, its attendee mailed ('moved'), and this screening's waitlist
    moves up. ValidationError(screening); Conflict; NotFound; Forbidden."""
    moment = times.moment(now)
    async with db.transaction() as conn:
        screening, registration = await _registration(conn, organiser, screening_id,
                                                      registration_id, moment)
        _live(screening, registration)
        if registration["checked_in_at"] is not None:
            raise Conflict(_("This ticket was used at the door, so it can no longer be moved."))
        if isinstance(target_id, bool) or not isinstance(target_id, int) or (
                target_id == screening_id):
            raise ValidationError(fields={"screening": _("Please choose another screening.")})
        try:
            target = await door.screening_for_change(conn, organiser, target_id)
        except NotFound:
            raise ValidationError(fields={"screening": _("Please choose another screening.")}
                                  ) from None
        if target["country"] != screening["country"] or (
                target["edition_id"] != screening["edition_id"]):
            raise ValidationError(fields={"screening": _(
                "A registration can only move to a screening of the same country.")})
        if registrations.closed_reason(target["status"], target["starts_at"], moment):
            raise Conflict(_("Registration for that screening is closed."))
        if await expire_overdue(conn, target_id, moment):
            await promote_waitlist(conn, target_id, now=now)
        state = await _state(conn, target_id)
        free = state["capacity"] - state["taken_seats"]
        if state["waiting"] or registration["seats"] > free:
            raise Conflict(Text(_("Not enough free seats at that screening: %(num)d free, "
                                  "%(waiting)d parties waiting."), num=max(0, free),
                                waiting=state["waiting"]))
        if await fetch_value(conn, "SELECT 1 FROM registrations WHERE screening_id = ? AND "
                             "email_key = ? AND status != 'cancelled'",
                             (target_id, registration["email_key"])):
            raise Conflict(_("This attendee is already registered for that screening."))
        await execute(conn, """UPDATE registrations SET screening_id = ?, status = 'confirmed',
                               confirmed_at = COALESCE(confirmed_at, ?), held_until = NULL,
                               updated_at = ?, changes = changes + 1 WHERE id = ?""",
                      (target_id, moment, moment, registration["id"]))
        if registration["email"]:
            await registrations.ensure_attendee(conn, registration["email_key"], moment)
            await outbox.enqueue(conn, kind="moved", registration_id=registration["id"])
        await audit.record(conn, organiser["id"], "registration.move", "registration",
                           registration["id"],
                           {"screening_id": screening_id, "status": registration["status"]},
                           {"screening_id": target_id, "status": "confirmed"})
        await promote_waitlist(conn, screening_id, now=now)
        return dict(await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?",
                                    (registration["id"],)) or {})


# --- ticket mail and arrivals ---------------------------------------------------------------

async def resend_ticket(db: Database, organiser: dict[str, Any], screening_id: int,
                        registration_id: Any, *, now: datetime | None = None) -> None:
    """Queues the registration's mail (with its ticket link) again: an organiser's
    action, never capped. Conflict when it is cancelled or has no address."""
    moment = times.moment(now)
    async with db.transaction() as conn:
        screening, registration = await _registration(conn, organiser, screening_id,
                                                      registration_id, moment)
        _live(screening, registration)
        if not registration["email"]:
            raise Conflict(_("This registration has no email address."))
        await registrations.ensure_attendee(conn, registration["email_key"], moment)
        await outbox.enqueue(conn, kind=registration["status"],
                             registration_id=registration["id"], by_organiser=True)
        await audit.record(conn, organiser["id"], "registration.resend", "registration",
                           registration["id"], None, {"kind": registration["status"]})


async def check_in_seats(db: Database, organiser: dict[str, Any], screening_id: int,
                         registration_id: Any, arriving: Any, *,
                         now: datetime | None = None) -> dict[str, Any]:
    """Checks in `arriving` more seats of a confirmed party (2 of 3 now, the third
    later). ValidationError(arriving) beyond the seats not yet arrived; Conflict."""
    moment = times.moment(now)
    async with db.transaction() as conn:
        screening, registration = await _registration(conn, organiser, screening_id,
                                                      registration_id, moment)
        _live(screening, registration)
        if registration["status"] != "confirmed":
            raise Conflict(_("Only a confirmed registration can be checked in."))
        arrived = arrived_seats(registration)
        left = registration["seats"] - arrived
        if left == 0:
            raise Conflict(_("Every seat of this registration has been checked in."))
        if isinstance(arriving, bool) or not isinstance(arriving, int) or not (
                1 <= arriving <= left):
            raise ValidationError(fields={"arriving": Text(_(
                "Please choose a whole number of seats from 1 to %(max)d."), max=left)})
        await execute(conn, """UPDATE registrations SET checked_in_seats = ?,
                               checked_in_at = COALESCE(checked_in_at, ?),
                               checked_in_by = COALESCE(checked_in_by, ?), updated_at = ?
                               WHERE id = ?""",
                      (arrived + arriving, moment, organiser["id"], moment, registration["id"]))
        await audit.record(conn, organiser["id"], "registration.check_in", "registration",
                           registration["id"], {"checked_in_seats": arrived},
                           {"checked_in_seats": arrived + arriving})
        return dict(await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?",
                                    (registration["id"],)) or {})


# --- writing to all registrants --------------------------------------------------------------

def clean_message(subject: Any, body: Any) -> dict[str, str]:
    """The subject (one line) and text (line breaks as \\n) of an organiser's message;
    ValidationError(subject, body)."""
    errors: dict[str, str] = {}
    subject = subject.strip() if isinstance(subject, str) else ""
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(body, str) else ""
    if not subject:
        errors["subject"] = _("Please write a subject.")
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = _("Please shorten the subject to 200 characters or fewer.")
    elif has_unsafe_characters(subject):
        errors["subject"] = _("The subject contains characters we cannot use (such as line "
                              "breaks).")
    if not body:
        errors["body"] = _("Please write the message.")
    elif len(body) > BODY_MAX:
        errors["body"] = _("Please shorten the message to 5000 characters or fewer.")
    elif has_unsafe_characters(body, lines=True):
        errors["body"] = _("The message contains characters we cannot use.")
    if errors:
        raise ValidationError(fields=errors)
    return {"subject": subject, "body": body}


async def message_form(db: Database, organiser: dict[str, Any], screening_id: int
                       ) -> dict[str, Any]:
    """What the message form shows: the screening and how many would get the message."""
    screening = await door.managed_screening(db, organiser, screening_id)
    async with db.reader() as conn:
        recipients = len(await fetch_all(conn, _RECIPIENTS, (screening_id,)))
    return {"screening": screening, "recipients": recipients}


_RECIPIENTS = """SELECT id FROM registrations WHERE screening_id = ?
                 AND status != 'cancelled' AND email != '' ORDER BY id"""


async def message_preview(db: Database, organiser: dict[str, Any], screening_id: int,
                          subject: Any, body: Any) -> dict[str, Any]:
    """What sending this message would do: {"message": the cleaned subject and body,
    "recipients": how many, "facts": the mail's facts for the first of them (None
    without any), "screening"}. ValidationError; Forbidden; NotFound."""
    screening = await door.managed_screening(db, organiser, screening_id)
    message = clean_message(subject, body)
    async with db.reader() as conn:
        rows = await fetch_all(conn, _RECIPIENTS, (screening_id,))
        facts: MessageFacts | None = None
        if rows:
            facts = await outbox.read_facts(conn, kind="message",
                                            registration_id=rows[0]["id"],
                                            message_id=outbox.new_message_id(), queued_at=None)
            # Organisers' pages never show a ticket's token or an attendee's secret.
            facts = replace(facts, note=message, attendee_secret=None, registration={
                **facts.registration, "token": PREVIEW_TOKEN, "confirm_code": None})
    return {"message": message, "recipients": len(rows), "facts": facts,
            "screening": screening}


async def send_message(db: Database, organiser: dict[str, Any], screening_id: int,
                       subject: Any, body: Any) -> int:
    """Queues the organiser's message to everyone registered for the screening and not
    cancelled who has an address, with its audit entry; answers how many.
    ValidationError; Conflict when nobody would get it; Forbidden; NotFound."""
    message = clean_message(subject, body)
    async with db.transaction() as conn:
        await door.screening_for_change(conn, organiser, screening_id)
        rows = await fetch_all(conn, _RECIPIENTS, (screening_id,))
        if not rows:
            raise Conflict(_("Nobody is registered for this screening yet."))
        message_id = await insert_returning_id(
            conn, """INSERT INTO screening_messages (screening_id, organiser_id, subject, body,
                     created_at) VALUES (?, ?, ?, ?, ?)""",
            (screening_id, organiser["id"], message["subject"], message["body"],
             times.now_text()))
        for row in rows:
            await outbox.enqueue(conn, kind="message", registration_id=row["id"],
                                 screening_message_id=message_id)
        await audit.record(conn, organiser["id"], "screening.message", "screening",
                           screening_id, None,
                           {"subject": message["subject"], "recipients": len(rows)})
    return len(rows)
