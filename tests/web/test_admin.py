"""Organisers managing the programme: roles, forms, the admin API, the rules a change
must pass, and what attendees, feeds and the audit trail see of it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from festival.core import times
from festival.seats import registrations
from tests import helpers
from tests.helpers import Client, SignIn, csrf_of, feed_event, ids, post_form

# --- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture
def sign_in(sign_in: SignIn, programme: Any) -> SignIn:
    """The shared sign_in, with the sample programme loaded."""
    return sign_in


@pytest.fixture
async def nl(sign_in: SignIn) -> Client:
    return await sign_in("nl@example.org", "organiser", "NL")


@pytest.fixture
async def admin(sign_in: SignIn) -> Client:
    return await sign_in("admin@example.org", "admin", None)


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="field__error" id="e-(\w+)">([^<]*)<', html))


async def one(app: Any, sql: str, *params: Any) -> dict[str, Any]:
    row = await app.state.db.fetch_one(sql, params)
    assert row is not None
    return dict(row)


async def a_screening(app: Any, **changes: Any) -> dict[str, Any]:
    """A new screening's API body: Wallah at Humanity House on 15 December."""
    venues, films = await ids(app, "venues"), await ids(app, "films")
    return {"film_id": films["wallah-je-te-jure"], "venue_id": venues["humanity-house"],
            "starts_at": "2099-12-15T19:00", "ends_at": "2099-12-15T21:00", **changes}


async def register(app: Any, screening_id: int, email: str, seats: int = 1) -> dict[str, Any]:
    return await helpers.register(app, screening_id, "Someone", email, seats)


async def outbox_kinds(app: Any, screening_id: int) -> list[tuple[str, str]]:
    rows = await app.state.db.fetch_all(
        "SELECT o.kind, o.recipient FROM outbox o JOIN registrations r "
        "ON r.id = o.registration_id WHERE r.screening_id = ? ORDER BY o.id", (screening_id,))
    return [(r["kind"], r["recipient"]) for r in rows]


# --- roles --------------------------------------------------------------------------------------

async def test_organiser_cannot_open_a_venue_of_another_country(app: Any, nl: Client) -> None:
    venues = await ids(app, "venues")
    assert (await nl.get(f"/admin/venues/{venues['niamey-ccfn']}")).status_code == 403
    assert (await nl.get(f"/admin/venues/{venues['humanity-house']}")).status_code == 200


async def test_organiser_cannot_change_a_venue_of_another_country_by_form(app: Any,
                                                                          nl: Client) -> None:
    venues = await ids(app, "venues")
    page = await nl.get(f"/admin/venues/{venues['humanity-house']}")
    answer = await nl.post(f"/admin/venues/{venues['niamey-ccfn']}", data={
        "csrf_token": csrf_of(page.text), "name": "Taken over", "city": "Niamey",
        "country": "NE", "timezone": "Africa/Niamey", "capacity": "200"})
    assert answer.status_code == 403
    venue = await one(app, "SELECT name FROM venues WHERE key = 'niamey-ccfn'")
    assert venue["name"] == "Centre Culturel Franco-Nigérien"


async def test_organiser_cannot_move_a_venue_into_another_country(app: Any, nl: Client
                                                                  ) -> None:
    venues = await ids(app, "venues")
    answer = await post_form(nl, f"/admin/venues/{venues['humanity-house']}", country="NE",
                             name="Humanity House", city="The Hague",
                             timezone="Europe/Amsterdam", capacity="120")
    assert answer.status_code == 403
    assert (await one(app, "SELECT country FROM venues WHERE key = 'humanity-house'")
            )["country"] == "NL"


async def test_organiser_cannot_change_a_screening_of_another_country_by_api(
        app: Any, nl: Client) -> None:
    screenings = await ids(app, "screenings")
    answer = await nl.patch(f"/api/v1/admin/screenings/{screenings['sydney']}",
                            json={"capacity": 10})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert (await nl.get(f"/api/v1/admin/screenings/{screenings['sydney']}")).status_code == 403
    assert (await one(app, "SELECT capacity FROM screenings WHERE key = 'sydney'")
            )["capacity"] == 80


async def test_organiser_cannot_create_a_screening_at_a_venue_of_another_country(
        app: Any, nl: Client) -> None:
    venues = await ids(app, "venues")
    body = await a_screening(app, venue_id=venues["niamey-ccfn"], starts_at="2099-12-15T10:00",
                             ends_at="2099-12-15T12:00")
    assert (await nl.post("/api/v1/admin/screenings", json=body)).status_code == 403
    page = await nl.get("/admin/screenings/new")
    form = await nl.post("/admin/screenings/new", data={
        "csrf_token": csrf_of(page.text), **{k: str(v) for k, v in body.items()}})
    assert form.status_code == 403
    assert len(await ids(app, "screenings")) == 5


