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

Both wrap the route's ASGI app, inside the router, so their refusals go through the
app's one error handler like any other."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from festival.organisers import accounts
from festival.web import csrf

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        sent = request.headers.get(csrf.HEADER)
        if sent is None:
            async with Request(scope, replay).form() as form:
                sent = form.get(csrf.FIELD)  # type: ignore[assignment]
            replayed = False
        csrf.check(request, sent)
        await app(scope, replay, send)

    return guarded
