"""A throw-away PostgreSQL server for the tests: Debian's `postgresql` package, initdb
into a temporary folder, started on a free port, stopped at the end of the session.

`FESTIVAL_TEST_POSTGRESQL=postgresql://user@host:port/db` uses a server you already run
instead (its user must be allowed to CREATE DATABASE). Without either, the PostgreSQL
half of the suite skips, saying why.

Each test gets its own database, created from a migrated template database
(`CREATE DATABASE … TEMPLATE …` copies files, far cheaper than migrating anew)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BINARIES = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14", "13")]
# Durability off: a test server's data is thrown away; these make it several times faster.
FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=300", "-c", "shared_buffers=64MB"]


def binaries() -> Path | None:
    for folder in BINARIES:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def why_not() -> str | None:
    """Why no PostgreSQL server can be had for the tests, or None."""
    if os.environ.get("FESTIVAL_TEST_POSTGRESQL"):
        return None
    if binaries() is None:
        return ("PostgreSQL is not installed (Debian: apt-get install postgresql), and "
                "FESTIVAL_TEST_POSTGRESQL names no server")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One PostgreSQL server; `url(name)` addresses a database on it."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.base = os.environ.get("FESTIVAL_TEST_POSTGRESQL", "")

    def start(self) -> Server:
        if self.base:
            return self
        bin_dir = binaries()
        assert bin_dir is not None, why_not()
        self.folder = Path(tempfile.mkdtemp(prefix="festival-pg-"))
        port = free_port()
        as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.folder, "postgres", "postgres")
            as_postgres = ["runuser", "-u", "postgres", "--"]
        data = self.folder / "data"
        subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "festival",
                        "--auth=trust", "-E", "UTF8", "--locale=C", "-N"],
                       check=True, capture_output=True)
        options = " ".join(["-p", str(port), "-k", str(self.folder),
                            "-c", "listen_addresses=127.0.0.1", *FAST])
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                        str(self.folder / "server.log"), "-w", "-t", "60", "start",
                        "-o", options], check=True, capture_output=True)
        self.base = f"postgresql://festival@127.0.0.1:{port}/postgres"
        self._pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        subprocess.run([*self._pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def url(self, database: str) -> str:
        parts = urlsplit(self.base)
        return urlunsplit(parts._replace(path="/" + database))

    def sql(self, statement: str) -> None:
        """Runs one statement on the server's maintenance database, outside a transaction
        (as CREATE/DROP DATABASE need), from a thread of its own (any caller's loop)."""
        import asyncpg

        from tests.helpers import run_sync

        async def run() -> None:
            conn = await asyncpg.connect(self.base)
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        run_sync(run())

    def create(self, template: str | None = None) -> str:
        """A new empty database (a copy of `template` if given); answers its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def server() -> Iterator[Server]:
    running = Server().start()
    try:
        yield running
    finally:
        running.stop()