async def test_organiser_cannot_open_a_screening_of_another_country(app: Any, nl: Client
                                                                    ) -> None:
    screenings = await ids(app, "screenings")
    assert (await nl.get(f"/admin/screenings/{screenings['niamey']}")).status_code == 403
    status = await nl.get(f"/admin/screenings/{screenings['hague']}")
    for confirmed in ({}, {"confirm": "1"}):
        answer = await nl.post(f"/admin/screenings/{screenings['sydney']}/status",
                               data={"csrf_token": csrf_of(status.text), "status": "cancelled",
                                     **confirmed})
        assert answer.status_code == 403
    assert (await nl.get(f"/admin/screenings/{screenings['sydney']}/cancel")
            ).status_code == 403


async def test_organiser_edits_a_venue_of_their_country(app: Any, nl: Client) -> None:
    venues = await ids(app, "venues")
    answer = await post_form(nl, f"/admin/venues/{venues['humanity-house']}",
                             name="Humanity House", city="The Hague", country="NL",
                             timezone="Europe/Amsterdam", capacity="130",
                             address="Prinsegracht 10", step_free="1")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?done=saved")
    venue = await one(app, "SELECT * FROM venues WHERE key = 'humanity-house'")
    assert (venue["capacity"], venue["address"], venue["step_free"]) == (130, "Prinsegracht 10", 1)


async def test_organiser_sees_only_their_countrys_screenings_and_venues(app: Any, nl: Client
                                                                        ) -> None:
    listed = (await nl.get("/api/v1/admin/screenings")).json()
    assert {s["country"] for s in listed} == {"NL"}
    page = await nl.get("/admin/screenings")
    assert "Humanity House" in page.text and "Harbour Hall" not in page.text
    venues = await nl.get("/admin/venues")
    assert "Humanity House" in venues.text and "Harbour Hall" not in venues.text


async def test_admin_sees_and_changes_every_country(app: Any, admin: Client) -> None:
    listed = (await admin.get("/api/v1/admin/screenings")).json()
    assert {s["country"] for s in listed} == {"NL", "AU", "NP", "MX", "NE"}
    screenings = await ids(app, "screenings")
    answer = await admin.patch(f"/api/v1/admin/screenings/{screenings['sydney']}",
                               json={"capacity": 70})
    assert answer.status_code == 200
    assert answer.json()["capacity"] == 70


