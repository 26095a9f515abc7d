"""Benchmark of registrations, run by hand:

    python bench/bench_registrations.py [--requests 2000] [--concurrency 32]
                                        [--synchronous FULL] [--workers 1]

Two servers run under uvicorn on loopback, each in its own process with a fresh SQLite
file in WAL mode at the same `synchronous` setting:
- festival: `festival serve` with 20 screenings of 100 seats; requests go round-robin to
  POST /api/v1/screenings/{id}/registrations (validation, BEGIN IMMEDIATE, the seat
  checks, the INSERT, its outbox message, COMMIT, the JSON answer); with the default
  2000 requests each screening fills and the last few join its waitlist;
- bare: a Starlette app with one endpoint that parses the same JSON and does one
  aiosqlite INSERT and COMMIT (under a lock, so each request is its own durable
  transaction, as a registration is) and answers JSON.
The same client (httpx, `--concurrency` requests in flight) sends `--requests`
registrations with distinct emails to each, after a warm-up, in `--rounds` rounds that
alternate between the two servers (so a busy moment of the machine weighs on both), and
prints registrations per second, p50 and p99 latency and festival/bare throughput
(target >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import (  # also puts the checkout on sys.path
    ROOT,
    ServerProcess,
    festival_env,
    run_festival,
    serve_festival,
)

WARM_UP = 100

SCREENINGS = 20
CAPACITY = 100  # a room as the festival's venues have; past it, registrations wait


def bench_programme() -> dict[str, Any]:
    """SCREENINGS screenings of CAPACITY seats in four venues, one a night each."""
    venues = [{"key": f"hall-{v}", "name": f"Hall {v}", "city": "The Hague", "country": "NL",
               "timezone": "Europe/Amsterdam", "address": f"{v} Bench St",
               "capacity": CAPACITY} for v in range(4)]
    screenings = [{"key": f"bench-{i}", "film": "bench-film", "venue": f"hall-{i % 4}",
                   "starts_at": f"2099-12-{5 + i // 4:02d}T19:00",
                   "ends_at": f"2099-12-{5 + i // 4:02d}T21:00", "capacity": CAPACITY}
                  for i in range(SCREENINGS)]
    return {"edition": {"key": "bench-2099", "name": "Benchmark edition",
                        "starts_on": "2099-12-05", "ends_on": "2099-12-18"},
            "venues": venues, "guests": [], "screenings": screenings,
            "films": [{"key": "bench-film", "title": "The Benchmark", "runtime_minutes": 90}]}


# --- the bare baseline server ------------------------------------------------------------

def serve_bare(port: int, db_path: str, synchronous: str) -> None:
    """One INSERT and COMMIT per request, nothing else: the floor we compare with."""
    import aiosqlite
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state: dict[str, Any] = {}

    async def lifespan(app: Starlette) -> Any:
        conn = await aiosqlite.connect(db_path)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
        await conn.execute("CREATE TABLE IF NOT EXISTS r (id INTEGER PRIMARY KEY, name TEXT,"
                           " email TEXT, seats INTEGER)")
        await conn.commit()
        state.update(conn=conn, lock=asyncio.Lock())
        yield
        await conn.close()

    async def insert(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        async with state["lock"]:
            cursor = await state["conn"].execute(
                "INSERT INTO r (name, email, seats) VALUES (?, ?, ?)",
                (data["name"], data["email"], data["seats"]))
            await state["conn"].commit()
        return JSONResponse({"id": cursor.lastrowid, "status": "confirmed"}, status_code=201)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})  # for the launcher's wait (tests.helpers)

    app = Starlette(routes=[Route("/insert", insert, methods=["POST"]),
                            Route("/healthz", healthz)],
                    lifespan=contextlib.asynccontextmanager(lifespan))
    uvicorn.run(app, host="127.0.0.1", port=port)


# --- the load ----------------------------------------------------------------------------

class Load:
    """Registrations sent to one server, `concurrency` at a time, measured over rounds."""

    def __init__(self, base: str, paths: list[str], concurrency: int, prefix: str) -> None:
        self.base, self.paths, self.concurrency, self.prefix = base, paths, concurrency, prefix
        self.counter = itertools.count()
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.statuses: dict[int, int] = {}

    async def round(self, client: httpx.AsyncClient, requests: int, record: bool) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                i = next(self.counter)
                body = {"name": f"Person {i}", "email": f"{self.prefix}{i}@example.org",
                        "seats": 1}
                start = time.perf_counter()
                answer = await client.post(self.paths[i % len(self.paths)], json=body)
                if record:
                    self.latencies.append(time.perf_counter() - start)
                    self.statuses[answer.status_code] = self.statuses.get(
                        answer.status_code, 0) + 1

        share, extra = divmod(requests, self.concurrency)
        start = time.perf_counter()
        await asyncio.gather(*(worker(share + (1 if n < extra else 0))
                               for n in range(self.concurrency)))
        if record:
            self.elapsed += time.perf_counter() - start

    def figures(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {"rate": len(latencies) / self.elapsed,
                "p50": statistics.median(latencies) * 1000,
                "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
                "statuses": self.statuses}


async def compare(ours: Load, bare: Load, requests: int, rounds: int) -> None:
    """Warms both up, then alternates rounds between them, so that whatever else the
    machine does at the time weighs on both alike."""
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a round never
    # reuses one the server is closing at that moment.
    limits = httpx.Limits(max_connections=ours.concurrency,
                          max_keepalive_connections=ours.concurrency, keepalive_expiry=1.0)
    async with httpx.AsyncClient(base_url=ours.base, limits=limits, timeout=60) as a, \
            httpx.AsyncClient(base_url=bare.base, limits=limits, timeout=60) as b:
        await ours.round(a, WARM_UP, record=False)
        await bare.round(b, WARM_UP, record=False)
        for n in range(rounds):
            share = requests // rounds + (1 if n < requests % rounds else 0)
            await ours.round(a, share, record=True)
            await bare.round(b, share, record=True)


def festival_paths(base: str) -> list[str]:
    screenings = httpx.get(f"{base}/api/v1/screenings?edition=bench-2099", timeout=10).json()
    return [f"/api/v1/screenings/{s['id']}/registrations" for s in screenings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per server")
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--workers", type=int, default=1, help="festival serve --workers")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1], args.synchronous)
        return

    with tempfile.TemporaryDirectory() as tmp:
        # A load test from one machine: per-client rate limits would answer 429.
        env = {"FESTIVAL_SQLITE_SYNCHRONOUS": args.synchronous,
               "FESTIVAL_SECRET_KEY": "bench-secret", "FESTIVAL_RATE_LIMITS": "off"}
        db = str(Path(tmp) / "festival.db")
        programme_file = Path(tmp) / "bench.json"
        programme_file.write_text(json.dumps(bench_programme()), "utf-8")
        run_festival("load", str(programme_file), "--db", db, env=env)

        festival = serve_festival(db, workers=args.workers, env=env)
        bare = ServerProcess(
            lambda port: [sys.executable, str(Path(__file__).resolve()), "--synchronous",
                          args.synchronous, "--serve-bare", str(port),
                          str(Path(tmp) / "bare.db")],
            env=festival_env(env), cwd=ROOT)
        with festival, bare:
            ours = Load(festival.url, festival_paths(festival.url), args.concurrency, "f")
            baseline = Load(bare.url, ["/insert"], args.concurrency, "b")
            asyncio.run(compare(ours, baseline, args.requests, args.rounds))

    print(f"registrations: {args.requests} requests (+{WARM_UP} warm-up) over {SCREENINGS} "
          f"screenings of {CAPACITY} seats, {args.concurrency} in flight, {args.rounds} "
          f"alternating rounds, synchronous={args.synchronous}, festival workers={args.workers}")
    print(f"{'server':<42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    results = (("festival POST .../registrations", ours.figures()),
               ("bare Starlette INSERT+COMMIT", baseline.figures()))
    for label, figures in results:
        print(f"{label:<42} {figures['rate']:>8.0f} {figures['p50']:>8.1f} "
              f"{figures['p99']:>8.1f}  {figures['statuses']}")
    ratio = results[0][1]["rate"] / results[1][1]["rate"]
    print(f"ratio festival/bare: {ratio:.2f} (target >= 0.5): {'ok' if ratio >= 0.5 else 'LOW'}")


if __name__ == "__main__":
    main()
