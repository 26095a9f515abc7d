"""Shared fixtures: a database file per test, the app with its lifespan entered, an
in-process ASGI client, and a small programme spanning awkward time zones.

Each test gets its own SQLite file, as before, but not a freshly migrated one: the
migrations run once per session into a template (tmp_path_factory), checkpointed so
the whole database is in its main file, and each test's file is a byte copy of it.
Tests that ask for the sample programme (`programme`, `loaded`) get a copy of a second
template that already holds it, built (lazily) from the first. The apps made by `app`
share their compiled page templates (tests.helpers.SharedTemplateCode): compiling them
anew for each test's app cost more than anything else in the suite.

Every test that uses the database runs twice, once per backend (`backend` is a fixture
parameter): on SQLite, and on PostgreSQL (tests/postgres.py starts a throw-away server;
each test gets a database copied from a migrated template). FESTIVAL_TEST_BACKENDS=sqlite
(or =postgresql) runs one. Tests marked `sqlite_only` are about the SQLite file itself.

Helpers (csrf_of, sign-in, registrations, mail, calendars, servers) are in
tests/helpers.py."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from festival.core.settings import Settings
from festival.core.store import Database
from tests import postgres
from tests.helpers import (
    BASE_URL,
    PASSWORD,
    SAMPLE,
    SharedTemplateCode,
    SignIn,
    add_organiser,
    build_template,
    copy_database,
    csrf_of,
    fast_settings,
    submit_sign_in,
)

# Re-exported for test modules that still import them from here; new code imports
# from tests.helpers.
__all__ = ["PASSWORD", "SAMPLE", "SignIn", "csrf_of"]

# The fixtures that stand for "the sample programme is in the database": a test that
# uses any of them (directly or through other fixtures) starts from the loaded template.
SAMPLE_FIXTURES = frozenset({"programme", "loaded"})
SAMPLE_IN_DATABASE = pytest.StashKey[bool]()


BACKENDS = [b for b in os.environ.get("FESTIVAL_TEST_BACKENDS", "sqlite,postgresql").split(",")
            if b in ("sqlite", "postgresql")] or ["sqlite"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test about the SQLite file itself does not run on PostgreSQL."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("backend") == "postgresql" and item.get_closest_marker("sqlite_only"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        reason = postgres.why_not()
        if reason:
            pytest.skip(reason)
        request.applymarker(pytest.mark.postgresql)
    return request.param


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[postgres.Server]:
    with postgres.server() as running:
        yield running


def _postgresql_template(server: postgres.Server, programme: dict[str, Any] | None,
                         start_from: str | None = None) -> str:
    from tests.helpers import run_sync

    name = server.create(start_from)

    async def prepare() -> None:
        database = await Database(server.url(name)).open()
        try:
            if programme is not None:
                from festival.programme.loader import import_programme
                await import_programme(database, programme)
        finally:
            await database.close()

    run_sync(prepare())
    return name


@pytest.fixture(scope="session")
def postgresql_migrated(postgresql_server: postgres.Server) -> str:
    return _postgresql_template(postgresql_server, None)


@pytest.fixture(scope="session")
def postgresql_sample(postgresql_server: postgres.Server, postgresql_migrated: str) -> str:
    return _postgresql_template(postgresql_server, json.loads(SAMPLE.read_text("utf-8")),
                                postgresql_migrated)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration applied, for tests to copy."""
    return build_template(tmp_path_factory.mktemp("template") / "migrated.db")


@pytest.fixture(scope="session")
def sample_database(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Path:
    """The migrated template with the sample programme imported, for tests to copy."""
    return build_template(tmp_path_factory.mktemp("template") / "sample.db",
                          json.loads(SAMPLE.read_text("utf-8")), start_from=migrated_database)


@pytest.fixture(scope="session")
def pristine_sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text("utf-8"))


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Settings]:
    """Settings on this test's own database: a copy of the migrated template, or of the
    sample template when the test uses the sample programme's fixtures."""
    with_sample = not SAMPLE_FIXTURES.isdisjoint(request.fixturenames)
    request.node.stash[SAMPLE_IN_DATABASE] = with_sample
    if backend == "postgresql":
        server: postgres.Server = request.getfixturevalue("postgresql_server")
        template = "postgresql_sample" if with_sample else "postgresql_migrated"
        name = server.create(request.getfixturevalue(template))
        yield fast_settings(db_path=server.url(name), base_url=BASE_URL)
        server.drop(name)
        return
    db_path = tmp_path / "festival.db"
    template = "sample_database" if with_sample else "migrated_database"
    copy_database(request.getfixturevalue(template), db_path)
    yield fast_settings(db_path=str(db_path), base_url=BASE_URL)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await Database(settings.db_path, synchronous="NORMAL").open()
    yield database
    await database.close()


@pytest.fixture
def sample_programme() -> dict[str, Any]:
    """A programme in the file format (see tests/data/sample_programme.json)."""
    return json.loads(SAMPLE.read_text("utf-8"))


# Compiled Jinja templates, shared by every app these fixtures make in the session:
# compiling them anew for each test's app was the largest single cost of the suite.
TEMPLATE_CODE = SharedTemplateCode()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    from festival.web.app import create_app

    application = create_app(settings)
    application.state.templates.bytecode_cache = TEMPLATE_CODE
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


def _sample_is_in_database(request: pytest.FixtureRequest, sample: dict[str, Any],
                           pristine: dict[str, Any]) -> bool:
    """Whether the test's database came from the sample template; fails when the sample
    was changed before the fixture that stands for it (the template holds the file's)."""
    if not request.node.stash.get(SAMPLE_IN_DATABASE, False):
        return False  # asked for late (getfixturevalue): the database has no programme
    if sample != pristine:
        pytest.fail("the sample programme was changed before it was loaded; load a changed "
                    "programme with import_programme instead of the programme fixture")
    return True


@pytest.fixture
async def programme(request: pytest.FixtureRequest, app: Any, sample_programme: dict[str, Any],
                    pristine_sample: dict[str, Any]) -> dict[str, Any]:
    """The sample programme in the app's database; answers the file's dict. It comes
    with the database file (imported once per session, at the session's start), so a
    test that needs it imported under its own conditions (a frozen clock, a patched
    loader) imports it itself instead."""
    if not _sample_is_in_database(request, sample_programme, pristine_sample):
        from festival.programme.loader import import_programme

        await import_programme(app.state.db, sample_programme)
    return sample_programme


@pytest.fixture
async def loaded(request: pytest.FixtureRequest, db: Database, sample_programme: dict[str, Any],
                 pristine_sample: dict[str, Any]) -> Database:
    """The `db` fixture with the sample programme in it."""
    if not _sample_is_in_database(request, sample_programme, pristine_sample):
        from festival.programme.loader import import_programme

        await import_programme(db, sample_programme)
    return db


@pytest.fixture
async def sign_in(app: Any, settings: Settings) -> AsyncIterator[SignIn]:
    """sign_in(email, role, country, target=app) -> a client signed in through the login
    form (against `target`, another app on the same database, when given)."""
    clients: list[httpx.AsyncClient] = []

    async def make(email: str, role: str = "organiser", country: str | None = "NL",
                   target: Any = None) -> httpx.AsyncClient:
        await add_organiser(app, email, PASSWORD, role, country, settings=settings)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=target or app),
                              base_url=BASE_URL)
        clients.append(c)
        answer = await submit_sign_in(c, email, PASSWORD)
        assert answer.status_code == 303, answer.text
        return c

    yield make
    for c in clients:
        await c.aclose()
