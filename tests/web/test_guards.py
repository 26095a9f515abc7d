"""Guards declared once, on the routes: this walks every route of the app, so a new route
cannot forget to ask for a signed-in organiser or for the CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from tests.helpers import csrf_of

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE_PARAMS = {"id": "1", "token": "t" * 32, "cc": "NL", "city": "the-hague", "rid": "1"}


def is_organiser_path(path: str) -> bool:
    return (path.startswith(("/admin/", "/api/v1/admin/"))
            and path not in ("/admin/login", "/admin/logout", "/admin/login/code",
                             "/admin/invite/{token}"))


def is_public_api(path: str) -> bool:
    return path.startswith("/api/v1/") and not path.startswith("/api/v1/admin/")


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS[m.group(1)], path)


def every_route(app: Any) -> list[tuple[str, str]]:
    """(method, path) for every method of every route (HEAD is GET's twin)."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files: no cookies, no writes
        assert isinstance(route, Route)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, route.path))
    return found


def test_the_route_walk_sees_the_organiser_and_form_routes(app: Any) -> None:
    routes = every_route(app)
    organiser = [r for r in routes if is_organiser_path(r[1])]
    forms = [r for r in routes if r[0] in UNSAFE and not is_public_api(r[1])]
    assert len(organiser) >= 25
    assert ("POST", "/admin/screenings/{id:int}/door/walk-ins") in organiser
    assert ("POST", "/screenings/{id:int}/register") in forms


async def test_every_organiser_route_sends_an_anonymous_visitor_to_sign_in(
        app: Any, client: httpx.AsyncClient) -> None:
    # A valid token: only the sign-in is missing.
    token = csrf_of((await client.get("/admin/login")).text)
    for method, path in every_route(app):
        if not is_organiser_path(path):
            continue
        answer = await client.request(method, concrete(path), data={"csrf_token": token}
                                      if method in UNSAFE else None)
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path)
            assert answer.json()["error"]["code"] == "unauthorised"
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/admin/login?next="), (method, path)


async def test_every_unsafe_request_without_the_csrf_token_is_refused(
        app: Any, sign_in: Any) -> None:
    """Signed in as an admin (so nothing else stops the request), a form without the
    token, with a forged one, or a non-JSON body is refused with 403 before it changes
    anything."""
    admin = await sign_in("root@example.org", role="admin", country=None)
    for method, path in every_route(app):
        if method not in UNSAFE or is_public_api(path):
            continue
        for body in ({"name": "x"}, {"name": "x", "csrf_token": "forged"}):
            answer = await admin.request(method, concrete(path), data=body)
            assert answer.status_code == 403, (method, path, body, answer.status_code)
        plain = await admin.request(method, concrete(path), content=b'{"name": "x"}',
                                    headers={"content-type": "text/plain"})
        assert plain.status_code == 403, (method, path)


async def test_the_public_api_takes_no_cookies_so_needs_no_token(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    listing = (await client.get("/api/v1/screenings")).json()
    answer = await client.post(f"/api/v1/screenings/{listing[0]['id']}/registrations",
                               json={"name": "Ada", "email": "ada@example.org", "seats": 1})
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert (await client.delete(f"/api/v1/registrations/{token}")).status_code == 200


@pytest.mark.parametrize("path", ["/admin/audit"])
async def test_admin_only_routes_refuse_an_organiser(path: str, sign_in: Any) -> None:
    organiser = await sign_in("nl@example.org")
    assert (await organiser.get(path)).status_code == 403
