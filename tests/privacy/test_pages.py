"""Attendees' side of privacy: the notice beside the registration form, and deleting
one's registration data from the ticket page (festival.web.views.privacy)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.helpers import Client, csrf_of, register, screening_id, sql


async def test_registration_form_says_what_is_kept_how_long_and_how_to_delete_it(
        app: Any, client: Client, programme: Any) -> None:
    hague = await screening_id(app, "hague")
    page = await client.get(f"/screenings/{hague}")
    assert page.status_code == 200
    assert ("we keep your name and email address only for your seat and the mails about "
            "it, until 90 days after the festival ends; then we erase them. You can delete "
            "them sooner from your ticket page.") in page.text

    templates = app.state.templates
    templates.globals["settings"] = dataclasses.replace(app.state.settings, retention_days=1)
    page = await client.get(f"/screenings/{hague}")
    assert "until 1 day after the festival ends" in page.text


async def test_attendee_deletes_their_registration_data_from_the_ticket_page(
        app: Any, client: Client, programme: Any) -> None:
    hague = await screening_id(app, "hague")
    await sql(app, "UPDATE screenings SET capacity = 2 WHERE id = ?", (hague,))
    ana = await register(app, "hague", "Ana Silva", "ana@example.org", 2)
    bo = await register(app, "hague", "Bo Smit", "bo@example.org", 2)
    ticket = f"/tickets/{ana['token']}"
    page = await client.get(ticket)
    action = f"/tickets/{ana['token']}/forget"
    assert f'action="{action}"' in page.text and "Delete my registration data" in page.text

    refused = await client.post(action, data={})  # no CSRF token: not from our page
    assert refused.status_code == 403
    assert (await app.state.db.fetch_one("SELECT name FROM registrations WHERE id = ?",
                                         (ana["id"],)))["name"] == "Ana Silva"

    answer = await client.post(action, data={"csrf_token": csrf_of(page.text)})

    assert answer.status_code == 303
    done = await client.get(answer.headers["location"])
    assert done.status_code == 200 and "Your registration data is deleted" in done.text
    assert "Ana" not in done.text
    assert done.headers["cache-control"] == "private, no-store"
    assert (await client.get(ticket)).status_code == 404
    assert (await client.get(f"/feeds/tickets/{ana['token']}.ics")).status_code == 404
    rows = {r["id"]: dict(r) for r in await app.state.db.fetch_all(
        "SELECT * FROM registrations")}
    erased = rows[ana["id"]]
    assert (erased["status"], erased["name"], erased["email"]) == ("cancelled", "", "")
    assert rows[bo["id"]]["status"] == "confirmed"  # the waitlist moved up
    assert await app.state.db.fetch_one(
        "SELECT 1 FROM outbox WHERE recipient = 'ana@example.org'") is None
    again = await client.post(action, data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 404


async def test_a_ticket_used_at_the_door_is_erased_but_stays_counted(
        app: Any, client: Client, programme: Any) -> None:
    ana = await register(app, "hague", "Ana Silva", "ana@example.org", 2)
    await sql(app, "UPDATE registrations SET checked_in_at = '2099-12-13T18:40:00Z'"
                   " WHERE id = ?", (ana["id"],))
    page = await client.get(f"/tickets/{ana['token']}")
    assert "Cancel my registration" not in page.text  # used at the door
    answer = await client.post(f"/tickets/{ana['token']}/forget",
                               data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    row = await app.state.db.fetch_one("SELECT * FROM registrations WHERE id = ?", (ana["id"],))
    assert (row["status"], row["seats"], row["name"], row["email"]) == ("confirmed", 2, "", "")
    assert row["checked_in_at"] == "2099-12-13T18:40:00Z"
