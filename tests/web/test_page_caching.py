"""The programme page and the screenings list as a visitor's browser, or a cache in front,
sees them: the same bytes for everyone asking in the same language, with an ETag and a
304 to a matching conditional request, fresh the moment the programme or a shown seat
count changes; and no per-visitor cookie on a page that shows no form needing one."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from festival.core.settings import Settings
from festival.programme import queries
from festival.programme.loader import import_programme
from festival.web import csrf, page_cache
from festival.web.views import public
from tests.helpers import BASE_URL, csrf_of, ids, register, sql

SHARED = "public, no-cache"


@pytest.fixture
async def other_worker(settings: Settings, programme: dict[str, Any]
                       ) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Another worker process, as far as caches can tell: its own app on the database."""
    from festival.web.app import create_app

    other = create_app(settings)
    async with (other.router.lifespan_context(other),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=other),
                                  base_url=BASE_URL) as c):
        yield other, c


def vary(answer: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in answer.headers.get("vary", "").split(",") if v.strip()}


# --- validators and 304 -------------------------------------------------------------------

async def test_the_programme_has_an_etag_and_answers_304_to_it(
        client: httpx.AsyncClient, programme: Any) -> None:
    first = await client.get("/")
    assert first.status_code == 200
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and first.headers["cache-control"] == SHARED
    assert {"accept-language", "cookie"} <= vary(first)

    again = await client.get("/")
    assert again.content == first.content and again.headers["etag"] == etag

    same = await client.get("/", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag and same.headers["cache-control"] == SHARED
    assert {"accept-language", "cookie"} <= vary(same)
    assert (await client.get("/", headers={"If-None-Match": f'"x", W/{etag}'})
            ).status_code == 304
    assert (await client.get("/", headers={"If-Modified-Since": modified})).status_code == 304
    assert (await client.get("/", headers={"If-None-Match": '"other"'})).status_code == 200

    head = await client.head("/", headers={"If-None-Match": etag})
    assert head.status_code == 304
    head = await client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content)
    assert head.headers["etag"] == etag


