"""The programme version is read at most once per VERSION_HELD_SECONDS per process, so a
burst of requests costs one read; a write made in this process is seen at once, one
made by another process (or host) at the latest when the period ends."""

from __future__ import annotations

import pytest

from festival.core.settings import Settings
from festival.core.store import Database
from festival.programme import queries
from tests.helpers import sql


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(queries, "clock", lambda: now[0])
    return now


async def rename_film(db: Database, title: str) -> None:
    await sql(db, "UPDATE films SET title = ?", (title,))


async def test_a_write_in_this_process_is_seen_at_once(loaded: Database,
                                                        frozen: list[float]) -> None:
    before = await queries.programme_version(loaded)
    await rename_film(loaded, "Renamed here")
    assert (await queries.programme_version(loaded))[0] > before[0]


async def test_another_process_write_is_seen_when_the_period_ends(
        loaded: Database, settings: Settings, frozen: list[float]) -> None:
    before = await queries.programme_version(loaded)
    other = await Database(settings.db_path, synchronous="NORMAL").open()
    try:
        await rename_film(other, "Renamed elsewhere")
    finally:
        await other.close()
    frozen[0] += queries.VERSION_HELD_SECONDS / 2
    assert await queries.programme_version(loaded) == before  # still held: no read
    frozen[0] += queries.VERSION_HELD_SECONDS / 2
    assert (await queries.programme_version(loaded))[0] > before[0]
