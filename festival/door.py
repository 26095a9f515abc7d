"""The door and the organisers' overview: a screening's attendees, check-in, walk-ins,
the CSV export, the dashboard's figures, and the audit and outbox listings.

Choices a reader might question:
- Check-in is one write transaction whose UPDATE carries its own guard
  (`checked_in_at IS NULL AND status = 'confirmed'`). Of two doors scanning one ticket at
  once exactly one changes the row; the other reads who was first and is told so.
  BEGIN IMMEDIATE already serialises writers; the guard keeps the rule true for any
  writer, and the answer comes from the row count, not from an earlier read.
- A walk-in is a confirmed registration, checked in at once, inserted in the transaction
  that counts the seats left. Its email is optional: without one it gets email '' and an
  `email_key` of 'walk-in:<token>' (unique), so the one-registration-per-email index
  holds. No mail is queued: the attendee is standing at the door.
- Seats left for walk-ins are capacity minus confirmed seats. At the door the waitlist
  has stopped moving (nobody is promoted once a screening has started), so free seats go
  to whoever is there.
- Every function about one screening's attendees takes the organiser and checks their
  country itself (`auth.require_country`), so no view can forget it. A ticket of another
  country's screening answers 403, not 404: organisers are trusted staff, and "not
  yours" is the more useful answer at a door.
- The CSV holds no ticket tokens (a token is the key that cancels a ticket, and exported
  files travel by mail); cells a spreadsheet would run as a formula are defused.
- Rates: fill = confirmed seats / capacity. No-show = seats of pre-registered confirmed
  parties not checked in / those seats, once the screening has ended. Walk-ins count as
  attendance, never towards no-shows. A party checks in whole.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from festival import audit, auth, mail, programme, registrations, times
from festival.db import Database, execute, fetch_one, fetch_value
from festival.errors import Conflict, NotFound, ValidationError, _

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection
AUDIT_PAGE_SIZE = 50
OUTBOX_PAGE_SIZE = 100
DASHBOARD_SCREENINGS_MAX = 300  # above this an admin picks a country to list screenings

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

async def managed_screening(db: Database | aiosqlite.Connection, organiser: dict[str, Any],
                            screening_id: int) -> dict[str, Any]:
    """The screening (drafts too); NotFound, or Forbidden unless the organiser manages
    its country."""
    screening = await programme.get_screening(db, screening_id, public=False)
    auth.require_country(organiser, screening["country"])
    return screening


def registration_view(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """A registration as organisers see it: times at the venue, who checked it in."""
    r = dict(row)
    zone = r["timezone"]
    for column in ("created_at", "checked_in_at", "cancelled_at"):
        r[column.replace("_at", "_local")] = (
            times.to_local(r[column], zone) if r.get(column) else None)
    r["checked_in_by_label"] = r.get("checked_in_by_name") or r.get("checked_in_by_email") or ""
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
    confirmed = sorted((r for r in rows if r["status"] == "confirmed"),
                       key=lambda r: (r["name"].casefold(), r["id"]))
    cancelled = [r for r in rows if r["status"] == "cancelled"]
    checked_in = [r for r in confirmed if r["checked_in_at"]]
    counts = {
        "confirmed": _party_count(confirmed), "waitlisted": _party_count(waitlist),
        "cancelled": _party_count(cancelled), "checked_in": _party_count(checked_in),
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
                auth.require_country(organiser, row["country"])
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
    if row["status"] == "waitlisted":
        return NotCheckable(_("This registration is on the waitlist, not confirmed, so it "
                              "cannot be checked in."), row)
    return AlreadyCheckedIn(row)


async def check_in(db: Database, organiser: dict[str, Any], ticket: str, *,
                   screening_id: int | None = None, now: datetime | None = None
                   ) -> dict[str, Any]:
    """Checks in the registration whose ticket (token or URL) this is, once; answers it.

    NotFound; Forbidden (another country); WrongScreening when `screening_id` is given
    and differs; AlreadyCheckedIn (with when and by whom); NotCheckable."""
    token = token_from(ticket)
    if token is None:
        raise NotFound(_("There is no ticket with that code."))
    moment = times.utc_text(now) if now else times.now_text()
    async with db.transaction() as conn:
        row = await fetch_one(conn, REGISTRATION_SELECT + " WHERE r.token = ?", (token,))
        if row is None:
            raise NotFound(_("There is no ticket with that code."))
        before = registration_view(row)
        auth.require_country(organiser, before["country"])
        if screening_id is not None and before["screening_id"] != screening_id:
            raise WrongScreening(before)
        async with conn.execute(
            """UPDATE registrations SET checked_in_at = ?, checked_in_by = ?, updated_at = ?
               WHERE id = ? AND checked_in_at IS NULL AND status = 'confirmed'
               AND (SELECT status FROM screenings WHERE screenings.id = registrations.screening_id)
                   != 'cancelled'""",
            (moment, organiser["id"], moment, before["id"]),
        ) as cursor:
            changed = cursor.rowcount == 1
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
        return _("Please choose a whole number of seats from 1 to %(max)d.") % {"max": max_seats}
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
    moment = times.utc_text(now) if now else times.now_text()
    async with db.transaction() as conn:
        screening = await managed_screening(conn, organiser, screening_id)
        if screening["status"] != "scheduled":
            raise Conflict(_("Walk-ins can only be added to a scheduled screening."))
        seats_error = _walk_in_seats(seats, screening["max_seats"])
        if seats_error:
            errors["seats"] = seats_error
        if errors:
            raise ValidationError(fields=errors)
        seats_left = screening["capacity"] - screening["confirmed_seats"]
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
        walk_in_id = await execute(
            conn, """INSERT INTO registrations (screening_id, token, name, email, email_key,
                         seats, status, locale, walk_in, created_at, confirmed_at,
                         checked_in_at, checked_in_by, updated_at)
                     VALUES (:screening_id, :token, :name, :email, :email_key, :seats,
                         'confirmed', :locale, 1, :moment, :moment, :moment, :organiser_id,
                         :moment)""", walk_in)
        await audit.record(conn, organiser["id"], "registration.walk_in", "registration",
                           walk_in_id, None,
                           {"screening_id": screening_id, "name": clean_name,
                            "email": clean_email, "seats": seats, "status": "confirmed",
                            "walk_in": True, "checked_in_at": moment})
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


# --- dashboard -----------------------------------------------------------------------------

DASHBOARD_SELECT = """
SELECT s.id, s.key, s.status, s.starts_at, s.ends_at, s.timezone, s.capacity, f.title,
       v.name AS venue_name, v.city, v.country,
       COUNT(CASE WHEN r.status = 'confirmed' THEN 1 END) AS confirmed,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' THEN r.seats END), 0) AS confirmed_seats,
       COUNT(CASE WHEN r.status = 'waitlisted' THEN 1 END) AS waiting,
       COALESCE(SUM(CASE WHEN r.status = 'waitlisted' THEN r.seats END), 0) AS waiting_seats,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' AND r.walk_in = 0
                         THEN r.seats END), 0) AS booked_seats,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' AND r.walk_in = 0
                         AND r.checked_in_at IS NOT NULL THEN r.seats END), 0) AS arrived_seats,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' AND r.walk_in = 1
                         THEN r.seats END), 0) AS walk_in_seats
