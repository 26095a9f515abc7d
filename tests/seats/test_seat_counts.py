"""The seats taken and parties waiting kept per screening (migration 0015: table
screening_seats, kept by triggers) always equal what the registrations say, whoever
changed them: attendees, holds running out, organisers, the door, erasure, a programme
reload, a script. A database at version 14 gets them counted when it migrates. And
deciding on a seat reads them instead of summing the screening's registrations."""

from __future__ import annotations

import copy
import random
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from festival.core.errors import FestivalError
from festival.core.store import Connection, Database, insert_returning_id, migration_files
from festival.core.store.sqlite import statements as script_statements
from festival.privacy import records
from festival.programme.loader import import_programme
from festival.seats import door, management, registrations
from tests import postgres
from tests.helpers import add_organiser, screening_id, sql

T0 = datetime(2099, 11, 1, 10, 0, tzinfo=UTC)  # a month before the sample's screenings
HOLD_MINUTES = 5

COUNTED = """SELECT s.id,
       (SELECT COALESCE(SUM(seats), 0) FROM registrations
        WHERE screening_id = s.id AND status IN ('confirmed', 'held')),
       (SELECT COUNT(*) FROM registrations
        WHERE screening_id = s.id AND status = 'waitlisted')
FROM screenings s ORDER BY s.id"""


