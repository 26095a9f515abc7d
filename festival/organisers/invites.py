"""Invites: an admin asks someone to become an organiser, by email.

An invite names an address, a role and (for organisers) a country. Its link holds a
secret of 256 random bits; only its SHA-256 is kept, so a copy of the database opens
nothing. The link is mailed (composed at once, festival.mail.invite, since the secret is
not kept to compose it later; the sent message keeps only its headers) or printed by
`festival organiser invite`. It works once, for INVITE_LIFETIME, unless an admin revokes
it: whoever opens it chooses a password, which creates the account and signs them in.
Each step is audited."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

from festival.core import links, times
from festival.core.errors import Conflict, NotFound, ValidationError, _
from festival.core.settings import Settings
from festival.core.store import Database, execute, fetch_one, fetch_value, insert_returning_id
from festival.mail import outbox
from festival.mail.invite import compose_invite
from festival.organisers import accounts, audit

INVITE_LIFETIME = timedelta(hours=72)
_COLUMNS = ("id, email, role, country, created_at, created_by, expires_at, used_at, "
            "revoked_at, organiser_id")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(invite: dict[str, Any], now: str | None = None) -> str:
    """'open', 'used', 'revoked' or 'expired'."""
    if invite["used_at"]:
        return "used"
    if invite["revoked_at"]:
        return "revoked"
    return "expired" if invite["expires_at"] <= (now or times.now_text()) else "open"


async def create_invite(db: Database, email: str, role: str, country: str | None, *,
                        settings: Settings, by: int | None = None, mail: bool = True,
                        locale: str = "en") -> tuple[dict[str, Any], str]:
    """Makes an invite; answers it and its link (absolute). With `mail`, the link is
    queued in the outbox to the address in the same transaction. ValidationError for a
    bad address, role or country; Conflict when the address has an account."""
    # The same checks as a new account, with a placeholder for the password to come.
    email, country = accounts.check_organiser(email, "-" * accounts.MIN_PASSWORD_LENGTH,
                                              role, country)
    token = accounts.new_token()
    now = times.utc_now()
    expires = now + INVITE_LIFETIME
    link = links.absolute(settings.base_url, "admin_invite", token=token)
    message_id = outbox.new_message_id()
    message = compose_invite(recipient=email, link=link, role=role, country=country,
                             expires_at=expires, message_id=message_id, date=now,
                             settings=settings, locale=locale) if mail else None
    async with db.transaction() as conn:
        if await fetch_value(conn, "SELECT 1 FROM organisers WHERE email = ?", (email,)):
            raise Conflict(_("There is already an organiser with that email address."))
        invite_id = await insert_returning_id(
            conn, "INSERT INTO organiser_invites (token_hash, email, role, country, "
            "created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_hash(token), email, role, country, times.utc_text(now), by,
             times.utc_text(expires)))
        if message is not None:
            await execute(
                conn, "INSERT INTO outbox (created_at, kind, recipient, recipient_key, "
                "subject, message_id, message, next_attempt_at, status) VALUES "
                "(?, 'organiser_invite', ?, ?, ?, ?, ?, ?, 'pending')",
                (times.utc_text(now), email, email, "", message_id, message,
                 times.utc_text(now)))
        await audit.record(conn, by, "organiser.invite", "organiser_invite", invite_id, None,
                           {"email": email, "role": role, "country": country,
                            "expires_at": times.utc_text(expires)})
        row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM organiser_invites WHERE id = ?",
                              (invite_id,))
    assert row is not None
    return dict(row), link


async def find(db: Database, token: str) -> dict[str, Any]:
    """The invite a link's token opens, with its `status`; NotFound for none."""
    row = await db.fetch_one(f"SELECT {_COLUMNS} FROM organiser_invites WHERE token_hash = ?",
                             (_hash(token or ""),))
    if row is None:
        raise NotFound(_("This invitation link is not known. Please check that you copied "
                         "the whole link, or ask for a new invitation."))
    invite = dict(row)
    invite["status"] = status_of(invite)
    return invite


def refusal(status: str) -> str:
    """What a link that no longer works says."""
    return {
        "used": _("This invitation was already used. Sign in with the password you chose."),
        "revoked": _("This invitation was withdrawn. Ask an administrator for a new one."),
        "expired": _("This invitation has expired. Ask an administrator for a new one."),
    }[status]


async def accept(db: Database, token: str, password: str, confirmation: str, *,
                 settings: Settings) -> tuple[int, str]:
    """Uses an open invite: creates the account with `password` and signs it in;
    answers its id and a session token. ValidationError on `password`/`confirmation`;
    Conflict when the invite no longer works (its text says why)."""
    invite = await find(db, token)
    if invite["status"] != "open":
        raise Conflict(refusal(invite["status"]))
    errors = {}
    if not accounts.MIN_PASSWORD_LENGTH <= len(password or "") <= accounts.MAX_PASSWORD_LENGTH:
        errors["password"] = _("The password needs at least 8 characters.")
    elif password != confirmation:
        errors["confirmation"] = _("The two passwords are not the same.")
    if errors:
        raise ValidationError(fields=errors)
    password_hash = await asyncio.to_thread(accounts.hash_password, password, settings)
    async with db.transaction() as conn:
        row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM organiser_invites WHERE "
                              "token_hash = ?", (_hash(token),))
        assert row is not None
        state = status_of(dict(row))
        if state != "open":  # used or revoked meanwhile
            raise Conflict(refusal(state))
        if await fetch_value(conn, "SELECT 1 FROM organisers WHERE email = ?", (row["email"],)):
            raise Conflict(_("There is already an organiser with that email address."))
        now = times.now_text()
        organiser_id = await insert_returning_id(
            conn, "INSERT INTO organisers (email, password_hash, role, country, created_at,"
            " password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
            (row["email"], password_hash, row["role"], row["country"], now, now))
        await execute(conn, "UPDATE organiser_invites SET used_at = ?, organiser_id = ? "
                      "WHERE id = ?", (now, organiser_id, row["id"]))
        await audit.record(conn, organiser_id, "organiser.invite_used", "organiser_invite",
                           row["id"], {"used_at": None},
                           {"used_at": now, "organiser_id": organiser_id})
        session = await accounts.open_session(conn, organiser_id)
    return organiser_id, session


async def revoke(db: Database, invite_id: int, *, by: int | None = None) -> None:
    """Withdraws an open invite (its link stops working); NotFound. Revoking one that
    no longer works changes nothing."""
    async with db.transaction() as conn:
        row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM organiser_invites WHERE id = ?",
                              (invite_id,))
        if row is None:
            raise NotFound(_("There is no such invitation."))
        if status_of(dict(row)) != "open":
            return
        now = times.now_text()
        await execute(conn, "UPDATE organiser_invites SET revoked_at = ? WHERE id = ?",
                      (now, invite_id))
        await audit.record(conn, by, "organiser.invite_revoke", "organiser_invite", invite_id,
                           {"revoked_at": None}, {"revoked_at": now})


async def list_invites(db: Database) -> list[dict[str, Any]]:
    """Invites not yet used, newest first, each with its `status` (open, expired,
    revoked)."""
    rows = await db.fetch_all(f"SELECT {_COLUMNS} FROM organiser_invites WHERE used_at IS "
                              "NULL ORDER BY id DESC LIMIT 200")
    now = times.now_text()
    return [{**dict(r), "status": status_of(dict(r), now)} for r in rows]


__all__ = ["INVITE_LIFETIME", "accept", "create_invite", "find", "list_invites",
           "refusal", "revoke", "status_of"]
