"""Organisers: accounts and passwords (sessions and roles come later).

Passwords are hashed with argon2id at the costs in Settings (lowered only in tests).
Hashing takes tens of milliseconds on purpose, so async callers run it in a thread and
the event loop keeps serving others."""

from __future__ import annotations

import asyncio
import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from festival import times
from festival.db import Database, execute, fetch_value
from festival.errors import Conflict, ValidationError, _
from festival.settings import Settings

ROLES = ("admin", "organiser")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything; this only bounds the work per attempt


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


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


def check_organiser(email: str, password: str, role: str, country: str | None
                    ) -> tuple[str, str | None]:
    """The normalised email and country; ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    email = email.strip().lower()
    if not EMAIL.fullmatch(email) or len(email) > 254:
        errors["email"] = _("Please enter an email address like name@example.org.")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors["password"] = _("The password needs at least 8 characters.")
    if role not in ROLES:
        errors["role"] = _("The role must be admin or organiser.")
    country = (country or "").strip().upper() or None
    if country is not None and (len(country) != 2 or not country.isascii()
                                or not country.isalpha()):
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
