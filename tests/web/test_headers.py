"""Security headers (docs/http.md, "Security headers and limits"): a restrictive
Permissions-Policy on every answer (the camera only for the site itself, for the door's
QR scanner), and Strict-Transport-Security behind https: when the request came over
https or FESTIVAL_BASE_URL is https."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from festival.core.settings import Settings

HSTS = "max-age=31536000; includeSubDomains"
MakeClient = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(settings: Settings) -> AsyncIterator[MakeClient]:
    """client_for(base_url setting, request scheme) -> a client of an app with that
    FESTIVAL_BASE_URL whose requests come over that scheme."""
    from festival.web.app import create_app

    stack: list[Any] = []

    async def make(base_url: str, scheme: str) -> httpx.AsyncClient:
        app = create_app(dataclasses.replace(settings, base_url=base_url))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url=f"{scheme}://festival.example.org")
        stack.append((c, lifespan))
        return c

    yield make
    for c, lifespan in reversed(stack):
        await c.aclose()
        await lifespan.__aexit__(None, None, None)


def policy(answer: httpx.Response) -> dict[str, str]:
    """The Permissions-Policy as {feature: allowlist}."""
    value = answer.headers["permissions-policy"]
    return dict(item.strip().split("=", 1) for item in value.split(","))


ANSWERS = [  # (method, path, extra request arguments): pages, API, errors, static files
    ("GET", "/", {}),
    ("GET", "/api/v1/screenings", {}),
    ("GET", "/no-such-page", {}),
    ("GET", "/api/v1/screenings/999999", {}),
    ("POST", "/api/v1/screenings", {}),
    ("GET", "/static/css/site.css", {}),
    ("POST", "/api/v1/screenings/1/registrations",
     {"content": b"{}", "headers": {"content-type": "application/json",
                                    "content-length": str(65 * 1024)}}),  # the early 413
]


@pytest.mark.parametrize(("method", "path", "extra"), ANSWERS)
async def test_every_answer_has_a_restrictive_permissions_policy(
        client: httpx.AsyncClient, method: str, path: str, extra: dict[str, Any]) -> None:
    answer = await client.request(method, path, **extra)

    features = policy(answer)
    assert features.pop("camera") == "(self)"
    assert features and set(features.values()) == {"()"}
    assert {"geolocation", "microphone", "payment", "usb"} <= set(features)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(("method", "path", "extra"), ANSWERS)
async def test_https_answers_carry_hsts(client_for: MakeClient, method: str, path: str,
                                        extra: dict[str, Any]) -> None:
    c = await client_for("http://festival.example.org", "https")

    answer = await c.request(method, path, **extra)

    assert answer.headers["strict-transport-security"] == HSTS


async def test_an_https_base_url_sends_hsts_also_when_the_proxy_speaks_http(
        client_for: MakeClient) -> None:
    # Behind a proxy that ends TLS and does not pass the scheme on, the request looks
    # like http; FESTIVAL_BASE_URL says the site is https.
    c = await client_for("https://festival.example.org", "http")

    assert (await c.get("/")).headers["strict-transport-security"] == HSTS
    assert (await c.get("/api/v1/screenings")).headers["strict-transport-security"] == HSTS


async def test_plain_http_gets_no_hsts(client_for: MakeClient) -> None:
    c = await client_for("http://127.0.0.1:8000", "http")

    answer = await c.get("/healthz")

    assert answer.status_code == 200
    assert "strict-transport-security" not in answer.headers
    assert policy(answer)["camera"] == "(self)"
