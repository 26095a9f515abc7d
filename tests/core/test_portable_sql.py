"""The SQL the domain runs stays portable (SQLite now, PostgreSQL later): every statement
run on the store's connections during a few representative flows is captured with
sqlite3's trace callback and checked for SQLite-only constructs. Also the store's
helpers for portable SQL (in_list, chunks, contains, insert_returning_id,
execute_count)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from festival.core import limits
from festival.core.settings import Settings
from festival.core.store import (
    LIKE_ESCAPE,
    MAX_IN_LIST,
    Database,
    chunks,
    contains,
    execute_count,
    fetch_all,
    in_list,
    insert_returning_id,
)
from festival.mail import sender
from festival.organisers import accounts, audit, invites, overview
from festival.privacy import records
from festival.programme import demo
from festival.programme.loader import import_programme
from festival.seats import door, management, registrations
from tests.helpers import PASSWORD, add_organiser, register, screening_id

# About the SQLite engine itself: not run on PostgreSQL.
pytestmark = pytest.mark.sqlite_only

ADMIN = {"id": None, "role": "admin", "country": None}
AFTER_THE_FESTIVAL = datetime(2100, 1, 1, tzinfo=UTC)
COMPARISON = re.compile(r"(!=|<>|<=|>=|=|<|>|\bIS\b|\bIN\b|\bLIKE\b|\bBETWEEN\b)", re.I)


def _argument(sql: str, open_at: int) -> tuple[str, int]:
    """The text inside the parenthesis opening at `open_at`, and the index after it."""
    depth = 0
    for i in range(open_at, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return sql[open_at + 1:i], i + 1
    return sql[open_at + 1:], len(sql)


def _top_level(text: str) -> str:
    """`text` without what is inside parentheses or quotes."""
    text = re.sub(r"'(?:[^']|'')*'", "''", text)
    while True:
        shorter = re.sub(r"\([^()]*\)", "()", text)
        if shorter == text:
            return text
        text = shorter


def sqlite_only(sql: str) -> list[str]:
    """The SQLite-only constructs in one statement."""
    found = []
    flat = " ".join(sql.split())
    for word in ("json_each", "randomblob"):
        if word in flat.lower():
            found.append(word)
    if re.search(r"\bINSERT\s+OR\s", flat, re.I):
        found.append("INSERT OR")
    for match in re.finditer(r"\binstr\s*\(", flat, re.I):
        _arg, end = _argument(flat, match.end() - 1)
        if not re.match(r"\s*(!=|<>|<=|>=|=|<|>)", flat[end:]):
            found.append("bare instr()")
    for match in re.finditer(r"\bSUM\s*\(", flat, re.I):
        arg, _end = _argument(flat, match.end() - 1)
        if not arg.strip().upper().startswith("CASE") and COMPARISON.search(_top_level(arg)):
            found.append(f"SUM of a comparison: SUM({arg})")
    return found


def test_the_checks_catch_what_they_should() -> None:
    assert sqlite_only("SELECT id FROM t WHERE id IN (SELECT value FROM json_each(?))")
    assert sqlite_only("UPDATE t SET token = lower(hex(randomblob(24)))")
    assert sqlite_only("SELECT 1 FROM t WHERE instr(lower(a), ?) OR instr(b, ?)")
    assert sqlite_only("SELECT COALESCE(SUM(status = 'pending'), 0) FROM outbox")
    assert sqlite_only("INSERT  OR IGNORE INTO t VALUES (1)")
    assert not sqlite_only("SELECT 1 FROM t WHERE instr(lower(a), ?) > 0")
    assert not sqlite_only("SELECT SUM(CASE WHEN s = 'x' THEN seats END), SUM(seats) FROM t")
    assert not sqlite_only("SELECT COALESCE(SUM(r.seats), 0) FROM registrations r")


class Statements:
    """Every statement run on a database's connections from `watch` on."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def watch(self, db: Database) -> None:
        for conn in db._engine._all:  # noqa: SLF001 - the store's connections, read only
            await conn.set_trace_callback(self.seen.append)

    def check(self, *expected: str) -> None:
        assert len(self.seen) > 20, self.seen
        offending = {sql: found for sql in self.seen if (found := sqlite_only(sql))}
        assert not offending, offending
        for text in expected:  # the flows ran what they should
            assert any(text in " ".join(sql.split()) for sql in self.seen), text


