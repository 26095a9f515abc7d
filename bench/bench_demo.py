"""How long the demo edition takes to generate and import (run by hand, prints a table).

    python bench/bench_demo.py [SIZES...]     # default: 1000 5000

Each size is imported into a fresh temporary database (synchronous=FULL, as in
production), then imported again unchanged (the re-import compares every row and writes
nothing). The whole `festival demo --screenings 5000` command should stay well under 10 s.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from festival.core.store import Database
from festival.programme.demo import generate
from festival.programme.loader import import_programme


async def measure(size: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    data = generate(screenings=size, seed=1)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        db = await Database(str(Path(folder) / "bench.db")).open()
        try:
            opened = time.perf_counter()
            await import_programme(db, data)
            imported = time.perf_counter()
            await import_programme(db, data)
            again = time.perf_counter()
        finally:
            await db.close()
    return generated - started, imported - opened, again - imported


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 5000]
    print(f"{'screenings':>10} {'generate s':>11} {'import s':>9} {'re-import s':>12}")
    for size in sizes:
        generate_s, import_s, again_s = asyncio.run(measure(size))
        print(f"{size:>10} {generate_s:>11.2f} {import_s:>9.2f} {again_s:>12.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
