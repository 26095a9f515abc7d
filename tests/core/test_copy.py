"""`festival copy --from SOURCE --to TARGET`: a whole database moved to another location,
SQLite to SQLite here always, SQLite to PostgreSQL and back when a PostgreSQL server can
be had (tests/postgres.py). What a festival would notice after moving: every
registration, ticket token, account, poster and queued mail still there, the same
public programme, search still finding films, new registrations getting new numbers;
and a copy into a database that already holds data refused with nothing touched."""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from festival.__main__ import main
from festival.core.store import Database, migration_files
from festival.core.store.copying import (
    DERIVED,
    CopyRefused,
    copy_database,
    same_location,
    seeded_rows,
)
from festival.core.store.sqlite import statements
from festival.programme import posters, queries, search
from tests import postgres
from tests.helpers import SAMPLE, add_organiser, register, run_sync, sql

ADMIN = {"id": None, "role": "admin", "country": None}
# A PNG header with every byte value after it: a poster that must come back byte for byte.
POSTER = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 40, 60)
          + bytes(range(256)) * 4)
MESSAGE = b"From: festival\r\n\r\nbytes \x00\xff\xfe kept\r\n"
ADDRESSES = ("ana@example.org", "bo@example.org", "boss@example.org")


def programme() -> dict[str, Any]:
    """The sample programme with an accented film title, for the search, and a guest at
    two debates (screening_guests' key is two columns: rows that share a guest)."""
    data = json.loads(SAMPLE.read_text("utf-8"))
    data["films"][1]["title"] = "La Traversée"
    data["screenings"][1]["debate"] = {"title": "Crossing borders", "guests": ["ana-reyes"]}
    return data


async def fill(location: str) -> dict[str, Any]:
    """A festival with real content at `location`: the programme, an admin, registrations
    with their queued mail (one with its message bytes), a poster, a rate-limit entry.
    Answers the registrations."""
    from festival.programme.loader import import_programme

    db = await Database(location).open()
    try:
        await import_programme(db, programme())
        await add_organiser(db, "boss@example.org", role="admin", country=None)
        made = {
            "ana": await register(db, "hague", "Ana Silva", "ana@example.org", 2),
            "bo": await register(db, "sydney", "Bo Chen", "bo@example.org", 1),
        }
        film = await db.fetch_one("SELECT id FROM films WHERE key = 'the-crossing'")
        assert film is not None
        await posters.save(db, ADMIN, film["id"], POSTER)
        await sql(db, "UPDATE outbox SET message = ? WHERE id = (SELECT MIN(id) FROM outbox)",
                  (MESSAGE,))
        await sql(db, "INSERT INTO rate_limit_events (bucket, client, weight, at) "
                      "VALUES ('register', '192.0.2.1', 2, 1700000000.25)")
        return made
    finally:
        await db.close()


def filled_file(path: Path) -> str:
    run_sync(fill(str(path)))
    return str(path)


def sqlite_rows(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every copied table of an SQLite file (not the search index)."""
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'screening_search' AND name NOT LIKE 'screening\\_search\\_%'"
            " ESCAPE '\\'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables}


async def seen_by_the_public(location: str) -> dict[str, Any]:
    """What visitors and the app see: the programme, its version, a search by an
    accented word, the poster's bytes, the queued mail's bytes, the tickets."""
    db = await Database(location).open()
    try:
        edition = await queries.current_edition(db)
        assert edition is not None
        film = await db.fetch_one("SELECT id FROM films WHERE key = 'the-crossing'")
        _poster, image = await posters.image(db, film["id"], "png")
        found = await search.matching_ids(db, "traversée")
        crossing = await db.fetch_all("SELECT id FROM screenings WHERE film_id = ?",
                                      (film["id"],))
        message = await db.fetch_one("SELECT message FROM outbox WHERE message IS NOT NULL")
        tickets = await db.fetch_all("SELECT id, token, status, seats FROM registrations "
                                     "ORDER BY id")
        return {
            "screenings": await queries.list_screenings(db, edition["id"]),
            "programme_version": await queries.programme_version(db),
            "poster": image,
            "found": sorted(found or ()),
            "crossing": sorted(int(r["id"]) for r in crossing),
            "message": bytes(message["message"]),
            "tickets": [tuple(r) for r in tickets],
        }
    finally:
        await db.close()


def old_database(path: Path, version: int) -> str:
    """An SQLite database at schema `version` (migrations up to it), with one edition."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for number, _name, script in migration_files("sqlite"):
            if number <= version:
                for statement in statements(script):
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version:d}")
        conn.execute("INSERT INTO editions (key, name, starts_on, ends_on, updated_at) VALUES "
                     "('2098', 'Earlier', '2098-12-01', '2098-12-10', '2098-01-01T00:00:00Z')")
    finally:
        conn.close()
    return str(path)


