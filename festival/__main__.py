"""The `festival` command (also `python -m festival`): serve, init, load, demo, organiser.

Every command answers an exit status and never a traceback for bad input: a missing or
unreadable file, bad JSON, a refused programme or account are one or more plain lines on
standard error and status 1 (argparse's own usage errors are status 2)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from festival.core import logs
from festival.core.errors import FestivalError, ValidationError
from festival.core.settings import Settings, SettingsError, help_rows
from festival.core.store import DATABASE_ERRORS, Database, describe, fetch_value, is_postgresql
from festival.mail import sender
from festival.organisers import accounts
from festival.privacy import records
from festival.programme import demo
from festival.programme.loader import ImportSummary, import_programme
from festival.seats import registrations

PROGRESS_FROM = 1000  # screenings: smaller files import before anyone would look


class CommandError(Exception):
    """A message for the person at the terminal; the command exits with status 1."""


def environment_help() -> str:
    rows = help_rows()
    width = max(len(name) for name, _default, _text in rows)
    return "\n".join(["environment (a command-line flag wins):"] + [
        f"  {name:<{width}}  {text} (default: {default})" for name, default, text in rows])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="festival", description="Runs a film festival's programme: screenings, seats, "
        "calendar feeds, organisers, mail.", epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = "database file (default: $FESTIVAL_DB or ./festival.db)"
    base_url_help = ("the public address for links in mails and feeds (default: "
                     "$FESTIVAL_BASE_URL or http://127.0.0.1:8000)")

    serve = commands.add_parser("serve", help="run the web app under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes")
    serve.add_argument("--base-url", help="the public address for links in mails and feeds "
                       "(default: $FESTIVAL_BASE_URL or http://HOST:PORT)")

    init = commands.add_parser("init", help="create or migrate the schema (safe to repeat)")
    init.add_argument("--db", help=db_help)

    load = commands.add_parser("load", help="import a programme file (JSON)")
    load.add_argument("file", metavar="FILE.json")
    load.add_argument("--db", help=db_help)

    demo_cmd = commands.add_parser("demo", help="write a realistic demo edition")
    demo_cmd.add_argument("--db", help=db_help)
    demo_cmd.add_argument("--screenings", type=_positive, default=300)
    demo_cmd.add_argument("--seed", type=int, default=1)
    demo_cmd.add_argument("--replace", action="store_true",
                          help="remove the screenings of an earlier demo of the same edition "
                          "that this one does not hold")

    organiser = commands.add_parser("organiser", help="manage organiser accounts")
    organiser_commands = organiser.add_subparsers(dest="action", required=True,
                                                  metavar="ACTION")
    add = organiser_commands.add_parser(
        "add", help="create an account; the password is read from standard input")
    add.add_argument("email")
    add.add_argument("--role", choices=accounts.ROLES, default="organiser")
    add.add_argument("--country", help="2-letter code; required for the organiser role")
    add.add_argument("--name", default="")
    add.add_argument("--db", help=db_help)
    listing = organiser_commands.add_parser("list", help="list every account")
    listing.add_argument("--db", help=db_help)
    for action, text in (
            ("disable", "stop an account signing in; its sessions end at once"),
            ("enable", "let a disabled account sign in again"),
            ("password", "set an account's password, read from standard input; its "
                         "sessions end"),
            ("unlock", "lift every client's lock on an account after failed sign-ins")):
        change = organiser_commands.add_parser(action, help=text)
        change.add_argument("email")
        change.add_argument("--db", help=db_help)
    invite = organiser_commands.add_parser(
        "invite", help="print a one-time link (72 hours) that creates the account when "
                       "its password is chosen; nothing is mailed")
    invite.add_argument("email")
    invite.add_argument("--role", choices=accounts.ROLES, default="organiser")
    invite.add_argument("--country", help="2-letter code; required for the organiser role")
    invite.add_argument("--db", help=db_help)
    invite.add_argument("--base-url", help=base_url_help)
    reset_2fa = organiser_commands.add_parser(
        "reset-2fa", help="turn off an account's two-step sign-in (a lost phone)")
    reset_2fa.add_argument("email")
    reset_2fa.add_argument("--db", help=db_help)

    privacy_cmd = commands.add_parser("privacy", help="attendees' personal data")
    privacy_commands = privacy_cmd.add_subparsers(dest="action", required=True,
                                                  metavar="ACTION")
    export = privacy_commands.add_parser(
        "export", help="print, as JSON, everything held about one address")
    export.add_argument("email")
    export.add_argument("--db", help=db_help)
    forget = privacy_commands.add_parser(
        "forget", help="erase one person: upcoming registrations cancelled, name and "
        "address gone from every table, message and audit entry, and from the file")
    forget.add_argument("email")
    forget.add_argument("--organiser", action="store_true",
                        help="also disable and erase an organiser account of that address")
    forget.add_argument("--db", help=db_help)
    purge = privacy_commands.add_parser(
        "purge", help="erase attendees' personal data of editions that ended more than "
        "$FESTIVAL_RETENTION_DAYS days ago (or of one edition, at once)")
    purge.add_argument("--edition", metavar="KEY")
    purge.add_argument("--db", help=db_help)

    edition_cmd = commands.add_parser("edition", help="an edition's registration rules")
    edition_commands = edition_cmd.add_subparsers(dest="action", required=True,
                                                  metavar="ACTION")
    confirm = edition_commands.add_parser(
        "confirm-email", help="hold new registrations' seats until the attendee confirms "
        "the address (on), or confirm at once (off)")
    confirm.add_argument("key", metavar="KEY")
    confirm.add_argument("switch", choices=("on", "off"))
    confirm.add_argument("--hold-minutes", type=_positive, default=30,
                         help="how long an unconfirmed hold keeps its seats (5 to 1440)")
    confirm.add_argument("--db", help=db_help)

    mail_cmd = commands.add_parser("mail", help="the mail outbox")
    mail_commands = mail_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = mail_commands.add_parser(
        "send", help="deliver every message that is due through $FESTIVAL_SMTP_URL, then exit")
    send.add_argument("--db", help=db_help)
    send.add_argument("--smtp-url", help="overrides $FESTIVAL_SMTP_URL")
    send.add_argument("--base-url", help=base_url_help)

    copy_cmd = commands.add_parser(
        "copy", help="copy a whole database into a new, empty one (e.g. SQLite to PostgreSQL)",
        description="Copies everything in one festival database into another, empty one: "
        "an SQLite file (festival.db) or a PostgreSQL URL (postgresql://user@host/db), in "
        "any direction. Both are opened as every command opens them, which creates or "
        "migrates their schema first: a source at an older version is migrated too. "
        "Refused, with nothing copied, when both are the same database, when their schema "
        "versions differ, or when the target holds any data. The copy is one transaction "
        "on the target: if anything fails, the target is left empty. Apart from bringing its "
        "schema up to date, the source is only read; stop the app while copying, so that "
        "nothing written meanwhile is left behind.")
    copy_cmd.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                          help="the database to copy: a file or a postgresql:// URL")
    copy_cmd.add_argument("--to", dest="target", required=True, metavar="TARGET",
                          help="the new, empty database: a file or a postgresql:// URL")
    copy_cmd.add_argument("--quiet", action="store_true",
                          help="print nothing on success (by default: rows per table)")
    copy_cmd.set_defaults(db=None)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    logs.install()  # every command's logs (mail send, organiser ...) mask tokens and addresses
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return int(exc.code or 0)
    try:
        settings = Settings.from_env(db_path=args.db,
                                     smtp_url=getattr(args, "smtp_url", None),
                                     base_url=getattr(args, "base_url", None))
    except SettingsError as exc:  # a malformed FESTIVAL_* variable, named in the message
        print(f"festival: {exc}", file=sys.stderr)
        return 1
    try:
        return COMMANDS[args.command](args, settings)
    except CommandError as exc:
        print(f"festival: {exc}", file=sys.stderr)
    except ValidationError as exc:
        _print_fields(exc, sys.stderr)
    except FestivalError as exc:
        print(f"festival: {exc.message}", file=sys.stderr)
    except (*DATABASE_ERRORS, OSError) as exc:
        print(f"festival: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("festival: interrupted", file=sys.stderr)
    return 1


def _print_fields(exc: ValidationError, out: TextIO) -> None:
    for path, message in exc.fields.items():
        print(f"{path}: {message}", file=out)
    if exc.message != ValidationError.message:  # the generic text is for web forms
        print(f"festival: {exc.message}", file=out)


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Opens (and migrates) the database, runs `work`, closes it whatever happens."""
    try:
        db = await Database(settings.db_path, synchronous=settings.sqlite_synchronous,
                            pool_size=settings.db_pool).open()
    except (*DATABASE_ERRORS, OSError) as exc:
        raise CommandError(f"cannot open the database {describe(settings.db_path)}: {exc}"
                           ) from exc
    try:
        return await work(db)
    finally:
        await db.close()


