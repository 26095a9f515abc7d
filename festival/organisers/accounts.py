"""Organisers: accounts, passwords, sign-in, sessions and roles.

Choices a reader might question:
- Passwords are hashed with argon2id at the costs in Settings (lowered only in tests).
  Hashing takes tens of milliseconds on purpose, so it runs in a thread and the event
  loop keeps serving others, and never inside a write transaction.
- Sessions live on the server: the cookie holds a random 256-bit token and the
  `sessions` table only its SHA-256, so a copy of the database cannot be replayed as a
  cookie, and signing out (deleting the row) ends the session everywhere at once.
- Failed sign-ins: an unknown email and a wrong password get the same answer, and an
  unknown email is checked against a dummy hash so the time taken tells nothing either.
  Failures are counted per account AND client (festival.core.limits.client_key): after
  LOCK_AFTER failures in a row from one client, that client is locked out of that
  account for a time that doubles with each further failure (capped at MAX_LOCK);
  attempts during a lock are refused unchecked and not counted. So someone guessing
  locks only themselves out: the organiser still signs in from anywhere else. Every
  failure also counts against the client's `sign_in_failures` limit, whatever the
  address typed, which stops password spraying (a few guesses at many addresses); a
  right password gives its count back. Addresses without an account are counted and
  locked the same way, so the lock does not reveal which addresses have accounts.
  No typed address is stored or logged: an account is known by its id
  ('organiser:3'), an address without one by a keyed hash (HMAC under the secret
  key). A run of failures is forgotten a day after its last one.
- Disabled accounts cannot sign in (the same answer as a wrong password), and disabling
  ends their sessions in the same transaction; the session lookup also skips disabled
  accounts. Admins manage accounts (list, disable, enable, set a password, unlock) on
  /admin/organisers or with the `festival organiser` commands; each change is audited.
- Roles: `admin` manages everything; `organiser` the venues and screenings of one
  country. `require_*` are checked on the server for every request, page or API.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import math
import secrets
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response

from festival.core import limits, times
from festival.core.errors import (
    Conflict,
    FestivalError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorised,
    ValidationError,
    _,
)
from festival.core.settings import Settings
from festival.core.store import (
    Connection,
    Database,
    execute,
    fetch_all,
    fetch_one,
    fetch_value,
    insert_returning_id,
)
from festival.core.text import clean_email, email_key
from festival.organisers import audit
from festival.programme.fields import is_country

log = logging.getLogger("festival.auth")

ROLES = ("admin", "organiser")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything; this only bounds the work per attempt

SESSION_COOKIE = "festival_session"
SESSION_LIFETIME = timedelta(hours=12)
LOCK_AFTER = 5                       # failures in a row before the first lock
FIRST_LOCK = timedelta(minutes=1)    # doubled for each failure after that
MAX_LOCK = timedelta(hours=1)
FORGET_FAILURES = timedelta(days=1)  # a run of failures ends a day after its last one
PUBLIC_COLUMNS = ("id, email, name, role, country, created_at, last_login_at, disabled_at, "
                  "password_changed_at, totp_enabled_at")


class SignInFailed(FestivalError):
    """Wrong email or password: one message for both, so it reveals no accounts."""

    status = 401
    code = "sign_in_failed"
    message = _("The email address or the password is not right.")


class SecondFactorRequired(FestivalError):
    """The password is right and the account has a second factor: the sign-in goes on
    with a code (festival.organisers.totp.sign_in_with_code), for `challenge` (a token
    for a cookie, good for a few minutes). No session exists yet."""

    status = 303
    code = "second_factor_required"
    message = _("Enter the code from your authenticator app.")

    def __init__(self, challenge: str):
        super().__init__()
        self.challenge = challenge


class SignInLocked(SignInFailed):
    """This client is locked out of this account for now (Retry-After: until when)."""

    status = 429
    code = "too_many_attempts"
    message = _("Too many failed sign-ins for this email address. "
                "Please wait a few minutes and try again.")

    def __init__(self, until: str | None = None):
        super().__init__()
        if until is not None:
            seconds = (times.parse_utc(until) - times.utc_now()).total_seconds()
            self.headers = MappingProxyType({"Retry-After": str(max(1, math.ceil(seconds)))})


# --- passwords ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    # argon2 needs 8 KiB per lane: the tests' tiny memory cost runs on one lane, real
    # costs on argon2-cffi's default four.
    lanes = max(1, min(4, memory_cost // 8))
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=lanes)


def password_hasher(settings: Settings | None = None) -> PasswordHasher:
    settings = settings or Settings()
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost)


def hash_password(password: str, settings: Settings | None = None) -> str:
    return password_hasher(settings).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; a wrong password or a damaged hash is False."""
    try:
        # The costs are read from the hash itself, so any hasher verifies any hash.
        return _hasher(1, 8).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    """A hash at the current costs, verified for unknown emails so they take as long."""
    return _hasher(time_cost, memory_cost).hash(secrets.token_urlsafe(16))


