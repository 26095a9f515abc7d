"""The organisers' overview: the dashboard's figures and who sees them, the audit trail
(admins only) and the outbox (each organiser their own country's mail, with retry)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import escape

from festival.organisers import audit, overview
from festival.seats import door
from tests.helpers import Client, csrf_of, register, screening_id, sql

ADMIN = {"id": None, "role": "admin", "country": None}
AFTER_THE_FESTIVAL = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
async def hague_night(app: Any, programme: Any) -> int:
    """The Hague screening with 10 seats, all taken: Ana 2 (checked in), Bo 3, a walk-in
    of 1, Cy 4; Di's party of 2 waits."""
    hague = await screening_id(app, "hague")
    await sql(app, "UPDATE screenings SET capacity = 10 WHERE id = ?", (hague,))
    ana = await register(app, "hague", "Ana", "ana@example.org", 2)
    await register(app, "hague", "Bo", "bo@example.org", 3)
    await door.check_in(app.state.db, ADMIN, ana["token"])
    await door.add_walk_in(app.state.db, ADMIN, hague, "Walk In", 1)
    await register(app, "hague", "Cy", "cy@example.org", 4)  # 4 seats left: confirmed
    await register(app, "hague", "Di", "di@example.org", 2)  # full: waits
    return hague


# --- dashboard figures -------------------------------------------------------------------------

async def test_dashboard_figures_fill_waitlist_and_no_show(app: Any, hague_night: int) -> None:
    edition = await app.state.db.fetch_one("SELECT id FROM editions")
    before = await overview.dashboard(app.state.db, ADMIN, edition["id"],
                                  now=datetime(2099, 12, 1, tzinfo=UTC))
    s = next(s for s in before["screenings"] if s["id"] == hague_night)
    assert (s["capacity"], s["confirmed"], s["confirmed_seats"]) == (10, 4, 10)
    assert s["fill_rate"] == 1.0
    assert (s["waiting"], s["waiting_seats"], s["waitlist_rate"]) == (1, 2, 0.2)
    assert s["no_show_rate"] is None  # not over yet
    after = await overview.dashboard(app.state.db, ADMIN, edition["id"], now=AFTER_THE_FESTIVAL)
    s = next(s for s in after["screenings"] if s["id"] == hague_night)
    # Booked before: Ana 2 + Bo 3 + Cy 4 = 9 seats, of which Ana's 2 came; the walk-in
    # is attendance, not a booking.
    assert s["check_in_rate"] == pytest.approx(2 / 9)
    assert s["no_show_rate"] == pytest.approx(7 / 9)
    nl = next(c for c in after["countries"] if c["country"] == "NL")
    assert (nl["screenings"], nl["capacity"], nl["confirmed_seats"]) == (1, 10, 10)
    assert nl["no_show_rate"] == pytest.approx(7 / 9)


async def test_dashboard_country_totals_leave_out_cancelled_screenings(app: Any,
                                                                       programme: Any) -> None:
    edition = await app.state.db.fetch_one("SELECT id FROM editions")
    data = await overview.dashboard(app.state.db, ADMIN, edition["id"])
    niger = next(c for c in data["countries"] if c["country"] == "NE")
    assert (niger["screenings"], niger["cancelled"], niger["capacity"]) == (0, 1, 0)
    assert niger["fill_rate"] is None


async def test_dashboard_page_shows_an_organiser_their_own_country(
        app: Any, sign_in: Any, hague_night: int) -> None:
    past = ("2020-12-13T18:00:00Z", "2020-12-13T20:30:00Z", hague_night)
    await sql(app, "UPDATE screenings SET starts_at = ?, ends_at = ? WHERE id = ?", past)
    nl = await sign_in("nl@example.org")
    page = await nl.get("/admin/dashboard")
    assert page.status_code == 200
    assert "Humanity House" in page.text and "Harbour Hall" not in page.text
    row = re.search(rf'<tr id="screening-{hague_night}">(.*?)</tr>', page.text, re.S).group(1)
    assert 'data-figure="fill-rate">100%<' in row
    assert 'data-figure="no-show-rate">78%<' in row
    assert 'data-figure="check-in-rate">22%<' in row
    assert '<rect class="bar__value" width="100.0"' in row
    assert 'data-figure="fill-rate">' in page.text and "Netherlands" in page.text
    assert "Australia" not in page.text
    assert "style=" not in page.text  # the CSP forbids inline styles
    # Asking for another country changes nothing for an organiser.
    assert "Harbour Hall" not in (await nl.get("/admin/dashboard?country=AU")).text


