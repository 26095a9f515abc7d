"""Per-client limits (festival.core.limits, declared on the routes in festival.web.routes):
registrations, lost-ticket requests and sign-ins, counted in the database so that they
hold across worker processes; 429 with Retry-After past them; a client is an IPv4
address or an IPv6 /64, from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from festival.core import limits
from festival.core.errors import RateLimited
from festival.core.settings import Settings
from festival.web.app import create_app
from tests.helpers import BASE_URL, csrf_of, screening_id

API = "/api/v1"
REGISTER_BURST = 30  # limits.REGISTER: per client, in any 10 minutes


def person(i: int | str, seats: int = 1) -> dict[str, Any]:
    return {"name": f"Person {i}", "email": f"p{i}@example.org", "seats": seats}


def client_at(app: Any, host: str) -> httpx.AsyncClient:
    """A client whose requests come from `host` (the socket peer the app sees)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 1234)),
                             base_url=BASE_URL)


@pytest.fixture
async def others(app: Any) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients at 127.0.0.2, 127.0.0.3 and 127.0.0.4."""
    clients = [client_at(app, f"127.0.0.{n}") for n in (2, 3, 4)]
    yield clients
    for c in clients:
        await c.aclose()


async def fill(app: Any, bucket: str, client: str, times: int, target: str = "") -> None:
    """Counts `times` requests of `client`, as if it had just made them."""
    for _ in range(times):
        await limits.take(app.state.db, bucket, client, target=target)


def assert_limited_json(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "rate_limited"
    assert 0 < int(answer.headers["retry-after"]) <= 600


async def count_registrations(app: Any) -> int:
    row = await app.state.db.fetch_one("SELECT COUNT(*) AS n FROM registrations")
    return int(row["n"])


# --- registrations ----------------------------------------------------------------------------

async def test_of_200_quick_registrations_from_one_address_at_most_60_succeed(
        app: Any, client: httpx.AsyncClient, programme: Any,
        others: list[httpx.AsyncClient]) -> None:
    sid = await screening_id(app, "hague")
    answers = await asyncio.gather(*(
        client.post(f"{API}/screenings/{sid}/registrations", json=person(i))
        for i in range(200)))

    created = [a for a in answers if a.status_code == 201]
    assert len(created) == REGISTER_BURST <= 60  # exactly the limit: each request counted once
    refused = [a for a in answers if a.status_code != 201]
    for answer in refused:
        assert_limited_json(answer)
    assert await count_registrations(app) == REGISTER_BURST
    # Other clients go on unhindered.
    for n, other in enumerate(others):
        answer = await other.post(f"{API}/screenings/{sid}/registrations", json=person(f"o{n}"))
        assert answer.status_code == 201, answer.text
    # And the limited one is still limited.
    assert_limited_json(await client.post(f"{API}/screenings/{sid}/registrations",
                                          json=person("late")))


async def test_the_limit_is_exact_across_processes_sharing_the_database(
        app: Any, settings: Settings, programme: Any) -> None:
    """A second app on the same file stands in for a second worker process: its own
    connections and lock, so only the database keeps the count."""
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        sid = await screening_id(app, "hague")
        first_client, second_client = client_at(app, "192.0.2.9"), client_at(second, "192.0.2.9")
        async with first_client, second_client:
            answers = await asyncio.gather(*(
                (first_client if i % 2 else second_client).post(
                    f"{API}/screenings/{sid}/registrations", json=person(i))
                for i in range(80)))
    assert sorted({a.status_code for a in answers}) == [201, 429]
    assert sum(a.status_code == 201 for a in answers) == REGISTER_BURST


async def test_the_registration_form_past_the_limit_gets_a_friendly_page(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    sid = await screening_id(app, "hague")
    page = await client.get(f"/screenings/{sid}")
    await fill(app, "register", "127.0.0.1", REGISTER_BURST)
    answer = await client.post(f"/screenings/{sid}/register", data={
        "csrf_token": csrf_of(page.text), "name": "Ana", "email": "ana@example.org",
        "seats": "1"})
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("text/html")
    assert 0 < int(answer.headers["retry-after"]) <= 600
    assert "too many requests from your network" in answer.text
    assert "Please try again in" in answer.text
    assert await count_registrations(app) == 0


async def test_a_forged_form_is_refused_before_it_counts(app: Any, client: httpx.AsyncClient,
                                                         programme: Any) -> None:
    """The CSRF check runs first: another site cannot use up a visitor's limit."""
    sid = await screening_id(app, "hague")
    for i in range(REGISTER_BURST + 5):
        forged = await client.post(f"/screenings/{sid}/register", data=person(i))
        assert forged.status_code == 403
    page = await client.get(f"/screenings/{sid}")
    answer = await client.post(f"/screenings/{sid}/register", data={
        "csrf_token": csrf_of(page.text), **person("real")})
    assert answer.status_code == 303


