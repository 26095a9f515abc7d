"""What the tests (and the benchmarks) share, besides fixtures: one copy of each helper
that test modules used to write for themselves or borrow from each other.

Fixtures stay in tests/conftest.py; this module holds plain functions and classes, so a
test module imports what it uses (`from tests.helpers import csrf_of`) and no test module
imports from another.

Sections: settings and databases (including the migrated template each test copies),
the app's page templates (compiled once per session), rows, registrations, forms and
signing in, mail, calendars, and real servers in child processes (`ServerProcess`,
`serve_festival`).

The server launcher lives here, not in bench/, because the tests are its main users
(the race test, the browser harness) and `tests` is already an importable package
wherever pytest runs; bench/ is a folder of scripts run by path
(`python bench/bench_x.py`), and bench/common.py already puts the checkout on sys.path,
so the benchmarks import `tests.helpers` as they import `festival`. Importing this
module needs neither pytest nor the test-only packages (aiosmtpd, vobject): those are
imported where they are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import errno
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

import httpx
import icalendar
import jinja2

from festival.core.settings import Settings
from festival.core.store import Database

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope

ROOT = Path(__file__).resolve().parents[1]  # the checkout
SAMPLE = Path(__file__).parent / "data" / "sample_programme.json"
BASE_URL = "https://festival.example.org"
ORGANISER_EMAIL = "festival@example.org"  # the feeds' ORGANIZER in calendar tests
PASSWORD = "organiser-password-1"  # of organisers made by the sign_in fixture
SECRET_KEY = "test-secret-key-not-for-production"

Client = httpx.AsyncClient
SignIn = Callable[..., Awaitable[httpx.AsyncClient]]
T = TypeVar("T")


# --- settings and databases ----------------------------------------------------------------

def fast_settings(**values: Any) -> Settings:
    """Settings for tests: cheap password hashing, SQLite at synchronous=NORMAL, no mail
    sender in the background; `values` override (db_path, base_url, ...)."""
    defaults: dict[str, Any] = {
        "secret_key": SECRET_KEY, "sqlite_synchronous": "NORMAL", "argon2_time_cost": 1,
        "argon2_memory_cost": 8, "start_mail_sender": False}
    return Settings(**{**defaults, **values})


def database_of(target: Any) -> Database:
    """The Database of `target`: an app (its state.db) or a Database itself."""
    state = getattr(target, "state", None)
    return state.db if state is not None else target  # type: ignore[no-any-return]


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to the end on a thread of its own and answers its result: pytest-
    asyncio may have a loop running on this thread, where asyncio.run is refused."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="festival-test-sync")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


async def table_names(db: Database) -> list[str]:
    """The festival's tables, on either engine (the search's own tables left out)."""
    if db.dialect == "postgresql":
        sql = ("SELECT table_name FROM information_schema.tables WHERE table_schema = "
               "'public' AND table_type = 'BASE TABLE' AND table_name != 'festival_schema'")
    else:
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table' "
               "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'screening_search%'")
    return sorted(r[0] for r in await db.fetch_all(sql) if r[0] != "screening_search")


async def prepare_database(path: str | Path, programme: dict[str, Any] | None = None) -> None:
    """Creates (or migrates) the database at `path`, loads `programme` if given, and
    checkpoints it: afterwards the whole database is in the main file (no -wal, no -shm
    left beside it), which is then safe to copy byte for byte."""
    from festival.programme.loader import import_programme

    db = await Database(str(path), synchronous="NORMAL").open()
    try:
        if programme is not None:
            await import_programme(db, programme)
    finally:
        await db.close()
    # Closing the last connection checkpoints a WAL database and removes its -wal and
    # -shm files; this one, on its own, makes sure of it.
    conn = sqlite3.connect(path)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, f"{path}: the checkpoint could not finish"
    finally:
        conn.close()


def build_template(path: Path, programme: dict[str, Any] | None = None,
                   *, start_from: Path | None = None) -> Path:
    """A template database at `path`: migrated (a copy of `start_from` if given) and
    holding `programme` if given; checked to be a whole WAL-mode database on its own."""
    if start_from is not None:
        copy_database(start_from, path)
    run_sync(prepare_database(path, programme))
    check_database_file(path)
    return path


def copy_database(template: Path, destination: str | Path) -> None:
    """A byte copy of a checkpointed template (see `build_template`)."""
    shutil.copyfile(template, destination)


def check_database_file(path: Path) -> None:
    """Asserts that `path` is a database that can be copied alone: nothing waits in a
    -wal file, the header says WAL, and a copy opens in WAL mode, whole, at the schema
    version of the newest migration."""
    from festival.core.store import migration_files

    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal} still holds pages"
    header = path.read_bytes()[:100]
    assert header[:16] == b"SQLite format 3\x00", f"{path} is not an SQLite database"
    assert header[18:20] == b"\x02\x02", f"{path} is not in WAL mode"
    with tempfile.TemporaryDirectory(prefix="festival-db-check-") as folder:
        probe = Path(folder) / "probe.db"
        copy_database(path, probe)
        conn = sqlite3.connect(probe)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            newest = max(version for version, _name, _sql in migration_files())
            assert conn.execute("PRAGMA user_version").fetchone()[0] == newest
        finally:
            conn.close()


# --- the app's page templates ------------------------------------------------------------

class SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled templates kept in memory for every Jinja environment that uses this
    cache (e.g. each test's app: `app.state.templates.bytecode_cache = cache`), so a
    template is compiled once per session instead of once per app. Keyed by the
    template's name, its source and everything the environment compiles it with
    (syntax, extensions, autoescape, the filters' and tests' pass_context & co.)."""

    def __init__(self) -> None:
        self.code: dict[str, Any] = {}

    def get_bucket(self, environment: jinja2.Environment, name: str, filename: str | None,
                   source: str) -> jinja2.bccache.Bucket:
        options = (environment.block_start_string, environment.block_end_string,
                   environment.variable_start_string, environment.variable_end_string,
                   environment.comment_start_string, environment.comment_end_string,
                   environment.line_statement_prefix, environment.line_comment_prefix,
                   environment.trim_blocks, environment.lstrip_blocks,
                   environment.newline_sequence, environment.keep_trailing_newline,
                   environment.optimized, environment.is_async,
                   tuple(sorted(environment.extensions)),
                   environment.policies.get("ext.i18n.trimmed"),
                   getattr(environment, "newstyle_gettext", None),
                   environment.autoescape(name) if callable(environment.autoescape)
                   else environment.autoescape,
                   # A filter's or test's pass_context & co. shape the call compiled for it.
                   sorted((n, str(getattr(f, "jinja_pass_arg", None)))
                          for n, f in environment.filters.items()),
                   sorted((n, str(getattr(f, "jinja_pass_arg", None)))
                          for n, f in environment.tests.items()),
                   getattr(environment.finalize, "__qualname__", environment.finalize))
        key = self.get_cache_key(f"{name}\x00{options!r}", filename)
        bucket = jinja2.bccache.Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        found = self.code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = (bucket.checksum, bucket.code)


