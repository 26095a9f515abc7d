"""A second factor for organisers: time-based one-time codes (TOTP, RFC 6238; the
authenticator apps' 6 digits every 30 seconds), with pyotp.

Choices a reader might question:
- The secret (160 random bits, base32) is kept on the server in `organisers`, as the
  apps keep it. It is not encrypted: FESTIVAL_SECRET_KEY may be random per start, and a
  key that changes would turn every organiser's second factor off.
- Setting it up: a new secret waits in `totp_pending` until the organiser types a code
  the app computed from it; only then is it `totp_secret` (the factor is on). Turning it
  off needs a current code; an admin (the page, `festival organiser reset-2fa`) clears it.
- A code is accepted from the step before to the step after now (clocks drift), and
  never twice: `totp_last_step` holds the step of the last accepted code, and only a
  later step is accepted after it.
- Signing in: a right password on an account with the factor gives a challenge (a
  random token for a cookie, only its SHA-256 kept, good for CHALLENGE_LIFETIME), not a
  session. The code step counts like the password step: per client (the `sign_in`
  limit on the route), per account and client (festival.organisers.accounts' locks),
  and per challenge (after CHALLENGE_TRIES wrong codes it is gone and the password is
  asked again). The session is created only once the code is right.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import timedelta
from typing import Any

import pyotp

from festival.core import limits, times
from festival.core.errors import Conflict, FestivalError, _
from festival.core.settings import Settings
from festival.core.store import Connection, Database, execute, fetch_one, fetch_value
from festival.organisers import accounts, audit

log = logging.getLogger("festival.auth")

ISSUER = "Global Migration Film Festival"
VALID_WINDOW = 1                 # steps either side of now
CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_TRIES = 5
CHALLENGE_COOKIE = "festival_sign_in"
_CODE = re.compile(r"[0-9]{6}")  # ASCII only: compare_digest refuses other digits


class CodeRefused(FestivalError):
    """A wrong, old or already used code (one message for each)."""

    status = 401
    code = "code_refused"
    message = _("That code is not right. Enter the 6-digit code your app shows now.")


class ChallengeGone(FestivalError):
    """No (or an expired) sign-in in progress: the password is asked again."""

    status = 401
    code = "challenge_gone"
    message = _("Your sign-in took too long or had too many wrong codes. Please sign in "
                "again.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI the apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, *, after: int | None = None) -> int | None:
    """The time step whose code is `code`, within VALID_WINDOW of now and later than
    `after`; None when there is none."""
    code = (code or "").replace(" ", "").strip()
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(times.utc_now())
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if (after is None or step > after) and hmac.compare_digest(
                totp.generate_otp(step), code):
            return step
    return None


# --- setting it up and turning it off ------------------------------------------------------

async def state(db: Database, organiser_id: int) -> dict[str, Any]:
    """{enabled, enabled_at, pending}: pending is the secret being set up (a new one is
    made and kept when there is none and the factor is off)."""
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT email, totp_secret, totp_pending, totp_enabled_at "
                              "FROM organisers WHERE id = ?", (organiser_id,))
        assert row is not None
        pending = row["totp_pending"]
        if not row["totp_secret"] and not pending:
            pending = new_secret()
            await execute(conn, "UPDATE organisers SET totp_pending = ? WHERE id = ?",
                          (pending, organiser_id))
    return {"enabled": bool(row["totp_secret"]), "enabled_at": row["totp_enabled_at"],
            "pending": None if row["totp_secret"] else pending, "email": row["email"]}


async def enable(db: Database, organiser_id: int, code: str) -> None:
    """Turns the factor on when `code` is right for the pending secret; CodeRefused."""
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT totp_secret, totp_pending FROM organisers "
                              "WHERE id = ?", (organiser_id,))
        assert row is not None
        if row["totp_secret"]:
            raise Conflict(_("Two-step sign-in is already on."))
        step = matching_step(row["totp_pending"] or "", code) if row["totp_pending"] else None
        if step is None:
            raise CodeRefused()
        now = times.now_text()
        await execute(conn, "UPDATE organisers SET totp_secret = totp_pending, totp_pending "
                      "= NULL, totp_last_step = ?, totp_enabled_at = ? WHERE id = ?",
                      (step, now, organiser_id))
        await audit.record(conn, organiser_id, "organiser.totp_on", "organiser",
                           organiser_id, {"totp_enabled_at": None}, {"totp_enabled_at": now})


async def disable(db: Database, organiser_id: int, code: str) -> None:
    """Turns the factor off when `code` is a current, unused one; CodeRefused."""
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT totp_secret, totp_last_step, totp_enabled_at "
                              "FROM organisers WHERE id = ?", (organiser_id,))
        assert row is not None
        if not row["totp_secret"]:
            return
        if matching_step(row["totp_secret"], code, after=row["totp_last_step"]) is None:
            raise CodeRefused()
        await _clear(conn, organiser_id, row["totp_enabled_at"], by=organiser_id)


async def reset(db: Database, account: int | str, *, by: int | None = None
                ) -> dict[str, Any]:
    """An admin (or the command line) turns an account's factor off; answers the
    account. Doing it when it is off changes nothing and is not audited."""
    async with db.transaction() as conn:
        row = await accounts._find(conn, account)
        if row["totp_enabled_at"] is not None or await fetch_value(
                conn, "SELECT totp_pending IS NOT NULL FROM organisers WHERE id = ?",
                (row["id"],)):
            await _clear(conn, row["id"], row["totp_enabled_at"], by=by)
        row["totp_enabled_at"] = None
        return row


async def _clear(conn: Connection, organiser_id: int, enabled_at: str | None, *,
                 by: int | None) -> None:
    await execute(conn, "UPDATE organisers SET totp_secret = NULL, totp_pending = NULL, "
                  "totp_last_step = NULL, totp_enabled_at = NULL WHERE id = ?",
                  (organiser_id,))
    await execute(conn, "DELETE FROM sign_in_challenges WHERE organiser_id = ?",
                  (organiser_id,))
    if enabled_at is not None:
        await audit.record(conn, by, "organiser.totp_off", "organiser", organiser_id,
                           {"totp_enabled_at": enabled_at}, {"totp_enabled_at": None})


# --- signing in with a code ----------------------------------------------------------------

async def start_challenge(db: Database, organiser_id: int, client: str, *,
                          slot: int | None) -> str:
    """After a right password: a challenge token for the code step. The password's
    failure slot is given back (it was right); the account's locks stay."""
    token = accounts.new_token()
    now = times.utc_now()
    async with db.transaction() as conn:
        await execute(conn, "DELETE FROM sign_in_challenges WHERE expires_at <= ?",
                      (times.utc_text(now),))
        await execute(conn, "INSERT INTO sign_in_challenges (token_hash, organiser_id, "
                      "client, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                      (_hash(token), organiser_id, client, times.utc_text(now),
                       times.utc_text(now + CHALLENGE_LIFETIME)))
        await limits.release(conn, slot)
    return token


