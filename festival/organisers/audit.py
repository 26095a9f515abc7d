"""The audit trail: who changed what, when, with the row before and after.

`record` is called inside the transaction that makes the change, so a change and its
entry commit or roll back together: the trail can be trusted to be complete. Rows are
stored as JSON text (keys sorted) so an entry reads the same whatever wrote it.
Actions are '<entity>.<verb>', e.g. 'screening.update', 'venue.create'.

Entries about registrations carry no attendee's name or email (a walk-in's entry says
how many seats, not who): the trail outlives the retention period of personal data.
`erase_personal` blanks them in entries written before that rule, and any mention of
an address being forgotten (festival.privacy)."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from festival.core import times
from festival.core.errors import _
from festival.core.store import Database, execute, fetch_all

# Fields of a registration's snapshot that name the attendee.
PERSONAL_FIELDS = ("name", "email")
# What the entities are called on the audit page. Actions and fields are shown as
# recorded (`screening.move`, `starts_at`): identifiers, like keys.
ENTITY_NAMES = {"screening": _("Screening"), "venue": _("Venue"), "film": _("Film"),
                "guest": _("Debate guest"), "edition": _("Edition"),
                "organiser": _("Account"), "registration": _("Registration")}


def _json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


async def record(conn: aiosqlite.Connection, organiser_id: int | None, action: str,
                 entity: str, entity_id: int | None, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> None:
    """Writes one audit entry; call it inside the transaction that made the change."""
    await execute(conn, "INSERT INTO audit_log (at, organiser_id, action, entity, entity_id,"
                  " before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (times.now_text(), organiser_id, action, entity, entity_id,
                   _json(before), _json(after)))


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None
            ) -> dict[str, tuple[Any, Any]]:
    """The fields that differ: name -> (before, after)."""
    before, after = before or {}, after or {}
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)}


def entry_from_row(row: aiosqlite.Row) -> dict[str, Any]:
    entry = dict(row)
    entry["before"] = json.loads(entry["before_json"]) if entry["before_json"] else None
    entry["after"] = json.loads(entry["after_json"]) if entry["after_json"] else None
    entry["changes"] = changes(entry["before"], entry["after"])
    return entry


async def entries(db: Database, *, entity: str | None = None, entity_id: int | None = None,
                  limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """The latest entries first (with the organiser's email as `organiser_email`),
    optionally for one entity; `before_id` pages back."""
    sql = ("SELECT a.*, o.email AS organiser_email FROM audit_log a "
           "LEFT JOIN organisers o ON o.id = a.organiser_id WHERE 1 = 1")
    params: list[Any] = []
    if entity is not None:
        sql += " AND a.entity = ?"
        params.append(entity)
    if entity_id is not None:
        sql += " AND a.entity_id = ?"
        params.append(entity_id)
    if before_id is not None:
        sql += " AND a.id < ?"
        params.append(before_id)
    sql += " ORDER BY a.id DESC LIMIT ?"
    params.append(limit)
    return [entry_from_row(r) for r in await db.fetch_all(sql, params)]


def _scrub(value: Any, address: str | None, *, registration: bool) -> Any:
    """`value` (a decoded before/after) with the attendee's name and email blanked (in a
    registration's entry) and any text holding `address` (lower case) blanked."""
    if isinstance(value, dict):
        return {k: "" if registration and k in PERSONAL_FIELDS and v
                else _scrub(v, address, registration=registration) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, address, registration=registration) for v in value]
    if isinstance(value, str) and address and address in value.lower():
        return ""
    return value


async def erase_personal(conn: aiosqlite.Connection, *, registration_ids: list[int],
                         address: str | None = None) -> int:
    """Blanks attendees' names and emails in the entries about these registrations, and
    (with `address`, trimmed and lower case) every text holding that address in any
    entry; call it inside the transaction that erases them. Answers how many entries
    changed. Who did what, and when, stays."""
    rows = await fetch_all(
        conn, """SELECT id, entity, before_json, after_json FROM audit_log
                 WHERE entity = 'registration'
                   AND entity_id IN (SELECT value FROM json_each(?))""",
        (json.dumps(registration_ids),))
    if address:
        # SQLite's lower() folds ASCII only, which is all an address may hold.
        rows += await fetch_all(
            conn, """SELECT id, entity, before_json, after_json FROM audit_log
                     WHERE instr(lower(before_json), ?) OR instr(lower(after_json), ?)""",
            (address, address))
    changed: set[int] = set()
    for row in rows:
        if row["id"] in changed:
            continue
        texts = []
        for column in ("before_json", "after_json"):
            value = json.loads(row[column]) if row[column] else None
            texts.append(_json(_scrub(value, address,
                                      registration=row["entity"] == "registration")))
        if (texts[0], texts[1]) != (row["before_json"], row["after_json"]):
            await execute(conn, "UPDATE audit_log SET before_json = ?, after_json = ? "
                          "WHERE id = ?", (texts[0], texts[1], row["id"]))
            changed.add(row["id"])
    return len(changed)
