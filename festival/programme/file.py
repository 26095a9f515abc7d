"""Programme files (`seed.json`, `festival load`): the format and its checks, pure (no
database; festival.loader imports a checked file).

Why the whole file is checked first: whoever fixes a file wants every mistake at once,
each named by its path (`screenings[3].starts_at`), and a half-imported programme would
publish screenings whose venue or debate never arrived. The database's content comes in
as `Existing` (read by loader.load_existing inside the write transaction), so the
double-booking check guards the very write it allows.

The field checks themselves (`Field`, `check_object`, `text`, `whole`, ...) live in
festival.programme.fields: the organiser forms and admin API use them too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from festival.core import times
from festival.programme.fields import (
    MAX_SCREENING,
    Field,
    check_object,
    country,
    day,
    field_path,
    flag,
    key_list,
    language,
    languages,
    localized,
    slug,
    status,
    store_translations,
    text,
    timezone,
    unknown_fields,
    wall_clock,
    whole,
)

SINGULAR = {"venues": "venue", "films": "film", "guests": "guest", "screenings": "screening"}

_notes_text = text(5000, blank=True, lines=True)
# Empty notes are no notes: a form's empty box must equal a file's missing field.
NOTES = Field(lambda value: _notes_text(value) or None)
KEY = Field(slug, required=True)
EDITION = {"key": KEY, "name": Field(text(), True), "starts_on": Field(day, True),
           "ends_on": Field(day, True), "notes": NOTES}
VENUE = {"key": KEY, "name": Field(text(), True), "city": Field(text(100), True),
         "country": Field(country, True), "timezone": Field(timezone, True),
         "address": Field(text(300, blank=True), default=""),
         "capacity": Field(whole(0, 100_000), True), "step_free": Field(flag, default=0),
         "notes": NOTES}
# Texts attendees read may be given in several languages: {"en": "…", "fr": "…"}
# (fields.localized; docs/programme-file.md).
FILM = {"key": KEY, "title": Field(localized(text(300)), True),
        "runtime_minutes": Field(whole(1, 1000)),
        "synopsis": Field(localized(text(5000, blank=True, lines=True)), default=""),
        "director": Field(text(200, blank=True), default=""),
        "year": Field(whole(1888, 2200)), "languages": Field(languages, default=""),
        "notes": NOTES}
GUEST = {"key": KEY, "name": Field(text(), True),
         "role": Field(localized(text(200, blank=True)), default=""),
         "organisation": Field(text(200, blank=True), default=""),
         "bio": Field(text(5000, blank=True, lines=True), default=""),
         "listed": Field(flag, default=1),
         "notes": NOTES}
DEBATE = {"title": Field(localized(text(300, blank=True)), default=""),
          "description": Field(localized(text(5000, blank=True, lines=True)), default=""),
          "guests": Field(key_list), "notes": NOTES}
SCREENING = {"key": KEY, "film": Field(slug, True), "venue": Field(slug, True),
             "starts_at": Field(wall_clock, True), "ends_at": Field(wall_clock, True),
             "capacity": Field(whole(0, 100_000)), "max_seats": Field(whole(1, 100), default=4),
             "language": Field(language, default=""), "subtitles": Field(languages, default=""),
             "sign_interpretation": Field(flag, default=0),
             "captioned_debate": Field(flag, default=0),
             "status": Field(status, default="scheduled"), "notes": NOTES,
             "debate": Field(fields=DEBATE)}
SECTIONS = {"venues": VENUE, "films": FILM, "guests": GUEST, "screenings": SCREENING}
TOP = {"edition", "notes", *SECTIONS}


class Booking(NamedTuple):
    """A venue taken from `starts` to `ends` (UTC) by one screening; `position` is its place
    in the file, None for a screening already in the database."""

    venue: str
    starts: datetime
    ends: datetime
    edition: str
    key: str
    position: int | None


@dataclass
class Existing:
    """What the database holds, as the file is checked against it (see load_existing)."""

    edition: dict[str, Any] | None = None
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    films: dict[str, dict[str, Any]] = field(default_factory=dict)
    guests: dict[str, dict[str, Any]] = field(default_factory=dict)
    screenings: dict[str, dict[str, Any]] = field(default_factory=dict)  # this edition's
    bookings: list[Booking] = field(default_factory=list)  # every screening not cancelled


@dataclass
class Programme:
    """A checked file, normalised: values as the database stores them; each screening
    also carries `starts_utc` and `ends_utc`."""

    edition: dict[str, Any]
    venues: list[dict[str, Any]]
    films: list[dict[str, Any]]
    guests: list[dict[str, Any]]
    screenings: list[dict[str, Any]]


def _section(data: dict[str, Any], kind: str, errors: dict[str, str]
             ) -> list[dict[str, Any] | None]:
    items = data.get(kind)
    if items is None:
        return []
    if not isinstance(items, list):
        errors[kind] = "must be a list ([...])"
        return []
    checked = [check_object(item, SECTIONS[kind], field_path(kind, i), errors)
               for i, item in enumerate(items)]
    for item in checked:
        if item is not None:
            store_translations(item, SECTIONS[kind])
            if isinstance(item.get("debate"), dict):
                store_translations(item["debate"], DEBATE)
    return checked


def _duplicates(kind: str, items: list[dict[str, Any] | None], errors: dict[str, str]) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = (item or {}).get("key")
        if key is None:
            continue
        if key in seen:
            errors.setdefault(f"{kind}[{i}].key",
                              f"duplicate key '{key}' (also {kind}[{seen[key]}])")
        else:
            seen[key] = i


class _Context:
    """What a screening may refer to: the file's rows, then the database's."""

    def __init__(self, sections: dict[str, list[dict[str, Any] | None]], existing: Existing,
                 edition: dict[str, Any] | None, errors: dict[str, str]) -> None:
        self.edition = edition or {}
        self.screenings = existing.screenings  # the edition's, with their confirmed seats
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.unsure: set[str] = set()  # kinds with a row whose key is unreadable
        for kind in ("venues", "films", "guests"):
            table = dict(getattr(existing, kind))
            table.update({i["key"]: i for i in sections[kind] if i and "key" in i})
            self.tables[kind] = table
            if kind in errors or not all(i and "key" in i for i in sections[kind]):
                self.unsure.add(kind)

    def refer(self, kind: str, key: Any, path: str, errors: dict[str, str]
              ) -> dict[str, Any] | None:
        if key is None:
            return None
        row = self.tables[kind].get(key)
        if row is None and kind not in self.unsure:  # else the key's row is already an error
            errors.setdefault(path, f"unknown {SINGULAR[kind]} '{key}'")
        return row


def _instant(s: dict[str, Any], name: str, zone: str, path: str, errors: dict[str, str]
             ) -> datetime | None:
    wall = s.get(name)
    if wall is None:
        return None
    try:
        return times.local_to_utc(wall, zone)
    except ValueError as exc:
        errors.setdefault(field_path(path, name), f"{exc}: the clocks skip that time at the venue")
        return None


def _check_screening(i: int, s: dict[str, Any], ctx: _Context, errors: dict[str, str]
                     ) -> Booking | None:
    path = f"screenings[{i}]"
    venue = ctx.refer("venues", s.get("venue"), field_path(path, "venue"), errors)
    ctx.refer("films", s.get("film"), field_path(path, "film"), errors)
    _check_guests(s.get("debate"), ctx, field_path(path, "debate.guests"), errors)
    _check_capacity(s, venue, path, errors)
    _check_registered(s, ctx.screenings.get(s.get("key")), path, errors)
    starts_on, ends_on = ctx.edition.get("starts_on"), ctx.edition.get("ends_on")
    wall = s.get("starts_at")
    if wall is not None and starts_on and ends_on and not starts_on <= wall.date() <= ends_on:
        errors.setdefault(field_path(path, "starts_at"), f"not within the edition's dates "
                          f"({starts_on} to {ends_on}) at the venue")
    zone = (venue or {}).get("timezone")
    if zone is None:
        return None
    s["timezone"] = zone
    start = s["starts_utc"] = _instant(s, "starts_at", zone, path, errors)
    end = s["ends_utc"] = _instant(s, "ends_at", zone, path, errors)
    if start is None or end is None:
        return None
    if end <= start:
        errors.setdefault(field_path(path, "ends_at"), "must be after starts_at")
        return None
    if end - start > MAX_SCREENING:
        errors.setdefault(field_path(path, "ends_at"), "must be within 24 hours of starts_at")
    if s.get("status") == "cancelled" or "key" not in s:
        return None
    return Booking(s["venue"], start, end, ctx.edition.get("key", ""), s["key"], i)


def _check_registered(s: dict[str, Any], old: dict[str, Any] | None, path: str,
                      errors: dict[str, str]) -> None:
    """What registrations already hold: their confirmed seats, and their screening's
    place in the public programme (cancel it instead of turning it into a draft)."""
    if old is None:
        return
    confirmed = old.get("confirmed_seats", 0)
    if s.get("capacity") is not None and s["capacity"] < confirmed:
        errors.setdefault(field_path(path, "capacity"), f"{confirmed} seats are already "
                          f"confirmed; capacity cannot go below {confirmed}")
    registered = old.get("registered", 0)
    if s.get("status") == "draft" and old["status"] != "draft" and registered:
        errors.setdefault(field_path(path, "status"), f"{registered} registration"
                          f"{'s' if registered != 1 else ''} would be hidden: cancel the "
                          "screening instead of making it a draft")


def _check_guests(debate: dict[str, Any] | None, ctx: _Context, path: str,
                  errors: dict[str, str]) -> None:
    keys = (debate or {}).get("guests") or []
    for j, key in enumerate(keys):
        if key in keys[:j]:
            errors.setdefault(field_path(path, j), f"guest '{key}' is listed twice")
        else:
            ctx.refer("guests", key, field_path(path, j), errors)
    if debate is not None:
        debate["guests"] = keys


def _check_capacity(s: dict[str, Any], venue: dict[str, Any] | None, path: str,
                    errors: dict[str, str]) -> None:
    room = (venue or {}).get("capacity")
    if room is None:
        return
    if "capacity" in s and s["capacity"] is None:
        s["capacity"] = room  # no capacity given: the venue's
    elif s.get("capacity") is not None and s["capacity"] > room:
        errors.setdefault(field_path(path, "capacity"), f"more than the venue's capacity ({room})")


def _check_bookings(bookings: list[Booking], existing: Existing, replaced: set[tuple[str, str]],
                    gap: timedelta, errors: dict[str, str]) -> None:
    """Two screenings may not share a venue at once: sort each venue's bookings (the
    file's and the database's, minus those the file replaces) by start and compare each
    with the latest-ending one before it."""
    by_venue: dict[str, list[Booking]] = {}
    for b in existing.bookings:
        if (b.edition, b.key) not in replaced:
            by_venue.setdefault(b.venue, []).append(b)
    for b in bookings:
        by_venue.setdefault(b.venue, []).append(b)
    for venue, items in by_venue.items():
        items.sort(key=lambda b: (b.starts, b.ends))
        latest: Booking | None = None
        for b in items:
            if latest is not None and b.starts < latest.ends + gap:
                _clash(venue, b, latest, gap, errors)
            if latest is None or b.ends > latest.ends:
                latest = b


def _clash(venue: str, a: Booking, b: Booking, gap: timedelta, errors: dict[str, str]) -> None:
    target, other = (a, b) if a.position is not None else (b, a)
    if target.position is None:
        return  # two screenings already in the database: not this file's doing
    if other.position is not None:
        what = f"screenings[{other.position}] ('{other.key}')"
    else:
        what = f"screening '{other.key}' of edition {other.edition} already in the database"
    needs = f" (venues need {gap.seconds // 60} minutes between screenings)" if gap else ""
    errors.setdefault(f"screenings[{target.position}].starts_at",
                      f"venue '{venue}' is double-booked: overlaps {what}{needs}")


def check_programme(data: Any, existing: Existing | None = None, *, changeover_minutes: int = 0
                    ) -> tuple[Programme | None, dict[str, str]]:
    """The normalised programme and no errors, or None and every error by path."""
    existing = existing or Existing()
    if not isinstance(data, dict):
        return None, {"file": "must be a JSON object with edition, venues, films, guests "
                              "and screenings"}
    errors: dict[str, str] = {}
    unknown_fields(data, TOP, "", errors)
    edition = None
    if data.get("edition") is None:
        errors["edition"] = "required"
    else:
        edition = check_object(data["edition"], EDITION, "edition", errors)
    if data.get("notes") is not None and not isinstance(data["notes"], str):
        errors["notes"] = "must be text"
    if edition and edition.get("starts_on") and edition.get("ends_on") \
            and edition["ends_on"] < edition["starts_on"]:
        errors.setdefault("edition.ends_on", "must not be before starts_on")
        edition = dict(edition, ends_on=None)
    sections = {kind: _section(data, kind, errors) for kind in SECTIONS}
    for kind, items in sections.items():
        _duplicates(kind, items, errors)
    ctx = _Context(sections, existing, edition, errors)
    bookings = [b for i, s in enumerate(sections["screenings"])
                if s is not None and (b := _check_screening(i, s, ctx, errors)) is not None]
    edition_key = (edition or {}).get("key", "")
    replaced = {(edition_key, s["key"]) for s in sections["screenings"] if s and "key" in s}
    _check_bookings(bookings, existing, replaced, timedelta(minutes=changeover_minutes), errors)
    if errors or edition is None:
        return None, errors
    edition = dict(edition, starts_on=edition["starts_on"].isoformat(),
                   ends_on=edition["ends_on"].isoformat())
    return Programme(edition, *(sections[k] for k in SECTIONS)), {}  # type: ignore[arg-type]


def validate_programme(data: Any, existing: Existing | None = None, *,
                       changeover_minutes: int = 0) -> dict[str, str]:
    """Every error in a programme file, keyed by path ({"screenings[3].starts_at": "..."});
    empty when the file is good. `existing` is the database's content (load_existing)."""
    return check_programme(data, existing, changeover_minutes=changeover_minutes)[1]


def screening_uid(edition_key: str, screening_key: str) -> str:
    """The iCalendar UID: derived from stable keys, so it never changes."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, f'festival:{edition_key}/{screening_key}')}@festival"
