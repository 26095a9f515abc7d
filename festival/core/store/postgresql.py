"""The PostgreSQL engine: a pool of asyncpg connections to one server, shared by any
number of app servers on any number of hosts.

- Transactions run READ COMMITTED. Code that decides on a row (seats left on a
  screening, one check-in) locks it first with `lock_row` (`SELECT … FOR UPDATE`), so
  two app servers deciding on the same screening take turns, while registrations for
  different screenings run side by side.
- A serialization failure or deadlock rolls the transaction back and raises `TryAgain`;
  the web layer runs the request again (festival.web.routes). A server that cannot be
  reached, or has no free connection, gives `Busy` (503 with Retry-After).
- The shared SQL uses `?` and `:name` placeholders; `_translated` rewrites them to
  PostgreSQL's `$n` once per statement text (asyncpg then keeps each one prepared).
- Migrations: festival/core/migrations/postgresql/, numbered with SQLite's; the version
  lives in `festival_schema`, and a transaction-scoped advisory lock makes app servers
  starting at once apply each file once.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg

from festival.core.errors import Busy
from festival.core.store import Params, TryAgain, migration_files

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# Any lock number will do as long as it is always the same one.
_MIGRATION_LOCK = 0x66657374  # "fest"
_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
_UNREACHABLE = (OSError, asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.TooManyConnectionsError,
                asyncpg.exceptions.ConnectionDoesNotExistError)
# Single-quoted strings, double-quoted names, comments, `::` casts, or a placeholder.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|\?|(?<![\w:]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=4096)
def _translated(sql: str) -> tuple[str, tuple[str, ...] | int]:
    """`sql` with `$n` placeholders, and either the parameter names in order (for `:name`)
    or how many `?` there were."""
    names: list[str] = []
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) == "?":
            count += 1
            return f"${count}"
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _TOKENS.sub(replace, sql)
    if names and count:
        raise ValueError("a statement takes either ? or :name placeholders, not both")
    return text, tuple(names) if names else count


def _arguments(sql: str, params: Params) -> tuple[str, list[Any]]:
    text, shape = _translated(sql)
    if isinstance(params, dict):
        if isinstance(shape, int) and shape:
            raise ValueError("a statement with ? placeholders takes a sequence")
        return text, [params[name] for name in (shape if isinstance(shape, tuple) else ())]
    return text, list(params)


def _count(status: str) -> int:
    """How many rows a command changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    dialect = "postgresql"

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        text, args = _arguments(sql, params)
        return await self.raw.fetch(text, *args)

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        text, args = _arguments(sql, params)
        return await self.raw.fetchrow(text, *args)

    async def execute(self, sql: str, params: Params = ()) -> None:
        text, args = _arguments(sql, params)
        await self.raw.execute(text, *args)

    async def execute_count(self, sql: str, params: Params = ()) -> int:
        text, args = _arguments(sql, params)
        return _count(await self.raw.execute(text, *args))

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_arguments(sql, row)[1] for row in rows]
        if batch:
            await self.raw.executemany(_translated(sql)[0], batch)

    async def lock_row(self, table: str, row_id: int) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"not a table name: {table!r}")
        await self.raw.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", row_id)

    async def schema_version(self) -> int:
        exists = await self.raw.fetchval("SELECT to_regclass('festival_schema') IS NOT NULL")
        if not exists:
            return 0
        return int(await self.raw.fetchval("SELECT version FROM festival_schema"))


class PostgresEngine:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self, migrate: bool = True) -> PostgresEngine:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size,
                statement_cache_size=1024, server_settings={"timezone": "UTC"})
        except _UNREACHABLE as exc:
            raise Busy() from exc
        if migrate:
            await self._migrate()
        return self

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        assert self._pool is not None, "Database.open() first"
        try:
            async with self._pool.acquire() as raw:
                yield raw
        except _RETRYABLE as exc:
            raise TryAgain() from exc
        except _UNREACHABLE as exc:
            raise Busy() from exc

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresConnection]:
        async with self._connection() as raw:
            yield PostgresConnection(raw)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        async with self._connection() as raw, raw.transaction():
            yield PostgresConnection(raw)

    async def schema_version(self) -> int:
        async with self.reader() as conn:
            return await conn.schema_version()

    async def checkpoint(self, *, wait: float = 5.0) -> bool:
        """VACUUM: marks the space of deleted rows reusable, so PostgreSQL overwrites it
        with new rows. Unlike SQLite's secure_delete it does not zero that space, and
        the write-ahead log keeps old row images until the server recycles its segments
        (docs/privacy.md says so). Answers True when it ran."""
        async with self._connection() as raw:
            await raw.execute("VACUUM")
        return True

    async def vacuum(self) -> bool:
        return await self.checkpoint()

    async def _migrate(self) -> int:
        async with self._connection() as raw:
            for version, _name, sql in migration_files("postgresql"):
                async with raw.transaction():
                    await raw.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    await raw.execute("CREATE TABLE IF NOT EXISTS festival_schema ("
                                      "version INTEGER NOT NULL)")
                    current = await raw.fetchval("SELECT version FROM festival_schema")
                    if current is not None and current >= version:
                        continue
                    await raw.execute(sql)
                    if current is None:
                        await raw.execute("INSERT INTO festival_schema VALUES ($1)", version)
                    else:
                        await raw.execute("UPDATE festival_schema SET version = $1", version)
            return await PostgresConnection(raw).schema_version()