# --- SQLite to SQLite ----------------------------------------------------------------------

def test_a_copied_database_holds_every_row_and_shows_the_same_programme(tmp_path: Path) -> None:
    source = filled_file(tmp_path / "source.db")
    target = str(tmp_path / "target.db")

    summary = run_sync(copy_database(source, target, batch_rows=2))

    assert sqlite_rows(target) == sqlite_rows(source)
    counts = dict(summary.tables)
    assert counts["registrations"] == 2 and counts["screenings"] == 5
    assert counts["posters"] == 1 and counts["programme_version"] == 1
    # Equal above, seat counts included: the target's triggers rebuilt them.
    assert summary.total == sum(len(rows) for table, rows in sqlite_rows(source).items()
                                if table not in DERIVED)
    before, after = run_sync(seen_by_the_public(source)), run_sync(seen_by_the_public(target))
    assert after == before
    assert after["poster"] == POSTER and after["message"] == MESSAGE
    assert after["found"] == after["crossing"] != []


def test_copy_prints_rows_per_table_and_never_an_address_or_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")
    target = str(tmp_path / "target.db")

    assert main(["copy", "--from", source, "--to", target]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"Copied {source} to {target} (schema version ")
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert lines["registrations"] == "2" and lines["screenings"] == "5"
    assert out.rstrip().endswith(" rows")
    tokens = [token for _id, token, _status, _seats in
              run_sync(seen_by_the_public(target))["tickets"]]
    for secret in (*ADDRESSES, *tokens, "@"):
        assert secret not in out


def test_quiet_copy_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")

    assert main(["copy", "--from", source, "--to", str(tmp_path / "t.db"), "--quiet"]) == 0

    assert capsys.readouterr().out == ""
    assert sqlite_rows(str(tmp_path / "t.db")) == sqlite_rows(source)


def test_a_target_that_holds_data_is_refused_naming_the_table_and_left_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")
    target = str(tmp_path / "target.db")
    run_sync(_add_account(target))
    before = sqlite_rows(target)

    assert main(["copy", "--from", source, "--to", target]) == 1

    assert capsys.readouterr().err == (
        f"festival: {target} is not empty: table organisers holds rows; copy into a new, "
        "empty database\n")
    assert sqlite_rows(target) == before


async def _add_account(location: str) -> None:
    db = await Database(location).open()
    try:
        await add_organiser(db, "someone@example.org", role="admin", country=None)
    finally:
        await db.close()


def test_databases_at_different_schema_versions_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")
    with sqlite3.connect(source) as conn:  # as if written by a newer festival
        conn.execute("PRAGMA user_version = 99")
    target = str(tmp_path / "target.db")

    assert main(["copy", "--from", source, "--to", target]) == 1

    newest = max(version for version, _name, _sql in migration_files())
    assert capsys.readouterr().err.startswith(
        f"festival: the schema versions differ: {source} is at version 99, {target} at "
        f"{newest}; ")
    assert all(len(rows) == seeded_rows().get(table, 0)
               for table, rows in sqlite_rows(target).items())