def check_organiser(email: str, password: str, role: str, country: str | None
                    ) -> tuple[str, str | None]:
    """The normalised email and country; ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    email, problem = clean_email(email)
    email = email_key(email)
    if problem:
        errors["email"] = _("Please enter an email address like name@example.org.")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors["password"] = _("The password needs at least 8 characters.")
    if role not in ROLES:
        errors["role"] = _("The role must be admin or organiser.")
    country = (country or "").strip().upper() or None
    if country is not None and not is_country(country):
        errors["country"] = _("The country must be a 2-letter code like NL.")
    elif role == "organiser" and country is None:
        errors["country"] = _("An organiser works for one country: give its 2-letter code.")
    if errors:
        raise ValidationError(fields=errors)
    return email, country


async def create_organiser(db: Database, email: str, password: str, role: str,
                           country: str | None, *, name: str = "",
                           settings: Settings | None = None) -> int:
    """Creates an organiser account; answers its id. Conflict when the email is taken."""
    email, country = check_organiser(email, password, role, country)
    password_hash = await asyncio.to_thread(hash_password, password, settings)
    async with db.transaction() as conn:
        if await fetch_value(conn, "SELECT 1 FROM organisers WHERE email = ?", (email,)):
            raise Conflict(_("There is already an organiser with that email address."))
        now = times.now_text()
        return await insert_returning_id(
            conn, "INSERT INTO organisers (email, name, password_hash, role, country,"
            " created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (email, name.strip(), password_hash, role, country, now, now))


# --- signing in and out --------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lock_duration(failures: int) -> timedelta | None:
    """How long a client is locked out of an account after `failures` failures in a row
    from it (None: not)."""
    if failures < LOCK_AFTER:
        return None
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER, 16), MAX_LOCK)


def account_key(email: str, organiser_id: int | None, secret_key: str) -> str:
    """What failures are counted under: 'organiser:<id>', or for an address without an
    account 'unknown:<HMAC-SHA256 of it under the secret key>' (never the address)."""
    if organiser_id is not None:
        return f"organiser:{organiser_id}"
    digest = hmac.new(secret_key.encode(), b"sign-in\x00" + email.encode(), hashlib.sha256)
    return f"unknown:{digest.hexdigest()[:32]}"


def _who(account: str) -> str:
    """An account key as logs name it: 'organiser 3' or 'an unknown address (3f2a9c1e)'."""
    kind, _sep, value = account.partition(":")
    return f"organiser {value}" if kind == "organiser" else f"an unknown address ({value[:8]})"


async def sign_in(db: Database, email: str, password: str, *, settings: Settings,
                  client_ip: str = "?") -> tuple[dict[str, Any], str]:
    """Checks the email and password from `client_ip` (the client's key, see
    festival.core.limits.client_key); answers the organiser and a new session token (for
    the cookie). SignInFailed or SignInLocked, each with one text for everyone; RateLimited
    when this client has failed too often, whatever the addresses (with rate limits on)."""
    email = email_key(email or "")[:254]
    password = password or ""
    attempt = password[:MAX_PASSWORD_LENGTH]
    row = await db.fetch_one("SELECT id, password_hash, disabled_at, totp_secret "
                             "FROM organisers WHERE email = ?", (email,))
    account = account_key(email, row["id"] if row else None, settings.secret_key)
    dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_cost)
    locked_until = await _locked_until(db, account, client_ip)
    if locked_until is not None:
        await asyncio.to_thread(verify_password, dummy, attempt)
        log.warning("sign-in refused for %s from %s: locked until %s", _who(account),
                    client_ip, locked_until)
        raise SignInLocked(locked_until)
    failure_slot = None
    if settings.rate_limits:
        try:  # counted before the check, so concurrent guesses cannot overshoot
            failure_slot = await limits.take(db, limits.SIGN_IN_FAILURES.name, client_ip)
        except RateLimited:
            log.warning("sign-in refused for %s from %s: too many failures from there",
                        _who(account), client_ip)
            raise
    good = await asyncio.to_thread(verify_password, row["password_hash"] if row else dummy,
                                   attempt)
    if row is None or not good or len(password) > MAX_PASSWORD_LENGTH or row["disabled_at"]:
        failures, locked = await _count_failure(db, account, client_ip)
        log.warning("%s for %s from %s (%d in a row from there%s)",
                    "sign-in to a disabled account" if row and row["disabled_at"] and good
                    else "failed sign-in", _who(account), client_ip, failures,
                    f", locked until {locked}" if locked else "")
        raise SignInLocked(locked) if locked else SignInFailed()
    if row["totp_secret"]:
        # The password alone opens nothing: a challenge for the code, and this client's
        # failures on the account stay counted until the code is right too.
        from festival.organisers import totp
        challenge = await totp.start_challenge(db, row["id"], client_ip, slot=failure_slot)
        log.info("%s gave the right password from %s; a code is asked", _who(account),
                 client_ip)
        raise SecondFactorRequired(challenge)
    token = new_token()
    organiser = await _start_session(db, row, password, settings, token,
                                     account=account, client=client_ip, slot=failure_slot)
    log.info("%s signed in from %s", _who(account), client_ip)
    return organiser, token


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


async def _locked_until(db: Database, account: str, client: str) -> str | None:
    """When this client's lock on this account ends, if it is locked now."""
    row = await db.fetch_one("SELECT locked_until FROM sign_in_locks WHERE account = ? AND "
                             "client = ? AND locked_until > ?",
                             (account, client, times.now_text()))
    return None if row is None else row["locked_until"]  # type: ignore[no-any-return]


