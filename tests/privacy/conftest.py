"""Every test here runs as if SQLite's compiled-in default were secure_delete OFF (the
default of SQLite's own builds; Debian's turns it on): each connection the store opens
starts with it off, so the tests show that the store turns it on itself, rather than
passing thanks to the platform's library."""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest


@pytest.fixture(autouse=True)
def secure_delete_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    connect = aiosqlite.connect

    async def connect_with_it_off(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
        conn = await connect(*args, **kwargs)
        await conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(aiosqlite, "connect", connect_with_it_off)