# --- commands -----------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        return await db.schema_version()

    version = asyncio.run(_with_db(settings, work))
    print(f"{describe(settings.db_path)}: schema version {version}, ready")
    return 0


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    data = read_programme(args.file)
    count = len(data.get("screenings") or []) if isinstance(data, dict) else 0
    progress = _progress_printer() if count >= PROGRESS_FROM else None
    summary = asyncio.run(_with_db(settings, lambda db: import_programme(
        db, data, progress=progress)))
    print(summary)
    return 0


def read_programme(path: str) -> Any:
    """The file's JSON; CommandError with a plain reason when it cannot be read."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot be read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}") from None


def _progress_printer() -> Callable[[int, int], None]:
    # At a terminal the line is redrawn in place; in a log it is one line per step.
    redraw = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        end = "\n" if done == total or not redraw else ""
        start = "\r" if redraw else ""
        print(f"{start}importing screenings: {done}/{total}", end=end, file=sys.stderr,
              flush=True)
    return report


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    data = demo.generate(screenings=args.screenings, seed=args.seed)
    progress = _progress_printer() if args.screenings >= PROGRESS_FROM else None
    edition = data["edition"]

    async def work(db: Database) -> tuple[ImportSummary, int, int]:
        earlier = await demo.earlier_screenings(db, data)
        removed = 0
        if earlier["screenings"] and not args.replace:
            raise CommandError(
                f"edition {edition['key']} already holds {earlier['screenings']} "
                f"screening{'s' if earlier['screenings'] != 1 else ''} that this demo does "
                "not; add --replace to remove them (or use another --db)")
        if earlier["screenings"]:
            removed = await demo.remove_earlier_screenings(db, data)
            if removed < 0:
                raise CommandError(
                    f"edition {edition['key']}: {earlier['registered']} of its earlier "
                    "screenings have registrations, so they are not removed; use another "
                    "--db for a smaller demo")
        summary = await import_programme(db, data, progress=progress)
        async with db.reader() as conn:
            total = await fetch_value(conn, "SELECT COUNT(*) FROM screenings s JOIN editions e"
                                      " ON e.id = s.edition_id WHERE e.key = ?",
                                      (edition["key"],))
        return summary, removed, int(total)

    summary, removed, total = asyncio.run(_with_db(settings, work))
    cities = len({v["city"] for v in data["venues"]})
    print(summary)
    if removed:
        print(f"Removed {removed} screening{'s' if removed != 1 else ''} of the earlier demo")
    print(f"Demo: {edition['name']}, {total} screening{'s' if total != 1 else ''} in "
          f"{cities} cities, {edition['starts_on']} to {edition['ends_on']}")
    return 0


def cmd_organiser(args: argparse.Namespace, settings: Settings) -> int:
    if args.action != "add":
        return ORGANISER_ACTIONS[args.action](args, settings)
    password = read_password(sys.stdin)
    organiser_id = asyncio.run(_with_db(settings, lambda db: accounts.create_organiser(
        db, args.email, password, args.role, args.country, name=args.name,
        settings=settings)))
    where = f" for {args.country.upper()}" if args.country else ""
    print(f"Organiser {organiser_id} created: {args.email.strip().lower()} ({args.role}{where})")
    return 0


def cmd_organiser_list(args: argparse.Namespace, settings: Settings) -> int:
    for account in asyncio.run(_with_db(settings, accounts.list_organisers)):
        print(accounts.describe(account))
    return 0


def cmd_organiser_disabled(args: argparse.Namespace, settings: Settings) -> int:
    disabled = args.action == "disable"
    account = asyncio.run(_with_db(settings, lambda db: accounts.set_disabled(
        db, args.email, disabled)))
    print(f"Organiser {account['email']} disabled; their sessions have ended" if disabled
          else f"Organiser {account['email']} enabled")
    return 0


def cmd_organiser_password(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password(sys.stdin)
    account = asyncio.run(_with_db(settings, lambda db: accounts.set_password(
        db, args.email, password, settings)))
    print(f"Password set for {account['email']}; their sessions have ended")
    return 0


def cmd_organiser_unlock(args: argparse.Namespace, settings: Settings) -> int:
    locked = asyncio.run(_with_db(settings, lambda db: accounts.unlock(db, args.email)))
    print(f"Organiser {args.email.strip().lower()} unlocked ({locked} client(s) were "
          "locked out)")
    return 0


def cmd_organiser_invite(args: argparse.Namespace, settings: Settings) -> int:
    from festival.organisers import invites
    invite, link = asyncio.run(_with_db(settings, lambda db: invites.create_invite(
        db, args.email, args.role, args.country, settings=settings, mail=False)))
    print(f"Invitation for {invite['email']} ({invite['role']}"
          f"{' for ' + invite['country'] if invite['country'] else ''}), "
          f"good once until {invite['expires_at']}:")
    print(link)
    return 0


def cmd_organiser_reset_2fa(args: argparse.Namespace, settings: Settings) -> int:
    from festival.organisers import totp
    account = asyncio.run(_with_db(settings, lambda db: totp.reset(db, args.email)))
    print(f"Two-step sign-in is off for {account['email']}")
    return 0


ORGANISER_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "list": cmd_organiser_list, "disable": cmd_organiser_disabled,
    "enable": cmd_organiser_disabled, "password": cmd_organiser_password,
    "unlock": cmd_organiser_unlock, "invite": cmd_organiser_invite,
    "reset-2fa": cmd_organiser_reset_2fa,
}


def cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "export":
        data = asyncio.run(_with_db(settings, lambda db: records.export_person(db, args.email)))
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    if args.action == "forget":
        counts = asyncio.run(_with_db(settings, lambda db: records.forget_person(
            db, args.email, organiser=args.organiser)))
    else:
        counts = asyncio.run(_with_db(settings, lambda db: records.purge(
            db, retention_days=settings.retention_days, edition_key=args.edition)))
    print(counts.summary())
    return 0


def cmd_edition(args: argparse.Namespace, settings: Settings) -> int:
    state = asyncio.run(_with_db(settings, lambda db: registrations.set_email_confirmation(
        db, args.key, required=args.switch == "on", hold_minutes=args.hold_minutes)))
    if state["confirm_email"]:
        print(f"Edition {state['edition']}: new registrations hold their seats for "
              f"{state['hold_minutes']} minutes until the attendee confirms the address")
    else:
        print(f"Edition {state['edition']}: registrations are confirmed at once")
    return 0


def cmd_mail(args: argparse.Namespace, settings: Settings) -> int:
    try:
        sent = asyncio.run(sender.send_all_once(settings))
    except sender.MailNotConfigured as exc:
        raise CommandError(str(exc)) from exc
    print(f"{sent} message{'s' if sent != 1 else ''} sent")
    return 0


def cmd_copy(args: argparse.Namespace, settings: Settings) -> int:
    from festival.core.store import copying
    try:
        summary = asyncio.run(copying.copy_database(args.source, args.target))
    except copying.CopyRefused as exc:
        raise CommandError(str(exc)) from exc
    if not args.quiet:
        print("\n".join(summary.lines()))
    return 0


def read_password(stdin: TextIO) -> str:
    """One line from standard input (a pipe), or a hidden prompt at a terminal."""
    at_terminal = stdin.isatty()
    password = getpass.getpass("Password: ") if at_terminal else stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password given on standard input")
    return password


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if not args.base_url and not os.environ.get("FESTIVAL_BASE_URL"):
        settings = replace(settings, base_url=local_url(args.host, args.port))
    summary = asyncio.run(prepare(settings))
    if summary is not None:
        print(f"Empty database: loaded {settings.seed_file} ({summary})", file=sys.stderr)
    if args.workers > 1:
        # Workers are separate processes that build the app from the environment; they
        # must share one secret key, or sessions would break between them.
        os.environ.update(settings_environment(settings))
        uvicorn.run("festival.web.app:app_from_env", factory=True, workers=args.workers,
                    host=args.host, port=args.port, proxy_headers=False)
    else:
        from festival.web.app import create_app

        # The app alone decides who the client is (FESTIVAL_TRUSTED_PROXIES).
        uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=False)
    return 0


def local_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server, for absolute links."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def prepare(settings: Settings) -> ImportSummary | None:
    """Creates or migrates the schema; on a database without any edition, loads the seed
    file. Answers the seed's import summary, or None when nothing was loaded."""
    async def work(db: Database) -> ImportSummary | None:
        async with db.reader() as conn:
            has_edition = await fetch_value(conn, "SELECT 1 FROM editions LIMIT 1")
        if has_edition or not settings.seed_file.exists():
            return None
        return await import_programme(db, read_programme(str(settings.seed_file)))

    return await _with_db(settings, work)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes Settings.from_env() in a worker equal `settings`."""
    location = settings.db_path
    if not is_postgresql(location):
        location = str(Path(location).resolve())
    return {**settings.environment(), "FESTIVAL_DB": location}


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": cmd_serve, "init": cmd_init, "load": cmd_load, "demo": cmd_demo,
    "organiser": cmd_organiser, "mail": cmd_mail, "privacy": cmd_privacy,
    "edition": cmd_edition, "copy": cmd_copy,
}


if __name__ == "__main__":
    sys.exit(main())
