"""Benchmark of the public programme page and the screenings API (issue 14), run by hand:

    python bench/bench_pages.py [--sizes 1000,5000] [--country NP] [--workers 2]
                                [--threads 2] [--connections 20] [--duration 5]

What it measures, with wrk, for each demo size (`festival demo --screenings N`): `/`,
`/?country=XX` and `/api/v1/screenings` through `festival serve --workers N`, cached (after
a first request and a warm-up run: as a running server serves them), each against the
same bytes (the answer to that first request) served as a static file by bench/bare.py's
`static` app (Starlette's StaticFiles under uvicorn with as many workers), measured in the
same run. Goal: at least 0.8x the static file, every answer a whole 200.

It also checks, once per address, what lets a cache in front serve these pages: an ETag,
a 304 to a conditional GET with it, and no Set-Cookie on an anonymous GET (goals of the
same issue, not ratios). It prints a table (what, req/s, baseline req/s, ratio, goal,
met), those checks and each wrk run's detail. Without wrk it says so and exits.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from common import (  # also puts the checkout on sys.path
    FESTIVAL,
    Load,
    Row,
    add_load_arguments,
    demo_db,
    machine,
    measure,
    serve_bare,
    serve_festival,
    summary,
    table,
    whole_bodies,
    wrk_missing,
    wrk_path,
)

GOAL = 0.8  # cached / static file, same bytes


def caching_checks(url: str) -> str:
    """ETag, 304 on If-None-Match, Set-Cookie: what a cache in front would see."""
    first = httpx.get(url, timeout=120)
    tag = first.headers.get("etag")
    again = (httpx.get(url, headers={"If-None-Match": tag}, timeout=120).status_code
             if tag else None)
    cookie = first.headers.get("set-cookie")
    return (f"ETag {'yes' if tag else 'no'}, conditional GET answers "
            f"{again if again else '(no ETag to send)'}, Set-Cookie "
            f"{cookie.split('=')[0] if cookie else 'none'}")


def measure_size(size: int, addresses: list[str], args: argparse.Namespace, load: Load,
                 tmp: Path, static_dir: Path, static_url: str
                 ) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    details: list[str] = []
    db = demo_db(tmp / f"festival-{size}.db", size)
    with serve_festival(db, workers=args.workers, env=FESTIVAL) as festival:
        for number, address in enumerate(addresses):
            url = festival.url + address
            first = httpx.get(url, timeout=120)
            if first.status_code != 200:
                rows.append(Row(f"{address}, {size} screenings", None, "static file", None,
                                GOAL, problem=f"GET answered {first.status_code}: "
                                f"{first.text[:300]!r}"))
                continue
            kind = first.headers.get("content-type", "")
            copy = f"page-{size}-{number}.{'json' if 'json' in kind else 'html'}"
            (static_dir / copy).write_bytes(first.content)
            checks = caching_checks(url)
            static = measure(f"{static_url}/static/{copy}", load, "get")
            cached = measure(url, load, "get")
            kb = len(first.content) / 1000
            rows.append(Row(
                f"{address}, {size} screenings, {kb:.0f} KB", cached["rate"],
                "static file, same bytes", static["rate"], GOAL,
                problem="; ".join(filter(None, (whole_bodies(cached, len(first.content)),
                                                 whole_bodies(static, len(first.content)))))))
            details += [f"{address}, {size} screenings: {checks}",
                        summary("  static file", static), summary("  festival", cached)]
    return rows, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    parser.add_argument("--sizes", default="1000,5000", help="demo sizes (screenings)")
    parser.add_argument("--country", default="NP", help="for /?country=XX")
    parser.add_argument("--addresses", default="",
                        help="comma-separated addresses instead of /, /?country=XX and "
                             "/api/v1/screenings")
    args = parser.parse_args()
    if wrk_path() is None:
        raise SystemExit(wrk_missing(
            "bench_pages.py measures with wrk only, and stops here (a Python client on "
            "the same cores measures itself more than the server)"))
    addresses = ([a for a in args.addresses.split(",") if a] if args.addresses
                 else ["/", f"/?country={args.country}", "/api/v1/screenings"])
    load = Load.of(args)
    started = time.perf_counter()
    rows: list[Row] = []
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder:
        tmp = Path(folder)
        static_dir = tmp / "static"
        static_dir.mkdir()
        with serve_bare("static", workers=args.workers,
                        env={"BENCH_STATIC_DIR": str(static_dir)}) as static:
            for size in (int(n) for n in args.sizes.split(",") if n):
                more_rows, more = measure_size(size, addresses, args, load, tmp, static_dir,
                                               static.url)
                rows += more_rows
                details += more
    print(f"pages: {machine(load, args.workers)}")
    print(table(rows))
    print()
    print("\n".join(details))
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
