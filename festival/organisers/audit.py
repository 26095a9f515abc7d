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
import re
from typing import Any

from festival.core import times
from festival.core.errors import _
from festival.core.i18n import translations_of
from festival.core.store import (
    LIKE_ESCAPE,
    Connection,
    Database,
    Row,
    chunks,
    contains,
    execute,
    fetch_all,
    in_list,
)

# Fields of a registration's snapshot that name the attendee.
PERSONAL_FIELDS = ("name", "email")
# What the entities are called on the audit page.
ENTITY_NAMES = {"screening": _("Screening"), "venue": _("Venue"), "film": _("Film"),
                "guest": _("Debate guest"), "edition": _("Edition"),
                "organiser": _("Account"), "registration": _("Registration")}


# What actions, fields and some stored values are called on the audit page (msgids,
# translated when shown); an action or field not named here reads as its words
# ('poster_remove' -> 'poster remove').
ACTION_NAMES = {
    "screening.create": _("Screening created"), "screening.update": _("Screening changed"),
    "screening.publish": _("Screening published"),
    "screening.cancel": _("Screening cancelled"),
    "screening.reinstate": _("Screening put back on the programme"),
    "screening.unpublish": _("Screening back to draft"), "screening.move": _("Screening moved"),
    "screening.delete": _("Screening deleted"),
    "venue.create": _("Venue created"), "venue.update": _("Venue changed"),
    "venue.delete": _("Venue deleted"),
    "film.create": _("Film created"), "film.update": _("Film changed"),
    "film.delete": _("Film deleted"), "film.poster": _("Poster uploaded"),
    "film.poster_remove": _("Poster removed"),
    "guest.create": _("Debate guest created"), "guest.update": _("Debate guest changed"),
    "guest.delete": _("Debate guest deleted"),
    "registration.check_in": _("Checked in at the door"),
    "registration.walk_in": _("Walk-in admitted at the door"),
    "registration.cancel": _("Registration cancelled by organisers"),
    "registration.seats": _("Seats of a registration changed"),
    "registration.move": _("Registration moved to another screening"),
    "registration.resend": _("Ticket mail sent again"),
    "screening.message": _("Message sent to registrants"),
    "organiser.create": _("Account created"), "organiser.disable": _("Account disabled"),
    "organiser.enable": _("Account enabled"), "organiser.password": _("Password set"),
    "organiser.unlock": _("Account unlocked"),
    "organiser.totp_on": _("Two-step sign-in turned on"),
    "organiser.totp_off": _("Two-step sign-in turned off"),
    "edition.export_attendees": _("Attendee list exported"),
    "edition.confirm_email": _("Address confirmation for new registrations changed"),
}
FIELD_NAMES = {
    "film_id": _("Film"), "venue_id": _("Venue"), "screening_id": _("Screening"),
    "starts_at": _("Starts"), "ends_at": _("Ends"), "capacity": _("Capacity"),
    "max_seats": _("Seats per registration"), "status": _("Status"),
    "language": _("Language of the debate"), "subtitles": _("Subtitles"),
    "sign_interpretation": _("Sign language interpretation"),
    "captioned_debate": _("Captioned debate"), "debate_title": _("Debate title"),
    "debate_description": _("About the debate"), "guest_ids": _("Debate guests"),
    "notes": _("Notes for organisers"), "title": _("Title"), "synopsis": _("Synopsis"),
    "name": _("Name"), "email": _("Email"), "city": _("City"), "country": _("Country"),
    "timezone": _("Time zone"), "address": _("Address"), "seats": _("Seats"),
    "checked_in_at": _("Checked in"), "key": _("Key"), "role": _("Role"),
    "listed": _("Listed publicly"), "organisation": _("Organisation"),
    "disabled": _("Disabled"), "director": _("Director"), "year": _("Year"),
    "runtime_minutes": _("Running time (minutes)"), "languages": _("Languages"),
    "walk_in": _("Walk-in"), "confirm_email": _("Confirm addresses"),
    "sequence": _("Calendar version"), "updated_at": _("Last changed"),
    "created_at": _("Created"), "hold_minutes": _("Hold time (minutes)"),
    "checked_in_seats": _("Seats arrived"), "cancel_reason": _("Why cancelled"),
    "content_type": _("File type"), "width": _("Width (pixels)"),
    "height": _("Height (pixels)"), "size": _("Size (bytes)"), "etag": _("Fingerprint"),
    "subject": _("Subject"), "recipients": _("Recipients"), "kind": _("Mail"),
    "uid": _("Calendar ID"), "edition_id": _("Edition"), "screening_count": _("Screenings"),
}
VALUE_NAMES = {
    "status": {"draft": _("Draft (not public)"), "scheduled": _("Published"),
               "cancelled": _("Cancelled"), "confirmed": _("Confirmed"),
               "waitlisted": _("On the waitlist"), "held": _("Held"),
               "expired": _("Expired")},
}
# Fields holding the id of another row: the page names the row (where it still exists).
REFERENCES = {"film_id": "films", "venue_id": "venues", "guest_ids": "guests"}


def action_name(action: str) -> str:
    """The msgid naming an action ('registration.walk_in' -> 'Walk-in admitted at the
    door'), or its words for one not named."""
    return ACTION_NAMES.get(action) or action.replace(".", ": ").replace("_", " ")


