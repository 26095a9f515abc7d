"""Benchmark of festival on PostgreSQL, run by hand:

    python bench/bench_postgresql.py [--workers 1,2,4] [--duration 8] [--connections 32]
                                     [--threads 2] [--screenings 1000]

It starts a throw-away PostgreSQL server (tests/postgres.py: Debian's initdb, durability
off as for the tests: fsync and synchronous_commit off) and loads the demo edition of
`--screenings` screenings, every screening given 5,000 seats so that registrations are
confirmed and the waitlist is not what is measured. Then, for each worker count, on a
fresh copy of that database, `festival serve --workers N` (FESTIVAL_DB=the URL, rate
limits off) is loaded with wrk (Debian's /usr/bin/wrk, `--connections` connections over
`--threads` threads, bench/bench_postgresql.lua writing the bodies) for `--duration`
seconds after a short warm-up:
- registrations: POST /api/v1/screenings/{id}/registrations, 50 screenings in turn, each
  body with its own email (so every answer is a new registration, 201);
- feed: GET /feeds/festival.ics, served from each worker's cache after the first build
  (one version query to PostgreSQL per request).
Baselines measured in the same run, with the same number of concurrent connections:
- registrations: a bare asyncpg loop, one BEGIN, INSERT, COMMIT after another on each of
  `--connections` connections, into a table of the same shape, on the same PostgreSQL
  server (no HTTP: the floor the database sets);
- feed: the feed's own bytes as a static file (Starlette's StaticFiles under uvicorn with
  the same number of workers), as bench/bench_feeds.py compares with a static file; and,
  from the same bare server, the same bytes answered from memory (the least any server
  can do for that response).
The table gives requests per second, p50/p99 latency and the ratio to the baseline.
Everything (wrk, the servers, PostgreSQL, this script) shares the machine's cores: say
how many when quoting the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import (  # also puts the checkout on sys.path
    ROOT,
    Database,
    ServerProcess,
    festival_env,
    import_programme,
    serve_festival,
)

from festival.programme import demo
from tests import postgres

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "bench_postgresql.lua"
WRK = "/usr/bin/wrk"
SEATS = 5000  # per screening: far more than a run registers
TARGETS = 50  # screenings the registrations go to, in turn
WARM_UP = 2  # seconds of wrk before each measured run
FEED = "/feeds/festival.ics"
ENV = {"FESTIVAL_RATE_LIMITS": "off", "FESTIVAL_SECRET_KEY": "bench-secret"}


# --- the database ------------------------------------------------------------------------

def bench_programme(screenings: int) -> dict[str, Any]:
    """The demo edition with room for everyone: no screening fills in a run."""
    data = demo.generate(screenings)
    for venue in data["venues"]:
        venue["capacity"] = 100_000
    for screening in data["screenings"]:
        screening["capacity"] = SEATS
    return data


async def load_template(url: str, screenings: int) -> None:
    db = await Database(url).open()
    try:
        await import_programme(db, bench_programme(screenings))
    finally:
        await db.close()


async def count_registrations(url: str) -> dict[str, int]:
    db = await Database(url).open(migrate=False)
    try:
        rows = await db.fetch_all("SELECT status, COUNT(*) FROM registrations GROUP BY status")
    finally:
        await db.close()
    return {str(r[0]): int(r[1]) for r in rows}


# --- wrk ---------------------------------------------------------------------------------

def wrk(url: str, seconds: float, connections: int, threads: int, *args: str
        ) -> dict[str, float]:
    """One wrk run; answers what bench_postgresql.lua's done() printed, plus rate."""
    done = subprocess.run(
        [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
         "--timeout", "30s", "-s", str(SCRIPT), url, "--", *args],
        capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures: dict[str, float] = json.loads(line[len("BENCH "):])
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


# --- baselines ---------------------------------------------------------------------------

async def bare_inserts(url: str, connections: int, seconds: float) -> dict[str, float]:
    """`connections` asyncpg connections, each running BEGIN; INSERT; COMMIT in a loop
    for `seconds` (after a warm-up); answers transactions per second and latencies."""
    import asyncpg

    conns = [await asyncpg.connect(url) for _ in range(connections)]
    try:
        await conns[0].execute(
            "CREATE TABLE IF NOT EXISTS bare (id BIGSERIAL PRIMARY KEY, screening_id BIGINT,"
            " token TEXT, name TEXT, email TEXT, seats INTEGER, status TEXT, created_at TEXT)")
        latencies: list[float] = []

        async def loop(conn: asyncpg.Connection, n: int, until: float, record: bool) -> None:
            i = 0
            while time.perf_counter() < until:
                i += 1
                start = time.perf_counter()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO bare (screening_id, token, name, email, seats, status,"
                        " created_at) VALUES ($1, $2, $3, $4, 1, 'confirmed', $5)",
                        i % TARGETS, f"t{n}-{i}-{record}", f"Bench {i}",
                        f"b{n}-{i}-{record}@example.org", "2026-01-01T00:00:00Z")
                if record:
                    latencies.append(time.perf_counter() - start)

        warm = time.perf_counter() + WARM_UP
        await asyncio.gather(*(loop(c, n, warm, False) for n, c in enumerate(conns)))
        start = time.perf_counter()
        await asyncio.gather(*(loop(c, n, start + seconds, True)
                               for n, c in enumerate(conns)))
        elapsed = time.perf_counter() - start
    finally:
        for c in conns:
            await c.close()
    latencies.sort()
    return {"rate": len(latencies) / elapsed, "requests": len(latencies),
            "p50_us": latencies[len(latencies) // 2] * 1e6,
            "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6, "non2xx": 0}


def static_app() -> Any:
    """A bare Starlette app (uvicorn's factory): $BENCH_STATIC_DIR as static files at
    /static, and /memory/festival.ics answering that file's bytes, read once at start."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    folder = Path(os.environ["BENCH_STATIC_DIR"])
    body = (folder / "festival.ics").read_bytes()

    async def healthz(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")  # for the launcher's wait (tests.helpers)

    async def memory(request: Any) -> Response:
        return Response(body, media_type="text/calendar")

    return Starlette(routes=[
        Route("/healthz", healthz), Route("/memory/festival.ics", memory),
        Mount("/static", StaticFiles(directory=folder))])


def serve_static(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run("bench_postgresql:static_app", factory=True, app_dir=str(HERE),
                host="127.0.0.1", port=port, workers=workers, log_level="warning")


# --- the runs ----------------------------------------------------------------------------

def target_ids(base: str) -> list[int]:
    """TARGETS scheduled screenings that start at least a day from now."""
    listed = httpx.get(f"{base}/api/v1/screenings", timeout=30).json()
    now = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 86400))
    open_ = [s["id"] for s in listed
             if s["status"] == "scheduled" and s["starts_at"][:16] > now and s["seats_left"]]
    if len(open_) < TARGETS:
        raise SystemExit(f"only {len(open_)} screenings are open for registration")
    return open_[:TARGETS]


def run_workers(server: postgres.Server, template: str, workers: int,
                args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    name = server.create(template)
    url = server.url(name)
    load = (args.connections, args.threads)
    results: dict[str, Any] = {}
    try:
        with serve_festival(url, workers=workers, env=ENV) as festival:
            ids = ",".join(str(i) for i in target_ids(festival.url))
            wrk(festival.url, WARM_UP, *load, "register", f"warm{workers}", ids)
            results["registrations"] = wrk(festival.url, args.duration, *load,
                                           "register", f"w{workers}", ids)
            results["rows"] = asyncio.run(count_registrations(url))
            feed = httpx.get(festival.url + FEED, timeout=60)
            assert feed.status_code == 200, feed.status_code
            wrk(festival.url + FEED, WARM_UP, *load, "get")
            results["feed"] = wrk(festival.url + FEED, args.duration, *load, "get")
            results["feed_kb"] = len(feed.content) / 1000
        static_dir = tmp / f"static{workers}"
        static_dir.mkdir()
        (static_dir / "festival.ics").write_bytes(feed.content)
        static = ServerProcess(
            lambda port: [sys.executable, str(Path(__file__).resolve()), "--serve-static",
                          str(port), str(workers)],
            env=festival_env({"BENCH_STATIC_DIR": str(static_dir)}), cwd=ROOT)
        with static:
            for kind in ("static", "memory"):
                address = f"{static.url}/{kind}/festival.ics"
                wrk(address, WARM_UP, *load, "get")
                results[kind] = wrk(address, args.duration, *load, "get")
        for kind in ("feed", "static", "memory"):  # whole bodies, not 304s or errors
            figures = results[kind]
            assert figures["bytes"] >= figures["requests"] * len(feed.content), kind
    finally:
        server.drop(name)
    return results


def row(label: str, figures: dict[str, float], baseline: dict[str, float]) -> str:
    return (f"{label:<34} {figures['rate']:>8.0f} {figures['p50_us'] / 1000:>8.1f} "
            f"{figures['p99_us'] / 1000:>8.1f} {figures['rate'] / baseline['rate']:>7.2f}"
            f" {int(figures['non2xx']):>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--duration", type=float, default=8, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--screenings", type=int, default=1000)
    parser.add_argument("--serve-static", nargs=2, type=int, metavar=("PORT", "WORKERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_static:
        serve_static(*args.serve_static)
        return
    if not Path(WRK).exists():
        raise SystemExit(f"{WRK} is missing: apt-get install wrk")
    reason = postgres.why_not()
    if reason:
        raise SystemExit(reason)

    started = time.perf_counter()
    counts = [int(n) for n in args.workers.split(",")]
    runs: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, postgres.server() as server:
        template = server.create()
        asyncio.run(load_template(server.url(template), args.screenings))
        bare_db = server.create()
        bare = asyncio.run(bare_inserts(server.url(bare_db), args.connections, args.duration))
        server.drop(bare_db)
        for workers in counts:
            runs[workers] = run_workers(server, template, workers, args, Path(tmp))

    print(f"PostgreSQL {server_version()}, fsync and synchronous_commit off; "
          f"{os.cpu_count()} CPU cores shared by wrk, the servers, PostgreSQL and this "
          f"script; wrk -t{args.threads} -c{args.connections}, {args.duration:g} s a run "
          f"after {WARM_UP} s of warm-up; {args.screenings} screenings, registrations "
          f"spread over {TARGETS} of {SEATS} seats")
    head = (f"{'workers  what':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'ratio':>7} {'non-2xx':>7}")
    print(head)
    print(row("-  asyncpg BEGIN+INSERT+COMMIT", bare, bare))
    for workers, r in runs.items():
        print(row(f"{workers}  POST .../registrations", r["registrations"], bare))
    for workers, r in runs.items():
        print(row(f"{workers}  static file ({r['feed_kb']:.0f} KB)", r["static"], r["static"]))
        print(row(f"{workers}  same bytes from memory", r["memory"], r["static"]))
        print(row(f"{workers}  GET {FEED}", r["feed"], r["static"]))
    print("ratio: registrations to the asyncpg loop; the feed (and the bytes from memory) to "
          "the static file served with as many workers")
    print("feed / bytes from memory: " + ", ".join(
        f"{w} workers {r['feed']['rate'] / r['memory']['rate']:.2f}" for w, r in runs.items()))
    for workers, r in runs.items():
        print(f"workers={workers}: registrations in the database {r['rows']} "
              f"(wrk completed {r['registrations']['requests']:.0f} in the measured run, "
              f"plus the warm-up)")
    print(f"whole run: {time.perf_counter() - started:.0f} s")


def server_version() -> str:
    found = postgres.binaries()
    if found is None:
        return "(external)"
    out = subprocess.run([str(found / "postgres"), "--version"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return out.split()[2] if len(out.split()) > 2 else "?"


if __name__ == "__main__":
    main()
