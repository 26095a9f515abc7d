"""Organisers remove a venue, film or debate guest that nothing uses (the catalogue's
edits: festival.programme.catalogue).

Who may remove a row: whoever may edit it (catalogue's rules: a venue of one's own
country; a film or guest no other country's screening uses, which an unused one never
is). A row some screening uses, of any edition and status (a cancelled screening keeps
its registrations' history), is refused with Conflict, naming those screenings. The
removal and its audit entry, which keeps the row, are one transaction; a film's poster
goes with it."""

from __future__ import annotations

from typing import Any

from festival.core import times
from festival.core.errors import Conflict, _
from festival.core.i18n import ngettext, translated
from festival.core.store import Connection, Database, execute, fetch_all
from festival.organisers import audit
from festival.programme import catalogue

USED_BY_LIMIT = 5  # screenings named in a refusal; the rest are counted

WHERE = {"venue": "s.venue_id = ?", "film": "s.film_id = ?",
         "guest": "s.id IN (SELECT screening_id FROM screening_guests WHERE guest_id = ?)"}


async def find_for_change(conn: Connection, organiser: dict[str, Any],
                          kind_name: str, row_id: int) -> dict[str, Any]:
    """The row, inside the caller's transaction, checked as for an edit (NotFound,
    Forbidden): for changes that belong to a row (its removal, a film's poster)."""
    return await catalogue._find(conn, organiser, catalogue.KINDS[kind_name], row_id)


async def used_by(conn: Connection, kind_name: str, row_id: int
                  ) -> tuple[list[str], int]:
    """What uses the row: (at most USED_BY_LIMIT) screenings described, and how many
    screenings use it in all."""
    rows = await fetch_all(conn, f"""
        SELECT f.title, v.name, v.city, s.starts_at, s.timezone FROM screenings s
        JOIN films f ON f.id = s.film_id JOIN venues v ON v.id = s.venue_id
        WHERE {WHERE[kind_name]} ORDER BY s.starts_at, s.id""", (row_id,))
    named = [translated(_("“%(title)s” at %(venue)s, %(city)s, %(start)s"), title=r["title"],
                        venue=r["name"], city=r["city"],
                        start=times.to_local(r["starts_at"], r["timezone"])
                        .strftime("%Y-%m-%d %H:%M"))
             for r in rows[:USED_BY_LIMIT]]
    return named, len(rows)


def _in_use(kind_name: str, count: int) -> str:
    """Whole sentences per kind (as catalogue.NO_SUCH), each in its plural forms."""
    if kind_name == "venue":
        return ngettext("This venue cannot be deleted: %(num)d screening takes place here "
                        "(%(screenings)s). Move or delete it first.",
                        "This venue cannot be deleted: %(num)d screenings take place here "
                        "(%(screenings)s). Move or delete them first.", count)
    if kind_name == "film":
        return ngettext("This film cannot be deleted: %(num)d screening shows it "
                        "(%(screenings)s). Delete it or show another film there first.",
                        "This film cannot be deleted: %(num)d screenings show it "
                        "(%(screenings)s). Delete them or show another film there first.",
                        count)
    return ngettext("This debate guest cannot be deleted: %(num)d screening has them in its "
                    "debate (%(screenings)s). Take them off it first.",
                    "This debate guest cannot be deleted: %(num)d screenings have them in "
                    "their debate (%(screenings)s). Take them off those screenings first.",
                    count)


def in_use_message(kind_name: str, named: list[str], count: int) -> str:
    """Why the row cannot be deleted: the screenings that use it, named, then counted."""
    message = _in_use(kind_name, count) % {"num": count, "screenings": "; ".join(named)}
    if count > len(named):
        message += " " + translated(_("And %(n)d more."), n=count - len(named))
    return message


async def delete_row(db: Database, organiser: dict[str, Any], kind_name: str, row_id: int
                     ) -> None:
    """Removes the venue, film or guest; Conflict (naming what uses it), NotFound or
    Forbidden, and nothing written."""
    kind = catalogue.KINDS[kind_name]
    async with db.transaction() as conn:
        before = await find_for_change(conn, organiser, kind_name, row_id)
        named, count = await used_by(conn, kind_name, row_id)
        if count:
            raise Conflict(in_use_message(kind_name, named, count))
        if kind_name == "film":
            await execute(conn, "DELETE FROM posters WHERE film_id = ?", (row_id,))
        await execute(conn, f"DELETE FROM {kind.table} WHERE id = ?", (row_id,))
        await audit.record(conn, organiser["id"], f"{kind_name}.delete", kind_name, row_id,
                           before, None)


async def to_delete(db: Database, organiser: dict[str, Any], kind_name: str, row_id: int
                    ) -> tuple[dict[str, Any], str]:
    """The row for the page that confirms its removal, and why it cannot be removed
    ('' when it can); NotFound or Forbidden as for an edit."""
    async with db.reader() as conn:
        row = await find_for_change(conn, organiser, kind_name, row_id)
        named, count = await used_by(conn, kind_name, row_id)
    return row, in_use_message(kind_name, named, count) if count else ""