# --- rows ------------------------------------------------------------------------------------

async def screening_id(target: Any, key: str = "hague") -> int:
    """The id of the screening with `key`; `target` is an app or a Database."""
    row = await database_of(target).fetch_one("SELECT id FROM screenings WHERE key = ?", (key,))
    assert row is not None, f"no screening {key!r}"
    return int(row["id"])


async def ids(target: Any, table: str = "screenings") -> dict[str, int]:
    """Ids by key in `table`, e.g. {'hague': 1, ...}; `target` is an app or a Database."""
    rows = await database_of(target).fetch_all(f"SELECT id, key FROM {table}")
    return {r["key"]: r["id"] for r in rows}


async def written(target: Any) -> tuple[int, int]:
    """(registrations, outbox messages) in the database."""
    db = database_of(target)
    registrations = await db.fetch_one("SELECT COUNT(*) AS n FROM registrations")
    outbox = await db.fetch_one("SELECT COUNT(*) AS n FROM outbox")
    assert registrations is not None and outbox is not None
    return registrations["n"], outbox["n"]


async def sql(target: Any, statement: str, params: Sequence[Any] = ()) -> None:
    """One statement in a write transaction."""
    async with database_of(target).transaction() as conn:
        await conn.execute(statement, params)


# --- registrations ------------------------------------------------------------------------------

