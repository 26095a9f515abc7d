"""The door: a screening's attendees, search, check-in, walk-ins and the CSV export.
(The dashboard's figures and the audit and outbox listings are festival.organisers.overview's.)

Choices a reader might question:
- Check-in is one write transaction whose UPDATE carries its own guard
  (`checked_in_at IS NULL AND status = 'confirmed'`). Of two doors scanning one ticket at
  once exactly one changes the row; the other reads who was first and is told so.
  The transaction first locks the registration's row (SQLite's BEGIN IMMEDIATE holds
  the whole file anyway); the guard keeps the rule true for any writer, and the answer
  comes from the row count, not from an earlier read.
- A walk-in is a confirmed registration, checked in at once, inserted in the transaction
  that counts the seats left. Its email is optional: without one it gets email '' and an
  `email_key` of 'walk-in:<token>' (unique), so the one-registration-per-email index
  holds. No mail is queued: the attendee is standing at the door.
- Seats left for walk-ins are capacity minus the seats taken (confirmed and held), as
  kept per screening (festival.seats.registrations.TAKEN_SEATS). At the door the
  waitlist has stopped moving (nobody is promoted once a screening has started), so free
  seats go to whoever is there.
- Every function about one screening's attendees takes the organiser and checks their
  country itself (`accounts.require_country`), so no view can forget it. A ticket of another
  country's screening answers 403, not 404: organisers are trusted staff, and "not
  yours" is the more useful answer at a door.
- The CSV holds no ticket tokens (a token is the key that cancels a ticket, and exported
  files travel by mail); cells a spreadsheet would run as a formula are defused.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

from festival.core import times
from festival.core.errors import Conflict, NotFound, ValidationError, _
from festival.core.i18n import Text
from festival.core.store import (
    Connection,
    Database,
    Row,
    execute,
    execute_count,
    fetch_one,
    fetch_value,
    insert_returning_id,
    lock_row,
)
from festival.organisers import accounts, audit
from festival.programme import queries
from festival.seats import registrations

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection

REGISTRATION_SELECT = """
SELECT r.*, s.timezone, s.status AS screening_status, v.country,
       o.name AS checked_in_by_name, o.email AS checked_in_by_email
FROM registrations r
JOIN screenings s ON s.id = r.screening_id
JOIN venues v ON v.id = s.venue_id
LEFT JOIN organisers o ON o.id = r.checked_in_by
"""


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = _("This ticket has already been checked in.")

    def __init__(self, registration: dict[str, Any]) -> None:
        super().__init__()
        self.registration = registration


class NotCheckable(Conflict):
    """A waitlisted or cancelled registration, or one of a cancelled screening."""

    code = "not_confirmed"

    def __init__(self, message: str, registration: dict[str, Any]) -> None:
        super().__init__(message)
        self.registration = registration


class WrongScreening(Conflict):
    code = "wrong_screening"
    message = _("This ticket is for another screening.")

    def __init__(self, registration: dict[str, Any]) -> None:
        super().__init__()
        self.registration = registration


class NoSeatsLeft(Conflict):
    code = "no_seats_left"
    message = _("There are not enough free seats for this walk-in.")

    def __init__(self, seats_left: int) -> None:
        super().__init__()
        self.seats_left = seats_left


# --- one screening's attendees ------------------------------------------------------------

async def managed_screening(db: Database | Connection, organiser: dict[str, Any],
                            screening_id: int) -> dict[str, Any]:
    """The screening (drafts too); NotFound, or Forbidden unless the organiser manages
    its country."""
    screening = await queries.get_screening(db, screening_id, public=False)
    accounts.require_country(organiser, screening["country"])
    return screening


# What a write deciding on a screening needs of it, read in its transaction: one row
# and the kept counts, not the programme's whole screening (managed_screening), whose
# seat figures sum the screening's registrations.
_SCREENING_FOR_CHANGE = f"""
SELECT s.id, s.edition_id, s.status, s.starts_at, s.capacity, s.max_seats, v.country,
       {registrations.TAKEN_SEATS} AS taken_seats, {registrations.WAITING} AS waiting
