"""Migration 0007 rebuilds the registrations and outbox tables (for their new statuses):
a database in use keeps every row, id, reference and index, and its attendees get the
secret of their own page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from festival.core.store import Database, migration_files
from festival.core.store.sqlite import statements as _statements

NOW = "2099-11-01T10:00:00Z"


def database_at_version_6(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for version, _name, sql in migration_files():
        if version > 6:
            break
        conn.execute("BEGIN")
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    conn.executescript(f"""
        INSERT INTO editions (id, key, name, starts_on, ends_on, updated_at)
        VALUES (1, '2099', 'Festival', '2099-12-05', '2099-12-18', '{NOW}');
        INSERT INTO venues (id, key, name, city, country, timezone, capacity, updated_at)
        VALUES (1, 'hall', 'Hall', 'The Hague', 'NL', 'Europe/Amsterdam', 100, '{NOW}');
        INSERT INTO films (id, key, title, updated_at) VALUES (1, 'film', 'Film', '{NOW}');
        INSERT INTO screenings (id, edition_id, key, uid, film_id, venue_id, starts_at, ends_at,
                                timezone, capacity, created_at, updated_at)
        VALUES (1, 1, 's', 'uid-1@festival', 1, 1, '2099-12-13T18:00:00Z',
                '2099-12-13T20:00:00Z', 'Europe/Amsterdam', 100, '{NOW}', '{NOW}');
        INSERT INTO registrations (id, screening_id, token, name, email, email_key, seats,
                                   status, created_at, confirmed_at, updated_at, changes)
        VALUES (7, 1, 'token-of-ana-0000000000', 'Ana', 'Ana@Example.org', 'ana@example.org',
                2, 'confirmed', '{NOW}', '{NOW}', '{NOW}', 1),
               (9, 1, 'token-of-bo-00000000000', 'Bo', 'bo@example.org', 'bo@example.org',
                1, 'cancelled', '{NOW}', NULL, '{NOW}', 2);
        INSERT INTO registrations (id, screening_id, token, name, email, email_key, seats,
                                   status, walk_in, created_at, updated_at)
        VALUES (11, 1, 'token-of-walk-in-000000', 'Cy', '', 'walk-in:x', 1, 'confirmed', 1,
                '{NOW}', '{NOW}');
        INSERT INTO outbox (id, created_at, kind, registration_id, recipient, message_id,
                            status, next_attempt_at, sent_at, message)
        VALUES (3, '{NOW}', 'confirmed', 7, 'Ana@Example.org', '<a@festival>', 'sent', '{NOW}',
                '{NOW}', X'4142'),
               (4, '{NOW}', 'cancelled', 9, 'bo@example.org', '<b@festival>', 'pending',
                '{NOW}', NULL, NULL);
    """)
    conn.close()


async def test_a_database_in_use_keeps_its_rows_across_migration_0007(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    database_at_version_6(path)

    db = await Database(str(path), synchronous="NORMAL").open()
    try:
        registrations = [dict(r) for r in await db.fetch_all(
            "SELECT id, token, status, seats, changes, cancel_reason, held_until"
            " FROM registrations ORDER BY id")]
        messages = [dict(r) for r in await db.fetch_all(
            "SELECT id, registration_id, recipient_key, status, message FROM outbox ORDER BY id")]
        attendees = {r["email_key"]: r["secret"] for r in await db.fetch_all(
            "SELECT email_key, secret FROM attendees")}
        problems = await db.fetch_all("PRAGMA foreign_key_check")
        indexes = {r["name"] for r in await db.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            " AND tbl_name IN ('registrations', 'outbox')")}
        edition = await db.fetch_one("SELECT confirm_email, hold_minutes FROM editions")
        async with db.transaction() as conn:  # the new statuses are accepted
            await conn.execute("UPDATE registrations SET status = 'held' WHERE id = 7")
            await conn.execute("UPDATE outbox SET status = 'capped' WHERE id = 4")
    finally:
        await db.close()

    assert registrations == [
        {"id": 7, "token": "token-of-ana-0000000000", "status": "confirmed", "seats": 2,
         "changes": 1, "cancel_reason": None, "held_until": None},
        {"id": 9, "token": "token-of-bo-00000000000", "status": "cancelled", "seats": 1,
         "changes": 2, "cancel_reason": "attendee", "held_until": None},
        {"id": 11, "token": "token-of-walk-in-000000", "status": "confirmed", "seats": 1,
         "changes": 0, "cancel_reason": None, "held_until": None}]
    assert messages == [
        {"id": 3, "registration_id": 7, "recipient_key": "ana@example.org", "status": "sent",
         "message": b"AB"},
        {"id": 4, "registration_id": 9, "recipient_key": "bo@example.org", "status": "pending",
         "message": None}]
    assert set(attendees) == {"ana@example.org", "bo@example.org"}  # walk-ins get none
    assert all(len(secret) == 48 for secret in attendees.values())  # 192 random bits
    assert len(set(attendees.values())) == 2
    assert problems == []
    assert {"registrations_one_per_email", "registrations_screening_status",
            "registrations_held", "outbox_due", "outbox_recipient"} <= indexes
    assert edition is not None and (edition[0], edition[1]) == (0, 30)
