"""What the benchmarks share: a median timer, an app's settings on a fresh database
holding the demo edition, and (from tests.helpers, which the tests use too) the server
launcher and the feeds' view of the screenings; and, for the benchmarks that load real
servers: wrk (`wrk()`, with bench/wrk.lua), the bare baseline apps (`serve_bare`, from
bench/bare.py), `festival serve` and `festival demo` run from this checkout, and the table
every such benchmark prints (what, req/s, baseline req/s, ratio, goal, met).

Importing this module puts the checkout on sys.path, so that `python bench/x.py` finds
`festival` and `tests.helpers` without an install; the child processes it starts get the
checkout first on PYTHONPATH too, so they run this checkout's code whatever package is
installed (`festival_origin()` says which one they import)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from festival.core.settings import Settings  # noqa: E402
from festival.core.store import Database  # noqa: E402
from festival.programme import demo  # noqa: E402
from festival.programme.loader import import_programme  # noqa: E402
from tests import helpers  # noqa: E402
from tests.helpers import BASE_URL as BASE  # noqa: E402
from tests.helpers import (  # noqa: E402, F401 (re-exported for the benchmarks)
    ServerProcess,
    feed_screenings,
    festival_command,
)

WRK_SCRIPT = HERE / "wrk.lua"
# A load test from one machine: per-client rate limits would answer 429.
FESTIVAL = {"FESTIVAL_RATE_LIMITS": "off", "FESTIVAL_SECRET_KEY": "bench-secret"}


async def timed(action: Callable[[], Awaitable[Any]], rounds: int) -> float:
    """Median milliseconds of `rounds` runs of `action`."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def demo_database(tmp: str, size: int) -> tuple[Settings, Database]:
    """Settings for an app on `tmp`/festival.db, filled with the demo edition of `size`
    screenings and still open, and an empty `tmp`/static folder for baseline files."""
    static = Path(tmp) / "static"
    static.mkdir()
    settings = Settings(db_path=str(Path(tmp) / "festival.db"), base_url=BASE,
                        static_dir=static, sqlite_synchronous="OFF", start_mail_sender=False)
    db = await Database(settings.db_path, synchronous="OFF").open()
    await import_programme(db, demo.generate(size))
    return settings, db


# --- child processes running this checkout ---------------------------------------------

def _with_checkout(values: Mapping[str, str] | None) -> dict[str, str]:
    """`values`, with this checkout first on PYTHONPATH."""
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(path), **(values or {})}


def festival_env(values: Mapping[str, str] | None = None) -> dict[str, str]:
    """tests.helpers.festival_env, with this checkout first on PYTHONPATH."""
    return helpers.festival_env(_with_checkout(values))


def run_festival(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300
                 ) -> subprocess.CompletedProcess[str]:
    """`festival ARGS...` of this checkout, to the end (tests.helpers.run_festival)."""
    return helpers.run_festival(*args, env=_with_checkout(env), timeout=timeout, cwd=ROOT)


def serve_festival(db_path: str | Path, *, workers: int = 1,
                   env: Mapping[str, str] | None = None, **options: Any) -> ServerProcess:
    """`festival serve --workers N` of this checkout (tests.helpers.serve_festival)."""
    return helpers.serve_festival(db_path, workers=workers, env=_with_checkout(env),
                                  cwd=ROOT, **options)


def festival_origin() -> str:
    """Where the child processes' `festival` package comes from, and its commit."""
    found = subprocess.run(
        [sys.executable, "-c", "import festival; print(festival.__file__)"],
        env=festival_env(), cwd=ROOT, capture_output=True, text=True, check=True,
        timeout=60).stdout.strip()
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h"],
                            capture_output=True, text=True, check=False, timeout=30)
    described = commit.stdout.strip() if commit.returncode == 0 else "(no git)"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                            "festival"], capture_output=True, text=True, check=False,
                           timeout=30).stdout.strip()
    here = Path(sys.modules["festival"].__file__ or "?").parent
    return (f"festival from {Path(found).parent} (commit {described}"
            f"{', festival/ changed since' if dirty else ''})"
            f"{'' if here == Path(found).parent else f', but in this process from {here}'}")