async def register(target: Any, screening: str | int, name: str, email: str, seats: int = 1
                   ) -> dict[str, Any]:
    """A registration made as the site makes it (seats.registrations.register), for the
    screening with key `screening` (or that id); answers the registration."""
    from festival.seats import registrations

    db = database_of(target)
    sid = screening if isinstance(screening, int) else await screening_id(db, screening)
    registration, _created = await registrations.register(db, sid, name, email, seats)
    return registration


async def queue_registration(db: Database, *, key: str = "hague", name: str = "Ana Silva",
                             address: str = "ana@example.org", status: str = "confirmed",
                             seats: int = 2, kind: str | None = None) -> int:
    """A registration written straight into the table, with its mail queued (`kind`, by
    default named after the status), as the registration module would; answers its id."""
    from festival.core import times
    from festival.core.store import insert_returning_id
    from festival.mail import outbox

    now = times.now_text()
    sid = await screening_id(db, key)
    async with db.transaction() as conn:
        rid = await insert_returning_id(
            conn, """INSERT INTO registrations (screening_id, token, name, email, email_key,
                     seats, status, locale, created_at, confirmed_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'en', ?, ?, ?)""",
            (sid, secrets.token_urlsafe(12), name, address, address.lower(), seats,
             status, now, now if status == "confirmed" else None, now))
        await outbox.enqueue(conn, kind=kind or status, registration_id=rid)
    return rid


async def outbox_row(db: Database, rid: int, kind: str) -> dict[str, Any]:
    """The outbox message of `kind` for registration `rid`."""
    row = await db.fetch_one("SELECT * FROM outbox WHERE registration_id = ? AND kind = ?",
                             (rid, kind))
    assert row is not None
    return dict(row)


# --- forms and signing in ------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def post_form(c: httpx.AsyncClient, page_url: str, action: str | None = None,
                    **fields: Any) -> httpx.Response:
    """Opens the page (for its CSRF token) and posts its form to `action` (by default
    the page's own address)."""
    page = await c.get(page_url)
    assert page.status_code == 200, page.text
    return await c.post(action or page_url, data={"csrf_token": csrf_of(page.text), **fields})


async def submit_sign_in(c: httpx.AsyncClient, email: str, password: str = PASSWORD,
                         next_: str | None = None) -> httpx.Response:
    """Fills in and posts the sign-in form (with `next` only when given); answers the
    form's answer (303 on success)."""
    page = await c.get("/admin/login")
    data = {"csrf_token": csrf_of(page.text), "email": email, "password": password}
    if next_ is not None:
        data["next"] = next_
    return await c.post("/admin/login", data=data)


async def add_organiser(target: Any, email: str, password: str = PASSWORD,
                        role: str = "organiser", country: str | None = "NL", *,
                        settings: Settings | None = None) -> int:
    """An organiser account (hashed cheaply unless `settings` says otherwise); answers
    its id. `target` is an app or a Database."""
    from festival.organisers import accounts

    return await accounts.create_organiser(database_of(target), email, password, role, country,
                                           settings=settings or fast_settings())


def on_file(db_path: str | Path, work: Callable[[Database], Awaitable[T]]) -> T:
    """`work(db)` on a database file some server has open, from synchronous code (the
    browser tests arrange their data this way)."""
    async def run() -> T:
        db = await Database(str(db_path), synchronous="NORMAL").open()
        try:
            return await work(db)
        finally:
            await db.close()

    return run_sync(run())