async def _start_session(db: Database, row: Any, password: str, settings: Settings,
                         token: str, *, account: str, client: str, slot: int | None
                         ) -> dict[str, Any]:
    """Writes the session row, ends this client's run of failures on the account and
    gives back its failure count; answers the organiser."""
    now = times.now_text()
    # Hashes made at older (cheaper) costs are upgraded while the password is at hand.
    rehash = password_hasher(settings).check_needs_rehash(row["password_hash"])
    new_hash = await asyncio.to_thread(hash_password, password, settings) if rehash else None
    async with db.transaction() as conn:
        await execute(conn, "DELETE FROM sessions WHERE expires_at <= ?", (now,))
        await execute(conn, "INSERT INTO sessions (token_hash, organiser_id, created_at, "
                      "expires_at) VALUES (?, ?, ?, ?)",
                      (_token_hash(token), row["id"], now,
                       times.utc_text(times.utc_now() + SESSION_LIFETIME)))
        await execute(conn, "UPDATE organisers SET last_login_at = ?, "
                      "password_hash = COALESCE(?, password_hash) WHERE id = ?",
                      (now, new_hash, row["id"]))
        await execute(conn, "DELETE FROM sign_in_locks WHERE account = ? AND client = ?",
                      (account, client))
        await limits.release(conn, slot)
        organiser = await fetch_one(conn, f"SELECT {PUBLIC_COLUMNS} FROM organisers "
                                    "WHERE id = ?", (row["id"],))
    assert organiser is not None
    return dict(organiser)


async def _count_failure(db: Database, account: str, client: str) -> tuple[int, str | None]:
    """Adds one failure of `client` on `account`; answers the failures in a row and the
    end of the lock they earn (None: not locked)."""
    now = times.utc_now()
    async with db.transaction() as conn:
        # Runs whose last failure is a day old are over: forgotten, also for others.
        await execute(conn, "DELETE FROM sign_in_locks WHERE last_failed_at < ?",
                      (times.utc_text(now - FORGET_FAILURES),))
        await execute(conn, "INSERT INTO sign_in_locks (account, client, failures, "
                      "last_failed_at) VALUES (?, ?, 1, ?) ON CONFLICT (account, client) DO "
                      "UPDATE SET failures = sign_in_locks.failures + 1, last_failed_at = "
                      "excluded.last_failed_at", (account, client, times.utc_text(now)))
        failures = int(await fetch_value(conn, "SELECT failures FROM sign_in_locks WHERE "
                                         "account = ? AND client = ?", (account, client)))
        duration = lock_duration(failures)
        locked = times.utc_text(now + duration) if duration else None
        await execute(conn, "UPDATE sign_in_locks SET locked_until = ? WHERE account = ? "
                      "AND client = ?", (locked, account, client))
    return failures, locked


async def open_session(conn: Connection, organiser_id: int) -> str:
    """Writes a new session for the organiser inside the caller's transaction (after an
    invite is used, or a second factor's code is right); answers its token."""
    token = new_token()
    now = times.now_text()
    await execute(conn, "INSERT INTO sessions (token_hash, organiser_id, created_at, "
                  "expires_at) VALUES (?, ?, ?, ?)",
                  (_token_hash(token), organiser_id, now,
                   times.utc_text(times.utc_now() + SESSION_LIFETIME)))
    await execute(conn, "UPDATE organisers SET last_login_at = ? WHERE id = ?",
                  (now, organiser_id))
    return token