async def test_a_programme_change_gives_a_fresh_200_at_once(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    first = await client.get("/")
    await sql(app, "UPDATE films SET title = 'A Renamed Film' WHERE key = 'wallah-je-te-jure'")
    changed = await client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert "A Renamed Film" in changed.text and "A Renamed Film" not in first.text
    assert changed.headers["etag"] != first.headers["etag"]


async def test_a_registration_changes_the_pages_that_show_its_seats_only(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    everything = await client.get("/")
    australia = await client.get("/?country=AU")  # Sydney only
    assert "120 seats left" in everything.text

    await register(app, "hague", "Ana Reyes", "ana@example.org", seats=2)

    after = await client.get("/", headers={"If-None-Match": everything.headers["etag"]})
    assert after.status_code == 200 and "118 seats left" in after.text
    api = (await client.get("/api/v1/screenings")).json()
    assert next(s for s in api if s["key"] == "hague")["seats_left"] == 118
    unchanged = await client.get("/?country=AU",
                                 headers={"If-None-Match": australia.headers["etag"]})
    assert unchanged.status_code == 304


async def test_another_workers_change_shows_within_the_held_moment(
        app: Any, client: httpx.AsyncClient, other_worker: tuple[Any, httpx.AsyncClient],
        programme: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    other, elsewhere = other_worker
    before = await elsewhere.get("/")
    await register(app, "hague", "Ana Reyes", "ana@example.org", seats=2)  # this worker
    await sql(app, "UPDATE films SET title = 'A Renamed Film' WHERE key = 'wallah-je-te-jure'")
    now = queries.clock()
    monkeypatch.setattr(queries, "clock", lambda: now + queries.VERSION_HELD_SECONDS)
    after = await elsewhere.get("/", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert "118 seats left" in after.text and "A Renamed Film" in after.text
    # The same bytes in every process: the same ETag.
    assert after.headers["etag"] == (await client.get("/")).headers["etag"]


async def test_each_language_is_kept_apart(client: httpx.AsyncClient, programme: Any) -> None:
    english = await client.get("/")
    french = await client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="fr"' in french.text and '<html lang="en"' in english.text
    assert french.headers["etag"] != english.headers["etag"]
    assert (await client.get("/", headers={"If-None-Match": french.headers["etag"]})
            ).status_code == 200  # English: the French tag does not match
    client.cookies.set("lang", "fr")
    chosen = await client.get("/")
    assert chosen.content == french.content
    client.cookies.clear()
    assert (await client.get("/")).content == english.content


async def test_filters_and_pages_are_kept_by_their_address(
        client: httpx.AsyncClient, programme: Any) -> None:
    nl = await client.get("/?country=NL")
    np_ = await client.get("/?country=NP")
    assert nl.headers["etag"] != np_.headers["etag"]
    assert "Humanity House" in nl.text and "Humanity House" not in np_.text
    assert (await client.get("/?country=NL")).content == nl.content
    assert (await client.get("/?edition=no-such-edition")).status_code == 404


# --- cookies -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/", "/?country=NL", "/?q=wallah", "/api/v1/screenings", "/api/v1/screenings?limit=2",
    "/feeds/festival.ics", "/subscribe", "/no-such-page",
])
async def test_pages_without_a_form_to_send_set_no_cookie(
        client: httpx.AsyncClient, programme: Any, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code in (200, 404)
    assert "set-cookie" not in answer.headers
    assert "private" not in answer.headers.get("cache-control", "")


async def test_venue_and_film_pages_set_no_cookie(app: Any, client: httpx.AsyncClient,
                                                  programme: Any) -> None:
    venue = (await ids(app, "venues"))["humanity-house"]
    film = (await ids(app, "films"))["wallah-je-te-jure"]
    for path in (f"/venues/{venue}", f"/films/{film}"):
        answer = await client.get(path)
        assert answer.status_code == 200 and "set-cookie" not in answer.headers
        assert {"accept-language", "cookie"} <= vary(answer)


async def test_the_language_switch_still_sets_only_its_cookie(
        client: httpx.AsyncClient, programme: Any) -> None:
    for _ in range(2):  # built, then kept
        answer = await client.get("/?lang=fr")
        cookies = answer.headers.get_list("set-cookie")
        assert len(cookies) == 1 and cookies[0].startswith("lang=fr;")
        assert '<html lang="fr"' in answer.text


async def test_a_page_with_a_registration_form_sets_the_csrf_cookie_and_is_private(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    await client.get("/")
    assert csrf.COOKIE not in client.cookies
    page = await client.get(f"/screenings/{(await ids(app))['hague']}")
    assert 'name="csrf_token"' in page.text
    assert csrf.COOKIE in page.headers["set-cookie"]
    assert page.headers["cache-control"] == "private, no-store"
    closed = await client.get(f"/screenings/{(await ids(app))['niamey']}")  # cancelled
    assert 'name="csrf_token"' not in closed.text and "set-cookie" not in closed.headers


async def test_the_form_still_works_after_browsing_cookieless_pages(
        app: Any, programme: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as visitor:
        await visitor.get("/")
        page = await visitor.get(f"/screenings/{(await ids(app))['hague']}")
        token = csrf_of(page.text)
        done = await visitor.post(f"/screenings/{(await ids(app))['hague']}/register",
                                  data={"csrf_token": token, "name": "Ana Reyes",
                                        "email": "ana@example.org", "seats": "1"})
        assert done.status_code == 303 and done.headers["location"].startswith("/tickets/")


# --- what is kept --------------------------------------------------------------------------

async def test_the_kept_answers_are_bounded(app: Any, client: httpx.AsyncClient,
                                            programme: Any) -> None:
    app.state.page_cache = page_cache.PageCache(entries=2)
    for country in ("NL", "AU", "NP"):
        assert (await client.get(f"/?country={country}")).status_code == 200
    assert len(app.state.page_cache) == 2
    small = app.state.page_cache = page_cache.PageCache(size=1)
    assert (await client.get("/")).status_code == 200
    assert len(small) == 0 and small.bytes == 0  # larger than all it may hold: not kept
    assert page_cache.PAGE_CACHE_ENTRIES > 0 and page_cache.PAGE_CACHE_BYTES > 0


async def test_a_new_programme_file_reaches_the_kept_page(
        app: Any, client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    first = await client.get("/")
    changed = copy.deepcopy(programme)
    changed["edition"]["name"] = "Global Migration Film Festival 2099 (revised)"
    await import_programme(app.state.db, changed)
    assert "(revised)" in (await client.get("/")).text
    assert (await client.get("/", headers={"If-None-Match": first.headers["etag"]})
            ).status_code == 200


def test_the_page_changes_by_itself_at_the_next_start_or_midnight() -> None:
    now = datetime(2099, 12, 13, 17, 0, tzinfo=UTC)
    shown = [{"starts_at": "2099-12-13T16:00:00Z", "ends_at": "2099-12-13T18:00:00Z"},
             {"starts_at": "2099-12-13T19:00:00Z", "ends_at": "2099-12-13T21:00:00Z"}]
    assert public.changes_by_itself(shown, now) == datetime(
        2099, 12, 13, 18, 0, tzinfo=UTC).timestamp()  # the first one's end
    assert public.changes_by_itself(shown[:1], datetime(2099, 12, 13, 18, 30, tzinfo=UTC)
                                    ) == datetime(2099, 12, 14, tzinfo=UTC).timestamp()
    assert public.changes_by_itself([], now) == datetime(2099, 12, 14, tzinfo=UTC).timestamp()
