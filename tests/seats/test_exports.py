"""The dashboard's downloads (festival.seats.exports): the attendees of a country or of
the whole edition, the dashboard's figures as CSV, and the registrations chart's
figures; who may download what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest

from festival.core.errors import Forbidden
from festival.organisers import audit, overview
from festival.seats import door, exports
from tests.helpers import register, screening_id, sql

ADMIN = {"id": None, "role": "admin", "country": None}
NL = {"id": None, "role": "organiser", "country": "NL"}


def rows_of(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())  # the BOM: Excel reads the accents right
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
async def registrations(app: Any, programme: Any) -> dict[str, Any]:
    """The Hague (3 seats): Ana 2 (checked in), a walk-in of 1, Bo 2 and Cy 1 wait; Sydney:
    Dee 1. Made on three days."""
    hague = await screening_id(app, "hague")
    await sql(app, "UPDATE screenings SET capacity = 3 WHERE id = ?", (hague,))
    ana = await register(app, "hague", "Ana Álvarez", "ana@example.org", 2)
    await door.check_in(app.state.db, ADMIN, ana["token"])
    await door.add_walk_in(app.state.db, ADMIN, hague, "Walk In", 1)
    await register(app, "hague", "=HYPERLINK(\"http://x\")", "bo@example.org", 2)
    await register(app, "hague", "Cy", "cy@example.org", 1)
    await register(app, "sydney", "Dee", "dee@example.org", 1)
    for name, day in (("Ana Álvarez", "2099-11-28"), ("=HYPERLINK(\"http://x\")", "2099-11-30"),
                      ("Cy", "2099-11-30"), ("Dee", "2099-11-28"), ("Walk In", "2099-12-13")):
        await sql(app, "UPDATE registrations SET created_at = ? WHERE name = ?",
                  (f"{day}T10:00:00Z", name))
    edition = await app.state.db.fetch_one("SELECT * FROM editions")
    return {"edition": dict(edition), "hague": hague}


# --- attendees of a country or the edition -----------------------------------------------

async def test_an_organiser_exports_their_own_country_with_waitlist_positions(
        app: Any, registrations: dict[str, Any]) -> None:
    rows = await exports.edition_attendees(app.state.db, NL, registrations["edition"])
    body = rows_of(exports.attendees_csv(rows))
    assert list(body[0]) == list(exports.CSV_HEADER)
    assert {r["country"] for r in body} == {"NL"}
    by_name = {r["name"]: r for r in body}
    ana = by_name["Ana Álvarez"]
    assert ana["screening"]
    assert (ana["venue"], ana["city"], ana["seats"], ana["status"]) == (
        "Humanity House", "The Hague", "2", "confirmed")
    assert ana["local_start"] == "2099-12-13 19:00"  # at the venue
    assert ana["checked_in"] and ana["walk_in"] == ""
    assert by_name["Walk In"]["walk_in"] == "yes"
    # The formula is defused; the waitlist is numbered in order of arrival.
    defused = by_name["'=HYPERLINK(\"http://x\")"]
    assert (defused["status"], defused["waitlist_position"]) == ("waitlisted", "1")
    assert by_name["Cy"]["waitlist_position"] == "2"
    assert "token" not in ",".join(body[0]) and all(
        len(v) < 40 or " " in v for r in body for v in r.values())  # no 32-char tokens


async def test_an_organiser_may_not_export_another_country(app: Any,
                                                          registrations: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        await exports.edition_attendees(app.state.db, NL, registrations["edition"], "AU")
    assert exports.export_country(NL, "nl") == "NL"
    assert exports.export_country(ADMIN, "") == ""  # every country
    with pytest.raises(Forbidden):  # an organiser without a country exports nothing
        exports.export_country({"id": None, "role": "organiser", "country": None})


async def test_an_admin_exports_every_country_and_the_export_is_audited(
        app: Any, registrations: dict[str, Any]) -> None:
    rows = await exports.edition_attendees(app.state.db, ADMIN, registrations["edition"])
    assert [r["country"] for r in rows_of(exports.attendees_csv(rows))] == ["AU"] + ["NL"] * 4
    entry = (await audit.entries(app.state.db, entity="edition"))[0]
    assert entry["action"] == "edition.export_attendees"
    assert entry["after"] == {"country": None, "registrations": 5}


def test_every_text_cell_is_defused() -> None:
    row = {"title": "+SUM(A1)", "starts_local": datetime(2099, 12, 13, 19), "venue_name": "@venue",
           "city": "-1", "country": "NL", "name": "\tTab", "email": "=a@example.org",
           "seats": 1, "status": "confirmed", "waitlist_position": None,
           "checked_in_local": None, "walk_in": 0}
    (line,) = rows_of(exports.attendees_csv([row]))
    assert (line["screening"], line["venue"], line["city"], line["name"], line["email"]) == (
        "'+SUM(A1)", "'@venue", "'-1", "'\tTab", "'=a@example.org")


def test_file_names_are_safe() -> None:
    assert exports.csv_filename("attendees", "2099", "NL") == "attendees-2099-NL.csv"
    assert exports.csv_filename("dashboard", "20\"99/x", "") == "dashboard-20-99-x-all.csv"


# --- over HTTP ----------------------------------------------------------------------------

async def test_the_attendee_download_is_private_and_scoped(sign_in: Any,
                                                           registrations: dict[str, Any]) -> None:
    nl = await sign_in("nl@example.org")
    answer = await nl.get("/admin/attendees.csv?edition=2099")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="attendees-2099-NL.csv"'
    assert {r["country"] for r in rows_of(answer.content)} == {"NL"}
    assert (await nl.get("/admin/attendees.csv?country=AU")).status_code == 403
    admin = await sign_in("admin@example.org", role="admin", country=None)
    au = await admin.get("/admin/attendees.csv?country=AU")
    assert [r["name"] for r in rows_of(au.content)] == ["Dee"]
    assert len(rows_of((await admin.get("/admin/attendees.csv")).content)) == 5


async def test_the_dashboard_csv_has_the_pages_figures_and_total(
        sign_in: Any, registrations: dict[str, Any]) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    answer = await admin.get("/admin/dashboard.csv")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    assert 'filename="dashboard-2099-all.csv"' in answer.headers["content-disposition"]
    rows = rows_of(answer.content)
    countries = [r for r in rows if r["scope"] == "country"]
    (total,) = [r for r in rows if r["scope"] == "total"]
    screenings = [r for r in rows if r["scope"] == "screening"]
    assert [r["country"] for r in countries] == ["AU", "MX", "NE", "NL", "NP"]
    nl = next(r for r in countries if r["country"] == "NL")
    assert (nl["capacity"], nl["confirmed"], nl["confirmed_seats"], nl["fill_rate"]) == (
        "3", "2", "3", "1.0000")
    assert (nl["waiting"], nl["waiting_seats"], nl["waitlist_rate"]) == ("2", "3", "1.0000")
    assert nl["walk_in_seats"] == "1"
    for column in ("screenings", "cancelled", "capacity", "confirmed_seats", "waiting_seats"):
        assert int(total[column]) == sum(int(r[column]) for r in countries), column
    assert total["check_in_rate"] == ""  # nothing is over yet: the page shows a dash
    assert len(screenings) == 5 and rows.index(total) < rows.index(screenings[0])
    page = (await admin.get("/admin/dashboard")).text
    assert '<tr class="total">' in page
    nl_only = rows_of((await admin.get("/admin/dashboard.csv?country=NL")).content)
    assert {r["country"] for r in nl_only if r["scope"] == "screening"} == {"NL"}


# --- registrations per day ----------------------------------------------------------------

async def test_registrations_per_day_fill_the_period_and_match_the_totals(
        app: Any, registrations: dict[str, Any]) -> None:
    edition_id = registrations["edition"]["id"]
    days = await overview.registrations_by_day(app.state.db, ADMIN, edition_id)
    assert days[0] == {"day": date(2099, 11, 28), "confirmed_seats": 3, "waiting_seats": 0}
    assert days[2] == {"day": date(2099, 11, 30), "confirmed_seats": 0, "waiting_seats": 3}
    assert days[1]["confirmed_seats"] == days[1]["waiting_seats"] == 0  # a quiet day
    assert days[-1] == {"day": date(2099, 12, 13), "confirmed_seats": 1, "waiting_seats": 0}
    assert len(days) == 16
    total = (await overview.dashboard(app.state.db, ADMIN, edition_id,
                                      now=datetime(2099, 11, 1, tzinfo=UTC)))["total"]
    assert sum(d["confirmed_seats"] for d in days) == total["confirmed_seats"]
    assert sum(d["waiting_seats"] for d in days) == total["waiting_seats"]
    nl_days = await overview.registrations_by_day(app.state.db, NL, edition_id, country="AU")
    assert nl_days[0]["confirmed_seats"] == 2  # an organiser's own country, whatever asked
    assert await overview.registrations_by_day(app.state.db, ADMIN, edition_id,
                                               country="MX") == []


async def test_the_dashboard_shows_the_chart_with_its_name(sign_in: Any,
                                                           registrations: dict[str, Any]) -> None:
    nl = await sign_in("nl@example.org")
    page = (await nl.get("/admin/dashboard")).text
    assert 'role="img"' in page and "Registrations per day: Netherlands" in page
    assert page.count('class="chart__day"') == 16
    assert "style=" not in page
    assert 'href="/admin/attendees.csv?edition=2099&amp;country=NL"' in page


def test_the_dashboard_csv_defuses_organisers_texts() -> None:
    figures = {"capacity": 10, "confirmed": 1, "confirmed_seats": 2, "fill_rate": 0.2,
               "waiting": 0, "waiting_seats": 0, "waitlist_rate": 0.0, "walk_in_seats": 0,
               "check_in_rate": None, "no_show_rate": None}
    country = {**figures, "country": "NL", "screenings": 1, "cancelled": 0}
    screening = {**figures, "country": "NL", "title": "=cmd|' /C calc'!A0",
                 "venue_name": "+Hall", "city": "@City",
                 "starts_local": datetime(2099, 12, 13, 19), "status": "scheduled"}
    rows = rows_of(exports.dashboard_csv({"countries": [country], "total": country,
                                          "screenings": [screening]}))
    assert [r["scope"] for r in rows] == ["country", "total", "screening"]
    assert (rows[2]["screening"], rows[2]["venue"], rows[2]["city"]) == (
        "'=cmd|' /C calc'!A0", "'+Hall", "'@City")
    assert (rows[0]["fill_rate"], rows[0]["check_in_rate"]) == ("0.2000", "")
