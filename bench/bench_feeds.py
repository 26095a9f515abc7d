"""Benchmark of the festival feed (/feeds/festival.ics, issue 14), run by hand:

    python bench/bench_feeds.py [--screenings 1000] [--cold-sizes 1000,10000]
                                [--workers 2] [--threads 2] [--connections 20] [--duration 5]

What it measures:
- with wrk against `festival serve --workers N` on the demo edition of `--screenings`
  screenings (`festival demo`), each beside a baseline measured in the same run from
  bench/bare.py's apps under uvicorn with as many workers:
  - the cached feed (200, the whole body) against the feed's own bytes as a static file
    (Starlette's StaticFiles). Goal: at least 2x the static file;
  - revalidation: a conditional GET (If-None-Match: the feed's ETag) answered 304,
    against a bare PlainTextResponse. Goal: at least 0.5x bare plain text; every answer
    must be a 304;
- in-process, for each of `--cold-sizes`: the cold build (the feed cache emptied before
  each request, through the whole app with an in-process ASGI client; VTIMEZONEs stay
  cached, as in a running server after its first build) against the icalendar library
  alone building and serialising the same events from the same rows in memory (no
  database, no HTTP), medians in milliseconds. Goal: at most 0.3x icalendar's time.
It prints a table (what, req/s or ms, baseline, ratio, goal, met) and each wrk run's
detail. Without wrk it says so and prints the in-process rows only.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import (  # also puts the checkout on sys.path
    BASE,
    FESTIVAL,
    Load,
    Row,
    add_load_arguments,
    demo_database,
    demo_db,
    feed_screenings,
    machine,
    measure,
    only_status,
    serve_bare,
    serve_festival,
    summary,
    table,
    timed,
    whole_bodies,
    wrk_missing,
    wrk_path,
)
from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText

from festival.calendar import ics
from festival.core import times
from festival.core.store import Database
from festival.programme import queries
from festival.web.app import create_app
from festival.web.views.feeds import FeedCache

FEED = "/feeds/festival.ics"
CACHED_GOAL = 2.0  # cached feed / static file
REVALIDATION_GOAL = 0.5  # 304 / bare plain text
COLD_GOAL = 0.3  # cold build / icalendar alone (at most)


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


async def cold_build(size: int) -> dict[str, float]:
    """Median ms of the cold feed through the app, and of icalendar alone, at `size`."""
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        settings, db = await demo_database(tmp, size)
        screenings = await rows(db)
        await db.close()

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                first = await client.get(FEED)  # also builds the VTIMEZONEs once
                assert first.status_code == 200, first.status_code
                body = first.content

                async def cold() -> None:
                    app.state.feed_cache = FeedCache()
                    assert (await client.get(FEED)).content == body

                year = int(screenings[0]["starts_at"][:4])
                zones = {z: Timezone.from_tzid(z, first_date=date(year - 1, 1, 1),
                                               last_date=date(year + 2, 1, 1))
                         for z in sorted({s["timezone"] for s in screenings})}

                async def library() -> None:
                    icalendar_alone(screenings, zones)

                rounds = 3 if size <= 2000 else 1
                return {"screenings": len(screenings), "kb": len(body) / 1000,
                        "cold": await timed(cold, rounds),
                        "icalendar": await timed(library, rounds)}


def cold_rows(sizes: list[int]) -> list[Row]:
    rows_ = []
    for size in sizes:
        try:
            r = asyncio.run(cold_build(size))
        except Exception as exc:  # the app's internals moved: say so, measure the rest
            rows_.append(Row(f"cold feed build, {size} screenings (in-process)", None,
                             "icalendar alone, same events", None, COLD_GOAL, unit="ms",
                             at_most=True, problem=f"not measured: {exc!r}"))
            continue
        rows_.append(Row(f"cold feed build, {r['screenings']:.0f} screenings, "
                         f"{r['kb']:.0f} KB (in-process)", r["cold"],
                         "icalendar alone, same events", r["icalendar"], COLD_GOAL,
                         unit="ms", at_most=True))
    return rows_


def served_rows(args: argparse.Namespace, load: Load) -> tuple[list[Row], list[str]]:
    """The cached feed and its 304 through `festival serve`, each beside its bare app."""
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        db = demo_db(Path(tmp) / "festival.db", args.screenings)
        static_dir = Path(tmp) / "static"
        static_dir.mkdir()
        with serve_festival(db, workers=args.workers, env=FESTIVAL) as festival:
            first = httpx.get(festival.url + FEED, timeout=120)
            assert first.status_code == 200, (first.status_code, first.text[:500])
            body, tag = first.content, first.headers["etag"]
            (static_dir / "festival.ics").write_bytes(body)
            with serve_bare("static", workers=args.workers,
                            env={"BENCH_STATIC_DIR": str(static_dir)}) as static, \
                    serve_bare("plain", workers=args.workers) as plain:
                static_run = measure(static.url + "/static/festival.ics", load, "get")
                cached = measure(festival.url + FEED, load, "get")
                plain_run = measure(plain.url + "/plain", load, "statuses")
                revalidated = measure(festival.url + FEED, load, "statuses",
                                      headers={"If-None-Match": tag})
    kb = len(body) / 1000
    rows_ = [
        Row(f"cached feed, {args.screenings} screenings, {kb:.0f} KB", cached["rate"],
            "static file, same bytes", static_run["rate"], CACHED_GOAL,
            problem="; ".join(filter(None, (whole_bodies(cached, len(body)),
                                             whole_bodies(static_run, len(body)))))),
        Row("feed revalidation (If-None-Match → 304)", revalidated["rate"],
            "bare plain text", plain_run["rate"], REVALIDATION_GOAL,
            problem="; ".join(filter(None, (only_status(revalidated, 304),
                                             only_status(plain_run, 200))))),
    ]
    details = [summary("static file", static_run), summary("cached feed", cached),
               summary("bare plain text", plain_run), summary("feed 304", revalidated)]
    return rows_, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    parser.add_argument("--screenings", type=int, default=1000,
                        help="demo size for the served feed (wrk)")
    parser.add_argument("--cold-sizes", default="1000,10000",
                        help="demo sizes for the in-process cold build")
    args = parser.parse_args()
    started = time.perf_counter()
    load = Load.of(args)
    rows_ = cold_rows([int(n) for n in args.cold_sizes.split(",") if n])
    details: list[str] = []
    if wrk_path() is None:
        print(wrk_missing("the served feed (cached, 304) is not measured; only the "
                          "in-process cold build is"))
        print(f"feeds: {machine(None, None)}")
    else:
        served, details = served_rows(args, load)
        rows_ = served + rows_
        print(f"feeds: {machine(load, args.workers)}")
    print(table(rows_))
    if details:
        print()
        print("\n".join(details))
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
