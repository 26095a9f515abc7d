"""What the festival holds about a person, and erasing it: `export_person`,
`forget_person`, `purge` (an edition's attendees, once its retention period is over) and
`erase_registration` (an attendee deleting one registration from its ticket page).

Where personal data lives: registrations (name, email, email_key, and the keys a
ticket's mails carry: token, confirm_code), attendees (email_key, with the secret of
their own page), the outbox (recipient, recipient_key, the message's bytes, a delivery
error that may quote the address), the audit trail (walk-in entries written before
they stopped naming people, festival.seats.door; entries about organiser accounts) and
organiser accounts (email, name, sessions) and invitations to become one (email).
docs/privacy.md says what is kept, for how
long, and the commands.

Choices a reader might question:
- Erasing is not deleting. A registration keeps its screening, seats, status and times,
  so the dashboard's figures (seats, check-ins, no-shows) stay as they were; it loses
  its name (''), email (''), email_key ('erased:<id>': unique, so the one-registration-
  per-email index holds, and it links the row to no other) and token (a fresh random
  one nobody knows: the old ticket link, feed and API answer 404) and its mailed
  confirmation code. An attendee row (their own page's secret) goes with the last
  registration of its address.
- Forgetting cancels the person's upcoming registrations and promotes the waitlist in
  the same transaction (festival.seats.registrations.promote_waitlist: the same order,
  the same mails to those promoted). It queues no 'cancelled' mail to the person: that
  mail would need the address being erased. Registrations of screenings that have
  started, or were checked in, are erased but not cancelled: what happened stays
  counted.
- Messages: unsent ones (pending, sending, failed) are deleted, as they could no longer
  be delivered; sent ones keep their metadata (kind, subject, times, Message-ID) with
  recipient '' and no bytes.
- The bytes leave the file, not only the rows: every connection runs with
  `secure_delete = ON` (festival.core.store), so SQLite zeroes the old row, index entry
  and overflow pages as it writes the new ones, and after each erasure `checkpoint()`
  copies the WAL into the main file and truncates it (the WAL still holds page images
  from before). The programme's search index holds no attendee or organiser data.
  On PostgreSQL, `checkpoint()` runs VACUUM instead, which frees but does not zero
  (docs/privacy.md says what that means).
- No VACUUM per erasure: with secure_delete on, free space holds zeros, not old rows,
  so rebuilding the whole file (seconds of the write lock for a large festival, and an
  attendee can trigger an erasure from their ticket page) would buy nothing. The one
  VACUUM runs when a database written before secure_delete is first opened by this
  version (festival.core.store.SECURE_DELETE_SINCE).
- An organiser account is a staff account whose id the audit trail and check-ins point
  to: `forget_person` reports it and leaves it, unless asked (`organiser=True`) to
  erase its email and name, end its sessions and disable its password, keeping the id.
- Per-client rate limits hold client IP addresses for their windows only
  (festival.core.limits prunes them); they name no address and are left to it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from festival.core import times
from festival.core.errors import Conflict, NotFound, ValidationError, _
from festival.core.store import (
    LIKE_ESCAPE,
    Connection,
    Database,
    Row,
    chunks,
    contains,
    execute,
    execute_count,
    execute_many,
    fetch_all,
    fetch_one,
    in_list,
)
from festival.core.text import email_key
from festival.organisers import audit
from festival.seats import registrations

ERASED_KEY = "erased:"  # email_key of an erased registration: 'erased:<id>'
ERASED_ORGANISER = "erased:organiser:"  # email of an erased organiser account
ERASED_INVITE = "erased:invite:"  # email of an erased organiser invitation
CHECKPOINT_WAIT = 5.0  # seconds: commands and the daily task
PAGE_CHECKPOINT_WAIT = 1.0  # seconds: an attendee waiting for their page


@dataclass(frozen=True)
class Counts:
    """What an erasure did."""

    registrations: int = 0     # registrations whose name, email and token were erased
    cancelled: int = 0         # of those, upcoming ones cancelled
    promoted: int = 0          # waiting registrations (of others) confirmed as a result
    messages: int = 0          # sent messages reduced to their metadata
    unsent: int = 0            # unsent messages deleted
    audit_entries: int = 0     # audit entries whose personal data was blanked
    organisers: int = 0        # organiser accounts erased
    invites: int = 0           # organiser invitations to the address erased (and revoked)
    organisers_kept: int = 0   # organiser accounts with the address, left as they were
    editions: tuple[str, ...] = ()  # editions purged (by key)
    checkpointed: bool = False  # the WAL was emptied afterwards: no old copy in it

    def __add__(self, other: Counts) -> Counts:
        values: dict[str, Any] = {f.name: getattr(self, f.name) + getattr(other, f.name)
                                  for f in fields(self) if f.name != "checkpointed"}
        return Counts(**values, checkpointed=self.checkpointed and other.checkpointed)

    @property
    def erased_anything(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self)
                   if f.name not in ("organisers_kept", "editions", "checkpointed"))

    def summary(self) -> str:
        """One line for the command line, e.g. '3 registrations erased (1 cancelled,
        2 promoted from the waitlist), 4 messages erased, 1 unsent deleted, ...'."""
        parts = [f"{self.registrations} registration{_s(self.registrations)} erased "
                 f"({self.cancelled} cancelled, {self.promoted} promoted from the waitlist)",
                 f"{self.messages} sent message{_s(self.messages)} reduced to metadata",
                 f"{self.unsent} unsent message{_s(self.unsent)} deleted",
                 f"{self.audit_entries} audit entr{'y' if self.audit_entries == 1 else 'ies'}"
                 " blanked"]
        if self.organisers:
            parts.append(f"{self.organisers} organiser account{_s(self.organisers)} erased")
        if self.invites:
            parts.append(f"{self.invites} invitation{_s(self.invites)} erased")
        if self.organisers_kept:
            parts.append(f"{self.organisers_kept} organiser account{_s(self.organisers_kept)}"
                         " kept (erase with --organiser)")
        if self.editions:
            parts.append("editions: " + ", ".join(self.editions))
        if not self.checkpointed:
            parts.append("the WAL could not be emptied now (a reader held it): "
                         "the daily task retries")
        return "; ".join(parts)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _address(email: Any) -> str:
    """The identity of an address (trimmed, lower case); ValidationError when empty.
    Not checked any further: an address stored under older rules must be findable."""
    key = email_key(email) if isinstance(email, str) else ""
    if not key:
        raise ValidationError(fields={"email": _("Please enter your email address.")})
    return key


