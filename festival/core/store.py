"""The database: a few read connections and one write connection to one SQLite file.

Writes go through `Database.transaction()`: an asyncio lock serialises them inside this
process, and `BEGIN IMMEDIATE` takes SQLite's write lock before the first read, so the
check that guards a write (seats left, one check-in) sees what the write will change,
also when several worker processes share the file. Waiting for another process's lock
is bounded and retried here, so "database is locked" never reaches a user; past the
bound the caller gets `Busy` (a 503 with Retry-After).

Erased data leaves the file: every connection sets `PRAGMA secure_delete = ON`, so
SQLite overwrites deleted and replaced content with zeros (freed cells, freed pages and
overflow pages, index entries) instead of leaving it in free space; `checkpoint()` then
copies the WAL into the main file and truncates the WAL, whose older page images would
still hold what was erased. Free space written before secure_delete was on can still
hold old copies: the first start at schema version SECURE_DELETE_SINCE or later VACUUMs
the file once to rebuild it without them (festival.privacy, docs/privacy.md).

All SQL uses parameters and stays close to standard SQL, so a PostgreSQL backend can
take this module's place.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from typing import Any

import aiosqlite

from festival.core.errors import Busy

Row = sqlite3.Row
Params = Sequence[Any] | dict[str, Any]

LOCK_WAIT_SECONDS = 15.0  # how long a write waits for other processes before giving up
READ_CONNECTIONS = 3
# The schema version (0009_privacy.sql) from which every connection has secure_delete on;
# a database migrated across it is VACUUMed once (see Database.open).
SECURE_DELETE_SINCE = 9


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # Short busy timeout: the long wait is our own retry loop, which keeps the
        # event loop free and bounded.
        await conn.execute("PRAGMA busy_timeout = 200")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        # Deleted and overwritten content is zeroed, not left in free space (erasure).
        await conn.execute("PRAGMA secure_delete = ON")
        self._all.append(conn)
        return conn

    async def open(self) -> Database:
        self._writer = await self._connect()
        await _retry_locked(lambda: self._writer.execute("PRAGMA journal_mode = WAL"))
        before = await schema_version(self._writer)
        after = await migrate(self._writer)
        if 0 < before < SECURE_DELETE_SINCE <= after:
            # Written before secure_delete: free space may hold copies of old rows.
            await self.vacuum()
        for _ in range(READ_CONNECTIONS):
            conn = await self._connect()
            await conn.execute("PRAGMA query_only = ON")
            self._readers.put_nowait(conn)
        return self

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
        self._all.clear()

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        assert self._writer is not None, "Database.open() first"
        async with self._write_lock:
            conn = self._writer
            await _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await _retry_locked(lambda: conn.execute("COMMIT"))

    async def checkpoint(self, *, wait: float = 5.0) -> bool:
        """`PRAGMA wal_checkpoint(TRUNCATE)`: copies every page in the WAL into the main
        file and truncates the WAL to zero bytes, so no older page image (of a row since
        erased, say) stays in the -wal file. A reader in another process can keep it from
        completing; it is retried for up to `wait` seconds, without holding this
        process's writes back in between. Answers whether it completed."""
        assert self._writer is not None, "Database.open() first"
        deadline = time.monotonic() + wait
        delay = 0.01
        while True:
            async with self._write_lock:
                try:
                    row = await fetch_one(self._writer, "PRAGMA wal_checkpoint(TRUNCATE)")
                    done = row is not None and row[0] == 0
                except sqlite3.OperationalError as exc:
                    if not _is_locked(exc):
                        raise
                    done = False
            if done or time.monotonic() > deadline:
                return done
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def vacuum(self) -> bool:
        """Rebuilds the file (VACUUM), leaving no free space that could hold old copies,
        then checkpoints; answers whether the checkpoint completed. Holds the write lock
        for as long as it takes: seconds for a large file, so it runs once on upgrade,
        never per request."""
        assert self._writer is not None, "Database.open() first"
        async with self._write_lock:
            writer = self._writer
            await _retry_locked(lambda: writer.execute("VACUUM"))
        return await self.checkpoint()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.reader() as conn:
            return await fetch_all(conn, sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self.reader() as conn:
            return await fetch_one(conn, sql, params)


async def _retry_locked(action: Any) -> Any:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.005
    while True:
        try:
            return await action()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() > deadline:
                if _is_locked(exc):
                    raise Busy() from exc
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def fetch_value(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> Any:
    row = await fetch_one(conn, sql, params)
    return None if row is None else row[0]


async def execute(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> None:
    """Runs one statement. Answers nothing: an INSERT whose id is needed goes through
    `insert_returning_id`, a write whose count is needed through `execute_count`
    (`cursor.lastrowid` has no PostgreSQL counterpart)."""
    async with conn.execute(sql, params):
        pass


async def execute_count(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Runs one UPDATE or DELETE (or INSERT); answers how many rows it changed."""
    async with conn.execute(sql, params) as cursor:
        return cursor.rowcount


async def insert_returning_id(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Runs one INSERT of one row, adding `RETURNING id` (SQLite 3.35+ and PostgreSQL);
    answers the new row's id."""
    if not sql.lstrip().upper().startswith("INSERT") or "RETURNING" in sql.upper():
        raise ValueError("insert_returning_id takes an INSERT without RETURNING")
    row = await fetch_one(conn, sql.rstrip().rstrip(";") + " RETURNING id", params)
    if row is None:  # e.g. ON CONFLICT DO NOTHING that did nothing
        raise LookupError("the INSERT added no row")
    return int(row[0])


# Placeholders per `in_list`: far below SQLite's limit (32766 since 3.32) and PostgreSQL's
# (65535), so a statement with a few more parameters stays within both.
MAX_IN_LIST = 500


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`(?, ?, ...)` with one placeholder per value, and the values as parameters: the
    portable form of `x IN (SELECT value FROM json_each(?))`. Only placeholders enter the
    SQL text, never a value. No values give `(NULL)`, which no row matches (`IN ()` is
    not valid PostgreSQL); mind that `x NOT IN (NULL)` matches no row either. At most
    MAX_IN_LIST values: split longer lists with `chunks`."""
    values = list(values)
    if len(values) > MAX_IN_LIST:
        raise ValueError(f"in_list takes at most {MAX_IN_LIST} values; use chunks()")
    if not values:
        return "(NULL)", []
    return "(" + ", ".join("?" * len(values)) + ")", values


# `column LIKE ? ESCAPE '\'` with `contains(text)` as the parameter: whether the column
# holds `text`, in SQL both SQLite and PostgreSQL accept (SQLite's instr() does not exist
# in PostgreSQL, nor PostgreSQL's position()/strpos() in SQLite).
LIKE_ESCAPE = "ESCAPE '\\'"


def contains(text: str) -> str:
    """The LIKE pattern matching any text that holds `text`: its `\\`, `%` and `_`
    escaped, wrapped in `%`. Use with LIKE_ESCAPE. Both sides should be lower case:
    SQLite's LIKE ignores ASCII case, PostgreSQL's does not."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def chunks(values: Iterable[Any], size: int = MAX_IN_LIST) -> list[list[Any]]:
    """`values` in runs of at most `size` for `in_list`; none for no values."""
    values = list(values)
    return [values[i:i + size] for i in range(0, len(values), size)]


async def execute_many(conn: aiosqlite.Connection, sql: str, rows: Iterable[Params]) -> None:
    await conn.executemany(sql, rows)


# --- migrations --------------------------------------------------------------------------

def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in festival/migrations, in order."""
    found = []
    for entry in resources.files("festival.core.migrations").iterdir():
        if entry.name.endswith(".sql") and entry.name[:4].isdigit():
            found.append((int(entry.name[:4]), entry.name, entry.read_text("utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        statements.append(current.strip())
    return statements


async def schema_version(conn: aiosqlite.Connection) -> int:
    return int(await fetch_value(conn, "PRAGMA user_version"))


async def migrate(conn: aiosqlite.Connection) -> int:
    """Applies every migration newer than the database's version; answers the version.

    Each file is one transaction under the write lock, so two processes starting at once
    apply it once."""
    for version, _name, sql in migration_files():
        await _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            if await schema_version(conn) >= version:
                await conn.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return await schema_version(conn)
