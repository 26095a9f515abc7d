"""The attendee's side in the browser: the registration form on a screening's page (CSRF,
friendly errors beside the fields), the ticket page with its QR code, and cancelling."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests import helpers
from tests.helpers import csrf_of, written


@pytest.fixture
async def ids(app: Any, programme: dict[str, Any]) -> dict[str, int]:
    return await helpers.ids(app)


async def set_capacity(app: Any, screening_id: int, capacity: int) -> None:
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = ? WHERE id = ?",
                           (capacity, screening_id))


async def register_by_form(client: Any, screening_id: int, **fields: str) -> Any:
    page = await client.get(f"/screenings/{screening_id}")
    form = {"name": "Ana Reyes", "email": "ana@example.org", "seats": "2",
            "csrf_token": csrf_of(page.text), **fields}
    return await client.post(f"/screenings/{screening_id}/register", data=form)


async def test_form_registers_and_redirects_to_the_ticket(app, client, ids):
    answer = await register_by_form(client, ids["hague"])

    assert answer.status_code == 303
    # ?sent=1: the ticket then says where its mail went (test_ticket_says_where_its_mail_went)
    assert re.fullmatch(r"/tickets/[A-Za-z0-9_-]{32,}\?sent=1", answer.headers["location"])
    ticket = await client.get(answer.headers["location"])
    assert ticket.status_code == 200
    assert "Your 2 seats are confirmed." in ticket.text
    assert "Wallah, Je te jure" in ticket.text and "Humanity House" in ticket.text
    assert await written(app) == (1, 1)


async def test_screening_page_offers_the_form_with_seats_left(client, ids):
    page = await client.get(f"/screenings/{ids['hague']}")

    assert f'action="/screenings/{ids["hague"]}/register#register"' in page.text
    assert "120 seats are still free." in page.text
    assert '<option value="4">4</option>' in page.text and 'value="5"' not in page.text


async def test_form_without_or_with_forged_csrf_is_403_and_writes_nothing(app, client, ids):
    await client.get(f"/screenings/{ids['hague']}")  # the browser has its cookie
    form = {"name": "Ana", "email": "ana@example.org", "seats": "1"}

    missing = await client.post(f"/screenings/{ids['hague']}/register", data=form)
    forged = await client.post(f"/screenings/{ids['hague']}/register",
                               data={**form, "csrf_token": "0" * 64})

    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "reload the page" in forged.text
    assert await written(app) == (0, 0)


async def test_form_token_from_another_browser_is_403(app, client, ids):
    page = await client.get(f"/screenings/{ids['hague']}")
    token = csrf_of(page.text)
    client.cookies.clear()  # a forged form: another site posts without our cookie

    answer = await client.post(f"/screenings/{ids['hague']}/register",
                               data={"name": "Ana", "email": "ana@example.org", "seats": "1",
                                     "csrf_token": token})

    assert answer.status_code == 403
    assert await written(app) == (0, 0)


@pytest.mark.parametrize(("fields", "bad", "message"), [
    ({"name": ""}, "name", "Please enter your name."),
    ({"name": "x" * 201}, "name", "200 characters"),
    ({"email": "ana-at-example.org"}, "email", "does not look like an email address"),
    ({"seats": "0"}, "seats", "from 1 to 4"),
    ({"seats": "5"}, "seats", "from 1 to 4"),
    ({"seats": "two"}, "seats", "from 1 to 4"),
    ({"seats": "1.5"}, "seats", "from 1 to 4"),
    ({"seats": "9" * 40}, "seats", "from 1 to 4"),
    ({"seats": ""}, "seats", "from 1 to 4"),
])
async def test_form_bad_input_is_422_with_messages_beside_fields_and_values_kept(
    app, client, ids, fields, bad, message
):
    answer = await register_by_form(client, ids["hague"], **{"name": "Zoë <b>O'Brien</b>",
                                                             **fields})

    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert message in text
    assert f'id="reg-{bad}-error"' in answer.text and 'aria-invalid="true"' in answer.text
    if bad != "name":
        assert 'value="Zoë &lt;b&gt;O&#39;Brien&lt;/b&gt;"' in answer.text  # kept, escaped
    if bad != "email":
        assert 'value="ana@example.org"' in answer.text
    assert await written(app) == (0, 0)


async def test_form_missing_fields_are_422(app, client, ids):
    page = await client.get(f"/screenings/{ids['hague']}")
    answer = await client.post(f"/screenings/{ids['hague']}/register",
                               data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 422
    assert {"reg-name-error", "reg-email-error", "reg-seats-error"} <= set(
        re.findall(r'id="(reg-\w+-error)"', answer.text))
    assert await written(app) == (0, 0)


async def test_form_for_a_cancelled_screening_says_registration_is_closed(app, client, ids):
    page = await client.get(f"/screenings/{ids['niamey']}")
    assert "registration is closed" in page.text
    assert 'name="seats"' not in page.text
    token = csrf_of((await client.get(f"/screenings/{ids['hague']}")).text)

    answer = await client.post(f"/screenings/{ids['niamey']}/register",
                               data={"name": "Ana", "email": "ana@example.org", "seats": "1",
                                     "csrf_token": token})

    assert answer.status_code == 409
    assert "cancelled, so registration is closed" in answer.text
    assert await written(app) == (0, 0)


async def test_form_for_a_started_screening_is_409_with_a_message(app, client, ids):
    page = await client.get(f"/screenings/{ids['hague']}")
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET starts_at = '2000-01-01T18:00:00Z' WHERE id = ?",
                           (ids["hague"],))

    answer = await client.post(f"/screenings/{ids['hague']}/register",
                               data={"name": "Ana", "email": "ana@example.org", "seats": "1",
                                     "csrf_token": csrf_of(page.text)})

    assert answer.status_code == 409
    assert "already started, so registration is closed" in answer.text


async def test_screening_page_shows_few_seats_left_and_full(app, client, ids):
    await set_capacity(app, ids["hague"], 3)
    await register_by_form(client, ids["hague"], seats="2")
    few = await client.get(f"/screenings/{ids['hague']}")
    assert "Few seats left" in few.text

    await register_by_form(client, ids["hague"], email="bo@example.org", seats="1")
    full = await client.get(f"/screenings/{ids['hague']}")
    assert "Full – join the waitlist." in full.text and "Join the waitlist</button>" in full.text


async def test_ticket_of_a_waitlisted_party_shows_its_place(app, client, ids):
    await set_capacity(app, ids["hague"], 2)
    await register_by_form(client, ids["hague"])
    await register_by_form(client, ids["hague"], email="bo@example.org")

    answer = await register_by_form(client, ids["hague"], email="cy@example.org", seats="1")
    ticket = await client.get(answer.headers["location"])

    assert "You are number 2 on the waitlist." in ticket.text
    # The door would refuse it: no code to show until the seat is confirmed.
    assert "<svg" not in ticket.text and "once your seat is confirmed" in ticket.text


async def test_waitlisted_ticket_is_titled_so_and_its_calendar_file_is_tentative(
        app, client, ids):
    await set_capacity(app, ids["hague"], 1)
    confirmed = await register_by_form(client, ids["hague"], seats="1")
    answer = await register_by_form(client, ids["hague"], email="cy@example.org", seats="1")
    ticket = await client.get(answer.headers["location"])
    assert "<title>Your place on the waitlist" in ticket.text
    assert "<h1>Your place on the waitlist</h1>" in ticket.text
    link = re.search(r'<a class="button button--secondary" href="([^"]+)" download>'
                     r'Add this screening to your calendar', ticket.text).group(1)
    download = await client.get(link.replace("&amp;", "&"))
    assert download.status_code == 200
    assert "STATUS:TENTATIVE" in download.text and "STATUS:CONFIRMED" not in download.text
    # A confirmed ticket is still titled a ticket, and its file says CONFIRMED.
    mine = await client.get(confirmed.headers["location"])
    assert "<h1>Your ticket</h1>" in mine.text
    link = re.search(r'<a class="button button--secondary" href="([^"]+)" download>'
                     r'Add this screening to your calendar', mine.text).group(1)
    assert "STATUS:CONFIRMED" in (await client.get(link.replace("&amp;", "&"))).text


async def test_form_same_email_again_mails_the_ticket_instead_of_showing_it(app, client, ids):
    first = await register_by_form(client, ids["hague"])
    token = first.headers["location"].rsplit("/", 1)[1]

    again = await register_by_form(client, ids["hague"], email=" ANA@example.org", seats="4")

    # Whoever knows an address must not get its ticket: the page says it went by mail,
    # in the registration block (post/redirect/get: a reload does not send it again).
    assert again.status_code == 303
    assert again.headers["location"] == (f"/screenings/{ids['hague']}"
                                         "?notice=already-registered#register")
    shown = await client.get(again.headers["location"])
    block = shown.text[shown.text.index('id="register"'):]
    assert block.index("already registered for this screening") < block.index("<form")
    assert token not in shown.text
    # The confirmation queued a moment ago stands for the re-sent link: no mail flood.
    assert await written(app) == (1, 1)

    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")
    await register_by_form(client, ids["hague"], email="ana@example.org")
    rows = await app.state.db.fetch_all("SELECT kind, recipient FROM outbox ORDER BY id")
    assert [(r["kind"], r["recipient"]) for r in rows] == [("confirmed", "ana@example.org")] * 2
    assert await written(app) == (1, 2)


async def test_ticket_page_shows_an_inline_svg_qr_code_of_its_address(client, ids):
    answer = await register_by_form(client, ids["hague"])
    ticket = await client.get(answer.headers["location"])

    svg = re.search(r"<svg[^>]*>.*?</svg>", ticket.text, re.S)
    assert svg and 'class="qr-code"' in svg.group(0) and "<path" in svg.group(0)
    assert "<script" not in svg.group(0) and "style=" not in ticket.text  # the CSP allows neither
    assert "Show this code at the door." in ticket.text
    assert ticket.headers["cache-control"] == "private, no-store"


def test_qr_code_is_plain_svg_with_its_title_escaped():
    from festival.web.views.tickets import qr_svg

    svg = str(qr_svg("https://festival.example.org/tickets/abc", 'Ticket for <"Film"> & co'))

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert '<title>Ticket for &lt;"Film"&gt; &amp; co</title>' in svg
    assert "style" not in svg and "script" not in svg


async def test_ticket_page_escapes_what_the_attendee_typed(client, ids):
    answer = await register_by_form(client, ids["hague"], name="<script>alert(1)</script>")
    ticket = await client.get(answer.headers["location"])
    assert "<script>alert(1)" not in ticket.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ticket.text


async def test_ticket_page_links_to_the_calendar(client, ids):
    answer = await register_by_form(client, ids["hague"])
    token = answer.headers["location"].split("?")[0].rsplit("/", 1)[1]
    ticket = await client.get(answer.headers["location"])

    assert f'href="/screenings/{ids["hague"]}.ics"' in ticket.text
    assert f"webcal://festival.example.org/feeds/tickets/{token}.ics" in ticket.text


async def test_ticket_unknown_token_is_a_friendly_404(client, ids):
    answer = await client.get("/tickets/no-such-ticket-0123456789abcdef")
    assert answer.status_code == 404
    assert "There is no such registration." in answer.text and "Traceback" not in answer.text


async def test_cancel_button_cancels_and_promotes_the_next_in_line(app, client, ids):
    await set_capacity(app, ids["hague"], 2)
    first = await register_by_form(client, ids["hague"])
    waiting = await register_by_form(client, ids["hague"], email="bo@example.org")
    ticket = await client.get(first.headers["location"])
    assert "Yes, cancel my registration" in ticket.text
    path = first.headers["location"].split("?")[0]

    answer = await client.post(f"{path}/cancel", data={"csrf_token": csrf_of(ticket.text)})

    assert answer.status_code == 303 and answer.headers["location"] == path
    cancelled = await client.get(first.headers["location"])
    assert "This registration is cancelled." in cancelled.text
    assert "<svg" not in cancelled.text and "Yes, cancel" not in cancelled.text
    promoted = await client.get(waiting.headers["location"])
    assert "Your 2 seats are confirmed." in promoted.text


async def test_cancel_with_a_forged_csrf_token_is_403_and_keeps_the_seats(app, client, ids):
    first = await register_by_form(client, ids["hague"])

    answer = await client.post(f"{first.headers['location'].split('?')[0]}/cancel",
                               data={"csrf_token": "forged"})

    assert answer.status_code == 403
    ticket = await client.get(first.headers["location"])
    assert "Your 2 seats are confirmed." in ticket.text


async def test_cancel_unknown_ticket_is_404(client, ids):
    page = await client.get(f"/screenings/{ids['hague']}")
    answer = await client.post("/tickets/no-such-ticket-0123456789abcdef/cancel",
                               data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 404


async def test_form_oversized_body_is_413(app, client, ids):
    answer = await register_by_form(client, ids["hague"], name="x" * (70 * 1024))
    assert answer.status_code == 413
    assert await written(app) == (0, 0)


async def test_screening_page_of_a_started_screening_says_registration_is_closed(app, client, ids):
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET starts_at = '2000-01-01T18:00:00Z' WHERE id = ?",
                           (ids["hague"],))

    page = await client.get(f"/screenings/{ids['hague']}")

    assert "already started, so registration is closed" in page.text
    assert 'name="seats"' not in page.text


async def test_lost_ticket_form_mails_the_links_without_telling_who_registered(
        app, client, ids):
    await register_by_form(client, ids["hague"])
    await register_by_form(client, ids["sydney"], email="ANA@example.org")
    async with app.state.db.transaction() as conn:  # the confirmations went out long ago
        await conn.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00Z'")

    async def ask(email: str) -> Any:
        page = await client.get("/tickets/lost")
        return await client.post("/tickets/lost",
                                 data={"email": email, "csrf_token": csrf_of(page.text)})

    known, unknown = await ask(" ana@EXAMPLE.org "), await ask("nobody@example.org")

    assert known.status_code == unknown.status_code == 200
    notice = "their links are on their way to it"
    assert notice in known.text and notice in unknown.text
    rows = await app.state.db.fetch_all(
        "SELECT kind FROM outbox WHERE created_at > '2000-01-01T00:00:00Z'")
    assert [r["kind"] for r in rows] == ["confirmed", "confirmed"]  # one per screening
    await ask("ana@example.org")  # again at once: no second round of mail
    assert len(await app.state.db.fetch_all(
        "SELECT id FROM outbox WHERE created_at > '2000-01-01T00:00:00Z'")) == 2


async def test_lost_ticket_form_refuses_a_bad_address_and_a_missing_token(app, client):
    page = await client.get("/tickets/lost")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    bad = await client.post("/tickets/lost",
                            data={"email": "not an address", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    forged = await client.post("/tickets/lost", data={"email": "ana@example.org"})
    assert forged.status_code == 403
    assert (await app.state.db.fetch_one("SELECT COUNT(*) FROM outbox"))[0] == 0