# --- export --------------------------------------------------------------------------------

REGISTRATIONS_OF = """
SELECT r.id, r.name, r.email, r.seats, r.status, r.locale, r.walk_in, r.created_at,
       r.confirmed_at, r.email_confirmed_at, r.held_until, r.cancelled_at, r.cancel_reason,
       r.checked_in_at, r.updated_at,
       s.id AS screening_id, s.starts_at, s.ends_at, s.timezone, s.status AS screening_status,
       f.title AS film, v.name AS venue, v.city, v.country, e.key AS edition
FROM registrations r
JOIN screenings s ON s.id = r.screening_id
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id
JOIN editions e ON e.id = s.edition_id
WHERE r.email_key = ?
ORDER BY r.id
"""

# Metadata only: a message's bytes hold its ticket link, the key of a registration.
MESSAGES_OF = """
SELECT id, kind, registration_id, recipient, subject, message_id, status, created_at,
       sent_at, attempts
FROM outbox
WHERE registration_id IN (SELECT id FROM registrations WHERE email_key = :key)
   OR recipient_key = :key OR lower(trim(recipient)) = :key
ORDER BY id
"""

# :pattern is store.contains(key): a substring test PostgreSQL accepts too (no instr()).
AUDIT_OF = f"""
SELECT id, at, organiser_id, action, entity, entity_id, before_json, after_json
FROM audit_log
WHERE (entity = 'registration'
       AND entity_id IN (SELECT id FROM registrations WHERE email_key = :key))
   OR lower(before_json) LIKE :pattern {LIKE_ESCAPE}
   OR lower(after_json) LIKE :pattern {LIKE_ESCAPE}
   OR organiser_id = :organiser_id
ORDER BY id
"""


# Invitations to become an organiser (festival.organisers.invites), without the link's hash.
INVITES_OF = """
SELECT id, email, role, country, created_at, created_by, expires_at, used_at, revoked_at,
       organiser_id
FROM organiser_invites WHERE email = ? ORDER BY id
"""


