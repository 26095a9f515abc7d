"""Benchmark of the public programme page and the screenings API, run by hand:

    python bench/bench_pages.py [--screenings 5000] [--requests 20]

It loads the demo edition into a fresh database and measures, through the whole app
with an in-process ASGI client, each address with the screening cache warm (as a
running server serves it) and emptied before each request (every row read and turned
into a dict again: what each visit cost before the cache). Baseline of the same run:
the page's own bytes served as a static file by Starlette. Medians in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
from common import BASE, demo_database, timed  # also puts the checkout on sys.path

from festival.programme import queries
from festival.web.app import create_app

ADDRESSES = ("/", "/?country=NP", "/?q=the", "/api/v1/screenings")


async def measure(size: int, requests: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        settings, db = await demo_database(tmp, size)
        await db.close()
        static = Path(tmp) / "static"

        app = create_app(settings)
        results = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                for number, address in enumerate(ADDRESSES):
                    first = await client.get(address)
                    assert first.status_code == 200, (address, first.status_code)
                    copy = f"page{number}.html"
                    (static / copy).write_bytes(first.content)

                    async def warm(address: str = address) -> None:
                        assert (await client.get(address)).status_code == 200

                    async def cold(address: str = address) -> None:
                        app.state.screening_cache = queries.ScreeningCache()
                        assert (await client.get(address)).status_code == 200

                    async def static_file(copy: str = copy) -> None:
                        assert (await client.get(f"/static/{copy}")).status_code == 200

                    results.append({
                        "address": address, "kb": len(first.content) / 1000,
                        "cold": await timed(cold, max(3, requests // 4)),
                        "warm": await timed(warm, requests),
                        "static": await timed(static_file, requests),
                    })
        return results


def table(size: int, results: list[dict[str, Any]]) -> str:
    head = ("address", "KB", "uncached ms", "cached ms", "uncached/cached", "static ms",
            "cached/static")
    lines = [f"{size} screenings", " | ".join(head), " | ".join("---" for _ in head)]
    for r in results:
        lines.append(" | ".join((
            r["address"], f"{r['kb']:.0f}", f"{r['cold']:.0f}", f"{r['warm']:.0f}",
            f"{r['cold'] / r['warm']:.1f}", f"{r['static']:.1f}",
            f"{r['warm'] / r['static']:.0f}")))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenings", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    print(table(args.screenings, asyncio.run(measure(args.screenings, args.requests))))


if __name__ == "__main__":
    main()
