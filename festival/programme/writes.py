"""What every write to the programme shares: the loader (programme files) and the
organisers' edits (festival.programme.catalogue, festival.programme.screenings) write the
same tables by the same rules, so the columns, the statements and the rules live here
once.

Why rows are compared before writing: a screening's `updated_at` is its calendar DTSTAMP
and `sequence` its SEQUENCE. Writing an unchanged row must leave feeds byte-identical,
and a change attendees see must raise SEQUENCE so calendars update. A change to `notes`
alone is written quietly: notes are for organisers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from festival.core.errors import ValidationError, _
from festival.core.i18n import translate, translated
from festival.core.store import Connection, execute_many, fetch_all

# The stored columns of each table, notes last (see seen_by_attendees). A `_i18n`
# column holds the translations of the text column before it (migration 0010).
VENUE_COLUMNS = ("name", "city", "country", "timezone", "address", "capacity", "step_free",
                 "notes")
FILM_COLUMNS = ("title", "runtime_minutes", "synopsis", "director", "year", "languages",
                "title_i18n", "synopsis_i18n", "notes")
GUEST_COLUMNS = ("name", "role", "organisation", "bio", "listed", "role_i18n", "notes")
EDITION_COLUMNS = ("name", "starts_on", "ends_on", "notes")
SCREENING_COLUMNS = ("film_id", "venue_id", "starts_at", "ends_at", "timezone", "capacity",
                     "max_seats", "status", "language", "subtitles", "sign_interpretation",
                     "captioned_debate", "debate_title", "debate_description",
                     "debate_title_i18n", "debate_description_i18n", "notes")

SCREENING_INSERT = (  # edition_id, key, uid, SCREENING_COLUMNS, sequence, created_at, updated_at
    f"INSERT INTO screenings (edition_id, key, uid, {', '.join(SCREENING_COLUMNS)}, sequence, "
    f"created_at, updated_at) VALUES ({', '.join('?' * (len(SCREENING_COLUMNS) + 6))})")
SCREENING_UPDATE = (  # a change attendees see: SCREENING_COLUMNS, updated_at, id
    f"UPDATE screenings SET {', '.join(f'{c} = ?' for c in SCREENING_COLUMNS)}, "
    "sequence = sequence + 1, updated_at = ? WHERE id = ?")
NOTES_UPDATE = "UPDATE screenings SET notes = ? WHERE id = ?"  # a change they do not see


def row_insert(table: str, columns: tuple[str, ...]) -> str:
    """The INSERT of a venue, film or guest: its key, `columns`, then updated_at."""
    return (f"INSERT INTO {table} (key, {', '.join(columns)}, updated_at) "
            f"VALUES ({', '.join('?' * (len(columns) + 2))})")


def row_update(table: str, columns: tuple[str, ...]) -> str:
    """The UPDATE of a venue, film or guest: `columns`, then updated_at, then its id."""
    sets = ", ".join(f"{c} = ?" for c in (*columns, "updated_at"))
    return f"UPDATE {table} SET {sets} WHERE id = ?"


def moved(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a screening changed place or time."""
    return any(old[c] != new[c] for c in ("venue_id", "starts_at", "ends_at"))


def mail_kind(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What registrants are told: a cancellation, or a move (also of a screening that
    comes back from being cancelled). Other changes reach them through their calendar."""
    if new["status"] == "cancelled":
        return "screening_cancelled" if old["status"] != "cancelled" else None
    if new["status"] == "scheduled" and (old["status"] == "cancelled" or moved(old, new)):
        return "screening_changed"
    return None


def seen_by_attendees(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """Whether a change of stored values (in *_COLUMNS order) shows in pages and
    calendars: notes, the last column, are for organisers."""
    return before[:-1] != after[:-1]


async def bump_dependants(conn: Connection, changed: set[tuple[str, int]],
                          touched: set[int], now: str) -> None:
    """A venue's new address or a guest's new name changes what attendees see of every
    screening there (LOCATION, DESCRIPTION), also of screenings the file did not list."""
    if not changed:
        return
    column = {"venues": "venue_id", "films": "film_id"}
    ids: set[int] = set()
    for kind, row_id in changed:
        if kind == "guests":
            sql = "SELECT screening_id FROM screening_guests WHERE guest_id = ?"
        else:
            sql = f"SELECT id FROM screenings WHERE {column[kind]} = ?"
        ids.update(r[0] for r in await fetch_all(conn, sql, (row_id,)))
    await execute_many(conn, "UPDATE screenings SET sequence = sequence + 1, updated_at = ? "
                       "WHERE id = ?", [(now, i) for i in sorted(ids - touched)])


async def write_guest_lists(conn: Connection, lists: dict[int, list[int]]) -> None:
    """Replaces the debate guests of each screening (id -> guest ids, in order)."""
    await execute_many(conn, "DELETE FROM screening_guests WHERE screening_id = ?",
                       [(i,) for i in lists])
    await execute_many(conn, "INSERT INTO screening_guests (screening_id, guest_id, position)"
                       " VALUES (?, ?, ?)",
                       [(sid, gid, pos) for sid, gids in lists.items()
                        for pos, gid in enumerate(gids)])


@dataclass
class Saved:
    """What a change did: the row's id, the audit action, who was told, who promoted."""

    id: int
    action: str
    notified: int = 0
    promoted: list[int] = field(default_factory=list)


def refused(errors: dict[str, str]) -> ValidationError:
    """The error for a form or API body, in the reader's language; the file checks'
    terse 'required' reads better beside a form field as a sentence."""
    sentence = translated(_("Please fill this in."))
    return ValidationError(fields={k: sentence if v == "required" else translate(v)
                                   for k, v in errors.items()})


async def unique_key(conn: Connection, table: str, base: str,
                     edition_id: int | None = None) -> str:
    """`base`, or `base-2`, `base-3`, ...: the first not taken (within the edition)."""
    where = " AND edition_id = ?" if edition_id is not None else ""
    extra = (edition_id,) if edition_id is not None else ()
    rows = await fetch_all(conn, f"SELECT key FROM {table} WHERE (key = ? OR key LIKE ?)"
                           + where, (base, base + "-%", *extra))
    taken = {r["key"] for r in rows}
    n = 1
    while (key := base if n == 1 else f"{base}-{n}") in taken:
        n += 1
    return key
