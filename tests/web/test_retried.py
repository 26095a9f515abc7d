"""A request whose transaction PostgreSQL rolled back (serialization failure, deadlock)
runs again with the same body, and the client sees only the answer of the attempt that
went through; one that keeps colliding gets 503 with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from festival.core.errors import FestivalError
from festival.core.store import Database, TryAgain, insert_returning_id
from festival.web.guards import ATTEMPTS, retried


def app_failing(times: int) -> tuple[Starlette, list[Any]]:
    bodies: list[Any] = []

    async def endpoint(request: Request) -> JSONResponse:
        bodies.append(await request.json())
        if len(bodies) <= times:
            raise TryAgain()
        return JSONResponse({"attempts": len(bodies)}, status_code=201)

    async def busy(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FestivalError)
        return JSONResponse({"error": exc.code}, status_code=exc.status,
                            headers={"Retry-After": "1"})

    routes = retried([Route("/registrations", endpoint, methods=["POST"])])
    return Starlette(routes=routes, exception_handlers={FestivalError: busy}), bodies


async def post(app: Starlette) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        return await client.post("/registrations", json={"name": "Ana", "seats": 2})


async def test_a_rolled_back_request_runs_again_with_the_same_body() -> None:
    app, bodies = app_failing(2)
    answer = await post(app)
    assert answer.status_code == 201
    assert answer.json() == {"attempts": 3}
    assert bodies == [{"name": "Ana", "seats": 2}] * 3


async def test_a_request_that_keeps_colliding_gets_503_not_500() -> None:
    app, bodies = app_failing(ATTEMPTS)
    answer = await post(app)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert len(bodies) == ATTEMPTS


async def test_a_real_deadlock_becomes_try_again(db: Database, backend: str) -> None:
    """Two transactions that lock two rows in opposite orders: PostgreSQL breaks the
    deadlock by failing one of them, which the store reports as TryAgain (and the
    web layer then runs that request again); the other commits."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: no deadlock to break")
    async with db.transaction() as conn:
        ids = [await insert_returning_id(
            conn, "INSERT INTO rate_limit_events (bucket, client, target, weight, at) "
                  "VALUES ('register', ?, '', 1, 0)", (client,)) for client in ("a", "b")]
    ready = [asyncio.Event(), asyncio.Event()]

    async def cross(me: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("UPDATE rate_limit_events SET weight = 2 WHERE id = ?",
                               (ids[me],))
            ready[me].set()
            await ready[1 - me].wait()
            await conn.execute("UPDATE rate_limit_events SET weight = 3 WHERE id = ?",
                               (ids[1 - me],))

    results = await asyncio.gather(cross(0), cross(1), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "TryAgain"]
