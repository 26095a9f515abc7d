"""The iCalendar builders, without HTTP: the sample programme loaded by the app's own
loader, turned into bytes, read back by icalendar and vobject."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import icalendar
import pytest
import vobject

from festival.calendar import ics
from festival.core.store import Database
from tests.helpers import BASE_URL as BASE
from tests.helpers import ORGANISER_EMAIL as ORGANISER
from tests.helpers import icalendar_events, load_feed_screenings, vobject_events

# The sample's wall-clock times, worked out by hand (not by the code under test).
EXPECTED_UTC = {
    "hague": ("2099-12-13T18:00:00Z", "2099-12-13T20:30:00Z"),       # CET, +01:00
    "sydney": ("2099-12-06T08:30:00Z", "2099-12-06T11:00:00Z"),      # AEDT, +11:00
    "kathmandu": ("2099-12-10T11:30:00Z", "2099-12-10T13:15:00Z"),   # +05:45
    "mexico-late": ("2099-12-13T04:30:00Z", "2099-12-13T07:00:00Z"),  # CST, -06:00
    "niamey": ("2099-12-18T19:00:00Z", "2099-12-18T21:00:00Z"),      # WAT, +01:00
}


async def load_screenings(db: Database, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The programme as the feeds see it: public screenings with their debate guests."""
    return await load_feed_screenings(db, data, include_drafts=True)


@pytest.fixture
async def screenings(db: Database, sample_programme: dict[str, Any]) -> list[dict[str, Any]]:
    return await load_screenings(db, sample_programme)


def build(screenings: list[dict[str, Any]], name: str = "Festival 2099") -> bytes:
    return ics.feed(screenings, name=name, base_url=BASE, organiser_email=ORGANISER)


def by_key(screenings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in screenings}


def utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- time: every instant right, in every zone -----------------------------------------------

def test_feed_every_start_and_end_instant_matches_in_icalendar(screenings):
    uid_to_key = {s["uid"]: s["key"] for s in screenings}
    events = icalendar_events(build(screenings))
    seen = {uid_to_key[str(e["UID"])]: (utc(e.start), utc(e.end)) for e in events}
    assert seen == EXPECTED_UTC


def test_feed_every_start_and_end_instant_matches_in_vobject(screenings):
    uid_to_key = {s["uid"]: s["key"] for s in screenings}
    events = vobject_events(build(screenings))
    seen = {uid_to_key[e.uid.value]: (utc(e.dtstart.value), utc(e.dtend.value)) for e in events}
    assert seen == EXPECTED_UTC


def test_feed_times_are_wall_clock_at_the_venue_with_its_tzid(screenings):
    body = build(screenings).decode()
    assert "DTSTART;TZID=Asia/Kathmandu:20991210T171500\r\n" in body
    assert "DTSTART;TZID=Australia/Sydney:20991206T193000\r\n" in body
    # ends after midnight: the next day, local time
    assert "DTEND;TZID=America/Mexico_City:20991213T010000\r\n" in body


def test_feed_has_one_vtimezone_per_zone_used_and_it_gives_the_right_offsets(screenings):
    cal = icalendar.Calendar.from_ical(build(screenings))
    zones = {str(tz["TZID"]): tz for tz in cal.walk("VTIMEZONE")}
    used = {e["DTSTART"].params["TZID"] for e in cal.walk("VEVENT")}
    assert len(cal.walk("VTIMEZONE")) == len(zones)
    assert set(zones) == used == {"Europe/Amsterdam", "Australia/Sydney", "Asia/Kathmandu",
                                  "America/Mexico_City", "Africa/Niamey"}
    for s in screenings:
        # The VTIMEZONE alone (not the IANA name) must place the event at its instant.
        own_zone = zones[s["timezone"]].to_tz()
        wall = s["starts_local"].replace(tzinfo=None)
        assert utc(wall.replace(tzinfo=own_zone)) == s["starts_at"]


# --- the calendar and its events --------------------------------------------------------------

