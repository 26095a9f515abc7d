"""Registrations: confirmed while seats fit, the waitlist in strict order of arrival,
one registration per email, closed once started or cancelled, and exact seat counts
under a race of concurrent requests."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from festival.core.errors import Conflict, NotFound, RegistrationClosed, ValidationError
from festival.core.store import Database
from festival.programme.loader import import_programme
from festival.seats import registrations
from tests.helpers import screening_id
from tests.helpers import written as counts


def programme_with(sample: dict[str, Any], key: str = "hague", **changes: Any) -> dict[str, Any]:
    """The sample programme with one screening changed (e.g. capacity=3)."""
    data = copy.deepcopy(sample)
    for screening in data["screenings"]:
        if screening["key"] == key:
            screening.update(changes)
    return data


async def load(db: Database, sample: dict[str, Any], **changes: Any) -> int:
    """Loads the sample with the Hague screening changed; answers its id."""
    await import_programme(db, programme_with(sample, **changes))
    return await screening_id(db, "hague")


async def mails(db: Database) -> list[tuple[str, int]]:
    rows = await db.fetch_all("SELECT kind, registration_id FROM outbox ORDER BY id")
    return [(r["kind"], r["registration_id"]) for r in rows]


async def status_of(db: Database, token: str) -> str:
    row = await db.fetch_one("SELECT status FROM registrations WHERE token = ?", (token,))
    assert row is not None
    return str(row["status"])


async def reg(db: Database, sid: int, who: str, seats: int = 1) -> dict[str, Any]:
    registration, created = await registrations.register(db, sid, who.title(),
                                                         f"{who}@example.org", seats)
    assert created
    return registration


# --- register --------------------------------------------------------------------------------

async def test_register_confirms_when_seats_fit_and_queues_mail(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)

    registration, created = await registrations.register(
        db, sid, "  Ana Reyes ", " Ana@Example.org ", 2, locale="fr")

    assert created
    assert registration["status"] == "confirmed"
    assert (registration["name"], registration["email"]) == ("Ana Reyes", "Ana@Example.org")
    assert registration["seats"] == 2 and registration["waitlist_position"] is None
    assert len(registration["token"]) >= 32  # >= 24 random bytes: 192 bits
    outbox = await db.fetch_all("SELECT kind, recipient, status, message_id FROM outbox")
    assert [(r["kind"], r["recipient"], r["status"]) for r in outbox] == [
        ("confirmed", "Ana@Example.org", "pending")]
    assert outbox[0]["message_id"].startswith("<") and outbox[0]["message_id"].endswith(">")
    stored = await db.fetch_one("SELECT email_key, locale FROM registrations")
    assert stored is not None and tuple(stored) == ("ana@example.org", "fr")


async def test_register_tokens_are_unique_and_long(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    tokens = {(await reg(db, sid, f"person{i}"))["token"] for i in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 32 for t in tokens)


async def test_register_waitlists_when_full_without_queue_jumping(db, sample_programme):
    sid = await load(db, sample_programme, capacity=3)

    first = await reg(db, sid, "first", 2)
    second = await reg(db, sid, "second", 2)  # 1 seat left: a party of 2 waits
    third = await reg(db, sid, "third", 1)  # 1 seat would fit, but someone waits ahead

    assert [first["status"], second["status"], third["status"]] == [
        "confirmed", "waitlisted", "waitlisted"]
    assert [second["waitlist_position"], third["waitlist_position"]] == [1, 2]
    assert [kind for kind, _id in await mails(db)] == ["confirmed", "waitlisted", "waitlisted"]


async def test_register_same_email_returns_existing_case_insensitively(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    first, created = await registrations.register(db, sid, "Ana", "Ana@Example.org", 2)

    again, created_again = await registrations.register(db, sid, "Ana R.", " ANA@example.ORG ", 4)

    assert created and not created_again
    assert again["token"] == first["token"] and again["seats"] == 2
    assert await counts(db) == (1, 1)


async def test_register_same_email_other_screening_is_a_new_registration(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    other = await screening_id(db, "sydney")
    await registrations.register(db, sid, "Ana", "ana@example.org", 1)

    _registration, created = await registrations.register(db, other, "Ana", "ana@example.org", 1)

    assert created


async def test_register_after_cancelling_creates_a_new_registration(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    first = await reg(db, sid, "ana")
    await registrations.cancel(db, first["token"])

    again, created = await registrations.register(db, sid, "Ana", "ana@example.org", 1)

    assert created and again["token"] != first["token"] and again["status"] == "confirmed"


async def test_register_closed_once_the_screening_started(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    starts = datetime(2099, 12, 13, 18, 0, tzinfo=UTC)  # 19:00 in The Hague

    with pytest.raises(RegistrationClosed):
        await registrations.register(db, sid, "Ana", "ana@example.org", 1, now=starts)
    assert await counts(db) == (0, 0)
    late, _ = await registrations.register(db, sid, "Ana", "ana@example.org", 1,
                                           now=datetime(2099, 12, 13, 17, 59, 59, tzinfo=UTC))
    assert late["status"] == "confirmed"


async def test_register_closed_for_a_cancelled_screening(db, sample_programme):
    await import_programme(db, sample_programme)
    sid = await screening_id(db, "niamey")

    with pytest.raises(RegistrationClosed) as caught:
        await registrations.register(db, sid, "Ana", "ana@example.org", 1)
    assert "cancelled" in caught.value.message
    assert await counts(db) == (0, 0)


async def test_register_unknown_or_draft_screening_is_not_found(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    with pytest.raises(NotFound):
        await registrations.register(db, 999_999, "Ana", "ana@example.org", 1)
    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET status = 'draft' WHERE id = ?", (sid,))
    with pytest.raises(NotFound):
        await registrations.register(db, sid, "Ana", "ana@example.org", 1)
    assert await counts(db) == (0, 0)


BAD_INPUT = [
    ("name", {"name": ""}),
    ("name", {"name": "   "}),
    ("name", {"name": None}),
    ("name", {"name": 42}),
    ("name", {"name": "x" * 201}),
    ("name", {"name": "Ana\nReyes"}),
    ("name", {"name": "Ana\x00"}),
    ("name", {"name": "Ana\ud800"}),
    ("email", {"email": ""}),
    ("email", {"email": None}),
    ("email", {"email": ["ana@example.org"]}),
    ("email", {"email": "ana"}),
    ("email", {"email": "ana@example"}),
    ("email", {"email": "ana@@example.org"}),
    ("email", {"email": "an a@example.org"}),
    ("email", {"email": ".ana@example.org"}),
    ("email", {"email": "ana@-example.org"}),
    ("email", {"email": "ana@example.org\r\nBcc: x@example.org"}),
    ("email", {"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".org"}),
    ("email", {"email": "üser@example.org"}),  # deliverable only with SMTPUTF8
    ("email", {"email": "user@exämple.org"}),
    ("seats", {"seats": 0}),
    ("seats", {"seats": 5}),
    ("seats", {"seats": -1}),
    ("seats", {"seats": True}),
    ("seats", {"seats": 2.0}),
    ("seats", {"seats": "2"}),
    ("seats", {"seats": None}),
    ("seats", {"seats": 10**100}),
]


@pytest.mark.parametrize(("field", "change"), BAD_INPUT)
async def test_register_bad_input_names_the_field_and_writes_nothing(
    db, sample_programme, field, change
):
    sid = await load(db, sample_programme, capacity=50)
    values = {"name": "Ana", "email": "ana@example.org", "seats": 1, **change}

    with pytest.raises(ValidationError) as caught:
        await registrations.register(db, sid, values["name"], values["email"], values["seats"])

    assert list(caught.value.fields) == [field]
    assert caught.value.fields[field]
    assert await counts(db) == (0, 0)


async def test_register_reports_every_bad_field_at_once(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    with pytest.raises(ValidationError) as caught:
        await registrations.register(db, sid, "", "nope", 9)
    assert set(caught.value.fields) == {"name", "email", "seats"}
    assert "1 to 4" in caught.value.fields["seats"]


async def test_register_accepts_unusual_but_valid_input(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    for i, (name, email) in enumerate([
        ("Zoë O'Brien-Núñez", "zoe.o'brien+festival@example.org"),
        ("Nguyễn Thị Minh Khai", "minh@xn--bcher-kva.example"),
        ("محمد", "mohamed@example.org"),
        ("x" * 200, f"p{'q' * 60}@sub.example.co.uk"),
    ]):
        registration, created = await registrations.register(db, sid, name, email, i + 1)
        assert created and registration["status"] == "confirmed"


async def test_register_refuses_a_party_larger_than_the_room(db, sample_programme):
    sid = await load(db, sample_programme, capacity=2)
    with pytest.raises(ValidationError) as caught:
        await registrations.register(db, sid, "Ana", "ana@example.org", 3)
    assert "only 2 seats" in caught.value.fields["seats"]


async def test_register_respects_the_screenings_own_maximum(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50, max_seats=8)
    registration, _ = await registrations.register(db, sid, "Ana", "ana@example.org", 8)
    assert registration["seats"] == 8
    with pytest.raises(ValidationError):
        await registrations.register(db, sid, "Bo", "bo@example.org", 9)


# --- cancel and the waitlist ---------------------------------------------------------------------

async def test_cancel_frees_seats_and_promotes_in_arrival_order(db, sample_programme):
    sid = await load(db, sample_programme, capacity=2)
    a, b = await reg(db, sid, "a"), await reg(db, sid, "b")
    c, d, e = await reg(db, sid, "c"), await reg(db, sid, "d"), await reg(db, sid, "e")

    cancelled = await registrations.cancel(db, a["token"])
    await registrations.cancel(db, b["token"])

    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert [await status_of(db, r["token"]) for r in (c, d, e)] == [
        "confirmed", "confirmed", "waitlisted"]
    assert (await registrations.get_registration(db, e["token"]))["waitlist_position"] == 1
    assert await mails(db) == [
        ("confirmed", a["id"]), ("confirmed", b["id"]), ("waitlisted", c["id"]),
        ("waitlisted", d["id"]), ("waitlisted", e["id"]),
        ("cancelled", a["id"]), ("promoted", c["id"]),
        ("cancelled", b["id"]), ("promoted", d["id"])]


async def test_cancel_twice_answers_the_same_and_mails_once(db, sample_programme):
    sid = await load(db, sample_programme, capacity=2)
    a = await reg(db, sid, "a")

    first = await registrations.cancel(db, a["token"])
    second = await registrations.cancel(db, a["token"])

    assert first == second
    assert [kind for kind, _id in await mails(db)] == ["confirmed", "cancelled"]


async def test_cancel_after_check_in_is_refused_and_keeps_the_seat(db, sample_programme):
    sid = await load(db, sample_programme, capacity=1)
    a = await reg(db, sid, "a")
    b = await reg(db, sid, "b")  # waiting for a's seat
    async with db.transaction() as conn:
        await conn.execute("UPDATE registrations SET checked_in_at = '2099-12-13T17:55:00Z'"
                           " WHERE id = ?", (a["id"],))

    with pytest.raises(Conflict):
        await registrations.cancel(db, a["token"])

    statuses = await db.fetch_all("SELECT status FROM registrations ORDER BY id")
    assert [r["status"] for r in statuses] == ["confirmed", "waitlisted"]
    assert [kind for kind, _id in await mails(db)] == ["confirmed", "waitlisted"]
    assert b["status"] == "waitlisted"


async def test_cancel_unknown_token_is_not_found(db, sample_programme):
    await load(db, sample_programme, capacity=2)
    for token in ("nope", "x" * 32, "x" * 500):
        with pytest.raises(NotFound):
            await registrations.cancel(db, token)


async def test_waitlist_rule_strict_order_a_party_that_does_not_fit_holds_the_queue(
    db, sample_programme
):
    """The documented rule: the longest-waiting party is confirmed first when its seats
    fit; when it does not fit, nobody behind it jumps ahead, not even a smaller party
    that would fit. Parties are promoted whole, never in part."""
    sid = await load(db, sample_programme, capacity=4)
    a, b = await reg(db, sid, "a", 2), await reg(db, sid, "b", 2)
    family, single = await reg(db, sid, "family", 3), await reg(db, sid, "single", 1)

    await registrations.cancel(db, a["token"])  # 2 seats free: the family of 3 does not fit

    family_now = await registrations.get_registration(db, family["token"])
    assert (family_now["status"], family_now["seats"]) == ("waitlisted", 3)
    assert await status_of(db, single["token"]) == "waitlisted"  # no jumping ahead

    await registrations.cancel(db, b["token"])  # 4 free: the family, then the single

    assert await status_of(db, family["token"]) == "confirmed"
    assert await status_of(db, single["token"]) == "confirmed"
    promoted = [rid for kind, rid in await mails(db) if kind == "promoted"]
    assert promoted == [family["id"], single["id"]]


async def test_cancel_of_a_waiting_party_lets_the_next_one_in(db, sample_programme):
    sid = await load(db, sample_programme, capacity=3)
    await reg(db, sid, "a", 2)
    pair, single = await reg(db, sid, "pair", 2), await reg(db, sid, "single", 1)
    assert await status_of(db, single["token"]) == "waitlisted"

    await registrations.cancel(db, pair["token"])

    assert await status_of(db, single["token"]) == "confirmed"


async def test_promote_waitlist_after_a_capacity_increase(db, sample_programme):
    sid = await load(db, sample_programme, capacity=2)
    await reg(db, sid, "a", 2)
    b, c, d = await reg(db, sid, "b"), await reg(db, sid, "c", 2), await reg(db, sid, "d")

    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 5 WHERE id = ?", (sid,))
        promoted = await registrations.promote_waitlist(conn, sid)

    assert promoted == [b["id"], c["id"]]  # 3 free: b (1) and c (2); d waits for a seat
    assert await status_of(db, d["token"]) == "waitlisted"


async def test_no_promotion_once_the_screening_started(db, sample_programme):
    sid = await load(db, sample_programme, capacity=1)
    a, b = await reg(db, sid, "a"), await reg(db, sid, "b")

    await registrations.cancel(db, a["token"], now=datetime(2099, 12, 13, 18, 30, tzinfo=UTC))

    assert await status_of(db, b["token"]) == "waitlisted"
    assert [kind for kind, _id in await mails(db)][-1] == "cancelled"


async def test_waitlist_position_counts_only_those_still_waiting(db, sample_programme):
    sid = await load(db, sample_programme, capacity=1)
    await reg(db, sid, "a")
    b, c, d = await reg(db, sid, "b"), await reg(db, sid, "c"), await reg(db, sid, "d")
    await registrations.cancel(db, c["token"])

    async with db.reader() as conn:
        places = [await registrations.waitlist_position(conn, r["id"]) for r in (b, c, d)]

    assert places == [1, None, 2]


async def test_get_registration_carries_its_screening(db, sample_programme):
    sid = await load(db, sample_programme, capacity=50)
    a = await reg(db, sid, "a", 2)

    found = await registrations.get_registration(db, a["token"])

    assert found["screening"]["id"] == sid and found["screening"]["confirmed_seats"] == 2
    with pytest.raises(NotFound):
        await registrations.get_registration(db, "x" * 32)


# --- what the screening page shows -------------------------------------------------------------

def screening(**values: Any) -> dict[str, Any]:
    return {"status": "scheduled", "starts_at": "2099-12-13T18:00:00Z", "capacity": 100,
            "confirmed_seats": 0, "waitlist": 0, "max_seats": 4, **values}


@pytest.mark.parametrize(("values", "state"), [
    ({}, "open"),
    ({"confirmed_seats": 89}, "open"),
    ({"confirmed_seats": 90}, "few"),
    ({"capacity": 20, "confirmed_seats": 15}, "few"),
    ({"confirmed_seats": 100}, "full"),
    ({"confirmed_seats": 98, "waitlist": 1}, "full"),
    ({"status": "cancelled"}, "closed"),
    ({"starts_at": "2000-01-01T00:00:00Z"}, "closed"),
])
def test_booking_state_tells_the_page_what_to_show(values, state):
    assert registrations.booking_state(screening(**values))["state"] == state


def test_booking_state_offers_no_party_larger_than_the_room():
    assert registrations.booking_state(screening(capacity=2))["max_seats"] == 2


# --- the race --------------------------------------------------------------------------------

async def test_race_of_300_registrations_confirms_exactly_50_seats(app, client, sample_programme):
    # 300 registrations from one address: a load test, so no per-client limits.
    app.state.settings = dataclasses.replace(app.state.settings, rate_limits=False)
    db = app.state.db
    sid = await load(db, sample_programme, capacity=50)

    async def post(i: int) -> httpx.Response:
        return await client.post(f"/api/v1/screenings/{sid}/registrations",
                                 json={"name": f"Person {i}", "email": f"p{i}@example.org",
                                       "seats": 1})

    answers = await asyncio.gather(*(post(i) for i in range(300)))

    assert [a.status_code for a in answers] == [201] * 300
    bodies = [a.json() for a in answers]
    confirmed = [b for b in bodies if b["status"] == "confirmed"]
    waiting = sorted((b for b in bodies if b["status"] == "waitlisted"),
                     key=lambda b: b["waitlist_position"])
    assert len(confirmed) == 50 and len(waiting) == 250
    assert [b["waitlist_position"] for b in waiting] == list(range(1, 251))
    total = await db.fetch_one("SELECT SUM(seats) AS seats FROM registrations"
                               " WHERE screening_id = ? AND status = 'confirmed'", (sid,))
    assert total is not None and total["seats"] == 50

    for body in confirmed[:3]:
        assert (await client.delete(f"/api/v1/registrations/{body['token']}")).status_code == 200

    statuses = [(await client.get(f"/api/v1/registrations/{b['token']}")).json()
                for b in waiting[:4]]
    assert [s["status"] for s in statuses] == ["confirmed"] * 3 + ["waitlisted"]
    assert statuses[3]["waitlist_position"] == 1


async def test_race_between_two_databases_on_one_file_never_overbooks(settings, sample_programme):
    """Two Database objects on one file stand in for two worker processes: each has its
    own write connection and lock, so only BEGIN IMMEDIATE keeps them apart."""
    first = await Database(settings.db_path, synchronous="NORMAL").open()
    second = await Database(settings.db_path, synchronous="NORMAL").open()
    try:
        sid = await load(first, sample_programme, capacity=50)
        results = await asyncio.gather(*(
            registrations.register(first if i % 2 else second, sid, f"Person {i}",
                                   f"p{i}@example.org", 1) for i in range(200)))
        statuses = [registration["status"] for registration, _created in results]
        assert statuses.count("confirmed") == 50 and statuses.count("waitlisted") == 150
        rows = await first.fetch_all(
            "SELECT status, SUM(seats) AS seats FROM registrations GROUP BY status")
        assert {r["status"]: r["seats"] for r in rows} == {"confirmed": 50, "waitlisted": 150}
    finally:
        await first.close()
        await second.close()
