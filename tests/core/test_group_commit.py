"""Group commit on SQLite (festival.core.store.sqlite): writes that queue while one runs
share its COMMIT, each in a savepoint of its own; each caller goes on only once its
write is committed, one failing write is rolled back alone, and the order holds."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from festival.core.store import Database, execute, fetch_value

pytestmark = pytest.mark.sqlite_only


class Refused(Exception):
    pass


def committed(path: str, client: str) -> bool:
    """Whether another connection (another process, say) sees the client's row."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT 1 FROM rate_limit_events WHERE client = ?",
                            (client,)).fetchone() is not None
    finally:
        conn.close()


async def write(db: Database, client: str, *, fail: bool = False) -> bool:
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO rate_limit_events (bucket, client, target, weight, "
                            "at) VALUES ('register', ?, '', 1, 0)", (client,))
        if fail:
            raise Refused(client)
    return committed(db.location, client)


async def test_concurrent_writes_share_commits_and_each_is_committed_when_it_returns(
        db: Database) -> None:
    before = db.commits
    seen = await asyncio.gather(*(write(db, f"c{n}") for n in range(60)))
    assert seen == [True] * 60  # each caller went on only after its COMMIT
    assert 1 <= db.commits - before < 60  # fewer COMMITs (and fsyncs) than writes


async def test_a_failing_write_is_rolled_back_alone(db: Database) -> None:
    results = await asyncio.gather(*(write(db, f"c{n}", fail=n == 5) for n in range(10)),
                                   return_exceptions=True)
    assert isinstance(results[5], Refused)
    assert [r for n, r in enumerate(results) if n != 5] == [True] * 9
    assert not committed(db.location, "c5")


async def test_each_write_sees_the_ones_before_it_in_the_same_group(db: Database) -> None:
    async def numbered(n: int) -> int:
        async with db.transaction() as conn:
            count = int(await fetch_value(conn, "SELECT COUNT(*) FROM rate_limit_events"))
            await execute(conn, "INSERT INTO rate_limit_events (bucket, client, target, "
                                "weight, at) VALUES ('register', ?, '', 1, ?)", (f"c{n}", count))
            return count

    counts = await asyncio.gather(*(numbered(n) for n in range(30)))
    assert sorted(counts) == list(range(30))  # one after another, none saw a stale count


async def test_a_caller_cancelled_while_its_group_commits_loses_nothing(db: Database) -> None:
    tasks = [asyncio.create_task(write(db, f"c{n}")) for n in range(20)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    rows = await db.fetch_all("SELECT client FROM rate_limit_events")
    # The cancelled caller's write ran or never started; every other one is committed.
    assert {f"c{n}" for n in range(20) if n != 3} <= {r["client"] for r in rows}
    await db.checkpoint()  # the store is still usable: nothing left open
    assert await write(db, "after")
