"""Editions, venues, films, guests and screenings: the queries the public side reads.

A screening comes out as a plain dict: its own columns, its film's and venue's, and the
seat counts derived from its registrations (never stored twice). `public=True` hides
drafts and unlisted guests' names: some debate guests are migrants who must not be
exposed, so public pages and feeds call them "a guest speaker".

Texts with translations (a film's title, ...) come out as stored: the original, and
beside it `<name>_i18n`; readers get theirs from festival.core.i18n.localize, called
by whoever shows them (pages, the API, feeds, mail)."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import date
from typing import Any

from festival.core import times
from festival.core.errors import NotFound, _
from festival.core.guests import UNLISTED_GUEST_NAME
from festival.core.i18n import translations_of
from festival.core.store import Connection, Database, Row, fetch_all, fetch_one

SCREENING_SELECT = """
SELECT s.*, f.key AS film_key, f.title, f.runtime_minutes, f.synopsis, f.director, f.year,
       f.languages, f.title_i18n, f.synopsis_i18n, v.key AS venue_key, v.name AS venue_name,
       v.city, v.country, v.address, v.capacity AS venue_capacity, v.step_free,
       e.key AS edition_key, e.name AS edition_name,
       COALESCE(r.confirmed_seats, 0) AS confirmed_seats,
       COALESCE(r.waiting, 0) AS waitlist