async def kept_and_counted(db: Database | Connection
                           ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """(screening id, seats taken, parties waiting) of every screening: as kept, and as
    summed over the registrations (`db`: a Database, or a connection in a transaction)."""
    kept = [tuple(r) for r in await db.fetch_all(
        "SELECT screening_id, taken, waiting FROM screening_seats ORDER BY screening_id")]
    counted = [tuple(r) for r in await db.fetch_all(COUNTED)]
    return kept, counted


# --- a long random sequence of every kind of change --------------------------------------

class Run:
    """The random sequence's state: the clock, the organiser, the screenings, the
    programme file and the registrations made so far."""

    def __init__(self, db: Database, programme: dict[str, Any], organiser: dict[str, Any],
                 seed: int) -> None:
        self.db, self.programme, self.organiser = db, programme, organiser
        self.rng = random.Random(seed)
        self.now = T0
        self.screenings: list[int] = []
        self.people = 0

    def email(self) -> str:
        self.people += 1
        return f"p{self.people}@example.org"

    async def registration(self, where: str = "1 = 1") -> dict[str, Any] | None:
        """A random registration of the run's screenings matching `where`."""
        marks = ", ".join("?" * len(self.screenings))
        rows = await self.db.fetch_all(
            f"SELECT * FROM registrations WHERE screening_id IN ({marks}) AND {where}"
            " ORDER BY id", self.screenings)
        return dict(self.rng.choice(rows)) if rows else None

    # Each action answers False when it found nothing to act on.

    async def register(self) -> bool:
        await registrations.register(self.db, self.rng.choice(self.screenings), "P",
                                     self.email(), self.rng.randint(1, 3), now=self.now)
        return True

    async def register_again(self) -> bool:  # the same address: the first one answered
        chosen = await self.registration("status != 'cancelled' AND email != ''")
        if chosen is None:
            return False
        await registrations.register(self.db, chosen["screening_id"], "P", chosen["email"], 1,
                                     now=self.now)
        return True

    async def cancel(self) -> bool:
        chosen = await self.registration("status != 'cancelled'")
        if chosen is None:
            return False
        await registrations.cancel(self.db, chosen["token"], now=self.now)
        return True

    async def confirm(self) -> bool:
        chosen = await self.registration("confirm_code IS NOT NULL AND status != 'cancelled'")
        if chosen is None:
            return False
        await registrations.confirm(self.db, chosen["token"], chosen["confirm_code"],
                                    now=self.now)
        return True

    async def time_passes(self) -> bool:  # holds run out; sometimes expired at once
        self.now += timedelta(minutes=self.rng.randint(1, 2 * HOLD_MINUTES))
        if self.rng.random() < 0.5:
            await registrations.expire_holds(self.db, now=self.now)
        return True

    async def hold_rule(self) -> bool:
        await registrations.set_email_confirmation(
            self.db, "2099", required=self.rng.random() < 0.7, hold_minutes=HOLD_MINUTES)
        return True

    async def organiser_cancels(self) -> bool:
        chosen = await self.registration("status != 'cancelled'")
        if chosen is None:
            return False
        await management.cancel(self.db, self.organiser, chosen["screening_id"], chosen["id"],
                                now=self.now)
        return True

    async def organiser_changes_seats(self) -> bool:
        chosen = await self.registration("status != 'cancelled'")
        if chosen is None:
            return False
        await management.change_seats(self.db, self.organiser, chosen["screening_id"],
                                      chosen["id"], self.rng.randint(1, 4), now=self.now)
        return True

    async def organiser_moves(self) -> bool:
        chosen = await self.registration("status != 'cancelled'")
        if chosen is None:
            return False
        target = self.rng.choice([s for s in self.screenings if s != chosen["screening_id"]])
        await management.move(self.db, self.organiser, chosen["screening_id"], chosen["id"],
                              target, now=self.now)
        return True

    async def walk_in(self) -> bool:
        await door.add_walk_in(self.db, self.organiser, self.rng.choice(self.screenings), "W",
                               self.rng.randint(1, 2), now=self.now)
        return True

    async def check_in(self) -> bool:  # changes no count
        chosen = await self.registration("status = 'confirmed' AND checked_in_at IS NULL"
                                         " AND email != ''")
        if chosen is None:
            return False
        await door.check_in(self.db, self.organiser, chosen["token"], now=self.now)
        return True

    async def erase(self) -> bool:
        chosen = await self.registration("email != ''")
        if chosen is None:
            return False
        await records.erase_registration(self.db, chosen["token"], now=self.now)
        return True

    async def forget(self) -> bool:
        chosen = await self.registration("email != ''")
        if chosen is None:
            return False
        await records.forget_person(self.db, chosen["email"], now=self.now)
        return True

    async def reload_programme(self) -> bool:  # with other capacities
        for screening in self.programme["screenings"]:
            if screening["key"].startswith("hague"):
                screening["capacity"] = self.rng.randint(4, 16)
        await import_programme(self.db, self.programme)
        return True

    async def script_capacity(self) -> bool:  # a script writes the screening directly
        await sql(self.db, "UPDATE screenings SET capacity = ? WHERE id = ?",
                  (self.rng.randint(4, 16), self.rng.choice(self.screenings)))
        return True

    async def script_rows(self) -> bool:
        """A script inserts a registration, changes it, moves it and may delete it, in
        SQL."""
        token = f"script-{self.people:04d}-000000000"
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO registrations (screening_id, token, name, email, email_key,
                       seats, status, created_at, updated_at)
                   VALUES (?, ?, 'S', '', ?, ?, ?, '2099-11-01T10:00:00Z',
                           '2099-11-01T10:00:00Z')""",
                (self.rng.choice(self.screenings), token, f"script:{token}",
                 self.rng.randint(1, 3), self.rng.choice(["confirmed", "waitlisted"])))
            kept, counted = await kept_and_counted(conn)
            assert kept == counted  # inside the writer's transaction already
            await conn.execute("UPDATE registrations SET seats = seats + 1, status = ?"
                               " WHERE token = ?", (self.rng.choice(
                                   ["confirmed", "held", "waitlisted", "cancelled"]), token))
            await conn.execute("UPDATE registrations SET screening_id = ? WHERE token = ?",
                               (self.rng.choice(self.screenings), token))  # moved alone
            if self.rng.random() < 0.7:
                await conn.execute("DELETE FROM registrations WHERE token = ?", (token,))
        self.people += 1
        return True


ACTIONS = {  # name: weight
    "register": 6, "register_again": 1, "cancel": 3, "confirm": 2, "time_passes": 2,
    "hold_rule": 1, "organiser_cancels": 2, "organiser_changes_seats": 2,
    "organiser_moves": 3, "walk_in": 3, "check_in": 1, "erase": 1, "forget": 1,
    "reload_programme": 1, "script_capacity": 1, "script_rows": 1,
}


async def test_the_kept_counts_follow_a_long_random_sequence_of_every_kind_of_change(
        loaded: Database, sample_programme: dict[str, Any]) -> None:
    organiser = {"id": await add_organiser(loaded, "nl@example.org", country="NL"),
                 "role": "organiser", "country": "NL", "email": "nl@example.org"}
    programme = copy.deepcopy(sample_programme)
    hague = next(s for s in programme["screenings"] if s["key"] == "hague")
    hague["capacity"] = 6
    # A second screening at the same venue a day later, for moves: the reload adds it,
    # and its row of counts with it (the trigger on screenings).
    programme["screenings"].append({
        **copy.deepcopy(hague), "key": "hague-encore", "starts_at": "2099-12-14T19:00",
        "ends_at": "2099-12-14T21:30"})
    await import_programme(loaded, programme)
    run = Run(loaded, programme, organiser, seed=14)
    run.screenings = [await screening_id(loaded, "hague"),
                      await screening_id(loaded, "hague-encore")]
    await sql(loaded, f"UPDATE screenings SET max_seats = 4 WHERE id IN "
                      f"({run.screenings[0]}, {run.screenings[1]})")
    await run.hold_rule()

    names, weights = list(ACTIONS), list(ACTIONS.values())
    done: dict[str, int] = dict.fromkeys(ACTIONS, 0)
    statuses: set[str] = set()
    full = waiting = False
    for step in range(400):
        action = run.rng.choices(names, weights)[0]
        try:
            acted = await getattr(run, action)()
        except FestivalError:
            acted = False  # refused: it changed nothing, which the counts must show too
        done[action] += acted
        kept, counted = await kept_and_counted(loaded)
        assert kept == counted, f"after step {step} ({action})"
        rows = {r[0]: r for r in kept}
        capacities = {r["id"]: r["capacity"] for r in await loaded.fetch_all(
            "SELECT id, capacity FROM screenings")}
        full = full or any(rows[s][1] >= capacities[s] for s in run.screenings)
        waiting = waiting or any(rows[s][2] for s in run.screenings)
        statuses.update(r[0] for r in await loaded.fetch_all(
            "SELECT DISTINCT status FROM registrations"))
    # The sequence did what it is for: every kind of change, full screenings, waiting
    # parties, and registrations of every status.
    assert all(done.values()), done
    assert full and waiting
    assert statuses == {"confirmed", "held", "waitlisted", "cancelled"}
    expired = await loaded.fetch_one(
        "SELECT COUNT(*) FROM registrations WHERE cancel_reason = 'expired'")
    assert expired[0] > 0


async def another_screening(db: Database, source: int) -> int:
    """A copy of screening `source` a day later, inserted in SQL; answers its id."""
    row = dict(await db.fetch_one("SELECT * FROM screenings WHERE id = ?", (source,)))
    del row["id"]
    row.update(key=row["key"] + "-copy", uid="copy-" + row["uid"],
               starts_at=row["starts_at"].replace("-13T", "-14T"),
               ends_at=row["ends_at"].replace("-13T", "-14T"))
    async with db.transaction() as conn:
        return await insert_returning_id(
            conn, f"INSERT INTO screenings ({', '.join(row)}) "
                  f"VALUES ({', '.join('?' * len(row))})", list(row.values()))


async def test_a_new_screening_starts_with_nothing_taken_and_its_row_goes_with_it(
        loaded: Database) -> None:
    added = await another_screening(loaded, await screening_id(loaded, "hague"))
    assert tuple(await loaded.fetch_one("SELECT taken, waiting FROM screening_seats"
                                        " WHERE screening_id = ?", (added,))) == (0, 0)
    await sql(loaded, "DELETE FROM screenings WHERE id = ?", (added,))
    assert await loaded.fetch_one("SELECT 1 FROM screening_seats WHERE screening_id = ?",
                                  (added,)) is None
    kept, counted = await kept_and_counted(loaded)
    assert kept == counted


# --- migrating a database in use -----------------------------------------------------------

NOW = "2099-11-01T10:00:00Z"
ROWS_AT_VERSION_14 = [
    f"""INSERT INTO editions (id, key, name, starts_on, ends_on, updated_at)
        VALUES (1, '2099', 'Festival', '2099-12-05', '2099-12-18', '{NOW}')""",
    f"""INSERT INTO venues (id, key, name, city, country, timezone, capacity, updated_at)
        VALUES (1, 'hall', 'Hall', 'The Hague', 'NL', 'Europe/Amsterdam', 100, '{NOW}')""",
    f"INSERT INTO films (id, key, title, updated_at) VALUES (1, 'film', 'Film', '{NOW}')",
    *(f"""INSERT INTO screenings (id, edition_id, key, uid, film_id, venue_id, starts_at,
              ends_at, timezone, capacity, created_at, updated_at)
          VALUES ({i}, 1, 's{i}', 'uid-{i}@festival', 1, 1, '2099-12-1{i}T18:00:00Z',
                  '2099-12-1{i}T20:00:00Z', 'Europe/Amsterdam', 10, '{NOW}', '{NOW}')"""
      for i in (1, 2, 3)),
    *(f"""INSERT INTO registrations (id, screening_id, token, name, email, email_key, seats,
              status, created_at, updated_at)
          VALUES ({n}, {sid}, 'token-{n:02d}-000000000000000', 'P', 'p{n}@example.org',
                  'p{n}@example.org', {seats}, '{status}', '{NOW}', '{NOW}')"""
      for n, (sid, seats, status) in enumerate([
          (1, 2, "confirmed"), (1, 3, "held"), (1, 1, "cancelled"), (1, 4, "waitlisted"),
          (1, 1, "waitlisted"), (2, 5, "cancelled"), (2, 2, "waitlisted")], start=1)),
]
EXPECTED = [(1, 5, 2), (2, 0, 1), (3, 0, 0)]  # screening 3 has no registration


async def at_version_14(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database migrated up to version 14 holding ROWS_AT_VERSION_14; its location."""
    if backend == "sqlite":
        path = tmp_path / "v14.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        for version, _name, script in migration_files("sqlite"):
            if version > 14:
                break
            conn.execute("BEGIN")
            for statement in script_statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        for statement in ROWS_AT_VERSION_14:
            conn.execute(statement)
        conn.close()
        return str(path)
    server: postgres.Server = request.getfixturevalue("postgresql_server")
    url = server.url(server.create())
    request.addfinalizer(lambda: server.drop(url.rsplit("/", 1)[1]))
    raw = await asyncpg.connect(url)
    try:
        for version, _name, script in migration_files("postgresql"):
            if version > 14:
                break
            await raw.execute(script)
        # As the engine records its version (festival.core.store.postgresql).
        await raw.execute("CREATE TABLE festival_schema (version INTEGER NOT NULL)")
        await raw.execute("INSERT INTO festival_schema VALUES (14)")
        for statement in ROWS_AT_VERSION_14:
            await raw.execute(statement)
        for table in ("editions", "venues", "films", "screenings", "registrations"):
            await raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                              f" (SELECT MAX(id) FROM {table}))")  # past the ids given
    finally:
        await raw.close()
    return url


