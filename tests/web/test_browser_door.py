"""The door that scans, in a real browser (static/js/door-scanner.js): a read ticket is
checked in at once and the answer shown big; scans made offline wait, counted, and sync
when the network is back, a clash included; without JavaScript the form still works.

No camera here: the tests hand the scanner what it read as the `festival:scan` event
that the camera path dispatches too."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import register, run_sync, sign_in_page

if TYPE_CHECKING:
    from tests.browser import LiveServer

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

EMAIL = "door-admin@example.org"
PASSWORD = "door-password-1"


async def _registrations(db_path: str, wanted: list[tuple[str, str, str, int]]
                         ) -> dict[str, dict[str, Any]]:
    from festival.core.store import Database

    db = await Database(db_path, synchronous="NORMAL").open()
    try:
        return {name: await register(db, key, name, email, seats)
                for key, name, email, seats in wanted}
    finally:
        await db.close()


@pytest.fixture(scope="module")
def door(live_server: LiveServer) -> dict[str, Any]:
    """An admin (any country), tickets for The Hague and one for Sydney."""
    from tests.browser import create_organiser

    create_organiser(live_server, EMAIL, PASSWORD, "admin", None)
    tickets = run_sync(_registrations(live_server.db_path, [
        ("hague", "Ana Reyes", "ana.door@example.org", 2),
        ("hague", "Bo Lind", "bo.door@example.org", 1),
        ("hague", "Chidi Obi", "chidi.door@example.org", 3),
        ("hague", "Dana Kim", "dana.door@example.org", 1),
        ("hague", "Eli Sato", "eli.door@example.org", 2),
        ("sydney", "Finn Walsh", "finn.door@example.org", 1),
    ]))
    return {"tickets": tickets, "hague": tickets["Ana Reyes"]["screening_id"]}


def sign_in(page: Any) -> None:
    sign_in_page(page, EMAIL, PASSWORD)


def open_door(page: Any, door: dict[str, Any]) -> None:
    page.goto(f"/admin/screenings/{door['hague']}/door")
    page.get_by_role("heading", name="Scan with the camera").wait_for()


def scan(page: Any, value: str) -> None:
    page.evaluate("value => document.dispatchEvent(new CustomEvent('festival:scan', "
                  "{detail: value}))", value)


def ticket_url(live_server: LiveServer, registration: dict[str, Any]) -> str:
    return f"{live_server.url}/tickets/{registration['token']}"


def result(page: Any) -> Any:
    return page.locator(".scan-result")


def test_a_scanned_ticket_is_admitted_once_and_another_screenings_is_refused(
        page: Any, live_server: LiveServer, door: dict[str, Any]) -> None:
    sign_in(page)
    open_door(page, door)
    assert page.get_by_role("button", name="Scan tickets with the camera").is_visible()
    ana = door["tickets"]["Ana Reyes"]

    scan(page, ticket_url(live_server, ana))  # the QR code holds the ticket's URL
    shown = result(page)
    shown.filter(has_text="Admitted").wait_for()
    assert "Ana Reyes · seats: 2" in shown.inner_text()
    assert shown.get_attribute("aria-live") == "assertive"

    scan(page, ana["token"])
    shown.filter(has_text="Already in at").wait_for()
    assert re.search(r"Already in at \d{1,2}:\d{2}\b", shown.inner_text())
    assert "Ana Reyes" in shown.inner_text()

    scan(page, ticket_url(live_server, door["tickets"]["Finn Walsh"]))
    shown.filter(has_text="Wrong screening").wait_for()
    assert "Finn Walsh" in shown.inner_text()
    assert "another screening" in shown.inner_text()
    kinds = [line.split(" · ")[0] for line in page.locator(".scan-log li").all_inner_texts()]
    assert kinds[0] == "Wrong screening" and kinds[2] == "Admitted", kinds
    assert kinds[1].startswith("Already in at "), kinds

    # The door's own page agrees: Ana's two seats are in.
    page.reload()
    assert "Checked in: 2 of" in page.locator(".door-summary").inner_text()


def test_scans_wait_offline_and_sync_with_the_servers_answer(
        page: Any, live_server: LiveServer, door: dict[str, Any]) -> None:
    tickets = door["tickets"]
    sign_in(page)
    open_door(page, door)
    scan(page, tickets["Bo Lind"]["token"])
    result(page).filter(has_text="Admitted").wait_for()

    page.context.set_offline(True)
    scan(page, ticket_url(live_server, tickets["Chidi Obi"]))
    page.get_by_text("Scans waiting to sync: 1").first.wait_for()
    assert "Saved: checks in when back online" in result(page).inner_text()
    scan(page, tickets["Bo Lind"]["token"])  # checked in already: a clash, shown on sync
    page.get_by_text("Scans waiting to sync: 2").first.wait_for()
    # Typed offline, the form queues too instead of failing.
    page.get_by_label("Ticket link or code").fill(tickets["Dana Kim"]["token"])
    page.get_by_role("button", name="Check in", exact=True).click()
    page.get_by_text("Scans waiting to sync: 3").first.wait_for()
    assert page.evaluate("Object.keys(localStorage)") == [f"festival.door.queue.{door['hague']}"]

    page.context.set_offline(False)
    page.locator(".scan-queue").wait_for(state="hidden")
    log = page.locator(".scan-log li").all_inner_texts()
    synced = [line for line in log if line.startswith("Synced scan from")]
    assert len(synced) == 3, log
    assert "Admitted · Dana Kim" in synced[0]
    assert "Already in at" in synced[1] and "Bo Lind" in synced[1]
    assert "Admitted · Chidi Obi · seats: 3" in synced[2]
    assert page.evaluate("localStorage.length") == 0


def test_without_javascript_the_form_checks_in(browser: Any, live_server: LiveServer,
                                               door: dict[str, Any]) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url,
                                  locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page)
        page.goto(f"/admin/screenings/{door['hague']}/door")
        assert not page.get_by_role("button", name="Scan tickets with the camera").is_visible()
        assert not page.get_by_role("heading", name="Scan with the camera").is_visible()
        page.get_by_label("Ticket link or code").fill(
            ticket_url(live_server, door["tickets"]["Eli Sato"]))
        page.get_by_role("button", name="Check in", exact=True).click()
        assert "Checked in: Eli Sato, 2 seats." in page.get_by_role("status").first.inner_text()
    finally:
        context.close()


def test_the_door_scans_on_a_phone(browser: Any, live_server: LiveServer, door: dict[str, Any],
                                   tmp_path: Path) -> None:
    """At 390 px wide, a ticket just admitted fits the screen. The screenshot goes to
    FESTIVAL_DOOR_SCREENSHOT when set (e.g. a file for the release notes)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                  base_url=live_server.url, device_scale_factor=2)
    page = context.new_page()
    try:
        guest = run_sync(_registrations(live_server.db_path, [
            ("hague", "Grace Mensah", "grace.door@example.org", 2)]))["Grace Mensah"]
        sign_in(page)
        open_door(page, door)
        scan(page, ticket_url(live_server, guest))
        result(page).filter(has_text="Admitted").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("heading", name="Scan with the camera").scroll_into_view_if_needed()
        page.screenshot(path=os.environ.get("FESTIVAL_DOOR_SCREENSHOT")
                        or str(tmp_path / "door-scanning.png"))
    finally:
        context.close()
