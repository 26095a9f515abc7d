"""Organisers change the programme's screenings: create, update, publish, cancel, move
(the venues, films and guests they show: festival.programme.catalogue).

Who may change what (checked here, on the server, for every change): an `admin` changes
every screening; an `organiser` the screenings at venues of their own country, anything
of another country is Forbidden (403), never merely hidden. A debate guest is offered
only when the organiser may see it (catalogue.may_see).

The checks are the same as for `festival load` (fields.check_object and its
field checks, the edition's dates at the venue, the venue's capacity, no double booking
with settings.changeover_minutes between screenings), run inside the write transaction so
they guard the very write they allow. Also flagged: a debate guest booked in two places
at once (an error until the organiser confirms it, e.g. for a guest joining by video).

What attendees see: a new screening is a draft, invisible to the public and feeds,
until published. Any change attendees see (everything but notes) raises the screening's
`sequence` and sets `updated_at` (the loader's rule, loader.seen_by_attendees). A move
(time or venue) or a cancellation queues a mail to every registrant in the same
transaction; registrations are kept. Capacity rules: see `capacity_error`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from festival.core import times
from festival.core.errors import NotFound, ValidationError, _
from festival.core.i18n import Text, ngettext, translated, translations_of
from festival.core.store import (
    Connection,
    Database,
    execute,
    fetch_all,
    fetch_one,
    fetch_value,
    insert_returning_id,
)
from festival.core.text import slugify
from festival.organisers import accounts, audit
from festival.programme import queries
from festival.programme.catalogue import Organiser, countries_using, may_see
from festival.programme.fields import (
    MAX_SCREENING,
    Field,
    check_object,
    flag,
    form_input,
    language,
    languages,
    status,
    store_translations,
    text,
    translations,
    wall_clock,
    whole,
)
from festival.programme.file import NOTES, screening_uid
from festival.programme.writes import (
    NOTES_UPDATE,
    SCREENING_COLUMNS,
    SCREENING_INSERT,
    SCREENING_UPDATE,
    Saved,
    mail_kind,
    moved,
    refused,
    seen_by_attendees,
    unique_key,
    write_guest_lists,
)
from festival.seats import registrations


@form_input("ids")
def _ids(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > 100 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 2**62 for v in value):
        raise ValueError(Text(_("must be a list of ids")))
    return list(dict.fromkeys(value))


ID = whole(1, 2**62)
SCREENING = {
    "film_id": Field(ID, True), "venue_id": Field(ID, True),
    "starts_at": Field(wall_clock, True), "ends_at": Field(wall_clock, True),
    "capacity": Field(whole(0, 100_000)), "max_seats": Field(whole(1, 100), default=4),
    "status": Field(status, default="draft"),
    "language": Field(language, default=""), "subtitles": Field(languages, default=""),
    "sign_interpretation": Field(flag, default=0), "captioned_debate": Field(flag, default=0),
    "debate_title": Field(text(300, blank=True), default=""),
    "debate_description": Field(text(5000, blank=True, lines=True), default=""),
    # Their translations, {"fr": "…"} (the file's debate.title may carry them too).
    "debate_title_i18n": Field(translations(text(300, blank=True))),
    "debate_description_i18n": Field(translations(text(5000, blank=True, lines=True))),
    "notes": NOTES, "guest_ids": Field(_ids, default=[]),
    "confirm_guest_clash": Field(flag, default=0),
}


# --- screenings: reading --------------------------------------------------------------------------

async def list_screenings(db: Database, organiser: Organiser, edition_id: int, *,
                          status_is: str = "", upcoming: bool = False
                          ) -> list[dict[str, Any]]:
    """The edition's screenings the organiser manages (their country's; all for admin),
    drafts included, with seats and waitlist."""
    country = "" if organiser["role"] == "admin" else organiser["country"]
    screenings = await queries.list_screenings(
        db, edition_id, queries.Filters(country=country), include_drafts=True)
    if status_is:
        screenings = [s for s in screenings if s["status"] == status_is]
    if upcoming:
        now = times.now_text()
        screenings = [s for s in screenings if s["ends_at"] >= now]
    return screenings


async def get_screening(db: Database, organiser: Organiser, screening_id: int
                        ) -> dict[str, Any]:
    """A screening to manage (drafts too, unlisted guests named), with `guest_ids` and
    its times as the wall-clock inputs of a form; Forbidden outside the role."""
    screening = await queries.get_screening(db, screening_id, public=False)
    accounts.require_country(organiser, screening["country"])
    screening["guest_ids"] = [g["id"] for g in screening["guests"]]
    screening["starts_input"] = screening["starts_local"].strftime("%Y-%m-%dT%H:%M")
    screening["ends_input"] = screening["ends_local"].strftime("%Y-%m-%dT%H:%M")
    return screening


async def screening_to_cancel(db: Database, organiser: Organiser, screening_id: int
                              ) -> dict[str, Any]:
    """A screening to manage (as `get_screening`) with `to_notify`: how many registrants
    a cancellation would mail (registered, not cancelled, with an address), for the page
    that asks an organiser to confirm it."""
    screening = await get_screening(db, organiser, screening_id)
    async with db.reader() as conn:
        screening["to_notify"] = int(await fetch_value(
            conn, "SELECT COUNT(*) FROM registrations WHERE screening_id = ?"
            " AND status != 'cancelled' AND email != ''", (screening_id,)))
    return screening


# --- screenings: the rules ------------------------------------------------------------------------

def capacity_error(capacity: int, venue_capacity: int, confirmed: int) -> str | None:
    """The capacity rules, in one place: a screening holds no more than its venue, and
    never fewer than the seats already confirmed (a confirmed seat is never taken back;
    lowering to exactly that number closes the screening, and the waitlist stays)."""
    if capacity > venue_capacity:
        return translated(
            _("The venue holds %(n)d people: the capacity cannot be more than %(n)d."),
                  n=venue_capacity)
    if capacity < confirmed:
        return ngettext("%(num)d seat is already confirmed; capacity cannot go below %(num)d.",
                        "%(num)d seats are already confirmed; capacity cannot go below %(num)d.",
                        confirmed) % {"num": confirmed}
    return None


def status_error(old: str | None, new: str, registered: int) -> str | None:
    """Allowed: draft -> scheduled (publish), scheduled <-> cancelled, and back to draft
    while nobody is registered. A new screening starts as a draft."""
    if old is None:
        return None if new == "draft" else translated(_(
            "A new screening starts as a draft: publish it once it is ready."))
    if old == "draft" and new == "cancelled":
        return translated(_("A draft is not public yet: there is nothing to cancel."))
    if new == "draft" and old != "draft" and registered:
        return ngettext("There is %(num)d registration: cancel the screening instead of "
                        "turning it back into a draft.",
                        "There are %(num)d registrations: cancel the screening instead of "
                        "turning it back into a draft.", registered) % {"num": registered}
    return None


def _when(instant: str, zone: str) -> str:
    return times.to_local(instant, zone).strftime("%Y-%m-%d %H:%M")


async def _check_times(conn: Connection, v: dict[str, Any], venue: dict[str, Any],
                       edition: dict[str, Any], errors: dict[str, str]) -> None:
    """Sets v['starts_utc'] and v['ends_utc'] when the wall-clock times are good."""
    start, end = v.get("starts_at"), v.get("ends_at")
    if start is not None and not edition["starts_on"] <= start.date().isoformat() \
            <= edition["ends_on"]:
        errors["starts_at"] = translated(
            _("The screening must start within the festival's dates at "
                                 "the venue (%(first)s to %(last)s)."),
                                 first=edition["starts_on"], last=edition["ends_on"])
    instants: dict[str, datetime] = {}
    for name, wall in (("starts_at", start), ("ends_at", end)):
        if wall is None:
            continue
        try:
            instants[name] = times.local_to_utc(wall, venue["timezone"])
        except ValueError:
            errors.setdefault(name, translated(
                _("The clocks skip that time at the venue (%(zone)s): "
                                       "choose another."), zone=venue["timezone"]))
    if len(instants) == 2:
        if instants["ends_at"] <= instants["starts_at"]:
            errors.setdefault("ends_at", translated(_("The end must be after the start.")))
        elif instants["ends_at"] - instants["starts_at"] > MAX_SCREENING:
            errors.setdefault("ends_at", translated(
                _("The end must be within 24 hours of the start.")))
        else:
            v["starts_utc"], v["ends_utc"] = instants["starts_at"], instants["ends_at"]


async def _check_bookings(conn: Connection, organiser: Organiser, v: dict[str, Any],
                          old: dict[str, Any] | None, gap: timedelta, errors: dict[str, str]
                          ) -> None:
    """No venue double-booked (with `gap` between screenings); no guest in two places.
    Only what this change brings is checked: an old clash (say, a guest confirmed in two
    places) does not block an unrelated edit such as a new capacity."""
    start, end = v["starts_utc"], v["ends_utc"]
    screening_id = old["id"] if old else 0
    moved = old is None or old["status"] == "cancelled" or (
        v["venue_id"], times.utc_text(start), times.utc_text(end)) != (
        old["venue_id"], old["starts_at"], old["ends_at"])
    wanted = v.get("guest_ids", [])  # absent when refused: that error is reported already
    guest_ids = wanted if moved else [
        g for g in wanted if g not in old["guest_ids"]]  # type: ignore[index]
    if moved:
        await _check_venue_free(conn, v, screening_id, gap, errors)
    if guest_ids and not v.get("confirm_guest_clash"):
        await _check_guests_free(conn, organiser, v, guest_ids, screening_id, errors)


async def _check_venue_free(conn: Connection, v: dict[str, Any], screening_id: int,
                            gap: timedelta, errors: dict[str, str]) -> None:
    start, end = v["starts_utc"], v["ends_utc"]
    clash = await fetch_one(conn, """
        SELECT f.title, s.starts_at, s.ends_at, s.timezone FROM screenings s
        JOIN films f ON f.id = s.film_id WHERE s.venue_id = ? AND s.status != 'cancelled'
        AND s.id != ? AND s.starts_at < ? AND s.ends_at > ? ORDER BY s.starts_at LIMIT 1""",
        (v["venue_id"], screening_id, times.utc_text(end + gap), times.utc_text(start - gap)))
    if clash is not None:
        errors.setdefault("starts_at", translated(_(
            "The venue is already booked for “%(title)s” from %(start)s to %(end)s; venues "
            "need %(gap)d minutes between screenings."), title=clash["title"],
            start=_when(clash["starts_at"], clash["timezone"]),
            end=_when(clash["ends_at"], clash["timezone"]), gap=gap.seconds // 60))


async def _check_guests_free(conn: Connection, organiser: Organiser,
                             v: dict[str, Any], guest_ids: list[int], screening_id: int,
                             errors: dict[str, str]) -> None:
    start, end = v["starts_utc"], v["ends_utc"]
    marks = ", ".join("?" * len(guest_ids))
    busy = await fetch_all(conn, f"""
        SELECT g.name, f.title, vn.name AS venue, vn.city, vn.country, s.status,
               s.starts_at, s.timezone
        FROM screening_guests sg JOIN guests g ON g.id = sg.guest_id
        JOIN screenings s ON s.id = sg.screening_id JOIN films f ON f.id = s.film_id
        JOIN venues vn ON vn.id = s.venue_id
        WHERE sg.guest_id IN ({marks}) AND s.status != 'cancelled' AND s.id != ?
        AND s.starts_at < ? AND s.ends_at > ? ORDER BY s.starts_at""",
        (*guest_ids, screening_id, times.utc_text(end), times.utc_text(start)))
    if busy:
        errors["confirm_guest_clash"] = " ".join(
            _clash_message(organiser, dict(b)) for b in busy) + " " + translated(_(
            "Tick “Save anyway” if that is intended (e.g. by video)."))


def _clash_message(organiser: Organiser, booking: dict[str, Any]) -> str:
    # Another country's draft is not public: its organisers have not announced it yet.
    if booking["status"] == "draft" and not accounts.may_manage(organiser, booking["country"]):
        return translated(_("%(guest)s is also a guest of another country's screening, not yet "
                 "published, at the same time."), guest=booking["name"])
    return translated(
        _("%(guest)s is also a guest of “%(title)s” at %(venue)s, %(city)s, at the same "
             "time (%(start)s local time)."), guest=booking["name"], title=booking["title"],
             venue=booking["venue"], city=booking["city"],
             start=_when(booking["starts_at"], booking["timezone"]))


async def _references(conn: Connection, organiser: Organiser, v: dict[str, Any],
                      errors: dict[str, str]) -> dict[str, Any] | None:
    """The venue (Forbidden when not the organiser's country); film and guests exist."""
    venue = None
    if "venue_id" in v:
        row = await fetch_one(conn, "SELECT * FROM venues WHERE id = ?", (v["venue_id"],))
        if row is None:
            errors["venue_id"] = translated(_("There is no such venue."))
        else:
            venue = dict(row)
            accounts.require_country(organiser, venue["country"])
    if "film_id" in v and not await fetch_value(conn, "SELECT 1 FROM films WHERE id = ?",
                                                (v["film_id"],)):
        errors["film_id"] = translated(_("There is no such film."))
    for guest_id in v.get("guest_ids", []):
        guest = await fetch_one(conn, "SELECT * FROM guests WHERE id = ?", (guest_id,))
        countries = await countries_using(conn, "guest", guest_id) if guest else set()
        if guest is None or not may_see(organiser, "guest", dict(guest), countries):
            errors["guest_ids"] = translated(_("There is no such guest."))
    return venue


async def check_screening(conn: Connection, organiser: Organiser,
                          data: dict[str, Any], old: dict[str, Any] | None,
                          edition: dict[str, Any], changeover_minutes: int
                          ) -> dict[str, Any]:
    """The screening's normalised values (with starts_utc, ends_utc); ValidationError
    with every field's error, or Forbidden. Run inside the write transaction."""
    errors: dict[str, str] = {}
    v = store_translations(check_object(data, SCREENING, "", errors) or {}, SCREENING)
    venue = await _references(conn, organiser, v, errors)
    screening_id = old["id"] if old else 0
    confirmed, registered = 0, 0
    if old is not None:
        counts = await fetch_one(conn, """SELECT
            COALESCE(SUM(CASE WHEN status IN ('confirmed', 'held') THEN seats END), 0),
            COUNT(*) FROM registrations WHERE screening_id = ? AND status != 'cancelled'""",
            (screening_id,))
        confirmed, registered = counts[0], counts[1]  # type: ignore[index]
    old_status = old["status"] if old is not None else None
    if "status" in v and (problem := status_error(old_status, v["status"], registered)):
        errors["status"] = problem
    if venue is not None:
        if v.get("capacity") is None and "capacity" not in errors:
            v["capacity"] = venue["capacity"]  # none given: the venue's, as in the file
        if v.get("capacity") is not None and (
                problem := capacity_error(v["capacity"], venue["capacity"], confirmed)):
            errors["capacity"] = problem
        await _check_times(conn, v, venue, edition, errors)
        v["timezone"] = venue["timezone"]
    if "starts_utc" in v and v.get("status") != "cancelled" and "venue_id" in v:
        await _check_bookings(conn, organiser, v, old, timedelta(minutes=changeover_minutes),
                              errors)
    if errors:
        raise refused(errors)
    return v


# --- screenings: writing --------------------------------------------------------------------------

def _stored(v: dict[str, Any]) -> dict[str, Any]:
    """Checked values as the screenings table stores them."""
    row = {c: v.get(c) for c in SCREENING_COLUMNS}
    row.update(starts_at=times.utc_text(v["starts_utc"]), ends_at=times.utc_text(v["ends_utc"]))
    return row


def _inputs_of(old: dict[str, Any]) -> dict[str, Any]:
    """A stored screening as the input a form or the API would send (wall-clock times)."""
    values = {c: old[c] for c in SCREENING_COLUMNS if c not in ("timezone",)}
    for name in ("starts_at", "ends_at"):
        values[name] = times.to_local(old[name], old["timezone"]).strftime("%Y-%m-%dT%H:%M")
    for name in ("sign_interpretation", "captioned_debate"):
        values[name] = bool(old[name])
    for name in ("debate_title_i18n", "debate_description_i18n"):
        values[name] = translations_of(old[name])
    values["guest_ids"] = list(old["guest_ids"])
    return values


async def _snapshot(conn: Connection, screening_id: int) -> dict[str, Any]:
    """The stored screening with its guest ids: what the audit trail keeps."""
    row = await fetch_one(conn, "SELECT * FROM screenings WHERE id = ?", (screening_id,))
    if row is None:
        raise NotFound(translated(_("There is no such screening.")))
    snapshot = dict(row)
    snapshot["guest_ids"] = [r[0] for r in await fetch_all(
        conn, "SELECT guest_id FROM screening_guests WHERE screening_id = ? "
        "ORDER BY position, guest_id", (screening_id,))]
    return snapshot


async def edition_to_edit(conn: Connection) -> dict[str, Any]:
    """The current edition, which organisers' new screenings join; ValidationError
    while there is none."""
    row = await fetch_one(conn, "SELECT * FROM editions ORDER BY starts_on DESC, id DESC "
                          "LIMIT 1")
    if row is None:
        raise ValidationError(translated(
            _("There is no festival edition yet: load a programme file first (festival load).")))
    return dict(row)


async def create_screening(db: Database, organiser: Organiser, data: dict[str, Any], *,
                           changeover_minutes: int) -> Saved:
    """A new screening of the current edition, as a draft; ValidationError or Forbidden
    and nothing written."""
    async with db.transaction() as conn:
        edition = await edition_to_edit(conn)
        v = await check_screening(conn, organiser, data, None, edition, changeover_minutes)
        row = _stored(v)
        venue_key = await fetch_value(conn, "SELECT key FROM venues WHERE id = ?",
                                      (v["venue_id"],))
        key = await unique_key(conn, "screenings", slugify(
            f"{venue_key}-{v['starts_at']:%Y-%m-%d}", "screening"), edition["id"])
        now = times.now_text()
        uid = screening_uid(edition["key"], key)
        screening_id = await insert_returning_id(conn, SCREENING_INSERT, (
            edition["id"], key, uid, *(row[c] for c in SCREENING_COLUMNS), 0, now, now))
        await write_guest_lists(conn, {screening_id: v["guest_ids"]})
        await audit.record(conn, organiser["id"], "screening.create", "screening", screening_id,
                           None, await _snapshot(conn, screening_id))
    return Saved(screening_id, "create")


def change_action(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The audit action for a change: publish, cancel, reinstate, unpublish, move, update."""
    if old["status"] != new["status"]:
        return {"scheduled": "reinstate" if old["status"] == "cancelled" else "publish",
                "cancelled": "cancel", "draft": "unpublish"}[new["status"]]
    return "move" if moved(old, new) else "update"


async def update_screening(db: Database, organiser: Organiser, screening_id: int,
                           data: dict[str, Any], *, changeover_minutes: int) -> Saved:
    """Changes a screening (fields left out keep their value): move, capacity, status
    (publish, cancel), debate. Registrants are told of a move or a cancellation in the
    same transaction, a higher capacity promotes the waitlist, and the audit trail gets
    the row before and after. ValidationError or Forbidden and nothing written."""
    async with db.transaction() as conn:
        old = await _snapshot(conn, screening_id)
        accounts.require_country(organiser, await fetch_value(
            conn, "SELECT country FROM venues WHERE id = ?", (old["venue_id"],)))
        edition = await fetch_one(conn, "SELECT * FROM editions WHERE id = ?",
                                  (old["edition_id"],))
        v = await check_screening(conn, organiser, {**_inputs_of(old), **data}, old,
                                  dict(edition or {}), changeover_minutes)
        new = _stored(v)
        before = tuple(old[c] for c in SCREENING_COLUMNS)
        after = tuple(new[c] for c in SCREENING_COLUMNS)
        guests_changed = v["guest_ids"] != old["guest_ids"]
        if before == after and not guests_changed:
            return Saved(screening_id, "unchanged")
        if seen_by_attendees(before, after) or guests_changed:
            await execute(conn, SCREENING_UPDATE, (*after, times.now_text(), screening_id))
        else:
            await execute(conn, NOTES_UPDATE, (new["notes"], screening_id))
        if guests_changed:
            await write_guest_lists(conn, {screening_id: v["guest_ids"]})
        saved = Saved(screening_id, change_action(old, new))
        if kind := mail_kind(old, new):
            saved.notified = await registrations.notify_registrants(conn, screening_id, kind)
        if new["status"] == "scheduled":
            saved.promoted = await registrations.promote_waitlist(conn, screening_id)
        await audit.record(conn, organiser["id"], f"screening.{saved.action}", "screening",
                           screening_id, old, await _snapshot(conn, screening_id))
    return saved
