"""Mail an attendee's own actions trigger is capped per address: whoever types someone
else's address into the forms again and again reaches that inbox at most MAIL_CAP times
an hour; the rest is recorded as 'capped', never sent. Organisers' notices always go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from festival.core import times
from festival.core.store import Database
from festival.mail import outbox, sender
from festival.seats import registrations
from tests.helpers import csrf_of, screening_id

VICTIM = "victim@example.org"


async def many_screenings(db: Database, count: int) -> list[int]:
    """`count` copies of the sample's Hague screening (the programme allows one
    registration per address and screening); answers their ids."""
    async with db.transaction() as conn:
        for n in range(count):
            await conn.execute(
                """INSERT INTO screenings (edition_id, key, uid, film_id, venue_id, starts_at,
                       ends_at, timezone, capacity, max_seats, status, created_at, updated_at)
                   SELECT edition_id, key || '-' || ?, uid || '-' || ?, film_id, venue_id,
                          starts_at, ends_at, timezone, capacity, max_seats, status,
                          created_at, updated_at FROM screenings WHERE key = 'hague'""",
                (n, n))
    rows = await db.fetch_all("SELECT id FROM screenings WHERE key LIKE 'hague-%' ORDER BY id")
    return [r["id"] for r in rows]


async def statuses(db: Database, address: str = VICTIM) -> dict[str, int]:
    rows = await db.fetch_all("SELECT status, COUNT(*) AS n FROM outbox"
                              " WHERE lower(recipient) = ? GROUP BY status", (address,))
    return {r["status"]: r["n"] for r in rows}


async def test_fifty_registrations_for_one_address_queue_at_most_twelve_mails(loaded):
    for n, sid in enumerate(await many_screenings(loaded, 50)):
        # However the address is typed, it is one inbox.
        address = VICTIM.upper() if n % 2 else f"  {VICTIM}"
        await registrations.register(loaded, sid, "Someone", address, 1)

    found = await statuses(loaded)
    assert found == {"pending": outbox.MAIL_CAP, "capped": 50 - outbox.MAIL_CAP}
    # Others are not affected by the victim's cap.
    await registrations.register(loaded, await screening_id(loaded, "sydney"), "Bo",
                                 "bo@example.org", 1)
    assert await statuses(loaded, "bo@example.org") == {"pending": 1}


async def test_twenty_five_register_cancel_cycles_queue_at_most_twelve_mails(loaded):
    sid = await screening_id(loaded, "hague")
    for _ in range(25):
        registration, created = await registrations.register(loaded, sid, "Someone", VICTIM, 1)
        assert created
        await registrations.cancel(loaded, registration["token"])

    found = await statuses(loaded)
    assert found["pending"] == outbox.MAIL_CAP and sum(found.values()) == 50


async def test_lost_ticket_requests_count_towards_the_cap(loaded):
    for sid in await many_screenings(loaded, 8):
        await registrations.register(loaded, sid, "Someone", VICTIM, 1)
    async with loaded.transaction() as conn:  # the confirmations went out long ago
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")

    await registrations.resend_tickets(loaded, VICTIM)  # 8 more: fine
    await registrations.resend_tickets(loaded, VICTIM)  # none: each once per 10 minutes
    async with loaded.transaction() as conn:
        await conn.execute("UPDATE outbox SET created_at = ?"
                           " WHERE created_at > '2000-01-01T00:00:00Z'",
                           (times.utc_text(times.utc_now() - timedelta(minutes=11)),))
    await registrations.resend_tickets(loaded, VICTIM)  # 8 more: 4 over the hour's cap

    assert await statuses(loaded) == {"pending": 8 + outbox.MAIL_CAP, "capped": 4}


async def test_organisers_notices_are_never_capped_nor_counted(loaded):
    sids = await many_screenings(loaded, 14)
    for sid in sids:
        await registrations.register(loaded, sid, "Someone", VICTIM, 1)
    assert (await statuses(loaded))["capped"] == 2

    async with loaded.transaction() as conn:
        for sid in sids:
            await registrations.notify_registrants(conn, sid, "screening_changed")
    # A promotion because organisers added seats is the organisers' news too.
    sydney = await screening_id(loaded, "sydney")
    async with loaded.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (sydney,))
    await registrations.register(loaded, sydney, "Other", "other@example.org", 1)
    waiting, _ = await registrations.register(loaded, sydney, "Someone", VICTIM, 1)
    assert waiting["status"] == "waitlisted"
    async with loaded.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 2 WHERE id = ?", (sydney,))
        assert await registrations.promote_waitlist(conn, sydney) == [waiting["id"]]

    rows = await loaded.fetch_all("SELECT kind, status FROM outbox WHERE recipient_key = ?",
                                  (VICTIM,))
    notices = [r["status"] for r in rows if r["kind"] in ("screening_changed", "promoted")]
    assert len(notices) == 15 and set(notices) == {"pending"}


async def test_the_sender_never_sends_a_capped_message(loaded, settings):
    for sid in await many_screenings(loaded, outbox.MAIL_CAP + 1):
        await registrations.register(loaded, sid, "Someone", VICTIM, 1)
    capped = await loaded.fetch_one("SELECT id FROM outbox WHERE status = 'capped'")
    assert capped is not None

    due = await loaded.fetch_all(f"SELECT id FROM outbox WHERE {sender._DUE}",
                                 {"now": "2999-01-01T00:00:00Z"})

    assert capped["id"] not in {r["id"] for r in due} and len(due) == outbox.MAIL_CAP


async def test_the_outbox_page_lists_capped_messages_and_sends_one_anyway(
        app: Any, sign_in: Any, programme: Any) -> None:
    db = app.state.db
    for sid in await many_screenings(db, outbox.MAIL_CAP + 1):
        await registrations.register(db, sid, "Someone", VICTIM, 1)
    admin = await sign_in("admin@example.org", role="admin", country=None)

    page = await admin.get("/admin/outbox?status=capped")

    assert page.status_code == 200
    assert "Capped (1)" in page.text and VICTIM in page.text and "Send anyway" in page.text
    capped = await db.fetch_one("SELECT id FROM outbox WHERE status = 'capped'")
    released = await admin.post(f"/admin/outbox/{capped['id']}/retry",
                                data={"csrf_token": csrf_of(page.text)})
    assert released.status_code == 303
    assert (await db.fetch_one("SELECT status FROM outbox WHERE id = ?",
                               (capped["id"],)))["status"] == "pending"


async def test_promotions_that_cancellations_set_off_count_towards_the_cap(
        app: Any, programme: Any) -> None:
    """Book a small screening full, then again and again put the victim on the waitlist
    and cancel a seat ahead of them: each round would mail them a promotion."""
    db = app.state.db
    sid = await screening_id(db, "hague")
    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (sid,))
    for round_ in range(20):
        filler, _ = await registrations.register(db, sid, "Filler", f"f{round_}@example.org", 1)
        victim, _ = await registrations.register(db, sid, "V", "victim@example.org", 1)
        await registrations.cancel(db, filler["token"])  # the victim is promoted
        await registrations.cancel(db, victim["token"])
    rows = await db.fetch_all("SELECT status FROM outbox WHERE recipient_key = ?",
                              ("victim@example.org",))
    assert sum(r["status"] != "capped" for r in rows) == outbox.MAIL_CAP
