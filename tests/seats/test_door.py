"""The door: attendee lists, check-in (once, also when two doors scan at once), walk-ins,
the CSV export, and who may do what (an organiser acts for their own country only)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from typing import Any

import httpx
import pytest

from festival.core import times
from festival.seats import door, registrations
from festival.web import templating
from festival.web.app import create_app
from tests.helpers import Client, csrf_of, post_form, register, screening_id

# --- fixtures and helpers -------------------------------------------------------------------

def ticket_token_absent(text: str) -> bool:
    return not re.search(r"[A-Za-z0-9_-]{32}", text)


async def door_check_in(c: Client, sid: int, ticket: str) -> httpx.Response:
    return await post_form(c, f"/admin/screenings/{sid}/door",
                           f"/admin/screenings/{sid}/door/checkins", ticket=ticket)


@pytest.fixture
async def hague(app: Any, programme: Any) -> int:
    return await screening_id(app, "hague")


# --- authorisation ------------------------------------------------------------------------------

async def test_door_pages_need_a_signed_in_organiser(client: Client, hague: int) -> None:
    page = await client.get(f"/admin/screenings/{hague}/door")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/admin/login?next=")
    api = await client.post("/api/v1/admin/checkins", json={"token": "x" * 32})
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "unauthorised"


async def test_door_organiser_of_another_country_is_refused(app: Any, sign_in: Any,
                                                            hague: int) -> None:
    sydney = await screening_id(app, "sydney")
    niamey = await screening_id(app, "niamey")
    ticket = await register(app, "sydney", "Kim", "kim@example.org")
    nl = await sign_in("nl@example.org", country="NL")
    for path in (f"/admin/screenings/{niamey}/attendees", f"/admin/screenings/{niamey}/door",
                 f"/admin/screenings/{niamey}/attendees.csv",
                 f"/admin/screenings/{sydney}/door?q={ticket['token']}"):
        assert (await nl.get(path)).status_code == 403, path
    # By form: posting to another country's door, or another country's ticket to our own.
    token = csrf_of((await nl.get(f"/admin/screenings/{hague}/door")).text)
    for target, sid in ((f"/admin/screenings/{sydney}/door/checkins", sydney),
                        (f"/admin/screenings/{hague}/door/checkins", hague)):
        answer = await nl.post(target, data={"csrf_token": token, "ticket": ticket["token"]})
        assert answer.status_code == 403, (target, sid)
    walk_in = await nl.post(f"/admin/screenings/{sydney}/door/walk-ins",
                            data={"csrf_token": token, "name": "Sneaky", "seats": "1"})
    assert walk_in.status_code == 403
    # By API.
    api = await nl.post("/api/v1/admin/checkins", json={"token": ticket["token"]})
    assert api.status_code == 403
    row = await app.state.db.fetch_one("SELECT checked_in_at FROM registrations WHERE id = ?",
                                       (ticket["id"],))
    assert row["checked_in_at"] is None
    assert await app.state.db.fetch_one("SELECT 1 FROM registrations WHERE name = 'Sneaky'") \
        is None


async def test_door_admin_may_open_every_country(app: Any, sign_in: Any, programme: Any) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    sydney = await screening_id(app, "sydney")
    assert (await admin.get(f"/admin/screenings/{sydney}/attendees")).status_code == 200
    assert (await admin.get(f"/admin/screenings/{sydney}/door")).status_code == 200


async def test_door_forms_without_csrf_token_are_refused(app: Any, sign_in: Any,
                                                         hague: int) -> None:
    ticket = await register(app, "hague", "Ana", "ana@example.org")
    nl = await sign_in("nl@example.org")
    answer = await nl.post(f"/admin/screenings/{hague}/door/checkins",
                           data={"ticket": ticket["token"]})
    assert answer.status_code == 403
    assert (await app.state.db.fetch_one("SELECT checked_in_at FROM registrations"))[0] is None


# --- the attendee list and its CSV -------------------------------------------------------------

async def test_attendees_list_shows_every_status_with_counts(app: Any, sign_in: Any,
                                                             hague: int) -> None:
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 3 WHERE id = ?", (hague,))
    await register(app, "hague", "Ana Confirmed", "ana@example.org", 2)
    leaving = await register(app, "hague", "Bo Leaving", "bo@example.org", 1)
    await registrations.cancel(app.state.db, leaving["token"])
    await register(app, "hague", "Cy Third", "cy@example.org", 1)
    await register(app, "hague", "Di Waiting", "di@example.org", 2)
    nl = await sign_in("nl@example.org")
    page = await nl.get(f"/admin/screenings/{hague}/attendees")
    assert page.status_code == 200
    for text in ("Ana Confirmed", "Bo Leaving", "Cy Third", "Di Waiting",
                 "Confirmed (2)", "Waitlist (1)", "Cancelled (1)"):
        assert text in page.text
    data = await door.attendees(app.state.db, {"role": "admin"}, hague)
    assert data["counts"]["confirmed"] == {"registrations": 2, "seats": 3}
    assert data["counts"]["waitlisted"] == {"registrations": 1, "seats": 2}
    assert data["counts"]["seats_left"] == 0
    assert data["waitlist"][0]["waitlist_position"] == 1


async def test_attendees_csv_is_an_excel_friendly_attachment(app: Any, sign_in: Any,
                                                             hague: int) -> None:
    await register(app, "hague", "Zoë Ångström", "zoe@example.org", 2)
    nl = await sign_in("nl@example.org")
    answer = await nl.get(f"/admin/screenings/{hague}/attendees.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == \
        'attachment; filename="attendees-2099-hague.csv"'
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["name", "email", "seats", "status"]
    assert rows[1][:4] == ["Zoë Ångström", "zoe@example.org", "2", "confirmed"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows[1][6])  # registered, local
    assert "token" not in rows[0] and ticket_token_absent(answer.text)


async def test_attendees_csv_defuses_formulas(app: Any, sign_in: Any, hague: int) -> None:
    await register(app, "hague", '=HYPERLINK("https://evil.example","click")',
                   "a@example.org")
    await register(app, "hague", "+1 555", "b@example.org")
    await register(app, "hague", "@SUM(A1)", "c@example.org")
    await register(app, "hague", "-2+3", "d@example.org")
    nl = await sign_in("nl@example.org")
    text = (await nl.get(f"/admin/screenings/{hague}/attendees.csv")).content.decode("utf-8-sig")
    names = {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}
    assert names == {'\'=HYPERLINK("https://evil.example","click")', "'+1 555", "'@SUM(A1)",
                     "'-2+3"}


def test_safe_cell_prefixes_only_formula_starts() -> None:
    assert door.safe_cell("=1+1") == "'=1+1"
    assert door.safe_cell("\tx") == "'\tx"
    assert door.safe_cell("\rx") == "'\rx"
    assert door.safe_cell("Ana = Bo") == "Ana = Bo"
    assert door.safe_cell(3) == 3


# --- check-in -----------------------------------------------------------------------------------

async def test_check_in_once_then_refused_with_the_first_time(app: Any, sign_in: Any,
                                                              hague: int) -> None:
    ticket = await register(app, "hague", "Ana Reyes", "ana@example.org", 2)
    nl = await sign_in("door-nl@example.org")
    posted = await door_check_in(nl, hague, ticket["token"])
    assert posted.status_code == 303  # post/redirect/get: a reload does not post again
    assert posted.headers["location"] == (f"/admin/screenings/{hague}/door?done=checked_in"
                                          f"&r={ticket['id']}")
    first = await nl.get(posted.headers["location"])
    assert first.status_code == 200
    assert "Checked in: Ana Reyes, 2 seats." in first.text
    row = await app.state.db.fetch_one("SELECT checked_in_at FROM registrations WHERE id = ?",
                                       (ticket["id"],))
    local = times.to_local(row["checked_in_at"], "Europe/Amsterdam")
    second = await door_check_in(nl, hague, f"https://festival.example.org/tickets/"
                                            f"{ticket['token']}")
    assert second.status_code == 409
    assert "Already checked in at" in second.text
    assert templating.format_time(local) in second.text  # at the venue's local time
    assert templating.zone_label(local) in second.text
    assert "by door-nl@example.org" in second.text


async def test_check_in_accepts_the_ticket_url_or_bare_token() -> None:
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    assert door.token_from(token) == token
    assert door.token_from(f"  https://festival.example.org/tickets/{token}\n") == token
    assert door.token_from(f"https://x.org/tickets/{token}?utm=qr") == token
    assert door.token_from(f"https://x.org/tickets/{token}/") == token
    assert door.token_from("Ana Reyes") is None
    assert door.token_from("") is None


async def test_check_in_refuses_waitlisted_and_cancelled(app: Any, sign_in: Any,
                                                         hague: int) -> None:
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (hague,))
    await register(app, "hague", "First", "first@example.org", 1)
    waiting = await register(app, "hague", "Waiting", "waiting@example.org", 1)
    gone = await register(app, "hague", "Gone", "gone@example.org", 1)
    await registrations.cancel(app.state.db, gone["token"])
    assert waiting["status"] == "waitlisted"
    nl = await sign_in("nl@example.org")
    answer = await door_check_in(nl, hague, waiting["token"])
    assert answer.status_code == 409
    assert "on the waitlist, not confirmed, so it cannot be checked in" in answer.text
    answer = await door_check_in(nl, hague, gone["token"])
    assert answer.status_code == 409
    assert "was cancelled, so it cannot be checked in" in answer.text
    api = await nl.post("/api/v1/admin/checkins", json={"token": waiting["token"]})
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "not_confirmed"
    rows = await app.state.db.fetch_all("SELECT checked_in_at FROM registrations")
    assert all(r[0] is None for r in rows)


async def test_check_in_of_a_ticket_for_another_screening_is_refused(app: Any, sign_in: Any,
                                                                     hague: int) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    ticket = await register(app, "sydney", "Kim", "kim@example.org")
    answer = await door_check_in(admin, hague, ticket["token"])
    assert answer.status_code == 409
    assert "This ticket is for another screening" in answer.text


async def test_check_in_unknown_ticket_is_not_found(sign_in: Any, hague: int) -> None:
    nl = await sign_in("nl@example.org")
    assert (await door_check_in(nl, hague, "x" * 32)).status_code == 404
    api = await nl.post("/api/v1/admin/checkins", json={"token": "y" * 32})
    assert api.status_code == 404


async def test_check_in_api_answers_200_then_409_with_when(app: Any, sign_in: Any,
                                                           hague: int) -> None:
    ticket = await register(app, "hague", "Ana", "ana@example.org", 3)
    nl = await sign_in("scanner@example.org")
    url = f"https://festival.example.org/tickets/{ticket['token']}"
    first = await nl.post("/api/v1/admin/checkins", json={"token": url})
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "checked_in"
    assert body["registration"]["seats"] == 3
    assert body["registration"]["checked_in_at"].endswith("+01:00")
    again = await nl.post("/api/v1/admin/checkins", json={"token": ticket["token"]})
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "already_checked_in"
    assert error["checked_in_at"] == body["registration"]["checked_in_at"]
    assert error["checked_in_by"] == "scanner@example.org"


async def test_check_in_api_needs_a_json_body(sign_in: Any, hague: int) -> None:
    nl = await sign_in("nl@example.org")
    form = await nl.post("/api/v1/admin/checkins", data={"token": "x" * 32})
    assert form.status_code == 403  # a form could come from another site
    token = csrf_of((await nl.get("/admin/")).text)
    form = await nl.post("/api/v1/admin/checkins", data={"token": "x" * 32, "csrf_token": token})
    assert form.status_code == 422
    assert (await nl.post("/api/v1/admin/checkins", json=["x"])).status_code == 422


async def test_check_in_race_between_two_doors_lets_exactly_one_through(
        app: Any, settings: Any, sign_in: Any, hague: int) -> None:
    """Two doors (two app instances on the same database file, as two workers would be)
    scan the same ticket at the same moment."""
    ticket = await register(app, "hague", "Ana", "ana@example.org", 2)
    second_app = create_app(settings)
    async with second_app.router.lifespan_context(second_app):
        door_a = await sign_in("a@example.org")
        door_b = await sign_in("b@example.org", target=second_app)
        answers = await asyncio.gather(*(
            c.post("/api/v1/admin/checkins", json={"token": ticket["token"]})
            for c in (door_a, door_b, door_a, door_b)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409]
    audit_rows = await app.state.db.fetch_all(
        "SELECT * FROM audit_log WHERE action = 'registration.check_in'")
    assert len(audit_rows) == 1


async def test_check_in_is_written_to_the_audit_trail(app: Any, sign_in: Any,
                                                      hague: int) -> None:
    ticket = await register(app, "hague", "Ana", "ana@example.org")
    nl = await sign_in("nl@example.org")
    await door_check_in(nl, hague, ticket["token"])
    entry = await app.state.db.fetch_one(
        "SELECT a.*, o.email FROM audit_log a JOIN organisers o ON o.id = a.organiser_id "
        "WHERE a.action = 'registration.check_in'")
    assert entry["email"] == "nl@example.org"
    assert (entry["entity"], entry["entity_id"]) == ("registration", ticket["id"])
    assert json.loads(entry["before_json"])["checked_in_at"] is None
    assert json.loads(entry["after_json"])["checked_in_at"] is not None


async def test_door_search_finds_by_name_email_or_ticket(app: Any, sign_in: Any,
                                                         hague: int) -> None:
    ana = await register(app, "hague", "Ána Reyes", "ana@example.org")
    await register(app, "hague", "Bo Smit", "bo@example.org")
    nl = await sign_in("nl@example.org")
    for query in ("ÁNA", "ana@", ana["token"], f"https://festival.example.org/tickets/{ana['token']}"):
        page = await nl.get(f"/admin/screenings/{hague}/door", params={"q": query})
        assert page.status_code == 200
        assert "Ána Reyes" in page.text and "Bo Smit" not in page.text, query
        assert "Check in Ána Reyes" in page.text


# --- walk-ins -------------------------------------------------------------------------------------

async def test_walk_in_is_added_and_checked_in_while_seats_remain(app: Any, sign_in: Any,
                                                                 hague: int) -> None:
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 4 WHERE id = ?", (hague,))
    await register(app, "hague", "Ana", "ana@example.org", 1)
    nl = await sign_in("nl@example.org")
    door_url = f"/admin/screenings/{hague}/door"
    action = f"/admin/screenings/{hague}/door/walk-ins"
    posted = await post_form(nl, door_url, action, name="Walk In", seats="2", email="")
    assert posted.status_code == 303  # post/redirect/get: a reload does not add it twice
    row = await app.state.db.fetch_one("SELECT * FROM registrations WHERE name = 'Walk In'")
    assert posted.headers["location"] == f"{door_url}?done=walk_in&r={row['id']}"
    added = await nl.get(posted.headers["location"])
    assert "Walk-in added and checked in: Walk In, 2 seats." in added.text
    assert 'role="status"' in added.text
    # Reloading the page shows the notice again and adds nobody.
    again = await nl.get(posted.headers["location"])
    assert "Walk-in added and checked in: Walk In, 2 seats." in again.text
    assert len(await app.state.db.fetch_all(
        "SELECT 1 FROM registrations WHERE name = 'Walk In'")) == 1
    # The notice names only a checked-in registration of this very screening.
    other = await nl.get(f"{door_url}?done=walk_in&r={row['id'] + 999}")
    assert "Walk-in added" not in other.text
    assert (row["status"], row["walk_in"], row["seats"], row["email"]) == ("confirmed", 1, 2, "")
    assert row["email_key"].startswith("walk-in:") and row["checked_in_at"] is not None
    audit_row = await app.state.db.fetch_one(
        "SELECT * FROM audit_log WHERE action = 'registration.walk_in'")
    assert audit_row["entity_id"] == row["id"]
    # A second walk-in without an email does not collide with the first; it fills the room.
    second = await post_form(nl, door_url, action, name="Second", seats="1")
    assert second.status_code == 303
    second = await nl.get(second.headers["location"])
    assert "no seats are left for walk-ins" in second.text
    refused = await nl.post(action, data={"csrf_token": csrf_of(second.text), "name": "Late",
                                          "seats": "1"})
    assert refused.status_code == 409
    assert "There are not enough free seats for this walk-in. Only 0 seats are left." \
        in refused.text
    assert await app.state.db.fetch_one("SELECT 1 FROM registrations WHERE name = 'Late'") is None


async def test_walk_in_with_bad_input_keeps_the_values(sign_in: Any, hague: int) -> None:
    nl = await sign_in("nl@example.org")
    answer = await post_form(nl, f"/admin/screenings/{hague}/door",
                             f"/admin/screenings/{hague}/door/walk-ins",
                             name="", seats="9", email="not-an-email")
    assert answer.status_code == 422
    assert "Please enter your name." in answer.text
    assert "Please choose a whole number of seats from 1 to 4." in answer.text
    assert 'value="not-an-email"' in answer.text


async def test_walk_in_refused_more_seats_than_are_left(app: Any, hague: int,
                                                        programme: Any) -> None:
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 2 WHERE id = ?", (hague,))
    organiser = {"id": None, "role": "admin", "country": None}
    await door.add_walk_in(app.state.db, organiser, hague, "Pair", 2)
    with pytest.raises(door.NoSeatsLeft) as refused:
        await door.add_walk_in(app.state.db, organiser, hague, "Single", 1)
    assert refused.value.seats_left == 0


async def test_walk_in_with_an_already_registered_email_is_refused(app: Any, sign_in: Any,
                                                                  hague: int) -> None:
    await register(app, "hague", "Ana", "Ana@Example.org")
    nl = await sign_in("nl@example.org")
    answer = await post_form(nl, f"/admin/screenings/{hague}/door",
                             f"/admin/screenings/{hague}/door/walk-ins",
                             name="Ana again", seats="1", email=" ana@example.org ")
    assert answer.status_code == 409
    assert "This email address is already registered for this screening" in answer.text
    count = await app.state.db.fetch_one("SELECT COUNT(*) FROM registrations")
    assert count[0] == 1
