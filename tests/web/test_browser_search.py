"""The programme's search in a real browser: words in any order, accents and case
ignored, then registering from the match: the ticket says where its mail went and
offers Google Calendar beside the .ics file. With FESTIVAL_SCREENSHOT_DIR set, it saves
screenshots there to look at."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("FESTIVAL_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_search_finds_words_in_any_order_and_leads_to_a_ticket(page: Any) -> None:
    page.goto("/")
    box = page.get_by_role("searchbox", name="Search")
    box.fill("MIGRANTS débate? perception hague")  # "débate?": not a word of it
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=MIGRANTS"))
    assert page.get_by_text("No screening matches your search.").is_visible()
    box = page.get_by_role("searchbox", name="Search")
    box.fill("migrants perception HAGUE")
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=migrants"))
    assert page.get_by_text("1 screening matches your search.").is_visible()
    assert page.locator(".screening__title").all_inner_texts() == ["Wallah, Je te jure"]
    shot(page, "search")
    box = page.get_by_role("searchbox", name="Search")
    box.fill('hague "wall')  # a stray quote, and the last word a prefix
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=hague"))
    assert page.locator(".screening__title").all_inner_texts() == ["Wallah, Je te jure"]

    page.get_by_role("link", name="Wallah, Je te jure").click()
    google = page.get_by_role("link", name="Add to Google Calendar")
    assert google.get_attribute("href").startswith(
        "https://calendar.google.com/calendar/render?action=TEMPLATE&text=Wallah")
    page.get_by_label("Your name").fill("Ana Silva")
    page.get_by_label("Email address").fill("ana.silva@example.org")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"/tickets/[^?]+\?sent=1"))  # (+ the form's #register)
    assert page.get_by_text("this ticket to a***@example.org").is_visible()
    assert "ana.silva" not in page.content()
    assert page.get_by_role("link", name="Add to Google Calendar").is_visible()
    shot(page, "ticket")