async def test_one_client_takes_at_most_40_seats_of_one_screening(
        app: Any, client: httpx.AsyncClient, programme: Any,
        others: list[httpx.AsyncClient]) -> None:
    hague, sydney = await screening_id(app, "hague"), await screening_id(app, "sydney")
    for i in range(10):  # 10 parties of 4: 40 seats
        answer = await client.post(f"{API}/screenings/{hague}/registrations", json=person(i, 4))
        assert answer.status_code == 201, answer.text
    refused = await client.post(f"{API}/screenings/{hague}/registrations", json=person(10, 1))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 6 * 86400  # the 7-day window
    # Another screening, or another client for this one, still takes registrations.
    assert (await client.post(f"{API}/screenings/{sydney}/registrations",
                              json=person(11, 4))).status_code == 201
    assert (await others[0].post(f"{API}/screenings/{hague}/registrations",
                                 json=person(12, 4))).status_code == 201


async def test_a_refused_registration_does_not_count_against_the_others(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    """Past the per-screening seats the request is refused whole: nothing is counted, so
    a smaller party still fits where a bigger one did not."""
    hague = await screening_id(app, "hague")
    for i in range(9):  # 36 seats
        assert (await client.post(f"{API}/screenings/{hague}/registrations",
                                  json=person(i, 4))).status_code == 201
    assert (await client.post(f"{API}/screenings/{hague}/registrations",
                              json=person(9, 5))).status_code == 429
    assert (await client.post(f"{API}/screenings/{hague}/registrations",
                              json=person(10, 4))).status_code == 201


async def test_rate_limits_off_turns_every_limit_off(app: Any, client: httpx.AsyncClient,
                                                     programme: Any) -> None:
    app.state.settings = dataclasses.replace(app.state.settings, rate_limits=False)
    sid = await screening_id(app, "hague")
    answers = await asyncio.gather(*(
        client.post(f"{API}/screenings/{sid}/registrations", json=person(i))
        for i in range(REGISTER_BURST + 10)))
    assert {a.status_code for a in answers} == {201}
    page = await client.get("/tickets/lost")
    for _ in range(limits.LOST_TICKET.rules[0].limit + 2):
        answer = await client.post("/tickets/lost", data={"csrf_token": csrf_of(page.text),
                                                          "email": "p1@example.org"})
        assert answer.status_code == 200
    assert await app.state.db.fetch_all("SELECT * FROM rate_limit_events") == []


# --- lost tickets and sign-ins ------------------------------------------------------------------

async def test_lost_ticket_requests_are_limited_per_client(
        app: Any, client: httpx.AsyncClient, others: list[httpx.AsyncClient]) -> None:
    page = await client.get("/tickets/lost")
    token = csrf_of(page.text)
    for i in range(limits.LOST_TICKET.rules[0].limit):
        answer = await client.post("/tickets/lost", data={"csrf_token": token,
                                                          "email": f"p{i}@example.org"})
        assert answer.status_code == 200, answer.text
    refused = await client.post("/tickets/lost", data={"csrf_token": token,
                                                       "email": "late@example.org"})
    assert refused.status_code == 429
    assert "too many requests from your network" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert (await client.get("/tickets/lost")).status_code == 200  # reading is not limited
    other_page = await others[0].get("/tickets/lost")
    assert (await others[0].post("/tickets/lost", data={
        "csrf_token": csrf_of(other_page.text), "email": "late@example.org"})).status_code == 200


async def test_sign_in_posts_are_limited_per_client(app: Any, client: httpx.AsyncClient,
                                                    others: list[httpx.AsyncClient]) -> None:
    page = await client.get("/admin/login")
    await fill(app, "sign_in", "127.0.0.1", limits.SIGN_IN.rules[0].limit)
    refused = await client.post("/admin/login", data={
        "csrf_token": csrf_of(page.text), "email": "ana@example.org", "password": "x" * 12})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert (await client.get("/admin/login")).status_code == 200
    other_page = await others[0].get("/admin/login")
    assert (await others[0].post("/admin/login", data={
        "csrf_token": csrf_of(other_page.text), "email": "ana@example.org",
        "password": "x" * 12})).status_code == 401


def test_the_limits_are_declared_on_the_public_write_routes(app: Any) -> None:
    declared = {r.name: getattr(r, "limits", ()) for r in app.routes if hasattr(r, "name")}
    assert {name: buckets for name, buckets in declared.items() if buckets} == {
        "register": ("register",), "api_registrations": ("register",),
        "lost_ticket": ("lost_ticket",), "admin_login": ("sign_in",),
        "admin_login_code": ("sign_in",), "admin_invite": ("sign_in",)}


# --- who is a client -----------------------------------------------------------------------------

@pytest.mark.parametrize(("peer", "forwarded", "trusted", "client"), [
    ("192.0.2.1", [], "", "192.0.2.1"),
    ("::ffff:192.0.2.1", [], "", "192.0.2.1"),
    ("2001:db8:1:2:aaaa::1", [], "", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb:cccc:dddd:eeee", [], "", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", [], "", "2001:db8:1:3::/64"),
    (None, [], "", limits.UNKNOWN_CLIENT),
    ("testclient", [], "", limits.UNKNOWN_CLIENT),
    # Not from a trusted proxy: X-Forwarded-For is whatever the client wrote.
    ("192.0.2.1", ["203.0.113.9"], "", "192.0.2.1"),
    ("192.0.2.1", ["203.0.113.9"], "10.0.0.0/8", "192.0.2.1"),
    # From a trusted proxy: the rightmost hop that is not one of ours.
    ("10.0.0.1", ["203.0.113.9"], "10.0.0.0/8", "203.0.113.9"),
    ("10.0.0.1", ["198.51.100.1, 203.0.113.9"], "10.0.0.0/8", "203.0.113.9"),
    ("10.0.0.1", ["198.51.100.1, 203.0.113.9, 10.0.0.2"], "10.0.0.0/8", "203.0.113.9"),
    ("10.0.0.1", ["198.51.100.1", "203.0.113.9"], "10.0.0.1", "203.0.113.9"),
    ("10.0.0.1", ["203.0.113.9:5555"], "10.0.0.0/8", "203.0.113.9"),
    ("10.0.0.1", ["[2001:db8:5:6::7]:443"], "10.0.0.0/8", "2001:db8:5:6::/64"),
    ("::1", ["2001:db8:5:6::7"], "::1", "2001:db8:5:6::/64"),
    ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.0/8", "10.0.0.3"),  # all ours
    ("10.0.0.1", [], "10.0.0.0/8", "10.0.0.1"),
    ("10.0.0.1", ["203.0.113.9, not-an-address"], "10.0.0.0/8", "10.0.0.1"),
])
def test_client_key(peer: str | None, forwarded: list[str], trusted: str, client: str) -> None:
    assert limits.client_key(peer, forwarded, trusted) == client


async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    sid = await screening_id(app, "hague")
    await fill(app, "register", "203.0.113.7", REGISTER_BURST)
    await fill(app, "register", "127.0.0.1", REGISTER_BURST)

    async def post(forwarded_for: str, i: int) -> httpx.Response:
        return await client.post(f"{API}/screenings/{sid}/registrations", json=person(i),
                                 headers={"x-forwarded-for": forwarded_for})

    # Not trusted: a made-up X-Forwarded-For does not make a new client.
    assert (await post("198.51.100.1", 1)).status_code == 429
    app.state.settings = dataclasses.replace(app.state.settings, trusted_proxies="127.0.0.1")
    assert (await post("203.0.113.7", 2)).status_code == 429
    assert (await post("203.0.113.8", 3)).status_code == 201
    # The client cannot hide behind a hop it writes itself: the proxy appended its peer.
    assert (await post("198.51.100.1, 203.0.113.7", 4)).status_code == 429


async def test_an_ipv6_client_is_its_64(app: Any, programme: Any) -> None:
    sid = await screening_id(app, "hague")
    await fill(app, "register", "2001:db8::/64", REGISTER_BURST)
    async with client_at(app, "2001:db8::2") as same, client_at(app, "2001:db8:0:1::1") as other:
        assert (await same.post(f"{API}/screenings/{sid}/registrations",
                                json=person(1))).status_code == 429
        assert (await other.post(f"{API}/screenings/{sid}/registrations",
                                 json=person(2))).status_code == 201


# --- the counting itself -------------------------------------------------------------------------

async def test_the_window_slides(db: Any) -> None:
    """30 requests in the last seconds of one 10-minute stretch leave no room in the first
    seconds of the next: a fixed window would let 30 more through at its edge."""
    for n in range(REGISTER_BURST):
        await limits.take(db, "register", "192.0.2.1", now=590 + n * 0.3)
    with pytest.raises(RateLimited) as refused:
        await limits.take(db, "register", "192.0.2.1", now=601)
    assert refused.value.retry_after == 589  # 590 + 600 - 601
    assert refused.value.headers["Retry-After"] == "589"
    await limits.take(db, "register", "192.0.2.1", now=1190.01)  # the first one left


async def test_the_day_rule_holds_when_the_short_one_has_room(db: Any) -> None:
    for n in range(60):
        await limits.take(db, "register", "192.0.2.1", now=n * 60.0)  # one a minute
    with pytest.raises(RateLimited) as refused:
        await limits.take(db, "register", "192.0.2.1", now=3600.0)
    assert refused.value.retry_after == 86400 - 3600
    assert "later today or tomorrow" in refused.value.message


async def test_a_refused_request_is_not_counted_and_old_ones_are_pruned(db: Any) -> None:
    for n in range(limits.LOST_TICKET.rules[0].limit):
        await limits.take(db, "lost_ticket", "192.0.2.1", now=float(n))
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limits.take(db, "lost_ticket", "192.0.2.1", now=100.0)
    rows = await db.fetch_all("SELECT * FROM rate_limit_events")
    assert len(rows) == limits.LOST_TICKET.rules[0].limit
    await limits.take(db, "lost_ticket", "192.0.2.2", now=limits.LOST_TICKET.horizon + 50)
    rows = await db.fetch_all("SELECT client FROM rate_limit_events")
    assert [r["client"] for r in rows] == ["192.0.2.2"]


async def test_release_gives_a_request_back(db: Any) -> None:
    taken = [await limits.take(db, "sign_in_failures", "192.0.2.1", now=float(n))
             for n in range(10)]
    with pytest.raises(RateLimited):
        await limits.take(db, "sign_in_failures", "192.0.2.1", now=20.0)
    async with db.transaction() as conn:
        await limits.release(conn, taken[-1])
    await limits.take(db, "sign_in_failures", "192.0.2.1", now=20.0)


@pytest.mark.parametrize(("seconds", "words"), [
    (1, "in a minute"), (60, "in a minute"), (61, "in a few minutes"),
    (900, "in a few minutes"), (3600, "in an hour or two"),
    (86400, "later today or tomorrow"), (86401, "in a few days")])
def test_the_429_message_says_roughly_how_long(seconds: int, words: str) -> None:
    assert words in RateLimited(seconds).message
