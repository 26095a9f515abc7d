"""Accounts beyond the basics: invites (a one-time link, hashed, expiring, revocable,
mailed through the outbox or printed) and the TOTP second factor (set up with a code,
asked for after the password, wrong and reused codes refused, turned off by the
organiser with a code or reset by an admin)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from festival.core import times
from festival.core.errors import Conflict, ValidationError
from festival.organisers import accounts, invites, totp
from tests.helpers import BASE_URL, PASSWORD, Client, csrf_of, submit_sign_in

NEW_PASSWORD = "a-new-organiser-password"


def code_at(secret: str, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=seconds))


def invite_path(link: str) -> str:
    return link.removeprefix(BASE_URL).removeprefix("http://127.0.0.1:8000")


async def post_page_form(c: httpx.AsyncClient, path: str, action: str | None = None,
                         **fields: str) -> httpx.Response:
    page = await c.get(path)
    return await c.post(action or path, data={"csrf_token": csrf_of(page.text), **fields})


# --- invites -------------------------------------------------------------------------------

async def test_an_invite_keeps_only_a_hash_and_its_link_creates_the_account_once(
        app: Any, client: Client, settings: Any) -> None:
    db = app.state.db
    invite, link = await invites.create_invite(db, " Bea@Example.org ", "organiser", "nl",
                                               settings=settings, mail=False)
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, base64url
    stored = await db.fetch_one("SELECT * FROM organiser_invites")
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(dict(stored))
    assert (invite["email"], invite["country"]) == ("bea@example.org", "NL")
    assert times.parse_utc(invite["expires_at"]) - times.parse_utc(invite["created_at"]) == \
        invites.INVITE_LIFETIME

    path = invite_path(link)
    page = await client.get(path)
    assert page.status_code == 200 and "organiser for NL" in page.text
    mismatch = await client.post(path, data={"csrf_token": csrf_of(page.text),
                                             "password": NEW_PASSWORD, "confirmation": "x" * 9})
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    short = await client.post(path, data={"csrf_token": csrf_of(page.text),
                                          "password": "short", "confirmation": "short"})
    assert short.status_code == 422 and "at least 8" in short.text
    done = await client.post(path, data={"csrf_token": csrf_of(page.text),
                                         "password": NEW_PASSWORD,
                                         "confirmation": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/admin/"
    home = await client.get("/admin/")
    assert home.status_code == 200 and "bea@example.org" in home.text
    account = await accounts.get_account(db, "bea@example.org")
    assert (account["role"], account["country"]) == ("organiser", "NL")

    again = await client.get(path)
    assert again.status_code == 410 and "already used" in again.text
    with pytest.raises(Conflict):
        await invites.accept(db, token, NEW_PASSWORD, NEW_PASSWORD, settings=settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as other:
        assert (await submit_sign_in(other, "bea@example.org", NEW_PASSWORD)).status_code == 303


async def test_an_expired_or_revoked_invite_says_so_and_creates_nothing(
        app: Any, client: Client, settings: Any) -> None:
    db = app.state.db
    _invite, link = await invites.create_invite(db, "old@example.org", "admin", None,
                                                settings=settings, mail=False)
    async with db.transaction() as conn:
        await conn.execute("UPDATE organiser_invites SET expires_at = ?",
                           (times.utc_text(times.utc_now() - timedelta(seconds=1)),))
    page = await client.get(invite_path(link))
    assert page.status_code == 410 and "expired" in page.text
    token = link.rsplit("/", 1)[1]
    with pytest.raises(Conflict):
        await invites.accept(db, token, NEW_PASSWORD, NEW_PASSWORD, settings=settings)

    revoked, link2 = await invites.create_invite(db, "gone@example.org", "organiser", "FR",
                                                 settings=settings, mail=False)
    await invites.revoke(db, revoked["id"])
    assert "withdrawn" in (await client.get(invite_path(link2))).text
    assert (await client.get("/admin/invite/" + "x" * 43)).status_code == 404
    assert await db.fetch_one("SELECT 1 FROM organisers") is None


async def test_invites_are_checked_and_refused_for_an_address_with_an_account(
        app: Any, settings: Any) -> None:
    db = app.state.db
    with pytest.raises(ValidationError) as refused:
        await invites.create_invite(db, "not-an-address", "organiser", None, settings=settings)
    assert set(refused.value.fields) == {"email", "country"}
    await accounts.create_organiser(db, "ana@example.org", PASSWORD, "admin", None,
                                    settings=settings)
    with pytest.raises(Conflict):
        await invites.create_invite(db, "ANA@example.org", "admin", None, settings=settings)


async def test_an_admin_invites_on_the_accounts_page_and_the_link_goes_out_by_mail(
        app: Any, sign_in: Any) -> None:
    admin = await sign_in("root@example.org", "admin", None)
    answer = await post_page_form(admin, "/admin/organisers", "/admin/organisers/invite",
                                  email="cleo@example.org", role="organiser", country="KE")
    assert answer.status_code == 303
    page = await admin.get(answer.headers["location"])
    assert "The invitation is on its way" in page.text
    assert "cleo@example.org" in page.text and "organiser for KE" in page.text
    mail = await app.state.db.fetch_one("SELECT * FROM outbox WHERE kind = 'organiser_invite'")
    assert mail["recipient"] == "cleo@example.org" and mail["status"] == "pending"
    message = email.message_from_bytes(bytes(mail["message"]), policy=email.policy.default)
    body = message.get_content()
    assert message["Subject"] == "Your invitation to the festival's back office"
    link = re.search(r"http\S+/admin/invite/[-\w]+", body)
    assert link, body
    stored = await app.state.db.fetch_one("SELECT id, token_hash FROM organiser_invites")
    token = link.group(0).rsplit("/", 1)[1]
    assert hashlib.sha256(token.encode()).hexdigest() == stored["token_hash"]
    # The outbox page lists it like any other message.
    assert (await admin.get("/admin/outbox")).status_code == 200

    revoke = await post_page_form(admin, "/admin/organisers",
                                  f"/admin/invites/{stored['id']}/revoke")
    assert revoke.status_code == 303
    assert "withdrawn" in (await admin.get("/admin/organisers")).text
    refused = await post_page_form(admin, "/admin/organisers", "/admin/organisers/invite",
                                   email="root@example.org", role="admin", country="")
    assert refused.status_code == 409


async def test_only_admins_invite(sign_in: Any) -> None:
    ana = await sign_in("ana@example.org")
    page = await ana.get("/admin/")
    answer = await ana.post("/admin/organisers/invite",
                            data={"csrf_token": csrf_of(page.text), "email": "x@example.org",
                                  "role": "admin"})
    assert answer.status_code == 403


# --- TOTP ------------------------------------------------------------------------------------

async def turn_on(c: httpx.AsyncClient) -> str:
    page = await c.get("/admin/security")
    assert page.status_code == 200 and "Two-step sign-in is off" in page.text
    assert "<svg" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    wrong = await c.post("/admin/security/enable",
                         data={"csrf_token": csrf_of(page.text), "code": "000000"
                               if code_at(secret) != "000000" else "111111"})
    assert wrong.status_code == 401 and "not right" in wrong.text
    done = await c.post("/admin/security/enable",
                        data={"csrf_token": csrf_of(page.text), "code": code_at(secret)})
    assert done.status_code == 303
    assert "Two-step sign-in is on" in (await c.get(done.headers["location"])).text
    return secret


async def test_with_totp_on_the_password_alone_opens_no_session(
        app: Any, sign_in: Any) -> None:
    ana = await sign_in("ana@example.org")
    secret = await turn_on(ana)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as c:
        answer = await submit_sign_in(c, "ana@example.org", PASSWORD, next_="/admin/venues")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login/code")
        assert accounts.SESSION_COOKIE not in c.cookies
        assert (await c.get("/admin/")).status_code == 303  # not signed in yet
        page = await c.get(answer.headers["location"])
        assert page.status_code == 200
        wrong = await c.post("/admin/login/code", data={
            "csrf_token": csrf_of(page.text), "next": "/admin/venues",
            "code": "123456" if code_at(secret) != "123456" else "654321"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        # The setup's code was used: the next step's code (within the window) works.
        code = code_at(secret, 30)
        right = await c.post("/admin/login/code", data={
            "csrf_token": csrf_of(page.text), "next": "/admin/venues", "code": code})
        assert right.status_code == 303 and right.headers["location"] == "/admin/venues"
        assert (await c.get("/admin/")).status_code == 200

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as c:
        await submit_sign_in(c, "ana@example.org", PASSWORD)
        page = await c.get("/admin/login/code")
        reused = await c.post("/admin/login/code", data={"csrf_token": csrf_of(page.text),
                                                         "code": code})
        assert reused.status_code == 401  # the same code is not accepted twice
        assert (await c.get("/admin/")).status_code == 303


async def test_the_code_step_needs_a_challenge_and_drops_it_after_too_many_wrong_codes(
        app: Any, client: Client, settings: Any) -> None:
    db = app.state.db
    ana = await accounts.create_organiser(db, "ana@example.org", PASSWORD, "organiser", "NL",
                                          settings=settings)
    secret = (await totp.state(db, ana))["pending"]
    await totp.enable(db, ana, code_at(secret))
    assert (await client.get("/admin/login/code")).status_code == 303
    with pytest.raises(totp.ChallengeGone):
        await totp.sign_in_with_code(db, None, code_at(secret, 30), settings=settings,
                                     client_ip="192.0.2.1")
    with pytest.raises(accounts.SecondFactorRequired) as second:
        await accounts.sign_in(db, "ana@example.org", PASSWORD, settings=settings,
                               client_ip="192.0.2.1")
    challenge = second.value.challenge
    for _ in range(totp.CHALLENGE_TRIES - 1):
        with pytest.raises(totp.CodeRefused):
            await totp.sign_in_with_code(db, challenge, "abcdef", settings=settings,
                                         client_ip="192.0.2.1")
    with pytest.raises(accounts.SignInLocked):  # the fifth failure locks this client too
        await totp.sign_in_with_code(db, challenge, "000000x", settings=settings,
                                     client_ip="192.0.2.1")
    with pytest.raises(totp.ChallengeGone):
        await totp.sign_in_with_code(db, challenge, code_at(secret, 30), settings=settings,
                                     client_ip="192.0.2.1")


async def test_matching_step_allows_one_step_either_side_and_no_reuse() -> None:
    secret = totp.new_secret()
    now = pyotp.TOTP(secret).timecode(datetime.now(UTC))
    assert totp.matching_step(secret, code_at(secret, -30)) in (now - 1, now)
    assert totp.matching_step(secret, code_at(secret, 30)) in (now + 1, now)
    assert totp.matching_step(secret, code_at(secret, 120)) is None
    assert totp.matching_step(secret, code_at(secret), after=now + 1) is None
    assert totp.matching_step(secret, "12345") is None


async def test_turning_totp_off_needs_a_code_and_an_admin_can_reset_it(
        app: Any, sign_in: Any) -> None:
    ana = await sign_in("ana@example.org")
    secret = await turn_on(ana)
    page = await ana.get("/admin/security")
    refused = await ana.post("/admin/security/disable",
                             data={"csrf_token": csrf_of(page.text), "code": code_at(secret)})
    assert refused.status_code == 401  # the setup's code, already used
    off = await ana.post("/admin/security/disable",
                         data={"csrf_token": csrf_of(page.text), "code": code_at(secret, 30)})
    assert off.status_code == 303
    assert "Two-step sign-in is off" in (await ana.get("/admin/security")).text

    secret = await turn_on(ana)
    admin = await sign_in("root@example.org", "admin", None)
    accounts_page = await admin.get("/admin/organisers")
    assert "two-step sign-in on" in accounts_page.text
    ana_id = (await accounts.get_account(app.state.db, "ana@example.org"))["id"]
    reset = await admin.post(f"/admin/organisers/{ana_id}/reset-2fa",
                             data={"csrf_token": csrf_of(accounts_page.text)})
    assert reset.status_code == 303
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as c:
        assert (await submit_sign_in(c, "ana@example.org")).headers["location"] == "/admin/"
    actions = [r["action"] for r in await app.state.db.fetch_all(
        "SELECT action FROM audit_log WHERE action LIKE 'organiser.totp%' ORDER BY id")]
    assert actions == ["organiser.totp_on", "organiser.totp_off", "organiser.totp_on",
                       "organiser.totp_off"]
