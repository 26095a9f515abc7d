"""The store: one interface over two database engines.

`Database(location)` is SQLite when `location` is a file path (the embedded default) and
PostgreSQL when it is a `postgresql://` URL (several app servers on many hosts). The
domain code sees only this module: `db.reader()` and `db.transaction()` hand out a
`Connection`, and the functions below run SQL on it. The SQL is shared: `?` or `:name`
placeholders (the PostgreSQL engine rewrites them to `$n`) and constructs both engines
accept (tests/core/test_portable_sql.py checks). Where the engines differ, the
difference lives in this package:

- a write transaction: SQLite takes the whole file's write lock first (`BEGIN
  IMMEDIATE`); PostgreSQL runs READ COMMITTED and the code that decides on a row locks it
  first with `lock_row` (`SELECT … FOR UPDATE`), a no-op on SQLite;
- lock waits, serialization failures and deadlocks: retried where they are safe to
  retry; what remains reaches the caller as `Busy` (503) or `TryAgain` (the web layer
  runs the request again, see festival.web.routes);
- migrations: festival/core/migrations/NNNN_*.sql for SQLite,
  festival/core/migrations/postgresql/NNNN_*.sql for PostgreSQL, numbered together;
- erasure: `checkpoint()` (festival.privacy).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import asyncpg

from festival.core.errors import Busy

Params = Sequence[Any] | dict[str, Any]
# A result row: read by column name or position, `dict(row)` gives the columns
# (sqlite3.Row on SQLite, asyncpg.Record on PostgreSQL).
Row = Any


# What either engine raises when a database cannot be opened or a statement fails.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, asyncpg.PostgresError,
                                                asyncpg.InterfaceError)


class TryAgain(Busy):
    """The engine rolled the transaction back (serialization failure, deadlock): running
    the same work again is safe and will normally succeed."""


class Connection(Protocol):
    """What both engines' connections offer; use it through the functions below."""

    dialect: str

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...
    async def execute(self, sql: str, params: Params = ()) -> None: ...
    async def execute_count(self, sql: str, params: Params = ()) -> int: ...
    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None: ...
    async def lock_row(self, table: str, row_id: int) -> None: ...
    async def lock_name(self, name: str) -> None: ...


def is_postgresql(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def describe(location: str) -> str:
    """`location` fit for messages and logs: a URL without its password."""
    if not is_postgresql(location):
        return location
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Database:
    """The festival's database, SQLite or PostgreSQL by `location`."""

    def __init__(self, location: str, *, synchronous: str = "FULL", pool_size: int = 10) -> None:
        self.location = location
        self.dialect = "postgresql" if is_postgresql(location) else "sqlite"
        self.synchronous = synchronous
        self.pool_size = pool_size
        self._engine: Any = None

    async def open(self, *, migrate: bool = True) -> Database:
        """Connects and (unless `migrate=False`) brings the schema up to date."""
        if self.dialect == "postgresql":
            from festival.core.store.postgresql import PostgresEngine
            self._engine = await PostgresEngine(self.location, self.pool_size).open(migrate)
        else:
            from festival.core.store.sqlite import SqliteEngine
            self._engine = await SqliteEngine(self.location, self.synchronous).open(migrate)
        return self

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()

    def reader(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """A connection for reads outside a write (each statement sees committed data)."""
        return self._engine.reader()

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """One write transaction, committed at the end, rolled back on any exception."""
        return self._engine.transaction()

    async def schema_version(self) -> int:
        return await self._engine.schema_version()

    @property
    def commits(self) -> int:
        """How many write transactions this process has committed: a cache in this
        process that saw the same number saw every write made here since."""
        return self._engine.commits if self._engine is not None else 0

    async def checkpoint(self, *, wait: float = 5.0) -> bool:
        """Makes erased data leave the storage as far as the engine allows; answers
        whether that completed (see each engine)."""
        return await self._engine.checkpoint(wait=wait)

    async def vacuum(self) -> bool:
        return await self._engine.vacuum()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.reader() as conn:
            return await conn.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self.reader() as conn:
            return await conn.fetch_one(sql, params)


async def fetch_all(conn: Connection, sql: str, params: Params = ()) -> list[Row]:
    return await conn.fetch_all(sql, params)


async def fetch_one(conn: Connection, sql: str, params: Params = ()) -> Row | None:
    return await conn.fetch_one(sql, params)


async def fetch_value(conn: Connection, sql: str, params: Params = ()) -> Any:
    row = await conn.fetch_one(sql, params)
    return None if row is None else row[0]


async def execute(conn: Connection, sql: str, params: Params = ()) -> None:
    """Runs one statement. Answers nothing: an INSERT whose id is needed goes through
    `insert_returning_id`, a write whose count is needed through `execute_count`
    (`cursor.lastrowid` has no PostgreSQL counterpart)."""
    await conn.execute(sql, params)


async def execute_count(conn: Connection, sql: str, params: Params = ()) -> int:
    """Runs one UPDATE or DELETE (or INSERT); answers how many rows it changed."""
    return await conn.execute_count(sql, params)


async def execute_many(conn: Connection, sql: str, rows: Iterable[Params]) -> None:
    await conn.execute_many(sql, rows)


async def lock_row(conn: Connection, table: str, row_id: int) -> None:
    """Inside a transaction, before deciding on what `table`'s row `row_id` governs
    (a screening's seats, a registration's check-in): makes every other transaction that
    locks the same row wait until this one ends. PostgreSQL: `SELECT … FOR UPDATE`;
    SQLite: nothing to do, the transaction already holds the file's write lock."""
    await conn.lock_row(table, row_id)


async def lock_name(conn: Connection, name: str) -> None:
    """Like `lock_row` for something that has no row of its own (one client's count in a
    rate-limit bucket): transactions locking the same `name` take turns. PostgreSQL: a
    transaction-scoped advisory lock on the name's hash; SQLite: nothing to do."""
    await conn.lock_name(name)


def skip_locked(conn: Connection) -> str:
    """The end of a SELECT that claims rows for this transaction (the outbox's senders):
    on PostgreSQL ` FOR UPDATE SKIP LOCKED`, so concurrent claimers take different rows
    instead of queueing behind each other; on SQLite nothing (one writer at a time)."""
    return " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""


async def schema_version(conn: Connection) -> int:
    return await conn.schema_version()  # type: ignore[attr-defined]


async def insert_returning_id(conn: Connection, sql: str, params: Params = ()) -> int:
    """Runs one INSERT of one row, adding `RETURNING id` (SQLite 3.35+ and PostgreSQL);
    answers the new row's id."""
    if not sql.lstrip().upper().startswith("INSERT") or "RETURNING" in sql.upper():
        raise ValueError("insert_returning_id takes an INSERT without RETURNING")
    row = await conn.fetch_one(sql.rstrip().rstrip(";") + " RETURNING id", params)
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


def migration_files(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration of `dialect`, in order."""
    from importlib import resources
    package = "festival.core.migrations" + (".postgresql" if dialect == "postgresql" else "")
    found = []
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql") and entry.name[:4].isdigit():
            found.append((int(entry.name[:4]), entry.name, entry.read_text("utf-8")))
    return sorted(found)