FROM screenings s
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id
JOIN editions e ON e.id = s.edition_id
LEFT JOIN (
    SELECT screening_id,
           SUM(CASE WHEN status IN ('confirmed', 'held') THEN seats ELSE 0 END)
               AS confirmed_seats,
           SUM(CASE WHEN status = 'waitlisted' THEN 1 ELSE 0 END) AS waiting
    FROM registrations WHERE status != 'cancelled' GROUP BY screening_id
) r ON r.screening_id = s.id
"""


@dataclass(frozen=True)
class Filters:
    """What a visitor narrows the programme by; empty means 'any'."""

    country: str = ""
    city: str = ""
    day: date | None = None
    language: str = ""
    subtitles: str = ""
    step_free: bool = False
    sign_interpretation: bool = False
    captioned_debate: bool = False
    q: str = ""
    venue_id: int | None = None
    film_id: int | None = None
    guest_id: int | None = None
    # The screenings the search index found for `q` (festival.programme.search.resolve);
    # None: `q` is matched against titles only (organisers' lists).
    search_ids: frozenset[int] | None = None

    def matches(self, s: dict[str, Any]) -> bool:
        if self.country and s["country"] != self.country.upper():
            return False
        if self.city and s["city"].casefold() != self.city.casefold():
            return False
        if self.day and s["local_date"] != self.day:
            return False
        spoken = set(s["language_list"]) | ({s["language"]} if s["language"] else set())
        if self.language and self.language.lower() not in spoken:
            return False
        if self.subtitles and self.subtitles.lower() not in s["subtitle_list"]:
            return False
        if self.step_free and not s["step_free"]:
            return False
        if self.sign_interpretation and not s["sign_interpretation"]:
            return False
        if self.captioned_debate and not s["captioned_debate"]:
            return False
        if self.search_ids is not None:
            if s["id"] not in self.search_ids:
                return False
        elif self.q and self.q.casefold() not in s.get("title_search", s["title"].casefold()):
            return False
        if self.venue_id is not None and s["venue_id"] != self.venue_id:
            return False
        return self.film_id is None or s["film_id"] == self.film_id


def _codes(text: str) -> list[str]:
    return [c.strip().lower() for c in (text or "").split(",") if c.strip()]


def seats_left(screening: dict[str, Any], confirmed: int) -> int:
    """Seats still to be had: none at a cancelled screening."""
    if screening["status"] == "cancelled":
        return 0
    return max(0, screening["capacity"] - confirmed)


def screening_from_row(row: Row) -> dict[str, Any]:
    s = dict(row)
    s["starts_local"] = times.to_local(s["starts_at"], s["timezone"])
    s["ends_local"] = times.to_local(s["ends_at"], s["timezone"])
    s["local_date"] = s["starts_local"].date()
    s["seats_left"] = seats_left(s, s["confirmed_seats"])
    s["language_list"] = _codes(s["languages"])
    s["subtitle_list"] = _codes(s["subtitles"])
    # A search finds a film by its title in any of its languages.
    s["title_search"] = "\n".join([s["title"], *translations_of(s["title_i18n"]).values()]
                                  ).casefold()
    return s


# --- editions ----------------------------------------------------------------------------

async def current_edition(db: Database) -> dict[str, Any] | None:
    """The edition with the latest start date: what the public sees by default."""
    row = await db.fetch_one("SELECT * FROM editions ORDER BY starts_on DESC, id DESC LIMIT 1")
    return None if row is None else dict(row)


async def edition_by_key(db: Database, key: str | None) -> dict[str, Any]:
    """The edition named by `key`, or the current one when key is None; NotFound else."""
    if key is None:
        edition = await current_edition(db)
    else:
        row = await db.fetch_one("SELECT * FROM editions WHERE key = ?", (key,))
        edition = None if row is None else dict(row)
    if edition is None:
        raise NotFound(_("There is no such festival edition."))
    return edition


# How long the programme version read from the database is trusted without reading it
# again, unless this process has written since: a change made by another worker or host
# shows in this one's pages and feeds at the latest this much later (issue: within a
# second), and a burst of requests costs one read per period instead of one each.
VERSION_HELD_SECONDS = 0.5
clock = time.monotonic  # the clock that times it (tests move it forward)


@dataclass(frozen=True, slots=True)
class _HeldVersion:
    commits: int  # db.commits when it was read
    read_at: float  # time.monotonic()
    value: tuple[int, str]


_held: weakref.WeakKeyDictionary[Database, _HeldVersion] = weakref.WeakKeyDictionary()


async def programme_version(db: Database) -> tuple[int, str]:
    """(version, changed_at) of the whole programme: a counter that triggers bump on any
    change to editions, venues, films, guests or screenings (migration 0003), so a cache
    keyed by it is fresh after a one-row read. That read is held for
    VERSION_HELD_SECONDS, and dropped at once when this process commits a write."""
    held = held_version(db)
    if held is not None:
        return held
    commits, read_at = db.commits, clock()  # before the read: a write landing
    row = await db.fetch_one(  # meanwhile makes the next call read again
        "SELECT version, changed_at FROM programme_version WHERE id = 1")
    assert row is not None, "migration 0003_feeds.sql creates the row"
    value = (int(row["version"]), row["changed_at"])
    _held[db] = _HeldVersion(commits, read_at, value)
    return value


def held_version(db: Database) -> tuple[int, str] | None:
    """The programme version while it is held (see programme_version), without any
    read: None when it must be read again."""
    held = _held.get(db)
    if held is None or held.commits != db.commits:
        return None
    if clock() - held.read_at >= VERSION_HELD_SECONDS:
        return None
    return held.value


async def has_country(db: Database, code: str) -> bool:
    """Whether any venue is in the country with this ISO code."""
    row = await db.fetch_one("SELECT 1 FROM venues WHERE country = ? LIMIT 1", (code,))
    return row is not None


async def list_cities(db: Database) -> list[str]:
    """Every city with a venue, sorted."""
    return sorted(r["city"] for r in await db.fetch_all("SELECT DISTINCT city FROM venues"))


async def ping(db: Database) -> None:
    """Answers when the database does (the health check)."""
    await db.fetch_one("SELECT 1")


async def list_editions(db: Database) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch_all("SELECT * FROM editions ORDER BY starts_on DESC")]


# --- screenings --------------------------------------------------------------------------

async def list_screenings(
    db: Database, edition_id: int, filters: Filters | None = None, *, include_drafts: bool = False
) -> list[dict[str, Any]]:
    """The edition's screenings in start order, with seat counts."""
    sql = SCREENING_SELECT + " WHERE s.edition_id = ?"
    params: list[Any] = [edition_id]
    if not include_drafts:
        sql += " AND s.status != 'draft'"
    if filters and filters.guest_id is not None:
        sql += " AND s.id IN (SELECT screening_id FROM screening_guests WHERE guest_id = ?)"
        params.append(filters.guest_id)
    if filters and filters.venue_id is not None:
        sql += " AND s.venue_id = ?"
        params.append(filters.venue_id)
    if filters and filters.film_id is not None:
        sql += " AND s.film_id = ?"
        params.append(filters.film_id)
    sql += " ORDER BY s.starts_at, s.id"
    screenings = [screening_from_row(r) for r in await db.fetch_all(sql, params)]
    if filters:
        screenings = [s for s in screenings if filters.matches(s)]
    return screenings


async def screenings_with_guests(db: Database, edition_id: int,
                                 filters: Filters | None = None) -> list[dict[str, Any]]:
    """As list_screenings, each with its debate guests (for feeds and exports)."""
    screenings = await list_screenings(db, edition_id, filters)
    guests = await guests_by_screening(db, [s["id"] for s in screenings])
    for s in screenings:
        s["guests"] = guests[s["id"]]
    return screenings


