"""Holding seats until the attendee confirms their address (an edition's confirm_email):
held seats are taken, only the mailed code confirms them, a hold that runs out is
cancelled as 'expired' and the waitlist moves up in order, lazily and by expire_holds."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from festival.core.errors import Conflict, NotFound, ValidationError
from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail import compose, outbox
from festival.seats import registrations
from tests.helpers import screening_id

T0 = datetime(2099, 11, 1, 10, 0, tzinfo=UTC)  # a month before the sample's screenings
LATER = T0 + timedelta(minutes=31)  # past a 30-minute hold


async def confirming(db: Database, *, capacity: int = 4, hold_minutes: int = 30) -> int:
    """The sample's Hague screening with `capacity` seats, in an edition that holds seats
    until the address is confirmed; answers its id."""
    await registrations.set_email_confirmation(db, "2099", required=True,
                                               hold_minutes=hold_minutes)
    sid = await screening_id(db, "hague")
    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = ? WHERE id = ?", (capacity, sid))
    return sid


async def reg(db: Database, sid: int, who: str, seats: int = 1, *,
              now: datetime = T0) -> dict[str, Any]:
    registration, created = await registrations.register(
        db, sid, who.title(), f"{who}@example.org", seats, now=now)
    assert created
    return registration


async def row(db: Database, token: str) -> dict[str, Any]:
    found = await db.fetch_one("SELECT * FROM registrations WHERE token = ?", (token,))
    assert found is not None
    return dict(found)


async def code_of(db: Database, token: str) -> str:
    return str((await row(db, token))["confirm_code"])


async def taken(db: Database, sid: int) -> int:
    found = await db.fetch_one("SELECT COALESCE(SUM(seats), 0) FROM registrations"
                               " WHERE screening_id = ? AND status IN ('confirmed', 'held')",
                               (sid,))
    assert found is not None
    return int(found[0])


async def kinds(db: Database, token: str) -> list[str]:
    rows = await db.fetch_all(
        "SELECT o.kind FROM outbox o JOIN registrations r ON r.id = o.registration_id"
        " WHERE r.token = ? ORDER BY o.id", (token,))
    return [r["kind"] for r in rows]


async def mail_to(db: Database, settings: Settings, token: str, kind: str) -> EmailMessage:
    """The composed message of `kind` to the registration with `token`."""
    found = await db.fetch_one(
        "SELECT o.* FROM outbox o JOIN registrations r ON r.id = o.registration_id"
        " WHERE r.token = ? AND o.kind = ? ORDER BY o.id DESC", (token, kind))
    assert found is not None
    async with db.reader() as conn:
        facts = await outbox.read_facts(conn, kind=kind, registration_id=found["registration_id"],
                                        message_id=found["message_id"],
                                        queued_at=found["created_at"])
    return compose.compose(facts, settings)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


# --- off by default -------------------------------------------------------------------------

async def test_without_the_edition_flag_registering_confirms_at_once(loaded):
    sid = await screening_id(loaded, "hague")
    ana = await reg(loaded, sid, "ana")
    assert ana["status"] == "confirmed" and ana["held_until"] is None
    assert "confirm_code" not in ana
    assert (await row(loaded, ana["token"]))["confirm_code"] is None


# --- held, confirmed --------------------------------------------------------------------------

async def test_a_new_registration_is_held_and_its_seats_are_taken(loaded):
    sid = await confirming(loaded, capacity=3)
    ana = await reg(loaded, sid, "ana", 2)
    bo = await reg(loaded, sid, "bo", 2)  # 2 held of 3: Bo waits

    assert ana["status"] == "held" and ana["held_until"] == "2099-11-01T10:30:00Z"
    assert bo["status"] == "waitlisted" and bo["waitlist_position"] == 1
    assert await taken(loaded, sid) == 2
    # What the registrant is answered never holds the code that confirms.
    assert "confirm_code" not in ana and await code_of(loaded, ana["token"]) not in str(ana)
    assert await kinds(loaded, ana["token"]) == ["held"]


async def test_only_the_mailed_code_confirms_and_confirming_queues_the_invitation(
        loaded, settings):
    sid = await confirming(loaded)
    ana = await reg(loaded, sid, "ana", 2)

    with pytest.raises(NotFound):
        await registrations.confirm(loaded, ana["token"], "")
    with pytest.raises(NotFound):
        await registrations.confirm(loaded, ana["token"], ana["token"])  # the token is no code
    with pytest.raises(NotFound):
        await registrations.confirm(loaded, ana["token"], "é" * 40)
    assert (await row(loaded, ana["token"]))["status"] == "held"

    code = await code_of(loaded, ana["token"])
    done = await registrations.confirm(loaded, ana["token"], code, now=T0 + timedelta(minutes=5))
    again = await registrations.confirm(loaded, ana["token"], code)

    assert done["status"] == again["status"] == "confirmed" and done["held_until"] is None
    assert done["confirmed_at"] == done["email_confirmed_at"] == "2099-11-01T10:05:00Z"
    assert await kinds(loaded, ana["token"]) == ["held", "confirmed"]  # once, not twice
    invitation = await mail_to(loaded, settings, ana["token"], "confirmed")
    assert any(p.get_content_type() == "text/calendar" for p in invitation.walk())


async def test_the_held_mail_carries_the_confirmation_link_and_no_invitation(loaded, settings):
    sid = await confirming(loaded)
    ana = await reg(loaded, sid, "ana")
    code = await code_of(loaded, ana["token"])

    message = await mail_to(loaded, settings, ana["token"], "held")
    text = text_of(message)

    assert "Please confirm your email address" in message["Subject"]
    link = f"https://festival.example.org/tickets/{ana['token']}/confirm?code={code}"
    assert link in text
    assert "11:30" in text  # 10:30 UTC, local time at the venue (Amsterdam, CET)
    assert not any(p.get_content_type() == "text/calendar" for p in message.walk())


# --- running out -------------------------------------------------------------------------------

async def test_an_unconfirmed_hold_expires_and_the_waitlist_moves_up_in_order(loaded, settings):
    sid = await confirming(loaded, capacity=3)
    ana = await reg(loaded, sid, "ana", 2)
    bo = await reg(loaded, sid, "bo", 3, now=T0 + timedelta(minutes=1))
    cy = await reg(loaded, sid, "cy", 1, now=T0 + timedelta(minutes=2))
    assert (bo["status"], cy["status"]) == ("waitlisted", "waitlisted")  # nobody jumps Bo

    assert await registrations.expire_holds(loaded, now=T0 + timedelta(minutes=29)) == 0
    assert await registrations.expire_holds(loaded, now=LATER) == 1
    assert await registrations.expire_holds(loaded, now=LATER) == 0

    ana_now = await row(loaded, ana["token"])
    assert (ana_now["status"], ana_now["cancel_reason"]) == ("cancelled", "expired")
    # Bo, first in line, gets the whole room, held in turn (not yet confirmed); Cy waits.
    bo_now, cy_now = await row(loaded, bo["token"]), await row(loaded, cy["token"])
    assert bo_now["status"] == "held" and bo_now["held_until"] == "2099-11-01T11:01:00Z"
    assert cy_now["status"] == "waitlisted"
    assert await taken(loaded, sid) == 3
    assert await kinds(loaded, ana["token"]) == ["held", "expired"]
    assert await kinds(loaded, bo["token"]) == ["waitlisted", "promoted"]
    expired = await mail_to(loaded, settings, ana["token"], "expired")
    assert expired["Subject"].startswith("Not confirmed in time: your registration for")
    promoted = text_of(await mail_to(loaded, settings, bo["token"], "promoted"))
    assert f"/tickets/{bo['token']}/confirm?code=" in promoted

    # Too late to confirm: the seats went to others.
    with pytest.raises(Conflict):
        await registrations.confirm(loaded, ana["token"], await code_of(loaded, ana["token"]))


async def test_a_hold_that_ran_out_is_expired_lazily_by_the_next_write(loaded):
    sid = await confirming(loaded, capacity=2)
    ana = await reg(loaded, sid, "ana", 2)
    bo = await reg(loaded, sid, "bo", 2, now=T0 + timedelta(minutes=1))
    assert bo["status"] == "waitlisted"

    # No periodic run: the next registration for the screening expires Ana's hold,
    # promotes Bo first (he was waiting), and only then decides about Cy.
    cy = await reg(loaded, sid, "cy", 1, now=LATER)

    assert (await row(loaded, ana["token"]))["cancel_reason"] == "expired"
    assert (await row(loaded, bo["token"]))["status"] == "held"
    assert cy["status"] == "waitlisted" and cy["waitlist_position"] == 1
    assert await taken(loaded, sid) == 2


async def test_reading_a_ticket_whose_hold_ran_out_shows_it_expired(loaded):
    sid = await confirming(loaded, hold_minutes=5)
    ana = await reg(loaded, sid, "ana", 1, now=datetime.now(UTC) - timedelta(minutes=10))
    assert ana["status"] == "held"

    seen = await registrations.get_registration(loaded, ana["token"])

    assert seen["status"] == "cancelled" and seen["cancel_reason"] == "expired"


async def test_cancelling_a_held_registration_frees_its_seats_without_an_invitation(
        loaded, settings):
    sid = await confirming(loaded, capacity=1)
    ana = await reg(loaded, sid, "ana")
    bo = await reg(loaded, sid, "bo", now=T0 + timedelta(minutes=1))

    cancelled = await registrations.cancel(loaded, ana["token"], now=T0 + timedelta(minutes=2))

    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "attendee"
    assert (await row(loaded, bo["token"]))["status"] == "held"
    message = await mail_to(loaded, settings, ana["token"], "cancelled")
    assert not any(p.get_content_type() == "text/calendar" for p in message.walk())


async def test_a_waiting_attendee_who_confirmed_early_is_confirmed_when_promoted(loaded):
    sid = await confirming(loaded, capacity=1)
    ana = await reg(loaded, sid, "ana")
    bo = await reg(loaded, sid, "bo", now=T0 + timedelta(minutes=1))
    waiting = await registrations.confirm(loaded, bo["token"], await code_of(loaded, bo["token"]),
                                          now=T0 + timedelta(minutes=2))
    assert waiting["status"] == "waitlisted" and waiting["email_confirmed_at"]

    await registrations.cancel(loaded, ana["token"], now=T0 + timedelta(minutes=3))

    assert (await row(loaded, bo["token"]))["status"] == "confirmed"


async def test_held_and_confirmed_seats_never_exceed_capacity_under_a_race(loaded):
    sid = await confirming(loaded, capacity=10)

    async def one(i: int) -> dict[str, Any]:
        return await reg(loaded, sid, f"p{i}", 1 + i % 3, now=T0)

    made = await asyncio.gather(*(one(i) for i in range(40)))
    assert await taken(loaded, sid) <= 10
    # Half of the holds run out while the others are confirmed: still never more.
    for registration in made[::2]:
        if registration["status"] == "held":
            await registrations.confirm(loaded, registration["token"],
                                        await code_of(loaded, registration["token"]),
                                        now=T0 + timedelta(minutes=10))
    await registrations.expire_holds(loaded, now=LATER)
    assert 0 < await taken(loaded, sid) <= 10
    statuses = {r["status"] for r in await loaded.fetch_all(
        "SELECT status FROM registrations WHERE screening_id = ?", (sid,))}
    assert statuses <= {"confirmed", "held", "waitlisted", "cancelled"}


# --- the edition's setting ---------------------------------------------------------------------

async def test_organisers_set_the_rule_per_edition_with_an_audit_entry(loaded):
    with pytest.raises(ValidationError):
        await registrations.set_email_confirmation(loaded, "2099", required=True,
                                                   hold_minutes=2)
    with pytest.raises(NotFound):
        await registrations.set_email_confirmation(loaded, "1999", required=True)

    answer = await registrations.set_email_confirmation(loaded, "2099", required=True,
                                                        hold_minutes=45, organiser_id=None)

    assert answer == {"edition": "2099", "confirm_email": True, "hold_minutes": 45}
    entry = await loaded.fetch_one("SELECT action, after_json FROM audit_log"
                                   " WHERE entity = 'edition' ORDER BY id DESC")
    assert entry is not None and entry["action"] == "edition.confirm_email"
    assert '"hold_minutes": 45' in entry["after_json"]


# --- what attendees see ------------------------------------------------------------------------

async def test_the_api_ticket_page_and_feed_show_a_hold(app, client, programme):
    sid = await confirming(app.state.db)
    answer = await client.post(f"/api/v1/screenings/{sid}/registrations",
                               json={"name": "Ana", "email": "ana@example.org", "seats": 2})
    body = answer.json()
    assert answer.status_code == 201 and body["status"] == "held"
    assert body["held_until"] and "confirm_code" not in body
    code = await code_of(app.state.db, body["token"])
    assert code not in answer.text

    ticket = await client.get(f"/tickets/{body['token']}")
    assert "held until you confirm your email address" in ticket.text
    assert code not in ticket.text and "<svg" not in ticket.text  # no door code yet

    feed = await client.get(f"/feeds/tickets/{body['token']}.ics")
    assert "STATUS:TENTATIVE" in feed.text and "SUMMARY:Unconfirmed: " in feed.text


async def test_the_confirmation_page_confirms_only_on_post(app, client, programme):
    db = app.state.db
    sid = await confirming(db)
    ana = await reg(db, sid, "ana", now=datetime.now(UTC))
    code = await code_of(db, ana["token"])
    link = f"/tickets/{ana['token']}/confirm?code={code}"

    page = await client.get(link)  # what a mail scanner would open
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert (await row(db, ana["token"]))["status"] == "held"
    assert (await client.get(f"/tickets/{ana['token']}/confirm?code=wrong")).status_code == 404

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = await client.post(f"/tickets/{ana['token']}/confirm", data={"code": code})
    assert forged.status_code == 403
    wrong = await client.post(f"/tickets/{ana['token']}/confirm",
                              data={"code": "x" * 32, "csrf_token": csrf.group(1)})
    assert wrong.status_code == 404
    done = await client.post(f"/tickets/{ana['token']}/confirm",
                             data={"code": code, "csrf_token": csrf.group(1)})

    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ana['token']}"
    assert (await row(db, ana["token"]))["status"] == "confirmed"
    assert "Your 1 seat is confirmed." in (await client.get(done.headers["location"])).text
