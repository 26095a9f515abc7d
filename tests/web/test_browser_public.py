"""The public pages in a real browser: filter by keyboard, open a screening, read its
local time, and fit a phone's width. With FESTIVAL_SCREENSHOT=1 it also saves the
README's screenshot (docs/screenshot.png) of a realistic demo programme."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.browser import LiveServer

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def test_programme_lists_days_and_local_times(page: Any) -> None:
    page.goto("/")
    assert page.title().startswith("Global Migration Film Festival 2099")
    days = page.locator("h3.day__title").all_inner_texts()
    assert days[0] == "Sunday, 6 December 2099"
    sydney = page.locator("li.screening", has_text="Harbour Hall")
    assert sydney.locator(".screening__time").inner_text().split() == [
        "19:30", "AEDT", "(UTC+11:00)"]


def test_programme_filter_form_works_by_keyboard(page: Any) -> None:
    page.goto("/")
    page.locator("#f-q").focus()
    page.keyboard.type("crossing")
    page.keyboard.press("Enter")  # submits the form from its search field
    page.wait_for_url(re.compile(r"q=crossing"))
    titles = page.locator(".screening__title").all_inner_texts()
    assert len(titles) == 2
    assert all("The Crossing" in t for t in titles)
    assert page.locator("#f-q").input_value() == "crossing"  # the form remembers
    page.locator("#f-country").select_option("MX")
    page.get_by_role("button", name="Show screenings").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"country=MX"))
    assert page.locator(".screening__place").all_inner_texts() == [
        "Cineteca, Sala 3, Mexico City, Mexico"]


def test_programme_checkbox_filter_by_keyboard(page: Any) -> None:
    page.goto("/")
    page.locator("#f-sign").focus()
    page.keyboard.press("Space")
    assert page.locator("#f-sign").is_checked()
    page.keyboard.press("Tab")  # captioned debate
    page.keyboard.press("Tab")  # the submit button
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"sign_interpretation=1"))
    assert page.locator(".screening__title").count() == 1


def test_screening_page_shows_local_time_and_venue(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="Wallah, Je te jure").first.click()  # Kathmandu, 10 Dec
    page.wait_for_url(re.compile(r"/screenings/\d+$"))
    assert page.locator("h1").inner_text() == "Wallah, Je te jure"
    when = page.locator(".screening-page__when").inner_text()
    assert when == "Thursday, 10 December 2099, 17:15 UTC+05:45"  # no letters for +05:45
    assert page.locator(".screening-page__where").inner_text() == \
        "Kathmandu Film Centre, Kathmandu, Nepal"
    page.get_by_role("link", name="Kathmandu Film Centre").first.click()
    page.wait_for_url(re.compile(r"/venues/\d+$"))
    assert page.locator("h1").inner_text() == "Kathmandu Film Centre"


def test_unlisted_guest_stays_anonymous_in_the_browser(page: Any) -> None:
    page.goto("/?city=The+Hague")
    page.locator(".screening__title a").first.click()
    guests = page.locator(".guests li").all_inner_texts()
    assert any(g.startswith("a guest speaker") for g in guests)
    assert "Secret Person" not in page.content()


def test_skip_link_is_the_first_stop_and_visible_when_focused(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0


@pytest.mark.parametrize("path", ["/", "/screenings/1", "/venues/1", "/nowhere"])
def test_pages_fit_a_phone_without_horizontal_scroll(page: Any, path: str) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(path)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{path} is {widths[0]}px wide on a 375px screen"


def test_pages_load_without_console_errors(page: Any) -> None:
    """Nothing the browser refuses: no CSP violation, no missing stylesheet."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    # The icon is fetched in the background after "load": the next page cuts it short.
    page.on("requestfailed", lambda request: (request.url.endswith("/favicon.svg")
                                              and request.failure == "net::ERR_ABORTED")
            or errors.append(request.url))
    for path in ("/", "/screenings/1", "/venues/1", "/films/1"):
        page.goto(path)
        page.wait_for_load_state("load")
    assert errors == []
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from festival.programme import demo
    from tests.browser import start_server

    programme = demo.generate(screenings=180, seed=7, today=date(2026, 1, 1))
    server, stop = start_server(tmp_path_factory.mktemp("demo"), programme)
    yield server
    stop()


@pytest.mark.skipif(os.environ.get("FESTIVAL_SCREENSHOT") != "1",
                    reason="set FESTIVAL_SCREENSHOT=1 to refresh docs/screenshot.png")
def test_programme_screenshot_for_the_readme(browser: Any, demo_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    tab = context.new_page()
    tab.goto(demo_server.url + "/")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT))
    context.close()
    assert SCREENSHOT.stat().st_size > 10_000
