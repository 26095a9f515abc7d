"""iCalendar (RFC 5545) builders: screenings in, bytes out. No HTTP, no database.

Choices a reader might question:
- DTSTAMP and LAST-MODIFIED are the screening's `updated_at`, not "now": the same data
  must give the same bytes (and so the same ETag), and a change moves them forward.
- Times are wall-clock times at the venue with its IANA TZID plus a VTIMEZONE built from
  the tz database for the years the events cover. UTC times would show right too, but a
  TZID keeps the event "19:00 in The Hague" when a client edits or exports it.
- Cancelled screenings stay in feeds as STATUS:CANCELLED (and "Cancelled: " in the
  title, because Google Calendar shows no status): a missing event would just vanish
  from some clients and stay forever in others.
- Text from the database goes through `_text`/`_param` before icalendar escapes it: a
  lone CR or a control character would otherwise reach the output raw.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any, Literal

from babel import Locale
from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText

from festival import times
from festival.errors import _
from festival.programme import UNLISTED_GUEST_NAME

PRODID = "-//IOM//festival//EN"
REFRESH = timedelta(hours=1)
Screening = Mapping[str, Any]

_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {127: None}


# --- public builders ---------------------------------------------------------------------

def feed(
    screenings: Iterable[Screening],
    *,
    name: str,
    base_url: str,
    organiser_email: str,
    organiser_name: str = "",
    description: str = "",
) -> bytes:
    """A subscribable calendar (METHOD:PUBLISH) of published screenings; drafts are
    skipped, cancelled ones kept as STATUS:CANCELLED."""
    shown = sorted((s for s in screenings if s["status"] != "draft"), key=_order)
    organiser = _organiser(organiser_email, organiser_name, shown)
    events = [_event(s, base_url=base_url, organiser=organiser) for s in shown]
    return _calendar(events, shown, method="PUBLISH", name=name, description=description)


def ticket_feed(
    tickets: Iterable[tuple[Mapping[str, Any], Screening]],
    *,
    name: str,
    base_url: str,
    organiser_email: str,
    organiser_name: str = "",
) -> bytes:
    """An attendee's own registrations as (registration, screening) pairs; each event
    carries their status. One event per screening (its UID), however often they
    cancelled and registered again: the live registration wins, else the latest."""
    chosen: dict[int, tuple[Mapping[str, Any], Screening]] = {}
    for registration, screening in tickets:
        if screening["status"] == "draft":
            continue
        kept = chosen.get(screening["id"])
        if kept is None or _ticket_rank(registration) > _ticket_rank(kept[0]):
            chosen[screening["id"]] = (registration, screening)
    pairs = sorted(chosen.values(), key=lambda pair: _order(pair[1]))
    organiser = _organiser(organiser_email, organiser_name, [s for _r, s in pairs])
    events = [_ticket_event(r, s, base_url=base_url, organiser=organiser) for r, s in pairs]
    return _calendar(events, [s for _r, s in pairs], method="PUBLISH", name=name)


def invite(
    screening: Screening,
    *,
    method: Literal["REQUEST", "CANCEL"],
    attendee_name: str,
    attendee_email: str,
    organiser_email: str,
    organiser_name: str = "",
    base_url: str,
    sequence: int | None = None,
    dtstamp: str | None = None,
    note: str = "",
) -> bytes:
    """The calendar part of a mail (iTIP, RFC 5546): the screening's own UID and
    SEQUENCE, so the invitation and any feed describe one event. CANCEL marks it
    STATUS:CANCELLED. `sequence` and `dtstamp` (UTC text) override the screening's when
    the mail announces a change of the attendee's own (e.g. their cancellation)."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    organiser = _organiser(organiser_email, organiser_name, [screening])
    event = _event(screening, base_url=base_url, organiser=organiser, note=note,
                   cancelled=method == "CANCEL")
    if sequence is not None:
        event["SEQUENCE"] = sequence
    if dtstamp is not None:
        event.pop("DTSTAMP")
        event.add("DTSTAMP", times.parse_utc(dtstamp))
    attendee = vCalAddress(_mailto(attendee_email))
    attendee.params.update({"CN": _param(attendee_name), "CUTYPE": "INDIVIDUAL",
                            "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED",
                            "RSVP": "FALSE"})
    event.add("ATTENDEE", attendee)
    return _calendar([event], [screening], method=method, name="")