async def sign_out(db: Database, token: str | None) -> None:
    """Ends the session: its row is deleted, so the cookie is worthless everywhere."""
    if token:
        async with db.transaction() as conn:
            await execute(conn, "DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))


async def end_sessions(db: Database, organiser_id: int) -> None:
    """Signs an organiser out everywhere (e.g. after a password change)."""
    async with db.transaction() as conn:
        await execute(conn, "DELETE FROM sessions WHERE organiser_id = ?", (organiser_id,))


# --- the session cookie --------------------------------------------------------------------

def cookie_is_secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.base_url.startswith("https:")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()),
                        path="/", httponly=True, samesite="lax",
                        secure=cookie_is_secure(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=cookie_is_secure(request))


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    # Cheap refusal of what cannot be one of our tokens, before touching the database.
    return token if token and 20 <= len(token) <= 100 else None


async def current_organiser(request: Request) -> dict[str, Any] | None:
    """The signed-in organiser (without password_hash), or None. Read once a request."""
    if hasattr(request.state, "organiser"):
        return request.state.organiser  # type: ignore[no-any-return]
    token = session_token(request)
    organiser = None
    if token is not None:
        db: Database = request.app.state.db
        row = await db.fetch_one(
            f"SELECT {', '.join('o.' + c.strip() for c in PUBLIC_COLUMNS.split(','))} "
            "FROM sessions s JOIN organisers o ON o.id = s.organiser_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND o.disabled_at IS NULL",
            (_token_hash(token), times.now_text()))
        organiser = None if row is None else dict(row)
    request.state.organiser = organiser
    return organiser


async def require_organiser(request: Request, *, role: str | None = None) -> dict[str, Any]:
    """The signed-in organiser; Unauthorised when nobody is, Forbidden when `role` is
    required and theirs is another (only 'admin' outranks)."""
    organiser = await current_organiser(request)
    if organiser is None:
        raise Unauthorised()
    if role is not None and organiser["role"] != role and organiser["role"] != "admin":
        raise Forbidden()
    return organiser


def may_manage(organiser: dict[str, Any], country: str) -> bool:
    """Admins manage every country; an organiser only their own."""
    if organiser["role"] == "admin":
        return True
    own = (organiser.get("country") or "").upper()
    return bool(own) and own == (country or "").upper()


def require_country(organiser: dict[str, Any], country: str) -> None:
    if not may_manage(organiser, country):
        raise Forbidden(_("You can only manage the programme of your own country."))


# --- managing accounts (admins: /admin/organisers; the `festival organiser` commands) -------
#
# `account` is an organiser's id (the pages) or email address (the command line); `by` is
# the id of the admin who acts, for the audit trail (None: the command line).

async def _find(conn: Connection, account: int | str) -> dict[str, Any]:
    if isinstance(account, int):
        row = await fetch_one(conn, f"SELECT {PUBLIC_COLUMNS} FROM organisers WHERE id = ?",
                              (account,))
    else:
        row = await fetch_one(conn, f"SELECT {PUBLIC_COLUMNS} FROM organisers WHERE email = ?",
                              (email_key(account),))
    if row is None:
        raise NotFound(_("There is no organiser with that email address."))
    return dict(row)


async def _locks(conn: Connection, organiser_id: int | None = None
                 ) -> dict[int, dict[str, Any]]:
    """Organiser id -> the clients locked out of the account now and until when."""
    sql = ("SELECT account, COUNT(*) AS clients, MAX(locked_until) AS until "
           "FROM sign_in_locks WHERE locked_until > ? AND account ")
    params: list[Any] = [times.now_text()]
    if organiser_id is None:
        sql += "LIKE 'organiser:%'"
    else:
        sql += "= ?"
        params.append(f"organiser:{organiser_id}")
    rows = await fetch_all(conn, sql + " GROUP BY account", params)
    return {int(r["account"].split(":", 1)[1]): {"locked_clients": r["clients"],
                                                 "locked_until": r["until"]} for r in rows}


def _account_view(row: dict[str, Any], locks: dict[int, dict[str, Any]]) -> dict[str, Any]:
    lock = locks.get(row["id"], {"locked_clients": 0, "locked_until": None})
    return {**row, "disabled": row["disabled_at"] is not None, **lock}


