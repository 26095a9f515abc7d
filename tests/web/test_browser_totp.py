"""Two-step sign-in in a real browser: an organiser turns it on from the QR code's key,
signs out, and signs in again with the password and then a code (computed by pyotp, as
an authenticator app would)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

pytest_plugins = ["tests.browser"]  # the browser, live_server and page fixtures
pytestmark = pytest.mark.browser

EMAIL = "totp-organiser@example.org"
PASSWORD = "browser-totp-password-1"


def code(secret: str, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=seconds))


def test_an_organiser_turns_on_two_step_sign_in_and_signs_in_with_a_code(
        page: Any, live_server: Any) -> None:
    from tests.browser import create_organiser

    create_organiser(live_server, EMAIL, PASSWORD, "organiser", "NL")
    page.goto("/admin/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    page.get_by_role("link", name="Two-step sign-in").click()
    page.wait_for_url(re.compile(r"/admin/security$"))
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    secret = page.locator("code").inner_text().replace(" ", "")
    page.get_by_label("Current 6-digit code").fill(code(secret))
    page.get_by_role("button", name="Turn two-step sign-in on").click()
    page.wait_for_url(re.compile(r"\?done=totp_on$"))
    assert "Two-step sign-in is on" in page.get_by_role("status").inner_text()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/admin/login"))
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/login/code"))
    wrong = "000000" if code(secret, 30) != "000000" else "111111"
    page.get_by_label("6-digit code from your authenticator app").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    assert "That code is not right" in page.get_by_role("alert").inner_text()
    # The code of the setup was used once: the next step's code is within the window.
    page.get_by_label("6-digit code from your authenticator app").fill(code(secret, 30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert f"Signed in as {EMAIL}" in page.locator("nav.admin").inner_text()
