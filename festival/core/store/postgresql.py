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

ACQUIRE_SECONDS = 15.0  # waiting for a free pooled connection; then Busy (503)
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


_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name"})
_INTEGER_TYPES = frozenset({"int2", "int4", "int8"})


def _as(type_name: str, value: Any) -> Any:
    """`value` as SQLite would store it into a column of `type_name`: a number into
    text becomes its digits, digits into an integer become the number. Anything else is
    left for asyncpg to refuse."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_name in _TEXT_TYPES and number:
        return str(value)
    digits = isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value)
    if type_name in _INTEGER_TYPES and digits:
        return int(value)
    if type_name in ("float4", "float8") and isinstance(value, int):
        return float(value)
    return value


class PostgresConnection:
    dialect = "postgresql"

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def _run(self, method: str, sql: str, params: Params) -> Any:
        text, args = _arguments(sql, params)
        run = getattr(self.raw, method)
        try:
            return await run(text, *args)
        except asyncpg.exceptions.DataError as exc:
            # asyncpg refused an argument's Python type before sending anything (the
            # transaction is intact); SQLite would have converted it, so do the same.
            if "invalid input for query argument" not in str(exc):
                raise
            statement = await self.raw.prepare(text)
            types = [t.name for t in statement.get_parameters()]
            return await run(text, *(_as(t, a) for t, a in zip(types, args, strict=True)))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        return await self._run("fetch", sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        return await self._run("fetchrow", sql, params)

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self._run("execute", sql, params)

    async def execute_count(self, sql: str, params: Params = ()) -> int:
        return _count(await self._run("execute", sql, params))

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_arguments(sql, row)[1] for row in rows]
        if batch:
            await self.raw.executemany(_translated(sql)[0], batch)

    async def lock_row(self, table: str, row_id: int) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"not a table name: {table!r}")
        await self.raw.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", row_id)

    async def lock_name(self, name: str) -> None:
        await self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)

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
        self.commits = 0

    async def open(self, migrate: bool = True) -> PostgresEngine:
        # An unreachable server fails here, loudly: the command or the app's start says so.
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.pool_size,
            statement_cache_size=1024, server_settings={"timezone": "UTC"})
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
            async with self._pool.acquire(timeout=ACQUIRE_SECONDS) as raw:
                yield raw
        except _RETRYABLE as exc:
            raise TryAgain() from exc
        except (*_UNREACHABLE, TimeoutError) as exc:
            raise Busy() from exc

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresConnection]:
        async with self._connection() as raw:
            yield PostgresConnection(raw)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        async with self._connection() as raw:
            async with raw.transaction():
                yield PostgresConnection(raw)
            self.commits += 1

    async def schema_version(self) -> int:
        async with self.reader() as conn:
            return await conn.schema_version()

    async def checkpoint(self, *, wait: float = 5.0) -> bool:
        """VACUUM: marks the space of deleted rows reusable, so PostgreSQL overwrites it
        with new rows. Unlike SQLite's secure_delete it does not zero that space, and
        the write-ahead log keeps old row images until the server recycles its segments
        (docs/privacy.md says so). Bounded by `wait` seconds, as SQLite's checkpoint is:
        a VACUUM still running then is cancelled (the next one picks up), and the answer
        is False; True when it completed."""
        async with self._connection() as raw:
            try:
                await raw.execute("VACUUM", timeout=wait)
            except TimeoutError:
                return False
        return True

    async def vacuum(self) -> bool:
        return await self.checkpoint(wait=600.0)

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
