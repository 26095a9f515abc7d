"""What the ticket and screening pages add for attendees: an "Add to Google Calendar"
link beside the .ics one (times in UTC, every value URL-encoded, the ticket's link in a
ticket's details), and, right after registering, where the ticket's mail went, as the
outbox has it, with the address masked."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from festival.calendar import google
from festival.core.text import masked_email
from tests import helpers
from tests.helpers import sql
from tests.web.test_tickets import register_by_form


@pytest.fixture
async def ids(app: Any, programme: dict[str, Any]) -> dict[str, int]:
    return await helpers.ids(app)


def google_link(page: str) -> dict[str, list[str]]:
    found = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Add to Google Calendar</a>', page)
    assert found, "no Google Calendar link"
    url = urlsplit(html.unescape(found.group(1)))
    assert (url.scheme, url.netloc, url.path) == ("https", "calendar.google.com",
                                                 "/calendar/render")
    return parse_qs(url.query, strict_parsing=True)


async def test_the_screening_page_links_to_google_calendar_in_utc(client, ids) -> None:
    page = (await client.get(f"/screenings/{ids['hague']}")).text
    params = google_link(page)
    # The Hague, 19:00 to 21:30 local (CET) on 13 December 2099: 18:00 to 20:30 UTC.
    assert params["action"] == ["TEMPLATE"]
    assert params["dates"] == ["20991213T180000Z/20991213T203000Z"]
    assert params["text"] == ["Wallah, Je te jure + debate"]
    assert params["location"][0].startswith("Humanity House, ")
    details = params["details"][0]
    assert "Debate: Changing the perception of migrants" in details
    assert "Secret Person" not in details  # an unlisted guest stays unnamed
    assert f"/screenings/{ids['hague']}" in details
    assert page.index('.ics"') < page.index("Add to Google Calendar")  # beside the .ics


async def test_the_ticket_page_puts_the_ticket_link_in_the_details(client, ids) -> None:
    answer = await register_by_form(client, ids["sydney"])
    path = answer.headers["location"].split("?")[0]
    params = google_link((await client.get(path)).text)
    assert params["details"][0].startswith(f"Your ticket: https://festival.example.org{path}")
    assert params["text"] == ['The Crossing; a "journey", told\\retold']


def test_values_are_url_encoded_and_long_details_cut() -> None:
    s = {"id": 1, "title": "A&B #1 ?x=y", "synopsis": "word " * 400, "status": "scheduled",
         "venue_name": "Salle 1", "city": "Genève", "country": "CH", "address": "",
         "starts_at": "2099-12-06T18:30:00Z", "ends_at": "2099-12-06T20:00:00Z",
         "guests": []}
    url = google.calendar_url(s, "https://f.example.org")
    query = urlsplit(url).query
    assert "A%26B+%231+%3Fx%3Dy" in query and "Gen%C3%A8ve" in query
    params = parse_qs(query)
    assert params["text"] == ["A&B #1 ?x=y"]
    assert params["dates"] == ["20991206T183000Z/20991206T200000Z"]
    assert len(params["details"][0]) <= google.MAX_DETAILS


async def test_no_google_link_for_a_cancelled_screening(client, ids) -> None:
    page = (await client.get(f"/screenings/{ids['niamey']}")).text
    assert "Add to Google Calendar" not in page


def test_addresses_are_masked() -> None:
    assert masked_email("ana.silva@example.org") == "a***@example.org"
    assert masked_email("  Bo@Example.org ") == "B***@Example.org"
    assert masked_email("not an address") == "***"


async def test_after_registering_the_ticket_says_where_its_mail_went(app, client, ids) -> None:
    answer = await register_by_form(client, ids["hague"], email="ana.silva@example.org")
    assert answer.headers["location"].endswith("?sent=1")
    page = (await client.get(answer.headers["location"])).text
    assert ("We are sending this ticket to a***@example.org; it should arrive within a few "
            "minutes.") in page
    assert "ana.silva@example.org" not in page
    path = answer.headers["location"].split("?")[0]
    assert "this ticket to" not in (await client.get(path)).text  # only right after
    await sql(app, "UPDATE outbox SET status = 'sent'")
    assert "We sent this ticket to a***@example.org." in (
        await client.get(answer.headers["location"])).text
    await sql(app, "UPDATE outbox SET status = 'capped'")
    page = html.unescape((await client.get(answer.headers["location"])).text)
    assert "We did not email this ticket to a***@example.org" in page
    await sql(app, "UPDATE outbox SET status = 'failed'")
    page = html.unescape((await client.get(answer.headers["location"])).text)
    assert "We could not email this ticket to a***@example.org." in page
    await sql(app, "DELETE FROM outbox")
    assert "this ticket to" not in (await client.get(answer.headers["location"])).text