async def test_domain_flows_run_only_portable_sql(db: Database, settings: Settings,
                                                  sample_programme: dict[str, Any]) -> None:
    statements = Statements()
    await statements.watch(db)

    # Programme import, then the attendee's side: register, a duplicate, the waitlist.
    await import_programme(db, sample_programme)
    hague = await screening_id(db, "hague")
    ana = await register(db, "hague", "Ana Silva", "ana@example.org", 2)
    _same, created = await registrations.register(db, hague, "Ana", "ana@example.org", 1)
    assert not created
    await register(db, "hague", "Ben Okafor", "ben@example.org", 1)
    await register(db, "sydney", "Ana Silva", "Ana@Example.org", 1)

    # The door and the organisers' pages.
    await door.check_in(db, ADMIN, ana["token"], screening_id=hague)
    await door.add_walk_in(db, ADMIN, hague, "Walk In", 1)
    await management.send_message(db, ADMIN, hague, "Doors", "Doors open at seven.")
    edition_id = (await db.fetch_one("SELECT id FROM editions"))[0]
    await overview.dashboard(db, ADMIN, edition_id)
    await overview.registrations_by_day(db, ADMIN, edition_id)
    await overview.list_outbox(db)
    await overview.list_outbox(db, status="pending", country="NL")
    await overview.outbox_counts(db)
    await audit.readable_entries(db, await audit.entries(db))
    await sender.MailSender(db, settings)._log_unsent()  # noqa: SLF001
    assert await demo.earlier_screenings(db, sample_programme) == {
        "screenings": 0, "registered": 0}

    # Accounts: invites, failed sign-ins (the lock counter), rate limits.
    organiser_id = await add_organiser(db, "org@example.org")
    assert organiser_id
    _invite, link = await invites.create_invite(db, "new@example.org", "organiser", "NL",
                                                settings=settings, mail=False)
    await invites.accept(db, link.rsplit("/", 1)[1], PASSWORD, PASSWORD, settings=settings)
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - refused, however it says so
            await accounts.sign_in(db, "org@example.org", "wrong password",
                                   settings=settings, client_ip="192.0.2.1")
    event = await limits.take(db, "register", "192.0.2.1")
    assert event > 0
    assert await limits.forget(db, client="192.0.2.1") >= 1

    # Privacy: export, forget, purge.
    await records.export_person(db, "ana@example.org")
    counts = await records.forget_person(db, "ana@example.org")
    assert counts.registrations == 2
    await records.purge(db, retention_days=1, now=AFTER_THE_FESTIVAL)

    statements.check("RETURNING id", "ON CONFLICT DO NOTHING", "LIKE", "COUNT(CASE WHEN",
                     "sign_in_locks.failures + 1", "CAST(id AS TEXT)")


async def test_pages_run_only_portable_sql(app: Any, sign_in: Any, programme: Any) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    statements = Statements()
    await statements.watch(app.state.db)
    for path in ("/", "/admin/", "/admin/dashboard", "/admin/outbox",
                 "/admin/outbox?status=pending", "/admin/audit", "/admin/screenings",
                 "/admin/organisers"):
        response = await admin.get(path)
        assert response.status_code == 200, path
    statements.check()


# --- the store's helpers -------------------------------------------------------------------

def test_in_list_makes_placeholders_only() -> None:
    marks, params = in_list(["1) OR 1=1 --", "x'y"])
    assert marks == "(?, ?)" and params == ["1) OR 1=1 --", "x'y"]
    assert in_list([]) == ("(NULL)", [])
    with pytest.raises(ValueError):
        in_list(range(MAX_IN_LIST + 1))  # type: ignore[arg-type]
    assert [len(c) for c in chunks(range(2 * MAX_IN_LIST + 1))] == [MAX_IN_LIST] * 2 + [1]
    assert chunks([]) == []


async def test_helpers_on_sqlite(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TEMP TABLE words (id INTEGER PRIMARY KEY, word TEXT)")
        ids = [await insert_returning_id(conn, "INSERT INTO words (word) VALUES (?)", (w,))
               for w in ("50%_off", "500 off", "a\\b", "ab", "x")]
        assert ids == sorted(ids) and len(set(ids)) == 5

        async def like(text: str) -> list[str]:
            rows = await fetch_all(conn, f"SELECT word FROM words WHERE word LIKE ? "
                                         f"{LIKE_ESCAPE} ORDER BY id", (contains(text),))
            return [r[0] for r in rows]

        assert await like("%_") == ["50%_off"]
        assert await like("0 ") == ["500 off"]
        assert await like("\\") == ["a\\b"]
        assert await like("b") == ["a\\b", "ab"]
        marks, params = in_list(ids[:2])
        assert await execute_count(conn, f"DELETE FROM words WHERE id IN {marks}", params) == 2
        marks, params = in_list([])
        assert await execute_count(conn, f"DELETE FROM words WHERE id IN {marks}", params) == 0
        with pytest.raises(ValueError):
            await insert_returning_id(conn, "UPDATE words SET word = 'y'")
        with pytest.raises(LookupError):
            await insert_returning_id(conn, "INSERT INTO words (id, word) VALUES (?, 'z')"
                                            " ON CONFLICT DO NOTHING", (ids[-1],))
        await conn.execute("DROP TABLE words")


async def test_rate_limit_ids_count_and_release(db: Database) -> None:
    """take answers the new row's id (insert_returning_id), and release uncounts it."""
    first = await limits.take(db, "register", "198.51.100.7")
    second = await limits.take(db, "register", "198.51.100.7")
    assert second > first > 0
    async with db.transaction() as conn:
        await limits.release(conn, second)
    assert await limits.forget(db, client="198.51.100.7") == 1