async def export_person(db: Database, email: str, *, now: datetime | None = None
                        ) -> dict[str, Any]:
    """Everything held about the person with this address, as JSON-ready values: their
    registrations with their screenings, the messages sent or queued to them (metadata,
    not the bytes: those hold ticket links), the audit entries about their registrations,
    mentioning their address or made by their organiser account, and that account
    (without its password hash). Keys are left out (tickets' tokens and codes, their own
    page's secret): an export travels by mail, and a token is the key that cancels a
    ticket."""
    key = _address(email)
    async with db.reader() as conn:
        attendee = await fetch_one(
            conn, "SELECT email_key, created_at FROM attendees WHERE email_key = ?", (key,))
        organiser = await fetch_one(
            conn, """SELECT id, email, name, role, country, created_at, last_login_at,
                            disabled_at,
                            (SELECT COUNT(*) FROM sessions WHERE organiser_id = o.id)
                            AS sessions
                     FROM organisers o WHERE email = ?""", (key,))
        found = await fetch_all(conn, REGISTRATIONS_OF, (key,))
        messages = await fetch_all(conn, MESSAGES_OF, {"key": key})
        entries = await fetch_all(conn, AUDIT_OF, {
            "key": key, "pattern": contains(key),
            "organiser_id": organiser["id"] if organiser else None})
        invited = await fetch_all(conn, INVITES_OF, (key,))
    return {
        "email": key,
        "exported_at": times.moment(now),
        # Without its secret, the key of their own page: an export travels by mail.
        "attendee": dict(attendee) if attendee else None,
        "registrations": [_registration(row) for row in found],
        "messages": [dict(row) for row in messages],
        "audit_entries": [_entry(row) for row in entries],
        "organiser": dict(organiser) if organiser else None,
        "invites": [dict(row) for row in invited],
    }


def _registration(row: Row) -> dict[str, Any]:
    r = dict(row)
    screening_fields = ("screening_id", "starts_at", "ends_at", "timezone",
                        "screening_status", "film", "venue", "city", "country", "edition")
    screening = {k: r.pop(k) for k in screening_fields}
    screening["id"] = screening.pop("screening_id")
    screening["status"] = screening.pop("screening_status")
    r["walk_in"] = bool(r["walk_in"])
    r["screening"] = screening
    return r


def _entry(row: Row) -> dict[str, Any]:
    entry = dict(row)
    for column in ("before", "after"):
        text = entry.pop(f"{column}_json")
        entry[column] = json.loads(text) if text else None
    return entry


# --- erasing -------------------------------------------------------------------------------

