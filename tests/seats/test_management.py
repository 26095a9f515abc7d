"""Organisers manage registrations (festival.seats.management): cancel, change seats,
move, resend, check in part of a party, write to all registrants. Seats stay exact, the
waitlist keeps its order, each action is audited and mailed, and countries are checked."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import timedelta
from typing import Any

import pytest

from festival.core import times
from festival.core.errors import Conflict, Forbidden, NotFound, ValidationError
from festival.core.store import Database, insert_returning_id
from festival.mail import outbox
from festival.seats import door, management
from tests.helpers import add_organiser, register, screening_id, sql


@pytest.fixture
async def nl(db: Database, programme: Any) -> dict[str, Any]:
    oid = await add_organiser(db, "nl@example.org", country="NL")
    return {"id": oid, "role": "organiser", "country": "NL", "email": "nl@example.org"}


@pytest.fixture
async def hague(db: Database, programme: Any) -> int:
    sid = await screening_id(db, "hague")
    await sql(db, "UPDATE screenings SET capacity = 4, max_seats = 4 WHERE id = ?", (sid,))
    return sid


async def second_screening(db: Database, source: int, capacity: int = 4) -> int:
    """A copy of `source` a day later, at the same venue, with its own key and UID."""
    row = dict(await db.fetch_one("SELECT * FROM screenings WHERE id = ?", (source,)))
    del row["id"]
    row.update(key=row["key"] + "-later", uid=row["uid"] + "-later", capacity=capacity,
               **{c: times.utc_text(times.parse_utc(row[c]) + timedelta(days=1))
                  for c in ("starts_at", "ends_at")})
    async with db.transaction() as conn:
        return await insert_returning_id(
            conn, f"INSERT INTO screenings ({', '.join(row)}) "
                  f"VALUES ({', '.join('?' * len(row))})", list(row.values()))


async def row(db: Database, rid: int) -> dict[str, Any]:
    found = await db.fetch_one("SELECT * FROM registrations WHERE id = ?", (rid,))
    assert found is not None
    return dict(found)


async def kinds(db: Database, rid: int) -> list[str]:
    return [r["kind"] for r in await db.fetch_all(
        "SELECT kind FROM outbox WHERE registration_id = ? ORDER BY id", (rid,))]


async def audit_actions(db: Database, rid: int) -> list[tuple[str, Any, Any]]:
    return [(r["action"], json.loads(r["before_json"] or "null"),
             json.loads(r["after_json"] or "null")) for r in await db.fetch_all(
        "SELECT * FROM audit_log WHERE entity = 'registration' AND entity_id = ? ORDER BY id",
        (rid,))]


async def taken(db: Database, sid: int) -> int:
    return int((await db.fetch_one(
        "SELECT COALESCE(SUM(seats), 0) AS n FROM registrations WHERE screening_id = ? "
        "AND status = 'confirmed'", (sid,)))["n"])


# --- cancel -----------------------------------------------------------------------------------

async def test_cancel_promotes_the_waitlist_in_order_mails_and_audits(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 3)
    bo = await register(db, hague, "Bo", "bo@example.org", 2)  # waits: only 1 free
    cy = await register(db, hague, "Cy", "cy@example.org", 1)  # waits behind Bo
    assert (bo["status"], cy["status"]) == ("waitlisted", "waitlisted")
    cancelled = await management.cancel(db, nl, hague, ana["id"])
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "organiser")
    assert (await row(db, bo["id"]))["status"] == "confirmed"
    assert (await row(db, cy["id"]))["status"] == "confirmed"
    assert await taken(db, hague) == 3
    assert await kinds(db, ana["id"]) == ["confirmed", "cancelled"]
    assert await kinds(db, bo["id"]) == ["waitlisted", "promoted"]
    assert ("registration.cancel", {"status": "confirmed"},
            {"status": "cancelled", "cancel_reason": "organiser"}) in await audit_actions(
        db, ana["id"])
    with pytest.raises(Conflict):
        await management.cancel(db, nl, hague, ana["id"])


async def test_organiser_cancellation_is_never_capped(db: Database, nl: dict[str, Any],
                                                     hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    await sql(db, "UPDATE outbox SET created_at = ?", (times.now_text(),))
    for _ in range(outbox.MAIL_CAP):  # the address's hourly cap is used up
        async with db.transaction() as conn:
            await outbox.enqueue(conn, kind="confirmed", registration_id=ana["id"])
    await management.cancel(db, nl, hague, ana["id"])
    last = await db.fetch_one("SELECT kind, status FROM outbox ORDER BY id DESC LIMIT 1")
    assert (last["kind"], last["status"]) == ("cancelled", "pending")


async def test_checked_in_cannot_be_cancelled(db: Database, nl: dict[str, Any],
                                              hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    await door.check_in(db, nl, ana["token"])
    with pytest.raises(Conflict):
        await management.cancel(db, nl, hague, ana["id"])


# --- seats ------------------------------------------------------------------------------------

async def test_fewer_seats_free_them_and_promote_in_strict_order(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 4)
    bo = await register(db, hague, "Bo", "bo@example.org", 3)
    cy = await register(db, hague, "Cy", "cy@example.org", 1)
    after = await management.change_seats(db, nl, hague, ana["id"], 2)
    assert after["seats"] == 2
    # Bo (3) does not fit in 2 free seats: Cy behind him is not promoted either.
    assert (await row(db, bo["id"]))["status"] == "waitlisted"
    assert (await row(db, cy["id"]))["status"] == "waitlisted"
    await management.change_seats(db, nl, hague, ana["id"], 1)
    assert (await row(db, bo["id"]))["status"] == "confirmed"
    assert await taken(db, hague) == 4
    assert (await row(db, cy["id"]))["status"] == "waitlisted"
    assert ("registration.seats", {"seats": 2}, {"seats": 1}) in await audit_actions(
        db, ana["id"])
    assert await kinds(db, ana["id"]) == ["confirmed", "confirmed", "confirmed"]


async def test_more_seats_only_when_they_fit_and_nobody_waits(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 2)
    await management.change_seats(db, nl, hague, ana["id"], 3)
    bo = await register(db, hague, "Bo", "bo@example.org", 2)  # waits: 1 free
    with pytest.raises(Conflict, match="waiting"):
        await management.change_seats(db, nl, hague, ana["id"], 4)
    await management.cancel(db, nl, hague, bo["id"])
    await management.change_seats(db, nl, hague, ana["id"], 4)
    assert await taken(db, hague) == 4
    other = await register(db, hague, "Cy", "cy@example.org", 1)
    with pytest.raises(ValidationError):
        await management.change_seats(db, nl, hague, other["id"], 5)  # over max_seats
    await management.change_seats(db, nl, hague, ana["id"], 3)  # Cy is promoted
    assert (await row(db, other["id"]))["status"] == "confirmed"
    with pytest.raises(Conflict, match="more seats"):
        await management.change_seats(db, nl, hague, other["id"], 2)
    assert await taken(db, hague) == 4


# --- move -------------------------------------------------------------------------------------

async def test_move_keeps_the_token_promotes_the_old_waitlist_and_mails(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    later = await second_screening(db, hague, capacity=3)
    ana = await register(db, hague, "Ana", "ana@example.org", 3)
    bo = await register(db, hague, "Bo", "bo@example.org", 2)
    moved = await management.move(db, nl, hague, ana["id"], later)
    assert (moved["screening_id"], moved["token"], moved["status"]) == (
        later, ana["token"], "confirmed")
    assert (await row(db, bo["id"]))["status"] == "confirmed"
    assert await taken(db, hague) == 2 and await taken(db, later) == 3
    assert await kinds(db, ana["id"]) == ["confirmed", "moved"]
    assert ("registration.move", {"screening_id": hague, "status": "confirmed"},
            {"screening_id": later, "status": "confirmed"}) in await audit_actions(
        db, ana["id"])
    # Full there now: Bo cannot follow, and nothing changes.
    with pytest.raises(Conflict, match="Not enough free seats"):
        await management.move(db, nl, hague, bo["id"], later)
    assert (await row(db, bo["id"]))["screening_id"] == hague
    with pytest.raises(ValidationError):
        await management.move(db, nl, hague, bo["id"], hague)


async def test_move_only_within_the_country(db: Database, nl: dict[str, Any], hague: int,
                                           ) -> None:
    admin = {"id": await add_organiser(db, "admin@example.org", role="admin", country=None),
             "role": "admin", "country": None}
    sydney = await screening_id(db, "sydney")
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    with pytest.raises(Forbidden):
        await management.move(db, nl, hague, ana["id"], sydney)
    with pytest.raises(ValidationError) as refused:
        await management.move(db, admin, hague, ana["id"], sydney)
    assert "same country" in str(refused.value.fields["screening"])
    assert (await row(db, ana["id"]))["screening_id"] == hague


# --- country scoping, resend, arrivals ---------------------------------------------------------

async def test_another_countrys_organiser_is_refused(db: Database, hague: int) -> None:
    au = {"id": await add_organiser(db, "au@example.org", country="AU"), "role": "organiser",
          "country": "AU"}
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    for call in (management.cancel(db, au, hague, ana["id"]),
                 management.change_seats(db, au, hague, ana["id"], 2),
                 management.resend_ticket(db, au, hague, ana["id"]),
                 management.check_in_seats(db, au, hague, ana["id"], 1),
                 management.send_message(db, au, hague, "Hi", "Text")):
        with pytest.raises(Forbidden):
            await call
    sydney = await screening_id(db, "sydney")
    with pytest.raises(NotFound):  # a registration of another screening than the one named
        await management.cancel(db, au, sydney, ana["id"])
    assert (await row(db, ana["id"]))["status"] == "confirmed"


async def test_resend_is_never_capped(db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    for _ in range(outbox.MAIL_CAP + 2):
        await management.resend_ticket(db, nl, hague, ana["id"])
    statuses = {r["status"] for r in await db.fetch_all(
        "SELECT status FROM outbox WHERE registration_id = ?", (ana["id"],))}
    assert statuses == {"pending"}
    assert sum(a == "registration.resend" for a, _b, _c in await audit_actions(
        db, ana["id"])) == outbox.MAIL_CAP + 2


async def test_part_of_a_party_checks_in_and_the_rest_later(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 3)
    first = await management.check_in_seats(db, nl, hague, ana["id"], 2)
    assert (first["checked_in_seats"], first["checked_in_by"]) == (2, nl["id"])
    listing = await door.attendees(db, nl, hague)
    assert listing["counts"]["checked_in"] == {"registrations": 1, "seats": 2}
    assert listing["confirmed"][0]["arrived_seats"] == 2
    with pytest.raises(ValidationError):
        await management.check_in_seats(db, nl, hague, ana["id"], 2)  # only 1 left
    with pytest.raises(ValidationError):
        await management.change_seats(db, nl, hague, ana["id"], 1)  # 2 are here
    last = await management.check_in_seats(db, nl, hague, ana["id"], 1)
    assert last["checked_in_seats"] == 3 and last["checked_in_at"] == first["checked_in_at"]
    with pytest.raises(Conflict):
        await management.check_in_seats(db, nl, hague, ana["id"], 1)
    actions = [(b, c) for a, b, c in await audit_actions(db, ana["id"])
               if a == "registration.check_in"]
    assert actions == [({"checked_in_seats": 0}, {"checked_in_seats": 2}),
                       ({"checked_in_seats": 2}, {"checked_in_seats": 3})]


# --- writing to all registrants ------------------------------------------------------------------

async def test_message_goes_to_every_live_registrant_with_an_address(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 3)
    bo = await register(db, hague, "Bo", "bo@example.org", 2)  # waitlisted: gets it too
    cy = await register(db, hague, "Cy", "cy@example.org", 1)
    await management.cancel(db, nl, hague, cy["id"])  # cancelled: does not
    await door.add_walk_in(db, nl, hague, "Dee", 1)  # no address: does not
    preview = await management.message_preview(db, nl, hague, " Doors at 18:30 ",
                                               "Hello <b>all</b>\r\n\r\nSee you")
    assert preview["recipients"] == 2
    assert preview["message"] == {"subject": "Doors at 18:30",
                                  "body": "Hello <b>all</b>\n\nSee you"}
    assert preview["facts"].note["body"] == "Hello <b>all</b>\n\nSee you"
    assert preview["facts"].registration["token"] == "TICKET"  # never a real token
    assert preview["facts"].attendee_secret is None
    sent = await management.send_message(db, nl, hague, "Doors at 18:30", "Hello <b>all</b>")
    assert sent == 2
    rows = await db.fetch_all("SELECT registration_id, status, screening_message_id FROM outbox "
                              "WHERE kind = 'message' ORDER BY registration_id")
    assert [(r["registration_id"], r["status"]) for r in rows] == [
        (ana["id"], "pending"), (bo["id"], "pending")]
    entry = await db.fetch_one("SELECT * FROM audit_log WHERE action = 'screening.message'")
    assert json.loads(entry["after_json"]) == {"subject": "Doors at 18:30", "recipients": 2}
    with pytest.raises(ValidationError) as refused:
        await management.send_message(db, nl, hague, "Two\nlines", "")
    assert set(refused.value.fields) == {"subject", "body"}


async def test_the_mails_render_escaped_and_in_words(db: Database, nl: dict[str, Any],
                                                    hague: int, settings: Any) -> None:
    from festival.mail import compose, sender

    later = await second_screening(db, hague)
    ana = await register(db, hague, "Ana", "ana@example.org", 1)
    bo = await register(db, hague, "Bo", "bo@example.org", 1)
    await management.send_message(db, nl, hague, "Doors at 18:30", "Hi <b>all</b>\n\nBye")
    await management.move(db, nl, hague, ana["id"], later)
    await management.cancel(db, nl, hague, bo["id"])
    texts = {}
    for r in await db.fetch_all("SELECT * FROM outbox WHERE kind IN ('message', 'moved', "
                                "'cancelled') ORDER BY id"):
        message = await sender.render_pending(db, settings, r)
        texts[(r["kind"], r["registration_id"])] = (compose.subject_of(message), message)
    subject, body = texts[("message", ana["id"])]
    assert subject == "Doors at 18:30"
    parsed = email.message_from_bytes(body, policy=email.policy.default)
    html = parsed.get_body(("html",)).get_content()
    assert "<p>Hi &lt;b&gt;all&lt;/b&gt;</p>" in html and "<b>all" not in html
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Hi <b>all</b>\n\nBye" in plain
    subject, body = texts[("moved", ana["id"])]
    assert subject.startswith("Your registration has moved to") and b"method=REQUEST" in body
    subject, body = texts[("cancelled", bo["id"])]
    assert b"organisers have cancelled" in body.replace(b"=\r\n", b"")


async def test_the_rest_of_a_party_is_admitted_when_its_ticket_is_scanned(
        db: Database, nl: dict[str, Any], hague: int) -> None:
    ana = await register(db, hague, "Ana", "ana@example.org", 3)
    await management.check_in_seats(db, nl, hague, ana["id"], 2)
    rest = await door.check_in(db, nl, ana["token"], screening_id=hague)
    assert rest["arrived_seats"] == 3
    with pytest.raises(door.AlreadyCheckedIn):  # the whole party is in now
        await door.check_in(db, nl, ana["token"], screening_id=hague)
