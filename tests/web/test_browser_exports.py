"""The dashboard's chart and downloads in a real browser: the registrations chart is a
picture with its name (role img), its figures are in a table, and the CSV links
download files."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import sign_in_page

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

PASSWORD = "exports-password-1"


def spread_registrations(db_path: str) -> None:
    """Registrations for The Hague and Sydney made over a week (one party waits)."""
    from festival.core.store import Database
    from tests.helpers import register, run_sync, sql

    async def fill() -> None:
        db = await Database(db_path, synchronous="NORMAL").open()
        try:
            await sql(db, "UPDATE screenings SET capacity = 12 WHERE key = 'hague'")
            for n, (key, seats, day) in enumerate([
                    ("hague", 2, 1), ("hague", 4, 1), ("sydney", 3, 2), ("hague", 1, 4),
                    ("sydney", 2, 4), ("hague", 4, 6), ("hague", 3, 7)]):
                registration = await register(db, key, f"Guest {n}", f"guest{n}@example.org",
                                              seats)
                await sql(db, "UPDATE registrations SET created_at = ? WHERE id = ?",
                          (f"2099-11-{day:02d}T09:00:00Z", registration["id"]))
        finally:
            await db.close()

    run_sync(fill())


def sign_in(page: Any, live_server: Any, email: str, role: str, country: str | None) -> None:
    from tests.browser import create_organiser

    create_organiser(live_server, email, PASSWORD, role, country)
    sign_in_page(page, email, PASSWORD)


@pytest.fixture(scope="module")
def with_registrations(live_server: Any) -> Any:
    spread_registrations(live_server.db_path)
    return live_server


def test_the_dashboard_shows_the_chart_and_downloads_the_csvs(page: Any,
                                                               with_registrations: Any) -> None:
    sign_in(page, with_registrations, "exports.admin@example.org", "admin", None)
    page.goto("/admin/dashboard")
    picture = page.get_by_role("img", name="Registrations per day: every country")
    picture.wait_for()
    assert picture.locator("g.chart__day").count() == 7  # 1 to 7 November
    page.get_by_text("Registrations per day as a table").click()
    table = page.get_by_role("table", name="Seats registered per day (UTC)")
    assert table.get_by_role("row").count() == 1 + 7 + 1  # heading, days, total
    total = page.get_by_role("row", name=re.compile(r"^Total")).first
    assert total.is_visible()

    with page.expect_download() as figures:
        page.get_by_role("link", name="These figures (CSV)").click()
    assert figures.value.suggested_filename == "dashboard-2099-all.csv"
    rows = list(csv.DictReader(io.StringIO(
        Path(figures.value.path()).read_text("utf-8-sig"))))
    assert [r["scope"] for r in rows].count("total") == 1

    with page.expect_download() as attendees:
        page.get_by_role("link", name=re.compile(r"^Attendees of every country")).click()
    assert attendees.value.suggested_filename == "attendees-2099-all.csv"
    people = list(csv.DictReader(io.StringIO(
        Path(attendees.value.path()).read_text("utf-8-sig"))))
    assert {r["name"] for r in people} >= {f"Guest {n}" for n in range(7)}


def test_an_organiser_sees_their_country_and_cannot_download_another(
        page: Any, with_registrations: Any) -> None:
    sign_in(page, with_registrations, "exports.nl@example.org", "organiser", "NL")
    page.goto("/admin/dashboard")
    picture = page.get_by_role("img", name="Registrations per day: Netherlands")
    assert picture.locator("g.chart__day").count() == 7  # NL registered on days 1 to 7
    assert page.request.get("/admin/attendees.csv?country=AU").status == 403
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        return
    found = Axe().run(page).response["violations"]
    assert [v["id"] for v in found] == []