async def _erase(conn: Connection, ids: list[int], *, now: datetime | None,
                 address: str | None = None, cancel_upcoming: bool = True) -> Counts:
    """Erases these registrations (see the module docstring), their messages (and, with
    `address`, every message to it) and their personal data in the audit trail; with
    `cancel_upcoming`, first cancels those not yet started nor checked in, promoting
    each screening's waitlist. Call it inside a transaction."""
    moment = times.moment(now)
    cancelled: list[Row] = []
    promoted: list[int] = []
    if cancel_upcoming:
        for chunk in chunks(ids):
            marks, params = in_list(chunk)
            cancelled += await fetch_all(
                conn, f"""SELECT r.id, r.screening_id FROM registrations r
                          JOIN screenings s ON s.id = r.screening_id
                          WHERE r.id IN {marks}
                            AND r.status != 'cancelled' AND r.checked_in_at IS NULL
                            AND s.starts_at > ?""", (*params, moment))
        for chunk in chunks([row["id"] for row in cancelled]):
            marks, params = in_list(chunk)
            await execute(
                conn, f"""UPDATE registrations SET status = 'cancelled',
                          cancel_reason = 'attendee', cancelled_at = ?, updated_at = ?,
                          changes = changes + 1 WHERE id IN {marks}""",
                (moment, moment, *params))
        for screening_id in sorted({row["screening_id"] for row in cancelled}):
            promoted += await registrations.promote_waitlist(conn, screening_id, now=now)
    # Messages: to these registrations, or (forgetting an address) to that address.
    # Found first (ids in chunks), then changed by outbox id: each message counted once.
    status_of: dict[int, str] = {}
    if address:
        for row in await fetch_all(
                conn, "SELECT id, status FROM outbox WHERE recipient_key = ?"
                      " OR lower(trim(recipient)) = ?", (address, address)):
            status_of[row["id"]] = row["status"]
    for chunk in chunks(ids):
        marks, params = in_list(chunk)
        for row in await fetch_all(
                conn, f"SELECT id, status FROM outbox WHERE registration_id IN {marks}",
                params):
            status_of[row["id"]] = row["status"]
    unsent = messages = 0
    for chunk in chunks(sorted(i for i, status in status_of.items() if status != "sent")):
        marks, params = in_list(chunk)
        unsent += await execute_count(
            conn, f"DELETE FROM outbox WHERE status != 'sent' AND id IN {marks}", params)
    for chunk in chunks(sorted(i for i, status in status_of.items() if status == "sent")):
        marks, params = in_list(chunk)
        messages += await execute_count(
            conn, f"""UPDATE outbox SET recipient = '', recipient_key = '', message = NULL,
                             last_error = NULL
                      WHERE status = 'sent' AND id IN {marks}""", params)
    entries = await audit.erase_personal(conn, registration_ids=ids, address=address)
    keys: set[str] = set()
    for chunk in chunks(ids):
        marks, params = in_list(chunk)
        keys.update(row["email_key"] for row in await fetch_all(
            conn, f"SELECT DISTINCT email_key FROM registrations WHERE id IN {marks}", params))
    # A token of 192 random bits that nobody was ever given: the old one stops working.
    await execute_many(
        conn, """UPDATE registrations SET name = '', email = '',
                 email_key = ? || CAST(id AS TEXT), token = ?, confirm_code = NULL,
                 updated_at = ? WHERE id = ?""",
        [(ERASED_KEY, secrets.token_hex(24), moment, i) for i in ids])
    # An attendee's own page goes with the last registration of their address.
    gone = sorted(keys | {address} if address else keys)
    for chunk in chunks(gone):
        marks, params = in_list(chunk)
        await execute(
            conn, f"""DELETE FROM attendees
                      WHERE email_key IN {marks}
                        AND NOT EXISTS (SELECT 1 FROM registrations r
                                        WHERE r.email_key = attendees.email_key)""",
            params)
    return Counts(registrations=len(ids), cancelled=len(cancelled), promoted=len(promoted),
                  messages=messages, unsent=unsent, audit_entries=entries)


async def forget_person(db: Database, email: str, *, now: datetime | None = None,
                        organiser: bool = False) -> Counts:
    """`festival privacy forget EMAIL`: erases the person with this address (trimmed,
    case-insensitive) from every table, in one transaction: their upcoming registrations
    are cancelled (the waitlist moves up), every registration of theirs loses its name,
    email and token, every message to them its recipient and bytes (unsent ones are
    deleted), every audit entry their name and address. An organiser account with the
    address is left and counted in `organisers_kept`, unless `organiser` is true: then
    its email and name are erased, its password disabled and its sessions ended. Then
    the WAL is checkpointed, so the bytes are gone from the files too."""
    key = _address(email)
    async with db.transaction() as conn:
        ids = [row["id"] for row in await fetch_all(
            conn, "SELECT id FROM registrations WHERE email_key = ? ORDER BY id", (key,))]
        counts = await _erase(conn, ids, now=now, address=key)
        # Invitations to the address: erased, and an open one's link stops working.
        invites = await execute_count(
            conn, "UPDATE organiser_invites SET email = ? || CAST(id AS TEXT), revoked_at = "
            "CASE WHEN used_at IS NULL THEN COALESCE(revoked_at, ?) ELSE revoked_at END "
            "WHERE email = ?", (ERASED_INVITE, times.moment(now), key))
        counts = replace(counts, invites=invites)
        accounts = [row["id"] for row in await fetch_all(
            conn, "SELECT id FROM organisers WHERE email = ?", (key,))]
        if organiser:
            for organiser_id in accounts:
                await execute(conn, "DELETE FROM sessions WHERE organiser_id = ?",
                              (organiser_id,))
                # Disabled, and an empty hash verifies no password either.
                await execute(conn, "UPDATE organisers SET email = ? || CAST(id AS TEXT), "
                              "name = '', password_hash = '', "
                              "disabled_at = COALESCE(disabled_at, ?) WHERE id = ?",
                              (ERASED_ORGANISER, times.moment(now), organiser_id))
            counts = replace(counts, organisers=len(accounts))
        else:
            counts = replace(counts, organisers_kept=len(accounts))
    return replace(counts, checkpointed=await db.checkpoint(wait=CHECKPOINT_WAIT))


