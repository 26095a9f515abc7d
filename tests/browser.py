"""Browser test harness: the real app, `festival serve` in a child process on a loopback
port (tests.helpers.serve_festival, the launcher the race test and the benchmarks use
too), driven by Playwright through Debian's chromium package (/usr/bin/chromium).

Use it from a test module with `pytest_plugins = ["tests.browser"]`, then ask for
`page` (a fresh tab, 1280x900, whose relative addresses go to the live server) or
`live_server` / `browser` directly. Tests skip with a clear reason where chromium or the
playwright package is missing; `playwright install` is never needed.

Why a real server and a real browser: these tests check what only a browser knows
(layout width on a phone, keyboard use, the page as rendered under our CSP)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SAMPLE, add_organiser_to_file, prepare_database, run_sync, serve_festival

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class LiveServer:
    url: str
    db_path: str


def start_server(tmp_dir: Path, programme: dict[str, Any]) -> tuple[LiveServer, Callable[[], None]]:
    """Serves a fresh database holding `programme` with `festival serve` in a child
    process (tests.helpers.serve_festival: a free loopback port, up once /healthz
    answers); answers the server and its stopper."""
    db_path = tmp_dir / "festival.db"
    run_sync(prepare_database(db_path, programme))
    server = serve_festival(db_path, env={"FESTIVAL_SECRET_KEY": "browser-test-secret"},
                            log=tmp_dir / "server.log").start()
    return LiveServer(url=server.url, db_path=str(db_path)), server.stop


def create_organiser(server: LiveServer, email: str, password: str, role: str,
                     country: str | None) -> None:
    """An organiser account in the live server's database."""
    add_organiser_to_file(server.db_path, email, password, role, country)


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