def test_feed_calendar_carries_the_subscription_properties(screenings):
    body = build(screenings, name="Global Migration Film Festival 2099").decode()
    for line in ("PRODID:-//IOM//festival//EN", "VERSION:2.0", "CALSCALE:GREGORIAN",
                 "METHOD:PUBLISH", "X-WR-CALNAME:Global Migration Film Festival 2099",
                 "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"):
        assert f"\r\n{line}\r\n" in body
    assert "X-WR-TIMEZONE" not in body


def test_feed_event_fields_come_from_the_screening(screenings):
    s = by_key(screenings)["hague"]
    (event,) = [e for e in icalendar_events(build(screenings)) if str(e["UID"]) == s["uid"]]
    assert str(event["SUMMARY"]) == "Wallah, Je te jure + debate"
    assert event["SEQUENCE"] == s["sequence"] == 0
    assert utc(event["DTSTAMP"].dt) == utc(event["LAST-MODIFIED"].dt) == s["updated_at"]
    assert utc(event["CREATED"].dt) == s["created_at"]
    assert str(event["URL"]) == f"{BASE}/screenings/{s['id']}"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["LOCATION"]) == ("Humanity House, Prinsegracht 8, 2512 GA Den Haag, "
                                      "The Hague, Netherlands")
    description = str(event["DESCRIPTION"])
    assert "From Senegal to Libya and on to Europe, migrants along the route." in description
    assert "Changing the perception of migrants" in description
    assert "Ana Reyes" in description
    assert str(event["ORGANIZER"]) == f"mailto:{ORGANISER}"
    assert event["ORGANIZER"].params["CN"] == "Global Migration Film Festival 2099"


def test_feed_every_event_has_an_organizer_and_its_own_uid(screenings):
    events = icalendar_events(build(screenings))
    assert len(events) == len(screenings) == 5
    assert all(str(e["ORGANIZER"]) == f"mailto:{ORGANISER}" for e in events)
    assert sorted(str(e["UID"]) for e in events) == sorted(s["uid"] for s in screenings)


def test_feed_never_names_an_unlisted_guest(screenings):
    body = build(screenings)
    assert b"Secret Person" not in body
    hague = by_key(screenings)["hague"]
    (event,) = [e for e in icalendar_events(body) if str(e["UID"]) == hague["uid"]]
    assert "a guest speaker" in str(event["DESCRIPTION"])
    # also when a caller hands over the real name by mistake
    leaked = copy.deepcopy(screenings)
    for s in leaked:
        for guest in s["guests"]:
            if not guest["listed"]:
                guest["name"] = "Secret Person"
    assert b"Secret Person" not in build(leaked)


def test_feed_keeps_a_cancelled_screening_marked_cancelled(screenings):
    niamey = by_key(screenings)["niamey"]
    (event,) = [e for e in icalendar_events(build(screenings)) if str(e["UID"]) == niamey["uid"]]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("Cancelled: ")


def test_feed_leaves_out_drafts(screenings):
    drafts = copy.deepcopy(screenings)
    by_key(drafts)["sydney"]["status"] = "draft"
    events = icalendar_events(build(drafts))
    assert len(events) == 4
    assert by_key(screenings)["sydney"]["uid"] not in {str(e["UID"]) for e in events}
    assert b"Australia/Sydney" not in build(drafts)  # nor its time zone


def test_feed_same_data_gives_the_same_bytes_in_any_order(screenings):
    first = build(screenings)
    assert build(copy.deepcopy(screenings)) == first
    assert build(list(reversed(screenings))) == first