FROM screenings s
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id
LEFT JOIN registrations r ON r.screening_id = s.id
WHERE s.edition_id = ? AND s.status != 'draft'
GROUP BY s.id
ORDER BY v.country, s.starts_at, s.id
"""

FIGURES = ("capacity", "confirmed", "confirmed_seats", "waiting", "waiting_seats",
           "booked_seats", "arrived_seats", "walk_in_seats")


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rates(figures: dict[str, Any], *, past: bool) -> dict[str, float | None]:
    """Fill rate, waitlist (in seats, against capacity); check-in and no-show rates of
    pre-registered seats once past (None before, or with nothing booked)."""
    check_in = _ratio(figures["arrived_seats"], figures["booked_seats"]) if past else None
    return {"fill_rate": _ratio(figures["confirmed_seats"], figures["capacity"]),
            "waitlist_rate": _ratio(figures["waiting_seats"], figures["capacity"]),
            "check_in_rate": check_in,
            "no_show_rate": None if check_in is None else 1 - check_in}


def _country_totals(country: str, screenings: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the scheduled screenings (a cancelled one's seats are not on offer);
    check-in figures over the past ones only."""
    live = [s for s in screenings if s["status"] == "scheduled"]
    past = [s for s in live if s["past"]]
    total: dict[str, Any] = {k: sum(s[k] for s in live) for k in FIGURES}
    for k in ("booked_seats", "arrived_seats"):
        total[k] = sum(s[k] for s in past)
    total.update(country=country, screenings=len(live), past=len(past),
                 cancelled=len(screenings) - len(live))
    total.update(rates(total, past=bool(past)))
    return total