async def test_admin_list_narrows_by_country_and_title_and_pages(
        app: Any, admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from festival.web.views import admin as admin_views

    everything = (await admin.get("/admin/screenings")).text
    assert "Harbour Hall" in everything and "Humanity House" in everything
    mexico = (await admin.get("/admin/screenings?country=mx")).text
    assert "Cineteca, Sala 3" in mexico and "Harbour Hall" not in mexico
    assert "Humanity House" in (await admin.get("/admin/screenings?q=WALLAH")).text

    monkeypatch.setattr(admin_views, "LIST_PAGE", 2)
    first = (await admin.get("/admin/screenings")).text
    assert "Page 1 of 3" in first and 'href="?page=2" rel="next"' in first
    last = (await admin.get("/admin/screenings?page=99")).text
    assert "Page 3 of 3" in last and 'rel="next"' not in last


async def test_shared_film_is_edited_only_by_admin_once_other_countries_use_it(
        app: Any, nl: Client, admin: Client) -> None:
    films = await ids(app, "films")
    wallah = films["wallah-je-te-jure"]  # shown in NL, NP and NE
    assert (await nl.get(f"/admin/films/{wallah}")).status_code == 403
    page = await nl.get("/admin/films")
    assert f'href="/admin/films/{wallah}"' not in page.text
    answer = await post_form(admin, f"/admin/films/{wallah}", title="Wallah, je te jure",
                             runtime_minutes="30", languages="fr,wo")
    assert answer.status_code == 303


async def test_organiser_creates_a_film_and_may_edit_it_while_only_theirs(
        app: Any, nl: Client, sign_in: SignIn) -> None:
    answer = await post_form(nl, "/admin/films/new", title="Borders", runtime_minutes="75",
                             languages="en")
    assert answer.status_code == 303
    film = await one(app, "SELECT * FROM films WHERE key = 'borders'")
    assert (film["title"], film["runtime_minutes"]) == ("Borders", 75)
    assert (await nl.get(f"/admin/films/{film['id']}")).status_code == 200
    au = await sign_in("au@example.org", "organiser", "AU")
    body = await a_screening(app, film_id=film["id"], venue_id=(await ids(app, "venues"))[
        "sydney-hall"], starts_at="2099-12-08T19:00", ends_at="2099-12-08T21:00")
    assert (await au.post("/api/v1/admin/screenings", json=body)).status_code == 201
    assert (await nl.get(f"/admin/films/{film['id']}")).status_code == 403


async def test_unlisted_guest_is_hidden_from_organisers_of_other_countries(
        app: Any, sign_in: SignIn) -> None:
    au = await sign_in("au@example.org", "organiser", "AU")
    guests = await ids(app, "guests")
    page = await au.get("/admin/guests")
    assert "Ana Reyes" in page.text and "Secret Person" not in page.text
    assert "Secret Person" not in (await au.get("/admin/screenings/new")).text
    assert (await au.get(f"/admin/guests/{guests['unlisted-guest']}")).status_code == 403


# --- CSRF and the API's manners -------------------------------------------------------------

async def test_form_without_csrf_token_is_refused_and_changes_nothing(app: Any, nl: Client
                                                                      ) -> None:
    body = await a_screening(app)
    answer = await nl.post("/admin/screenings/new", data={k: str(v) for k, v in body.items()})
    assert answer.status_code == 403
    screenings = await ids(app, "screenings")
    cancel = await nl.post(f"/admin/screenings/{screenings['hague']}/status",
                           data={"status": "cancelled", "csrf_token": "forged"})
    assert cancel.status_code == 403
    assert len(screenings) == 5
    assert (await one(app, "SELECT status FROM screenings WHERE key = 'hague'")
            )["status"] == "scheduled"
    assert await app.state.db.fetch_all("SELECT * FROM audit_log") == []


async def test_api_write_needs_a_json_content_type(app: Any, nl: Client) -> None:
    screenings = await ids(app, "screenings")
    # What a page on another site could send (no JSON) is refused as cross-site...
    answer = await nl.patch(f"/api/v1/admin/screenings/{screenings['hague']}",
                            content=json.dumps({"capacity": 100}),
                            headers={"content-type": "text/plain"})
    assert answer.status_code == 403
    form = await nl.post("/api/v1/admin/screenings", data={"capacity": "1"})
    assert form.status_code == 403
    # ...and from our own pages (with the form token) it still needs JSON.
    token = csrf_of((await nl.get("/admin/")).text)
    answer = await nl.patch(f"/api/v1/admin/screenings/{screenings['hague']}",
                            content=json.dumps({"capacity": 100}),
                            headers={"content-type": "text/plain", "x-csrf-token": token})
    assert answer.status_code == 422
    assert "body" in answer.json()["error"]["fields"]


async def test_api_refuses_unknown_fields_with_a_hint(app: Any, nl: Client) -> None:
    screenings = await ids(app, "screenings")
    answer = await nl.patch(f"/api/v1/admin/screenings/{screenings['hague']}",
                            json={"capacity": 100, "capasity": 90})
    assert answer.status_code == 422
    assert "capacity" in answer.json()["error"]["fields"]["capasity"]


async def test_api_unknown_screening_is_404(nl: Client) -> None:
    answer = await nl.patch("/api/v1/admin/screenings/9999", json={"capacity": 1})
    assert answer.status_code == 404


# --- the rules a screening must pass -------------------------------------------------------------

async def test_screening_outside_the_festival_dates_is_refused(app: Any, nl: Client) -> None:
    answer = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, starts_at="2099-12-19T19:00", ends_at="2099-12-19T21:00"))
    assert answer.status_code == 422
    assert "2099-12-05 to 2099-12-18" in answer.json()["error"]["fields"]["starts_at"]


async def test_screening_may_end_after_midnight_on_the_last_day(app: Any, nl: Client) -> None:
    answer = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, starts_at="2099-12-18T23:00", ends_at="2099-12-19T01:00"))
    assert answer.status_code == 201


async def test_screening_over_the_venues_capacity_is_refused(app: Any, nl: Client) -> None:
    answer = await nl.post("/api/v1/admin/screenings", json=await a_screening(app, capacity=121))
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"]["capacity"] == (
        "The venue holds 120 people: the capacity cannot be more than 120.")


async def test_screening_without_capacity_gets_the_venues(app: Any, nl: Client) -> None:
    answer = await nl.post("/api/v1/admin/screenings", json=await a_screening(app))
    assert answer.status_code == 201
    assert answer.json()["capacity"] == 120


async def test_screening_double_booking_the_venue_counts_the_changeover(app: Any, nl: Client
                                                                        ) -> None:
    # The Hague's screening runs 19:00-21:30 on the 13th; venues need 30 minutes between.
    too_soon = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, starts_at="2099-12-13T21:45", ends_at="2099-12-13T23:00"))
    assert too_soon.status_code == 422
    message = too_soon.json()["error"]["fields"]["starts_at"]
    assert "already booked" in message and "30 minutes" in message
    after_changeover = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, starts_at="2099-12-13T22:00", ends_at="2099-12-13T23:30"))
    assert after_changeover.status_code == 201