def test_feed_moved_screening_keeps_uid_with_higher_sequence_and_new_stamp(screenings):
    before = by_key(screenings)["hague"]
    moved = copy.deepcopy(screenings)
    after = by_key(moved)["hague"]
    after.update(starts_at="2099-12-14T18:00:00Z", ends_at="2099-12-14T20:30:00Z",
                 sequence=before["sequence"] + 1, updated_at="2099-12-01T10:00:00Z")
    old = {str(e["UID"]): e for e in icalendar_events(build(screenings))}[before["uid"]]
    new = {str(e["UID"]): e for e in icalendar_events(build(moved))}[before["uid"]]
    assert new["SEQUENCE"] == old["SEQUENCE"] + 1
    assert new["DTSTAMP"].dt > old["DTSTAMP"].dt
    assert new["LAST-MODIFIED"].dt > old["LAST-MODIFIED"].dt
    assert utc(new.start) == "2099-12-14T18:00:00Z"
    assert len(icalendar_events(build(moved))) == 5


# --- RFC 5545 text: escaping, folding, line endings ----------------------------------------

def test_feed_escapes_commas_semicolons_quotes_and_backslashes(screenings):
    body = build(screenings)
    title = 'The Crossing; a "journey", told\\retold'
    assert "SUMMARY:The Crossing\\; a \"journey\"\\, told\\\\retold\r\n" in body.decode()
    assert str(icalendar_events(body)[0]["SUMMARY"]) == title
    assert vobject_events(body)[0].summary.value == title


def test_feed_text_cannot_inject_properties(screenings):
    evil = copy.deepcopy(screenings)
    attack = "Evil\r\nDTSTART:20000101T000000Z\rSTATUS:CANCELLED\nX-EVIL:1\x00\x07"
    for s in evil:
        s["title"] = attack
        s["venue_name"] = attack
    body = build(evil)
    lines = body.split(b"\r\n")
    assert not [line for line in lines if line.startswith((b"DTSTART:2000", b"X-EVIL"))]
    assert [line for line in lines if line.startswith(b"STATUS:")] == [
        b"STATUS:CONFIRMED"] * 4 + [b"STATUS:CANCELLED"]
    assert b"\x00" not in body and b"\x07" not in body
    events = icalendar_events(body)
    assert all(utc(e.start) != "2000-01-01T00:00:00Z" for e in events)
    assert str(events[0]["SUMMARY"]).startswith("Evil\nDTSTART:20000101T000000Z\nSTATUS")
    assert vobject_events(body)[0].summary.value.startswith("Evil\nDTSTART")


def test_feed_folds_at_75_octets_without_splitting_a_character(screenings):
    long = copy.deepcopy(screenings)
    for s in long:
        s["synopsis"] = "Migración y cine 🎬 — «l’exil» ünd Ωmega. " * 20
    body = build(long)
    assert b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
    assert body.endswith(b"END:VCALENDAR\r\n")
    for line in body.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # each physical line is whole characters
    assert str(icalendar_events(body)[0]["DESCRIPTION"]).count("🎬") == 20
    assert vobject_events(body)[0].description.value.count("🎬") == 20


def test_feed_calendar_name_with_comma_is_escaped(screenings):
    body = build(screenings, name="Cineteca, Sala 3; Mexico")
    assert b"X-WR-CALNAME:Cineteca\\, Sala 3\\; Mexico\r\n" in body
    assert vobject.readOne(body.decode()).x_wr_calname.value == "Cineteca, Sala 3; Mexico"


# --- an attendee's own registrations ---------------------------------------------------------

def registration(rid: int, status: str, *, seats: int = 2,
                 updated_at: str = "2099-11-01T09:00:00Z") -> dict[str, Any]:
    return {"id": rid, "token": f"tok{rid}", "status": status, "seats": seats,
            "updated_at": updated_at}