def demo_db(path: str | Path, screenings: int) -> Path:
    """`festival demo --screenings N` into a new SQLite file at `path`."""
    run_festival("demo", "--db", str(path), "--screenings", str(screenings),
                 env={"FESTIVAL_SQLITE_SYNCHRONOUS": "OFF"})
    return Path(path)


def serve_bare(app: str, *, workers: int, env: Mapping[str, str] | None = None
               ) -> ServerProcess:
    """One of bench/bare.py's apps (insert, plain, static) under uvicorn with `workers`
    processes on a free loopback port, not yet started (use it in a `with` block)."""
    def command(port: int) -> list[str]:
        return [sys.executable, str(HERE / "bare.py"), app, "--port", str(port),
                "--workers", str(workers)]

    return ServerProcess(command, env=festival_env(env), cwd=ROOT)


# --- the processes of a server ---------------------------------------------------------

def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (e.g. uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses.
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def workers_of(server: ServerProcess, expected: int) -> list[int]:
    """The worker processes of a uvicorn server started with --workers `expected` (> 1:
    its children started by multiprocessing); with one worker, the server itself."""
    assert server.process is not None
    if expected <= 1:
        return [server.process.pid]
    deadline = time.monotonic() + 30
    while True:
        found = [pid for pid in children(server.process.pid)
                 if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        if len(found) == expected or time.monotonic() > deadline:
            assert len(found) == expected, (found, expected)
            return found
        time.sleep(0.1)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of `pid`, in KiB, from /proc/PID/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def cpu_ticks(pid: int) -> int:
    """User and system CPU time of `pid` so far, in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


# --- wrk ---------------------------------------------------------------------------------

def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_missing(what: str) -> str:
    return f"wrk is not installed (apt-get install wrk): {what}"


def add_load_arguments(parser: argparse.ArgumentParser, workers: int = 2) -> None:
    """wrk's load (-t2 -c20 -d5s, as issue 14 measured) and the servers' workers."""
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections (-c)")
    parser.add_argument("--duration", type=int, default=5,
                        help="whole seconds per measured wrk run (-d)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="whole seconds of wrk before each measured run (0: none)")
    parser.add_argument("--workers", type=int, default=workers,
                        help="uvicorn workers of festival serve and of the bare apps alike")


@dataclass
class Load:
    threads: int
    connections: int
    duration: int
    warmup: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Load:
        return cls(args.threads, args.connections, args.duration, args.warmup)

    def describe(self) -> str:
        return (f"wrk -t{self.threads} -c{self.connections} -d{self.duration}s "
                f"(after {self.warmup} s of warm-up)")


def wrk(url: str, load: Load, *args: str, headers: Mapping[str, str] | None = None,
        seconds: int | None = None) -> dict[str, Any]:
    """One wrk run of `seconds` (the load's duration unless given) with bench/wrk.lua
    and its `args` (get / statuses / register PREFIX PATHS); answers what the script's
    done() printed, plus `rate` (completed requests per second)."""
    command = [wrk_path() or "wrk", "-t", str(load.threads), "-c", str(load.connections),
               "-d", f"{seconds or load.duration}s", "--timeout", "30s",
               "-s", str(WRK_SCRIPT)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url, "--", *args], capture_output=True, text=True,
                          check=False, timeout=(seconds or load.duration) + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures: dict[str, Any] = json.loads(line[len("BENCH "):])
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    return figures


def measure(url: str, load: Load, *args: str, headers: Mapping[str, str] | None = None
            ) -> dict[str, Any]:
    """A warm-up run (not counted), then the measured run. For `register PREFIX PATHS`,
    the warm-up's emails have a prefix of their own (PREFIX + "w")."""
    if load.warmup > 0:
        warm = list(args)
        if warm[:1] == ["register"]:
            warm[1] += "w"
        wrk(url, load, *warm, headers=headers, seconds=load.warmup)
    return wrk(url, load, *args, headers=headers)


def summary(label: str, figures: dict[str, Any]) -> str:
    """One line of detail for a wrk run."""
    counted = f", statuses {figures['statuses']}" if figures["statuses"] else ""
    return (f"{label}: {figures['requests']} requests in "
            f"{figures['duration_us'] / 1e6:.1f} s, {figures['rate']:.0f} req/s, p50 "
            f"{figures['p50_us'] / 1000:.1f} ms, p99 {figures['p99_us'] / 1000:.1f} ms, "
            f"{figures['bytes'] / figures['requests'] if figures['requests'] else 0:.0f} "
            f"bytes/answer, non-2xx/3xx {figures['non2xx3xx']}, socket errors "
            f"{figures['errors']}{counted}")


def whole_bodies(figures: dict[str, Any], size: int) -> str:
    """'' if every answer of a GET run was a 2xx/3xx carrying at least `size` bytes (so
    whole bodies: neither 304s nor errors), else what was wrong."""
    problems = []
    if figures["non2xx3xx"] or figures["errors"]:
        problems.append(f"{figures['non2xx3xx']} non-2xx/3xx, {figures['errors']} socket "
                        "errors")
    if figures["bytes"] < figures["requests"] * size:
        problems.append(f"{figures['bytes']} bytes read for {figures['requests']} answers "
                        f"of {size} bytes")
    return "; ".join(problems)


def only_status(figures: dict[str, Any], status: int) -> str:
    """'' if every answer counted had `status` (and no socket errors), else the counts."""
    others = {k: v for k, v in figures["statuses"].items() if k != str(status)}
    if others or figures["errors"] or not figures["statuses"]:
        return f"statuses {figures['statuses']}, {figures['errors']} socket errors"
    return ""


# --- the table -----------------------------------------------------------------------------

@dataclass
class Row:
    """One measurement beside its baseline and its goal: `ratio` = value / baseline,
    met when `ratio` >= `goal` (or <= it, with `at_most`) and nothing was wrong; with
    `absolute`, the goal is for the value itself, in `unit` (below it, with `at_most`)."""
    what: str
    value: float | None
    baseline_what: str
    baseline: float | None
    goal: float | None
    unit: str = "req/s"
    at_most: bool = False
    problem: str = ""
    absolute: bool = False

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> str:
        if self.goal is None:
            return "-"
        measured = self.value if self.absolute else self.ratio
        if measured is None:
            return "not measured"
        if self.absolute and self.at_most:
            ok = measured < self.goal
        else:
            ok = measured <= self.goal if self.at_most else measured >= self.goal
        return "yes" if ok and not self.problem else "no"


def figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def table(rows: list[Row]) -> str:
    """A Markdown table: what, req/s, baseline, baseline req/s, ratio, goal, met; then
    what went wrong in any row."""
    head = ("what", "req/s", "baseline", "baseline req/s", "ratio", "goal", "met")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.goal is None:
            goal = "-"
        elif r.absolute:
            goal = f"{'<' if r.at_most else '≥'} {r.goal:g} {r.unit}"
        else:
            goal = f"{'≤' if r.at_most else '≥'} {r.goal:g}×"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}×"
        lines.append("| " + " | ".join((
            r.what, figure(r.value, r.unit), r.baseline_what, figure(r.baseline, r.unit),
            ratio, goal, r.met)) + " |")
    for r in rows:
        if r.problem:
            lines.append(f"\n{r.what}: {r.problem}")
    return "\n".join(lines)


def machine(load: Load | None, workers: int | None) -> str:
    """One line on the conditions: cores, wrk and its load, workers, the code measured."""
    parts = [f"{os.cpu_count()} CPU cores shared by wrk, the servers and this script"]
    if load is not None:
        parts.append(load.describe())
    if workers is not None:
        parts.append(f"{workers} uvicorn worker(s) for festival and the bare apps alike")
    parts.append(festival_origin())
    return "; ".join(parts)
