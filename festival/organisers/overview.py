"""The organisers' overview: the dashboard's figures, the audit trail, and the outbox as
organisers see it (listing, counts, retry).

Choices a reader might question:
- Rates: fill = confirmed seats / capacity. No-show = seats of pre-registered confirmed
  parties not checked in / those seats, once the screening has ended. Walk-ins count as
  attendance, never towards no-shows. A party checks in whole.
- Each organiser sees the figures and the mail of their own country's screenings
  (`accounts.may_manage`, `accounts.require_country`); admins see every country.
- A retried message keeps its composed bytes and Message-ID: the sender sends the very
  same message again, so a receiver can tell a duplicate.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from festival.core import times
from festival.core.errors import Conflict, NotFound, _
from festival.core.store import Database, execute, fetch_value
from festival.mail.outbox import STATUSES  # with "capped" (never sent)
from festival.organisers import accounts, audit

AUDIT_PAGE_SIZE = 50
OUTBOX_PAGE_SIZE = 100
DASHBOARD_SCREENINGS_MAX = 300  # above this an admin picks a country to list screenings


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
                         AND r.checked_in_at IS NOT NULL
                         THEN COALESCE(r.checked_in_seats, r.seats) END), 0) AS arrived_seats,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' AND r.walk_in = 1
                         THEN r.seats END), 0) AS walk_in_seats
FROM screenings s
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id
LEFT JOIN registrations r ON r.screening_id = s.id
WHERE s.edition_id = ? AND s.status != 'draft'
GROUP BY s.id, f.id, v.id
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
                    country: str = "", now: datetime | None = None,
                    every_screening: bool = False) -> dict[str, Any]:
    """Per country and per screening of an edition: seats, confirmed, fill rate, waitlist,
    check-in and no-show rates, and their `total` over every country shown. Organisers
    see their own country only; admins every one, with the screenings of one `country`
    or, for a small edition (or `every_screening`, as the CSV does), of all."""
    moment = times.moment(now)
    screenings = []
    for row in await db.fetch_all(DASHBOARD_SELECT, (edition_id,)):
        if not accounts.may_manage(organiser, row["country"]):
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
    too_many = not country and not every_screening and len(shown) > DASHBOARD_SCREENINGS_MAX
    return {"countries": [_country_totals(c, rows) for c, rows in sorted(by_country.items())],
            "total": _country_totals("", screenings),
            "screenings": [] if too_many else shown, "country": country,
            "too_many": too_many}


# Seats registered per UTC day (by when each registration was made, in its present
# status) for the scheduled screenings: the same seats as the dashboard's totals.
REGISTRATIONS_BY_DAY_SELECT = """
SELECT substr(r.created_at, 1, 10) AS day, v.country,
       COALESCE(SUM(CASE WHEN r.status = 'confirmed' THEN r.seats END), 0) AS confirmed_seats,
       COALESCE(SUM(CASE WHEN r.status = 'waitlisted' THEN r.seats END), 0) AS waiting_seats
