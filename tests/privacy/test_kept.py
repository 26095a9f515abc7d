"""What is kept after the fact: a sent message's headers, not its body; a walk-in's audit
entry without their name or email; and the daily task that purges what has been kept
long enough (festival.privacy.retention)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail import sender
from festival.organisers import audit
from festival.privacy import retention
from festival.seats import door
from tests.helpers import Inbox, free_port, register, screening_id, sql, start_smtp

ADMIN = {"id": None, "role": "admin", "country": None}


async def test_a_sent_message_keeps_its_headers_not_its_body(loaded: Database,
                                                             settings: Settings) -> None:
    ana = await register(loaded, "hague", "Ana Silva", "ana@example.org")
    inbox, port = Inbox(), free_port()
    server = await start_smtp(inbox, port)
    try:
        assert await sender.deliver_due(loaded, dataclasses.replace(
            settings, smtp_url=f"smtp://127.0.0.1:{port}")) == 1
    finally:
        server.close()
        await server.wait_closed()
    delivered = inbox.one()
    assert ana["token"] in delivered.as_string()  # the mail itself carried the ticket link

    row = await loaded.fetch_one("SELECT * FROM outbox WHERE registration_id = ?", (ana["id"],))

    kept = bytes(row["message"])
    assert row["status"] == "sent"
    assert b"Message-ID: " + delivered["Message-ID"].encode() in kept
    assert b"Subject: " in kept and b"To: " in kept
    assert ana["token"].encode() not in kept and b"BEGIN:VCALENDAR" not in kept
    assert b"\n\n" not in kept.replace(b"\r\n", b"\n")  # headers only: no body after them


def test_headers_of_cuts_at_the_first_blank_line() -> None:
    assert sender.headers_of(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore") == b"A: 1\r\nB: 2"
    assert sender.headers_of(b"A: 1\nB: 2\n\nbody") == b"A: 1\nB: 2"


async def test_a_walk_ins_audit_entry_names_nobody(loaded: Database) -> None:
    hague = await screening_id(loaded, "hague")
    walk_in = await door.add_walk_in(loaded, ADMIN, hague, "Wanda Walker", 2,
                                     "wanda@example.org")
    entry = audit.entry_from_row(await loaded.fetch_one(
        "SELECT * FROM audit_log WHERE action = 'registration.walk_in'"))
    assert entry["entity_id"] == walk_in["id"]
    assert entry["after"]["seats"] == 2 and entry["after"]["walk_in"] is True
    assert "Wanda" not in entry["after_json"] and "wanda@" not in entry["after_json"]


async def edition_long_over(db: Database) -> None:
    """Moves the sample edition, with every screening, back to December 2000."""
    await sql(db, "UPDATE editions SET starts_on = '2000-12-05', ends_on = '2000-12-18'")
    await sql(db, "UPDATE screenings SET starts_at = '2000' || substr(starts_at, 5),"
                  " ends_at = '2000' || substr(ends_at, 5)")


async def test_daily_round_purges_with_the_configured_retention(loaded: Database,
                                                                settings: Settings) -> None:
    await register(loaded, "hague", "Ana Silva", "ana@example.org")
    await edition_long_over(loaded)
    longer = dataclasses.replace(settings, retention_days=400)

    # 1 December 2001 is 348 days after the edition's end: within 400 days, past 90.
    kept = await retention.purge_due(loaded, longer, now=datetime(2001, 12, 1, tzinfo=UTC))
    assert kept.registrations == 0
    counts = await retention.purge_due(loaded, settings, now=datetime(2001, 12, 1, tzinfo=UTC))
    assert (counts.registrations, counts.editions) == (1, ("2099",))


async def test_retention_task_runs_at_start_and_stops(loaded: Database,
                                                      settings: Settings) -> None:
    ana = await register(loaded, "hague", "Ana Silva", "ana@example.org")
    await edition_long_over(loaded)

    task = retention.RetentionTask(loaded, settings, interval=3600).start()
    try:
        for _ in range(200):
            row = await loaded.fetch_one("SELECT name FROM registrations WHERE id = ?",
                                         (ana["id"],))
            if row["name"] == "":
                break
            await asyncio.sleep(0.01)
        assert row["name"] == ""
    finally:
        await asyncio.wait_for(task.stop(), 5)
    assert task._task is None


async def test_retention_task_logs_a_failed_round_and_goes_on(
        loaded: Database, settings: Settings, caplog: Any, monkeypatch: Any) -> None:
    rounds = 0

    async def failing(db: Database, settings: Settings) -> None:
        nonlocal rounds
        rounds += 1
        raise RuntimeError("disk full")

    monkeypatch.setattr(retention, "purge_due", failing)
    task = retention.RetentionTask(loaded, settings, interval=0.01).start()
    for _ in range(200):
        if rounds >= 2:
            break
        await asyncio.sleep(0.01)
    await task.stop()
    assert rounds >= 2
    assert "the daily purge failed" in caplog.text