def add_organiser_to_file(db_path: str | Path, email: str, password: str = PASSWORD,
                          role: str = "organiser", country: str | None = "NL") -> int:
    """`add_organiser` for a database file some server has open, from synchronous code."""
    return on_file(db_path, lambda db: add_organiser(db, email, password, role, country))


# --- mail --------------------------------------------------------------------------------------

class Inbox:
    """An aiosmtpd handler that keeps what it accepts. Scripted replies (e.g. '451 ...')
    answer the next RCPT or DATA commands instead of accepting."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.arrived = asyncio.Event()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        self.arrived.set()
        return "250 2.0.0 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=policy.default)  # type: ignore[misc]
                for e in self.envelopes]

    def one(self) -> EmailMessage:
        assert len(self.envelopes) == 1, f"expected one message, got {len(self.envelopes)}"
        return self.messages()[0]


async def smtp_server(make: Callable[[], SMTP], port: int, **kwargs: Any) -> asyncio.Server:
    """An SMTP server (from the aiosmtpd protocol factory `make`) on a loopback port,
    in the running event loop; `kwargs` go to create_server (e.g. ssl=)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(make, "127.0.0.1", port, **kwargs)


async def start_smtp(inbox: Inbox, port: int) -> asyncio.Server:
    """A plain SMTP server on loopback that delivers into `inbox`."""
    from aiosmtpd.smtp import SMTP

    return await smtp_server(lambda: SMTP(inbox, hostname="smtp.test"), port)


# --- languages -----------------------------------------------------------------------------------

def catalogue(code: str, messages: Mapping[Any, Any]) -> Any:
    """A babel Translations for language `code` made of `messages` ({msgid: text};
    plurals as {(singular, plural): (form, ...)}), to install in
    festival.core.i18n.CATALOGUES with monkeypatch: a test's translations do not
    depend on the shipped catalogues, which translators are still filling."""
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.support import Translations

    made = Catalog(locale=code)
    for msgid, text in messages.items():
        made.add(msgid, text)
    buffer = io.BytesIO()
    write_mo(buffer, made)
    buffer.seek(0)
    return Translations(buffer)


def translated_sample() -> dict[str, Any]:
    """The sample programme with some of its texts in French, Arabic and Spanish too:
    the originals (the "en" texts) are the sample's own, unchanged."""
    import json

    data = json.loads(SAMPLE.read_text("utf-8"))
    film = next(f for f in data["films"] if f["key"] == "wallah-je-te-jure")
    film["title"] = {"en": film["title"], "fr": "Wallah, je te le jure",
                     "ar": "والله، أقسم لك"}
    film["synopsis"] = {"en": film["synopsis"],
                        "fr": "Du Sénégal à la Libye puis vers l'Europe, des migrants en route."}
    guest = next(g for g in data["guests"] if g["key"] == "ana-reyes")
    guest["role"] = {"en": guest["role"], "fr": "Réalisatrice", "es": "Directora"}
    hague = next(s for s in data["screenings"] if s["key"] == "hague")
    hague["debate"]["title"] = {"en": hague["debate"]["title"],
                                "fr": "Changer le regard sur les migrants"}
    return data


# The English feeds of the sample programme, with fixed DTSTAMPs, as they were before
# the feeds spoke other languages: translations must never change an English feed's
# bytes (calendar apps would see every event as changed). Changing the feeds' format on
# purpose changes these; then update them, knowing every subscriber refetches.
ENGLISH_ETAGS = {"/feeds/festival.ics": '"40bab621dafa60e131c598c9d5a0d7e2"',
                 "/feeds/countries/NL.ics": '"f4e5b978d35bbbde464ef18c185c3508"',
                 "/screenings/{hague}.ics": '"2f08ff1f919b14be30e893cff462ee7b"'}


