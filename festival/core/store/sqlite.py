"""The SQLite engine: a few read connections and one write connection to one file.

Writes go through `transaction()`: an asyncio lock serialises them inside this process,
and `BEGIN IMMEDIATE` takes SQLite's write lock before the first read, so the check that
guards a write (seats left, one check-in) sees what the write will change, also when
several worker processes share the file. Waiting for another process's lock is bounded
and retried here, so "database is locked" never reaches a user; past the bound the
caller gets `Busy` (a 503 with Retry-After).

Erased data leaves the file: every connection sets `PRAGMA secure_delete = ON`, so
SQLite overwrites deleted and replaced content with zeros (freed cells, freed pages and
overflow pages, index entries) instead of leaving it in free space; `checkpoint()` then
copies the WAL into the main file and truncates the WAL, whose older page images would
still hold what was erased. Free space written before secure_delete was on can still
hold old copies: the first start at schema version SECURE_DELETE_SINCE or later VACUUMs
the file once to rebuild it without them (festival.privacy, docs/privacy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiosqlite

from festival.core.errors import Busy
from festival.core.store import Params, migration_files

LOCK_WAIT_SECONDS = 15.0  # how long a write waits for other processes before giving up
READ_CONNECTIONS = 3
# The schema version (0009_privacy.sql) from which every connection has secure_delete on;
# a database migrated across it is VACUUMed once (see SqliteEngine.open).
SECURE_DELETE_SINCE = 9


class SqliteConnection:
    """One aiosqlite connection behind the store's Connection interface. Every call is
    one trip to the connection's thread (`execute_fetchall`; a cursor costs three)."""

    dialect = "sqlite"

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self.raw.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.raw.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self.raw.execute_fetchall(sql, params)

    async def execute_count(self, sql: str, params: Params = ()) -> int:
        async with self.raw.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        await self.raw.executemany(sql, rows)

    async def lock_row(self, table: str, row_id: int) -> None:
        """Nothing: a transaction holds the whole file's write lock from its start."""

    async def lock_name(self, name: str) -> None:
        """Nothing, as for lock_row."""

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
        return int(row[0])


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteEngine:
    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: SqliteConnection | None = None
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self.commits = 0
        self._group: asyncio.Future[None] | None = None  # the open group's outcome
        self._committer: asyncio.Task[None] | None = None

    async def _connect(self) -> SqliteConnection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._all.append(conn)
        conn.row_factory = sqlite3.Row
        # Short busy timeout: the long wait is our own retry loop, which keeps the
        # event loop free and bounded.
        await conn.execute("PRAGMA busy_timeout = 200")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        # Deleted and overwritten content is zeroed, not left in free space (erasure).
        await conn.execute("PRAGMA secure_delete = ON")
        return SqliteConnection(conn)

    async def open(self, migrate: bool = True) -> SqliteEngine:
        try:
            return await self._open(migrate)
        except BaseException:
            await self.close()  # no connection thread left behind to hang the exit
            raise

    async def _open(self, migrate: bool) -> SqliteEngine:
        self._writer = writer = await self._connect()
        await _retry_locked(lambda: writer.raw.execute("PRAGMA journal_mode = WAL"))
        if migrate:
            before = await writer.schema_version()
            after = await _migrate(writer)
            if 0 < before < SECURE_DELETE_SINCE <= after:
                # Written before secure_delete: free space may hold copies of old rows.
                await self.vacuum()
        for _ in range(READ_CONNECTIONS):
            conn = await self._connect()
            await conn.raw.execute("PRAGMA query_only = ON")
            self._readers.put_nowait(conn)
        return self

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer
        for conn in self._all:
            await conn.close()
        self._all.clear()

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[SqliteConnection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        """One write, rolled back on any exception, answered only once it is durable.

        Group commit: writes that queue for the lock while one runs join its
        transaction (`BEGIN IMMEDIATE` once), each inside a savepoint of its own, so one
        that fails is rolled back alone; one COMMIT, and one fsync at synchronous=FULL,
        then makes the whole group durable, and only then does each caller go on (a
        registration is answered 201 after its COMMIT, as before). Each write still runs
        alone and in order, seeing every earlier one: seats stay exact."""
        assert self._writer is not None, "Database.open() first"
        async with self._write_lock:
            conn = self._writer
            if self._group is None:
                await _retry_locked(lambda: conn.raw.execute("BEGIN IMMEDIATE"))
                self._group = asyncio.get_running_loop().create_future()
            group = self._group
            await conn.raw.execute("SAVEPOINT one_write")
            try:
                yield conn
            except BaseException:
                await conn.raw.execute("ROLLBACK TO one_write")
                await conn.raw.execute("RELEASE one_write")
                self._commit_soon()
                raise
            await conn.raw.execute("RELEASE one_write")
            self._commit_soon()
        # Not cancelled with this caller: the others in the group wait for it too.
        await asyncio.shield(group)

    def _commit_soon(self) -> None:
        """Commits the open group once the writes queued before this call have run."""
        if self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_group())

    async def _commit_group(self) -> None:
        async with self._write_lock:
            self._committer = None
            await self._commit_locked()

    async def _commit_locked(self) -> None:
        """COMMITs the open group, if any (the write lock held); every write in it gets
        the outcome: done, or the COMMIT's error."""
        group, self._group = self._group, None
        if group is None:
            return
        writer = self._writer
        assert writer is not None
        try:
            await _retry_locked(lambda: writer.raw.execute("COMMIT"))
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await writer.raw.execute("ROLLBACK")
            group.set_exception(exc)
            group.exception()  # retrieved here; each waiting write raises it
            return
        self.commits += 1
        group.set_result(None)

    async def schema_version(self) -> int:
        async with self.reader() as conn:
            return await conn.schema_version()

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
                await self._commit_locked()
                try:
                    row = await self._writer.fetch_one("PRAGMA wal_checkpoint(TRUNCATE)")
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
            await self._commit_locked()
            writer = self._writer
            await _retry_locked(lambda: writer.raw.execute("VACUUM"))
        return await self.checkpoint()


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


def statements(script: str) -> list[str]:
    """The statements of a migration script, whole (triggers hold `;` inside)."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        found.append(current.strip())
    return found


async def _migrate(conn: SqliteConnection) -> int:
    """Applies every migration newer than the database's version; answers the version.

    Each file is one transaction under the write lock, so two processes starting at once
    apply it once."""
    raw = conn.raw
    for version, _name, sql in migration_files("sqlite"):
        await _retry_locked(lambda: raw.execute("BEGIN IMMEDIATE"))
        try:
            if await conn.schema_version() >= version:
                await raw.execute("ROLLBACK")
                continue
            for statement in statements(sql):
                await raw.execute(statement)
            await raw.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            await raw.execute("ROLLBACK")
            raise
        await raw.execute("COMMIT")
    return await conn.schema_version()
