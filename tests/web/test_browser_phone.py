"""On a phone (390 px): results before the filters (folded in a "Filter" disclosure,
no script), a way from the seats badge to the registration form, and the answer to a
repeated or refused registration in view rather than screens below. On a desktop the
filters stay unfolded beside the results."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                  base_url=live_server.url, is_mobile=True, has_touch=True,
                                  reduced_motion="reduce")  # jumps, not smooth scrolling
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def in_view(page: Any, locator: Any) -> bool:
    """Whether the element's box lies (at least its top) within the visible screen."""
    box = locator.bounding_box()
    height = page.evaluate("window.innerHeight")
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height


def test_filters_fold_away_on_a_phone_so_results_come_first(phone: Any) -> None:
    phone.goto("/")
    assert not phone.locator("#f-q").is_visible()
    assert in_view(phone, phone.locator(".screening__title").first)
    phone.get_by_text("Filter", exact=True).click()
    phone.locator("#f-q").fill("crossing")
    phone.get_by_role("button", name="Show screenings").click()
    phone.wait_for_url(re.compile(r"q=crossing"))
    assert all("The Crossing" in t for t in phone.locator(".screening__title").all_inner_texts())


def test_filters_stay_unfolded_beside_the_results_on_a_desktop(page: Any) -> None:
    page.goto("/")
    assert page.locator("#f-q").is_visible()
    assert not page.get_by_text("Filter", exact=True).is_visible()
    page.get_by_label("Country").select_option("MX")
    page.get_by_role("button", name="Show screenings").click()
    page.wait_for_url(re.compile(r"country=MX"))


def test_register_link_beside_the_seats_leads_to_the_form(phone: Any) -> None:
    phone.goto("/?city=The+Hague")
    phone.locator(".screening__title a").first.click()
    phone.wait_for_url(re.compile(r"/screenings/\d+$"))
    assert not in_view(phone, phone.get_by_label("Your name"))
    phone.locator(".screening-page__header").get_by_role("link", name="Register").click()
    assert in_view(phone, phone.get_by_label("Your name"))


def test_registering_again_shows_the_notice_in_view_on_a_phone(phone: Any) -> None:
    phone.goto("/?city=The+Hague")
    phone.locator(".screening__title a").first.click()
    phone.wait_for_url(re.compile(r"/screenings/\d+$"))
    screening = phone.url
    for _ in range(2):
        phone.goto(screening)
        phone.get_by_label("Your name").fill("Phone Twice")
        phone.get_by_label("Email address").fill("phone.twice@example.org")
        phone.locator("form.register").get_by_role("button").click()
        phone.wait_for_load_state("load")
    assert phone.url.endswith("?notice=already-registered#register")
    notice = phone.get_by_role("status").filter(has_text="already registered")
    assert in_view(phone, notice)


def test_refused_registration_shows_the_errors_in_view_on_a_phone(phone: Any) -> None:
    phone.goto("/?city=The+Hague")
    phone.locator(".screening__title a").first.click()
    phone.wait_for_url(re.compile(r"/screenings/\d+$"))
    phone.get_by_label("Email address").fill("not-an-email")
    phone.locator("form.register").evaluate("form => form.noValidate = true")
    phone.locator("form.register").get_by_role("button").click()
    phone.wait_for_url(re.compile(r"/register#register$"))
    assert in_view(phone, phone.get_by_role("alert").filter(has_text="Please correct"))
