"""Accessibility, checked by axe-core (the engine behind Lighthouse's audit) in a real
browser: every kind of page, public and organisers', has no violation at all, of any
impact (contrast, labels, names of links and buttons, landmarks, language, ...)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

axe_playwright = pytest.importorskip(
    "axe_playwright_python.sync_playwright", reason="needs axe-playwright-python (test extras)")

def violations(page: Any) -> list[str]:
    results = axe_playwright.Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in results.response["violations"]]


def first_link(page: Any, pattern: str) -> str:
    href = page.locator(f"a[href*='{pattern}']").first.get_attribute("href")
    assert href, f"no link to {pattern}"
    return href


@pytest.mark.parametrize("lang", ["en", "ar", "fr"])
def test_public_pages_have_no_accessibility_violations(page: Any, lang: str) -> None:
    """In English, in Arabic (right to left) and in French: the language switch's
    cookie carries the language from the first page on."""
    page.goto(f"/?lang={lang}")
    assert page.evaluate("document.documentElement.lang") == lang
    addresses = ["/", "/?country=NL&step_free=1", "/?q=no+such+film", "/subscribe", "/tickets/lost",
                 "/nowhere", first_link(page, "/screenings/")]
    page.goto(addresses[-1])
    addresses += [first_link(page, "/venues/"), first_link(page, "/films/")]
    found = {}
    for address in addresses:
        page.goto(address)
        found[address] = violations(page)
    assert found == {address: [] for address in addresses}


def test_registration_errors_and_ticket_have_no_accessibility_violations(page: Any) -> None:
    page.goto("/")
    page.goto(first_link(page, "/screenings/"))
    page.get_by_label("Your name").fill("")
    page.get_by_label("Email address").fill("not-an-email")
    page.locator("form.register").evaluate("form => form.noValidate = true")
    page.locator("form.register button[type=submit]").click()
    assert page.locator(".field__error").count() >= 1
    errors_shown = violations(page)

    page.get_by_label("Your name").fill("Ana Reyes")
    page.get_by_label("Email address").fill("ana.a11y@example.org")
    page.locator("form.register button[type=submit]").click()
    page.wait_for_url(re.compile(r"/tickets/"))
    assert (errors_shown, violations(page)) == ([], [])


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_a_ticket_in_another_language_has_no_accessibility_violations(page: Any,
                                                                       lang: str) -> None:
    page.goto(f"/?lang={lang}")
    page.goto(first_link(page, "/screenings/"))
    form = page.locator("form.register")  # by structure: translations are still coming in
    form.locator("input[name=name]").fill("Layla")
    form.locator("input[name=email]").fill(f"layla.{lang}@example.org")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/tickets/"))
    assert page.evaluate("document.documentElement.lang") == lang
    assert violations(page) == []


def test_organiser_pages_have_no_accessibility_violations(page: Any, live_server: Any) -> None:
    from tests.browser import create_organiser

    create_organiser(live_server, "a11y@example.org", "a11y-password-1", "admin", None)
    page.goto("/admin/login")
    login = violations(page)
    page.get_by_label("Email address").fill("a11y@example.org")
    page.get_by_label("Password").fill("a11y-password-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/?$"))
    found = {"/admin/login": login}
    for address in ("/admin/", "/admin/screenings", "/admin/screenings/new", "/admin/venues",
                    "/admin/films", "/admin/guests", "/admin/dashboard", "/admin/audit",
                    "/admin/outbox"):
        page.goto(address)
        found[address] = violations(page)
    page.goto("/admin/screenings")
    for pattern in ("/attendees", "/door"):
        address = first_link(page, pattern)
        page.goto(address)
        found[pattern] = violations(page)
    assert found == {address: [] for address in found}