async def fixed_stamps(app: Any) -> None:
    """Every screening's CREATED and DTSTAMP fixed, so feeds can be compared over time."""
    await sql(app, "UPDATE screenings SET created_at = '2099-01-01T00:00:00Z', "
                   "updated_at = '2099-01-02T00:00:00Z'")


async def english_etags(app: Any, client: httpx.AsyncClient, query: str = "") -> dict[str, str]:
    """The ETags of the ENGLISH_ETAGS feeds as `client` gets them now."""
    hague = (await ids(app))["hague"]
    return {path: (await client.get(path.format(hague=hague) + query)).headers["etag"]
            for path in ENGLISH_ETAGS}


# --- calendars ---------------------------------------------------------------------------------

def icalendar_events(body: bytes) -> list[icalendar.Event]:
    """The VEVENTs of a calendar, as icalendar reads them."""
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def vobject_events(body: bytes) -> list[Any]:
    """The VEVENTs of a calendar, as vobject reads them."""
    import vobject

    return list(vobject.readOne(body.decode("utf-8")).vevent_list)


def events_by_uid(body: bytes) -> dict[str, icalendar.Event]:
    """The VEVENTs by UID; vobject must read as many."""
    found = {str(e["UID"]): e for e in icalendar_events(body)}
    assert len(vobject_events(body)) == len(found)
    return found


def feed_event(body: bytes, uid: str) -> icalendar.Event | None:
    """The VEVENT with `uid`, or None."""
    for event in icalendar_events(body):
        if str(event["UID"]) == uid:
            return event
    return None


async def feed_screenings(db: Database, edition_id: int, *, include_drafts: bool = False
                          ) -> list[dict[str, Any]]:
    """An edition's screenings as the feeds see them: each with its debate guests."""
    from festival.programme import queries

    screenings = await queries.list_screenings(db, edition_id, include_drafts=include_drafts)
    guests = await queries.guests_by_screening(db, [s["id"] for s in screenings])
    for s in screenings:
        s["guests"] = guests[s["id"]]
    return screenings


async def load_feed_screenings(db: Database, data: dict[str, Any], *,
                               include_drafts: bool = False) -> list[dict[str, Any]]:
    """Imports `data` with the app's own loader; answers `feed_screenings` of it."""
    from festival.programme.loader import import_programme

    summary = await import_programme(db, data)
    return await feed_screenings(db, summary.edition_id, include_drafts=include_drafts)


# --- real servers in child processes --------------------------------------------------------