async def test_screening_guest_in_two_places_at_once_is_flagged(app: Any, admin: Client
                                                                ) -> None:
    venues, guests = await ids(app, "venues"), await ids(app, "guests")
    # 12:00-14:00 in Mexico City is 19:00-21:00 in The Hague, where Ana is on stage.
    body = await a_screening(app, venue_id=venues["mexico-cineteca"],
                             starts_at="2099-12-13T12:00", ends_at="2099-12-13T14:00",
                             guest_ids=[guests["ana-reyes"]])
    flagged = await admin.post("/api/v1/admin/screenings", json=body)
    assert flagged.status_code == 422
    message = flagged.json()["error"]["fields"]["confirm_guest_clash"]
    assert "Ana Reyes is also a guest of" in message and "Humanity House" in message
    confirmed = await admin.post("/api/v1/admin/screenings",
                                 json={**body, "confirm_guest_clash": True})
    assert confirmed.status_code == 201


async def test_guest_clash_with_another_countrys_draft_does_not_reveal_it(
        app: Any, nl: Client, sign_in: SignIn) -> None:
    venues, guests = await ids(app, "venues"), await ids(app, "guests")
    draft = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, guest_ids=[guests["ana-reyes"]], debate_title="Secret plans"))
    assert draft.status_code == 201
    mx = await sign_in("mx@example.org", "organiser", "MX")
    body = await a_screening(app, venue_id=venues["mexico-cineteca"],
                             starts_at="2099-12-15T12:00", ends_at="2099-12-15T14:00",
                             guest_ids=[guests["ana-reyes"]])

    flagged = await mx.post("/api/v1/admin/screenings", json=body)

    assert flagged.status_code == 422
    message = flagged.json()["error"]["fields"]["confirm_guest_clash"]
    assert "Ana Reyes is also a guest of another country's screening" in message
    assert "Humanity House" not in message and "Wallah" not in message


async def test_screening_guest_clash_is_shown_in_the_form_with_a_way_to_confirm(
        app: Any, admin: Client) -> None:
    venues, guests = await ids(app, "venues"), await ids(app, "guests")
    fields = {"film_id": str((await ids(app, "films"))["the-crossing"]),
              "venue_id": str(venues["mexico-cineteca"]), "starts_at": "2099-12-13T12:00",
              "ends_at": "2099-12-13T14:00", "guest_ids": str(guests["ana-reyes"])}
    answer = await post_form(admin, "/admin/screenings/new", **fields)
    assert answer.status_code == 422
    assert "Ana Reyes is also a guest of" in field_errors(answer.text)["confirm_guest_clash"]
    assert 'name="confirm_guest_clash"' in answer.text
    again = await admin.post("/admin/screenings/new", data={
        "csrf_token": csrf_of(answer.text), **fields, "confirm_guest_clash": "1"})
    assert again.status_code == 303


async def test_screening_form_shows_each_error_beside_its_field_and_keeps_values(
        app: Any, nl: Client) -> None:
    venues = await ids(app, "venues")
    answer = await post_form(nl, "/admin/screenings/new", venue_id=str(venues["humanity-house"]),
                             starts_at="2099-12-15T19:00", ends_at="2099-12-15T18:00",
                             capacity="500", debate_title="Who crosses?")
    assert answer.status_code == 422
    errors = field_errors(answer.text)
    assert set(errors) == {"film_id", "ends_at", "capacity"}
    assert errors["film_id"] == "Please fill this in."
    assert 'value="Who crosses?"' in answer.text
    assert 'value="2099-12-15T19:00"' in answer.text
    assert 'aria-describedby="e-capacity"' in answer.text or 'e-capacity"' in answer.text


async def test_venue_with_an_unknown_time_zone_is_refused(app: Any, nl: Client) -> None:
    answer = await post_form(nl, "/admin/venues/new", name="Cinema Mars", city="Utrecht",
                             country="NL", timezone="Europe/Utrecht", capacity="50")
    assert answer.status_code == 422
    assert "unknown time zone" in field_errors(answer.text)["timezone"]
    assert 'value="Cinema Mars"' in answer.text


async def test_venue_created_from_the_admin_gets_a_unique_key(app: Any, nl: Client) -> None:
    for _ in range(2):
        answer = await post_form(nl, "/admin/venues/new", name="Humanity House",
                                 city="Amsterdam", country="NL", timezone="Europe/Amsterdam",
                                 capacity="40")
        assert answer.status_code == 303
    keys = sorted(k for k in await ids(app, "venues") if k.startswith("humanity-house"))
    assert keys == ["humanity-house", "humanity-house-2", "humanity-house-3"]