async def list_organisers(db: Database) -> list[dict[str, Any]]:
    """Every account, by email: id, email, name, role, country, created_at, last_login_at,
    password_changed_at, disabled_at, disabled (bool), and locked_clients (how many
    clients are locked out of it now) with locked_until (the latest of their locks)."""
    async with db.reader() as conn:
        rows = await fetch_all(conn, f"SELECT {PUBLIC_COLUMNS} FROM organisers ORDER BY email")
        locks = await _locks(conn)
    return [_account_view(dict(r), locks) for r in rows]


async def get_account(db: Database, account: int | str) -> dict[str, Any]:
    """One account as list_organisers shows it; NotFound."""
    async with db.reader() as conn:
        row = await _find(conn, account)
        return _account_view(row, await _locks(conn, row["id"]))


async def set_disabled(db: Database, account: int | str, disabled: bool, *,
                       by: int | None = None) -> dict[str, Any]:
    """Disables (ending its sessions at once) or enables an account; answers it.
    Conflict for one's own account, or the last admin who can sign in. Doing what is
    already so changes nothing and is not audited."""
    async with db.transaction() as conn:
        row = await _find(conn, account)
        if disabled == (row["disabled_at"] is not None):
            return _account_view(row, await _locks(conn, row["id"]))
        now = times.now_text() if disabled else None
        if disabled:
            if by == row["id"]:
                raise Conflict(_("You cannot disable your own account."))
            if row["role"] == "admin" and not await fetch_value(
                    conn, "SELECT COUNT(*) FROM organisers WHERE role = 'admin' AND "
                    "disabled_at IS NULL AND id != ?", (row["id"],)):
                raise Conflict(_("This is the last admin account that can sign in: it "
                                 "cannot be disabled."))
            await execute(conn, "DELETE FROM sessions WHERE organiser_id = ?", (row["id"],))
        await execute(conn, "UPDATE organisers SET disabled_at = ? WHERE id = ?",
                      (now, row["id"]))
        await audit.record(conn, by, "organiser.disable" if disabled else "organiser.enable",
                           "organiser", row["id"], {"disabled_at": row["disabled_at"]},
                           {"disabled_at": now})
        row["disabled_at"] = now
        return _account_view(row, await _locks(conn, row["id"]))


async def set_password(db: Database, account: int | str, password: str,
                       settings: Settings | None = None, *, by: int | None = None
                       ) -> dict[str, Any]:
    """Sets a new password (8 to 1024 characters: ValidationError on `password`), ends
    the account's sessions and lifts its locks; answers the account."""
    if not MIN_PASSWORD_LENGTH <= len(password or "") <= MAX_PASSWORD_LENGTH:
        raise ValidationError(fields={"password": _("The password needs at least 8 "
                                                    "characters.")})
    async with db.reader() as conn:
        await _find(conn, account)  # unknown: refused before the slow hash
    password_hash = await asyncio.to_thread(hash_password, password, settings)
    async with db.transaction() as conn:
        row = await _find(conn, account)
        now = times.now_text()
        await execute(conn, "UPDATE organisers SET password_hash = ?, password_changed_at = ?"
                      " WHERE id = ?", (password_hash, now, row["id"]))
        await execute(conn, "DELETE FROM sessions WHERE organiser_id = ?", (row["id"],))
        await execute(conn, "DELETE FROM sign_in_locks WHERE account = ?",
                      (f"organiser:{row['id']}",))
        # The audit trail says when, never what: no hash in it.
        await audit.record(conn, by, "organiser.password", "organiser", row["id"],
                           {"password_changed_at": row["password_changed_at"]},
                           {"password_changed_at": now})
        row["password_changed_at"] = now
        return _account_view(row, {})


async def unlock(db: Database, account: int | str, *, by: int | None = None) -> int:
    """Lifts every client's lock on the account and forgets their failures; answers how
    many clients were locked out."""
    async with db.transaction() as conn:
        row = await _find(conn, account)
        locked = (await _locks(conn, row["id"])).get(row["id"], {}).get("locked_clients", 0)
        await execute(conn, "DELETE FROM sign_in_locks WHERE account = ?",
                      (f"organiser:{row['id']}",))
        await audit.record(conn, by, "organiser.unlock", "organiser", row["id"],
                           {"locked_clients": locked}, {"locked_clients": 0})
    return int(locked)


def describe(account: dict[str, Any]) -> str:
    """One line for the command line: 'ana@example.org  organiser NL  disabled ...'."""
    role = f"{account['role']} {account['country']}" if account["country"] else account["role"]
    state = ["disabled" if account["disabled"] else "active"]
    if account.get("locked_clients"):
        state.append(f"locked for {account['locked_clients']} client(s) until "
                     f"{account['locked_until']}")
    state.append(f"last sign-in {account['last_login_at'] or 'never'}")
    return f"{account['email']}  {role}  {', '.join(state)}"
