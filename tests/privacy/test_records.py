"""What is held about a person, and erasing it (festival.privacy.records): the export,
forgetting an address (the waitlist moves up; every table, and the file's bytes), and
purging an edition once its retention period is over (the dashboard keeps its figures)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from festival.core.errors import Conflict, NotFound, ValidationError
from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail import sender
from festival.organisers import accounts, audit, overview
from festival.privacy import records
from festival.seats import door
from tests.helpers import (
    PASSWORD,
    Inbox,
    add_organiser,
    free_port,
    register,
    screening_id,
    sql,
    start_smtp,
)

ADMIN = {"id": None, "role": "admin", "country": None}
# Between the Sydney screening (6 December 2099) and the Hague one (13 December).
MID_FESTIVAL = datetime(2099, 12, 10, tzinfo=UTC)
AFTER_THE_FESTIVAL = datetime(2100, 1, 1, tzinfo=UTC)


async def row(db: Database, statement: str, *params: Any) -> dict[str, Any]:
    found = await db.fetch_one(statement, params)
    assert found is not None, statement
    return dict(found)


async def legacy_walk_in_entry(db: Database, registration_id: int, name: str,
                               email: str) -> None:
    """An audit entry as the door wrote them before they stopped naming people."""
    async with db.transaction() as conn:
        await audit.record(conn, None, "registration.walk_in", "registration",
                           registration_id, None,
                           {"name": name, "email": email, "seats": 1, "walk_in": True})


async def deliver_everything(db: Database, settings: Settings) -> int:
    """Sends every due message to an SMTP server on loopback; answers how many."""
    port = free_port()
    server = await start_smtp(Inbox(), port)
    try:
        return await sender.deliver_due(
            db, dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
    finally:
        server.close()
        await server.wait_closed()


# --- export --------------------------------------------------------------------------------

async def test_export_holds_registrations_messages_audit_entries_and_the_organiser_account(
        loaded: Database) -> None:
    ana = await register(loaded, "hague", "Ana Silva", "Ana.Silva@example.org", 2)
    await register(loaded, "sydney", "Ana Silva", "ana.silva@example.org")
    other = await register(loaded, "hague", "Bo Smit", "bo@example.org")
    await legacy_walk_in_entry(loaded, ana["id"], "Ana Silva", "Ana.Silva@example.org")
    await legacy_walk_in_entry(loaded, other["id"], "Bo Smit", "bo@example.org")
    await add_organiser(loaded, "ana.silva@example.org", role="admin", country=None)

    data = await records.export_person(loaded, "  ANA.silva@Example.org ")

    assert data["email"] == "ana.silva@example.org"
    assert [(r["screening"]["city"], r["screening"]["edition"], r["status"], r["seats"])
            for r in data["registrations"]] == [
        ("The Hague", "2099", "confirmed", 2), ("Sydney", "2099", "confirmed", 1)]
    assert data["registrations"][0]["screening"]["film"] == "Wallah, Je te jure"
    assert data["registrations"][0]["name"] == "Ana Silva"
    assert [(m["kind"], m["registration_id"]) for m in data["messages"]] == [
        ("confirmed", r["id"]) for r in data["registrations"]]
    assert all("message" not in m for m in data["messages"])  # metadata, not the bytes
    assert [e["after"]["name"] for e in data["audit_entries"]] == ["Ana Silva"]
    assert data["attendee"]["email_key"] == "ana.silva@example.org"
    assert data["organiser"]["role"] == "admin" and "password_hash" not in data["organiser"]
    text = json.dumps(data)  # JSON as it is
    assert ana["token"] not in text and "bo@example.org" not in text
    assert "secret" not in data["attendee"]


async def test_export_of_an_unknown_address_is_empty(loaded: Database) -> None:
    data = await records.export_person(loaded, "nobody@example.org")
    assert (data["registrations"], data["messages"], data["audit_entries"],
            data["attendee"], data["organiser"]) == ([], [], [], None, None)
    with pytest.raises(ValidationError):
        await records.export_person(loaded, "  ")


# --- forget --------------------------------------------------------------------------------

async def test_forget_cancels_upcoming_seats_and_the_waitlist_moves_up_in_order(
        loaded: Database) -> None:
    hague = await screening_id(loaded, "hague")
    await sql(loaded, "UPDATE screenings SET capacity = 4 WHERE id = ?", (hague,))
    ana = await register(loaded, "hague", "Ana Silva", "ana@example.org", 2)
    await register(loaded, "hague", "Xu Li", "xu@example.org", 2)
    bo = await register(loaded, "hague", "Bo Smit", "bo@example.org", 2)
    cy = await register(loaded, "hague", "Cy Ode", "cy@example.org", 1)
    assert (bo["status"], cy["status"]) == ("waitlisted", "waitlisted")
    past = await register(loaded, "sydney", "Ana Silva", "ANA@example.org")

    counts = await records.forget_person(loaded, "ana@example.org", now=MID_FESTIVAL)

    assert (counts.registrations, counts.cancelled, counts.promoted) == (2, 1, 1)
    rows = {r["id"]: dict(r) for r in await loaded.fetch_all("SELECT * FROM registrations")}
    # Bo waited longest and fits; Cy stays behind him in the queue.
    assert (rows[bo["id"]]["status"], rows[cy["id"]]["status"]) == ("confirmed", "waitlisted")
    assert (rows[ana["id"]]["status"], rows[ana["id"]]["cancel_reason"]) == ("cancelled",
                                                                              "attendee")
    # Sydney has started: what happened stays counted, only who it was goes.
    assert rows[past["id"]]["status"] == "confirmed"
    for erased in (rows[ana["id"]], rows[past["id"]]):
        assert (erased["name"], erased["email"]) == ("", "")
        assert erased["email_key"] == f"erased:{erased['id']}"
        assert erased["token"] not in (ana["token"], past["token"])
    assert rows[bo["id"]]["email"] == "bo@example.org"  # nobody else is touched
    kinds = [(m["registration_id"], m["kind"]) for m in await loaded.fetch_all(
        "SELECT registration_id, kind FROM outbox ORDER BY id")]
    assert (bo["id"], "promoted") in kinds
    assert not any(rid in (ana["id"], past["id"]) for rid, _kind in kinds)  # unsent: gone
    with pytest.raises(NotFound):
        await records.erase_registration(loaded, ana["token"])  # the old link is dead


async def test_forget_erases_every_message_and_audit_entry_but_keeps_sent_metadata(
        loaded: Database, settings: Settings) -> None:
    ana = await register(loaded, "hague", "Ana Silva", "ana@example.org")
    await deliver_everything(loaded, settings)
    await register(loaded, "sydney", "Ana Silva", "ana@example.org")  # still unsent
    await legacy_walk_in_entry(loaded, ana["id"], "Ana Silva", "ana@example.org")
    async with loaded.transaction() as conn:  # an entry that quotes the address elsewhere
        await audit.record(conn, None, "note.create", "note", 1, None,
                           {"text": "Ana asked: reply to ANA@example.org please", "n": 2})
        await audit.record(conn, None, "screening.update", "screening", 1,
                           {"capacity": 100}, {"capacity": 120})
    sent = await row(loaded, "SELECT * FROM outbox WHERE status = 'sent'")

    counts = await records.forget_person(loaded, "ana@example.org")

    assert (counts.messages, counts.unsent, counts.audit_entries) == (1, 1, 2)
    assert counts.checkpointed
    kept = await row(loaded, "SELECT * FROM outbox WHERE id = ?", sent["id"])
    assert (kept["recipient"], kept["recipient_key"], kept["message"]) == ("", "", None)
    assert (kept["kind"], kept["subject"], kept["sent_at"], kept["message_id"]) == (
        sent["kind"], sent["subject"], sent["sent_at"], sent["message_id"])
    assert (await row(loaded, "SELECT COUNT(*) AS n FROM outbox"))["n"] == 1
    trail = [audit.entry_from_row(r) for r in await loaded.fetch_all(
        "SELECT * FROM audit_log ORDER BY id")]
    assert trail[0]["after"] == {"name": "", "email": "", "seats": 1, "walk_in": True}
    assert trail[1]["after"] == {"text": "", "n": 2}
    assert trail[2]["after"] == {"capacity": 120}  # nothing of hers: unchanged
    assert await loaded.fetch_one("SELECT 1 FROM attendees WHERE email_key = ?",
                                  ("ana@example.org",)) is None
    assert (await records.export_person(loaded, "ana@example.org"))["registrations"] == []


async def test_forget_leaves_an_organiser_account_unless_asked(loaded: Database) -> None:
    organiser_id = await add_organiser(loaded, "ana@example.org")
    async with loaded.transaction() as conn:
        await conn.execute("INSERT INTO sessions (token_hash, organiser_id, created_at,"
                           " expires_at) VALUES ('h', ?, '2000-01-01T00:00:00Z',"
                           " '2999-01-01T00:00:00Z')", (organiser_id,))

    kept = await records.forget_person(loaded, "ana@example.org")
    assert (kept.organisers, kept.organisers_kept) == (0, 1)
    assert "kept (erase with --organiser)" in kept.summary()
    assert (await row(loaded, "SELECT email FROM organisers"))["email"] == "ana@example.org"

    erased = await records.forget_person(loaded, "ana@example.org", organiser=True)
    assert (erased.organisers, erased.organisers_kept) == (1, 0)
    account = await row(loaded, "SELECT * FROM organisers WHERE id = ?", organiser_id)
    assert account["email"] == f"erased:organiser:{organiser_id}" and account["name"] == ""
    assert account["disabled_at"] is not None
    assert not accounts.verify_password(account["password_hash"], PASSWORD)
    assert await loaded.fetch_one("SELECT 1 FROM sessions") is None


def file_bytes(path: str) -> dict[str, bytes]:
    """The database file, its WAL and its shared-memory index, lower-cased."""
    return {suffix: Path(path + suffix).read_bytes().lower() if Path(path + suffix).exists()
            else b"" for suffix in ("", "-wal", "-shm")}


@pytest.mark.sqlite_only
async def test_forget_leaves_no_copy_in_the_database_files(loaded: Database,
                                                            settings: Settings) -> None:
    address, name = "Zq.Forget-Me-4711@Example.ORG", "Zebulon Quillfeather"
    needles = (b"zq.forget-me-4711", b"zebulon quillfeather")
    hague = await screening_id(loaded, "hague")
    # Rows written, rewritten and moved (status changes, a composed and sent message,
    # a walk-in's audit entry), so old copies would lie in freed space if allowed to.
    ana = await register(loaded, "hague", name, address, 2)
    await register(loaded, "sydney", name, address)
    await deliver_everything(loaded, settings)
    await register(loaded, "kathmandu", name, address)
    walk_in = await door.add_walk_in(loaded, ADMIN, hague, "Someone Else", 1,
                                     "someone@example.org")
    await legacy_walk_in_entry(loaded, walk_in["id"], name, address)
    await sql(loaded, "UPDATE registrations SET locale = 'fr' WHERE id = ?", (ana["id"],))
    await loaded.checkpoint()
    held = file_bytes(settings.db_path)
    assert any(n in held[""] for n in needles)  # the test sees what it looks for

    await records.forget_person(loaded, address.upper())

    for suffix, data in file_bytes(settings.db_path).items():
        for needle in (*needles, ana["token"].lower().encode()):
            assert needle not in data, f"{needle!r} is still in the database{suffix} file"
    assert (await row(loaded, "SELECT COUNT(*) AS n FROM registrations"))["n"] == 4


# --- purge ---------------------------------------------------------------------------------

@pytest.fixture
async def night(loaded: Database) -> int:
    """The Hague with 10 seats, all taken: Ana 2 (checked in), Bo 3, a walk-in of 1,
    Cy 4; Di's party of 2 waits. Answers the edition's id."""
    hague = await screening_id(loaded, "hague")
    await sql(loaded, "UPDATE screenings SET capacity = 10 WHERE id = ?", (hague,))
    ana = await register(loaded, "hague", "Ana", "ana@example.org", 2)
    await register(loaded, "hague", "Bo", "bo@example.org", 3)
    await door.check_in(loaded, ADMIN, ana["token"])
    await door.add_walk_in(loaded, ADMIN, hague, "Walk In", 1, "walk@example.org")
    await register(loaded, "hague", "Cy", "cy@example.org", 4)
    await register(loaded, "hague", "Di", "di@example.org", 2)
    await register(loaded, "sydney", "Ana", "ana@example.org", 1)
    return int((await row(loaded, "SELECT id FROM editions WHERE key = '2099'"))["id"])


async def test_purge_erases_an_edition_after_its_retention_and_keeps_the_figures(
        loaded: Database, night: int) -> None:
    before = await overview.dashboard(loaded, ADMIN, night, now=AFTER_THE_FESTIVAL)
    # The festival ends on 18 December 2099: 90 days later is 18 March 2100.
    too_early = await records.purge(loaded, retention_days=90,
                                    now=datetime(2100, 3, 18, 12, tzinfo=UTC))
    assert (too_early.registrations, too_early.editions) == (0, ())

    counts = await records.purge(loaded, retention_days=90,
                                 now=datetime(2100, 3, 19, 12, tzinfo=UTC))

    assert (counts.registrations, counts.cancelled, counts.editions) == (6, 0, ("2099",))
    assert await overview.dashboard(loaded, ADMIN, night, now=AFTER_THE_FESTIVAL) == before
    people = await loaded.fetch_all(
        "SELECT 1 FROM registrations WHERE name != '' OR email != ''"
        " OR email_key NOT LIKE 'erased:%'")
    assert people == []
    assert await loaded.fetch_all("SELECT 1 FROM outbox WHERE recipient != ''") == []
    assert await loaded.fetch_all("SELECT 1 FROM attendees") == []
    again = await records.purge(loaded, retention_days=90, now=datetime(2100, 6, 1, tzinfo=UTC))
    assert (again.registrations, again.editions) == (0, ())


async def test_purge_of_a_named_edition_runs_at_once_once_it_has_ended(
        loaded: Database, night: int) -> None:
    with pytest.raises(Conflict):  # Kathmandu, Mexico and The Hague are still to come
        await records.purge(loaded, retention_days=90, edition_key="2099", now=MID_FESTIVAL)
    assert await loaded.fetch_one("SELECT 1 FROM registrations WHERE name = 'Ana'")
    with pytest.raises(NotFound):
        await records.purge(loaded, retention_days=90, edition_key="1999")

    counts = await records.purge(loaded, retention_days=90, edition_key="2099",
                                 now=datetime(2099, 12, 20, tzinfo=UTC))

    assert (counts.registrations, counts.editions) == (6, ("2099",))
    assert "6 registrations erased" in counts.summary()
    assert await loaded.fetch_one("SELECT 1 FROM registrations WHERE name != ''") is None


async def test_purge_refuses_a_negative_retention(loaded: Database) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        await records.purge(loaded, retention_days=-1)


async def test_counts_add_up() -> None:
    total = records.Counts(registrations=1, editions=("a",), checkpointed=True) + \
        records.Counts(registrations=2, editions=("b",), checkpointed=False)
    assert (total.registrations, total.editions, total.checkpointed) == (3, ("a", "b"), False)
