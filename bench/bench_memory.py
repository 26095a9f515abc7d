"""Memory of a festival worker (issue 14), run by hand:

    python bench/bench_memory.py [--screenings 10000] [--workers 2]

What it measures: the resident memory (VmRSS, and its peak VmHWM, from
/proc/PID/status) of each worker process of `festival serve --workers N` (the server's
children started by uvicorn) on the demo edition of `--screenings` screenings
(`festival demo`), after every worker has served `/`, `/api/v1/screenings` and
`/feeds/festival.ics` at least once. Each request goes on a new connection, and which
worker answered is told by which one's CPU time grew; requests are repeated until each
worker has answered each address. For comparison, the same figure for bench/bare.py's
`plain` app (Starlette and uvicorn alone) under as many workers, after 20 requests.
Goal: under 150 MiB RSS per worker (the largest worker counts). No wrk needed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from common import (  # also puts the checkout on sys.path
    FESTIVAL,
    Row,
    ServerProcess,
    cpu_ticks,
    demo_db,
    machine,
    memory_kib,
    serve_bare,
    serve_festival,
    table,
    workers_of,
)

GOAL_MIB = 150
ADDRESSES = ("/", "/api/v1/screenings", "/feeds/festival.ics")
TRIES = 40  # requests per address at most, to reach every worker


def serve_everywhere(server: ServerProcess, pids: list[int], addresses: tuple[str, ...]
                     ) -> tuple[dict[str, dict[int, int]], list[str]]:
    """Sends each address, one request per new connection, until every worker answered
    it (told by its CPU time); answers how many each worker answered, and problems."""
    served: dict[str, dict[int, int]] = {}
    problems = []
    for address in addresses:
        counts = {pid: 0 for pid in pids}
        unattributed = 0
        for _ in range(TRIES):
            before = {pid: cpu_ticks(pid) for pid in pids}
            answer = httpx.get(server.url + address, timeout=300,
                               headers={"Connection": "close"})
            if answer.status_code != 200:
                problems.append(f"{address} answered {answer.status_code}")
                break
            grown = {pid: cpu_ticks(pid) - before[pid] for pid in pids}
            busiest = max(grown, key=lambda pid: grown[pid])
            if grown[busiest] > 0:
                counts[busiest] += 1
            else:
                unattributed += 1
            if all(counts.values()):
                break
        else:
            problems.append(f"{address}: not every worker seen answering in {TRIES} requests "
                            f"({counts}, {unattributed} too quick to tell)")
        served[address] = counts
    return served, problems


def rss_mib(pids: list[int]) -> dict[int, dict[str, float]]:
    return {pid: {k: v / 1024 for k, v in memory_kib(pid).items()} for pid in pids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenings", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn workers of festival serve and the bare app alike")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        db = demo_db(Path(tmp) / "festival.db", args.screenings)
        with serve_festival(db, workers=args.workers, env=FESTIVAL) as festival:
            pids = workers_of(festival, args.workers)
            idle = rss_mib(pids)
            served, problems = serve_everywhere(festival, pids, ADDRESSES)
            after = rss_mib(pids)
            assert festival.process is not None
            supervisor = memory_kib(festival.process.pid)
        with serve_bare("plain", workers=args.workers) as plain:
            bare_pids = workers_of(plain, args.workers)
            # Too quick to tell which worker answered: enough requests for both.
            bare_problems = [f"/plain answered {status}" for status in {
                httpx.get(plain.url + "/plain", headers={"Connection": "close"},
                          timeout=60).status_code for _ in range(20)} - {200}]
            bare = rss_mib(bare_pids)

    largest = max(m["VmRSS"] for m in after.values())
    bare_largest = max(m["VmRSS"] for m in bare.values())
    print(f"memory: {machine(None, args.workers)}")
    print(table([Row(f"RSS per worker (largest of {len(pids)}), {args.screenings} screenings, "
                     "after /, the API list and the feed", largest,
                     "bare Starlette worker (plain text)", bare_largest, GOAL_MIB, unit="MiB",
                     absolute=True, at_most=True,
                     problem="; ".join(problems + bare_problems))]))
    print()
    for pid in pids:
        answered = ", ".join(f"{a} {served[a][pid]}x" for a in ADDRESSES)
        print(f"festival worker {pid}: {idle[pid]['VmRSS']:.1f} MiB once started, "
              f"{after[pid]['VmRSS']:.1f} MiB after answering {answered} "
              f"(peak {after[pid]['VmHWM']:.1f} MiB)")
    print(f"festival serve's own process (uvicorn's supervisor): "
          f"{supervisor['VmRSS'] / 1024:.1f} MiB")
    for pid, m in bare.items():
        print(f"bare plain-text worker {pid}: {m['VmRSS']:.1f} MiB "
              f"(peak {m['VmHWM']:.1f} MiB)")
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