async def challenge_exists(db: Database, token: str | None) -> bool:
    return bool(token) and bool(await db.fetch_one(
        "SELECT 1 FROM sign_in_challenges WHERE token_hash = ? AND expires_at > ?",
        (_hash(token or ""), times.now_text())))


async def sign_in_with_code(db: Database, challenge: str | None, code: str, *,
                            settings: Settings, client_ip: str) -> str:
    """The code step of a sign-in: answers a new session token. ChallengeGone (sign in
    again), CodeRefused, SignInLocked (this client on this account), RateLimited."""
    row = None
    if challenge:
        row = await db.fetch_one(
            "SELECT c.organiser_id, c.client, o.totp_secret, o.totp_last_step, o.disabled_at "
            "FROM sign_in_challenges c JOIN organisers o ON o.id = c.organiser_id "
            "WHERE c.token_hash = ? AND c.expires_at > ?", (_hash(challenge), times.now_text()))
    if row is None or not row["totp_secret"] or row["disabled_at"]:
        raise ChallengeGone()
    account = f"organiser:{row['organiser_id']}"
    locked = await accounts._locked_until(db, account, client_ip)
    if locked is not None:
        raise accounts.SignInLocked(locked)
    slot = None
    if settings.rate_limits:
        slot = await limits.take(db, limits.SIGN_IN_FAILURES.name, client_ip)
    step = matching_step(row["totp_secret"], code, after=row["totp_last_step"])
    if step is None:
        async with db.transaction() as conn:
            await execute(conn, "UPDATE sign_in_challenges SET failures = failures + 1 "
                          "WHERE token_hash = ?", (_hash(challenge or ""),))
            await execute(conn, "DELETE FROM sign_in_challenges WHERE token_hash = ? AND "
                          "failures >= ?", (_hash(challenge or ""), CHALLENGE_TRIES))
        failures, until = await accounts._count_failure(db, account, client_ip)
        log.warning("wrong code for organiser %s from %s (%d in a row from there)",
                    row["organiser_id"], client_ip, failures)
        if until:
            raise accounts.SignInLocked(until)
        raise CodeRefused()
    async with db.transaction() as conn:
        # The step is claimed in the same statement that checks it: two requests with
        # one code cannot both pass.
        claimed = await fetch_one(
            conn, "UPDATE organisers SET totp_last_step = ? WHERE id = ? AND "
            "(totp_last_step IS NULL OR totp_last_step < ?) RETURNING id",
            (step, row["organiser_id"], step))
        if not claimed:
            raise CodeRefused()
        await execute(conn, "DELETE FROM sign_in_challenges WHERE token_hash = ?",
                      (_hash(challenge or ""),))
        await execute(conn, "DELETE FROM sign_in_locks WHERE account = ? AND client = ?",
                      (account, client_ip))
        await limits.release(conn, slot)
        token = await accounts.open_session(conn, row["organiser_id"])
    log.info("organiser %s signed in with a code from %s", row["organiser_id"], client_ip)
    return token
