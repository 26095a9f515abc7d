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
- Events are written here, line by line, and only the VTIMEZONEs come from the
  icalendar library. Building 10,000 events as icalendar objects took ten seconds
  (mostly its folding); these few lines do the same in well under one. What they must
  get right (escaping, folding by octets, CRLF) is small, and the tests read every
  output back with icalendar, vobject and, in CI, the parsers of real calendar apps.
- Texts are in the current language (festival.core.i18n: the feed's `?lang=`, the
  attendee's for their own feeds and mails); callers pass screenings already localized
  (i18n.localize). English output is byte for byte what it was before translations.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from icalendar import Timezone

from festival.core import links, times
from festival.core.guests import UNLISTED_GUEST_NAME
from festival.core.i18n import current_locale, format_locale, ngettext
from festival.core.i18n import gettext as _
from festival.core.text import one_line, without_unsafe

PRODID = "-//IOM//festival//EN"
REFRESH = "PT1H"  # REFRESH-INTERVAL and X-PUBLISHED-TTL
Screening = Mapping[str, Any]
Props = dict[str, str]  # content line "NAME;PARAMS" -> value, already escaped

_UTC_TEXT = re.compile(r"\d{8}T\d{6}Z|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


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
    # Made one at a time as the calendar is written: 10,000 events held at once weighed
    # tens of megabytes at the peak, which a worker's memory keeps afterwards.
    events = (_event(s, base_url=base_url, organiser=organiser) for s in shown)
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
    cancelled: dict[int, int] = {}
    for registration, screening in tickets:
        if screening["status"] == "draft":
            continue
        if registration["status"] == "cancelled":  # each of its changes raised SEQUENCE
            cancelled[screening["id"]] = cancelled.get(screening["id"], 0) + int(
                registration.get("changes") or 0)
        kept = chosen.get(screening["id"])
        if kept is None or _ticket_rank(registration) > _ticket_rank(kept[0]):
            chosen[screening["id"]] = (registration, screening)
    pairs = sorted(chosen.values(), key=lambda pair: _order(pair[1]))
    shown = [s for _r, s in pairs]
    organiser = _organiser(organiser_email, organiser_name, shown)
    events = [_ticket_event(r, s, base_url=base_url, organiser=organiser,
                            earlier_cancellations=cancelled.get(s["id"], 0) - (
                                int(r.get("changes") or 0) if r["status"] == "cancelled" else 0))
              for r, s in pairs]
    return _calendar(events, shown, method="PUBLISH", name=name)


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
        event["SEQUENCE"] = str(int(sequence))
    if dtstamp is not None:
        event["DTSTAMP"] = _stamp(dtstamp)
    cn = f';CN="{_param(attendee_name)}"' if _param(attendee_name) else ""
    attendee = f"ATTENDEE{cn};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE"
    event[attendee] = _mailto(attendee_email)
    return _calendar([event], [screening], method=method, name="")


def etag(body: bytes) -> str:
    """A strong ETag for a feed's bytes: equal bytes, equal tag, in any process."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


# --- one event ---------------------------------------------------------------------------

def _event(
    s: Screening,
    *,
    base_url: str,
    organiser: tuple[str, str],
    note: str = "",
    cancelled: bool = False,
    prefix: str = "",
) -> Props:
    cancelled = cancelled or s["status"] == "cancelled"
    zone = s["timezone"]
    tzid = _param_value(zone)
    stamp = _stamp(s["updated_at"])
    url = screening_url(s, base_url)
    if cancelled:
        prefix = _("Cancelled: ") + prefix
    return {
        "UID": escape(s["uid"]),
        "DTSTAMP": stamp,
        "LAST-MODIFIED": stamp,
        "CREATED": _stamp(s["created_at"]),
        "SEQUENCE": str(int(s["sequence"])),
        f"DTSTART;TZID={tzid}": _wall_clock(s["starts_at"], zone),
        f"DTEND;TZID={tzid}": _wall_clock(s["ends_at"], zone),
        "SUMMARY": escape(prefix + _summary(s)),
        "DESCRIPTION": escape(_description(s, url, cancelled, note)),
        "LOCATION": escape(location(s)),
        "URL": without_unsafe(url),
        "STATUS": "CANCELLED" if cancelled else "CONFIRMED",
        organiser[0]: organiser[1],
    }


def attendee_sequence(screening: Mapping[str, Any], registration: Mapping[str, Any],
                      earlier_cancellations: int = 0) -> int:
    """SEQUENCE of a screening's event as one attendee sees it (in their ticket feed and
    invitations): the screening's, raised by each change of their own that a calendar
    must take as news: a promotion from the waitlist, a cancellation (counted in the
    row's `changes`), and `earlier_cancellations`: the changes of their earlier, cancelled
    registrations for this screening."""
    return (int(screening["sequence"]) + earlier_cancellations
            + int(registration.get("changes") or 0))


def _ticket_event(
    registration: Mapping[str, Any], s: Screening, *, base_url: str, organiser: tuple[str, str],
    earlier_cancellations: int = 0,
) -> Props:
    status = registration["status"]
    # Waiting, or seats held until the address is confirmed: not (yet) a seat.
    tentative = status in ("waitlisted", "held") and s["status"] != "cancelled"
    event = _event(s, base_url=base_url, organiser=organiser,
                   note=_ticket_note(registration, base_url),
                   cancelled=status == "cancelled",
                   prefix=(_("Waitlist: ") if status == "waitlisted" else _("Unconfirmed: "))
                   if tentative else "")
    if tentative:
        event["STATUS"] = "TENTATIVE"
    # The attendee's own change (confirmed from the waitlist, cancelled) is news too.
    event["SEQUENCE"] = str(attendee_sequence(s, registration, earlier_cancellations))
    event["DTSTAMP"] = event["LAST-MODIFIED"] = _stamp(
        max(s["updated_at"], registration["updated_at"]))
    return event


def _ticket_rank(registration: Mapping[str, Any]) -> tuple[bool, str, int]:
    return (registration["status"] != "cancelled", registration["updated_at"],
            int(registration["id"]))


def _ticket_note(registration: Mapping[str, Any], base_url: str) -> str:
    seats = int(registration["seats"])
    label = {"confirmed": _("Your registration: confirmed"),
             "held": _("Your registration: seats held until you confirm your email address"),
             "waitlisted": _("Your registration: on the waiting list"),
             "cancelled": _("Your registration: cancelled")}[registration["status"]]
    ticket = links.absolute(base_url, "ticket", token=registration["token"])
    count = ngettext("%(num)d seat", "%(num)d seats", seats) % {"num": seats}
    return f"{label} ({count})\n{ticket}"


def _summary(s: Screening) -> str:
    has_debate = bool(s.get("debate_title")) or bool(s.get("guests"))
    return s["title"] + (_(" + debate") if has_debate else "")


def _description(s: Screening, url: str, cancelled: bool, note: str) -> str:
    parts = []
    if s["status"] == "cancelled":
        parts.append(_("This screening is cancelled."))
    elif cancelled:  # the attendee's own registration, not the screening
        parts.append(_("Your registration for this screening is cancelled."))
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
        return _(UNLISTED_GUEST_NAME)
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
    return links.absolute(base_url, "screening", id=s["id"])


def country_name(code: str) -> str:
    """The country's name in the current language ('Netherlands', 'Pays-Bas')."""
    # English names come from Babel's "en", as they always did: English feeds keep
    # their bytes (and ETags); other languages use their formatting locale.
    return _country_name(code, "en" if current_locale() == "en" else format_locale()
                         ) if code else ""


@functools.lru_cache(maxsize=2048)
def _country_name(code: str, locale: str) -> str:
    return Locale.parse(locale).territories.get(code.upper(), code)


# --- the calendar around the events ------------------------------------------------------

def _calendar(
    events: Iterable[Props], screenings: list[Screening], *, method: str, name: str,
    description: str = "",
) -> bytes:
    head = {"VERSION": "2.0", "PRODID": PRODID, "CALSCALE": "GREGORIAN", "METHOD": method}
    if method == "PUBLISH":
        head |= {"NAME": escape(name), "X-WR-CALNAME": escape(name)}
        if description:
            head["X-WR-CALDESC"] = escape(description)
        head |= {"REFRESH-INTERVAL;VALUE=DURATION": REFRESH, "X-PUBLISHED-TTL": REFRESH}
    chunks = [b"BEGIN:VCALENDAR\r\n", _lines(head)]
    # VTIMEZONEs first: some clients resolve a TZID only against zones already read.
    chunks += [vtimezone(*span) for span in _zone_spans(screenings)]
    for event in events:
        chunks += [b"BEGIN:VEVENT\r\n", _lines(event), b"END:VEVENT\r\n"]
    chunks.append(b"END:VCALENDAR\r\n")
    return b"".join(chunks)


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
def vtimezone(zone_name: str, first_year: int, last_year: int) -> bytes:
    """The zone's VTIMEZONE from 1 January of first_year to the end of last_year, built
    from the IANA data by icalendar (milliseconds each, hence the cache)."""
    component = Timezone.from_tzinfo(_zone(zone_name), zone_name,
                                     first_date=date(first_year, 1, 1),
                                     last_date=date(last_year + 1, 1, 1))
    return component.to_ical()


# --- content lines (RFC 5545 3.1, 3.3.11) ------------------------------------------------

def _lines(props: Props) -> bytes:
    return b"".join(fold(f"{name}:{value}") for name, value in props.items())


def fold(line: str) -> bytes:
    """One content line as octets with CRLF, folded so no physical line passes 75 octets
    and no UTF-8 character is split across two."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    pieces, start, limit = [], 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            end -= 1
        pieces.append(data[start:end])
        start, limit = end, 74  # continuation lines begin with a space
    pieces.append(data[start:])
    return b"\r\n ".join(pieces) + b"\r\n"


def escape(text: str) -> str:
    """A TEXT value: backslash, semicolon, comma and line breaks escaped; other control
    characters, which TEXT does not allow, dropped. So no text can start a property."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    text = without_unsafe(text, lines=True)
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _param(value: str) -> str:
    """A quoted parameter value on one line (double quotes cannot be escaped portably)."""
    return one_line(value).replace('"', "'")


def _param_value(value: str) -> str:
    """An unquoted parameter value, quoted when it holds ; : or , (a TZID never does)."""
    text = _param(value)
    return f'"{text}"' if any(c in text for c in ";:,") else text


def _mailto(email: str) -> str:
    email = email.strip()
    if not email or any(c.isspace() or ord(c) < 32 or c in '<>"' for c in email):
        raise ValueError(f"not a usable e-mail address for a calendar: {email!r}")
    return f"mailto:{email}"


def _organiser(email: str, name: str, screenings: list[Screening]) -> tuple[str, str]:
    """The ORGANIZER property: (name with parameters, value)."""
    if not name:
        name = next((str(s["edition_name"]) for s in screenings if s.get("edition_name")), "")
    params = f';CN="{_param(name)}"' if name else ""
    return f"ORGANIZER{params}", _mailto(email)


# --- values ------------------------------------------------------------------------------

def _order(s: Screening) -> tuple[str, str]:
    return (s["starts_at"], s["uid"])


def _stamp(utc_text: str) -> str:
    """'2099-12-13T18:00:00Z' (as stored) -> '20991213T180000Z'."""
    if not _UTC_TEXT.fullmatch(utc_text):
        raise ValueError(f"not a stored UTC instant: {utc_text!r}")
    return utc_text.replace("-", "").replace(":", "")


def _wall_clock(utc_text: str, zone: str) -> str:
    """The stored UTC instant as wall-clock time in the zone: '20991213T190000'."""
    _stamp(utc_text)  # the same strict format check
    return datetime.fromisoformat(utc_text).astimezone(_zone(zone)).strftime("%Y%m%dT%H%M%S")


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return times.zone(name)
