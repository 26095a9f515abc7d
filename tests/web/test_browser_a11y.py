"""Accessibility, checked by axe-core (the engine behind Lighthouse's audit) in a real
browser: every kind of page, public and organisers', has no violation at all, of any
impact (contrast, labels, names of links and buttons, landmarks, language, ...)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import sign_in_page

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
    # Cancelling asks first, on a page of its own (its "No" leaves the screening be).
    page.goto(first_link(page, "/attendees").replace("/attendees", ""))
    page.get_by_role("link", name="Cancel this screening").click()
    page.wait_for_url(re.compile(r"/cancel$"))
    assert page.get_by_role("heading", name="Cancel this screening?").is_visible()
    found["/cancel"] = violations(page)
    page.get_by_role("link", name="No, keep the screening").click()
    assert page.get_by_role("link", name="Cancel this screening").is_visible()
    assert found == {address: [] for address in found}


@pytest.mark.parametrize("width", [1280, 390])
def test_invite_and_two_step_sign_in_pages_have_no_accessibility_violations(
        browser: Any, live_server: Any, width: int) -> None:
    import pyotp

    from tests.browser import create_organiser
    from tests.helpers import run_sync

    email = f"a11y-totp-{width}@example.org"
    create_organiser(live_server, email, "a11y-password-1", "admin", None)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  base_url=live_server.url)
    page = context.new_page()
    sign_in_page(page, email, "a11y-password-1")
    found = {}
    page.goto("/admin/organisers")
    page.get_by_label("Email address").fill(f"invitee-{width}@example.org")
    page.get_by_label("Country (2-letter code, for an organiser)").fill("NL")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(re.compile(r"done=invited"))
    found["/admin/organisers"] = violations(page)
    page.goto("/admin/security")
    found["/admin/security"] = violations(page)
    secret = page.locator("code").inner_text().replace(" ", "")
    page.get_by_label("Current 6-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn two-step sign-in on").click()
    page.wait_for_url(re.compile(r"done=totp_on"))
    found["/admin/security (on)"] = violations(page)
    context.clear_cookies()
    page.goto("/admin/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("a11y-password-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/login/code"))
    found["/admin/login/code"] = violations(page)

    async def invite_link() -> str:
        from festival.core.settings import Settings
        from festival.core.store import Database
        from festival.organisers import invites

        settings = Settings(base_url=live_server.url)
        db = await Database(live_server.db_path, synchronous="NORMAL").open()
        try:
            return (await invites.create_invite(db, f"later-{width}@example.org",
                                                 "organiser", "FR", settings=settings,
                                                 mail=False))[1]
        finally:
            await db.close()

    page.goto(run_sync(invite_link()))
    found["/admin/invite/…"] = violations(page)
    context.close()
    assert found == {address: [] for address in found}


@pytest.mark.parametrize("width", [1280, 390])
def test_the_door_scanning_has_no_accessibility_violations(browser: Any, live_server: Any,
                                                           width: int) -> None:
    """The door with the camera scanner's panel shown (static/js/door-scanner.js), after
    an admitted scan and a refused one, on a desktop and on a phone."""
    from tests.browser import create_organiser
    from tests.helpers import on_file, register

    registration = on_file(live_server.db_path, lambda db: register(
        db, "hague", "Door A11y", f"door.{width}@example.org", 2))
    email = f"door-a11y-{width}@example.org"
    create_organiser(live_server, email, "a11y-password-1", "admin", None)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  base_url=live_server.url)
    page = context.new_page()
    try:
        sign_in_page(page, email, "a11y-password-1")
        page.goto(f"/admin/screenings/{registration['screening_id']}/door")
        page.get_by_role("heading", name="Scan with the camera").wait_for()
        for expected in ("Admitted", "Already in at"):
            page.evaluate("token => document.dispatchEvent(new CustomEvent('festival:scan', "
                          "{detail: token}))", registration["token"])
            page.locator(".scan-result").filter(has_text=expected).wait_for()
        assert violations(page) == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_organiser_tables_have_no_accessibility_violations_on_a_phone(
        browser: Any, live_server: Any, width: int) -> None:
    """The attendee list and the dashboard, whose wide tables scroll in their own box on
    a small screen: each such box can be reached and scrolled by keyboard."""
    from tests.browser import create_organiser
    from tests.helpers import on_file, register

    registration = on_file(live_server.db_path, lambda db: register(
        db, "hague", "Table A11y", f"table.{width}@example.org", 2))
    email = f"tables-a11y-{width}@example.org"
    create_organiser(live_server, email, "a11y-password-1", "admin", None)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  base_url=live_server.url)
    page = context.new_page()
    try:
        sign_in_page(page, email, "a11y-password-1")
        found = {}
        for address in (f"/admin/screenings/{registration['screening_id']}/attendees",
                        "/admin/dashboard"):
            page.goto(address)
            found[address] = violations(page)
        assert found == {address: [] for address in found}
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_catalogue_editing_pages_have_no_accessibility_violations(
        page: Any, live_server: Any, width: int, tmp_path: Any) -> None:
    """The venue's lists of countries and time zones, the film's poster (its form, a
    refused upload, the public page), the screening's guest search (with JavaScript) and
    the confirmation of a removal, allowed or refused; on a desktop and a phone."""
    from tests.browser import create_organiser
    from tests.web.test_browser_catalogue import png_file

    email = f"a11y-catalogue-{width}@example.org"
    create_organiser(live_server, email, "a11y-password-1", "admin", None)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in_page(page, email, "a11y-password-1")
    found = {}
    page.goto("/admin/venues/new")
    found["venue form"] = violations(page)
    page.goto("/admin/films")
    film = page.locator("table a[href^='/admin/films/']").first.get_attribute("href")
    page.goto(film)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"GIF89a not a poster")
    upload = page.get_by_label(re.compile("^(Poster image|Replace the poster)$"))
    upload.set_input_files(str(bad))
    page.get_by_role("button", name="Upload the poster").click()
    found["refused poster"] = violations(page)
    upload.set_input_files(str(png_file(tmp_path)))
    page.get_by_role("button", name="Upload the poster").click()
    page.wait_for_url(re.compile(r"\?done=poster$"))
    found["film form with poster"] = violations(page)
    film_id = str(film).rsplit("/", 1)[-1]
    page.goto(f"/films/{film_id}")
    found["film page with poster"] = violations(page)
    page.goto(f"/admin/films/{film_id}/delete")
    found["removal refused"] = violations(page)
    page.goto("/admin/screenings")
    page.goto(str(page.locator("table a[href^='/admin/screenings/']").first.get_attribute("href")))
    page.get_by_label("Find a guest").fill("ana")
    found["guest search"] = violations(page)
    page.goto("/admin/guests/new")
    page.get_by_label("Name (required)").fill(f"Unused Guest {width}")
    page.get_by_role("button", name="Create debate guest").click()
    page.wait_for_url(re.compile(r"\?done=created$"))
    page.get_by_role("link", name="Delete this debate guest").click()
    found["removal confirmation"] = violations(page)
    assert found == {name: [] for name in found}


@pytest.mark.parametrize("width", [1280, 390])
def test_registration_management_pages_have_no_accessibility_violations(
        browser: Any, live_server: Any, width: int) -> None:
    """The attendee list with a registration's forms open (and a refusal shown in
    place), the message form and its preview."""
    from tests.browser import create_organiser
    from tests.helpers import on_file, register

    registration = on_file(live_server.db_path, lambda db: register(
        db, "hague", f"Manage A11y {width}", f"manage.{width}@example.org", 2))
    sid = registration["screening_id"]
    email = f"manage-a11y-{width}@example.org"
    create_organiser(live_server, email, "a11y-password-1", "admin", None)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  base_url=live_server.url)
    page = context.new_page()
    try:
        sign_in_page(page, email, "a11y-password-1")
        found = {}
        page.goto(f"/admin/screenings/{sid}/attendees")
        summary = f"Manage Manage A11y {width}'s registration"
        manage = page.locator("details").filter(has_text=summary)
        manage.get_by_text(summary).click()
        found["attendees"] = violations(page)
        seats = manage.get_by_label("Seats", exact=True)
        seats.evaluate("field => field.removeAttribute('max')")  # as an old browser would
        seats.fill("99")
        manage.get_by_role("button", name="Change seats").click()
        page.get_by_role("alert").wait_for()
        found["refused"] = violations(page)
        page.goto(f"/admin/screenings/{sid}/message")
        found["message"] = violations(page)
        page.get_by_label("Subject").fill("Doors open at 18:30")
        page.get_by_label("Message").fill("Dear all,\n\nthe doors open early.")
        page.get_by_role("button", name="Preview").click()
        page.get_by_text("This message will go to").wait_for()
        found["preview"] = violations(page)
        assert found == {address: [] for address in found}
    finally:
        context.close()
