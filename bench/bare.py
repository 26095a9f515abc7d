"""The bare baselines the benchmarks compare festival with: small Starlette apps, each
doing the least a server can do for the same answer, served by uvicorn as `festival
serve` is (same uvicorn, same event loop and HTTP implementation, the same number of
worker processes), without access logs. One app per baseline:

    python bench/bare.py insert --port P [--workers N]   # BENCH_DB, BENCH_SYNCHRONOUS
    python bench/bare.py plain  --port P [--workers N]
    python bench/bare.py static --port P [--workers N]   # BENCH_STATIC_DIR

- insert: POST /insert parses a JSON registration and does one aiosqlite INSERT and
  COMMIT (WAL, synchronous=$BENCH_SYNCHRONOUS, one transaction per request under a lock,
  so each answer follows its own durable COMMIT, as a registration's does), answers 201;
- plain: GET /plain answers a PlainTextResponse ("Hello, world!");
- static: Starlette's StaticFiles serving $BENCH_STATIC_DIR at /static.
Each also answers GET /healthz (200) for the launcher's wait (tests.helpers.ServerProcess).
bench/common.py starts them (`serve_bare`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def insert_app() -> Starlette:
    import aiosqlite

    db_path = os.environ["BENCH_DB"]
    synchronous = os.environ.get("BENCH_SYNCHRONOUS", "FULL")
    assert synchronous in ("OFF", "NORMAL", "FULL", "EXTRA"), synchronous
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        conn = await aiosqlite.connect(db_path)
        await conn.execute("PRAGMA busy_timeout = 10000")  # the other workers' writes
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

    return Starlette(routes=[Route("/insert", insert, methods=["POST"]),
                             Route("/healthz", healthz)], lifespan=lifespan)


def plain_app() -> Starlette:
    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world!")

    return Starlette(routes=[Route("/plain", plain), Route("/healthz", healthz)])


def static_app() -> Starlette:
    folder = Path(os.environ["BENCH_STATIC_DIR"])
    return Starlette(routes=[Route("/healthz", healthz),
                             Mount("/static", StaticFiles(directory=folder))])


APPS = {"insert": insert_app, "plain": plain_app, "static": static_app}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(f"bare:{args.app}_app", factory=True, app_dir=str(HERE), host="127.0.0.1",
                port=args.port, workers=args.workers, log_level="warning",
                proxy_headers=False)


if __name__ == "__main__":
    main()
