"""An organiser manages registrations on a screening's attendee list in a real browser:
changes a party's seats, moves it to another screening, cancels it; by labels and roles."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import sign_in_page

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

EMAIL = "nl-manager@example.org"
PASSWORD = "browser-password-1"


def prepare(live_server: Any) -> tuple[int, int]:
    """A registration of 3 seats for The Hague and a second NL screening: their ids."""
    from festival.core.store import Database
    from tests.helpers import register, run_sync
    from tests.seats.test_management import second_screening

    async def go() -> tuple[int, int]:
        db = await Database(live_server.db_path, synchronous="NORMAL").open()
        try:
            registration = await register(db, "hague", "Party Of Three",
                                          "party3@example.org", 3)
            later = await second_screening(db, registration["screening_id"], capacity=10)
            return registration["screening_id"], later
        finally:
            await db.close()

    return run_sync(go())


def test_organiser_changes_seats_moves_and_cancels(page: Any, live_server: Any) -> None:
    from tests.browser import create_organiser

    create_organiser(live_server, EMAIL, PASSWORD, "organiser", "NL")
    hague, later = prepare(live_server)
    sign_in_page(page, EMAIL, PASSWORD)

    page.goto(f"/admin/screenings/{hague}/attendees")
    manage = page.locator("details").filter(has_text="Manage Party Of Three's registration")
    manage.get_by_text("Manage Party Of Three's registration").click()
    manage.get_by_label("Seats", exact=True).fill("2")
    manage.get_by_role("button", name="Change seats").click()
    page.wait_for_url(re.compile(r"\?done=seats"))
    assert "seats are changed" in page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text="party3@example.org")
    assert row.get_by_role("cell", name="2", exact=True).is_visible()

    manage.get_by_text("Manage Party Of Three's registration").click()
    manage.get_by_label("Move to").select_option(str(later))
    manage.get_by_role("button", name="Move").click()
    page.wait_for_url(re.compile(r"\?done=moved"))
    assert "moved" in page.get_by_role("status").inner_text()
    assert page.get_by_text("party3@example.org").count() == 0

    page.goto(f"/admin/screenings/{later}/attendees")
    manage = page.locator("details").filter(has_text="Manage Party Of Three's registration")
    manage.get_by_text("Manage Party Of Three's registration").click()
    manage.get_by_role("button", name="Cancel this registration").click()
    page.wait_for_url(re.compile(r"\?done=cancelled"))
    assert "cancelled" in page.get_by_role("status").inner_text()
    cancelled = page.get_by_role("table").filter(has=page.get_by_text("Cancelled (1)"))
    assert "party3@example.org" in cancelled.inner_text()
