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
  After LOCK_AFTER failures in a row the email is locked for a time that doubles with
  each further failure (capped at MAX_LOCK); attempts during a lock are refused unchecked
  and not counted. Someone guessing keeps an address locked, which is the point; each
  failure is logged as a warning with the address and the client's IP so organisers see
  who. Emails without an account are counted and locked the same way (table
  `sign_in_failures`), so the lock message does not reveal which addresses have
  accounts either. A run of failures is forgotten a day after its last one.
- Roles: `admin` manages everything; `organiser` the venues and screenings of one
  country. `require_*` are checked on the server for every request, page or API.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response

from festival.core import times
from festival.core.errors import (
    Conflict,
    FestivalError,
    Forbidden,
    Unauthorised,
    ValidationError,
    _,
)
from festival.core.settings import Settings
from festival.core.store import Database, execute, fetch_one, fetch_value
from festival.core.text import clean_email, email_key
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
PUBLIC_COLUMNS = "id, email, name, role, country, failed_logins, locked_until, created_at, " \
                 "last_login_at"


class SignInFailed(FestivalError):
    """Wrong email or password: one message for both, so it reveals no accounts."""

    status = 401
    code = "sign_in_failed"
    message = _("The email address or the password is not right.")


class SignInLocked(SignInFailed):
    status = 429
    code = "too_many_attempts"
    message = _("Too many failed sign-ins for this email address. "
                "Please wait a few minutes and try again.")


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
        return await execute(
            conn, "INSERT INTO organisers (email, name, password_hash, role, country,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (email, name.strip(), password_hash, role, country, times.now_text()))


# --- signing in and out --------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lock_duration(failures: int) -> timedelta | None:
    """How long an email is locked after `failures` failures in a row (None: not)."""
    if failures < LOCK_AFTER:
        return None
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER, 16), MAX_LOCK)


async def sign_in(db: Database, email: str, password: str, *, settings: Settings,
                  client_ip: str = "?") -> tuple[dict[str, Any], str]:
    """Checks the email and password; answers the organiser and a new session token
    (for the cookie). SignInFailed or SignInLocked, each with one text for everyone."""
    email = (email or "").strip().lower()[:254]
    password = password or ""
    row = await db.fetch_one("SELECT id, password_hash, locked_until FROM organisers "
                             "WHERE email = ?", (email,))
    dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_cost)
    attempt = password[:MAX_PASSWORD_LENGTH]
    locked_until = await _locked_until(db, email, row)
    if locked_until and locked_until > times.now_text():
        await asyncio.to_thread(verify_password, dummy, attempt)
        log.warning("sign-in refused for %r from %s: locked until %s", email, client_ip,
                    locked_until)
        raise SignInLocked()
    good = await asyncio.to_thread(verify_password, row["password_hash"] if row else dummy,
                                   attempt)
    if row is None or not good or len(password) > MAX_PASSWORD_LENGTH:
        failures, locked = await _count_failure(db, email, row["id"] if row else None)
        log.warning("failed sign-in for %r from %s (%d in a row%s)", email, client_ip,
                    failures, f", locked until {locked}" if locked else "")
        raise SignInLocked() if locked else SignInFailed()
    organiser = await _start_session(db, row, password, settings, token := new_token())
    log.info("organiser %s signed in from %s", email, client_ip)
    return organiser, token


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


async def _locked_until(db: Database, email: str, row: Any) -> str | None:
    if row is not None:
        return row["locked_until"]  # type: ignore[no-any-return]
    failures = await db.fetch_one("SELECT locked_until FROM sign_in_failures WHERE email = ?",
                                  (email,))
    return None if failures is None else failures["locked_until"]


async def _start_session(db: Database, row: Any, password: str, settings: Settings,
                         token: str) -> dict[str, Any]:
    """Writes the session row and resets the failure count; answers the organiser."""
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
        await execute(conn, "UPDATE organisers SET failed_logins = 0, locked_until = NULL, "
                      "last_login_at = ?, password_hash = COALESCE(?, password_hash) "
                      "WHERE id = ?", (now, new_hash, row["id"]))
        organiser = await fetch_one(conn, f"SELECT {PUBLIC_COLUMNS} FROM organisers "
                                    "WHERE id = ?", (row["id"],))
    assert organiser is not None
    return dict(organiser)


async def _count_failure(db: Database, email: str, organiser_id: int | None
                         ) -> tuple[int, str | None]:
    """Adds one failure for the email; answers the failures in a row and the new lock."""
    now = times.utc_now()
    forget = times.utc_text(now - FORGET_FAILURES)  # a run of failures older than this
    async with db.transaction() as conn:
        if organiser_id is not None:
            await execute(conn, "UPDATE organisers SET failed_logins = CASE WHEN "
                          "last_failed_login_at < ? THEN 1 ELSE failed_logins + 1 END, "
                          "last_failed_login_at = ? WHERE id = ?",
                          (forget, times.utc_text(now), organiser_id))
            failures = await fetch_value(conn, "SELECT failed_logins FROM organisers "
                                         "WHERE id = ?", (organiser_id,))
        else:
            await execute(conn, "DELETE FROM sign_in_failures WHERE last_failed_at < ?",
                          (forget,))
            await execute(conn, "INSERT INTO sign_in_failures (email, failures, last_failed_at)"
                          " VALUES (?, 1, ?) ON CONFLICT (email) DO UPDATE SET "
                          "failures = failures + 1, last_failed_at = excluded.last_failed_at",
                          (email, times.utc_text(now)))
            failures = await fetch_value(conn, "SELECT failures FROM sign_in_failures "
                                         "WHERE email = ?", (email,))
        duration = lock_duration(int(failures))
        locked = times.utc_text(now + duration) if duration else None
        if organiser_id is not None:
            await execute(conn, "UPDATE organisers SET locked_until = ? WHERE id = ?",
                          (locked, organiser_id))
        else:
            await execute(conn, "UPDATE sign_in_failures SET locked_until = ? WHERE email = ?",
                          (locked, email))
    return int(failures), locked


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
            "WHERE s.token_hash = ? AND s.expires_at > ?", (_token_hash(token), times.now_text()))
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
