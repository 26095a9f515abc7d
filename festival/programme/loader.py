"""Programme files into the database (`seed.json`, `festival load`): the file is checked
whole (festival.programme.file), then imported in one transaction.

Why the check runs inside the write transaction: it sees the database as it is then, so
the double-booking check guards the very write it allows, and a bad file writes nothing.

Why rows are compared before writing: a screening's `updated_at` is its calendar DTSTAMP
and `sequence` its SEQUENCE. Re-importing an unchanged file must leave feeds
byte-identical, and a change attendees see must raise SEQUENCE so calendars update. A
change to `notes` alone is written quietly: notes are for organisers.

The organiser forms write the same tables by the same rules: the SQL and the rules live
once, in festival.programme.writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from festival.core import times
from festival.core.errors import ValidationError
from festival.core.store import (
    Connection,
    Database,
    execute,
    execute_many,
    fetch_all,
    fetch_one,
    insert_returning_id,
)
from festival.programme.file import (
    SINGULAR,
    Booking,
    Existing,
    Programme,
    check_programme,
    screening_uid,
)
from festival.programme.writes import (
    EDITION_COLUMNS,
    FILM_COLUMNS,
    GUEST_COLUMNS,
    NOTES_UPDATE,
    SCREENING_COLUMNS,
    SCREENING_INSERT,
    SCREENING_UPDATE,
    VENUE_COLUMNS,
    bump_dependants,
    mail_kind,
    row_insert,
    row_update,
    seen_by_attendees,
    write_guest_lists,
)
from festival.seats import registrations

__all__ = ["ImportSummary", "import_programme", "load_existing"]

Progress = Callable[[int, int], None]
KINDS = ("venues", "films", "guests", "screenings")
CHUNK = 1000


@dataclass
class ImportSummary:
    edition_key: str
    edition_id: int = 0
    edition: str = "unchanged"  # added, updated or unchanged
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    notified: int = 0  # registrants told of a moved or cancelled screening
    promoted: int = 0  # waiting registrations confirmed by a higher capacity

    def count(self, kind: str, outcome: str) -> None:
        getattr(self, outcome)[kind] += 1

    def __str__(self) -> str:
        parts = [_part(self.added, "added"), _part(self.updated, "updated"),
                 _part(self.unchanged, "unchanged")]
        if self.notified:
            parts.append(f"{self.notified} registrant{'s' if self.notified != 1 else ''} "
                         "to be told of a change")
        if self.promoted:
            parts.append(f"{self.promoted} promoted from the waitlist")
        return f"{self.edition_key}: " + "; ".join(parts)


def _part(counts: dict[str, int], label: str) -> str:
    items = [f"{n} {kind if n != 1 else SINGULAR[kind]}" for kind, n in counts.items() if n]
    return f"{', '.join(items)} {label}" if items else f"0 {label}"


# --- reading what is there ---------------------------------------------------------------

async def load_existing(conn: Connection, edition_key: str | None) -> Existing:
    """The database's venues, films, guests, the edition's screenings (with their guest
    ids) and every screening occupying a venue: read once, compared in memory."""
    existing = Existing()
    for kind in ("venues", "films", "guests"):
        rows = await fetch_all(conn, f"SELECT * FROM {kind}")
        setattr(existing, kind, {r["key"]: dict(r) for r in rows})
    if edition_key is not None:
        row = await fetch_one(conn, "SELECT * FROM editions WHERE key = ?", (edition_key,))
        existing.edition = None if row is None else dict(row)
    if existing.edition is not None:
        await _load_screenings(conn, existing, existing.edition["id"])
    await _load_bookings(conn, existing)
    return existing


async def _load_screenings(conn: Connection, existing: Existing, edition_id: int
                           ) -> None:
    rows = await fetch_all(conn, """
        SELECT s.*, (SELECT COALESCE(SUM(r.seats), 0) FROM registrations r
                     WHERE r.screening_id = s.id
                       AND r.status IN ('confirmed', 'held')) AS confirmed_seats,
               (SELECT COUNT(*) FROM registrations r
                WHERE r.screening_id = s.id AND r.status != 'cancelled') AS registered
        FROM screenings s WHERE s.edition_id = ?""", (edition_id,))
    by_id = {}
    for row in rows:
        screening = dict(row) | {"guest_ids": []}
        existing.screenings[row["key"]] = screening
        by_id[row["id"]] = screening
    guests = await fetch_all(conn, """
        SELECT sg.screening_id, sg.guest_id FROM screening_guests sg
        JOIN screenings s ON s.id = sg.screening_id
        WHERE s.edition_id = ? ORDER BY sg.screening_id, sg.position, sg.guest_id""",
        (edition_id,))
    for row in guests:
        by_id[row["screening_id"]]["guest_ids"].append(row["guest_id"])


async def _load_bookings(conn: Connection, existing: Existing) -> None:
    rows = await fetch_all(conn, """
        SELECT e.key AS edition_key, s.key, v.key AS venue_key, s.starts_at, s.ends_at
        FROM screenings s JOIN venues v ON v.id = s.venue_id
        JOIN editions e ON e.id = s.edition_id WHERE s.status != 'cancelled'""")
    existing.bookings = [
        Booking(r["venue_key"], times.parse_utc(r["starts_at"]), times.parse_utc(r["ends_at"]),
                r["edition_key"], r["key"], None)
        for r in rows]


# --- writing --------------------------------------------------------------------------------

async def import_programme(db: Database, data: Any, *, progress: Progress | None = None,
                           changeover_minutes: int = 0) -> ImportSummary:
    """Validates `data` whole (ValidationError(fields=...) and nothing written when it is
    bad), then writes it in one transaction, updating rows by key."""
    edition = data.get("edition") if isinstance(data, dict) else None
    edition_key = edition.get("key") if isinstance(edition, dict) else None
    async with db.transaction() as conn:
        existing = await load_existing(conn, edition_key if isinstance(edition_key, str) else None)
        programme, errors = check_programme(data, existing,
                                            changeover_minutes=changeover_minutes)
        if errors or programme is None:
            count = len(errors)
            raise ValidationError(
                f"The programme file has {count} error{'s' if count != 1 else ''}; "
                "nothing was imported.", fields=errors)
        return await _write(conn, programme, existing, progress)


async def _write(conn: Connection, programme: Programme, existing: Existing,
                 progress: Progress | None) -> ImportSummary:
    now = times.now_text()
    summary = ImportSummary(programme.edition["key"])
    summary.edition_id = await _write_edition(conn, programme.edition, existing.edition, now,
                                              summary)
    changed: set[tuple[str, int]] = set()  # (kind, id) of rows attendees see differently
    ids: dict[str, dict[str, int]] = {}
    for kind, columns, items in (("venues", VENUE_COLUMNS, programme.venues),
                                 ("films", FILM_COLUMNS, programme.films),
                                 ("guests", GUEST_COLUMNS, programme.guests)):
        ids[kind] = await _write_rows(conn, kind, columns, items, getattr(existing, kind), now,
                                      summary, changed)
    writer = _ScreeningWriter(conn, summary, existing, ids, now, progress)
    touched = await writer.write(programme.screenings)
    await bump_dependants(conn, changed, touched, now)
    for screening_id, kind in writer.notices:
        summary.notified += await registrations.notify_registrants(conn, screening_id, kind)
    for screening_id in writer.may_promote:
        summary.promoted += len(await registrations.promote_waitlist(conn, screening_id))
    return summary


async def _write_edition(conn: Connection, edition: dict[str, Any],
                         old: dict[str, Any] | None, now: str, summary: ImportSummary) -> int:
    values = tuple(edition[c] for c in EDITION_COLUMNS)
    if old is None:
        summary.edition = "added"
        return await insert_returning_id(
            conn, "INSERT INTO editions (key, name, starts_on, ends_on, notes, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (edition["key"], *values, now))
    if values != tuple(old[c] for c in EDITION_COLUMNS):
        summary.edition = "updated"
        await execute(conn, "UPDATE editions SET name = ?, starts_on = ?, ends_on = ?, notes = ?,"
                      " updated_at = ? WHERE id = ?", (*values, now, old["id"]))
    return int(old["id"])


async def _write_rows(conn: Connection, kind: str, columns: tuple[str, ...],
                      items: list[dict[str, Any]], old_rows: dict[str, dict[str, Any]],
                      now: str, summary: ImportSummary, changed: set[tuple[str, int]]
                      ) -> dict[str, int]:
    """Inserts new venues/films/guests and updates changed ones; answers key -> id for all
    rows of the table (files may refer to rows an earlier file brought)."""
    inserts, updates = [], []
    for item in items:
        values = tuple(item[c] for c in columns)
        old = old_rows.get(item["key"])
        if old is None:
            inserts.append((item["key"], *values, now))
            summary.count(kind, "added")
            continue
        before = tuple(old[c] for c in columns)
        if values == before:
            summary.count(kind, "unchanged")
            continue
        updates.append((*values, now, old["id"]))
        summary.count(kind, "updated")
        if seen_by_attendees(before, values):
            changed.add((kind, old["id"]))
    await execute_many(conn, row_insert(kind, columns), inserts)
    await execute_many(conn, row_update(kind, columns), updates)
    if not inserts:
        return {key: row["id"] for key, row in old_rows.items()}
    return {r["key"]: r["id"] for r in await fetch_all(conn, f"SELECT id, key FROM {kind}")}


class _ScreeningWriter:
    """Writes the file's screenings with a few executemany calls (5,000 in well under a
    second): inserts, visible updates (sequence + 1), quiet updates (notes only)."""

    def __init__(self, conn: Connection, summary: ImportSummary, existing: Existing,
                 ids: dict[str, dict[str, int]], now: str, progress: Progress | None) -> None:
        self.conn, self.summary, self.now, self.progress = conn, summary, now, progress
        self.old = existing.screenings
        self.ids = ids
        self.inserts: list[tuple[Any, ...]] = []
        self.visible: list[tuple[Any, ...]] = []
        self.quiet: list[tuple[str | None, int]] = []
        self.new_guests: dict[str, list[int]] = {}  # by key, for rows not inserted yet
        self.guest_rows: dict[int, list[int]] = {}  # by id: guest lists to rewrite
        self.touched: set[int] = set()  # ids given a new updated_at by this import
        self.notices: list[tuple[int, str]] = []  # (id, mail kind): registrants to tell
        self.may_promote: list[int] = []  # ids with more room (or open again) for the waitlist

    def row_values(self, s: dict[str, Any]) -> tuple[Any, ...]:
        debate = s["debate"] or {}
        values = dict(s, film_id=self.ids["films"][s["film"]],
                      venue_id=self.ids["venues"][s["venue"]],
                      starts_at=times.utc_text(s["starts_utc"]),
                      ends_at=times.utc_text(s["ends_utc"]),
                      debate_title=debate.get("title") or "",
                      debate_description=debate.get("description") or "",
                      debate_title_i18n=debate.get("title_i18n") or "{}",
                      debate_description_i18n=debate.get("description_i18n") or "{}")
        return tuple(values[c] for c in SCREENING_COLUMNS)

    async def write(self, screenings: list[dict[str, Any]]) -> set[int]:
        """Answers the ids of screenings this import added or gave a new updated_at."""
        total = len(screenings)
        self._report(0, total)
        for done, s in enumerate(screenings, 1):
            self._plan(s)
            if done % CHUNK == 0 and done < total:
                await self._flush()
                self._report(done, total)
        await self._flush()
        self._report(total, total)
        return self.touched

    def _plan(self, s: dict[str, Any]) -> None:
        values = self.row_values(s)
        guest_ids = [self.ids["guests"][k] for k in (s["debate"] or {}).get("guests", [])]
        old = self.old.get(s["key"])
        if old is None:
            edition = self.summary.edition_id
            uid = screening_uid(self.summary.edition_key, s["key"])
            self.inserts.append((edition, s["key"], uid, *values, 0, self.now, self.now))
            self.new_guests[s["key"]] = guest_ids
            self.summary.count("screenings", "added")
            return
        before = tuple(old[c] for c in SCREENING_COLUMNS)
        if values == before and guest_ids == old["guest_ids"]:
            self.summary.count("screenings", "unchanged")
            return
        self.summary.count("screenings", "updated")
        if not seen_by_attendees(before, values) and guest_ids == old["guest_ids"]:
            self.quiet.append((values[-1], old["id"]))
            return
        self.visible.append((*values, self.now, old["id"]))
        self.touched.add(old["id"])
        new = dict(zip(SCREENING_COLUMNS, values, strict=True))
        if kind := mail_kind(old, new):
            self.notices.append((old["id"], kind))
        if new["status"] == "scheduled":  # as an organiser's edit: nobody fits, nobody moves
            self.may_promote.append(old["id"])
        if guest_ids != old["guest_ids"]:
            self.guest_rows[old["id"]] = guest_ids

    async def _flush(self) -> None:
        conn = self.conn
        await execute_many(conn, SCREENING_INSERT, self.inserts)
        await execute_many(conn, SCREENING_UPDATE, self.visible)
        await execute_many(conn, NOTES_UPDATE, self.quiet)
        if self.new_guests:
            rows = await fetch_all(conn, "SELECT id, key FROM screenings WHERE edition_id = ?",
                                   (self.summary.edition_id,))
            id_of = {r["key"]: r["id"] for r in rows}
            for key, guest_ids in self.new_guests.items():
                self.touched.add(id_of[key])
                if guest_ids:
                    self.guest_rows[id_of[key]] = guest_ids
        await write_guest_lists(conn, self.guest_rows)
        self.inserts, self.visible, self.quiet = [], [], []
        self.new_guests, self.guest_rows = {}, {}

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)