async def test_dashboard_page_shows_an_admin_every_country(app: Any, sign_in: Any,
                                                           hague_night: int) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    page = await admin.get("/admin/dashboard")
    assert page.status_code == 200
    for venue in ("Humanity House", "Harbour Hall", "Kathmandu Film Centre"):
        assert venue in page.text
    only_au = await admin.get("/admin/dashboard?country=AU")
    assert "Harbour Hall" in only_au.text and "Humanity House" not in only_au.text


async def test_dashboard_needs_a_signed_in_organiser(client: Client, programme: Any) -> None:
    answer = await client.get("/admin/dashboard")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin%2Fdashboard"


# --- audit trail ---------------------------------------------------------------------------------

async def test_audit_trail_is_for_admins_only(sign_in: Any, programme: Any) -> None:
    nl = await sign_in("nl@example.org")
    assert (await nl.get("/admin/audit")).status_code == 403


async def test_audit_trail_shows_who_when_and_the_diff(app: Any, sign_in: Any,
                                                       hague_night: int) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    async with app.state.db.transaction() as conn:
        await audit.record(conn, None, "venue.update", "venue", 7, {"name": "Old", "city": "X"},
                           {"name": "New", "city": "X"})
    page = await admin.get("/admin/audit")
    assert page.status_code == 200
    assert "Checked in at the door" in page.text
    assert "Walk-in admitted at the door" in page.text
    assert "Venue changed" in page.text
    entry = re.search(r"Venue changed.*?</tr>", page.text, re.S).group(0)
    assert "<dt>Name</dt>" in entry
    assert "<del>Old</del> → <ins>New</ins>" in entry
    assert "<dt>City</dt>" not in entry  # unchanged fields are left out
    only_venues = await admin.get("/admin/audit?entity=venue")
    assert "Venue changed" in only_venues.text
    assert "Checked in at the door" not in only_venues.text


async def test_audit_trail_reads_as_text_with_names_and_unambiguous_dates(
        app: Any, sign_in: Any, programme: Any) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    films = {r["title"]: r["id"] for r in await app.state.db.fetch_all(
        "SELECT id, title FROM films")}
    (first, first_id), (second, second_id) = sorted(films.items())[:2]
    async with app.state.db.transaction() as conn:
        await audit.record(conn, None, "screening.update", "screening", 3,
                           {"debate_title": "Newcomer's Road", "film_id": first_id,
                            "starts_at": "2026-12-05T15:30:00Z", "subtitles": 0,
                            "status": "draft"},
                           {"debate_title": "<b>Newcomer's</b> Road", "film_id": second_id,
                            "starts_at": "2026-12-06T15:30:00Z", "subtitles": 1,
                            "status": "scheduled"})
    page = (await admin.get("/admin/audit")).text
    entry = re.search(r"Screening changed.*?</tr>", page, re.S).group(0)
    assert "\\u0027" not in entry and "\\u003c" not in entry and "film_id" not in entry
    assert "<dt>Debate title</dt>" in entry
    # Decoded, and escaped once, by the template.
    assert "<del>Newcomer&#39;s Road</del> → <ins>&lt;b&gt;Newcomer&#39;s&lt;/b&gt; Road</ins>" \
        in entry
    assert "<dt>Film</dt>" in entry
    assert f"<del>{escape(first)}</del> → <ins>{escape(second)}</ins>" in entry
    assert "5 Dec 2026, 15:30" in entry and "6 Dec 2026, 15:30" in entry
    assert "<del>No</del> → <ins>Yes</ins>" in entry
    assert "<del>Draft (not public)</del> → <ins>Published</ins>" in entry
    assert not re.search(r"\d\d/\d\d/\d{4}", page)


async def test_audit_trail_is_paginated(app: Any, sign_in: Any, programme: Any) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    async with app.state.db.transaction() as conn:
        for n in range(overview.AUDIT_PAGE_SIZE + 5):
            await audit.record(conn, None, "film.update", "film", n, {"n": n - 1}, {"n": n})
    first = await admin.get("/admin/audit")
    assert first.text.count("Film changed") == overview.AUDIT_PAGE_SIZE
    older = re.search(r'href="([^"]+before=\d+)" rel="next"', first.text).group(1)
    second = await admin.get(older.replace("&amp;", "&"))
    assert second.text.count("Film changed") == 5
    assert 'rel="next"' not in second.text


# --- outbox --------------------------------------------------------------------------------------

