"""Benchmark of the festival feed (/feeds/festival.ics), run by hand:

    python bench/bench_feeds.py [--sizes 1000,10000] [--requests 30]

For each size it loads the demo edition into a fresh database and measures, through the
whole app (middleware included) with an in-process ASGI client:
- cold: the feed built from the database (the feed cache emptied before each request;
  VTIMEZONEs stay cached, as they do in a running server after the first build),
- cached: the feed served from the cache (one version query, then the bytes),
- 304: a conditional request with a matching ETag,
- static: a file of the same bytes served by Starlette's StaticFiles in the same app,
- icalendar: the icalendar library alone building and serialising the same events
  from the same rows already in memory (no database, no HTTP).
Targets: cached at least 0.8 of static's speed; cold at most 1.2x icalendar alone.
Times are medians of bounded loops, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import (  # also puts the checkout on sys.path
    BASE,
    demo_database,
    feed_screenings,
    timed,
)
from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText

from festival.calendar import ics
from festival.core import times
from festival.core.store import Database
from festival.programme import queries
from festival.web.app import create_app
from festival.web.views.feeds import FeedCache

FEED = "/feeds/festival.ics"


def icalendar_alone(screenings: list[dict[str, Any]], zones: dict[str, Timezone]) -> bytes:
    """The same events built with icalendar's objects and serialised by it."""
    cal = Calendar()
    for name, value in (("PRODID", ics.PRODID), ("VERSION", "2.0"),
                        ("CALSCALE", "GREGORIAN"), ("METHOD", "PUBLISH")):
        cal.add(name, value)
    cal.add("X-WR-CALNAME", vText("Festival"))
    cal.add("REFRESH-INTERVAL", vDuration(timedelta(hours=1), params={"VALUE": "DURATION"}))
    for zone in zones.values():
        cal.add_component(zone)
    organiser = vCalAddress("mailto:festival@example.org")
    organiser.params["CN"] = "Global Migration Film Festival"
    for s in screenings:
        event = Event()
        event.add("UID", s["uid"])
        for prop, column in (("DTSTAMP", "updated_at"), ("LAST-MODIFIED", "updated_at"),
                             ("CREATED", "created_at")):
            event.add(prop, times.parse_utc(s[column]))
        event.add("SEQUENCE", s["sequence"])
        event.add("DTSTART", s["starts_local"])
        event.add("DTEND", s["ends_local"])
        event.add("SUMMARY", s["title"] + (" + debate" if s["debate_title"] else ""))
        event.add("DESCRIPTION", "\n\n".join((
            s["title"], s["synopsis"], "Debate: " + s["debate_title"],
            "With: " + ", ".join(g["name"] for g in s["guests"]),
            ics.screening_url(s, BASE))))
        event.add("LOCATION", ics.location(s))
        event.add("URL", ics.screening_url(s, BASE))
        event.add("STATUS", "CANCELLED" if s["status"] == "cancelled" else "CONFIRMED")
        event.add("ORGANIZER", organiser)
        cal.add_component(event)
    return cal.to_ical()


async def rows(db: Database) -> list[dict[str, Any]]:
    """The current edition's screenings as the feed builds from them."""
    edition = await queries.edition_by_key(db, None)
    return await feed_screenings(db, edition["id"])


async def measure(size: int, requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        settings, db = await demo_database(tmp, size)
        static = Path(tmp) / "static"
        screenings = await rows(db)
        await db.close()

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                first = await client.get(FEED)  # also builds the VTIMEZONEs once
                assert first.status_code == 200, first.status_code
                body, tag = first.content, first.headers["etag"]
                (static / "festival.ics").write_bytes(body)

                async def cold() -> None:
                    app.state.feed_cache = FeedCache()
                    assert (await client.get(FEED)).content == body

                async def cached() -> None:
                    assert len((await client.get(FEED)).content) == len(body)

                async def not_modified() -> None:
                    response = await client.get(FEED, headers={"If-None-Match": tag})
                    assert response.status_code == 304

                async def static_file() -> None:
                    assert len((await client.get("/static/festival.ics")).content) == len(body)

                year = int(screenings[0]["starts_at"][:4])
                zones = {z: Timezone.from_tzid(z, first_date=date(year - 1, 1, 1),
                                               last_date=date(year + 2, 1, 1))
                         for z in sorted({s["timezone"] for s in screenings})}

                async def library() -> None:
                    icalendar_alone(screenings, zones)

                slow_rounds = 3 if size <= 2000 else 1
                return {
                    "screenings": len(screenings),
                    "mb": len(body) / 1e6,
                    "cold": await timed(cold, max(3, slow_rounds)),
                    "cached": await timed(cached, requests),
                    "static": await timed(static_file, requests),
                    "304": await timed(not_modified, requests * 5),
                    "icalendar": await timed(library, slow_rounds),
                }


def table(results: list[dict[str, float]]) -> str:
    head = ("screenings", "MB", "cold ms", "cached ms", "static ms", "cached/static speed",
            "304 ms", "icalendar ms", "cold/icalendar")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in results:
        lines.append(" | ".join((
            f"{r['screenings']:.0f}", f"{r['mb']:.1f}", f"{r['cold']:.0f}",
            f"{r['cached']:.1f}", f"{r['static']:.1f}", f"{r['static'] / r['cached']:.2f}",
            f"{r['304']:.2f}", f"{r['icalendar']:.0f}", f"{r['cold'] / r['icalendar']:.2f}")))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    results = [asyncio.run(measure(int(n), args.requests)) for n in args.sizes.split(",")]
    print(table(results))
    print("\ntargets: cached/static speed >= 0.8; cold/icalendar <= 1.2")


if __name__ == "__main__":
    main()