FROM screenings s JOIN venues v ON v.id = s.venue_id WHERE s.id = ?
"""


async def screening_for_change(conn: Connection, organiser: dict[str, Any],
                               screening_id: int) -> dict[str, Any]:
    """What managed_screening answers (and refuses: NotFound, Forbidden), reduced to
    what writes decide on: id, edition_id, status, starts_at, capacity, max_seats,
    country, taken_seats and waiting (drafts too)."""
    row = await fetch_one(conn, _SCREENING_FOR_CHANGE, (screening_id,))
    if row is None:
        raise NotFound(_("There is no such screening."))
    accounts.require_country(organiser, row["country"])
    return dict(row)


def registration_view(row: Row | dict[str, Any]) -> dict[str, Any]:
    """A registration as organisers see it: times at the venue, who checked it in."""
    r = dict(row)
    zone = r["timezone"]
    for column in ("created_at", "checked_in_at", "cancelled_at"):
        r[column.replace("_at", "_local")] = (
            times.to_local(r[column], zone) if r.get(column) else None)
    r["checked_in_by_label"] = r.get("checked_in_by_name") or r.get("checked_in_by_email") or ""
    # Seats of the party checked in (part of it may come later: festival.seats.management).
    arrived = r.get("checked_in_seats")
    r["arrived_seats"] = (0 if not r.get("checked_in_at") else
                          r["seats"] if arrived is None else arrived)
    return r


def _party_count(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {"registrations": len(rows), "seats": sum(r["seats"] for r in rows)}


async def attendees(db: Database, organiser: dict[str, Any], screening_id: int
                    ) -> dict[str, Any]:
    """The screening's registrations sorted for the list, with counts (parties, seats)."""
    screening = await managed_screening(db, organiser, screening_id)
    rows = [registration_view(r) for r in await db.fetch_all(
        REGISTRATION_SELECT + " WHERE r.screening_id = ? ORDER BY r.id", (screening_id,))]
    waitlist = [r for r in rows if r["status"] == "waitlisted"]
    for position, r in enumerate(waitlist, start=1):
        r["waitlist_position"] = position
    confirmed = sorted((r for r in rows if r["status"] in ("confirmed", "held")),
                       key=lambda r: (r["name"].casefold(), r["id"]))
    cancelled = [r for r in rows if r["status"] == "cancelled"]
    checked_in = [r for r in confirmed if r["checked_in_at"]]
    counts = {
        "confirmed": _party_count(confirmed), "waitlisted": _party_count(waitlist),
        "cancelled": _party_count(cancelled),
        "checked_in": {"registrations": len(checked_in),
                       "seats": sum(r["arrived_seats"] for r in checked_in)},
        "walk_ins": _party_count([r for r in confirmed if r["walk_in"]]),
        "seats_left": max(0, screening["capacity"] - screening["confirmed_seats"]),
    }
    return {"screening": screening, "confirmed": confirmed, "waitlist": waitlist,
            "cancelled": cancelled, "counts": counts}


def token_from(text: str) -> str | None:
    """The ticket token in what was typed, pasted or scanned: the bare token or the
    ticket's URL (https://.../tickets/{token}, with or without anything after it)."""
    text = (text or "").strip()
    if "/tickets/" in text:
        text = re.split(r"[/?#.]", text.split("/tickets/", 1)[1], maxsplit=1)[0]
    return text if TOKEN.fullmatch(text) else None


async def find(db: Database, organiser: dict[str, Any], screening_id: int, query: str
               ) -> list[dict[str, Any]]:
    """Registrations of the screening whose name or email contains `query` (ignoring
    case), or the one whose ticket it is. A ticket of another screening is answered as
    WrongScreening, so the door knows what it holds."""
    await managed_screening(db, organiser, screening_id)
    query = (query or "").strip()[:200]
    if not query:
        return []
    token = token_from(query)
    if token is not None:
        row = await db.fetch_one(REGISTRATION_SELECT + " WHERE r.token = ?", (token,))
        if row is not None:
            if row["screening_id"] != screening_id:
                accounts.require_country(organiser, row["country"])
                raise WrongScreening(registration_view(row))
            return [registration_view(row)]
    # A screening holds hundreds of registrations, not millions: matching in Python
    # gets Unicode case right (SQLite's LOWER only knows ASCII).
    needle = query.casefold()
    rows = await db.fetch_all(REGISTRATION_SELECT + " WHERE r.screening_id = ? ORDER BY r.name",
                              (screening_id,))
    return [registration_view(r) for r in rows
            if needle in r["name"].casefold() or needle in r["email"].casefold()]


