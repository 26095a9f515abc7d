"""Copying a whole festival database to another location, in either direction: SQLite to
PostgreSQL (the usual move to several app servers), PostgreSQL to SQLite, SQLite to
SQLite (`festival copy`).

Both databases are opened with `Database.open()`, which brings each schema up to date
first (a source at an older version is migrated too). Refused, with nothing copied,
when the source is no festival database (a missing file is not created), when the two
are the same location, when their schema versions differ, or when the target is not
empty: empty means every table holds no more rows than a freshly migrated
database (the migrations' own rows, such as programme_version's one row).

What is copied: every table of the schema, found in the source's catalogue, except the
search index (SQLite: the FTS5 table `screening_search` and its shadow tables;
PostgreSQL: the table `screening_search`) and the seat counts (`screening_seats`), which
the target's own triggers fill as the screenings, guests and registrations arrive, and
PostgreSQL's `festival_schema` (the version).
Both sides must have the same tables with the same columns (matched by name). Tables go
in an order that satisfies their foreign keys (read from the target's catalogue), rows
in primary-key order, in batches, read from one consistent snapshot of the source and
written in ONE target transaction: any failure leaves the target as it was. Rows the
migrations made (programme_version) are replaced by the source's, after every other
table, so the triggers that bump the counter while the programme arrives do not leave
it different from the source.

Values: PostgreSQL (asyncpg) takes only the Python type of the column (int for
INTEGER/BIGINT, float for DOUBLE PRECISION, str for TEXT, bytes for BYTEA), while an
SQLite column may hold any type (an int in a REAL column): values are converted by the
target column's type, and one that cannot be is refused, naming the table and column
but never the value. Bytes stay byte-exact. Into PostgreSQL, every identity sequence is
then moved past the largest id, so the rows made afterwards get fresh ids.

Afterwards the target is checked inside the same transaction: each table holds the
rows copied, and the search index one row per screening.

Messages and the summary name tables, columns and counts only: never a value (an email
address, a token)."""

from __future__ import annotations

import contextlib
import functools
import heapq
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from festival.core.errors import Busy
from festival.core.store import (
    DATABASE_ERRORS,
    Connection,
    Database,
    describe,
    execute,
    execute_many,
    fetch_all,
    fetch_value,
    is_postgresql,
    migration_files,
)

BATCH_ROWS = 500
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Filled by triggers on the target as the rows arrive, never copied.
SEARCH_TABLE = "screening_search"
DERIVED = frozenset({"screening_seats"})  # the seat counts (migration 0015), likewise
# PostgreSQL's bookkeeping: the schema version (set by the target's own migrations).
POSTGRESQL_BOOKKEEPING = frozenset({"festival_schema", SEARCH_TABLE})


class CopyRefused(Exception):
    """The copy cannot be made (or did not finish); the target holds nothing of it. The
    message is for the person who ran it and holds no value of any row."""


@dataclass
class CopySummary:
    source: str
    target: str
    schema_version: int
    tables: list[tuple[str, int]] = field(default_factory=list)  # in copy order

    @property
    def total(self) -> int:
        return sum(count for _table, count in self.tables)

    def lines(self) -> list[str]:
        """The summary for people: one line per table and the total."""
        width = max([len("total"), *(len(t) for t, _n in self.tables)])
        digits = len(f"{self.total:,}")
        rows = [f"  {table:<{width}}  {count:>{digits},}" for table, count in self.tables]
        return [f"Copied {describe(self.source)} to {describe(self.target)} "
                f"(schema version {self.schema_version}):", *rows,
                f"  {'total':<{width}}  {self.total:>{digits},} "
                f"row{'s' if self.total != 1 else ''}"]


@dataclass
class _Table:
    name: str
    columns: list[str]  # in the target's order
    key: list[str]  # the source's primary key columns ([] when it has none)


def same_location(source: str, target: str) -> bool:
    """Whether two locations name the same database, as far as can be told without
    opening them (the emptiness check catches the rest: a database that is its own
    target is not empty, or there is nothing to copy)."""
    if is_postgresql(source) != is_postgresql(target):
        return False
    if is_postgresql(source):
        return _postgresql_address(source) == _postgresql_address(target)
    if os.path.exists(source) and os.path.exists(target):
        return os.path.samefile(source, target)
    return os.path.realpath(source) == os.path.realpath(target)


