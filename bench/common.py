"""What the benchmarks share: a median timer, an app's settings on a fresh database
holding the demo edition, and (from tests.helpers, which the tests use too) the server
launcher and the feeds' view of the screenings.

Importing this module puts the checkout on sys.path, so that `python bench/x.py` finds
`festival` and `tests.helpers` without an install."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from festival.core.settings import Settings  # noqa: E402
from festival.core.store import Database  # noqa: E402
from festival.programme import demo  # noqa: E402
from festival.programme.loader import import_programme  # noqa: E402
from tests.helpers import BASE_URL as BASE  # noqa: E402
from tests.helpers import (  # noqa: E402, F401 (re-exported for the benchmarks)
    ServerProcess,
    feed_screenings,
    festival_command,
    festival_env,
    run_festival,
    serve_festival,
)


async def timed(action: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Median milliseconds of `rounds` runs of `action`."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def demo_database(tmp: str, size: int) -> tuple[Settings, Database]:
    """Settings for an app on `tmp`/festival.db, filled with the demo edition of `size`
    screenings and still open, and an empty `tmp`/static folder for baseline files."""
    static = Path(tmp) / "static"
    static.mkdir()
    settings = Settings(db_path=str(Path(tmp) / "festival.db"), base_url=BASE,
                        static_dir=static, sqlite_synchronous="OFF", start_mail_sender=False)
    db = await Database(settings.db_path, synchronous="OFF").open()
    await import_programme(db, demo.generate(size))
    return settings, db