class ServerFailed(RuntimeError):
    """A server process that exited or did not answer in time; the message holds its
    output."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def festival_command(*args: str, python: str = sys.executable) -> list[str]:
    """`festival ARGS...` as a command line (`python -m festival`, this interpreter)."""
    return [python, "-m", "festival", *args]


def festival_env(values: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for a `festival` child process: this one's, without any FESTIVAL_*
    variable of the person running the tests, with a fixed secret key (shared by all
    workers) and synchronous=NORMAL, then `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FESTIVAL_")}
    env.update({"FESTIVAL_SECRET_KEY": SECRET_KEY, "FESTIVAL_SQLITE_SYNCHRONOUS": "NORMAL"})
    env.update(values or {})
    return env


def run_festival(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
                 cwd: str | Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Runs `festival ARGS...` to the end (e.g. "load", file, "--db", path) in the
    `festival_env(env)`; a non-zero exit raises ServerFailed with its output."""
    done = subprocess.run(festival_command(*args), env=festival_env(env), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ServerFailed(f"festival {' '.join(args)} exited with {done.returncode}:\n"
                           f"{done.stdout}{done.stderr}")
    return done


class ServerProcess:
    """One HTTP server in a child process on a loopback port, as a context manager:

        with ServerProcess(lambda port: [..., "--port", str(port)], env=...) as server:
            httpx.get(server.url + "/")

    `command(port)` is the command line for a port; without `port`, a free one is picked
    (and another, up to three times, if someone else took it before the child bound it).
    Entering starts the process and waits until GET `health_path` answers 200 (or raises
    ServerFailed with the process's output, once it exited or `startup_seconds` passed);
    leaving stops it: SIGTERM and up to `stop_seconds` for a clean shutdown, then SIGKILL
    for the process and everything it started (it runs in a session of its own, so
    uvicorn's worker processes go too). Output goes to `log` if given, else to a
    temporary file; `output()` reads it."""

    def __init__(self, command: Callable[[int], Sequence[str]], *, port: int | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | Path | None = ROOT,
                 log: Path | None = None, health_path: str = "/healthz",
                 startup_seconds: float = 60, stop_seconds: float = 30) -> None:
        self.command = command
        self.fixed_port = port
        self.port = port or 0
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log = log
        self.health_path = health_path
        self.startup_seconds = startup_seconds
        self.stop_seconds = stop_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._final_output = ""  # kept from a temporary file when the process stopped

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        attempts = 1 if self.fixed_port else 3
        for attempt in range(attempts):
            self.port = self.fixed_port or free_port()
            self._spawn()
            try:
                self._wait_until_up()
                return self
            except ServerFailed:
                taken = self._port_was_taken()
                self.stop()
                if not taken or attempt == attempts - 1:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        # Appending (the child's writes always land at the end, however output() moves the
        # shared offset); closed by stop(), as the file outlives this call.
        if self.log:
            self.log.write_bytes(b"")
            self._output = self.log.open("a+b")  # noqa: SIM115
        else:
            self._output = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            list(self.command(self.port)), env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=self._output, stderr=subprocess.STDOUT, start_new_session=os.name == "posix")

    def _wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_seconds
        # trust_env=False: a proxy from the environment must not stand between us and
        # loopback.
        with httpx.Client(timeout=1, trust_env=False) as probe:
            while True:
                if self.process.poll() is not None:
                    raise ServerFailed(f"the server exited with {self.process.returncode}:\n"
                                       f"{self.output()}")
                with contextlib.suppress(httpx.HTTPError):
                    if probe.get(self.url + self.health_path).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ServerFailed(f"the server did not answer {self.health_path} within "
                                       f"{self.startup_seconds:.0f} s:\n{self.output()}")
                time.sleep(0.05)  # polling another process, not waiting on a test's work

    def _port_was_taken(self) -> bool:
        text = self.output().lower()
        return f"[errno {errno.EADDRINUSE}]" in text or "address already in use" in text

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        if self._output is None or self._output.closed:
            return self.log.read_text("utf-8", "replace") if self.log else self._final_output
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode("utf-8", "replace")

    def stop(self) -> int | None:
        """Stops the process (terminate, then kill); answers its exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self._kill_group(process)
                process.kill()
                process.wait(timeout=10)
        # Whatever it started and left behind (uvicorn's workers, after a kill or a crash).
        self._kill_group(process)
        if self._output is not None:
            try:
                self._final_output = self.output()
            finally:
                self._output.close()
        return process.returncode

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the session the process leads (its own: start_new_session), while
        any member is left; nothing else carries its group id."""
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve_festival(db_path: str | Path, *, workers: int = 1,
                   env: Mapping[str, str] | None = None, log: Path | None = None,
                   python: str = sys.executable, cwd: str | Path | None = ROOT,
                   **options: Any) -> ServerProcess:
    """`festival serve --workers N` on `db_path` on a free loopback port, not yet
    started: use it in a `with` block (or call start() and stop()). Its environment is
    `festival_env(env)`; `options` go to ServerProcess (startup_seconds, ...)."""
    def command(port: int) -> list[str]:
        return festival_command("serve", "--host", "127.0.0.1", "--port", str(port),
                                "--db", str(db_path), "--workers", str(workers), python=python)

    return ServerProcess(command, env=festival_env(env), log=log, cwd=cwd, **options)


def sign_in_page(page: Any, email: str, password: str) -> None:
    """Signs in through the form, as an organiser would, and waits for the home page."""
    import re

    page.goto("/admin/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/?$"))