async def dashboard(db: Database, organiser: dict[str, Any], edition_id: int, *,
                    country: str = "", now: datetime | None = None) -> dict[str, Any]:
    """Per country and per screening of an edition: seats, confirmed, fill rate, waitlist,
    check-in and no-show rates. Organisers see their own country only; admins every one,
    with the screenings of one `country` or, for a small edition, of all."""
    moment = times.utc_text(now) if now else times.now_text()
    screenings = []
    for row in await db.fetch_all(DASHBOARD_SELECT, (edition_id,)):
        if not auth.may_manage(organiser, row["country"]):
            continue
        s = dict(row)
        s["past"] = s["ends_at"] <= moment
        s["starts_local"] = times.to_local(s["starts_at"], s["timezone"])
        s.update(rates(s, past=s["past"] and s["status"] == "scheduled"))
        screenings.append(s)
    by_country: dict[str, list[dict[str, Any]]] = {}
    for s in screenings:
        by_country.setdefault(s["country"], []).append(s)
    country = (country or "").upper()
    if organiser["role"] != "admin":
        country = (organiser.get("country") or "").upper()
    shown = [s for s in screenings if s["country"] == country] if country else screenings
    too_many = not country and len(shown) > DASHBOARD_SCREENINGS_MAX
    return {"countries": [_country_totals(c, rows) for c, rows in sorted(by_country.items())],
            "screenings": [] if too_many else shown, "country": country,
            "too_many": too_many}


# --- audit trail ---------------------------------------------------------------------------

async def audit_page(db: Database, *, entity: str = "", entity_id: int | None = None,
                     before_id: int | None = None) -> dict[str, Any]:
    """One page of the audit trail, newest first (audit.entries, each with its changes),
    the id to page back from, and the entities there are to filter by."""
    rows = await audit.entries(db, entity=entity or None, entity_id=entity_id,
                               limit=AUDIT_PAGE_SIZE + 1, before_id=before_id)
    entities = [r[0] for r in await db.fetch_all(
        "SELECT DISTINCT entity FROM audit_log ORDER BY entity")]
    older = rows[AUDIT_PAGE_SIZE - 1]["id"] if len(rows) > AUDIT_PAGE_SIZE else None
    return {"entries": rows[:AUDIT_PAGE_SIZE], "older_than": older, "entities": entities}


# --- outbox --------------------------------------------------------------------------------

OUTBOX_FROM = """
FROM outbox o
LEFT JOIN registrations r ON r.id = o.registration_id
LEFT JOIN screenings s ON s.id = r.screening_id
LEFT JOIN films f ON f.id = s.film_id
LEFT JOIN venues v ON v.id = s.venue_id
WHERE (:country IS NULL OR v.country = :country)
"""


async def outbox_messages(db: Database, organiser: dict[str, Any], *, status: str = "",
                          page: int = 1) -> dict[str, Any]:
    """One page of the outbox, newest first, with counts per status: every message for
    admins, those about their country's screenings for organisers."""
    country = None if organiser["role"] == "admin" else (organiser.get("country") or "?")
    params: dict[str, Any] = {"country": country,
                              "status": status if status in mail.STATUSES else None}
    counts = {s: 0 for s in mail.STATUSES} | {r[0]: r[1] for r in await db.fetch_all(
        f"SELECT o.status, COUNT(*) {OUTBOX_FROM} GROUP BY o.status", params)}
    total = counts[params["status"]] if params["status"] else sum(counts.values())
    pages = max(1, -(-total // OUTBOX_PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = await db.fetch_all(
        f"""SELECT o.id, o.created_at, o.kind, o.registration_id, o.recipient, o.subject,
                   o.status, o.attempts, o.next_attempt_at, o.last_error, o.sent_at,
                   r.name AS attendee_name, r.screening_id, f.title, v.city, v.country
            {OUTBOX_FROM} AND (:status IS NULL OR o.status = :status)
            ORDER BY o.id DESC LIMIT :limit OFFSET :offset""",
        {**params, "limit": OUTBOX_PAGE_SIZE, "offset": (page - 1) * OUTBOX_PAGE_SIZE})
    return {"mails": [dict(r) for r in rows], "counts": counts, "page": page,
            "pages": pages, "status": params["status"] or ""}


async def retry_message(db: Database, organiser: dict[str, Any], outbox_id: int) -> None:
    """Queues a failed or waiting message again (mail.retry), if it is the organiser's."""
    row = await db.fetch_one(
        """SELECT o.id, v.country FROM outbox o
           LEFT JOIN registrations r ON r.id = o.registration_id
           LEFT JOIN screenings s ON s.id = r.screening_id
           LEFT JOIN venues v ON v.id = s.venue_id WHERE o.id = ?""", (outbox_id,))
    if row is None:
        raise NotFound(_("There is no such message."))
    auth.require_country(organiser, row["country"] or "")
    await mail.retry(db, outbox_id)
