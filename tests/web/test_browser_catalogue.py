"""Catalogue editing in a real browser: a film's poster uploaded and shown under the
site's CSP, a debate guest picked with the search of a screening's form
(static/js/guest-picker.js), and a venue's country and time zone picked from lists."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.browser import LiveServer

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

ADMIN, NL = "catalogue-admin@example.org", "catalogue-nl@example.org"
PASSWORD = "browser-password-1"


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> None:
    from tests.browser import create_organiser

    create_organiser(live_server, ADMIN, PASSWORD, "admin", None)
    create_organiser(live_server, NL, PASSWORD, "organiser", "NL")


def sign_in(page: Any, email: str) -> None:
    page.goto("/admin/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def png_file(tmp_path: Path, width: int = 40, height: int = 60) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x30\x60\xc0" * width for _ in range(height))
    path = tmp_path / "poster.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def test_an_organiser_uploads_a_poster_and_it_shows_on_the_films_page(
        page: Any, accounts: None, tmp_path: Path) -> None:
    sign_in(page, NL)
    page.goto("/admin/films/new")
    page.get_by_label("Title (required)").fill("Light Across Borders")
    page.get_by_role("button", name="Create film").click()
    page.wait_for_url(re.compile(r"/admin/films/\d+\?done=created$"))
    film_id = re.search(r"/admin/films/(\d+)", page.url).group(1)  # type: ignore[union-attr]

    disguised = tmp_path / "not-really.png"
    disguised.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", "utf-8")
    page.get_by_label("Poster image").set_input_files(str(disguised))
    page.get_by_role("button", name="Upload the poster").click()
    assert "This file is not a JPEG, PNG or WebP image." in page.locator("main").inner_text()

    page.get_by_label("Poster image").set_input_files(str(png_file(tmp_path)))
    page.get_by_role("button", name="Upload the poster").click()
    page.wait_for_url(re.compile(r"\?done=poster$"))
    assert "The poster is saved" in page.get_by_role("status").inner_text()
    shown = page.get_by_role("img", name="Poster of Light Across Borders")
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 40

    page.goto(f"/films/{film_id}")
    poster = page.get_by_role("img", name="Poster of Light Across Borders")
    assert poster.evaluate("img => img.complete && img.naturalWidth") == 40

    page.goto(f"/admin/films/{film_id}")
    page.get_by_role("button", name="Remove the poster").click()
    page.wait_for_url(re.compile(r"\?done=poster_removed$"))
    assert page.get_by_role("img", name="Poster of Light Across Borders").count() == 0


def test_an_organiser_picks_a_debate_guest_by_search(page: Any, accounts: None) -> None:
    sign_in(page, NL)
    page.goto("/admin/guests/new")
    page.get_by_label("Name (required)").fill("Zainab Aziz")
    page.get_by_role("button", name="Create debate guest").click()
    page.wait_for_url(re.compile(r"\?done=created$"))

    page.goto("/admin/screenings")
    page.get_by_role("link", name=re.compile("Wallah")).first.click()
    page.wait_for_url(re.compile(r"/admin/screenings/\d+$"))
    screening_id = re.search(r"/admin/screenings/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    search = page.get_by_label("Find a guest")
    search.fill("zain")
    assert page.get_by_label(re.compile("^Zainab Aziz")).is_visible()
    assert page.get_by_label(re.compile("^Ana Reyes")).is_visible()  # chosen: always shown
    search.fill("nobody at all")
    assert page.get_by_text("No debate guest matches.").is_visible()
    search.fill("ZAINAB")
    search.press("Enter")  # ticks the first guest shown; the form is not sent
    assert page.get_by_label(re.compile("^Zainab Aziz")).is_checked()
    assert search.input_value() == ""
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/admin/screenings/{screening_id}\?done="))
    assert page.get_by_label(re.compile("^Zainab Aziz")).is_checked()

    page.goto(f"/screenings/{screening_id}")
    assert "Zainab Aziz" in page.locator("main").inner_text()


def test_without_javascript_the_guest_list_is_all_there(browser: Any, live_server: Any,
                                                        accounts: None) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    try:
        sign_in(page, NL)
        page.goto("/admin/screenings/new")
        assert page.get_by_label("Find a guest").count() == 0 or \
            not page.get_by_label("Find a guest").is_visible()
        assert page.get_by_label(re.compile("^Ana Reyes")).is_visible()
    finally:
        context.close()


def test_an_admin_picks_a_venues_country_and_time_zone_from_lists(page: Any,
                                                                  accounts: None) -> None:
    sign_in(page, ADMIN)
    page.goto("/admin/venues/new")
    page.get_by_label("Name (required)").fill("Cinéma Nomade")
    page.get_by_label("City (required)", exact=True).fill("Dakar")
    page.get_by_label("Country").select_option(label="Senegal")
    page.get_by_label("Time zone").select_option("Africa/Dakar")
    page.get_by_label("Capacity (required)").fill("80")
    page.get_by_role("button", name="Create venue").click()
    page.wait_for_url(re.compile(r"/admin/venues/\d+\?done=created$"))
    assert page.get_by_label("Country").input_value() == "SN"
    assert page.get_by_label("Time zone").input_value() == "Africa/Dakar"

    page.get_by_role("link", name="Delete this venue").click()
    page.get_by_role("button", name="Yes, delete the venue").click()
    page.wait_for_url(re.compile(r"/admin/venues\?done=deleted$"))
    assert page.get_by_role("status").inner_text() == "Deleted."
