"""The daily retention task: attendees' personal data is erased once an edition has been
over for `settings.retention_days` (FESTIVAL_RETENTION_DAYS), without anyone running a
command. Each server process runs it, once at start and then every day; purging is
idempotent and reads before it writes, so several workers sharing one database file
erase each edition once and otherwise take no write lock. Each round also checkpoints
the WAL, which empties it of page images an erasure could not clear at the time (an
attendee's own deletion, when a reader held the WAL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from festival.core.settings import Settings
from festival.core.store import Database
from festival.privacy.records import CHECKPOINT_WAIT, Counts, purge

log = logging.getLogger("festival.privacy")

DAY = 24 * 60 * 60.0


async def purge_due(db: Database, settings: Settings, *, now: datetime | None = None) -> Counts:
    """One round of the daily task: `purge` with the configured retention, then a
    checkpoint. Answers what was erased."""
    counts = await purge(db, retention_days=settings.retention_days, now=now)
    if counts.editions:
        log.info("retention: personal data of edition(s) %s erased: %s",
                 ", ".join(counts.editions), counts.summary())
    checkpointed = await db.checkpoint(wait=CHECKPOINT_WAIT)
    if not checkpointed:
        log.warning("retention: the WAL could not be checkpointed (a reader held it); "
                    "trying again in the next round")
    return counts


class RetentionTask:
    """Runs `purge_due` in an asyncio task: at start, then every `interval` seconds.
    Errors are logged, never raised; `stop()` waits for a round in progress."""

    def __init__(self, db: Database, settings: Settings, *, interval: float = DAY) -> None:
        self.db, self.settings, self.interval = db, settings, interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> RetentionTask:
        self._task = asyncio.create_task(self._run(), name="festival-retention")
        return self

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await purge_due(self.db, self.settings)
            except Exception:
                log.exception("retention: the daily purge failed; trying again tomorrow")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
