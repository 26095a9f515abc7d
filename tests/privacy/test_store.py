"""The store's part in erasure (festival.core.store): secure_delete on every connection,
the checkpoint that empties the WAL, and the one VACUUM of a database written before
secure_delete was on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from festival.core.settings import Settings
from festival.core.store import Database, migration_files
from festival.core.store.sqlite import SECURE_DELETE_SINCE
from festival.privacy import records

# About the SQLite file (PostgreSQL's side of erasure is in docs/privacy.md).
pytestmark = pytest.mark.sqlite_only


async def test_every_connection_zeroes_what_it_deletes(db: Database) -> None:
    async with db.transaction() as writer:
        assert (await writer.fetch_one("PRAGMA secure_delete"))[0] == 1
    for _ in range(3):  # each reader in turn
        assert (await db.fetch_one("PRAGMA secure_delete"))[0] == 1


def wal_size(path: str) -> int:
    return Path(path + "-wal").stat().st_size


def holding(path: Path, needle: str) -> list[str]:
    """Which of the database's files hold `needle`."""
    return [suffix for suffix in ("", "-wal", "-shm") if Path(f"{path}{suffix}").exists()
            and needle.encode() in Path(f"{path}{suffix}").read_bytes()]


async def test_checkpoint_empties_the_wal(db: Database, settings: Settings) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO attendees (email_key, secret, created_at)"
                           " VALUES ('a@example.org', 's', '2099-01-01T00:00:00Z')")
    assert wal_size(settings.db_path) > 0

    assert await db.checkpoint() is True

    assert wal_size(settings.db_path) == 0
    assert await db.fetch_one("SELECT 1 FROM attendees") is not None


def old_database(path: Path, needle: str) -> None:
    """A database as versions before SECURE_DELETE_SINCE left it, secure_delete off:
    registrations made under the first schema, one of them rewritten larger (its row
    moves, its old copy stays in free space), their mails composed and sent (rewritten
    with their overflow pages), then the later migrations applied (which may rebuild
    tables, leaving the old pages on the freelist as they were)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA secure_delete = OFF")
        older = [(v, sql) for v, _name, sql in migration_files() if v < SECURE_DELETE_SINCE]
        conn.executescript(older[0][1])
        stamp = "2099-01-01T00:00:00Z"
        conn.execute("INSERT INTO editions (key, name, starts_on, ends_on, updated_at)"
                     " VALUES ('e', 'E', '2099-12-05', '2099-12-18', ?)", (stamp,))
        conn.execute("INSERT INTO venues (key, name, city, country, timezone, capacity,"
                     " updated_at) VALUES ('v', 'V', 'C', 'NL', 'Europe/Amsterdam', 999, ?)",
                     (stamp,))
        conn.execute("INSERT INTO films (key, title, updated_at) VALUES ('f', 'F', ?)", (stamp,))
        conn.execute("INSERT INTO screenings (edition_id, key, uid, film_id, venue_id,"
                     " starts_at, ends_at, timezone, capacity, created_at, updated_at)"
                     " VALUES (1, 's', 'u', 1, 1, '2099-12-13T18:00:00Z',"
                     " '2099-12-13T20:00:00Z', 'Europe/Amsterdam', 999, ?, ?)", (stamp, stamp))
        for n in range(300):
            email = needle if n == 150 else f"p{n}@example.org"
            conn.execute("INSERT INTO registrations (screening_id, token, name, email,"
                         " email_key, seats, status, created_at, updated_at)"
                         " VALUES (1, ?, 'N', ?, ?, 1, 'waitlisted', ?, ?)",
                         (f"token-{n:04d}-xxxxxxxxxxxx", email, email, stamp, stamp))
        conn.execute("UPDATE registrations SET status = 'confirmed', confirmed_at = ?,"
                     " name = 'A much longer name than before' WHERE email = ?",
                     (stamp, needle))
        # Each message queued, composed (stored whole, over overflow pages), then sent.
        for n in range(100, 200):
            recipient = needle if n == 150 else f"p{n}@example.org"
            conn.execute("INSERT INTO outbox (created_at, kind, registration_id, recipient,"
                         " message_id, next_attempt_at) VALUES (?, 'confirmed', ?, ?, ?, ?)",
                         (stamp, n + 1, recipient, f"<m{n}@festival>", stamp))
            body = f"To: N <{recipient}>\r\n\r\n".encode() + bytes(20000)
            conn.execute("UPDATE outbox SET message = ? WHERE message_id = ?",
                         (body, f"<m{n}@festival>"))
            conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = 1"
                         " WHERE message_id = ?", (stamp, f"<m{n}@festival>"))
        for _version, sql in older[1:]:
            conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {older[-1][0]}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def test_a_database_from_before_secure_delete_is_vacuumed_once(tmp_path: Path) -> None:
    assert SECURE_DELETE_SINCE in [version for version, _name, _sql in migration_files()]
    path = tmp_path / "old.db"
    needle = "zq-old-copy-5309@example.org"
    old_database(path, needle)
    assert holding(path, needle) == [""]

    db = await Database(str(path), synchronous="NORMAL").open()
    try:
        await records.forget_person(db, needle)
    finally:
        await db.close()

    assert holding(path, needle) == []
