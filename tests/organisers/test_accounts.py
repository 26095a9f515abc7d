"""Organiser accounts: sign-in failures per account and client (a guesser locks only
itself out), password spraying, no typed address kept; disabling, enabling, setting a
password and unlocking, from the functions the command line uses and from the admins'
page /admin/organisers (audited)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from festival.core import times
from festival.core.errors import Conflict, NotFound, ValidationError
from festival.organisers import accounts
from tests.helpers import BASE_URL, PASSWORD, Client, csrf_of, submit_sign_in, table_names

ANA = "ana@example.org"


def client_at(app: Any, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 1234)),
                             base_url=BASE_URL)


@pytest.fixture
async def ana(app: Any, settings: Any) -> int:
    return await accounts.create_organiser(app.state.db, ANA, PASSWORD, "organiser", "NL",
                                           settings=settings)


@pytest.fixture
async def elsewhere(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(app, "192.0.2.50") as c:
        yield c


async def rows(app: Any, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await app.state.db.fetch_all(f"SELECT * FROM {table}")]  # noqa: S608


async def audit_actions(app: Any) -> list[tuple[str, int | None, int | None]]:
    return [(r["action"], r["organiser_id"], r["entity_id"])
            for r in await app.state.db.fetch_all("SELECT * FROM audit_log ORDER BY id")]


# --- failures per account and client --------------------------------------------------------

async def test_a_locked_out_client_does_not_lock_the_organiser_out_elsewhere(
        app: Any, client: Client, elsewhere: Client, ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER - 1):
        assert (await submit_sign_in(client, ANA, "guess-guess")).status_code == 401
    locked = await submit_sign_in(client, ANA, "guess-guess")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 60
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 429  # still locked

    assert (await submit_sign_in(elsewhere, ANA, PASSWORD)).status_code == 303
    assert (await elsewhere.get("/admin/")).status_code == 200
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 429  # the lock stays


async def test_the_lock_grows_with_each_failure_from_that_client(app: Any, client: Client,
                                                                 ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER):
        await submit_sign_in(client, ANA, "guess-guess")
    [lock] = await rows(app, "sign_in_locks")
    assert (lock["account"], lock["client"], lock["failures"]) == (
        f"organiser:{ana}", "127.0.0.1", accounts.LOCK_AFTER)
    async with app.state.db.transaction() as conn:  # the lock has run out
        await conn.execute("UPDATE sign_in_locks SET locked_until = ?",
                           (times.utc_text(times.utc_now() - timedelta(seconds=1)),))
    again = await submit_sign_in(client, ANA, "guess-guess")
    assert again.status_code == 429
    assert 60 < int(again.headers["retry-after"]) <= 120  # two minutes now
    [lock] = await rows(app, "sign_in_locks")
    assert lock["failures"] == accounts.LOCK_AFTER + 1


async def test_after_a_lock_the_right_password_works_and_ends_the_run(
        app: Any, client: Client, ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER):
        await submit_sign_in(client, ANA, "guess-guess")
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE sign_in_locks SET locked_until = ?",
                           (times.utc_text(times.utc_now() - timedelta(seconds=1)),))
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303
    assert await rows(app, "sign_in_locks") == []


async def test_failures_of_long_ago_are_forgotten(app: Any, client: Client, ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER - 1):
        await submit_sign_in(client, ANA, "guess-guess")
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE sign_in_locks SET last_failed_at = ?",
                           (times.utc_text(times.utc_now() - timedelta(days=2)),))
    assert (await submit_sign_in(client, ANA, "guess-guess")).status_code == 401
    [lock] = await rows(app, "sign_in_locks")
    assert lock["failures"] == 1


async def test_password_spraying_from_one_client_is_refused(
        app: Any, client: Client, elsewhere: Client, ana: int) -> None:
    """A few guesses each at many addresses never lock an account, but they all count
    against the client."""
    for n in range(10):
        answer = await submit_sign_in(client, f"someone{n}@example.org", "Summer2099!")
        assert answer.status_code == 401
    refused = await submit_sign_in(client, ANA, PASSWORD)
    assert refused.status_code == 429
    assert "too many requests from your network" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert (await client.get("/admin/")).status_code == 303
    assert (await submit_sign_in(elsewhere, ANA, PASSWORD)).status_code == 303


async def test_a_right_password_gives_its_failure_count_back(app: Any, client: Client,
                                                             ana: int) -> None:
    for n in range(9):
        assert (await submit_sign_in(client, f"someone{n}@example.org", "x" * 10)
                ).status_code == 401
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303
    client.cookies.clear()  # signed out again, same address
    assert (await submit_sign_in(client, "someone9@example.org", "x" * 10)).status_code == 401
    assert (await submit_sign_in(client, "someone10@example.org", "x" * 10)).status_code == 429


async def test_spraying_is_not_limited_with_rate_limits_off(app: Any, client: Client,
                                                            ana: int) -> None:
    app.state.settings = dataclasses.replace(app.state.settings, rate_limits=False)
    for n in range(12):
        await submit_sign_in(client, f"someone{n}@example.org", "x" * 10)
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303


async def test_no_typed_address_is_stored_or_logged(app: Any, client: Client, ana: int,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="festival.auth")
    typo = "ana.typo.secret@example.org"
    for _ in range(accounts.LOCK_AFTER + 1):
        await submit_sign_in(client, typo, "guess-guess")
        await submit_sign_in(client, ANA, "guess-guess")
    tables = await table_names(app.state.db)
    for table in tables:
        for row in await rows(app, table):
            text = repr(row)
            assert "typo.secret" not in text, table
            if table != "organisers":
                assert ANA not in text, table
    accounts_seen = {r["account"] for r in await rows(app, "sign_in_locks")}
    assert f"organiser:{ana}" in accounts_seen
    assert any(a.startswith("unknown:") and len(a) == len("unknown:") + 32
               for a in accounts_seen)
    messages = [r.getMessage() for r in caplog.records if r.name == "festival.auth"]
    assert messages and not any("typo" in m or ANA in m for m in messages)
    assert any(f"organiser {ana} from 127.0.0.1" in m for m in messages)


async def test_an_unknown_address_is_locked_the_same_way(client: Client, ana: int) -> None:
    for _ in range(accounts.LOCK_AFTER - 1):
        assert (await submit_sign_in(client, "nobody@example.org", "x" * 10)).status_code == 401
    locked = await submit_sign_in(client, "nobody@example.org", "x" * 10)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text


def test_account_keys_name_no_address() -> None:
    assert accounts.account_key(ANA, 7, "k") == "organiser:7"
    unknown = accounts.account_key(ANA, None, "k")
    assert unknown.startswith("unknown:") and "ana" not in unknown
    assert unknown == accounts.account_key(ANA, None, "k")
    assert unknown != accounts.account_key(ANA, None, "another key")


# --- disabling, enabling, passwords, unlocking (the command line's functions) ---------------------

async def test_a_disabled_account_cannot_sign_in_and_its_sessions_end_at_once(
        app: Any, client: Client, elsewhere: Client, ana: int) -> None:
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303
    assert (await client.get("/admin/")).status_code == 200

    account = await accounts.set_disabled(app.state.db, ANA, True)
    assert account["disabled"] and account["disabled_at"]
    page = await client.get("/admin/")
    assert page.status_code == 303 and page.headers["location"].startswith("/admin/login")
    assert (await client.get("/api/v1/admin/screenings")).status_code == 401
    assert (await submit_sign_in(elsewhere, ANA, PASSWORD)).status_code == 401

    await accounts.set_disabled(app.state.db, ANA, False)
    assert (await submit_sign_in(elsewhere, ANA, PASSWORD)).status_code == 303
    assert await audit_actions(app) == [("organiser.disable", None, ana),
                                        ("organiser.enable", None, ana)]


async def test_a_session_of_a_disabled_account_is_refused_even_if_left_behind(
        app: Any, client: Client, ana: int) -> None:
    """Belt and braces: the session lookup itself skips disabled accounts."""
    await submit_sign_in(client, ANA, PASSWORD)
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE organisers SET disabled_at = ?", (times.now_text(),))
    assert (await client.get("/admin/")).status_code == 303


async def test_set_password_replaces_it_ends_sessions_and_lifts_locks(
        app: Any, client: Client, elsewhere: Client, ana: int, settings: Any) -> None:
    await submit_sign_in(elsewhere, ANA, PASSWORD)
    for _ in range(accounts.LOCK_AFTER):
        await submit_sign_in(client, ANA, "guess-guess")
    with pytest.raises(ValidationError) as refused:
        await accounts.set_password(app.state.db, ANA, "short", settings)
    assert "password" in refused.value.fields

    account = await accounts.set_password(app.state.db, " ANA@example.org ",
                                          "a new password 2", settings)
    assert account["password_changed_at"] is not None
    assert (await elsewhere.get("/admin/")).status_code == 303  # signed out
    assert await rows(app, "sign_in_locks") == []
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 401
    assert (await submit_sign_in(client, ANA, "a new password 2")).status_code == 303
    [(action, _by, entity_id)] = await audit_actions(app)
    assert (action, entity_id) == ("organiser.password", ana)
    entry = await app.state.db.fetch_one("SELECT before_json, after_json FROM audit_log")
    assert "argon2" not in entry["before_json"] + entry["after_json"]


async def test_unlock_lifts_every_clients_lock(app: Any, client: Client, elsewhere: Client,
                                               ana: int) -> None:
    for c in (client, elsewhere):
        for _ in range(accounts.LOCK_AFTER):
            await submit_sign_in(c, ANA, "guess-guess")
    [listed] = await accounts.list_organisers(app.state.db)
    assert listed["locked_clients"] == 2 and listed["locked_until"] > times.now_text()

    assert await accounts.unlock(app.state.db, ANA) == 2
    [listed] = await accounts.list_organisers(app.state.db)
    assert (listed["locked_clients"], listed["locked_until"]) == (0, None)
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303
    assert await audit_actions(app) == [("organiser.unlock", None, ana)]


async def test_list_organisers_and_describe(app: Any, ana: int, settings: Any) -> None:
    await accounts.create_organiser(app.state.db, "root@example.org", PASSWORD, "admin", None,
                                    settings=settings)
    await accounts.set_disabled(app.state.db, ANA, True)
    listed = await accounts.list_organisers(app.state.db)
    assert [(a["email"], a["role"], a["disabled"]) for a in listed] == [
        (ANA, "organiser", True), ("root@example.org", "admin", False)]
    assert "password_hash" not in listed[0]
    assert accounts.describe(listed[0]) == (
        "ana@example.org  organiser NL  disabled, last sign-in never")


async def test_the_last_admin_and_oneself_cannot_be_disabled(app: Any, settings: Any) -> None:
    db = app.state.db
    root = await accounts.create_organiser(db, "root@example.org", PASSWORD, "admin", None,
                                           settings=settings)
    with pytest.raises(Conflict):
        await accounts.set_disabled(db, "root@example.org", True)
    second = await accounts.create_organiser(db, "two@example.org", PASSWORD, "admin", None,
                                             settings=settings)
    with pytest.raises(Conflict):
        await accounts.set_disabled(db, root, True, by=root)
    await accounts.set_disabled(db, root, True, by=second)
    with pytest.raises(Conflict):
        await accounts.set_disabled(db, second, True, by=None)  # the last one left


async def test_unknown_accounts_are_not_found(app: Any, settings: Any) -> None:
    for change in (accounts.set_disabled(app.state.db, "who@example.org", True),
                   accounts.unlock(app.state.db, "who@example.org"),
                   accounts.set_password(app.state.db, "who@example.org", "long enough 1",
                                         settings)):
        with pytest.raises(NotFound):
            await change


# --- the admins' page -------------------------------------------------------------------------

@pytest.fixture
async def admin(sign_in: Any) -> Client:
    return await sign_in("root@example.org", role="admin", country=None)


async def admin_id(app: Any) -> int:
    row = await app.state.db.fetch_one("SELECT id FROM organisers WHERE email = ?",
                                       ("root@example.org",))
    return int(row["id"])


async def press(c: Client, path: str, **fields: str) -> httpx.Response:
    page = await c.get("/admin/organisers")
    assert page.status_code == 200, page.text
    return await c.post(path, data={"csrf_token": csrf_of(page.text), **fields})


async def test_the_accounts_page_is_for_admins_only(sign_in: Any, admin: Client, ana: int
                                                    ) -> None:
    organiser = await sign_in("nl@example.org")
    assert (await organiser.get("/admin/organisers")).status_code == 403
    refused = await press(admin, f"/admin/organisers/{ana}/disable")
    assert refused.status_code == 303  # the admin could
    page = await organiser.post(f"/admin/organisers/{ana}/enable",
                                data={"csrf_token": csrf_of((await organiser.get("/admin/")).text)})
    assert page.status_code == 403


async def test_the_accounts_page_lists_and_changes_accounts(
        app: Any, admin: Client, client: Client, elsewhere: Client, ana: int) -> None:
    await submit_sign_in(elsewhere, ANA, PASSWORD)
    page = await admin.get("/admin/organisers")
    assert page.status_code == 200
    assert ANA in page.text and "root@example.org" in page.text
    assert f'action="/admin/organisers/{ana}/disable"' in page.text
    assert f'action="/admin/organisers/{await admin_id(app)}/disable"' not in page.text  # self

    disabled = await press(admin, f"/admin/organisers/{ana}/disable")
    assert disabled.status_code == 303
    assert disabled.headers["location"] == "/admin/organisers?done=disabled"
    notice = await admin.get(disabled.headers["location"])
    assert "The account is disabled" in notice.text
    assert f'action="/admin/organisers/{ana}/enable"' in notice.text
    assert (await elsewhere.get("/admin/")).status_code == 303  # her session ended

    assert (await press(admin, f"/admin/organisers/{ana}/enable")).status_code == 303

    for _ in range(accounts.LOCK_AFTER):
        await submit_sign_in(client, ANA, "guess-guess")
    assert f'action="/admin/organisers/{ana}/unlock"' in (await admin.get("/admin/organisers")).text
    unlocked = await press(admin, f"/admin/organisers/{ana}/unlock")
    assert unlocked.headers["location"] == "/admin/organisers?done=unlocked"
    assert (await submit_sign_in(client, ANA, PASSWORD)).status_code == 303

    short = await press(admin, f"/admin/organisers/{ana}/password", password="short")
    assert short.status_code == 422
    assert "at least 8 characters" in short.text
    assert f'aria-describedby="e-password-{ana}"' in short.text
    changed = await press(admin, f"/admin/organisers/{ana}/password", password="brand new one")
    assert changed.headers["location"] == "/admin/organisers?done=password"
    assert (await client.get("/admin/")).status_code == 303  # signed out everywhere
    assert (await submit_sign_in(client, ANA, "brand new one")).status_code == 303

    by = await admin_id(app)
    assert [a for a in await audit_actions(app) if a[0].startswith("organiser.")] == [
        ("organiser.disable", by, ana), ("organiser.enable", by, ana),
        ("organiser.unlock", by, ana), ("organiser.password", by, ana)]


async def test_the_accounts_page_refuses_to_disable_the_admin_themself(
        app: Any, admin: Client) -> None:
    refused = await press(admin, f"/admin/organisers/{await admin_id(app)}/disable")
    assert refused.status_code == 409
    assert "You cannot disable your own account." in refused.text
    assert (await admin.get("/admin/organisers")).status_code == 200


async def test_an_unknown_account_is_404(admin: Client) -> None:
    assert (await press(admin, "/admin/organisers/999/unlock")).status_code == 404
