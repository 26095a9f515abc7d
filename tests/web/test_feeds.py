"""The iCalendar feeds over HTTP: what calendar apps get when they subscribe and poll."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import icalendar
import pytest
import vobject

from festival.core.settings import Settings
from festival.core.store import Database
from festival.programme import queries
from festival.programme.loader import import_programme
from festival.web.app import create_app
from tests.helpers import events_by_uid as events
from tests.helpers import ids

ICS = "text/calendar; charset=utf-8"


def summaries(body: bytes) -> list[str]:
    return sorted(str(e["SUMMARY"]) for e in events(body).values())


async def uid_of(db: Database, key: str) -> str:
    row = await db.fetch_one("SELECT uid FROM screenings WHERE key = ?", (key,))
    assert row is not None
    return row["uid"]


@pytest.fixture
async def second_client(settings: Settings, programme: dict[str, Any]
                        ) -> AsyncIterator[httpx.AsyncClient]:
    """Another worker process, as far as the feeds can tell: its own app and cache on
    the same database file."""
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="https://festival.example.org") as c:
            yield c


async def move_hague(app: Any, data: dict[str, Any]) -> None:
    moved = copy.deepcopy(data)
    hague = next(s for s in moved["screenings"] if s["key"] == "hague")
    hague.update(starts_at="2099-12-14T19:00", ends_at="2099-12-14T21:30")
    await import_programme(app.state.db, moved)


# --- the festival feed ----------------------------------------------------------------------

async def test_festival_feed_is_text_calendar_with_every_published_screening(client, programme):
    response = await client.get("/feeds/festival.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == ICS
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith(" GMT")
    assert len(events(response.content)) == len(programme["screenings"]) == 5
    assert b"METHOD:PUBLISH\r\n" in response.content


async def test_festival_feed_for_another_edition_and_an_unknown_one(client, programme):
    assert (await client.get("/feeds/festival.ics?edition=2099")).status_code == 200
    response = await client.get("/feeds/festival.ics?edition=1999")
    assert response.status_code == 404


async def test_feed_etag_and_bytes_are_stable_across_requests_and_processes(
        client, second_client, programme):
    first = await client.get("/feeds/festival.ics")
    again = await client.get("/feeds/festival.ics")
    elsewhere = await second_client.get("/feeds/festival.ics")
    assert first.headers["etag"] == again.headers["etag"] == elsewhere.headers["etag"]
    assert first.content == again.content == elsewhere.content


async def test_feed_requests_arriving_together_get_the_same_feed(app, client, programme):
    responses = await asyncio.gather(*(client.get("/feeds/festival.ics") for _ in range(5)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.headers["etag"] for r in responses}) == 1
    assert len({r.content for r in responses}) == 1


async def test_feed_answers_304_to_a_matching_if_none_match(client, programme):
    first = await client.get("/feeds/festival.ics")
    tag = first.headers["etag"]
    for header in (tag, f'"other", {tag}', f"W/{tag}", "*"):
        response = await client.get("/feeds/festival.ics", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == tag
    stale = await client.get("/feeds/festival.ics", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == first.content


async def test_feed_answers_304_to_if_modified_since_not_before_last_modified(client, programme):
    first = await client.get("/feeds/festival.ics")
    since = first.headers["last-modified"]
    same = await client.get("/feeds/festival.ics", headers={"If-Modified-Since": since})
    assert same.status_code == 304
    old = await client.get("/feeds/festival.ics",
                           headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert old.status_code == 200
    junk = await client.get("/feeds/festival.ics", headers={"If-Modified-Since": "yesterday"})
    assert junk.status_code == 200
    # If-None-Match decides when both are sent
    both = await client.get("/feeds/festival.ics",
                            headers={"If-None-Match": '"stale"', "If-Modified-Since": since})
    assert both.status_code == 200


async def test_feed_head_gives_the_headers_without_the_body(client, programme):
    full = await client.get("/feeds/festival.ics")
    head = await client.head("/feeds/festival.ics")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-type"] == ICS
    assert int(head.headers["content-length"]) == len(full.content)
    cached = await client.head("/feeds/festival.ics",
                               headers={"If-None-Match": full.headers["etag"]})
    assert cached.status_code == 304


async def test_feed_change_gives_new_etag_and_higher_sequence_same_uid(
        app, client, second_client, programme, monkeypatch):
    before = await client.get("/feeds/festival.ics")
    await second_client.get("/feeds/festival.ics")  # the other process caches it too
    await move_hague(app, programme)
    after = await client.get("/feeds/festival.ics",
                             headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    uid = await uid_of(app.state.db, "hague")
    old, new = events(before.content)[uid], events(after.content)[uid]
    assert new["SEQUENCE"] > old["SEQUENCE"]
    assert new["DTSTAMP"].dt >= old["DTSTAMP"].dt
    assert new["DTSTART"].dt.day == 14
    assert len(events(after.content)) == 5  # moved, not duplicated
    # Another worker holds the version it read for VERSION_HELD_SECONDS, then sees it.
    now = queries.clock()
    monkeypatch.setattr(queries, "clock", lambda: now + queries.VERSION_HELD_SECONDS)
    elsewhere = await second_client.get("/feeds/festival.ics")
    assert elsewhere.headers["etag"] == after.headers["etag"]


async def test_feed_keeps_a_cancelled_screening_marked_cancelled(app, client, programme):
    body = (await client.get("/feeds/festival.ics")).content
    niamey = events(body)[await uid_of(app.state.db, "niamey")]
    assert str(niamey["STATUS"]) == "CANCELLED"


async def test_feed_never_shows_drafts(app, client, programme):
    screening_ids = await ids(app.state.db, "screenings")
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET status = 'draft' WHERE key = 'sydney'")
    body = (await client.get("/feeds/festival.ics")).content
    assert len(events(body)) == 4
    assert await uid_of(app.state.db, "sydney") not in events(body)
    assert (await client.get(f"/screenings/{screening_ids['sydney']}.ics")).status_code == 404


async def test_feed_never_names_an_unlisted_guest(app, client, programme):
    guest_ids = await ids(app.state.db, "guests")
    for path in ("/feeds/festival.ics", f"/feeds/guests/{guest_ids['ana-reyes']}.ics"):
        body = (await client.get(path)).content
        assert b"Secret Person" not in body
        assert b"a guest speaker" in body
    hidden = await client.get(f"/feeds/guests/{guest_ids['unlisted-guest']}.ics")
    assert hidden.status_code == 404
    assert b"Secret Person" not in hidden.content


# --- the narrower feeds -------------------------------------------------------------------

async def test_narrow_feeds_hold_their_screenings(app, client, programme):
    db = app.state.db
    venue, film, guest = await ids(db, "venues"), await ids(db, "films"), await ids(db, "guests")
    screening = await ids(db, "screenings")
    expected = {
        f"/feeds/venues/{venue['humanity-house']}.ics": ["hague"],
        "/feeds/countries/NL.ics": ["hague"],
        "/feeds/countries/mx.ics": ["mexico-late"],
        "/feeds/cities/the-hague.ics": ["hague"],
        "/feeds/cities/Mexico City.ics": ["mexico-late"],
        f"/feeds/films/{film['wallah-je-te-jure']}.ics": ["hague", "kathmandu", "niamey"],
        f"/feeds/guests/{guest['ana-reyes']}.ics": ["hague"],
        f"/screenings/{screening['kathmandu']}.ics": ["kathmandu"],
    }
    for path, keys in expected.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == ICS
        assert sorted(events(response.content)) == sorted([await uid_of(db, k) for k in keys])


async def test_narrow_feeds_unknown_ids_are_404(client, programme):
    for path in ("/feeds/venues/999.ics", "/feeds/films/999.ics", "/feeds/guests/999.ics",
                 "/screenings/999.ics", "/feeds/countries/XX.ics", "/feeds/countries/NLD.ics",
                 "/feeds/cities/atlantis.ics", "/feeds/tickets/no-such-token.ics"):
        assert (await client.get(path)).status_code == 404, path


async def test_venue_feed_is_named_for_the_venue(app, client, programme):
    venue = await ids(app.state.db, "venues")
    body = (await client.get(f"/feeds/venues/{venue['mexico-cineteca']}.ics")).content
    calendar_name = vobject.readOne(body.decode()).x_wr_calname.value
    assert calendar_name == "Global Migration Film Festival 2099 – Cineteca, Sala 3 (Mexico City)"


# --- an attendee's own registrations -------------------------------------------------------

async def register(db: Database, key: str, email: str, status: str, token: str) -> None:
    now = "2099-11-01T10:00:00Z"
    async with db.transaction() as conn:
        await conn.execute(
            """INSERT INTO registrations (screening_id, token, name, email, email_key, seats,
               status, created_at, updated_at)
               SELECT id, ?, 'Zoë', ?, ?, 2, ?, ?, ? FROM screenings WHERE key = ?""",
            (token, email, email.strip().lower(), status, now, now, key))


TOKEN_A, TOKEN_B, TOKEN_C = "tok-a" + "a" * 27, "tok-b" + "b" * 27, "tok-c" + "c" * 27


async def test_ticket_feed_holds_only_its_own_registration_with_its_status(
        app, client, programme):
    db = app.state.db
    await register(db, "hague", "Zoe@example.net", "confirmed", TOKEN_A)
    await register(db, "sydney", "zoe@example.net ", "waitlisted", TOKEN_B)
    await register(db, "kathmandu", "someone@example.net", "confirmed", TOKEN_C)
    response = await client.get(f"/feeds/tickets/{TOKEN_A}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == ICS
    assert response.headers["cache-control"].startswith("private")
    # A token is the key to its own registration only, not to the attendee's others.
    found = events(response.content)
    assert set(found) == {await uid_of(db, "hague")}
    assert str(found[await uid_of(db, "hague")]["STATUS"]) == "CONFIRMED"
    assert TOKEN_B not in response.text
    waiting = await client.get(f"/feeds/tickets/{TOKEN_B}.ics")
    (event,) = events(waiting.content).values()
    assert str(event["UID"]) == await uid_of(db, "sydney")
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["SUMMARY"]).startswith("Waitlist: ")
    again = await client.get(f"/feeds/tickets/{TOKEN_A}.ics",
                             headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_ticket_feed_shows_a_cancelled_registration_cancelled(app, client, programme):
    db = app.state.db
    await register(db, "hague", "zoe@example.net", "confirmed", TOKEN_A)
    before = await client.get(f"/feeds/tickets/{TOKEN_A}.ics")
    async with db.transaction() as conn:
        await conn.execute("UPDATE registrations SET status = 'cancelled',"
                           " updated_at = '2099-11-02T10:00:00Z' WHERE token = ?", (TOKEN_A,))
    after = await client.get(f"/feeds/tickets/{TOKEN_A}.ics",
                             headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    (event,) = events(after.content).values()
    assert str(event["STATUS"]) == "CANCELLED"


async def test_ticket_feed_sequence_rises_with_promotion_and_cancellation(app, client, programme):
    from festival.seats import registrations

    db = app.state.db
    screening_id = (await ids(db, "screenings"))["hague"]
    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (screening_id,))
    first, _ = await registrations.register(db, screening_id, "Ana", "ana@example.net", 1)
    zoe, _ = await registrations.register(db, screening_id, "Zoë", "zoe@example.net", 1)
    feed = f"/feeds/tickets/{zoe['token']}.ics"

    def zoes_event(body: bytes) -> icalendar.Event:
        (event,) = events(body).values()
        return event

    waiting = zoes_event((await client.get(feed)).content)
    await registrations.cancel(db, first["token"])  # Zoë moves up
    promoted = zoes_event((await client.get(feed)).content)
    await registrations.cancel(db, zoe["token"])
    cancelled = zoes_event((await client.get(feed)).content)

    # Same event each time; calendars take a change only with a higher SEQUENCE.
    assert [str(e["STATUS"]) for e in (waiting, promoted, cancelled)] == [
        "TENTATIVE", "CONFIRMED", "CANCELLED"]
    assert waiting["UID"] == promoted["UID"] == cancelled["UID"]
    assert waiting["SEQUENCE"] < promoted["SEQUENCE"] < cancelled["SEQUENCE"]

    # Registering again: the same event comes back (in the new ticket's feed), never
    # with a lower SEQUENCE.
    new, _ = await registrations.register(db, screening_id, "Zoë", "zoe@example.net", 1)
    again = zoes_event((await client.get(f"/feeds/tickets/{new['token']}.ics")).content)
    assert again["UID"] == cancelled["UID"]
    assert str(again["STATUS"]) == "CONFIRMED"
    assert again["SEQUENCE"] >= cancelled["SEQUENCE"]
    assert again.decoded("DTSTAMP") >= cancelled.decoded("DTSTAMP")


# --- the subscribe page ---------------------------------------------------------------------

async def test_subscribe_page_offers_webcal_and_https_links_and_warns_about_google(
        client, programme):
    response = await client.get("/subscribe")
    assert response.status_code == 200
    page = response.text
    assert 'href="webcal://festival.example.org/feeds/festival.ics"' in page
    assert 'value="https://festival.example.org/feeds/festival.ics"' in page
    assert "webcal://festival.example.org/feeds/countries/NP.ics" in page
    assert "webcal://festival.example.org/feeds/cities/mexico-city.ics" in page
    assert "8 to 24 hours" in page
    assert "Secret Person" not in page


async def test_programme_page_offers_the_feeds_of_what_is_shown(client, programme):
    everything = (await client.get("/")).text
    assert 'href="webcal://festival.example.org/feeds/festival.ics"' in everything
    assert 'value="https://festival.example.org/feeds/festival.ics"' in everything
    assert "/feeds/countries/" not in everything

    narrowed = (await client.get("/?country=mx&city=mexico+city")).text
    assert 'href="webcal://festival.example.org/feeds/countries/MX.ics"' in narrowed
    assert 'value="https://festival.example.org/feeds/cities/mexico-city.ics"' in narrowed
    assert (await client.get("/feeds/cities/mexico-city.ics")).status_code == 200


async def test_venue_page_offers_a_webcal_link_and_a_link_to_copy(app, client, programme):
    venue = (await ids(app.state.db, "venues"))["humanity-house"]
    page = (await client.get(f"/venues/{venue}")).text
    assert f'value="https://festival.example.org/feeds/venues/{venue}.ics"' in page
    assert f'href="webcal://festival.example.org/feeds/venues/{venue}.ics"' in page