# --- check-in ------------------------------------------------------------------------------

def _refusal(row: dict[str, Any]) -> Conflict:
    if row["screening_status"] == "cancelled":
        return NotCheckable(_("This screening was cancelled, so nobody can be checked in."), row)
    if row["status"] == "cancelled":
        return NotCheckable(_("This registration was cancelled, so it cannot be checked in."),
                            row)
    if row["status"] == "held":
        return NotCheckable(_("This registration's seats are held until the attendee "
                              "confirms their email address, so it cannot be checked in "
                              "yet."), row)
    if row["status"] == "waitlisted":
        return NotCheckable(_("This registration is on the waitlist, not confirmed, so it "
                              "cannot be checked in."), row)
    return AlreadyCheckedIn(row)


def _rest_of_party_arrives(r: dict[str, Any]) -> bool:
    """Whether a checked-in ticket still has seats to come: a party partly checked in."""
    arrived = r.get("checked_in_seats")
    return (r["checked_in_at"] is not None and arrived is not None and arrived < r["seats"]
            and r["status"] == "confirmed" and r["screening_status"] != "cancelled")


async def check_in(db: Database, organiser: dict[str, Any], ticket: str, *,
                   screening_id: int | None = None, now: datetime | None = None
                   ) -> dict[str, Any]:
    """Checks in the registration whose ticket (token or URL) this is, once; answers it.

    NotFound; Forbidden (another country); WrongScreening when `screening_id` is given
    and differs; AlreadyCheckedIn (with when and by whom); NotCheckable."""
    token = token_from(ticket)
    if token is None:
        raise NotFound(_("There is no ticket with that code."))
    moment = times.moment(now)
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT id FROM registrations WHERE token = ?", (token,))
        if row is None:
            raise NotFound(_("There is no ticket with that code."))
        # One check-in whichever door scans first: the other waits here, then reads it.
        await lock_row(conn, "registrations", row["id"])
        row = await fetch_one(conn, REGISTRATION_SELECT + " WHERE r.id = ?", (row["id"],))
        before = registration_view(row)
        accounts.require_country(organiser, before["country"])
        if screening_id is not None and before["screening_id"] != screening_id:
            raise WrongScreening(before)
        if _rest_of_party_arrives(before):
            # Part of the party came earlier (festival.seats.management): the ticket
            # scanned again admits the rest of it, once.
            await execute(conn, "UPDATE registrations SET checked_in_seats = seats,"
                                " updated_at = ? WHERE id = ?", (moment, before["id"]))
            await audit.record(conn, organiser["id"], "registration.check_in", "registration",
                               before["id"], {"checked_in_seats": before["checked_in_seats"]},
                               {"checked_in_seats": before["seats"]})
            after = await fetch_one(conn, REGISTRATION_SELECT + " WHERE r.id = ?",
                                    (before["id"],))
            assert after is not None
            return registration_view(after)
        changed = await execute_count(
            conn,
            """UPDATE registrations SET checked_in_at = ?, checked_in_by = ?, updated_at = ?
               WHERE id = ? AND checked_in_at IS NULL AND status = 'confirmed'
               AND (SELECT status FROM screenings WHERE screenings.id = registrations.screening_id)
                   != 'cancelled'""",
            (moment, organiser["id"], moment, before["id"]),
        ) == 1
        if not changed:
            raise _refusal(before)
        await audit.record(conn, organiser["id"], "registration.check_in", "registration",
                           before["id"], {"checked_in_at": None, "checked_in_by": None},
                           {"checked_in_at": moment, "checked_in_by": organiser["id"]})
        after = await fetch_one(conn, REGISTRATION_SELECT + " WHERE r.id = ?", (before["id"],))
    assert after is not None
    return registration_view(after)