def field_name(field: str) -> str:
    return FIELD_NAMES.get(field) or field.removesuffix("_i18n").replace("_", " ")


def shown(field: str, value: Any, names: dict[str, dict[int, str]]) -> dict[str, Any]:
    """How a recorded value reads on the page: {'kind': 'none' | 'yes' | 'no' | 'label'
    (a msgid to translate) | 'time' (a UTC datetime) | 'text', 'value': ...}. Ids are
    named from `names` ({'films': {31: 'Wallah'}}), translations listed, JSON decoded;
    escaping is the template's."""
    if value is None or value == "" or value == [] or value == {}:
        return {"kind": "none", "value": None}
    if field.endswith("_i18n"):
        found = value if isinstance(value, dict) else translations_of(value)
        return {"kind": "text", "value": "; ".join(f"{k}: {v}" for k, v in
                                                   sorted(found.items()))} \
            if found else {"kind": "none", "value": None}
    if isinstance(value, bool) or (field in BOOLEAN_FIELDS and value in (0, 1)):
        return {"kind": "yes" if value else "no", "value": None}
    if field in VALUE_NAMES and value in VALUE_NAMES[field]:
        return {"kind": "label", "value": VALUE_NAMES[field][value]}
    if field in REFERENCES:
        table = names.get(REFERENCES[field], {})
        ids = value if isinstance(value, list) else [value]
        return {"kind": "text", "value": ", ".join(
            table.get(i) or f"#{i}" for i in ids)}
    if isinstance(value, str) and UTC_TEXT.fullmatch(value):
        return {"kind": "time", "value": times.parse_utc(value)}
    if isinstance(value, list | tuple):
        return {"kind": "text", "value": ", ".join(str(v) for v in value)}
    if isinstance(value, dict):
        return {"kind": "text", "value": "; ".join(f"{k}: {v}" for k, v in value.items())}
    return {"kind": "text", "value": str(value)}


BOOLEAN_FIELDS = {"subtitles", "sign_interpretation", "captioned_debate", "listed",
                  "disabled", "walk_in", "confirm_email"}
UTC_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z")


def referenced_ids(entries: list[dict[str, Any]]) -> dict[str, set[int]]:
    """The ids each table must name for these entries' changes."""
    wanted: dict[str, set[int]] = {table: set() for table in REFERENCES.values()}
    for entry in entries:
        for field, pair in entry["changes"].items():
            if field in REFERENCES:
                for value in pair:
                    for i in value if isinstance(value, list) else [value]:
                        if isinstance(i, int):
                            wanted[REFERENCES[field]].add(i)
    return wanted


def readable(entry: dict[str, Any], names: dict[str, dict[int, str]]) -> dict[str, Any]:
    """An entry as the page shows it: `action_name` and `rows` of its changes, each
    {'field', 'label', 'before', 'after'} with values as `shown`."""
    return {**entry, "action_name": action_name(entry["action"]),
            "at_time": times.parse_utc(entry["at"]),
            "rows": [{"field": field, "label": field_name(field),
                      "before": shown(field, pair[0], names),
                      "after": shown(field, pair[1], names)}
                     for field, pair in entry["changes"].items()]}


async def readable_entries(db: Database, entries_: list[dict[str, Any]]
                           ) -> list[dict[str, Any]]:
    """`entries` as `readable` shows them, with the films, venues and guests they refer
    to named (one query a table)."""
    names: dict[str, dict[int, str]] = {}
    for table, ids in referenced_ids(entries_).items():
        column = "title" if table == "films" else "name"
        names[table] = {}
        for chunk in chunks(sorted(ids)):
            marks, params = in_list(chunk)
            rows = await db.fetch_all(f"SELECT id, {column} FROM {table} WHERE id IN {marks}",
                                      params)
            names[table].update({r[0]: r[1] for r in rows})
    return [readable(e, names) for e in entries_]


def _json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


async def record(conn: Connection, organiser_id: int | None, action: str,
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


def entry_from_row(row: Row) -> dict[str, Any]:
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


async def erase_personal(conn: Connection, *, registration_ids: list[int],
                         address: str | None = None) -> int:
    """Blanks attendees' names and emails in the entries about these registrations, and
    (with `address`, trimmed and lower case) every text holding that address in any
    entry; call it inside the transaction that erases them. Answers how many entries
    changed. Who did what, and when, stays."""
    rows = []
    for chunk in chunks(registration_ids):
        marks, params = in_list(chunk)
        rows += await fetch_all(
            conn, f"""SELECT id, entity, before_json, after_json FROM audit_log
                      WHERE entity = 'registration' AND entity_id IN {marks}""", params)
    if address:
        # SQLite's lower() folds ASCII only, which is all an address may hold. A substring
        # test as LIKE (not SQLite's instr(), which PostgreSQL lacks): see store.contains.
        rows += await fetch_all(
            conn, f"""SELECT id, entity, before_json, after_json FROM audit_log
                      WHERE lower(before_json) LIKE ? {LIKE_ESCAPE}
                         OR lower(after_json) LIKE ? {LIKE_ESCAPE}""",
            (contains(address), contains(address)))
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