async def test_venue_capacity_cannot_drop_below_a_screening_there(app: Any, nl: Client) -> None:
    venues = await ids(app, "venues")
    answer = await post_form(nl, f"/admin/venues/{venues['humanity-house']}",
                             name="Humanity House", city="The Hague", country="NL",
                             timezone="Europe/Amsterdam", capacity="100")
    assert answer.status_code == 422
    assert "120 seats" in field_errors(answer.text)["capacity"]


async def test_venue_time_zone_cannot_change_under_its_screenings(app: Any, nl: Client
                                                                  ) -> None:
    venues = await ids(app, "venues")
    answer = await post_form(nl, f"/admin/venues/{venues['humanity-house']}",
                             name="Humanity House", city="The Hague", country="NL",
                             timezone="Europe/London", capacity="120")
    assert answer.status_code == 422
    assert "Europe/Amsterdam" in field_errors(answer.text)["timezone"]


async def test_venue_new_address_raises_the_sequence_of_its_screenings(app: Any, nl: Client
                                                                       ) -> None:
    venues = await ids(app, "venues")
    before = await one(app, "SELECT sequence FROM screenings WHERE key = 'hague'")
    answer = await post_form(nl, f"/admin/venues/{venues['humanity-house']}",
                             name="Humanity House", city="The Hague", country="NL",
                             timezone="Europe/Amsterdam", capacity="120",
                             address="Prinsegracht 12")
    assert answer.status_code == 303
    after = await one(app, "SELECT sequence FROM screenings WHERE key = 'hague'")
    assert after["sequence"] == before["sequence"] + 1


async def test_lowering_capacity_below_confirmed_seats_is_refused_with_the_numbers(
        app: Any, nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    for i in range(10):
        await register(app, hague, f"p{i}@example.org", seats=4)
    await register(app, hague, "last@example.org", seats=2)
    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 41})
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"]["capacity"] == (
        "42 seats are already confirmed; capacity cannot go below 42.")
    exactly = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 42})
    assert exactly.status_code == 200
    assert exactly.json()["seats_left"] == 0


async def test_raising_capacity_promotes_the_waitlist(app: Any, nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 2})
    await register(app, hague, "first@example.org", seats=2)
    waiting = await register(app, hague, "waiting@example.org", seats=2)
    assert waiting["status"] == "waitlisted"
    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 4})
    assert answer.status_code == 200
    assert (answer.json()["confirmed_seats"], answer.json()["waitlist"]) == (4, 0)
    row = await one(app, "SELECT status FROM registrations WHERE id = ?", waiting["id"])
    assert row["status"] == "confirmed"
    assert ("promoted", "waiting@example.org") in await outbox_kinds(app, hague)


async def test_changing_the_seats_per_registration(app: Any, nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"max_seats": 2})
    assert answer.json()["max_seats"] == 2
    refused = await nl.post(f"/api/v1/screenings/{hague}/registrations",
                            json={"name": "Big family", "email": "f@example.org", "seats": 3})
    assert refused.status_code == 422
    bad = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"max_seats": 0})
    assert bad.status_code == 422


# --- drafts and publishing --------------------------------------------------------------------

async def test_new_screening_is_a_draft_hidden_from_the_public_until_published(
        app: Any, nl: Client, client: Client) -> None:
    created = await nl.post("/api/v1/admin/screenings", json=await a_screening(
        app, notes="Door opens late"))
    assert created.status_code == 201
    draft = created.json()
    assert (draft["status"], draft["sequence"]) == ("draft", 0)
    sid, uid = draft["id"], draft["uid"]

    assert sid not in [s["id"] for s in (await client.get("/api/v1/screenings")).json()]
    assert (await client.get(f"/api/v1/screenings/{sid}")).status_code == 404
    assert (await client.get(f"/screenings/{sid}")).status_code == 404
    assert (await client.get(f"/screenings/{sid}.ics")).status_code == 404
    assert feed_event((await client.get("/feeds/festival.ics")).content, uid) is None
    assert f'/screenings/{sid}"' not in (await client.get("/")).text
    signup = await client.post(f"/api/v1/screenings/{sid}/registrations",
                               json={"name": "Early", "email": "e@example.org", "seats": 1})
    assert signup.status_code == 404

    page = await nl.get(f"/admin/screenings/{sid}")
    published = await nl.post(f"/admin/screenings/{sid}/status",
                              data={"csrf_token": csrf_of(page.text), "status": "scheduled"})
    assert published.status_code == 303
    assert published.headers["location"].endswith("?done=publish")

    assert sid in [s["id"] for s in (await client.get("/api/v1/screenings")).json()]
    assert (await client.get(f"/screenings/{sid}")).status_code == 200
    assert feed_event((await client.get("/feeds/festival.ics")).content, uid) is not None
    for path in (f"/api/v1/screenings/{sid}", f"/screenings/{sid}", "/feeds/festival.ics",
                 "/feeds/countries/NL.ics", f"/screenings/{sid}.ics"):
        public = await client.get(path)
        assert public.status_code == 200, path
        assert "Door opens late" not in public.text, path  # notes are for organisers
        assert "nl@example.org" not in public.text, path


