"""Organisers signing in and out: sessions, cookies, lockout, roles."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from festival.core import times
from festival.core.errors import Forbidden, Unauthorised
from festival.core.settings import Settings
from festival.organisers import accounts
from festival.web.app import create_app
from tests.helpers import Client, csrf_of, submit_sign_in

PASSWORD = "right-password-1"


async def try_sign_in(c: Client, email: str, password: str = PASSWORD, next_: str = ""
                      ) -> httpx.Response:
    return await submit_sign_in(c, email, password, next_)


@pytest.fixture
async def ana(app: Any, settings: Settings) -> int:
    return await accounts.create_organiser(app.state.db, "ana@example.org", PASSWORD, "organiser",
                                       "NL", settings=settings)


async def organiser_row(app: Any, email: str = "ana@example.org") -> dict[str, Any]:
    row = await app.state.db.fetch_one("SELECT * FROM organisers WHERE email = ?", (email,))
    return dict(row)


# --- signing in -------------------------------------------------------------------------------

async def test_sign_in_opens_the_admin_pages(client: Client, ana: int) -> None:
    answer = await try_sign_in(client, " Ana@Example.org ")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"
    home = await client.get("/admin/")
    assert home.status_code == 200
    assert "ana@example.org" in home.text


async def test_sign_in_cookie_is_httponly_lax_secure_and_expires(client: Client, app: Any,
                                                                  ana: int) -> None:
    answer = await try_sign_in(client, "ana@example.org")
    cookie = next(v for v in answer.headers.get_list("set-cookie")
                  if v.startswith(accounts.SESSION_COOKIE + "="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags
    assert "path=/" in flags and "max-age=43200" in flags
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43  # 256 random bits
    rows = await app.state.db.fetch_all("SELECT token_hash, expires_at FROM sessions")
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    expires = times.parse_utc(rows[0]["expires_at"]) - times.utc_now()
    assert timedelta(hours=11, minutes=59) <= expires <= timedelta(hours=12)


async def test_sign_in_cookie_is_not_secure_on_a_plain_http_site(settings: Settings) -> None:
    plain = dataclasses.replace(settings, base_url="http://127.0.0.1:8000")
    application = create_app(plain)
    async with application.router.lifespan_context(application):
        await accounts.create_organiser(application.state.db, "ana@example.org", PASSWORD,
                                    "admin", None, settings=plain)
        transport = httpx.ASGITransport(app=application)
        async with Client(transport=transport, base_url="http://127.0.0.1:8000") as c:
            answer = await try_sign_in(c, "ana@example.org")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" not in cookie


async def test_sign_in_wrong_password_and_unknown_email_get_the_same_answer(
        client: Client, ana: int) -> None:
    wrong = await try_sign_in(client, "ana@example.org", "not-her-password")
    unknown = await try_sign_in(client, "nobody@example.org", "not-her-password")
    assert wrong.status_code == unknown.status_code == 401
    message = "The email address or the password is not right."
    assert message in wrong.text and message in unknown.text
    assert accounts.SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    assert (await client.get("/admin/")).status_code == 303


async def test_sign_in_form_keeps_the_email_after_a_failure(client: Client, ana: int) -> None:
    answer = await try_sign_in(client, "ana@example.org", "wrong-password")
    assert 'value="ana@example.org"' in answer.text
    assert "wrong-password" not in answer.text


async def test_sign_in_is_locked_after_five_failures_and_logged(
        client: Client, app: Any, ana: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="festival.auth")
    for _ in range(accounts.LOCK_AFTER - 1):
        assert (await try_sign_in(client, "ana@example.org", "guess-guess")).status_code == 401
    fifth = await try_sign_in(client, "ana@example.org", "guess-guess")
    assert fifth.status_code == 429
    right = await try_sign_in(client, "ana@example.org", PASSWORD)
    assert right.status_code == 429
    assert "Too many failed sign-ins" in right.text
    assert (await client.get("/admin/")).status_code == 303
    # Counted per account and client (festival.organisers.accounts), by the account's id.
    lock = await app.state.db.fetch_one("SELECT * FROM sign_in_locks WHERE account = ?",
                                        (f"organiser:{ana}",))
    assert (lock["client"], lock["failures"]) == ("127.0.0.1", accounts.LOCK_AFTER)
    assert lock["locked_until"] > times.now_text()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"organiser {ana} from 127.0.0.1" in w for w in warnings)


async def test_sign_in_lock_looks_the_same_for_an_unknown_email(client: Client, ana: int
                                                                 ) -> None:
    for _ in range(accounts.LOCK_AFTER):
        await try_sign_in(client, "nobody@example.org", "guess-guess")
    locked = await try_sign_in(client, "nobody@example.org", "guess-guess")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text


async def test_sign_in_after_a_lock_works_and_resets_the_count(client: Client, app: Any,
                                                               ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER):
        await try_sign_in(client, "ana@example.org", "guess-guess")
    past = times.utc_text(times.utc_now() - timedelta(seconds=1))
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE sign_in_locks SET locked_until = ?", (past,))
    assert (await try_sign_in(client, "ana@example.org")).status_code == 303
    assert await app.state.db.fetch_all("SELECT * FROM sign_in_locks") == []
    assert (await organiser_row(app))["last_login_at"] is not None


async def test_sign_in_failures_of_long_ago_are_forgotten(client: Client, app: Any, ana: int
                                                          ) -> None:
    for _ in range(accounts.LOCK_AFTER - 1):
        await try_sign_in(client, "ana@example.org", "guess-guess")
    two_days_ago = times.utc_text(times.utc_now() - timedelta(days=2))
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE sign_in_locks SET last_failed_at = ?", (two_days_ago,))
    assert (await try_sign_in(client, "ana@example.org", "guess-guess")).status_code == 401
    lock = await app.state.db.fetch_one("SELECT failures FROM sign_in_locks")
    assert lock["failures"] == 1


def test_lock_duration_doubles_and_is_capped() -> None:
    assert accounts.lock_duration(accounts.LOCK_AFTER - 1) is None
    assert accounts.lock_duration(accounts.LOCK_AFTER) == timedelta(minutes=1)
    assert accounts.lock_duration(accounts.LOCK_AFTER + 1) == timedelta(minutes=2)
    assert accounts.lock_duration(accounts.LOCK_AFTER + 3) == timedelta(minutes=8)
    assert accounts.lock_duration(1000) == accounts.MAX_LOCK


async def test_sign_in_form_without_csrf_token_is_refused(client: Client, ana: int) -> None:
    await client.get("/admin/login")
    answer = await client.post("/admin/login", data={"email": "ana@example.org",
                                                     "password": PASSWORD})
    assert answer.status_code == 403
    assert (await client.get("/admin/")).status_code == 303


@pytest.mark.parametrize(("asked", "landed"), [
    ("/admin/venues", "/admin/venues"),
    ("/admin/screenings?status=draft", "/admin/screenings?status=draft"),
    ("https://evil.example/admin/", "/admin/"),
    ("//evil.example/admin/", "/admin/"),
    ("/\\evil.example", "/admin/"),
    ("admin/venues", "/admin/"),
])
async def test_sign_in_goes_back_only_to_a_page_of_this_site(client: Client, ana: int,
                                                             asked: str, landed: str) -> None:
    answer = await try_sign_in(client, "ana@example.org", next_=asked)
    assert answer.headers["location"] == landed


async def test_admin_page_sends_a_signed_out_visitor_to_sign_in_and_back(
        client: Client, ana: int) -> None:
    page = await client.get("/admin/venues")
    assert page.status_code == 303
    assert page.headers["location"] == "/admin/login?next=%2Fadmin%2Fvenues"
    form = await client.get(page.headers["location"])
    assert 'name="next" value="/admin/venues"' in form.text


async def test_admin_api_answers_401_json_when_signed_out(client: Client) -> None:
    answer = await client.get("/api/v1/admin/screenings")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorised"


# --- signing out and sessions ------------------------------------------------------------------

async def test_sign_out_ends_the_session_for_good(client: Client, app: Any, ana: int) -> None:
    await try_sign_in(client, "ana@example.org")
    cookie = client.cookies[accounts.SESSION_COOKIE]
    home = await client.get("/admin/")
    answer = await client.post("/admin/logout", data={"csrf_token": csrf_of(home.text)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login"
    assert await app.state.db.fetch_all("SELECT * FROM sessions") == []
    client.cookies.set(accounts.SESSION_COOKIE, cookie)  # a stolen copy is worthless now
    assert (await client.get("/admin/")).status_code == 303


async def test_sign_out_without_csrf_token_is_refused(client: Client, app: Any, ana: int
                                                      ) -> None:
    await try_sign_in(client, "ana@example.org")
    assert (await client.post("/admin/logout")).status_code == 403
    assert (await client.get("/admin/")).status_code == 200


async def test_expired_session_is_signed_out(client: Client, app: Any, ana: int) -> None:
    await try_sign_in(client, "ana@example.org")
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE sessions SET expires_at = ?",
                           (times.utc_text(times.utc_now() - timedelta(seconds=1)),))
    assert (await client.get("/admin/")).status_code == 303


async def test_sign_in_replaces_an_earlier_session_of_the_browser(client: Client, app: Any,
                                                                  ana: int) -> None:
    await try_sign_in(client, "ana@example.org")
    first = client.cookies[accounts.SESSION_COOKIE]
    home = await client.get("/admin/")
    again = await client.post("/admin/login", data={
        "csrf_token": csrf_of(home.text), "email": "ana@example.org", "password": PASSWORD})
    assert again.status_code == 303
    assert client.cookies[accounts.SESSION_COOKIE] != first
    assert len(await app.state.db.fetch_all("SELECT * FROM sessions")) == 1


# --- roles ---------------------------------------------------------------------------------------

def request_with(app: Any, token: str | None) -> Request:
    headers = [(b"cookie", f"{accounts.SESSION_COOKIE}={token}".encode())] if token else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                    "app": app, "query_string": b""})


@pytest.fixture
async def sessions(app: Any, settings: Settings) -> AsyncIterator[dict[str, str]]:
    tokens = {}
    for email, role, country in (("admin@example.org", "admin", None),
                                 ("nl@example.org", "organiser", "NL")):
        await accounts.create_organiser(app.state.db, email, PASSWORD, role, country,
                                    settings=settings)
        _organiser, tokens[role] = await accounts.sign_in(app.state.db, email, PASSWORD,
                                                      settings=settings)
    yield tokens


async def test_require_organiser_knows_who_is_signed_in(app: Any, sessions: dict[str, str]
                                                        ) -> None:
    organiser = await accounts.require_organiser(request_with(app, sessions["organiser"]))
    assert (organiser["email"], organiser["role"], organiser["country"]) == (
        "nl@example.org", "organiser", "NL")
    assert "password_hash" not in organiser
    with pytest.raises(Unauthorised):
        await accounts.require_organiser(request_with(app, None))
    with pytest.raises(Unauthorised):
        await accounts.require_organiser(request_with(app, "x" * 43))


async def test_require_organiser_with_role_admin_refuses_an_organiser(
        app: Any, sessions: dict[str, str]) -> None:
    with pytest.raises(Forbidden):
        await accounts.require_organiser(request_with(app, sessions["organiser"]), role="admin")
    admin = await accounts.require_organiser(request_with(app, sessions["admin"]), role="admin")
    assert admin["role"] == "admin"


def test_may_manage_only_the_organisers_own_country() -> None:
    nl = {"role": "organiser", "country": "NL"}
    admin = {"role": "admin", "country": None}
    assert accounts.may_manage(nl, "NL") and accounts.may_manage(nl, "nl")
    assert not accounts.may_manage(nl, "NE")
    assert accounts.may_manage(admin, "NE")
    accounts.require_country(nl, "NL")
    with pytest.raises(Forbidden):
        accounts.require_country(nl, "NE")


def test_passwords_are_argon2id_and_verify() -> None:
    settings = Settings(argon2_time_cost=1, argon2_memory_cost=8)
    hashed = accounts.hash_password("correct horse", settings)
    assert hashed.startswith("$argon2id$")
    assert accounts.verify_password(hashed, "correct horse")
    assert not accounts.verify_password(hashed, "wrong horse")
    assert not accounts.verify_password("not a hash", "correct horse")