async def test_migrating_counts_what_a_database_in_use_holds(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    assert max(v for v, _name, _sql in migration_files(backend)) >= 15
    db = await Database(await at_version_14(backend, request, tmp_path)).open()
    try:
        kept, counted = await kept_and_counted(db)
        assert kept == counted == EXPECTED
        # And from then on the triggers keep them.
        registration, created = await registrations.register(
            db, 2, "Ana", "ana@example.org", 3, now=datetime(2099, 11, 2, tzinfo=UTC))
        assert created and registration["status"] == "waitlisted"  # someone waits already
        kept, counted = await kept_and_counted(db)
        assert kept == counted == [(1, 5, 2), (2, 0, 2), (3, 0, 0)]
    finally:
        await db.close()


# --- the hot paths read the kept counts -----------------------------------------------------

AGGREGATE = re.compile(r"\b(SUM|COUNT)\s*\(", re.IGNORECASE)
FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def summed_registrations(statement: str, functions: tuple[str, ...] = ("SUM", "COUNT")
                         ) -> bool:
    """Whether `statement` sums or counts registrations: an aggregate whose first FROM
    after it reads the registrations table."""
    for found in AGGREGATE.finditer(statement):
        table = FROM.search(statement, found.end())
        if found.group(1).upper() in functions and table and table.group(1) == "registrations":
            return True
    return False


def test_the_check_finds_sums_over_registrations() -> None:
    assert summed_registrations("SELECT (SELECT COALESCE(SUM(seats), 0) FROM registrations"
                                " WHERE screening_id = s.id) FROM screenings s")
    assert summed_registrations("SELECT SUM(CASE WHEN status = 'x' THEN seats END) AS a,"
                                " COUNT(*) AS b FROM registrations GROUP BY screening_id")
    assert not summed_registrations("SELECT r.id, (SELECT COUNT(*) FROM outbox o) AS n"
                                    " FROM registrations r WHERE r.id = 1")
    assert not summed_registrations("SELECT taken FROM screening_seats WHERE screening_id = 1")


@pytest.mark.sqlite_only  # the statements are watched with sqlite3's trace callback
async def test_deciding_on_seats_sums_no_registrations(loaded: Database) -> None:
    organiser = {"id": await add_organiser(loaded, "nl@example.org", country="NL"),
                 "role": "organiser", "country": "NL", "email": "nl@example.org"}
    hague, sydney = await screening_id(loaded, "hague"), await screening_id(loaded, "sydney")
    await sql(loaded, "UPDATE screenings SET capacity = 3 WHERE id = ?", (hague,))
    encore = await another_screening(loaded, hague)
    seen: list[str] = []
    for conn in loaded._engine._all:  # noqa: SLF001 - the store's connections, read only
        await conn.set_trace_callback(seen.append)

    def ran(what: str) -> list[str]:
        """The statements run since the last call; they did write registrations."""
        statements = [" ".join(s.split()) for s in seen]
        seen.clear()
        assert any(s.startswith(("INSERT INTO registrations", "UPDATE registrations"))
                   for s in statements), (what, statements)
        return statements

    # Registering (confirmed, waitlisted, held) reads the kept counts, and neither sums
    # nor counts registrations.
    ana, _created = await registrations.register(loaded, hague, "Ana", "ana@example.org", 3)
    bo, _created = await registrations.register(loaded, hague, "Bo", "bo@example.org", 1)
    await registrations.set_email_confirmation(loaded, "2099", required=True)
    await registrations.register(loaded, sydney, "Cy", "cy@example.org", 1)
    assert (ana["status"], bo["status"]) == ("confirmed", "waitlisted")
    statements = ran("register")
    assert sum("FROM screening_seats" in s for s in statements) == 3  # one per register
    assert not [s for s in statements if summed_registrations(s)]
    # Freeing seats and promoting the waitlist, the door, the organisers' changes: no
    # sum. (Reading a waiting registration counts those ahead of it: its place.)
    await registrations.cancel(loaded, ana["token"])
    await door.add_walk_in(loaded, organiser, hague, "Walk In", 1)
    await management.change_seats(loaded, organiser, hague, bo["id"], 2)
    await management.move(loaded, organiser, hague, bo["id"], encore)
    statements = ran("cancel, walk-in, seats, move")
    assert not [s for s in statements if summed_registrations(s, ("SUM",))]
    kept, counted = await kept_and_counted(loaded)
    assert kept == counted
