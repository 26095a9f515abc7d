"""Organisers change the catalogue: venues, films and debate guests (screenings of them:
festival.programme.screenings).

Who may change what (checked here, on the server, for every change):
- An `admin` changes everything.
- An `organiser` changes the venues of their own country; a venue of another country
  is Forbidden (403), never merely hidden.
- Films and debate guests are shared by every country. Any organiser may create them
  (a new film needs no one's leave) and may edit one while every screening using it is
  in their own country (or none is), because an edit changes what other countries'
  attendees see. Otherwise only an admin edits it. An unlisted guest (a migrant whose
  name must not be exposed) is shown to an organiser only when it is theirs to edit or
  appears in a screening of their country (`may_see`, also for a screening's guests).

The field checks are those of `festival load` (fields.check_object), run inside
the write transaction. A change attendees see (everything but notes) gives every
screening of the row a new `sequence` and `updated_at`, so calendars update (the
loader's rule, writes.bump_dependants).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from festival.core import times
from festival.core.errors import Forbidden, NotFound, _
from festival.core.i18n import ngettext, translated, translations_of
from festival.core.store import (
    Connection,
    Database,
    execute,
    fetch_all,
    fetch_one,
    fetch_value,
    insert_returning_id,
)
from festival.core.text import slugify
from festival.organisers import accounts, audit
from festival.programme.fields import Field, check_object, for_forms, store_translations
from festival.programme.file import FILM, GUEST, VENUE
from festival.programme.writes import (
    FILM_COLUMNS,
    GUEST_COLUMNS,
    VENUE_COLUMNS,
    Saved,
    bump_dependants,
    refused,
    row_insert,
    row_update,
    seen_by_attendees,
    unique_key,
)

Organiser = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A table organisers edit through one form: its fields and stored columns."""

    name: str
    table: str
    fields: dict[str, Field]
    columns: tuple[str, ...]
    order: str
    flags: tuple[str, ...] = ()
    shared: bool = True  # films, guests: used by every country


def _without_key(spec: dict[str, Field]) -> dict[str, Field]:
    """A file's spec as forms take it: no key (generated, never typed), translations of
    a text in a field of their own (`title_i18n`, fields.for_forms)."""
    return for_forms({n: f for n, f in spec.items() if n != "key"})


KINDS = {k.name: k for k in (
    Kind("venue", "venues", _without_key(VENUE), VENUE_COLUMNS, "country, city, name",
         ("step_free",), shared=False),
    Kind("film", "films", _without_key(FILM), FILM_COLUMNS, "title"),
    Kind("guest", "guests", _without_key(GUEST), GUEST_COLUMNS, "name", ("listed",)),
)}
# Whole sentences per kind (a noun put into a sentence cannot agree with it in French).
NO_SUCH = {"venue": _("There is no such venue."), "film": _("There is no such film."),
           "guest": _("There is no such guest.")}
SHARED_ELSEWHERE = {
    "film": _("Screenings in other countries use this film: only an administrator may "
              "change it."),
    "guest": _("Screenings in other countries use this debate guest: only an administrator "
               "may change it."),
}
USAGE = {  # kind -> (the query of (row id, country, screenings), its row id column)
    "venue": ("SELECT s.venue_id, v.country, COUNT(*) FROM screenings s "
              "JOIN venues v ON v.id = s.venue_id", "s.venue_id"),
    "film": ("SELECT s.film_id, v.country, COUNT(*) FROM screenings s "
             "JOIN venues v ON v.id = s.venue_id", "s.film_id"),
    "guest": ("SELECT sg.guest_id, v.country, COUNT(*) FROM screening_guests sg "
              "JOIN screenings s ON s.id = sg.screening_id JOIN venues v ON v.id = s.venue_id",
              "sg.guest_id"),
}


# --- who may see and change what --------------------------------------------------------------

def may_edit_shared(organiser: Organiser, countries: set[str]) -> bool:
    """A film or guest: admins always; an organiser when no other country uses it."""
    return organiser["role"] == "admin" or countries <= {organiser.get("country")}


async def _usage(conn: Connection, kind: str, row_id: int | None = None
                 ) -> dict[int, dict[str, int]]:
    """Row id -> {country: screenings there using it}, for one row or every row in use."""
    select, column = USAGE[kind]
    where, params = (f" WHERE {column} = ?", (row_id,)) if row_id is not None else ("", ())
    usage: dict[int, dict[str, int]] = {}
    for used, country, count in await fetch_all(
            conn, f"{select}{where} GROUP BY {column}, v.country", params):
        usage.setdefault(used, {})[country] = count
    return usage


async def countries_using(conn: Connection, kind: str, row_id: int) -> set[str]:
    """The countries with a screening that uses this venue, film or guest."""
    return set((await _usage(conn, kind, row_id)).get(row_id, {}))


async def _require_may_change(conn: Connection, organiser: Organiser, kind: Kind,
                              row: dict[str, Any]) -> None:
    if not kind.shared:
        accounts.require_country(organiser, row["country"])
    elif not may_edit_shared(organiser, await countries_using(conn, kind.name, row["id"])):
        raise Forbidden(translated(SHARED_ELSEWHERE[kind.name]))