def etag(body: bytes) -> str:
    """A strong ETag for a feed's bytes: equal bytes, equal tag, in any process."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


# --- one event ---------------------------------------------------------------------------

def _event(
    s: Screening,
    *,
    base_url: str,
    organiser: vCalAddress,
    note: str = "",
    cancelled: bool = False,
    prefix: str = "",
) -> Event:
    cancelled = cancelled or s["status"] == "cancelled"
    zone = s["timezone"]
    stamp = times.parse_utc(s["updated_at"])
    url = screening_url(s, base_url)
    event = Event()
    event.add("UID", s["uid"])
    event.add("DTSTAMP", stamp)
    event.add("LAST-MODIFIED", stamp)
    event.add("CREATED", times.parse_utc(s["created_at"]))
    event.add("SEQUENCE", int(s["sequence"]))
    event.add("DTSTART", times.to_local(s["starts_at"], zone))
    event.add("DTEND", times.to_local(s["ends_at"], zone))
    if cancelled:
        prefix = _("Cancelled: ") + prefix
    event.add("SUMMARY", vText(_text(prefix + _summary(s))))
    event.add("DESCRIPTION", vText(_text(_description(s, url, cancelled, note))))
    event.add("LOCATION", vText(_text(location(s))))
    event.add("URL", url)
    event.add("STATUS", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("ORGANIZER", organiser)
    return event


def _ticket_event(
    registration: Mapping[str, Any], s: Screening, *, base_url: str, organiser: vCalAddress
) -> Event:
    status = registration["status"]
    waitlisted = status == "waitlisted" and s["status"] != "cancelled"
    note = _ticket_note(registration, base_url)
    event = _event(s, base_url=base_url, organiser=organiser, note=note,
                   cancelled=status == "cancelled",
                   prefix=_("Waitlist: ") if waitlisted else "")
    if waitlisted:
        event["STATUS"] = "TENTATIVE"
    # The attendee's own change (confirmed from the waitlist, cancelled) is news too.
    stamp = max(s["updated_at"], registration["updated_at"])
    for prop in ("DTSTAMP", "LAST-MODIFIED"):
        event.pop(prop)
        event.add(prop, times.parse_utc(stamp))
    return event


def _ticket_rank(registration: Mapping[str, Any]) -> tuple[bool, str, int]:
    return (registration["status"] != "cancelled", registration["updated_at"],
            int(registration["id"]))


def _ticket_note(registration: Mapping[str, Any], base_url: str) -> str:
    seats = int(registration["seats"])
    label = {"confirmed": _("Your registration: confirmed"),
             "waitlisted": _("Your registration: on the waiting list"),
             "cancelled": _("Your registration: cancelled")}[registration["status"]]
    ticket = f"{base_url.rstrip('/')}/tickets/{registration['token']}"
    return f"{label} ({seats} {_('seat') if seats == 1 else _('seats')})\n{ticket}"


def _summary(s: Screening) -> str:
    has_debate = bool(s.get("debate_title")) or bool(s.get("guests"))
    return s["title"] + (_(" + debate") if has_debate else "")


def _description(s: Screening, url: str, cancelled: bool, note: str) -> str:
    parts = []
    if cancelled:
        parts.append(_("This screening is cancelled."))
    parts.append(s["title"] + _film_credit(s))
    if s.get("synopsis"):
        parts.append(s["synopsis"])
    debate = []
    if s.get("debate_title"):
        debate.append(_("Debate: ") + s["debate_title"])
    if s.get("debate_description"):
        debate.append(s["debate_description"])
    guests = [_guest_label(g) for g in s.get("guests") or []]
    if guests:
        debate.append(_("With: ") + ", ".join(guests))
    if debate:
        parts.append("\n".join(debate))
    if note:
        parts.append(note)
    parts.append(url)
    return "\n\n".join(parts)


def _film_credit(s: Screening) -> str:
    credit = [str(v) for v in (s.get("director"), s.get("year")) if v]
    return f" ({', '.join(credit)})" if credit else ""


def _guest_label(guest: Mapping[str, Any]) -> str:
    # Defence in depth: an unlisted guest is never named, whatever the caller passed.
    if not guest.get("listed", 1):
        return UNLISTED_GUEST_NAME
    detail = ", ".join(v for v in (guest.get("role"), guest.get("organisation")) if v)
    return f"{guest['name']} ({detail})" if detail else guest["name"]


def location(s: Screening) -> str:
    """'Humanity House, Prinsegracht 8, 2512 GA Den Haag, The Hague, Netherlands'."""
    address = s.get("address") or ""
    parts = [s["venue_name"], address]
    if s.get("city") and s["city"].casefold() not in address.casefold():
        parts.append(s["city"])
    parts.append(country_name(s.get("country") or ""))
    return ", ".join(p for p in parts if p)


def screening_url(s: Screening, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/screenings/{s['id']}"


@functools.lru_cache(maxsize=512)
def country_name(code: str) -> str:
    return Locale("en").territories.get(code.upper(), code) if code else ""


# --- the calendar around the events ------------------------------------------------------

def _calendar(
    events: list[Event], screenings: list[Screening], *, method: str, name: str,
    description: str = "",
) -> bytes:
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    if method == "PUBLISH":
        cal.add("NAME", vText(_text(name)))
        cal.add("X-WR-CALNAME", vText(_text(name)))
        if description:
            cal.add("X-WR-CALDESC", vText(_text(description)))
        cal.add("REFRESH-INTERVAL", vDuration(REFRESH, params={"VALUE": "DURATION"}))
        cal.add("X-PUBLISHED-TTL", vDuration(REFRESH))
    # VTIMEZONEs first: some clients resolve a TZID only against zones already read.
    for zone_name, first, last in _zone_spans(screenings):
        cal.add_component(vtimezone(zone_name, first, last))
    for event in events:
        cal.add_component(event)
    return cal.to_ical()


def _zone_spans(screenings: list[Screening]) -> list[tuple[str, int, int]]:
    """(zone, first year, last year) per zone in use: whole years, so the VTIMEZONE (and
    the bytes) change only when the events move into another year."""
    spans: dict[str, tuple[int, int]] = {}
    for s in screenings:
        first, last = int(s["starts_at"][:4]) - 1, int(s["ends_at"][:4]) + 1
        old = spans.get(s["timezone"], (first, last))
        spans[s["timezone"]] = (min(old[0], first), max(old[1], last))
    return [(zone, first, last) for zone, (first, last) in sorted(spans.items())]


@functools.lru_cache(maxsize=256)
def vtimezone(zone_name: str, first_year: int, last_year: int) -> Timezone:
    """The zone's observances from 1 January of first_year to the end of last_year,
    from the IANA data (building one takes milliseconds, hence the cache; callers only
    read the component)."""
    return Timezone.from_tzinfo(times.zone(zone_name), zone_name,
                                first_date=date(first_year, 1, 1),
                                last_date=date(last_year + 1, 1, 1))


# --- values ------------------------------------------------------------------------------

def _order(s: Screening) -> tuple[str, str]:
    return (s["starts_at"], s["uid"])


def _text(value: str) -> str:
    """Line breaks as LF (icalendar writes them as \\n) and no other control characters,
    which RFC 5545 TEXT does not allow."""
    return str(value).replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)


def _param(value: str) -> str:
    """A parameter value on one line; double quotes cannot be escaped portably."""
    return " ".join(_text(value).split()).replace('"', "'")


def _mailto(email: str) -> str:
    email = email.strip()
    if not email or any(c.isspace() or ord(c) < 32 or c in '<>"' for c in email):
        raise ValueError(f"not a usable e-mail address for a calendar: {email!r}")
    return f"mailto:{email}"


def _organiser(email: str, name: str, screenings: list[Screening]) -> vCalAddress:
    if not name:
        name = next((s.get("edition_name") for s in screenings if s.get("edition_name")), "")
    organiser = vCalAddress(_mailto(email))
    if name:
        organiser.params["CN"] = _param(name)
    return organiser