async def test_new_screening_cannot_skip_the_draft(app: Any, nl: Client) -> None:
    answer = await nl.post("/api/v1/admin/screenings",
                           json=await a_screening(app, status="scheduled"))
    assert answer.status_code == 422
    assert "draft" in answer.json()["error"]["fields"]["status"]


async def test_published_screening_with_registrants_cannot_go_back_to_draft(app: Any,
                                                                            nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await register(app, hague, "a@example.org")
    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"status": "draft"})
    assert answer.status_code == 422
    assert "1 registration" in answer.json()["error"]["fields"]["status"]


# --- moves and cancellations --------------------------------------------------------------------

async def test_moving_a_screening_tells_registrants_and_raises_the_sequence(
        app: Any, nl: Client, client: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    before = await one(app, "SELECT sequence, updated_at, uid FROM screenings WHERE id = ?",
                       hague)
    await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 3})
    await register(app, hague, "one@example.org", seats=3)
    await register(app, hague, "two@example.org", seats=1)  # waitlisted: told as well
    gone = await register(app, hague, "gone@example.org", seats=1)
    await registrations.cancel(app.state.db, gone["token"])
    seq = (await one(app, "SELECT sequence FROM screenings WHERE id = ?", hague))["sequence"]

    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}",
                            json={"starts_at": "2099-12-14T20:00", "ends_at": "2099-12-14T22:00"})
    assert answer.status_code == 200
    moved = answer.json()
    assert moved["starts_at"] == "2099-12-14T20:00:00+01:00"
    assert moved["sequence"] == seq + 1 > before["sequence"]
    assert moved["updated_at"] >= before["updated_at"]
    changed = [r for k, r in await outbox_kinds(app, hague) if k == "screening_changed"]
    assert changed == ["one@example.org", "two@example.org"]
    statuses = [r["status"] for r in await app.state.db.fetch_all(
        "SELECT status FROM registrations WHERE screening_id = ? ORDER BY id", (hague,))]
    assert statuses == ["confirmed", "waitlisted", "cancelled"]  # kept as they were
    event = feed_event((await client.get("/feeds/festival.ics")).content, before["uid"])
    assert event is not None
    assert int(event["SEQUENCE"]) == seq + 1
    assert event.decoded("DTSTART").isoformat() == "2099-12-14T20:00:00+01:00"