async def erase_registration(db: Database, token: str, *, now: datetime | None = None
                             ) -> Counts:
    """An attendee deletes their registration from its ticket page: cancelled if it has
    not started and was not checked in (the waitlist moves up), then its name, email and
    token erased, its messages too, in one transaction; the ticket's link answers 404
    from then on. NotFound for an unknown token. Other registrations of the same address
    are left alone: each has its own ticket page."""
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        raise NotFound(_("There is no such registration."))
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT id FROM registrations WHERE token = ?", (token,))
        if row is None:
            raise NotFound(_("There is no such registration."))
        counts = await _erase(conn, [row["id"]], now=now)
    # Short: someone is waiting for the page. The daily task checkpoints again.
    return replace(counts, checkpointed=await db.checkpoint(wait=PAGE_CHECKPOINT_WAIT))


# --- purge ---------------------------------------------------------------------------------

# Editions over for `retention_days` (ended before :cutoff, every screening too) with
# registrations not yet erased.
DUE_EDITIONS = """
SELECT e.id, e.key FROM editions e
WHERE e.ends_on < substr(:cutoff, 1, 10)
  AND NOT EXISTS (SELECT 1 FROM screenings s WHERE s.edition_id = e.id
                  AND s.status != 'cancelled' AND s.ends_at > :cutoff)
  AND EXISTS (SELECT 1 FROM registrations r JOIN screenings s ON s.id = r.screening_id
              WHERE s.edition_id = e.id AND substr(r.email_key, 1, 7) != 'erased:')
ORDER BY e.ends_on, e.id
"""

NOT_ENDED = """
SELECT 1 FROM editions e WHERE e.id = :id
  AND (e.ends_on > substr(:now, 1, 10)
       OR EXISTS (SELECT 1 FROM screenings s WHERE s.edition_id = e.id
                  AND s.status != 'cancelled' AND s.ends_at > :now))
"""


async def purge(db: Database, *, retention_days: int, edition_key: str | None = None,
                now: datetime | None = None) -> Counts:
    """`festival privacy purge [--edition KEY]`: erases the attendees' personal data of
    every edition that ended more than `retention_days` ago (its last day and every
    screening), or of the edition `edition_key` at once, provided it has ended
    (NotFound, Conflict). Registrations keep their seats, status and check-in times, so
    the dashboard's figures stay the same. One transaction per edition; answers what was
    erased. Running it again erases nothing more."""
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) \
            or retention_days < 0:
        raise ValueError(f"retention_days must be a whole number of days, not {retention_days!r}")
    moment = times.moment(now)
    if edition_key is None:
        cutoff = times.utc_text(times.parse_utc(moment) - timedelta(days=retention_days))
        due = await db.fetch_all(DUE_EDITIONS, {"cutoff": cutoff})
    else:
        row = await db.fetch_one("SELECT id, key FROM editions WHERE key = ?", (edition_key,))
        if row is None:
            raise NotFound(_("There is no such edition."))
        due = [row]
    total = Counts(checkpointed=True)
    for edition in due:
        async with db.transaction() as conn:
            if edition_key is not None and await fetch_one(
                    conn, NOT_ENDED, {"id": edition["id"], "now": moment}):
                raise Conflict(_("This edition has not ended yet: its attendees' data is "
                                 "still in use."))
            ids = [row["id"] for row in await fetch_all(
                conn, """SELECT r.id FROM registrations r
                         JOIN screenings s ON s.id = r.screening_id
                         WHERE s.edition_id = ? AND substr(r.email_key, 1, 7) != 'erased:'
                         ORDER BY r.id""", (edition["id"],))]
            counts = await _erase(conn, ids, now=now, cancel_upcoming=False)
        total += replace(counts, editions=(edition["key"],), checkpointed=True)
    if total.erased_anything:
        total = replace(total, checkpointed=await db.checkpoint(wait=CHECKPOINT_WAIT))
    return total
