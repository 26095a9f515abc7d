"""A calendar app revalidating a feed: the 304 answered before routing carries exactly
the headers the routed 304 carries, and stops the moment the programme changes."""

from __future__ import annotations

from typing import Any

import httpx

from festival.web import revalidation
from tests.helpers import sql

FEED = "/feeds/festival.ics"


async def test_the_early_304_has_the_routed_304s_headers(app: Any, client: httpx.AsyncClient,
                                                        programme: Any) -> None:
    first = await client.get(FEED)
    etag = first.headers["etag"]
    # The first revalidation: nothing remembered yet for a new app, so it is routed.
    del app.state.validators
    routed = await client.get(FEED, headers={"If-None-Match": etag})
    early = await client.get(FEED, headers={"If-None-Match": etag})
    assert routed.status_code == early.status_code == 304
    assert app.state.validators.get({"path": FEED, "query_string": b""}) is not None
    strip = {"date"}
    assert ({k: v for k, v in routed.headers.items() if k not in strip}
            == {k: v for k, v in early.headers.items() if k not in strip})


async def test_a_change_ends_the_304s_at_once(app: Any, client: httpx.AsyncClient,
                                              programme: Any) -> None:
    etag = (await client.get(FEED)).headers["etag"]
    assert (await client.get(FEED, headers={"If-None-Match": etag})).status_code == 304
    await sql(app, "UPDATE films SET title = 'Renamed'")
    changed = await client.get(FEED, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag and b"Renamed" in changed.content


async def test_other_validators_and_other_urls_go_the_normal_way(
        client: httpx.AsyncClient, programme: Any) -> None:
    first = await client.get(FEED)
    stale = await client.get(FEED, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == first.content
    since = await client.get(FEED, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    other = await client.get(FEED + "?lang=fr", headers={"If-None-Match": first.headers["etag"]})
    assert other.status_code == 200  # another URL: another feed, not answered early


def test_the_validators_are_bounded() -> None:
    remembered = revalidation.Remembered(size=3)
    for n in range(5):
        remembered.remember({"path": f"/feeds/{n}.ics", "query_string": b""}, 1, '"e"',
                            "Thu, 03 Dec 2026 21:46:46 GMT", {"ETag": '"e"'})
    assert [remembered.get({"path": f"/feeds/{n}.ics", "query_string": b""}) is not None
            for n in range(5)] == [False, False, True, True, True]
