"""The public pages: the programme (grouped by local day, filters, search, big
programmes cut into days), a screening, a venue and a film, and the error page."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from festival.core import times
from festival.core.store import execute
from festival.programme import demo
from festival.programme.loader import import_programme
from festival.web.views.public import PAGE_SIZE, shape_programme
from tests.helpers import ids as screening_ids  # screening id by key, e.g. {'sydney': 2}

# --- helpers -----------------------------------------------------------------------------


def listed(html: str) -> list[int]:
    """The screenings a programme page lists, in order."""
    return [int(i) for i in re.findall(r'<h\d class="screening__title"><a href="/screenings/(\d+)"',
                                       html)]


def day_sections(html: str) -> dict[str, str]:
    """Each day's section of a programme page, by ISO date."""
    parts = re.split(r'<section class="day" aria-labelledby="day-', html)[1:]
    return {part[:10]: part for part in parts}


def item(html: str, screening_id: int) -> str:
    """The list item of one screening on a programme page."""
    for chunk in html.split('<li class="screening')[1:]:
        if f'<a href="/screenings/{screening_id}">' in chunk:
            return chunk[:chunk.index("</p>\n</li>")]
    raise AssertionError(f"screening {screening_id} is not listed")


async def book(app: Any, screening_id: int, seats: int, status: str = "confirmed") -> None:
    """A registration written straight into the database, to set up seat counts."""
    now = times.now_text()
    email = f"{uuid.uuid4().hex}@example.org"
    async with app.state.db.transaction() as conn:
        await execute(conn, """INSERT INTO registrations (screening_id, token, name, email,
                                   email_key, seats, status, created_at, updated_at)
                               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                      (screening_id, uuid.uuid4().hex, "Someone", email, email, seats, status,
                       now, now))


# --- the programme -----------------------------------------------------------------------


async def test_programme_groups_screenings_by_venue_local_day(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    response = await client.get("/")
    assert response.status_code == 200
    days = day_sections(response.text)
    assert list(days) == ["2099-12-06", "2099-12-10", "2099-12-12", "2099-12-13", "2099-12-18"]
    # 22:30 in Mexico City on the 12th is the 13th in UTC: it stays on the venue's day.
    assert listed(days["2099-12-12"]) == [ids["mexico-late"]]
    assert listed(days["2099-12-13"]) == [ids["hague"]]
    assert "Sunday, 6 December 2099" in days["2099-12-06"]


async def test_an_edition_that_has_ended_says_so_and_points_to_the_demo(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    assert "This edition has ended" not in (await client.get("/")).text
    async with app.state.db.transaction() as conn:
        await execute(conn, "UPDATE editions SET starts_on = '2016-12-05', "
                            "ends_on = '2016-12-18'")
        await execute(conn, "UPDATE screenings SET starts_at = '2016-12-13T18:00:00Z', "
                            "ends_at = '2016-12-13T20:00:00Z' WHERE id = ?", (ids["hague"],))
    page = (await client.get("/")).text
    assert "This edition has ended" in page
    assert '<bdi dir="ltr">festival demo</bdi>' in page
    screening = (await client.get(f"/screenings/{ids['hague']}")).text
    assert "has taken place, so registration is closed" in screening
    assert "already started" not in screening


async def test_programme_shows_local_time_with_zone(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    html = (await client.get("/")).text
    sydney = item(html, ids["sydney"])
    assert '<time datetime="2099-12-06T19:30:00+11:00">19:30</time>' in sydney
    assert "UTC+11:00" in sydney
    kathmandu = item(html, ids["kathmandu"])
    assert '<time datetime="2099-12-10T17:15:00+05:45">17:15</time>' in kathmandu
    assert "UTC+05:45" in kathmandu
    hague = item(html, ids["hague"])
    assert "19:00" in hague and "CET (UTC+01:00)" in hague
    assert "Humanity House, The Hague, Netherlands" in hague


@pytest.mark.parametrize(("query", "expected"), [
    ("country=AU", {"sydney"}),
    ("country=nl", {"hague"}),
    ("city=Mexico+City", {"mexico-late"}),
    ("date=2099-12-12", {"mexico-late"}),
    ("date=2099-12-13", {"hague"}),
    ("language=fr", {"hague", "kathmandu", "niamey"}),
    ("language=en", {"hague", "sydney", "mexico-late"}),
    ("subtitles=es", {"mexico-late"}),
    ("subtitles=nl", {"hague"}),
    ("step_free=1", {"hague", "mexico-late"}),
    ("sign_interpretation=1", {"mexico-late"}),
    ("captioned_debate=1", {"sydney"}),
    ("country=NL&step_free=1", {"hague"}),
    ("country=AU&step_free=1", set()),
    ("q=crossing", {"sydney", "mexico-late"}),
    ("q=WALLAH", {"hague", "kathmandu", "niamey"}),
])
async def test_programme_filter_narrows_the_list(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any,
        query: str, expected: set[str]) -> None:
    ids = await screening_ids(app)
    response = await client.get(f"/?{query}")
    assert response.status_code == 200
    assert set(listed(response.text)) == {ids[key] for key in expected}


async def test_programme_form_keeps_the_chosen_filters(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    html = (await client.get("/?country=NL&q=wall&step_free=1&date=2099-12-13")).text
    assert '<option value="NL" selected>Netherlands</option>' in html
    assert 'name="q" type="search" value="wall"' in html
    assert 'name="step_free" type="checkbox" value="1" checked' in html
    assert '<option value="2099-12-13" selected>' in html
    assert "1 screening on Sunday, 13 December 2099 matches your search." in html
    assert "Clear filters" in html


async def test_programme_ignores_filter_values_it_cannot_read(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    response = await client.get("/?date=13-12-2099&page=x&country=Netherlands")
    assert response.status_code == 200
    assert "No screening matches your search." in response.text  # no country is so named
    response = await client.get("/?date=not-a-day&page=-1")
    assert response.status_code == 200
    assert len(listed(response.text)) == 5


async def test_programme_without_matches_says_so(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    response = await client.get("/?q=no+such+film")
    assert response.status_code == 200
    assert "No screening matches your search." in response.text
    assert '<a href="/">See the whole programme</a>' in response.text
    assert listed(response.text) == []


async def test_programme_marks_cancelled_screenings(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    html = (await client.get("/")).text
    niamey = item(html, ids["niamey"])
    assert '<span class="status status--cancelled">Cancelled</span>' in niamey
    assert "(cancelled)" in niamey  # in the title's link text too, for screen readers
    assert "seats left" not in niamey
    page = (await client.get(f"/screenings/{ids['niamey']}")).text
    assert "This screening is cancelled." in page


async def test_programme_of_another_edition_by_key(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    response = await client.get("/?edition=2099")
    assert response.status_code == 200
    assert '<input type="hidden" name="edition" value="2099">' in response.text
    missing = await client.get("/?edition=1999")
    assert missing.status_code == 404
    assert "There is no such festival edition." in missing.text


async def test_programme_with_no_screenings_says_it_is_coming(
        client: httpx.AsyncClient, app: Any, sample_programme: dict[str, Any]) -> None:
    await import_programme(app.state.db, {**sample_programme, "screenings": []})
    response = await client.get("/")
    assert response.status_code == 200
    assert "The programme has not been published yet." in response.text


# --- seats -------------------------------------------------------------------------------


@pytest.mark.parametrize(("booked", "shown"), [
    (0, "120 seats left"),
    (107, "13 seats left"),
    (108, "Few seats left"),   # 12 left: a tenth of 120
    (119, "Few seats left"),
    (120, "Full – join the waitlist"),
])
async def test_programme_shows_seats_left_few_or_full(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any,
        booked: int, shown: str) -> None:
    hague = (await screening_ids(app))["hague"]
    if booked:
        await book(app, hague, booked)
    assert shown in item((await client.get("/")).text, hague)
    assert shown in (await client.get(f"/screenings/{hague}")).text


async def test_programme_follows_registrations_and_changes_between_visits(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    hague = (await screening_ids(app))["hague"]
    assert "120 seats left" in item((await client.get("/")).text, hague)
    api = (await client.get("/api/v1/screenings")).json()
    assert [s["seats_left"] for s in api if s["id"] == hague] == [120]

    await book(app, hague, 7)
    async with app.state.db.transaction() as conn:  # as a script or another process might
        await conn.execute("UPDATE films SET title = 'Wallah, je te jure (new cut)'"
                           " WHERE key = 'wallah-je-te-jure'")

    page = item((await client.get("/")).text, hague)
    assert "113 seats left" in page and "Wallah, je te jure (new cut)" in page
    api = (await client.get("/api/v1/screenings")).json()
    assert [s["seats_left"] for s in api if s["id"] == hague] == [113]


async def test_programme_few_seats_means_five_or_fewer_in_a_small_room(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    kathmandu = (await screening_ids(app))["kathmandu"]  # 60 seats: a tenth is 6
    await book(app, kathmandu, 53)
    assert "7 seats left" in item((await client.get("/")).text, kathmandu)
    await book(app, kathmandu, 1)
    assert "Few seats left" in item((await client.get("/")).text, kathmandu)


async def test_programme_shows_full_while_others_wait(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    sydney = (await screening_ids(app))["sydney"]
    await book(app, sydney, 78)
    await book(app, sydney, 4, status="waitlisted")
    assert "Full – join the waitlist" in item((await client.get("/")).text, sydney)


async def test_programme_counts_neither_cancelled_nor_waiting_seats_as_taken(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    hague = (await screening_ids(app))["hague"]
    await book(app, hague, 4, status="cancelled")
    await book(app, hague, 2)
    assert "118 seats left" in item((await client.get("/")).text, hague)


# --- big programmes ----------------------------------------------------------------------


async def test_programme_too_big_for_one_page_is_shown_day_by_day(
        client: httpx.AsyncClient, app: Any) -> None:
    await import_programme(app.state.db, demo.generate(screenings=400, seed=3))
    html = (await client.get("/")).text
    shown_days = list(day_sections(html))
    assert len(shown_days) == 1
    assert 0 < len(listed(html)) <= PAGE_SIZE
    assert "shown one day at a time" in html
    day_links = re.findall(r'<a href="/\?date=(\d{4}-\d\d-\d\d)"( aria-current="true")?', html)
    assert len(day_links) == 14
    assert [d for d, current in day_links if current] == shown_days
    other_day = next(d for d, current in day_links if not current)
    other = (await client.get(f"/?date={other_day}")).text
    assert list(day_sections(other)) == [other_day]


def fake_screening(i: int, day: date) -> dict[str, Any]:
    return {"id": i, "starts_at": f"{day}T{i // 60 % 24:02d}:{i % 60:02d}:00Z", "local_date": day,
            "country": "NL", "city": "The Hague", "language_list": [], "language": "",
            "subtitle_list": [], "step_free": 1, "sign_interpretation": 0,
            "captioned_debate": 0, "title": f"Film {i}", "venue_id": 1, "film_id": 1}


def test_shape_programme_splits_a_crowded_day_into_pages() -> None:
    from festival.programme.queries import Filters

    first = date(2099, 12, 5)
    screenings = [fake_screening(i, first) for i in range(450)]
    screenings += [fake_screening(1000 + i, first + timedelta(days=1)) for i in range(10)]
    shaped = shape_programme(screenings, Filters(), page=3, today=date(2099, 1, 1))
    assert (shaped["day"], shaped["auto_day"], shaped["pages"]) == (first, True, 3)
    assert len(shaped["shown"]) == 50
    assert shaped["day_counts"] == [(first, 450), (first + timedelta(days=1), 10)]
    during = shape_programme(screenings, Filters(), page=1, today=first + timedelta(days=1))
    assert during["day"] == first + timedelta(days=1)  # today's screenings first


# --- a screening -------------------------------------------------------------------------


async def test_screening_page_shows_film_venue_debate_and_local_time(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    hague = (await screening_ids(app))["hague"]
    response = await client.get(f"/screenings/{hague}")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Wallah, Je te jure</h1>" in html
    assert "From Senegal to Libya and on to Europe, migrants along the route." in html
    assert "30 minutes" in html
    assert "French, Wolof" in html  # spoken languages
    assert "English, Dutch" in html  # subtitles
    assert ('<time datetime="2099-12-13T19:00:00+01:00">Sunday, 13 December 2099, 19:00</time>'
            ' <span class="zone" dir="ltr">CET (UTC+01:00)</span>') in html
    assert "Prinsegracht 8, 2512 GA Den Haag" in html
    assert "120 seats in total" in html
    assert "Step-free access to the venue" in html
    venue_id = (await app.state.db.fetch_one("SELECT id FROM venues WHERE key = ?",
                                             ("humanity-house",)))["id"]
    assert f'<a href="/venues/{venue_id}">Humanity House</a>' in html
    assert "Changing the perception of migrants" in html
    assert "Ana Reyes" in html and "Director" in html


async def test_screening_page_offers_calendar_links(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    html = (await client.get(f"/screenings/{ids['sydney']}")).text
    routes = {getattr(r, "name", None) for r in app.routes}
    if "screening_ics" in routes:
        assert f'href="/screenings/{ids["sydney"]}.ics"' in html
    if "feed_country" in routes:
        assert 'href="webcal://festival.example.org/feeds/countries/AU.ics"' in html
    if "feed_festival" in routes:
        assert 'href="webcal://festival.example.org/feeds/festival.ics"' in html


async def test_screening_page_ends_on_the_next_day_after_midnight(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    mexico = (await screening_ids(app))["mexico-late"]
    html = (await client.get(f"/screenings/{mexico}")).text
    assert '<time datetime="2099-12-13T01:00:00-06:00">01:00</time>' in html
    assert "(Sunday, 13 December 2099)" in html


async def test_unknown_screening_is_a_friendly_404_page(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    for path in ("/screenings/9999", "/venues/9999", "/films/9999", "/no/such/page"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Error 404" in response.text
        assert '<a class="button" href="/">Back to the programme</a>' in response.text
        assert "Traceback" not in response.text


async def test_odd_numbers_in_addresses_are_not_server_errors(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    huge = "9" * 30  # beyond SQLite's 64-bit integers
    for path in (f"/screenings/{huge}", f"/api/v1/screenings/{huge}",
                 f"/feeds/screenings/{huge}.ics", f"/venues/{huge}"):
        assert (await client.get(path)).status_code == 404, path
    # '²' passes str.isdigit() but not int(): a page number like it means page 1.
    for page in ("%C2%B2", huge, "-1", "0"):
        response = await client.get(f"/?page={page}")
        assert response.status_code == 200, page
        assert "Wallah, Je te jure" in response.text


async def test_refused_method_is_a_friendly_page(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    response = await client.post("/")
    assert response.status_code == 405
    assert "That action is not possible here." in response.text
    assert "Error 405" in response.text


async def test_draft_screening_is_not_public(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    hague = (await screening_ids(app))["hague"]
    async with app.state.db.transaction() as conn:
        await execute(conn, "UPDATE screenings SET status = 'draft' WHERE id = ?", (hague,))
    assert (await client.get(f"/screenings/{hague}")).status_code == 404
    assert hague not in listed((await client.get("/")).text)


async def test_unlisted_guest_is_never_named_on_public_pages(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    db = app.state.db
    paths = ["/", "/?q=wallah", "/?language=en"]
    for table, prefix in (("screenings", "/screenings/"), ("venues", "/venues/"),
                          ("films", "/films/")):
        paths += [f"{prefix}{row['id']}" for row in await db.fetch_all(f"SELECT id FROM {table}")]
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "Secret Person" not in response.text, path
    hague = (await screening_ids(app))["hague"]
    assert "a guest speaker" in (await client.get(f"/screenings/{hague}")).text


async def test_film_titles_with_markup_are_escaped(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    async with app.state.db.transaction() as conn:
        await execute(conn, "UPDATE films SET title = ?, synopsis = ? WHERE key = ?",
                      ('<script>alert("x")</script> & <b>Co</b>', "<img src=x onerror=alert(1)>",
                       "the-crossing"))
    ids = await screening_ids(app)
    for path in ("/", f"/screenings/{ids['sydney']}", "/?q=script"):
        html = (await client.get(path)).text
        assert "<script>" not in html and "<b>Co</b>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html


async def test_search_text_is_escaped_in_the_form(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    html = (await client.get('/?q="><script>x</script>')).text
    assert "<script>x</script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html


# --- venue and film pages ----------------------------------------------------------------


async def test_venue_page_lists_its_screenings(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    venue = await app.state.db.fetch_one("SELECT id FROM venues WHERE key = 'sydney-hall'")
    ids = await screening_ids(app)
    response = await client.get(f"/venues/{venue['id']}")
    assert response.status_code == 200
    assert "<h1>Harbour Hall</h1>" in response.text
    assert "1 Harbour St, Sydney NSW" in response.text
    assert "80 seats" in response.text
    assert "Australia/Sydney" in response.text
    assert listed(response.text) == [ids["sydney"]]


async def test_film_page_lists_its_screenings(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    film = await app.state.db.fetch_one("SELECT id FROM films WHERE key = 'wallah-je-te-jure'")
    ids = await screening_ids(app)
    response = await client.get(f"/films/{film['id']}")
    assert response.status_code == 200
    assert set(listed(response.text)) == {ids["hague"], ids["kathmandu"], ids["niamey"]}


# --- page basics -------------------------------------------------------------------------


async def test_pages_have_landmarks_language_and_no_inline_styles(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any) -> None:
    ids = await screening_ids(app)
    for path in ("/", f"/screenings/{ids['hague']}", "/screenings/9999"):
        html = (await client.get(path)).text
        assert '<html lang="en" dir="ltr">' in html
        for landmark in ("<header", "<nav", '<main id="main"', "<footer"):
            assert landmark in html, (path, landmark)
        assert "style=" not in html and "<style" not in html
        assert len(re.findall(r"<h1[ >]", html)) == 1
        assert '?lang=en" lang="en" hreflang="en" aria-current="true">English</a>' in html


async def test_programme_form_controls_all_have_labels(
        client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    html = (await client.get("/")).text
    form = html[html.index('<form method="get"'):html.index("</form>")]
    control_ids = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', form)
    assert len(control_ids) == 9
    for control in control_ids:
        assert f'<label for="{control}">' in form
