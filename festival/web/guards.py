"""Who may call a route, declared once on the route (in festival.web.routes), never
repeated in handlers.

- `for_organisers(routes, role=...)`: the route answers only a signed-in organiser (of
  that role; an admin outranks every role). Anyone else gets the sign-in page (303) or,
  on the API, 401; the wrong role gets 403. The handler reads who it is with `signed_in`.
- `same_origin(routes)`: an unsafe request (POST, PUT, PATCH, DELETE) must prove it
  comes from one of our pages: the form's CSRF token (or the `X-CSRF-Token` header),
  or a JSON body. A JSON body is proof enough because a page on another site cannot send
  one without the browser asking this server first (a CORS preflight), and this server
  never says yes. The public JSON API is left out: it reads no cookie, so a forged
  request carries no authority (its key is the token in the URL).

- `limited(routes, bucket=...)`: an unsafe request counts against the bucket's limits
  per client (festival.core.limits, where the numbers and the reasons for them are);
  past them it is refused with 429 and Retry-After before the handler runs. `target`
  names a path parameter that per-target rules count per (a screening's id), `weight`
  what one request weighs (the seats it asks for). Applied before `same_origin`, the
  CSRF check stays outside it: a forged form is refused without counting. Nothing is
  limited while Settings.rate_limits is off.

- `retried(routes)`: a request whose transaction the database rolled back as a
  serialization failure or deadlock (`TryAgain`, PostgreSQL only) runs its handler
  again, a few times (the request keeps the body it read; nothing was committed).
  Applied first, innermost, so the other guards (and the limits' counting) run once.

They wrap the route's ASGI app, inside the router, so their refusals go through the
app's one error handler like any other."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from festival.core import limits
from festival.core.store import TryAgain
from festival.organisers import accounts
from festival.web import csrf

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ATTEMPTS = 5  # then TryAgain, a Busy, answers 503 with Retry-After


def signed_in(request: Request) -> dict[str, Any]:
    """The organiser whom the route's guard let in."""
    organiser = request.state.organiser
    assert organiser is not None, "the route is not declared with for_organisers"
    return organiser  # type: ignore[no-any-return]


def for_organisers(routes: Iterable[BaseRoute], *, role: str | None = None) -> list[BaseRoute]:
    guarded = list(routes)
    for route in guarded:
        assert isinstance(route, Route)
        route.app = _organiser_guard(route.app, role)
        route.guard = role or "organiser"  # type: ignore[attr-defined]  # read by tests
    return guarded


def same_origin(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    checked = list(routes)
    for route in checked:
        assert isinstance(route, Route)
        route.app = _csrf_guard(route.app)
    return checked


def _organiser_guard(app: ASGIApp, role: str | None) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        # Request.state lives in the scope, so the handler's Request sees the organiser.
        await accounts.require_organiser(Request(scope), role=role)
        await app(scope, receive, send)

    return guarded


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _csrf_guard(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if scope["method"] not in UNSAFE_METHODS or _is_json(request):
            await app(scope, receive, send)
            return
        body = await request.body()  # bounded by the app's body limit
        sent = request.headers.get(csrf.HEADER)
        if sent is None:
            async with Request(scope, _replay(body, receive)).form() as form:
                sent = form.get(csrf.FIELD)  # type: ignore[assignment]
        csrf.check(request, sent)
        await app(scope, _replay(body, receive), send)

    return guarded


# --- per-client limits ---------------------------------------------------------------------

Weight = Callable[[Request], Awaitable[int]]


def client_of(request: Request) -> str:
    """The client this request counts for: its IPv4 address or IPv6 /64, from
    X-Forwarded-For only behind a trusted proxy (festival.core.limits.client_key)."""
    settings = request.app.state.settings
    return limits.client_key(request.client.host if request.client else None,
                             request.headers.getlist("x-forwarded-for"),
                             settings.trusted_proxies)


async def seats_asked(request: Request) -> int:
    """What a registration weighs: the seats it asks for, in the form or the JSON body;
    1 when it asks for nothing the registration would take (it is refused anyway)."""
    seats: Any = None
    try:
        if _is_json(request):
            data = json.loads(await request.body())
            seats = data.get("seats") if isinstance(data, dict) else None
        else:
            async with request.form() as form:
                text = form.get("seats")
            if isinstance(text, str) and text.strip().isascii() and text.strip().isdigit():
                seats = int(text.strip()[:9])
    except (ValueError, RecursionError, HTTPException):
        return 1
    return seats if isinstance(seats, int) and not isinstance(seats, bool) and seats > 0 else 1


def limited(routes: Iterable[BaseRoute], *, bucket: str, target: str | None = None,
            weight: Weight | None = None) -> list[BaseRoute]:
    assert bucket in limits.BUCKETS, f"no such bucket: {bucket}"
    checked = list(routes)
    for route in checked:
        assert isinstance(route, Route)
        counted = getattr(route, "limits", ())
        route.app = _limit_guard(route.app, bucket, target, weight)
        route.limits = (*counted, bucket)  # type: ignore[attr-defined]  # read by tests
    return checked


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, as if it had just arrived, then what follows."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _limit_guard(app: ASGIApp, bucket: str, target: str | None, weight: Weight | None
                 ) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        if scope["method"] not in UNSAFE_METHODS or not state.settings.rate_limits:
            await app(scope, receive, send)
            return
        request = Request(scope, receive)
        cost = 1
        if weight is not None:
            body = await request.body()  # bounded by the app's body limit (413)
            cost = await weight(Request(scope, _replay(body, receive)))
            receive = _replay(body, receive)
        path_target = scope.get("path_params", {}).get(target, "") if target else ""
        await limits.take(state.db, bucket, client_of(request), target=str(path_target),
                          weight=cost)
        await app(scope, receive, send)

    return guarded


def retried(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    wrapped = list(routes)
    for route in wrapped:
        if isinstance(route, Route) and inspect.iscoroutinefunction(route.endpoint):
            # Around the endpoint itself: the app's error handler turns TryAgain into a
            # 503 response before anything wrapped around route.app could see it.
            route.app = request_response(_retrying(route.endpoint))
    return wrapped


def _retrying(endpoint: Callable[[Request], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(endpoint)
    async def again(request: Request) -> Response:
        for attempt in range(1, ATTEMPTS):
            try:
                return await endpoint(request)  # the Request keeps the body it read
            except TryAgain:
                # Spread the retries, so the transactions that collided do not again.
                await asyncio.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311
        return await endpoint(request)

    return again