def test_ticket_feed_shows_each_registrations_status(screenings):
    s = by_key(screenings)
    tickets = [(registration(1, "confirmed"), s["hague"]),
               (registration(2, "waitlisted"), s["sydney"]),
               (registration(3, "cancelled"), s["kathmandu"]),
               (registration(4, "confirmed"), s["niamey"])]  # the screening is cancelled
    body = ics.ticket_feed(tickets, name="My festival", base_url=BASE,
                                organiser_email=ORGANISER)
    events = {str(e["UID"]): e for e in icalendar_events(body)}
    assert set(events) == {s[k]["uid"] for k in ("hague", "sydney", "kathmandu", "niamey")}
    assert str(events[s["hague"]["uid"]]["STATUS"]) == "CONFIRMED"
    waiting = events[s["sydney"]["uid"]]
    assert str(waiting["STATUS"]) == "TENTATIVE"
    assert str(waiting["SUMMARY"]) == 'Waitlist: The Crossing; a "journey", told\\retold'
    assert "on the waiting list" in str(waiting["DESCRIPTION"])
    own_cancel = events[s["kathmandu"]["uid"]]
    assert str(own_cancel["STATUS"]) == "CANCELLED"
    assert "Your registration for this screening is cancelled." in str(own_cancel["DESCRIPTION"])
    assert "This screening is cancelled." not in str(own_cancel["DESCRIPTION"])
    assert str(events[s["niamey"]["uid"]]["STATUS"]) == "CANCELLED"
    assert f"{BASE}/tickets/tok1" in str(events[s["hague"]["uid"]]["DESCRIPTION"])
    # the attendee's own later change is the event's last modification
    assert utc(events[s["hague"]["uid"]]["DTSTAMP"].dt) == "2099-11-01T09:00:00Z"


def test_ticket_feed_registering_again_gives_one_event_not_a_duplicate(screenings):
    hague = by_key(screenings)["hague"]
    tickets = [(registration(1, "cancelled", updated_at="2099-11-02T00:00:00Z"), hague),
               (registration(2, "confirmed"), hague)]
    body = ics.ticket_feed(tickets, name="Mine", base_url=BASE, organiser_email=ORGANISER)
    (event,) = icalendar_events(body)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert len(vobject_events(body)) == 1


# --- invitations for mail ---------------------------------------------------------------------

def test_invite_request_carries_the_feed_uid_sequence_and_an_attendee(screenings):
    s = by_key(screenings)["hague"]
    body = ics.invite(s, method="REQUEST", attendee_name='Zoë "Z" O\'Neil, Jr.',
                           attendee_email="zoe@example.net", organiser_email=ORGANISER,
                           base_url=BASE)
    cal = icalendar.Calendar.from_ical(body)
    (event,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == s["uid"] and event["SEQUENCE"] == s["sequence"]
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:zoe@example.net"
    assert attendee.params["RSVP"] == "FALSE" and attendee.params["PARTSTAT"] == "ACCEPTED"
    assert attendee.params["CN"] == "Zoë 'Z' O'Neil, Jr."
    assert str(event["ORGANIZER"]) == f"mailto:{ORGANISER}"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert vobject.readOne(body.decode()).vevent.attendee.value == "mailto:zoe@example.net"


def test_invite_cancel_marks_the_same_event_cancelled(screenings):
    s = by_key(screenings)["sydney"]
    body = ics.invite(s, method="CANCEL", attendee_name="Zoë", attendee_email="z@example.net",
                           organiser_email=ORGANISER, base_url=BASE, sequence=s["sequence"] + 1)
    cal = icalendar.Calendar.from_ical(body)
    (event,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED" and str(event["UID"]) == s["uid"]
    assert event["SEQUENCE"] == s["sequence"] + 1
    assert b"X-WR-CALNAME" not in body and b"REFRESH-INTERVAL" not in body


def test_invite_names_cannot_inject_and_addresses_must_be_clean(screenings):
    s = by_key(screenings)["hague"]
    body = ics.invite(s, method="REQUEST", attendee_name="Eve\r\nATTENDEE:mailto:x@evil",
                           attendee_email="eve@example.net", organiser_email=ORGANISER,
                           base_url=BASE)
    (event,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(event["ATTENDEE"]) == "mailto:eve@example.net"  # one attendee, not a list
    with pytest.raises(ValueError):
        ics.invite(s, method="REQUEST", attendee_name="Eve",
                        attendee_email="eve@example.net\r\nX-EVIL:1",
                        organiser_email=ORGANISER, base_url=BASE)