def test_copying_a_database_onto_itself_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")
    before = sqlite_rows(source)

    assert main(["copy", "--from", source, "--to", str(tmp_path / "." / "source.db")]) == 1

    assert "are the same database" in capsys.readouterr().err
    assert sqlite_rows(source) == before


def test_a_mistyped_source_is_refused_and_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "festivl.db"
    empty = tmp_path / "empty.db"
    empty.touch()

    assert main(["copy", "--from", str(missing), "--to", str(tmp_path / "t.db")]) == 1
    assert main(["copy", "--from", str(empty), "--to", str(tmp_path / "t.db")]) == 1

    assert capsys.readouterr().err == (f"festival: {missing}: no such file\n"
                                       f"festival: {empty} holds no festival database\n")
    assert not missing.exists()


def test_the_same_database_is_recognised_under_another_spelling(tmp_path: Path) -> None:
    (tmp_path / "a.db").touch()
    (tmp_path / "b.db").symlink_to(tmp_path / "a.db")

    assert same_location(str(tmp_path / "a.db"), str(tmp_path / "b.db"))
    assert not same_location(str(tmp_path / "a.db"), str(tmp_path / "c.db"))
    assert same_location("postgresql://fest@localhost/festival",
                         "postgresql://fest:secret@127.0.0.1:5432/festival")
    assert same_location("postgresql://fest@db.example.org/fest",
                         "postgres://fest@DB.example.org:5432")
    assert not same_location("postgresql://fest@db.example.org/a",
                             "postgresql://fest@db.example.org/b")
    assert not same_location("postgresql://fest@localhost/fest", str(tmp_path / "a.db"))


def test_a_copy_that_fails_halfway_leaves_the_target_empty(tmp_path: Path) -> None:
    source = filled_file(tmp_path / "source.db")
    target = str(tmp_path / "target.db")

    def fail_at_the_screenings(table: str, done: int) -> None:
        if table == "screenings":
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        run_sync(copy_database(source, target, batch_rows=2, progress=fail_at_the_screenings))

    assert all(len(rows) == seeded_rows().get(table, 0)
               for table, rows in sqlite_rows(target).items())
    run_sync(copy_database(source, target))  # and it can be tried again
    assert sqlite_rows(target) == sqlite_rows(source)


def test_an_older_source_is_migrated_before_it_is_copied(tmp_path: Path) -> None:
    source = old_database(tmp_path / "old.db", 13)
    target = str(tmp_path / "target.db")

    run_sync(copy_database(source, target))

    newest = max(version for version, _name, _sql in migration_files())
    with sqlite3.connect(source) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == newest
    assert sqlite_rows(target)["editions"] == sqlite_rows(source)["editions"] != []


def test_registering_after_a_copy_gets_the_next_number(tmp_path: Path) -> None:
    source = filled_file(tmp_path / "source.db")
    target = str(tmp_path / "target.db")
    run_sync(copy_database(source, target))

    made = run_sync(_register_once_more(target))

    assert made["id"] == max(r[0] for r in sqlite_rows(source)["registrations"]) + 1


async def _register_once_more(location: str) -> dict[str, Any]:
    db = await Database(location).open()
    try:
        return await register(db, "kathmandu", "Cy Dee", "cy@example.org", 1)
    finally:
        await db.close()


# --- PostgreSQL ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest) -> postgres.Server:
    reason = postgres.why_not()
    if reason:
        pytest.skip(reason)
    return request.getfixturevalue("postgresql_server")


@pytest.fixture
def pg_url(pg: postgres.Server) -> Iterator[str]:
    """A new, empty database on the server (not migrated: the copy migrates it)."""
    name = pg.create()
    yield pg.url(name)
    pg.drop(name)