async def test_outbox_shows_an_organiser_their_country_only(app: Any, sign_in: Any,
                                                            programme: Any) -> None:
    await register(app, "hague", "Ana", "ana@example.org")
    await register(app, "sydney", "Kim", "kim@example.org")
    nl = await sign_in("nl@example.org")
    page = await nl.get("/admin/outbox")
    assert page.status_code == 200
    assert "ana@example.org" in page.text and "kim@example.org" not in page.text
    admin = await sign_in("admin@example.org", role="admin", country=None)
    everything = await admin.get("/admin/outbox")
    assert "ana@example.org" in everything.text and "kim@example.org" in everything.text


async def test_outbox_shows_why_a_message_failed_and_retries_it(app: Any, sign_in: Any,
                                                                programme: Any) -> None:
    ana = await register(app, "hague", "Ana", "ana@example.org")
    kim = await register(app, "sydney", "Kim", "kim@example.org")
    await sql(app, "UPDATE outbox SET status = 'failed', attempts = 10, "
                   "last_error = '550 mailbox unavailable'")
    nl = await sign_in("nl@example.org")
    page = await nl.get("/admin/outbox?status=failed")
    assert "550 mailbox unavailable" in page.text
    ana_mail = await app.state.db.fetch_one(
        "SELECT id FROM outbox WHERE registration_id = ?", (ana["id"],))
    kim_mail = await app.state.db.fetch_one(
        "SELECT id FROM outbox WHERE registration_id = ?", (kim["id"],))
    token = csrf_of(page.text)
    other = await nl.post(f"/admin/outbox/{kim_mail['id']}/retry", data={"csrf_token": token})
    assert other.status_code == 403
    retried = await nl.post(f"/admin/outbox/{ana_mail['id']}/retry",
                            data={"csrf_token": token, "status": "failed"})
    assert retried.status_code == 303
    assert retried.headers["location"] == "/admin/outbox?status=failed&done=retried"
    shown = await nl.get(retried.headers["location"])
    assert "Queued again: the message goes out with the next delivery." in shown.text
    rows = {r["id"]: r["status"] for r in await app.state.db.fetch_all(
        "SELECT id, status FROM outbox")}
    assert rows[ana_mail["id"]] == "pending" and rows[kim_mail["id"]] == "failed"
    forged = await nl.post(f"/admin/outbox/{ana_mail['id']}/retry", data={})
    assert forged.status_code == 403


async def test_outbox_retry_of_a_sent_message_is_refused(app: Any, sign_in: Any,
                                                         programme: Any) -> None:
    ana = await register(app, "hague", "Ana", "ana@example.org")
    await sql(app, "UPDATE outbox SET status = 'sent', sent_at = '2099-01-01T00:00:00Z'")
    admin = await sign_in("admin@example.org", role="admin", country=None)
    page = await admin.get("/admin/outbox")
    mail_id = (await app.state.db.fetch_one(
        "SELECT id FROM outbox WHERE registration_id = ?", (ana["id"],)))["id"]
    answer = await admin.post(f"/admin/outbox/{mail_id}/retry",
                              data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 409
    assert "This message was already sent." in answer.text


async def test_outbox_names_kinds_and_dates_in_words(app: Any, sign_in: Any,
                                                     programme: Any) -> None:
    ana = await register(app, "hague", "Ana", "ana@example.org")
    await sql(app, "UPDATE outbox SET kind = 'screening_cancelled', "
                   "created_at = '2026-12-05T09:15:00Z', status = 'sent', "
                   "sent_at = '2026-12-05T09:16:00Z' WHERE registration_id = ?", (ana["id"],))
    admin = await sign_in("admin@example.org", role="admin", country=None)
    page = (await admin.get("/admin/outbox")).text
    assert "screening_cancelled" not in page
    assert "Screening cancelled" in page
    assert "5 Dec 2026, 09:15" in page and "Sent at 5 Dec 2026, 09:16" in page
    assert not re.search(r"\d\d/\d\d/\d{4}|2026-12-05 09", page)


async def test_door_figures_count_in_the_singular_and_plural(app: Any, sign_in: Any,
                                                             hague_night: int) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    page = (await admin.get(f"/admin/screenings/{hague_night}/attendees")).text
    assert "1 registrations" not in page and "1 seats" not in page
    assert "1 registration, 2 seats" in page  # checked in: Ana's party of 2
    assert "1 registration, 1 seat" in page  # the walk-in
    assert "4 registrations, 10 seats" in page  # confirmed: Ana, Bo, the walk-in, Cy
