"""Benchmark of registrations (issue 14), run by hand:

    python bench/bench_registrations.py [--synchronous FULL] [--workers 2] [--rounds 3]
                                        [--threads 2] [--connections 20] [--duration 5]

What it measures, with wrk (bench/wrk.lua: POST bodies, each with an email no other
request uses) against two servers on loopback, each with `--workers` uvicorn workers on a
fresh SQLite file in WAL mode at the same `synchronous` (FULL by default, as in
production):
- festival: `festival serve` (rate limits off) on 20 screenings of 100,000 seats (no
  screening fills, every answer should be 201): POST /api/v1/screenings/{id}/registrations
  to the 20 in turn; its baseline, measured in the same run, is bench/bare.py's `insert`
  app: a bare Starlette endpoint doing one aiosqlite INSERT and COMMIT per request.
  Goal: at least 1.0x the bare endpoint, with no answer other than 201.
- the cost as one screening fills: `--rounds` consecutive wrk runs on ONE screening of
  100,000 seats; the rate of the last round against the first. Goal: at least 0.9 (flat:
  the issue's measure fell from 613 to 233 registrations/s over three rounds).
It prints a table (what, req/s, baseline req/s, ratio, goal, met) and the detail of each
wrk run. Without wrk it says so and exits: a Python client on the same cores measured
itself more than the server (issue 14).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (  # also puts the checkout on sys.path
    FESTIVAL,
    Load,
    Row,
    add_load_arguments,
    machine,
    measure,
    only_status,
    run_festival,
    serve_bare,
    serve_festival,
    summary,
    table,
    wrk,
    wrk_missing,
    wrk_path,
)

SCREENINGS = 20
SEATS = 100_000  # the most a programme file allows: no screening fills in a run
BIG = "bench-big"  # the screening the flatness rounds fill
FLAT_GOAL = 0.9
RATE_GOAL = 1.0


def bench_programme() -> dict[str, Any]:
    """SCREENINGS screenings and one more (BIG) of SEATS seats, one a night per venue."""
    venues = [{"key": f"hall-{v}", "name": f"Hall {v}", "city": "The Hague", "country": "NL",
               "timezone": "Europe/Amsterdam", "address": f"{v} Bench St",
               "capacity": SEATS} for v in range(4)]
    keys = [f"bench-{i}" for i in range(SCREENINGS)] + [BIG]
    screenings = [{"key": key, "film": "bench-film", "venue": f"hall-{i % 4}",
                   "starts_at": f"2099-12-{5 + i // 4:02d}T19:00",
                   "ends_at": f"2099-12-{5 + i // 4:02d}T21:00", "capacity": SEATS}
                  for i, key in enumerate(keys)]
    return {"edition": {"key": "bench-2099", "name": "Benchmark edition",
                        "starts_on": "2099-12-05", "ends_on": "2099-12-18"},
            "venues": venues, "guests": [], "screenings": screenings,
            "films": [{"key": "bench-film", "title": "The Benchmark", "runtime_minutes": 90}]}


def screening_ids(db: Path) -> dict[str, int]:
    """The screenings' ids by key, read from the database file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {key: id_ for id_, key in conn.execute("SELECT id, key FROM screenings")}
    finally:
        conn.close()


def registrations(db: Path) -> dict[str, int]:
    """Registrations in the database by status (for the record; {} if unreadable)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return {str(s): n for s, n in conn.execute(
                "SELECT status, COUNT(*) FROM registrations GROUP BY status")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"unreadable": 0, str(exc): 0}


def path_of(id_: int) -> str:
    return f"/api/v1/screenings/{id_}/registrations"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--rounds", type=int, default=3,
                        help="consecutive wrk runs on one screening (the flatness measure)")
    args = parser.parse_args()
    if wrk_path() is None:
        raise SystemExit(wrk_missing(
            "bench_registrations.py measures with wrk only, and stops here (a Python client "
            "on the same cores measures itself more than the server)"))
    load = Load.of(args)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-registrations-") as tmp:
        env = {**FESTIVAL, "FESTIVAL_SQLITE_SYNCHRONOUS": args.synchronous}
        db = Path(tmp) / "festival.db"
        programme_file = Path(tmp) / "bench.json"
        programme_file.write_text(json.dumps(bench_programme()), "utf-8")
        run_festival("load", str(programme_file), "--db", str(db), env=env)
        ids = screening_ids(db)
        spread = ",".join(path_of(ids[f"bench-{i}"]) for i in range(SCREENINGS))

        bare_env = {"BENCH_DB": str(Path(tmp) / "bare.db"),
                    "BENCH_SYNCHRONOUS": args.synchronous}
        with serve_festival(db, workers=args.workers, env=env) as festival, \
                serve_bare("insert", workers=args.workers, env=bare_env) as bare:
            baseline = measure(bare.url, load, "register", "bare", "/insert")
            ours = measure(festival.url, load, "register", "spread", spread)
            rounds = [wrk(festival.url, load, "register", f"big{n}", path_of(ids[BIG]))
                      for n in range(args.rounds)]
        counted = registrations(db)

    print(f"registrations, synchronous={args.synchronous}: "
          f"{machine(load, args.workers)}")
    rows = [
        Row(f"POST registrations, {SCREENINGS} screenings in turn", ours["rate"],
            "bare aiosqlite INSERT+COMMIT", baseline["rate"], RATE_GOAL,
            problem="; ".join(filter(None, (only_status(ours, 201),
                                             only_status(baseline, 201))))),
        Row(f"one screening filling: round {args.rounds}", rounds[-1]["rate"],
            "round 1, same screening", rounds[0]["rate"], FLAT_GOAL,
            problem="; ".join(filter(None, (only_status(r, 201) for r in rounds)))),
    ]
    print(table(rows))
    print()
    print(summary("bare INSERT+COMMIT", baseline))
    print(summary("festival, screenings in turn", ours))
    before = 0
    for n, r in enumerate(rounds, 1):
        print(summary(f"festival, one screening, round {n} (from {before} registered)", r))
        before += r["requests"]
    print(f"registrations in festival's database at the end (warm-ups included): {counted}")
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