FROM registrations r
JOIN screenings s ON s.id = r.screening_id
JOIN venues v ON v.id = s.venue_id
WHERE s.edition_id = ? AND s.status = 'scheduled' AND r.status IN ('confirmed', 'waitlisted')
GROUP BY day, v.country
"""


async def registrations_by_day(db: Database, organiser: dict[str, Any], edition_id: int, *,
                               country: str = "") -> list[dict[str, Any]]:
    """Confirmed and waitlisted seats per day (UTC) from the first day anyone registered
    to the last, days without registrations included, of the organiser's screenings
    (admins: of `country`, or of all). Walk-ins count on the day they came. Empty when
    nobody registered."""
    country = (country or "").upper()
    if organiser["role"] != "admin":
        country = (organiser.get("country") or "").upper()
    per_day: dict[date, list[int]] = {}
    for row in await db.fetch_all(REGISTRATIONS_BY_DAY_SELECT, (edition_id,)):
        if not accounts.may_manage(organiser, row["country"]):
            continue
        if country and row["country"] != country:
            continue
        seats = per_day.setdefault(date.fromisoformat(row["day"]), [0, 0])
        seats[0] += row["confirmed_seats"]
        seats[1] += row["waiting_seats"]
    if not per_day:
        return []
    first, last = min(per_day), max(per_day)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [{"day": d, "confirmed_seats": per_day.get(d, [0, 0])[0],
             "waiting_seats": per_day.get(d, [0, 0])[1]} for d in days]


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
    return {"entries": await audit.readable_entries(db, rows[:AUDIT_PAGE_SIZE]),
            "older_than": older, "entities": entities}


# --- outbox --------------------------------------------------------------------------------

# A message with the screening it is about; LEFT JOINs, so a message is listed even when
# it concerns no screening.
OUTBOX_JOINS = """
FROM outbox o
LEFT JOIN registrations r ON r.id = o.registration_id
LEFT JOIN screenings s ON s.id = r.screening_id
LEFT JOIN films f ON f.id = s.film_id
LEFT JOIN venues v ON v.id = s.venue_id
"""


async def list_outbox(db: Database, *, status: str | None = None, country: str | None = None,
                      limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """The newest messages first (without their bytes), with the screening they concern;
    with `country`, only those about that country's screenings."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown outbox status {status!r}")
    rows = await db.fetch_all(
        f"""SELECT o.id, o.created_at, o.kind, o.registration_id, o.recipient, o.subject,
                   o.message_id, o.status, o.attempts, o.next_attempt_at, o.claimed_until,
                   o.last_error, o.sent_at, o.message IS NOT NULL AS composed,
                   r.name AS attendee_name, r.token, r.screening_id, f.title,
                   v.country, v.city
            {OUTBOX_JOINS}
            WHERE (CAST(:status AS TEXT) IS NULL OR o.status = :status)
              AND (CAST(:country AS TEXT) IS NULL OR v.country = :country)
            ORDER BY o.id DESC LIMIT :limit OFFSET :offset""",
        {"status": status, "country": country, "limit": limit, "offset": offset})
    return [dict(r) for r in rows]


async def outbox_counts(db: Database, *, country: str | None = None) -> dict[str, int]:
    """How many messages are in each status (every status present, zero or more); with
    `country`, of those about that country's screenings."""
    rows = await db.fetch_all(
        f"""SELECT o.status, COUNT(*) AS n {OUTBOX_JOINS}
            WHERE (CAST(:country AS TEXT) IS NULL OR v.country = :country) GROUP BY o.status""",
        {"country": country})
    return {s: 0 for s in STATUSES} | {r["status"]: int(r["n"]) for r in rows}


async def retry(db: Database, outbox_id: int, *, now: datetime | None = None) -> None:
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
                      (times.moment(now), outbox_id))


async def outbox_messages(db: Database, organiser: dict[str, Any], *, status: str = "",
                          page: int = 1) -> dict[str, Any]:
    """One page of the outbox, newest first, with counts per status: every message for
    admins, those about their country's screenings for organisers."""
    country = None if organiser["role"] == "admin" else (organiser.get("country") or "?")
    shown = status if status in STATUSES else None
    counts = await outbox_counts(db, country=country)
    total = counts[shown] if shown else sum(counts.values())
    pages = max(1, -(-total // OUTBOX_PAGE_SIZE))
    page = min(max(1, page), pages)
    mails = await list_outbox(db, status=shown, country=country, limit=OUTBOX_PAGE_SIZE,
                              offset=(page - 1) * OUTBOX_PAGE_SIZE)
    return {"mails": mails, "counts": counts, "page": page, "pages": pages,
            "status": shown or ""}


async def retry_message(db: Database, organiser: dict[str, Any], outbox_id: int) -> None:
    """Queues a failed or waiting message again (`retry`), if it is the organiser's."""
    row = await db.fetch_one(f"SELECT o.id, v.country {OUTBOX_JOINS} WHERE o.id = ?",
                             (outbox_id,))
    if row is None:
        raise NotFound(_("There is no such message."))
    accounts.require_country(organiser, row["country"] or "")
    await retry(db, outbox_id)