async def test_cancelling_a_screening_tells_registrants_and_keeps_it_in_feeds(
        app: Any, nl: Client, client: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await register(app, hague, "one@example.org", seats=2)
    await register(app, hague, "two@example.org", seats=1)
    before = await one(app, "SELECT sequence, uid FROM screenings WHERE id = ?", hague)
    answer = await post_form(nl, f"/admin/screenings/{hague}/cancel",
                             f"/admin/screenings/{hague}/status", status="cancelled",
                             confirm="1")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?done=cancel")
    cancelled = [r for k, r in await outbox_kinds(app, hague) if k == "screening_cancelled"]
    assert cancelled == ["one@example.org", "two@example.org"]
    rows = await app.state.db.fetch_all(
        "SELECT status FROM registrations WHERE screening_id = ?", (hague,))
    assert [r["status"] for r in rows] == ["confirmed", "confirmed"]
    event = feed_event((await client.get("/feeds/festival.ics")).content, before["uid"])
    assert event is not None
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == before["sequence"] + 1


async def test_cancelling_a_screening_asks_first_saying_how_many_are_told(
        app: Any, nl: Client, admin: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await register(app, hague, "one@example.org", seats=2)
    await register(app, hague, "two@example.org", seats=1)
    edit = await nl.get(f"/admin/screenings/{hague}")
    assert f'href="/admin/screenings/{hague}/cancel"' in edit.text
    # The button of old (a post without confirmation) cancels nothing: it is sent to ask.
    answer = await post_form(nl, f"/admin/screenings/{hague}",
                             f"/admin/screenings/{hague}/status", status="cancelled")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/screenings/{hague}/cancel"
    assert (await one(app, "SELECT status FROM screenings WHERE id = ?", hague)
            )["status"] == "scheduled"
    assert [k for k, _ in await outbox_kinds(app, hague) if k == "screening_cancelled"] == []
    asking = await nl.get(answer.headers["location"])
    assert asking.status_code == 200
    assert "2 registrants will be told by mail" in asking.text
    assert 'name="confirm" value="1"' in asking.text
    # One registrant: the singular.
    sydney = (await ids(app, "screenings"))["sydney"]
    await register(app, sydney, "solo@example.org")
    assert "1 registrant will be told by mail" in (
        await admin.get(f"/admin/screenings/{sydney}/cancel")).text


async def test_screening_pages_give_the_time_without_seconds_and_the_month_in_words(
        app: Any, nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    for path in (f"/admin/screenings/{hague}", "/admin/screenings"):
        page = (await nl.get(path)).text
        times_shown = re.findall(r"<time [^>]*>([^<]*)</time>", page)
        assert times_shown, path
        assert not any(re.search(r"\d:\d\d:\d\d|\d/\d", t) for t in times_shown), times_shown
        assert any(re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d$", t)
                   for t in times_shown), times_shown


async def test_changing_only_the_notes_leaves_calendars_and_mail_alone(app: Any, nl: Client
                                                                       ) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await register(app, hague, "one@example.org")
    before = await one(app, "SELECT sequence, updated_at FROM screenings WHERE id = ?", hague)
    answer = await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"notes": "Bring chairs"})
    assert answer.status_code == 200
    after = await one(app, "SELECT sequence, updated_at, notes FROM screenings WHERE id = ?",
                      hague)
    assert (after["sequence"], after["updated_at"]) == (before["sequence"], before["updated_at"])
    assert after["notes"] == "Bring chairs"
    assert [k for k, _r in await outbox_kinds(app, hague)] == ["confirmed"]


async def test_moving_by_form_keeps_the_wall_clock_time_at_the_venue(app: Any, nl: Client
                                                                     ) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    page = await nl.get(f"/admin/screenings/{hague}")
    assert 'value="2099-12-13T19:00"' in page.text
    fields = dict(re.findall(r'<input type="(?:text|number|datetime-local)" id="f-\w+" '
                             r'name="(\w+)" value="([^"]*)"', page.text))
    fields.update(film_id=str((await ids(app, "films"))["wallah-je-te-jure"]),
                  venue_id=str((await ids(app, "venues"))["humanity-house"]),
                  starts_at="2099-12-13T18:00", ends_at="2099-12-13T20:30",
                  guest_ids=[str(g) for g in (await ids(app, "guests")).values()])
    answer = await nl.post(f"/admin/screenings/{hague}",
                           data={"csrf_token": csrf_of(page.text), **fields})
    assert answer.status_code == 303, field_errors(answer.text)
    assert answer.headers["location"].endswith("?done=move")
    row = await one(app, "SELECT starts_at, ends_at FROM screenings WHERE id = ?", hague)
    assert (row["starts_at"], row["ends_at"]) == ("2099-12-13T17:00:00Z", "2099-12-13T19:30:00Z")


# --- the audit trail ---------------------------------------------------------------------------

async def test_every_change_is_in_the_audit_trail_with_before_and_after(app: Any, nl: Client
                                                                        ) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 100})
    created = await nl.post("/api/v1/admin/screenings", json=await a_screening(app))
    rows = await app.state.db.fetch_all(
        "SELECT a.*, o.email FROM audit_log a JOIN organisers o ON o.id = a.organiser_id "
        "ORDER BY a.id")
    assert [(r["action"], r["entity"], r["entity_id"], r["email"]) for r in rows] == [
        ("screening.update", "screening", hague, "nl@example.org"),
        ("screening.create", "screening", created.json()["id"], "nl@example.org")]
    before, after = json.loads(rows[0]["before_json"]), json.loads(rows[0]["after_json"])
    assert (before["capacity"], after["capacity"]) == (120, 100)
    assert rows[1]["before_json"] is None
    assert json.loads(rows[1]["after_json"])["status"] == "draft"
    assert rows[0]["at"] <= times.now_text()


async def test_venue_film_and_guest_changes_are_audited(app: Any, nl: Client) -> None:
    await post_form(nl, "/admin/guests/new", name="Ama Owusu", role="Researcher", listed="1")
    guest = await one(app, "SELECT id FROM guests WHERE key = 'ama-owusu'")
    await post_form(nl, f"/admin/guests/{guest['id']}", name="Ama Owusu", role="Author")
    rows = await app.state.db.fetch_all("SELECT action, before_json, after_json FROM audit_log "
                                        "ORDER BY id")
    assert [r["action"] for r in rows] == ["guest.create", "guest.update"]
    assert json.loads(rows[1]["before_json"])["role"] == "Researcher"
    assert json.loads(rows[1]["after_json"])["role"] == "Author"
    assert json.loads(rows[1]["after_json"])["listed"] == 0


async def test_refused_change_leaves_no_audit_entry(app: Any, nl: Client) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await nl.patch(f"/api/v1/admin/screenings/{hague}", json={"capacity": 1000})
    assert await app.state.db.fetch_all("SELECT * FROM audit_log") == []