@pytest.mark.postgresql
@pytest.mark.slow
def test_sqlite_to_postgresql_and_back_keeps_every_row_and_byte(
        tmp_path: Path, pg_url: str) -> None:
    source = filled_file(tmp_path / "source.db")
    back = str(tmp_path / "back.db")

    there = run_sync(copy_database(source, pg_url, batch_rows=2))
    again = run_sync(copy_database(pg_url, back, batch_rows=1))

    assert sqlite_rows(back) == sqlite_rows(source)
    assert again.tables == there.tables
    assert run_sync(seen_by_the_public(back)) == run_sync(seen_by_the_public(source))


@pytest.mark.postgresql
@pytest.mark.slow
def test_on_postgresql_after_a_copy_the_programme_search_and_new_ids_work(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")

    assert main(["copy", "--from", source, "--to", pg_url]) == 0

    assert "registrations" in capsys.readouterr().out
    seen = run_sync(seen_by_the_public(pg_url))
    assert seen == run_sync(seen_by_the_public(source))
    assert seen["found"] == seen["crossing"] != []
    assert seen["poster"] == POSTER and seen["message"] == MESSAGE
    largest = {table: max(r[0] for r in rows)
               for table, rows in sqlite_rows(source).items()
               if table in ("registrations", "outbox", "audit_log", "organisers")}
    fresh = run_sync(_new_rows(pg_url))
    assert all(fresh[table] > largest[table] for table in largest), (fresh, largest)


async def _new_rows(location: str) -> dict[str, int]:
    """Ids of rows made after the copy: a registration (with its mail and, through an
    account, an audit entry)."""
    db = await Database(location).open()
    try:
        made = await register(db, "kathmandu", "Cy Dee", "cy@example.org", 1)
        organiser = await add_organiser(db, "new@example.org", role="admin", country=None)
        film = await db.fetch_one("SELECT id FROM films WHERE key = 'wallah-je-te-jure'")
        await posters.save(db, ADMIN, film["id"], POSTER)  # writes an audit entry
        newest = {}
        for table in ("outbox", "audit_log"):
            row = await db.fetch_one(f"SELECT MAX(id) AS id FROM {table}")
            newest[table] = int(row["id"])
        return {"registrations": int(made["id"]), "organisers": organiser, **newest}
    finally:
        await db.close()


@pytest.mark.postgresql
@pytest.mark.slow
def test_a_postgresql_target_that_holds_data_is_refused_and_left_untouched(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = filled_file(tmp_path / "source.db")
    run_sync(_add_account(pg_url))

    assert main(["copy", "--from", source, "--to", pg_url]) == 1

    assert "is not empty: table organisers holds rows" in capsys.readouterr().err
    counts = run_sync(_counts(pg_url))
    assert counts == {"organisers": 1, "editions": 0, "registrations": 0, "outbox": 0}


async def _counts(location: str) -> dict[str, int]:
    db = await Database(location).open()
    try:
        counts = {}
        for table in ("organisers", "editions", "registrations", "outbox"):
            row = await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
            counts[table] = int(row["n"])
        return counts
    finally:
        await db.close()


@pytest.mark.postgresql
@pytest.mark.slow
def test_a_value_postgresql_cannot_hold_stops_the_copy_with_the_target_left_empty(
        tmp_path: Path, pg_url: str) -> None:
    source = filled_file(tmp_path / "source.db")
    with sqlite3.connect(source) as conn:  # SQLite keeps 2.5 in an INTEGER column
        conn.execute("UPDATE rate_limit_events SET weight = 2.5")

    with pytest.raises(CopyRefused) as refused:
        run_sync(copy_database(source, pg_url))

    assert str(refused.value) == ("table rate_limit_events, column weight: a value of type "
                                  "float does not fit the target's integer")
    assert run_sync(_counts(pg_url)) == {
        "organisers": 0, "editions": 0, "registrations": 0, "outbox": 0}
