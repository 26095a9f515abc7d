"""Shared fixtures: a fresh SQLite file per test, the app with its lifespan entered, an
in-process ASGI client, and a small programme spanning awkward time zones."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from festival.core.settings import Settings
from festival.core.store import Database
from festival.organisers import accounts

SAMPLE = Path(__file__).parent / "data" / "sample_programme.json"
PASSWORD = "organiser-password-1"
SignIn = Callable[..., Awaitable[httpx.AsyncClient]]


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        db_path=str(tmp_path / "festival.db"),
        secret_key="test-secret-key-not-for-production",
        base_url="https://festival.example.org",
        sqlite_synchronous="NORMAL",
        argon2_time_cost=1,
        argon2_memory_cost=8,
        start_mail_sender=False,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await Database(settings.db_path, synchronous="NORMAL").open()
    yield database
    await database.close()


@pytest.fixture
def sample_programme() -> dict[str, Any]:
    """A programme in the file format (see tests/data/sample_programme.json)."""
    return json.loads(SAMPLE.read_text("utf-8"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    from festival.web.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://festival.example.org") as c:
        yield c


@pytest.fixture
async def programme(app: Any, sample_programme: dict[str, Any]) -> dict[str, Any]:
    """The sample programme loaded into the app's database; answers the file's dict."""
    from festival.programme.loader import import_programme

    await import_programme(app.state.db, sample_programme)
    return sample_programme


@pytest.fixture
async def sign_in(app: Any, settings: Settings) -> AsyncIterator[SignIn]:
    """sign_in(email, role, country, target=app) -> a client signed in through the login
    form (against `target`, another app on the same database, when given)."""
    clients: list[httpx.AsyncClient] = []

    async def make(email: str, role: str = "organiser", country: str | None = "NL",
                   target: Any = None) -> httpx.AsyncClient:
        await accounts.create_organiser(app.state.db, email, PASSWORD, role, country,
                                    settings=settings)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=target or app),
                              base_url="https://festival.example.org")
        clients.append(c)
        page = await c.get("/admin/login")
        answer = await c.post("/admin/login", data={
            "email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert answer.status_code == 303, answer.text
        return c

    yield make
    for c in clients:
        await c.aclose()