def _walk_in_seats(value: Any, max_seats: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_seats:
        return Text(_("Please choose a whole number of seats from 1 to %(max)d."), max=max_seats)
    return None


async def add_walk_in(db: Database, organiser: dict[str, Any], screening_id: int, name: Any,
                      seats: Any, email: Any = "", *, locale: str = "en",
                      now: datetime | None = None) -> dict[str, Any]:
    """Registers someone at the door, confirmed and checked in, if their seats are free.

    ValidationError(fields); NoSeatsLeft; Conflict (cancelled screening, email already
    registered); Forbidden; NotFound. Nothing is written unless it all succeeds."""
    clean_name, name_error = registrations.clean_name(name)
    clean_email, email_error = "", None
    if isinstance(email, str) and email.strip():
        clean_email, email_error = registrations.clean_email(email)
    errors = {k: v for k, v in (("name", name_error), ("email", email_error)) if v}
    moment = times.moment(now)
    async with db.transaction() as conn:
        await lock_row(conn, "screenings", screening_id)  # the seats left, decided here
        screening = await screening_for_change(conn, organiser, screening_id)
        if screening["status"] != "scheduled":
            raise Conflict(_("Walk-ins can only be added to a scheduled screening."))
        seats_error = _walk_in_seats(seats, screening["max_seats"])
        if seats_error:
            errors["seats"] = seats_error
        if errors:
            raise ValidationError(fields=errors)
        seats_left = screening["capacity"] - screening["taken_seats"]
        if seats > seats_left:
            raise NoSeatsLeft(max(0, seats_left))
        token = registrations.new_token()
        key = registrations.email_key(clean_email) if clean_email else f"walk-in:{token}"
        if clean_email and await fetch_value(
                conn, "SELECT id FROM registrations WHERE screening_id = ? AND email_key = ? "
                "AND status != 'cancelled'", (screening_id, key)):
            raise Conflict(_("This email address is already registered for this screening: "
                             "search for it and check that registration in."))
        walk_in = {"screening_id": screening_id, "token": token, "name": clean_name,
                   "email": clean_email, "email_key": key, "seats": seats, "locale": locale,
                   "moment": moment, "organiser_id": organiser["id"]}
        walk_in_id = await insert_returning_id(
            conn, """INSERT INTO registrations (screening_id, token, name, email, email_key,
                         seats, status, locale, walk_in, created_at, confirmed_at,
                         checked_in_at, checked_in_by, updated_at)
                     VALUES (:screening_id, :token, :name, :email, :email_key, :seats,
                         'confirmed', :locale, 1, :moment, :moment, :moment, :organiser_id,
                         :moment)""", walk_in)
        # No name or email: the trail outlives attendees' personal data (docs/privacy.md).
        await audit.record(conn, organiser["id"], "registration.walk_in", "registration",
                           walk_in_id, None,
                           {"screening_id": screening_id, "seats": seats,
                            "status": "confirmed", "walk_in": True, "checked_in_at": moment})
        row = await fetch_one(conn, REGISTRATION_SELECT + " WHERE r.id = ?", (walk_in_id,))
    assert row is not None
    return registration_view(row)


# --- CSV export (pure) ---------------------------------------------------------------------

def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: one starting like a formula (= + - @, a tab or
    a carriage return) gets a leading single quote, as OWASP advises."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_filename(screening: dict[str, Any]) -> str:
    """'attendees-2016-hague-2016-12-13.csv': the edition and screening keys, kept to
    characters every file system and Content-Disposition parser accepts."""
    stem = f"attendees-{screening['edition_key']}-{screening['key']}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)[:150] + ".csv"


CSV_HEADER = ("name", "email", "seats", "status", "waitlist_position", "walk_in",
              "registered_at", "checked_in_at", "checked_in_by", "cancelled_at")


def _local_text(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def attendees_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows (from `attendees`, any status) to UTF-8 CSV with a BOM (so Excel reads the
    accents right), times at the venue, formula-like cells defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow([safe_cell(v) for v in (
            r["name"], r["email"], r["seats"], r["status"], r.get("waitlist_position") or "",
            "yes" if r["walk_in"] else "", _local_text(r["created_local"]),
            _local_text(r["checked_in_local"]), r["checked_in_by_label"],
            _local_text(r["cancelled_local"]))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