def _postgresql_address(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "localhost").lower()
    if host in ("127.0.0.1", "::1"):
        host = "localhost"
    user = parts.username or ""
    database = parts.path.lstrip("/") or user
    return host, parts.port or 5432, database


@functools.cache
def seeded_rows() -> dict[str, int]:
    """Rows per table in a freshly migrated database: what the migrations themselves
    insert (programme_version's one row). Read from the SQLite migrations, run into a
    database in memory; the PostgreSQL schema holds the same rows."""
    from festival.core.store.sqlite import statements

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for _version, _name, script in migration_files("sqlite"):
            for statement in statements(script):
                conn.execute(statement)
        counts = {}
        for (table,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if _NAME.fullmatch(table):
                counts[table] = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        return {table: n for table, n in counts.items() if n}
    finally:
        conn.close()


async def copy_database(source: str, target: str, *, batch_rows: int = BATCH_ROWS,
                        progress: Callable[[str, int], None] | None = None) -> CopySummary:
    """Copies everything in `source` into the empty database at `target`; answers what
    was copied. CopyRefused when it cannot be done (nothing is then copied).
    `progress(table, rows_so_far)` is called after each batch."""
    _refuse_at_once(source, target)
    source_db = await _open_source(source)
    try:
        target_db = await _open(target)
        try:
            return await _copy(source_db, target_db, batch_rows, progress)
        finally:
            await target_db.close()
    finally:
        await source_db.close()


def _refuse_at_once(source: str, target: str) -> None:
    """The refusals that need no database opened (nor created): an SQLite source that
    is no festival database (a mistyped file name), the same location twice."""
    if not is_postgresql(source):
        if not os.path.isfile(source):
            raise CopyRefused(f"{source}: no such file")
        try:
            conn = sqlite3.connect(f"file:{quote(os.path.abspath(source))}?mode=ro", uri=True)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise CopyRefused(f"cannot open {source}: {exc}") from exc
        if version == 0:
            raise CopyRefused(f"{source} holds no festival database")
    if same_location(source, target):
        raise CopyRefused(f"{describe(source)} and {describe(target)} are the same database")


async def _open_source(location: str) -> Database:
    """The source, opened and migrated; CopyRefused, with nothing created, when it is no
    festival database (e.g. a PostgreSQL database never set up)."""
    if is_postgresql(location):
        probe = await _open(location, migrate=False)
        try:
            version = await probe.schema_version()
        finally:
            await probe.close()
        if version == 0:
            raise CopyRefused(f"{describe(location)} holds no festival database")
    return await _open(location)


async def _open(location: str, *, migrate: bool = True) -> Database:
    try:
        return await Database(location, pool_size=2).open(migrate=migrate)
    except (*DATABASE_ERRORS, OSError, Busy) as exc:
        reason = exc.__cause__ if isinstance(exc, Busy) and exc.__cause__ else exc
        raise CopyRefused(f"cannot open {describe(location)}: {reason}") from exc


async def _copy(source: Database, target: Database, batch_rows: int,
                progress: Callable[[str, int], None] | None) -> CopySummary:
    source_version = await source.schema_version()
    target_version = await target.schema_version()
    if source_version != target_version:
        raise CopyRefused(
            f"the schema versions differ: {describe(source.location)} is at version "
            f"{source_version}, {describe(target.location)} at {target_version}; copy with "
            "the festival version that made the newer one")
    summary = CopySummary(source.location, target.location, source_version)
    async with _snapshot(source) as reading, target.transaction() as writing:
        await _defer_foreign_keys(writing, target.dialect)
        source_tables = await _tables(reading, source.dialect)
        target_tables = await _tables(writing, target.dialect)
        _same_tables(source_tables, target_tables)
        seeded = seeded_rows()
        order = _order(target_tables, await _references(writing, target.dialect), seeded)
        tables = [await _describe(reading, source.dialect, writing, target.dialect, name)
                  for name in order]
        held = await _counts(writing, order)
        for name in order:
            if held[name] > seeded.get(name, 0):
                raise CopyRefused(
                    f"{describe(target.location)} is not empty: table {name} holds rows; "
                    "copy into a new, empty database")
        types = {t.name: await _column_types(writing, target.dialect, t.name) for t in tables}
        expected = await _counts(reading, order)
        for table in tables:
            if held[table.name]:  # the migrations' rows: replaced by the source's
                await execute(writing, f"DELETE FROM {_quoted(table.name)}")
            copied = await _copy_table(reading, writing, table, types[table.name],
                                       target.dialect, batch_rows, progress)
            if copied != expected[table.name]:
                raise CopyRefused(f"table {table.name}: read {copied} of its "
                                  f"{expected[table.name]} rows; nothing was copied")
            summary.tables.append((table.name, copied))
        if target.dialect == "postgresql":
            await _reset_identities(writing, order)
        await _check(writing, summary)
    return summary


# --- reading the source ------------------------------------------------------------------

@contextlib.asynccontextmanager
async def _snapshot(db: Database) -> AsyncIterator[Connection]:
    """A connection reading one consistent state of `db` (a read transaction) while
    the copy runs, even if something writes to it meanwhile."""
    async with db.reader() as conn:
        if db.dialect == "postgresql":
            await execute(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            await execute(conn, "BEGIN")
        try:
            yield conn
        finally:  # only read: nothing to keep (and a broken connection hides no error)
            with contextlib.suppress(*DATABASE_ERRORS):
                await execute(conn, "ROLLBACK")


async def _tables(conn: Connection, dialect: str) -> list[str]:
    """The schema's tables, without the search index and bookkeeping."""
    if dialect == "postgresql":
        rows = await fetch_all(conn, "SELECT table_name FROM information_schema.tables "
                                     "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        names = [r[0] for r in rows if r[0] not in POSTGRESQL_BOOKKEEPING]
    else:
        rows = await fetch_all(conn, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        virtual = [r[0] for r in rows
                   if (r[1] or "").upper().startswith("CREATE VIRTUAL TABLE")]
        names = [r[0] for r in rows if not r[0].startswith("sqlite_")
                 and r[0] not in virtual
                 and not any(r[0].startswith(v + "_") for v in virtual)]
    names = [name for name in names if name not in DERIVED]
    for name in names:
        if not _NAME.fullmatch(name):
            raise CopyRefused(f"cannot copy a table named {name!r}")
    return sorted(names)


def _same_tables(source: list[str], target: list[str]) -> None:
    missing = sorted(set(source) - set(target))
    extra = sorted(set(target) - set(source))
    if missing:
        raise CopyRefused(f"the target has no table {', '.join(missing)} (schemas differ)")
    if extra:
        raise CopyRefused(f"the source has no table {', '.join(extra)} (schemas differ)")


async def _columns(conn: Connection, dialect: str, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, position in the primary key: 0 when not in it)."""
    if dialect == "postgresql":
        rows = await fetch_all(
            conn,
            "SELECT c.column_name, c.data_type, COALESCE(("
            "    SELECT 1 + array_position(i.indkey::int2[], a.attnum)"
            "           - array_lower(i.indkey::int2[], 1)"
            "    FROM pg_index i JOIN pg_attribute a"
            "      ON a.attrelid = i.indrelid AND a.attname = c.column_name"
            "    WHERE i.indrelid = to_regclass(c.table_name::text) AND i.indisprimary), 0)"
            " FROM information_schema.columns c"
            " WHERE c.table_schema = 'public' AND c.table_name = ?::text"
            " ORDER BY c.ordinal_position", (table,))
    else:
        rows = await fetch_all(conn, "SELECT name, type, pk FROM pragma_table_info(?) "
                                     "ORDER BY cid", (table,))
    return [(str(r[0]), str(r[1] or "").lower(), int(r[2] or 0)) for r in rows]


async def _describe(reading: Connection, source_dialect: str, writing: Connection,
                    target_dialect: str, table: str) -> _Table:
    source_columns = await _columns(reading, source_dialect, table)
    target_columns = await _columns(writing, target_dialect, table)
    source_names = {c[0] for c in source_columns}
    target_names = [c[0] for c in target_columns]
    if source_names != set(target_names):
        only_source = sorted(source_names - set(target_names))
        only_target = sorted(set(target_names) - source_names)
        details = "; ".join(
            part for part in (
                f"only the source has {', '.join(only_source)}" if only_source else "",
                f"only the target has {', '.join(only_target)}" if only_target else "")
            if part)
        raise CopyRefused(f"table {table} has other columns in the target ({details})")
    for name in target_names:
        if not _NAME.fullmatch(name):
            raise CopyRefused(f"cannot copy a column named {name!r} (table {table})")
    key = [c[0] for c in sorted(source_columns, key=lambda c: c[2]) if c[2]]
    return _Table(table, target_names, key)


async def _column_types(conn: Connection, dialect: str, table: str) -> list[str]:
    return [declared for _name, declared, _pk in await _columns(conn, dialect, table)]


# --- the order of the tables ---------------------------------------------------------------

async def _references(conn: Connection, dialect: str) -> list[tuple[str, str]]:
    """(table, the table it refers to) for every foreign key."""
    if dialect == "postgresql":
        rows = await fetch_all(
            conn,
            "SELECT child.relname, parent.relname FROM pg_constraint c"
            " JOIN pg_class child ON child.oid = c.conrelid"
            " JOIN pg_class parent ON parent.oid = c.confrelid"
            " JOIN pg_namespace n ON n.oid = child.relnamespace"
            " WHERE c.contype = 'f' AND n.nspname = 'public'")
    else:
        rows = await fetch_all(
            conn,
            "SELECT m.name, f.\"table\" FROM sqlite_master m,"
            " pragma_foreign_key_list(m.name) f WHERE m.type = 'table'")
    return [(str(r[0]), str(r[1])) for r in rows]


def _order(tables: Sequence[str], references: Sequence[tuple[str, str]],
           seeded: dict[str, int]) -> list[str]:
    """`tables` so that each comes after the tables it refers to (a table referring to
    itself is copied in primary-key order). Among the tables free to go next, those the
    migrations seed go last: what is copied before them may bump them through triggers.
    CopyRefused when tables refer to each other in a cycle."""
    known = set(tables)
    needs: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in references:
        if child in known and parent in known and child != parent:
            needs[child].add(parent)
    ready = [(t in seeded, t) for t in tables if not needs[t]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _seeded, table = heapq.heappop(ready)
        order.append(table)
        for other, parents in needs.items():
            if table in parents:
                parents.discard(table)
                if not parents:
                    heapq.heappush(ready, (other in seeded, other))
    left = sorted(t for t in tables if t not in order)
    if left:
        raise CopyRefused("cannot order the tables by their foreign keys: "
                          f"{', '.join(left)} refer to each other in a cycle")
    return order


# --- writing the target ------------------------------------------------------------------

def _quoted(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a name: {name!r}")
    return f'"{name}"'


async def _defer_foreign_keys(conn: Connection, dialect: str) -> None:
    """SQLite: foreign keys checked at commit (this transaction only). PostgreSQL: the
    same for constraints declared DEFERRABLE (the schema declares none, so the order of
    the tables is what satisfies them)."""
    if dialect == "postgresql":
        await execute(conn, "SET CONSTRAINTS ALL DEFERRED")
    else:
        await execute(conn, "PRAGMA defer_foreign_keys = ON")


async def _counts(conn: Connection, tables: Sequence[str]) -> dict[str, int]:
    return {t: int(await fetch_value(conn, f"SELECT COUNT(*) FROM {_quoted(t)}"))
            for t in tables}


async def _copy_table(reading: Connection, writing: Connection, table: _Table,
                      types: list[str], dialect: str, batch_rows: int,
                      progress: Callable[[str, int], None] | None) -> int:
    columns = ", ".join(_quoted(c) for c in table.columns)
    insert = (f"INSERT INTO {_quoted(table.name)} ({columns}) "
              f"VALUES ({', '.join('?' * len(table.columns))})")
    convert = [_converter(dialect, declared, table.name, column)
               for column, declared in zip(table.columns, types, strict=True)]
    copied = 0
    async for batch in _batches(reading, table, columns, batch_rows):
        rows = [[c(value) for c, value in zip(convert, row, strict=True)] for row in batch]
        await execute_many(writing, insert, rows)
        copied += len(rows)
        if progress is not None:
            progress(table.name, copied)
    return copied


async def _batches(reading: Connection, table: _Table, columns: str,
                   batch_rows: int) -> AsyncIterator[list[Sequence[Any]]]:
    """The source table's rows (its columns in the target's order), a batch at a time,
    in primary-key order; a table without a primary key at once."""
    select = f"SELECT {columns} FROM {_quoted(table.name)}"
    if not table.key:
        rows = await fetch_all(reading, select)
        if rows:
            yield [tuple(r) for r in rows]
        return
    key = ", ".join(_quoted(c) for c in table.key)
    positions = [table.columns.index(c) for c in table.key]
    after: list[Any] | None = None
    while True:
        if after is None:
            sql, params = f"{select} ORDER BY {key} LIMIT ?", [batch_rows]
        else:
            placeholders = ", ".join("?" * len(after))
            sql = (f"{select} WHERE ({key}) > ({placeholders}) ORDER BY {key} LIMIT ?"
                   if len(after) > 1 else f"{select} WHERE {key} > ? ORDER BY {key} LIMIT ?")
            params = [*after, batch_rows]
        rows = [tuple(r) for r in await fetch_all(reading, sql, params)]
        if not rows:
            return
        yield rows
        if len(rows) < batch_rows:
            return
        after = [rows[-1][i] for i in positions]


def _converter(dialect: str, declared: str, table: str, column: str) -> Callable[[Any], Any]:
    """What makes a value fit the target column: PostgreSQL wants the column's own
    Python type; SQLite takes any value as it is (bytes as bytes)."""
    def refuse(value: Any) -> Any:
        raise CopyRefused(f"table {table}, column {column}: a value of type "
                          f"{type(value).__name__} does not fit the target's {declared}")

    if dialect != "postgresql":
        return lambda v: bytes(v) if isinstance(v, memoryview) else v

    def to_int(v: Any) -> Any:
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        if isinstance(v, bool) or (isinstance(v, float) and v.is_integer()):
            return int(v)
        if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
            return int(v)
        return refuse(v)

    def to_float(v: Any) -> Any:
        if v is None or isinstance(v, float):
            return v
        if isinstance(v, int):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return refuse(v)
        return refuse(v)

    def to_text(v: Any) -> Any:
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, bytes | memoryview):
            try:
                return bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                return refuse(v)
        return refuse(v)

    def to_bytes(v: Any) -> Any:
        if v is None or isinstance(v, bytes):
            return v
        if isinstance(v, memoryview | bytearray):
            return bytes(v)
        if isinstance(v, str):
            return v.encode("utf-8")
        return refuse(v)

    if declared in ("bigint", "integer", "smallint"):
        return to_int
    if declared in ("double precision", "real"):
        return to_float
    if declared in ("text", "character varying", "character"):
        return to_text
    if declared == "bytea":
        return to_bytes
    return lambda v: v


async def _reset_identities(conn: Connection, tables: Sequence[str]) -> None:
    """Moves every identity (or serial) column's sequence past the largest value copied,
    so the next row made gets a fresh id."""
    rows = await fetch_all(
        conn, "SELECT table_name, column_name FROM information_schema.columns"
              " WHERE table_schema = 'public'"
              " AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')")
    for table, column in rows:
        if table not in tables:
            continue
        await execute(conn, f"SELECT setval(pg_get_serial_sequence(?, ?), "
                            f"COALESCE(MAX({_quoted(column)}), 0) + 1, false) "
                            f"FROM {_quoted(table)}", (table, column))


async def _check(conn: Connection, summary: CopySummary) -> None:
    """Inside the copy's transaction: every table holds what was copied, and the search
    index (filled by the target's triggers) one row per screening."""
    held = await _counts(conn, [t for t, _n in summary.tables])
    for table, copied in summary.tables:
        if held[table] != copied:
            raise CopyRefused(f"table {table} holds {held[table]} rows after copying "
                              f"{copied}; nothing was copied")
    if "screenings" in held:
        indexed = int(await fetch_value(conn, f"SELECT COUNT(*) FROM {SEARCH_TABLE}"))
        if indexed != held["screenings"]:
            raise CopyRefused(f"the search index holds {indexed} rows for "
                              f"{held['screenings']} screenings; nothing was copied")
