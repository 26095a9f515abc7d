"""Browser test harness: the real app under uvicorn on a loopback port, driven by
Playwright through Debian's chromium package (/usr/bin/chromium).

Use it from a test module with `pytest_plugins = ["tests.browser"]`, then ask for
`page` (a fresh tab, 1280x900, whose relative addresses go to the live server) or
`live_server` / `browser` directly. Tests skip with a clear reason where chromium or the
playwright package is missing; `playwright install` is never needed.

Why a real server and a real browser: these tests check what only a browser knows
(layout width on a phone, keyboard use, the page as rendered under our CSP)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SAMPLE = Path(__file__).parent / "data" / "sample_programme.json"
STARTUP_SECONDS = 15


@dataclass
class LiveServer:
    url: str
    db_path: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(db_path: str, programme: dict[str, Any]) -> None:
    from festival.core.store import Database
    from festival.programme.loader import import_programme

    db = await Database(db_path, synchronous="NORMAL").open()
    try:
        await import_programme(db, programme)
    finally:
        await db.close()


def _run_in_own_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Runs a coroutine to the end on a thread of its own: pytest-asyncio may have a
    loop running on this one, where asyncio.run is refused."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="festival-test-loader")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def start_server(tmp_dir: Path, programme: dict[str, Any]) -> tuple[LiveServer, Callable[[], None]]:
    """Serves a fresh database holding `programme`; answers the server and its stopper."""
    import uvicorn

    from festival.core.settings import Settings
    from festival.web.app import create_app

    db_path = str(tmp_dir / "festival.db")
    _run_in_own_thread(_load(db_path, programme))
    port = _free_port()
    settings = Settings(db_path=db_path, secret_key="browser-test-secret",
                        base_url=f"http://127.0.0.1:{port}", sqlite_synchronous="NORMAL",
                        argon2_time_cost=1, argon2_memory_cost=8, start_mail_sender=False)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="festival-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)  # polling the server thread, not waiting on the app under test

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)

    return LiveServer(url=f"http://127.0.0.1:{port}", db_path=db_path), stop


def create_organiser(server: LiveServer, email: str, password: str, role: str,
                     country: str | None) -> None:
    """An organiser account in the live server's database."""
    from festival.core.settings import Settings
    from festival.core.store import Database
    from festival.organisers import accounts

    async def create() -> None:
        db = await Database(server.db_path, synchronous="NORMAL").open()
        try:
            await accounts.create_organiser(db, email, password, role, country,
                                        settings=Settings(argon2_time_cost=1,
                                                          argon2_memory_cost=8))
        finally:
            await db.close()

    _run_in_own_thread(create())


def _require_browser() -> Any:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a free loopback port, with the sample programme (tests/data)."""
    _require_browser()  # no point starting a server for tests that will skip
    server, stop = start_server(tmp_path_factory.mktemp("live"),
                                json.loads(SAMPLE.read_text("utf-8")))
    yield server
    stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module. Not per session: Playwright's sync API
    keeps an event loop of its own, which must be gone before other modules' asyncio
    tests run on this thread."""
    sync_playwright = _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh tab (own cookies) on the live server: `page.goto("/")` opens the
    programme."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                  base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