# --- pages ------------------------------------------------------------------------------------

async def test_admin_home_lists_the_organisers_screenings_with_seats(app: Any, nl: Client
                                                                     ) -> None:
    hague = (await ids(app, "screenings"))["hague"]
    await register(app, hague, "one@example.org", seats=3)
    page = await nl.get("/admin/")
    assert page.status_code == 200
    assert "Wallah, Je te jure" in page.text and "3 / 120" in page.text
    assert "Harbour Hall" not in page.text
    assert page.headers["cache-control"] == "private, no-store"


async def test_admin_pages_render_for_an_admin(app: Any, admin: Client) -> None:
    ids_ = {"screenings": await ids(app, "screenings"), "venues": await ids(app, "venues"),
            "films": await ids(app, "films"), "guests": await ids(app, "guests")}
    paths = ["/admin/", "/admin/screenings", "/admin/screenings?status=draft",
             "/admin/screenings/new", "/admin/venues", "/admin/venues/new", "/admin/films",
             "/admin/films/new", "/admin/guests", "/admin/guests/new"]
    paths += [f"/admin/{table}/{i}" for table, rows in ids_.items() for i in rows.values()]
    for path in paths:
        page = await admin.get(path)
        assert page.status_code == 200, path
        assert 'action="/admin/logout"' in page.text


async def test_saving_an_untouched_form_changes_nothing(app: Any, nl: Client) -> None:
    screenings, venues = await ids(app, "screenings"), await ids(app, "venues")
    for page_url in (f"/admin/screenings/{screenings['hague']}",
                     f"/admin/venues/{venues['humanity-house']}"):
        page = await nl.get(page_url)
        fields: dict[str, Any] = {}
        for tag in re.findall(r"<input[^>]*>", page.text):
            name = re.search(r'name="(\w+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if not name or ('type="checkbox"' in tag and " checked" not in tag):
                continue
            fields.setdefault(name.group(1), []).append(value.group(1) if value else "")
        fields.update((name, [value]) for name, value in re.findall(
            r'<textarea[^>]*name="(\w+)"[^>]*>([^<]*)</textarea>', page.text))
        fields.update((name, [value]) for name, value in re.findall(
            r'<select[^>]*name="(\w+)"[^>]*>.*?<option value="([^"]*)" selected',
            page.text, re.S))
        answer = await nl.post(page_url, data=fields)
        assert answer.status_code == 303, answer.text
        assert "done=unchanged" in answer.headers["location"], answer.headers["location"]
    assert await app.state.db.fetch_all("SELECT * FROM audit_log") == []


@pytest.mark.parametrize("guest_ids", ["x", [-1], [2**70], ["x"], [1] * 101])
async def test_bad_guest_ids_are_refused_with_the_field(app: Any, nl: Client,
                                                        guest_ids: Any) -> None:
    screenings = await ids(app, "screenings")
    answer = await nl.patch(f"/api/v1/admin/screenings/{screenings['hague']}",
                            json={"guest_ids": guest_ids})
    assert answer.status_code == 422
    assert "guest_ids" in answer.json()["error"]["fields"]


async def test_text_with_control_characters_is_refused(app: Any, nl: Client) -> None:
    answer = await post_form(nl, "/admin/guests/new", name="Ana\x00Reyes", role="Speaker")
    assert answer.status_code == 422
    assert "control characters" in field_errors(answer.text)["name"]
    assert (await app.state.db.fetch_one("SELECT COUNT(*) FROM guests WHERE name LIKE 'Ana%'"
                                         " AND key != 'ana-reyes'"))[0] == 0


async def test_an_admin_turns_on_holding_seats_until_the_address_is_confirmed(
        app: Any, sign_in: SignIn, programme: Any) -> None:
    admin = await sign_in("rule@example.org", "admin", None)
    home = await admin.get("/admin/")
    assert "Registration in high demand" in home.text
    token = csrf_of(home.text)
    saved = await admin.post("/admin/edition/confirm-email", data={
        "csrf_token": token, "confirm_email": "1", "hold_minutes": "45"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=confirm_email")
    row = await app.state.db.fetch_one("SELECT confirm_email, hold_minutes FROM editions")
    assert (row["confirm_email"], row["hold_minutes"]) == (1, 45)
    refused = await admin.post("/admin/edition/confirm-email", data={
        "csrf_token": token, "confirm_email": "1", "hold_minutes": "2"})
    assert refused.status_code == 422
    organiser = await sign_in("nl-rule@example.org", "organiser", "NL")
    assert "Registration in high demand" not in (await organiser.get("/admin/")).text
    denied = await organiser.post("/admin/edition/confirm-email", data={
        "csrf_token": csrf_of((await organiser.get("/admin/")).text), "hold_minutes": "30"})
    assert denied.status_code == 403
