"""Who holds which key. A registration's token reaches that one registration only, and
registering again with a known address never answers it: the ticket link goes to the
address. An attendee's own page and feed of all their registrations have a secret of
their own that only their mails carry."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail import compose, outbox
from tests.helpers import csrf_of
from tests.helpers import ids as screening_ids

API = "/api/v1"


@pytest.fixture
async def ids(app: Any, programme: dict[str, Any]) -> dict[str, int]:
    return await screening_ids(app)


def person(**changes: Any) -> dict[str, Any]:
    return {"name": "Ana Reyes", "email": "ana@example.org", "seats": 2, **changes}


async def mails(db: Database, settings: Settings) -> list[EmailMessage]:
    """Every queued message, composed as the sender would, oldest first."""
    found = []
    for row in await db.fetch_all("SELECT * FROM outbox ORDER BY id"):
        async with db.reader() as conn:
            facts = await outbox.read_facts(conn, kind=row["kind"],
                                            registration_id=row["registration_id"],
                                            message_id=row["message_id"],
                                            queued_at=row["created_at"])
        found.append(compose.compose(facts, settings))
    return found


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


async def secret_of(db: Database, email: str) -> str:
    row = await db.fetch_one("SELECT secret FROM attendees WHERE email_key = ?", (email,))
    assert row is not None
    return str(row["secret"])


# --- registering again ----------------------------------------------------------------------

async def test_registering_again_through_the_api_mails_the_link_and_answers_no_token(
        app, client, ids, settings):
    url = f"{API}/screenings/{ids['hague']}/registrations"
    first = await client.post(url, json=person())
    token = first.json()["token"]
    async with app.state.db.transaction() as conn:  # the confirmation went out long ago
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")

    again = await client.post(url, json=person(email=" Ana@EXAMPLE.org ", seats=1))

    assert again.status_code == 200
    assert again.json() == {"status": "confirmed", "seats": 2, "screening_id": ids["hague"]}
    assert token not in again.text and "location" not in again.headers
    assert "tickets" not in again.text and "/my/" not in again.text
    # The link went to the address instead, in the registration's own mail.
    resent = (await mails(app.state.db, settings))[-1]
    assert resent["To"].addresses[0].addr_spec == "ana@example.org"
    assert f"https://festival.example.org/tickets/{token}" in text_of(resent)

    # Asked again at once: no second mail (at most one per 10 minutes).
    await client.post(url, json=person())
    assert len(await app.state.db.fetch_all("SELECT id FROM outbox")) == 2


async def test_registering_again_when_waiting_answers_where_it_stands(app, client, ids):
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (ids["hague"],))
    url = f"{API}/screenings/{ids['hague']}/registrations"
    await client.post(url, json=person(email="bo@example.org", seats=1))
    await client.post(url, json=person(seats=1))

    again = await client.post(url, json=person(seats=1))

    assert again.json() == {"status": "waitlisted", "seats": 1, "screening_id": ids["hague"]}


# --- the attendee's own page and feed --------------------------------------------------------

async def test_confirmation_mails_link_the_attendees_own_page(app, client, ids, settings):
    await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=person())
    await client.post(f"{API}/screenings/{ids['sydney']}/registrations",
                      json=person(email="ANA@example.org"))
    secret = await secret_of(app.state.db, "ana@example.org")

    assert len(secret) >= 32  # 192 random bits, URL-safe
    for message in await mails(app.state.db, settings):
        assert f"https://festival.example.org/my/{secret}" in text_of(message)
        html = message.get_body(("html",))
        assert html is not None and f"/my/{secret}" in str(html.get_content())


async def test_each_attendee_has_a_secret_of_their_own(app, client, ids):
    for email in ("ana@example.org", "bo@example.org"):
        await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                          json=person(email=email))
    ana = await secret_of(app.state.db, "ana@example.org")
    bo = await secret_of(app.state.db, "bo@example.org")
    assert ana != bo


async def test_the_attendees_page_lists_every_registration_with_its_ticket(app, client, ids):
    hague = (await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                               json=person())).json()
    sydney = (await client.post(f"{API}/screenings/{ids['sydney']}/registrations",
                                json=person())).json()
    other = (await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                               json=person(email="bo@example.org"))).json()
    await client.delete(f"{API}/registrations/{sydney['token']}")
    secret = await secret_of(app.state.db, "ana@example.org")

    page = await client.get(f"/my/{secret}")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-store"
    assert f'href="/tickets/{hague["token"]}"' in page.text
    assert f'href="/tickets/{sydney["token"]}"' in page.text  # cancelled, listed apart
    assert other["token"] not in page.text
    assert f"/feeds/my/{secret}.ics" in page.text
    assert (await client.get("/my/" + "x" * 32)).status_code == 404
    assert (await client.get("/my/short")).status_code == 404


async def test_the_attendees_feed_holds_all_their_registrations(app, client, ids):
    for key in ("hague", "sydney"):
        await client.post(f"{API}/screenings/{ids[key]}/registrations", json=person())
    secret = await secret_of(app.state.db, "ana@example.org")

    feed = await client.get(f"/feeds/my/{secret}.ics")

    assert feed.status_code == 200 and feed.headers["cache-control"].startswith("private")
    assert feed.text.count("BEGIN:VEVENT") == 2
    assert (await client.get(f"/feeds/my/{'x' * 32}.ics")).status_code == 404


async def test_no_answer_reached_with_a_token_or_an_address_holds_the_secret(
        app, client, ids):
    url = f"{API}/screenings/{ids['hague']}/registrations"
    made = await client.post(url, json=person())
    token = made.json()["token"]
    secret = await secret_of(app.state.db, "ana@example.org")
    page = await client.get(f"/screenings/{ids['hague']}")
    form = await client.post(f"/screenings/{ids['hague']}/register",
                             data={"name": "Ana", "email": "ana@example.org", "seats": "1",
                                   "csrf_token": csrf_of(page.text)})
    assert form.status_code == 303  # to the screening page, which says it went by mail
    assert secret not in str(form.headers) and token not in str(form.headers)
    form = await client.get(form.headers["location"])
    lost_page = await client.get("/tickets/lost")
    lost = await client.post("/tickets/lost", data={"email": "ana@example.org",
                                                    "csrf_token": csrf_of(lost_page.text)})

    answers: list[httpx.Response] = [
        made, await client.post(url, json=person()), form, lost,
        await client.get(f"{API}/registrations/{token}"),
        await client.get(f"/tickets/{token}"),
        await client.get(f"/feeds/tickets/{token}.ics"),
        await client.delete(f"{API}/registrations/{token}"),
        await client.get(f"/tickets/{token}"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201), (answer.request.url, answer.status_code)
        assert secret not in answer.text and "/my/" not in answer.text, answer.request.url
        assert secret not in str(answer.headers)


async def test_the_lost_ticket_mail_links_the_attendees_page(app, client, ids, settings):
    await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=person())
    async with app.state.db.transaction() as conn:  # the confirmation went out long ago
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")
    page = await client.get("/tickets/lost")

    await client.post("/tickets/lost", data={"email": "Ana@example.org",
                                             "csrf_token": csrf_of(page.text)})

    resent = (await mails(app.state.db, settings))[-1]
    secret = await secret_of(app.state.db, "ana@example.org")
    assert f"https://festival.example.org/my/{secret}" in text_of(resent)


async def test_an_attendee_from_before_the_secrets_gets_one_when_asking_again(
        app, client, ids, settings):
    await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=person())
    async with app.state.db.transaction() as conn:
        await conn.execute("DELETE FROM attendees")
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")
    # A mail composed now, for an address without a secret, simply has no such link.
    assert "/my/" not in text_of((await mails(app.state.db, settings))[0])

    page = await client.get("/tickets/lost")
    await client.post("/tickets/lost", data={"email": "ana@example.org",
                                             "csrf_token": csrf_of(page.text)})

    secret = await secret_of(app.state.db, "ana@example.org")
    assert re.search(rf"/my/{re.escape(secret)}(?![A-Za-z0-9_-])", text_of((await mails(
        app.state.db, settings))[-1]))
