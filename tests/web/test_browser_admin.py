"""An organiser in a real browser: signs in, creates a screening as a draft, publishes
it, and finds it on the public programme."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.browser import LiveServer

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

EMAIL = "nl-organiser@example.org"
PASSWORD = "browser-password-1"


@pytest.fixture(scope="module")
def organiser(live_server: LiveServer) -> str:
    """An organiser for the Netherlands in the live server's database."""
    from tests.browser import create_organiser

    create_organiser(live_server, EMAIL, PASSWORD, "organiser", "NL")
    return EMAIL


def test_organiser_creates_publishes_and_finds_a_screening(page: Any, organiser: str) -> None:
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Email address").fill(organiser)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert "Signed in as nl-organiser@example.org" in page.locator("nav.admin").inner_text()

    page.get_by_role("link", name="New screening").first.click()
    page.wait_for_url(re.compile(r"/admin/screenings/new$"))
    page.get_by_label("Film").select_option(label='The Crossing; a "journey", told\\retold')
    page.get_by_label("Venue").select_option(index=1)  # an NL organiser sees NL venues only
    page.get_by_label("Starts").fill("2099-12-16T19:00")
    page.get_by_label("Ends").fill("2099-12-16T21:15")
    page.get_by_label("Debate title", exact=True).fill("Crossing borders, crossing minds")
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(re.compile(r"/admin/screenings/\d+\?done=created$"))
    screening_id = re.search(r"/admin/screenings/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    assert page.get_by_role("status").inner_text() == "Created."
    assert "Draft (not public)" in page.locator("main").inner_text()

    response = page.goto(f"/screenings/{screening_id}")
    assert response is not None and response.status == 404  # a draft is not public yet

    page.goto(f"/admin/screenings/{screening_id}")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url(re.compile(r"\?done=publish$"))
    assert "Published" in page.get_by_role("status").inner_text()

    page.goto("/")
    link = page.locator(f'a[href="/screenings/{screening_id}"]').first
    assert "The Crossing" in link.inner_text()
    link.click()
    page.wait_for_url(re.compile(rf"/screenings/{screening_id}$"))
    main = page.locator("main").inner_text()
    assert "Humanity House" in main and "Crossing borders, crossing minds" in main
    assert "19:00" in main
