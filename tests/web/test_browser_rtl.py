"""Arabic in a real browser: the pages run right to left from one stylesheet (logical
properties only), nothing sticks out of a phone's screen, and times keep reading left
to right. Screenshots at 1280 and 390 px go to FESTIVAL_SCREENSHOT_DIR (a folder under
/tmp by default), to look at: a layout bug is easier to see than to assert.

The selectors are structural (names, classes), never texts: the Arabic catalogue is
translators' work in progress."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)
# Elements whose box reaches past the left or right edge of the window (a little
# rounding aside); the page's own width must not exceed the window either.
OVERFLOW = """() => {
  const width = window.innerWidth;
  // Folded parts (the phone's filters) opened, as a reader would open them.
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const out = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    // Only what is shown: not the content of a closed <details> (content-visibility).
    return e.checkVisibility() && r.width > 0 && r.height > 0
      && (r.left < -1 || r.right > width + 1);
  }).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  return {scroll: document.scrollingElement.scrollWidth, width, out: out.slice(0, 10)};
}"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("FESTIVAL_SCREENSHOT_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("rtl-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def arabic_pages(page: Any) -> dict[str, str]:
    """The programme, a screening and a ticket (registered through the form), in
    Arabic: name -> address."""
    page.goto("/?lang=ar")
    screening = page.locator("a[href^='/screenings/']").first.get_attribute("href")
    assert screening
    page.goto(screening)
    form = page.locator("form.register")
    form.locator("input[name=name]").fill("ليلى")
    form.locator("input[name=email]").fill("layla.rtl@example.org")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/tickets/"))
    return {"programme": "/", "screening": screening, "ticket": urlsplit(page.url).path}


def test_arabic_pages_run_right_to_left_and_fit_a_phone(page: Any, shots: Path) -> None:
    pages = arabic_pages(page)
    found = {}
    for name, address in pages.items():
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(address)
            assert page.evaluate("[document.documentElement.lang, document.dir]") == [
                "ar", "rtl"], name
            page.screenshot(path=str(shots / f"ar-{name}-{width}.png"), full_page=True)
            layout = page.evaluate(OVERFLOW)
            found[(name, width)] = (layout["scroll"] <= layout["width"], layout["out"])
    assert found == dict.fromkeys(found, (True, []))


def test_arabic_pages_lay_out_from_the_right(page: Any) -> None:
    """Start is the right: the header's brand sits at the right, the time column of a
    screening list to the right of its title, and a zone label reads left to right."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/?lang=ar")
    brand = page.locator(".brand").bounding_box()
    nav = page.locator(".site-nav").bounding_box()
    assert brand and nav and brand["x"] > nav["x"]
    item = page.locator("li.screening").first
    time_box = item.locator(".screening__time").bounding_box()
    title_box = item.locator(".screening__title").bounding_box()
    assert time_box and title_box and time_box["x"] > title_box["x"]
    zone = item.locator(".zone")
    assert zone.evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert re.fullmatch(r"([A-Z]+ \()?UTC[+-]\d\d:\d\d\)?", zone.inner_text())
    english = page.context.new_page()
    english.goto("/?lang=en")
    assert english.evaluate("document.dir") == "ltr"
    english_brand = english.locator(".brand").bounding_box()
    assert english_brand and english_brand["x"] < 100