class ScreeningCache:
    """The public screenings of each edition, kept in this process between requests.

    Why: the programme page and the API read the whole edition (5,000 screenings in the
    demo) for every visitor, and turning rows into dicts costs more than the page's
    rendering. An entry holds while programme_version is unchanged (triggers bump it on
    every change to the programme, by any writer or process: migration 0003). Seats
    change with every registration, so they are not cached: `with_seats` reads them
    fresh, one aggregate query, and answers copies."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[int, list[dict[str, Any]]]] = {}

    async def screenings(self, db: Database, edition_id: int) -> list[dict[str, Any]]:
        """The edition's public screenings in start order (shared: do not change them);
        their seat counts may be stale."""
        # The version first: a change landing in between rebuilds once more, never less.
        version, _changed_at = await programme_version(db)
        entry = self._entries.get(edition_id)
        if entry is None or entry[0] != version:
            entry = (version, await list_screenings(db, edition_id))
            self._entries[edition_id] = entry
        return entry[1]

    @staticmethod
    async def with_seats(db: Database, edition_id: int, screenings: list[dict[str, Any]]
                         ) -> list[dict[str, Any]]:
        """Copies of `screenings` (of one edition) with their seat counts as they are now."""
        rows = await db.fetch_all("""
            SELECT r.screening_id,
                   SUM(CASE WHEN r.status IN ('confirmed', 'held') THEN r.seats ELSE 0 END),
                   SUM(CASE WHEN r.status = 'waitlisted' THEN 1 ELSE 0 END)
            FROM registrations r JOIN screenings s ON s.id = r.screening_id
            WHERE s.edition_id = ? AND r.status != 'cancelled' GROUP BY r.screening_id""",
            (edition_id,))
        counts = {r[0]: (r[1], r[2]) for r in rows}
        fresh = []
        for s in screenings:
            confirmed, waiting = counts.get(s["id"], (0, 0))
            fresh.append(dict(s, confirmed_seats=confirmed, waitlist=waiting,
                              seats_left=seats_left(s, confirmed)))
        return fresh


async def get_screening(
    db: Database | Connection, screening_id: int, *, public: bool = True
) -> dict[str, Any]:
    """One screening with its debate guests; NotFound for an unknown id (or a draft,
    when public)."""
    sql = SCREENING_SELECT + " WHERE s.id = ?"
    if isinstance(db, Database):
        row = await db.fetch_one(sql, (screening_id,))
    else:
        row = await fetch_one(db, sql, (screening_id,))
    if row is None or (public and row["status"] == "draft"):
        raise NotFound(_("There is no such screening."))
    screening = screening_from_row(row)
    guests_sql = """SELECT g.* FROM guests g JOIN screening_guests sg ON sg.guest_id = g.id
                    WHERE sg.screening_id = ? ORDER BY sg.position, g.id"""
    if isinstance(db, Database):
        rows = await db.fetch_all(guests_sql, (screening_id,))
    else:
        rows = await fetch_all(db, guests_sql, (screening_id,))
    screening["guests"] = [guest_view(dict(g), public=public) for g in rows]
    return screening


def guest_view(guest: dict[str, Any], *, public: bool) -> dict[str, Any]:
    """A guest as a reader may see them: unlisted guests stay anonymous in public."""
    if public and not guest["listed"]:
        return {"id": None, "key": None, "name": UNLISTED_GUEST_NAME, "role": guest["role"],
                "role_i18n": guest.get("role_i18n", "{}"), "organisation": "", "bio": "",
                "listed": 0}
    return guest


async def guests_by_screening(
    db: Database, screening_ids: list[int], *, public: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """Debate guests of many screenings in one query (for feeds and lists)."""
    rows = await db.fetch_all(
        """SELECT sg.screening_id, g.* FROM screening_guests sg JOIN guests g ON g.id = sg.guest_id
           ORDER BY sg.screening_id, sg.position, g.id""")
    wanted = set(screening_ids)
    result: dict[int, list[dict[str, Any]]] = {i: [] for i in screening_ids}
    for row in rows:
        if row["screening_id"] in wanted:
            guest = dict(row)
            guest.pop("screening_id")
            result[row["screening_id"]].append(guest_view(guest, public=public))
    return result


async def get_venue(db: Database, venue_id: int) -> dict[str, Any]:
    row = await db.fetch_one("SELECT * FROM venues WHERE id = ?", (venue_id,))
    if row is None:
        raise NotFound(_("There is no such venue."))
    return dict(row)


async def get_film(db: Database, film_id: int) -> dict[str, Any]:
    row = await db.fetch_one("SELECT * FROM films WHERE id = ?", (film_id,))
    if row is None:
        raise NotFound(_("There is no such film."))
    return dict(row)


async def get_guest(db: Database, guest_id: int, *, public: bool = True) -> dict[str, Any]:
    row = await db.fetch_one("SELECT * FROM guests WHERE id = ?", (guest_id,))
    if row is None or (public and not row["listed"]):
        raise NotFound(_("There is no such guest."))
    return dict(row)
