"""Mail to attendees, delivered to a real SMTP server on loopback (aiosmtpd, running in
the test's own event loop): each kind of message as a mail app reads it, the invitation
parsed back with icalendar, and the outbox's promises (retry with backoff, survive a
restart, each message once)."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest
from aiosmtpd.smtp import Envelope

from festival.calendar import ics
from festival.core import logs, times
from festival.core.errors import Conflict
from festival.core.settings import Settings
from festival.core.store import Database, execute, fetch_one
from festival.mail import compose, outbox, sender
from festival.organisers import overview
from festival.programme.queries import get_screening
from tests.helpers import Inbox, free_port, outbox_row, screening_id, start_smtp
from tests.helpers import queue_registration as register

FROM = "Global Migration Film Festival <festival@festival.example.org>"


# --- an SMTP server on loopback ----------------------------------------------------------

@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    yield Inbox()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def smtp(inbox: Inbox, port: int) -> AsyncIterator[asyncio.Server]:
    server = await start_smtp(inbox, port)
    yield server
    server.close()
    await server.wait_closed()


@pytest.fixture
def mail_settings(settings: Settings, port: int) -> Settings:
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", mail_from=FROM,
                               mail_reply_to="Festival team <team@festival.example.org>")


# --- registrations, written as the registration module would (register: tests.helpers) ---

async def queue(db: Database, rid: int, kind: str) -> None:
    async with db.transaction() as conn:
        await outbox.enqueue(conn, kind=kind, registration_id=rid)


# --- reading a received message ----------------------------------------------------------

def raw(envelope: Envelope) -> bytes:
    assert isinstance(envelope.content, bytes)
    return envelope.content


def structure(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def calendar_part(msg: EmailMessage) -> EmailMessage:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0]  # type: ignore[return-value]


def invite_of(msg: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(calendar_part(msg).get_content())
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    return cal, events[0]


def text_of(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def html_of(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


INVITE_STRUCTURE = ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                    "text/calendar", "application/ics"]
NOTICE_STRUCTURE = ["multipart/alternative", "text/plain", "text/html"]
# A mail that confirms seats shows the door's QR code: its HTML is multipart/related
# with the image (tests/mail/test_door_code.py).
TICKET_STRUCTURE = ["multipart/mixed", "multipart/alternative", "text/plain",
                    "multipart/related", "text/html", "image/png", "text/calendar",
                    "application/ics"]


# --- each kind of message ----------------------------------------------------------------

async def test_confirmed_mail_carries_an_invitation_outlook_accepts(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded)
    row = await outbox_row(loaded, rid, "confirmed")

    assert await sender.deliver_due(loaded, mail_settings) == 1

    envelope, msg = inbox.envelopes[0], inbox.one()
    assert envelope.mail_from == "festival@festival.example.org"
    assert envelope.rcpt_tos == ["ana@example.org"]
    assert structure(msg) == TICKET_STRUCTURE
    assert msg["Message-ID"] == row["message_id"]
    assert msg["Date"] is not None
    assert msg["From"] == FROM
    assert msg["Reply-To"] == "Festival team <team@festival.example.org>"
    assert msg["To"] == "Ana Silva <ana@example.org>"
    assert msg["Subject"] == "Your 2 seats for Wallah, Je te jure are confirmed"
    part = calendar_part(msg)
    assert part.get_params() == [("text/calendar", ""), ("charset", "utf-8"),
                                 ("method", "REQUEST")]
    # As Outlook writes it, and needs it: the same method as the file's METHOD.
    assert b'Content-Type: text/calendar; charset="utf-8"; method=REQUEST\r\n' in raw(envelope)
    token = (await loaded.fetch_one("SELECT token FROM registrations WHERE id = ?", (rid,)))[0]
    assert f"https://festival.example.org/tickets/{token}" in text_of(msg)
    assert f'href="https://festival.example.org/tickets/{token}"' in html_of(msg)
    assert "Your 2 seats are confirmed" in text_of(msg)

    cal, event = invite_of(msg)
    screening = await get_screening(loaded, await screening_id(loaded))
    feed_event = icalendar.Calendar.from_ical(ics.feed(
        [screening], name="f", base_url=mail_settings.base_url,
        organiser_email="festival@festival.example.org")).walk("VEVENT")[0]
    assert cal["METHOD"] == "REQUEST"
    assert event["UID"] == feed_event["UID"] == screening["uid"]
    assert event["SEQUENCE"] == feed_event["SEQUENCE"] == screening["sequence"]
    assert event["ORGANIZER"] == "mailto:festival@festival.example.org"
    assert event["ATTENDEE"] == "mailto:ana@example.org"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"
    assert event["ATTENDEE"].params["CN"] == "Ana Silva"
    assert event.decoded("DTSTART") == screening["starts_local"]
    # The attached copy is the same invitation, for clients that ignore the alternative.
    attachment = next(p for p in msg.walk() if p.get_content_type() == "application/ics")
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content() == calendar_part(msg).get_content().encode()
    sent = await outbox_row(loaded, rid, "confirmed")
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert sent["sent_at"] is not None


async def test_waitlisted_mail_gives_the_place_and_no_invitation(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    await register(loaded, address="first@example.org", status="waitlisted")
    rid = await register(loaded, address="second@example.org", status="waitlisted")

    assert await sender.deliver_due(loaded, mail_settings) == 2

    msg = next(m for m in inbox.messages() if "second@" in m["To"])
    assert structure(msg) == NOTICE_STRUCTURE
    assert msg["Subject"] == "You are on the waiting list for Wallah, Je te jure"
    assert "waiting list, place 2" in text_of(msg)
    assert "waiting list, place 2" in html_of(msg)
    token = (await loaded.fetch_one("SELECT token FROM registrations WHERE id = ?", (rid,)))[0]
    assert f"/tickets/{token}" in text_of(msg)


async def test_promoted_mail_confirms_the_seat_with_an_invitation(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded, status="waitlisted")
    async with loaded.transaction() as conn:
        now = times.now_text()
        await execute(conn, """UPDATE registrations SET status = 'confirmed', confirmed_at = ?,
                               updated_at = ? WHERE id = ?""", (now, now, rid))
        await outbox.enqueue(conn, kind="promoted", registration_id=rid)

    assert await sender.deliver_due(loaded, mail_settings) == 2

    msg = next(m for m in inbox.messages() if "freed up" in m["Subject"])
    assert structure(msg) == TICKET_STRUCTURE
    assert "now confirmed" in text_of(msg)
    cal, event = invite_of(msg)
    assert cal["METHOD"] == "REQUEST"
    assert b"; method=REQUEST\r\n" in raw(inbox.envelopes[1])
    assert event["ATTENDEE"] == "mailto:ana@example.org"


async def test_cancelled_mail_cancels_the_same_event_with_a_higher_sequence(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded)
    assert await sender.deliver_due(loaded, mail_settings) == 1
    async with loaded.transaction() as conn:
        # As registrations.cancel does it.
        await execute(conn, """UPDATE registrations SET status = 'cancelled', cancelled_at = ?,
                               updated_at = ?, changes = changes + 1 WHERE id = ?""",
                      (times.now_text(), times.now_text(), rid))
        await outbox.enqueue(conn, kind="cancelled", registration_id=rid)

    assert await sender.deliver_due(loaded, mail_settings) == 1

    invitation, cancellation = inbox.messages()
    assert cancellation["Subject"] == "Your registration for Wallah, Je te jure is cancelled"
    assert structure(cancellation) == INVITE_STRUCTURE
    assert calendar_part(cancellation).get_param("method") == "CANCEL"
    assert b"; method=CANCEL\r\n" in raw(inbox.envelopes[1])
    _cal, request = invite_of(invitation)
    cal, cancel = invite_of(cancellation)
    assert cal["METHOD"] == "CANCEL"
    assert cancel["UID"] == request["UID"]
    assert cancel["SEQUENCE"] > request["SEQUENCE"]
    assert cancel["STATUS"] == "CANCELLED"
    assert cancel["ATTENDEE"] == "mailto:ana@example.org"
    assert "is cancelled" in text_of(cancellation)


async def test_registering_again_after_cancelling_sends_an_invitation_newer_than_the_cancel(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded)
    async with loaded.transaction() as conn:
        await execute(conn, "UPDATE registrations SET status = 'cancelled',"
                            " changes = changes + 1 WHERE id = ?", (rid,))
        await outbox.enqueue(conn, kind="cancelled", registration_id=rid)
    await register(loaded)

    assert await sender.deliver_due(loaded, mail_settings) == 3

    sequences = [(c["METHOD"], e["SEQUENCE"]) for c, e in map(invite_of, inbox.messages())]
    assert sequences == [("REQUEST", 0), ("CANCEL", 1), ("REQUEST", 1)]
    stamps = [e.decoded("DTSTAMP") for _c, e in map(invite_of, inbox.messages())]
    assert stamps[2] >= stamps[1]


async def test_moved_screening_mail_carries_the_updated_invitation(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded)
    assert await sender.deliver_due(loaded, mail_settings) == 1
    sid = await screening_id(loaded)
    async with loaded.transaction() as conn:
        await execute(conn, """UPDATE screenings SET starts_at = '2099-12-13T19:00:00Z',
                               ends_at = '2099-12-13T21:30:00Z', sequence = sequence + 1,
                               updated_at = ? WHERE id = ?""", (times.now_text(), sid))
        await outbox.enqueue(conn, kind="screening_changed", registration_id=rid)

    assert await sender.deliver_due(loaded, mail_settings) == 1

    invitation, update = inbox.messages()
    assert update["Subject"] == "Changed: Wallah, Je te jure has new details"
    assert structure(update) == INVITE_STRUCTURE
    assert calendar_part(update).get_param("method") == "REQUEST"
    _c, before = invite_of(invitation)
    cal, after = invite_of(update)
    assert cal["METHOD"] == "REQUEST"
    assert after["UID"] == before["UID"]
    assert after["SEQUENCE"] == before["SEQUENCE"] + 1
    assert after.decoded("DTSTART").isoformat() == "2099-12-13T20:00:00+01:00"
    assert "20:00" in text_of(update)


async def test_moved_screening_tells_the_waitlist_without_an_invitation(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded, status="waitlisted", kind="screening_changed")

    assert await sender.deliver_due(loaded, mail_settings) == 1

    msg = inbox.one()
    assert structure(msg) == NOTICE_STRUCTURE
    assert "still on the waiting list" in text_of(msg)
    assert (await outbox_row(loaded, rid, "screening_changed"))["status"] == "sent"


async def test_cancelled_screening_mail_carries_the_cancel(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    rid = await register(loaded, kind="confirmed")
    assert await sender.deliver_due(loaded, mail_settings) == 1
    sid = await screening_id(loaded)
    async with loaded.transaction() as conn:
        await execute(conn, """UPDATE screenings SET status = 'cancelled', sequence = sequence + 1,
                               updated_at = ? WHERE id = ?""", (times.now_text(), sid))
        await outbox.enqueue(conn, kind="screening_cancelled", registration_id=rid)

    assert await sender.deliver_due(loaded, mail_settings) == 1

    invitation, notice = inbox.messages()
    assert notice["Subject"] == "Cancelled: Wallah, Je te jure will not take place"
    assert calendar_part(notice).get_param("method") == "CANCEL"
    _c, request = invite_of(invitation)
    cal, cancel = invite_of(notice)
    assert (cal["METHOD"], cancel["UID"]) == ("CANCEL", request["UID"])
    assert cancel["SEQUENCE"] > request["SEQUENCE"]
    assert "had to cancel" in text_of(notice)


async def test_mail_never_names_unlisted_debate_guests(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    await register(loaded)

    await sender.deliver_due(loaded, mail_settings)

    assert b"Secret Person" not in raw(inbox.envelopes[0])
    _c, event = invite_of(inbox.one())
    assert "a guest speaker" in str(event["DESCRIPTION"])


# --- headers from attendees' names -------------------------------------------------------

async def test_mail_name_with_line_breaks_injects_no_header(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    await register(loaded, name="Eve\r\nBcc: victim@example.org\r\n\r\nInjected body",
                   address="eve@example.org")

    assert await sender.deliver_due(loaded, mail_settings) == 1

    envelope, msg = inbox.envelopes[0], inbox.one()
    assert envelope.rcpt_tos == ["eve@example.org"]
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].display_name == "Eve Bcc: victim@example.org Injected body"
    assert msg["To"].addresses[0].addr_spec == "eve@example.org"
    assert b"\r\nBcc:" not in raw(envelope)
    _c, event = invite_of(msg)
    assert event["ATTENDEE"].params["CN"] == "Eve Bcc: victim@example.org Injected body"


async def test_mail_non_ascii_name_is_encoded_in_the_header(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    name = "Zoë Ñúñez 王秀英"
    await register(loaded, name=name, address="zoe@example.org")

    assert await sender.deliver_due(loaded, mail_settings) == 1

    header_block = raw(inbox.envelopes[0]).split(b"\r\n\r\n", 1)[0]
    header_block.decode("ascii")  # every header is 7-bit: non-ASCII as encoded words
    assert b"=?utf-8?" in header_block
    to = inbox.one()["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == (name, "zoe@example.org")
    assert f"Hello {name}," in text_of(inbox.one())


async def test_mail_html_escapes_the_attendee_name(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    await register(loaded, name='<img src=x onerror="alert(1)">', address="x@example.org")

    await sender.deliver_due(loaded, mail_settings)

    html = html_of(inbox.one())
    assert "<img src=x" not in html
    assert "&lt;img src=x" in html


def test_compose_is_pure_same_facts_same_bytes(mail_settings: Settings) -> None:
    registration = {"name": "Ana", "email": "ana@example.org", "token": "t0k", "seats": 1,
                    "status": "waitlisted", "confirmed_at": None,
                    "updated_at": "2099-12-01T10:00:00Z"}
    screening = {"id": 7, "title": "Wallah", "venue_name": "Humanity House", "city": "The Hague",
                 "country": "NL", "address": "", "status": "scheduled",
                 "starts_local": times.to_local("2099-12-13T18:00:00Z", "Europe/Amsterdam"),
                 "ends_local": times.to_local("2099-12-13T20:30:00Z", "Europe/Amsterdam")}
    date = times.parse_utc("2099-12-01T10:00:00Z")
    facts = compose.MessageFacts(kind="waitlisted", message_id="<m1@festival.example.org>",
                                 date=date, locale="en", registration=registration,
                                 screening=screening, waitlist_position=3)

    def build() -> bytes:
        msg = compose.compose(facts, mail_settings)
        for part in msg.walk():  # boundaries are random; everything else is the input's
            if part.is_multipart():
                part.set_boundary("b")
        return msg.as_bytes()

    assert build() == build()
    assert b"Date: Tue, 01 Dec 2099 10:00:00 +0000" in build()
    msg = email.message_from_bytes(compose.render(facts, mail_settings), policy=policy.default)
    assert structure(msg) == NOTICE_STRUCTURE  # waitlisted: no invitation
    assert "waiting list, place 3" in text_of(msg)
    with pytest.raises(TypeError):  # facts are a value: nobody changes them underway
        facts.registration["name"] = "Eve"  # type: ignore[index]


def test_compose_builds_the_invitation_from_facts_alone(mail_settings: Settings) -> None:
    registration = {"name": "Ana", "email": "ana@example.org", "token": "t0k", "seats": 2,
                    "status": "confirmed", "confirmed_at": "2099-12-01T09:00:00Z",
                    "updated_at": "2099-12-01T11:00:00Z", "changes": 1}
    screening = {"id": 7, "uid": "wallah-hague@festival", "sequence": 2, "status": "scheduled",
                 "title": "Wallah", "venue_name": "Humanity House", "city": "The Hague",
                 "country": "NL", "address": "Prinsegracht 8", "edition_name": "GMFF 2099",
                 "timezone": "Europe/Amsterdam", "starts_at": "2099-12-13T18:00:00Z",
                 "ends_at": "2099-12-13T20:30:00Z", "created_at": "2099-11-01T10:00:00Z",
                 "updated_at": "2099-12-01T10:00:00Z",
                 "starts_local": times.to_local("2099-12-13T18:00:00Z", "Europe/Amsterdam"),
                 "ends_local": times.to_local("2099-12-13T20:30:00Z", "Europe/Amsterdam"),
                 "guests": [{"name": "Secret Person", "role": "", "organisation": "",
                             "listed": 0}]}
    facts = compose.MessageFacts(kind="promoted", message_id="m2@festival.example.org",
                                 date=times.parse_utc("2099-12-01T11:00:00Z"), locale="en",
                                 registration=registration, screening=screening,
                                 waitlist_position=None, earlier_cancellations=1)

    message = compose.render(facts, mail_settings)

    msg = email.message_from_bytes(message, policy=policy.default)
    assert structure(msg) == TICKET_STRUCTURE
    assert msg["Message-ID"] == "<m2@festival.example.org>"
    assert compose.subject_of(message) == ("Seats freed up: your 2 seats are confirmed for "
                                           "Wallah")
    cal, event = invite_of(msg)
    assert cal["METHOD"] == "REQUEST"
    assert event["UID"] == "wallah-hague@festival"
    assert event["SEQUENCE"] == 2 + 1 + 1  # the screening's, an earlier cancel, the promotion
    assert event.decoded("DTSTAMP") == times.parse_utc("2099-12-01T11:00:00Z")
    assert "https://festival.example.org/tickets/t0k" in str(event["DESCRIPTION"])
    assert "a guest speaker" in str(event["DESCRIPTION"])  # unlisted: never named
    assert not any(b"Secret Person" in (part.get_payload(decode=True) or b"")
                   for part in msg.walk() if not part.is_multipart())


@pytest.mark.parametrize(("kind", "seats", "subject"), [
    ("confirmed", 1, "Your seat for Wallah is confirmed"),
    ("confirmed", 2, "Your 2 seats for Wallah are confirmed"),
    ("promoted", 1, "A seat freed up: you are confirmed for Wallah"),
    ("promoted", 3, "Seats freed up: your 3 seats are confirmed for Wallah"),
])
def test_subject_counts_the_seats(mail_settings: Settings, kind: str, seats: int,
                                  subject: str) -> None:
    registration = {"name": "Ana", "email": "ana@example.org", "token": "t0k", "seats": seats,
                    "status": "confirmed", "confirmed_at": "2099-12-01T09:00:00Z",
                    "updated_at": "2099-12-01T11:00:00Z", "changes": 0}
    screening = {"id": 7, "uid": "wallah-hague@festival", "sequence": 0, "status": "scheduled",
                 "title": "Wallah", "venue_name": "Humanity House", "city": "The Hague",
                 "country": "NL", "address": "Prinsegracht 8", "edition_name": "GMFF 2099",
                 "timezone": "Europe/Amsterdam", "starts_at": "2099-12-13T18:00:00Z",
                 "ends_at": "2099-12-13T20:30:00Z", "created_at": "2099-11-01T10:00:00Z",
                 "updated_at": "2099-12-01T10:00:00Z",
                 "starts_local": times.to_local("2099-12-13T18:00:00Z", "Europe/Amsterdam"),
                 "ends_local": times.to_local("2099-12-13T20:30:00Z", "Europe/Amsterdam"),
                 "guests": []}
    facts = compose.MessageFacts(kind=kind, message_id="m3@festival.example.org",
                                 date=times.parse_utc("2099-12-01T11:00:00Z"), locale="en",
                                 registration=registration, screening=screening,
                                 waitlist_position=None, earlier_cancellations=0)
    assert compose.subject_of(compose.render(facts, mail_settings)) == subject


def test_facts_refuse_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind of mail"):
        compose.MessageFacts(kind="nonsense", message_id="m", date=times.utc_now(),
                             locale="en", registration={}, screening={},
                             waitlist_position=None)


# --- delivery: failures, retries, restarts, several senders ------------------------------

async def test_mail_waits_while_the_smtp_server_is_down_then_is_delivered_once(
        loaded: Database, mail_settings: Settings, inbox: Inbox, port: int) -> None:
    rid = await register(loaded)
    t0 = times.utc_now()

    assert await sender.deliver_due(loaded, mail_settings, now=t0) == 0

    waiting = await outbox_row(loaded, rid, "confirmed")
    assert (waiting["status"], waiting["attempts"]) == ("pending", 1)
    assert waiting["next_attempt_at"] == times.utc_text(t0 + timedelta(seconds=2))
    assert waiting["last_error"]
    assert waiting["message"] is not None  # composed once; a retry sends the same bytes
    server = await start_smtp(inbox, port)
    try:
        assert await sender.deliver_due(loaded, mail_settings, now=t0) == 0  # not due yet
        assert await sender.deliver_due(loaded, mail_settings, now=t0 + timedelta(seconds=3)) == 1
        assert await sender.deliver_due(loaded, mail_settings,
                                      now=t0 + timedelta(seconds=300)) == 0
    finally:
        server.close()
        await server.wait_closed()
    assert inbox.envelopes[0].content == waiting["message"]
    delivered = await outbox_row(loaded, rid, "confirmed")
    assert (delivered["status"], delivered["attempts"]) == ("sent", 2)


async def test_mail_answered_4xx_is_retried_until_accepted(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    inbox.data_replies = ["451 4.3.0 Mailbox busy, try again later"] * 2
    rid = await register(loaded)
    t0 = times.utc_now()

    assert await sender.deliver_due(loaded, mail_settings, now=t0) == 0
    assert await sender.deliver_due(loaded, mail_settings, now=t0 + timedelta(seconds=2)) == 0

    row = await outbox_row(loaded, rid, "confirmed")
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert row["last_error"].startswith("451")
    assert row["next_attempt_at"] == times.utc_text(t0 + timedelta(seconds=2 + 4))
    assert await sender.deliver_due(loaded, mail_settings, now=t0 + timedelta(seconds=6)) == 1
    assert len(inbox.envelopes) == 1
    assert (await outbox_row(loaded, rid, "confirmed"))["status"] == "sent"


async def test_mail_to_a_refused_recipient_fails_and_organisers_can_retry(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    inbox.rcpt_replies = ["550 5.1.1 No such user here"]
    rid = await register(loaded)

    assert await sender.deliver_due(loaded, mail_settings) == 0

    failed = await outbox_row(loaded, rid, "confirmed")
    assert failed["status"] == "failed"
    assert failed["last_error"].startswith("550")
    listed = await overview.list_outbox(loaded, status="failed")
    assert [(m["id"], m["last_error"]) for m in listed] == [(failed["id"], failed["last_error"])]
    assert await sender.deliver_due(loaded, mail_settings,
                                  now=times.utc_now() + timedelta(hours=1)) == 0

    await overview.retry(loaded, failed["id"])

    assert await sender.deliver_due(loaded, mail_settings) == 1
    assert (await outbox_row(loaded, rid, "confirmed"))["status"] == "sent"
    with pytest.raises(Conflict):
        await overview.retry(loaded, failed["id"])


async def test_mail_permanent_5xx_is_given_up_after_max_attempts(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    inbox.data_replies = ["554 5.6.0 Message rejected"] * sender.MAX_ATTEMPTS
    rid = await register(loaded)
    moment = times.utc_now()

    for _ in range(sender.MAX_ATTEMPTS):
        assert await sender.deliver_due(loaded, mail_settings, now=moment) == 0
        moment += timedelta(seconds=sender.BACKOFF_CAP)

    row = await outbox_row(loaded, rid, "confirmed")
    assert (row["status"], row["attempts"]) == ("failed", sender.MAX_ATTEMPTS)
    assert row["last_error"].startswith("554")


async def test_mail_backoff_doubles_and_is_capped_at_one_minute(
        loaded: Database, mail_settings: Settings) -> None:
    assert [sender.backoff_seconds(n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]
    rid = await register(loaded)
    async with loaded.transaction() as conn:
        await execute(conn, "UPDATE outbox SET attempts = 40 WHERE registration_id = ?", (rid,))
    t0 = times.utc_now()

    await sender.deliver_due(loaded, mail_settings, now=t0)  # nobody listens on the port

    row = await outbox_row(loaded, rid, "confirmed")
    assert (row["status"], row["attempts"]) == ("pending", 41)
    assert row["next_attempt_at"] == times.utc_text(t0 + timedelta(seconds=60))


async def test_mail_pending_messages_survive_an_app_restart(
        loaded: Database, settings: Settings, mail_settings: Settings, inbox: Inbox,
        smtp: Any) -> None:
    rid = await register(loaded)
    await loaded.close()  # the app stops before the sender ran

    reopened = await Database(settings.db_path, synchronous="NORMAL").open()
    try:
        assert await sender.deliver_due(reopened, mail_settings) == 1
        assert inbox.one()["To"] == "Ana Silva <ana@example.org>"
        row = await fetch_one_row(reopened, rid)
        assert row["status"] == "sent"
    finally:
        await reopened.close()


async def fetch_one_row(db: Database, rid: int) -> dict[str, Any]:
    async with db.reader() as conn:
        row = await fetch_one(conn, "SELECT * FROM outbox WHERE registration_id = ?", (rid,))
    assert row is not None
    return dict(row)


async def test_mail_claimed_by_a_crashed_worker_is_taken_over_after_its_lease(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    crashed = await register(loaded, address="crashed@example.org")
    busy = await register(loaded, address="busy@example.org")
    past = times.utc_text(times.utc_now() - timedelta(seconds=1))
    future = times.utc_text(times.utc_now() + timedelta(minutes=1))
    async with loaded.transaction() as conn:
        for rid, until in ((crashed, past), (busy, future)):
            await execute(conn, """UPDATE outbox SET status = 'sending', claimed_until = ?
                                   WHERE registration_id = ?""", (until, rid))

    assert await sender.deliver_due(loaded, mail_settings) == 1

    assert [e.rcpt_tos for e in inbox.envelopes] == [["crashed@example.org"]]
    assert (await fetch_one_row(loaded, busy))["status"] == "sending"


async def test_mail_two_senders_at_once_deliver_each_message_once(
        loaded: Database, settings: Settings, mail_settings: Settings, inbox: Inbox,
        smtp: Any) -> None:
    for n in range(7):
        await register(loaded, address=f"guest{n}@example.org")
    other = await Database(settings.db_path, synchronous="NORMAL").open()  # another process

    async def drain(db: Database) -> int:
        total = 0
        while sent := await sender.deliver_due(db, mail_settings, batch=2):
            total += sent
        return total

    try:
        counts = await asyncio.gather(drain(loaded), drain(other))
    finally:
        await other.close()

    assert sum(counts) == 7
    ids = [m["Message-ID"] for m in inbox.messages()]
    assert len(ids) == len(set(ids)) == 7
    assert (await overview.outbox_counts(loaded))["sent"] == 7


async def test_send_all_once_delivers_everything_due(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    for n in range(25):
        await register(loaded, address=f"guest{n}@example.org", status="waitlisted")

    assert await sender.send_all_once(mail_settings) == 25

    assert len(inbox.envelopes) == 25
    assert await overview.outbox_counts(loaded) == {"pending": 0, "sending": 0, "sent": 25,
                                                "failed": 0, "capped": 0}


async def test_send_all_once_without_smtp_says_so(settings: Settings) -> None:
    with pytest.raises(sender.MailNotConfigured, match="FESTIVAL_SMTP_URL"):
        await sender.send_all_once(settings)


# --- the sender in the server ------------------------------------------------------------

async def test_mail_sender_task_delivers_when_poked_and_stops_cleanly(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    worker = sender.MailSender(loaded, mail_settings, interval=3600).start()
    try:
        await register(loaded)
        worker.poke()
        await asyncio.wait_for(inbox.arrived.wait(), timeout=10)
    finally:
        await worker.stop()

    assert len(inbox.envelopes) == 1
    assert (await overview.outbox_counts(loaded))["sent"] == 1


async def test_mail_sender_keeps_going_past_a_message_it_cannot_compose(
        loaded: Database, mail_settings: Settings, inbox: Inbox, smtp: Any) -> None:
    await register(loaded)
    async with loaded.transaction() as conn:  # a message the sender cannot compose
        await execute(conn, "UPDATE outbox SET kind = 'nonsense'")
    await register(loaded, address="next@example.org")
    worker = sender.MailSender(loaded, mail_settings, interval=3600).start()
    try:
        await asyncio.wait_for(inbox.arrived.wait(), timeout=10)
    finally:
        await worker.stop()

    assert [e.rcpt_tos for e in inbox.envelopes] == [["next@example.org"]]
    broken = (await overview.list_outbox(loaded, status="pending"))[0]
    assert "unknown kind of mail" in broken["last_error"]


async def test_mail_without_smtp_stays_in_the_outbox_and_is_logged(
        loaded: Database, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    await register(loaded, address="delivered@example.org")
    async with loaded.transaction() as conn:
        await execute(conn, "UPDATE outbox SET status = 'sent'")
    await register(loaded, address="early@example.org")
    worker = sender.MailSender(loaded, settings)
    caplog.set_level(logging.INFO, logger="festival.mail")
    logs.install()  # as every server process does: no address in the log

    await worker.run_once()
    await register(loaded, address="late@example.org")
    await worker.run_once()
    await worker.run_once()

    messages = [r.getMessage() for r in caplog.records]
    assert any("1 messages wait in the outbox" in m for m in messages)
    assert sum("l***@example.org" in m for m in messages) == 1
    assert not any("d***@example.org" in m for m in messages)
    assert not any("late@" in m or "early@" in m for m in messages)
    assert [m["status"] for m in await overview.list_outbox(loaded)] == ["pending", "pending",
                                                                          "sent"]


async def test_list_outbox_shows_what_is_waiting_newest_first(
        loaded: Database, mail_settings: Settings) -> None:
    first = await register(loaded, address="a@example.org")
    second = await register(loaded, address="b@example.org", status="waitlisted")

    listed = await overview.list_outbox(loaded)

    assert [(m["registration_id"], m["kind"], m["status"]) for m in listed] == [
        (second, "waitlisted", "pending"), (first, "confirmed", "pending")]
    assert listed[0]["title"] == "Wallah, Je te jure"
    assert listed[0]["country"] == "NL"
    assert "message" not in listed[0]
    assert await overview.list_outbox(loaded, status="sent") == []
    with pytest.raises(ValueError):
        await overview.list_outbox(loaded, status="lost")


# --- configuration -----------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://127.0.0.1:1025", sender.SmtpTarget("127.0.0.1", 1025)),
    ("smtp://compose.example.org", sender.SmtpTarget("compose.example.org", 25)),
    ("smtps://u:p%40ss@compose.example.org",
     sender.SmtpTarget("compose.example.org", 465, use_tls=True, username="u", password="p@ss")),
    ("smtp+starttls://compose.example.org", sender.SmtpTarget("compose.example.org", 587,
                                                         start_tls=True)),
    ("smtp://compose.example.org:2525?starttls=1",
     sender.SmtpTarget("compose.example.org", 2525, start_tls=True)),
])
def test_smtp_url_names_host_port_tls_and_login(url: str, expected: sender.SmtpTarget) -> None:
    assert sender.parse_smtp_url(url) == expected


def test_smtp_url_that_is_not_smtp_is_refused() -> None:
    with pytest.raises(ValueError, match="smtp://host:port"):
        sender.parse_smtp_url("http://compose.example.org")