def may_see(organiser: Organiser, kind: str, row: dict[str, Any], countries: set[str]
            ) -> bool:
    """Whether the organiser may see this venue, film or guest (`countries`: those using
    it); see the module docstring."""
    if organiser["role"] == "admin":
        return True
    if kind == "venue":
        return row["country"] == organiser["country"]
    if kind == "guest" and not row["listed"]:
        return organiser["country"] in countries or may_edit_shared(organiser, countries)
    return True


async def list_rows(db: Database, organiser: Organiser, kind_name: str
                    ) -> list[dict[str, Any]]:
    """Venues, films or guests the organiser may see, each with `countries` using it,
    `screenings` (how many) and `editable`."""
    kind = KINDS[kind_name]
    async with db.reader() as conn:
        rows = await fetch_all(conn, f"SELECT * FROM {kind.table} ORDER BY {kind.order}")
        usage = await _usage(conn, kind.name)
    result = []
    for row in rows:
        item = dict(row)
        used = usage.get(item["id"], {})
        item["countries"], item["screenings"] = set(used), sum(used.values())
        if not may_see(organiser, kind.name, item, item["countries"]):
            continue
        item["editable"] = (accounts.may_manage(organiser, item["country"]) if kind.name == "venue"
                            else may_edit_shared(organiser, item["countries"]))
        result.append(item)
    return result


async def get_row(db: Database, organiser: Organiser, kind_name: str, row_id: int
                  ) -> dict[str, Any]:
    """One venue, film or guest to edit; NotFound, or Forbidden outside the role."""
    async with db.reader() as conn:
        return await _find(conn, organiser, KINDS[kind_name], row_id)


async def _find(conn: Connection, organiser: Organiser, kind: Kind, row_id: int
                ) -> dict[str, Any]:
    row = await fetch_one(conn, f"SELECT * FROM {kind.table} WHERE id = ?", (row_id,))
    if row is None:
        raise NotFound(translated(NO_SUCH[kind.name]))
    await _require_may_change(conn, organiser, kind, dict(row))
    return dict(row)


# --- venues, films, guests ----------------------------------------------------------------------

def _inputs(kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the input a form or the API would send."""
    return {c: bool(row[c]) if c in kind.flags else
            translations_of(row[c]) if c.endswith("_i18n") else row[c] for c in kind.columns}


async def save_row(db: Database, organiser: Organiser, kind_name: str, row_id: int | None,
                   data: dict[str, Any]) -> Saved:
    """Creates (row_id None) or updates a venue, film or guest from `data` (for an update,
    fields left out keep their value). ValidationError(fields) or Forbidden, nothing
    written; attendees' calendars get the change of a venue's address or a film's title."""
    kind = KINDS[kind_name]
    async with db.transaction() as conn:
        before = None if row_id is None else await _find(conn, organiser, kind, row_id)
        errors: dict[str, str] = {}
        merged = {**_inputs(kind, before), **data} if before else data
        values = store_translations(check_object(merged, kind.fields, "", errors) or {},
                                    kind.fields)
        if kind.name == "venue" and "country" in values:
            accounts.require_country(organiser, values["country"])
        if kind.name == "venue" and before is not None:
            await _check_venue_change(conn, before, values, errors)
        if errors:
            raise refused(errors)
        row = tuple(values[c] for c in kind.columns)
        now = times.now_text()
        if before is None:
            base = slugify(values["title" if kind.name == "film" else "name"], kind.name)
            key = await unique_key(conn, kind.table, base)
            row_id = await insert_returning_id(conn, row_insert(kind.table, kind.columns),
                                               (key, *row, now))
            action = "create"
        else:
            assert row_id is not None
            old = tuple(before[c] for c in kind.columns)
            if row == old:
                return Saved(row_id, "unchanged")
            await execute(conn, row_update(kind.table, kind.columns), (*row, now, row_id))
            if seen_by_attendees(old, row):
                await bump_dependants(conn, {(kind.table, row_id)}, set(), now)
            action = "update"
        after = await fetch_one(conn, f"SELECT * FROM {kind.table} WHERE id = ?", (row_id,))
        await audit.record(conn, organiser["id"], f"{kind.name}.{action}", kind.name, row_id,
                           before, dict(after) if after else None)
    return Saved(row_id, action)


async def _check_venue_change(conn: Connection, before: dict[str, Any],
                              values: dict[str, Any], errors: dict[str, str]) -> None:
    """A venue's screenings must still fit it: their times were entered in its zone, and
    none may hold more seats than it."""
    live = "venue_id = ? AND status != 'cancelled'"
    count = await fetch_value(conn, "SELECT COUNT(*) FROM screenings WHERE venue_id = ?",
                              (before["id"],))
    if values.get("timezone") not in (None, before["timezone"]) and count:
        errors["timezone"] = ngettext(
            "%(num)d screening here was scheduled in %(zone)s: move it "
            "to another venue before changing its time zone.",
            "%(num)d screenings here were scheduled in %(zone)s: move them "
            "to another venue before changing its time zone.",
            count) % {"num": count, "zone": before["timezone"]}
    largest = await fetch_value(conn, f"SELECT MAX(capacity) FROM screenings WHERE {live}",
                                (before["id"],))
    if largest is not None and values.get("capacity") is not None \
            and values["capacity"] < largest:
        errors["capacity"] = translated(
            _("A screening here has %(n)d seats: lower its capacity first "
                                "(this venue cannot hold fewer than %(n)d)."), n=largest)
