"""The screenings list of the API, a page at a time for clients that ask (`?limit=`,
`?after=`), the whole list for those that do not: following `Link: rel="next"` visits
every screening once, in order, while the programme changes; a bad page parameter is a
400 that names it; the list has an ETag and answers 304."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
import pytest

from festival.web.views import api
from tests.helpers import BASE_URL, register, sql

LIST = "/api/v1/screenings"


def next_link(answer: httpx.Response) -> str | None:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', answer.headers.get("link", ""))
    return found[1] if found else None


async def follow(client: httpx.AsyncClient, address: str,
                 between: Any = None) -> list[dict[str, Any]]:
    """Every screening of every page from `address` on, following rel="next" (and
    calling `between` after the first page)."""
    seen: list[dict[str, Any]] = []
    pages = 0
    next_address: str | None = address
    while next_address is not None:
        answer = await client.get(next_address)
        assert answer.status_code == 200, answer.text
        seen += answer.json()
        pages += 1
        if pages == 1 and between is not None:
            await between()
        next_address = next_link(answer)
        assert pages < 50
    return seen


async def test_without_limit_or_after_the_list_is_whole_and_has_no_link(
        client: httpx.AsyncClient, programme: Any) -> None:
    whole = await client.get(LIST)
    assert whole.status_code == 200 and "link" not in whole.headers
    assert len(whole.json()) == 5


async def test_pages_visit_every_screening_once_in_order(
        client: httpx.AsyncClient, programme: Any) -> None:
    whole = (await client.get(LIST)).json()
    first = await client.get(f"{LIST}?limit=2")
    assert [s["id"] for s in first.json()] == [s["id"] for s in whole[:2]]
    link = next_link(first)
    assert link is not None and link.startswith(f"{BASE_URL}{LIST}?limit=2&after=")
    assert await follow(client, f"{LIST}?limit=2") == whole
    last = await client.get(f"{LIST}?limit=5")
    assert last.json() == whole and "link" not in last.headers  # nothing follows


async def test_pages_stay_stable_when_a_screening_is_added_in_between(
        app: Any, client: httpx.AsyncClient, programme: dict[str, Any]) -> None:
    before = (await client.get(LIST)).json()

    async def add_two() -> None:
        changed = copy.deepcopy(programme)
        hague = next(s for s in changed["screenings"] if s["key"] == "hague")
        early = {**hague, "key": "hague-early", "starts_at": "2099-12-05T19:00",
                 "ends_at": "2099-12-05T21:00"}  # before the pages read so far
        late = {**hague, "key": "hague-late", "starts_at": "2099-12-17T19:00",
                "ends_at": "2099-12-17T21:00"}  # after them
        changed["screenings"] += [early, late]
        from festival.programme.loader import import_programme

        await import_programme(app.state.db, changed)

    seen = await follow(client, f"{LIST}?limit=2", between=add_two)
    keys = [s["key"] for s in seen]
    assert len(keys) == len(set(keys))  # none twice
    assert "hague-early" not in keys  # it lands before the position reached
    assert [k for k in keys if k != "hague-late"] == [s["key"] for s in before]
    assert "hague-late" in keys
    starts = [(s["starts_at"], s["id"]) for s in (await client.get(LIST)).json()]
    order = {pair[1]: n for n, pair in enumerate(starts)}
    assert [order[s["id"]] for s in seen] == sorted(order[s["id"]] for s in seen)


async def test_a_removed_screening_does_not_break_the_next_page(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    whole = (await client.get(LIST)).json()
    first = await client.get(f"{LIST}?limit=2")
    await sql(app, "UPDATE screenings SET status = 'draft' WHERE id = ?",
              (first.json()[-1]["id"],))  # the page's last one leaves the list
    rest = await follow(client, next_link(first) or "")
    assert [s["id"] for s in rest] == [s["id"] for s in whole[2:]]


async def test_pages_keep_the_rest_of_the_query(client: httpx.AsyncClient,
                                                programme: Any) -> None:
    matched = (await client.get(f"{LIST}?q=wallah&lang=fr")).json()
    assert len(matched) == 3
    first = await client.get(f"{LIST}?q=wallah&lang=fr&limit=1")
    link = next_link(first)
    assert link is not None and "q=wallah" in link and "lang=fr" in link
    assert first.headers["content-language"] == "fr"
    assert await follow(client, f"{LIST}?q=wallah&lang=fr&limit=1") == matched
    edition = await client.get(f"{LIST}?edition=2099&limit=2")
    assert "edition=2099" in (next_link(edition) or "")


async def test_after_alone_gives_a_page_of_the_default_size(
        client: httpx.AsyncClient, programme: Any) -> None:
    whole = (await client.get(LIST)).json()
    first = await client.get(f"{LIST}?limit=1")
    after = (next_link(first) or "").split("after=")[1]
    rest = await client.get(f"{LIST}?after={after}")
    assert rest.json() == whole[1:] and "link" not in rest.headers
    assert len(whole) <= api.DEFAULT_PAGE
    past = await client.get(f"{LIST}?after=99991231T000000Z.1")
    assert past.status_code == 200 and past.json() == [] and "link" not in past.headers
    start = await client.get(f"{LIST}?after=00000101T000000Z.0")
    assert start.json() == whole


@pytest.mark.parametrize("query", [
    "after=garbage", "after=", "after=20991213T180000Z", "after=2099-12-13T18:00:00Z.1",
    "after=20991213T180000Z.1%0A", "after=20991213T180000Z.%D9%A1",
    "after=20991213T180000Z.1234567890123456789",
])
async def test_a_bad_cursor_is_a_400_that_names_it(client: httpx.AsyncClient,
                                                    programme: Any, query: str) -> None:
    answer = await client.get(f"{LIST}?limit=2&{query}")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "bad_request" and set(error["fields"]) == {"after"}
    assert "Link header" in error["fields"]["after"]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "", "1.5", "²", "9" * 30])
async def test_limit_is_bounded(client: httpx.AsyncClient, programme: Any,
                                limit: str) -> None:
    answer = await client.get(f"{LIST}?limit={limit}")
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"limit": "must be from 1 to 1000"}


async def test_the_bounds_of_limit_are_taken(client: httpx.AsyncClient,
                                             programme: Any) -> None:
    assert len((await client.get(f"{LIST}?limit=1")).json()) == 1
    assert len((await client.get(f"{LIST}?limit={api.MAX_PAGE}")).json()) == 5


async def test_the_list_and_its_pages_have_an_etag_and_answer_304(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    for address in (LIST, f"{LIST}?limit=2"):
        first = await client.get(address)
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "public, no-cache"
        assert "last-modified" in first.headers
        same = await client.get(address, headers={"If-None-Match": etag})
        assert same.status_code == 304 and same.headers["etag"] == etag
        assert same.headers["content-language"] == "en"
        assert "Accept-Language" in same.headers["vary"]
    whole = await client.get(LIST)
    await register(app, "hague", "Ana Reyes", "ana@example.org", seats=2)
    after = await client.get(LIST, headers={"If-None-Match": whole.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != whole.headers["etag"]
    assert next(s for s in after.json() if s["key"] == "hague")["seats_left"] == 118
    french = await client.get(LIST, headers={"Accept-Language": "fr"})
    assert french.headers["content-language"] == "fr"
    assert "set-cookie" not in french.headers
