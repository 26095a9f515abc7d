"""Every setting, read once from command-line flags and the environment (flags win).

Each FESTIVAL_* variable is declared once, in VARIABLES: its Settings field, how its text
is read and checked, and a line of help. `Settings.from_env` checks every value at
start-up, so a bad one stops the process with a SettingsError that names the variable and
says what was expected, rather than failing later in the middle of a request."""

from __future__ import annotations

import email.utils
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

_PACKAGE = Path(__file__).resolve().parents[1]
# Where templates/, static/ and seed.json are: the top of the checkout, which an editable
# install runs from; a wheel carries the same files as festival/data/ (the package-dir
# mapping in pyproject.toml).
ROOT = _PACKAGE / "data" if (_PACKAGE / "data" / "templates").is_dir() else _PACKAGE.parent

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
MAX_CHANGEOVER_MINUTES = 24 * 60


class SettingsError(ValueError):
    """A setting whose value cannot be used; the message names the variable (or flag)
    and says what is expected, e.g. "FESTIVAL_CHANGEOVER_MINUTES: expected a whole number
    of minutes from 0 to 1440, got 'half an hour'"."""


@dataclass(frozen=True)
class Settings:
    db_path: str = "festival.db"  # a SQLite file, or a postgresql:// URL
    db_pool: int = 10  # PostgreSQL connections per process
    # An unset key gets a random one per process: sessions and CSRF tokens then do not
    # survive a restart or span workers, so production sets FESTIVAL_SECRET_KEY.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_from: str = "Global Migration Film Festival <festival@localhost>"
    mail_reply_to: str | None = None
    sqlite_synchronous: str = "FULL"
    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"
    seed_file: Path = ROOT / "seed.json"
    debug: bool = False
    # Lowered in tests only: argon2 at its defaults costs ~50 ms a hash.
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    changeover_minutes: int = 30  # a venue's minimum gap between two screenings
    start_mail_sender: bool = True
    rate_limits: bool = True  # per-client limits; off only for load tests from one machine
    # Comma-separated addresses or networks whose X-Forwarded-For names the client.
    trusted_proxies: str = ""
    retention_days: int = 90  # attendees' personal data kept after an edition ends

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Settings from `env` (default: os.environ) and keyword flags, which win. An
        empty value, or a flag of None, means unset. Every declared value is checked:
        SettingsError names the first bad one."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.name)
            if raw:
                values[var.field] = var.read(raw, var.name)
        declared = {var.field: var for var in VARIABLES}
        for name, value in flags.items():
            if value is None or value == "":
                continue
            var = declared.get(name)
            # A flag for a declared field goes through the same check, named as the flag.
            flag = FLAGS.get(name, name)
            values[name] = var.read(str(value), flag) if var else value
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """The FESTIVAL_* variables that make from_env() answer these settings (for
        worker processes); fields left unset (None) are left out."""
        return {var.name: str(value) for var in VARIABLES
                if (value := getattr(self, var.field)) is not None}


# --- the variables ----------------------------------------------------------------------

# The command-line flags that set a field, for messages about their values.
FLAGS = {"db_path": "--db", "base_url": "--base-url", "smtp_url": "--smtp-url"}

@dataclass(frozen=True)
class Variable:
    name: str                    # the environment variable
    field: str                   # the Settings field it sets
    parse: Callable[[str], Any]  # the value, or ValueError("expected ...")
    help: str
    default: str | None = None   # for the help table; None: the field's own default

    def read(self, raw: str, label: str) -> Any:
        try:
            return self.parse(raw)
        except ValueError as exc:
            shown = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", raw)  # no password in logs
            raise SettingsError(f"{label}: {exc}, got {shown!r}") from None

    def default_text(self) -> str:
        if self.default is not None:
            return self.default
        default = next(f.default for f in fields(Settings) if f.name == self.field)
        return "(unset)" if default is None or default is MISSING else str(default)


def _text(raw: str) -> str:
    if not raw.strip() or "\x00" in raw:
        raise ValueError("expected some text")
    return raw


def _split(url: str) -> SplitResult | None:
    """The URL's parts, or None when it cannot be split or its port is not a number."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return None
    return parts


def _http_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = _split(url)
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or parts.query or parts.fragment or any(c.isspace() for c in url)):
        raise ValueError("expected an http:// or https:// URL such as "
                         "'https://festival.example.org'")
    return url


def _smtp_url(raw: str) -> str:
    parts = _split(raw.strip())
    if (parts is None or parts.scheme.lower() not in ("smtp", "smtps", "smtp+starttls")
            or not parts.hostname):
        raise ValueError("expected an smtp://, smtps:// or smtp+starttls:// URL such as "
                         "'smtp://user:password@mail.example.org:587?starttls=1'")
    return raw.strip()


def _address(raw: str) -> str:
    address = email.utils.parseaddr(raw)[1]
    if "@" not in address or "\r" in raw or "\n" in raw:
        raise ValueError("expected a mail address such as "
                         "'Film Festival <festival@example.org>'")
    return raw.strip()


def _synchronous(raw: str) -> str:
    mode = raw.strip().upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"expected one of {', '.join(SYNCHRONOUS_MODES)}")
    return mode


def _minutes(raw: str) -> int:
    text = raw.strip()
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > MAX_CHANGEOVER_MINUTES:
        raise ValueError(f"expected a whole number of minutes from 0 to "
                         f"{MAX_CHANGEOVER_MINUTES}")
    return int(text)


def _switch(raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("on", "true", "yes", "1"):
        return True
    if word in ("off", "false", "no", "0"):
        return False
    raise ValueError("expected on or off")


def _networks(raw: str) -> str:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        for part in parts:
            ipaddress.ip_network(part, strict=False)
    except ValueError:
        raise ValueError("expected comma-separated addresses or networks such as "
                         "'127.0.0.1,10.0.0.0/8'") from None
    return ",".join(parts)


def _database(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("expected a file path or a postgresql://user@host:port/name URL")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise ValueError("expected a postgresql://user@host:port/name URL")
    return text


def _pool(raw: str) -> int:
    text = raw.strip()
    if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= 200:
        raise ValueError("expected a whole number of connections from 1 to 200")
    return int(text)


def _days(raw: str) -> int:
    text = raw.strip()
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) > 3650:
        raise ValueError("expected a whole number of days from 0 to 3650")
    return int(text)


VARIABLES: tuple[Variable, ...] = (
    Variable("FESTIVAL_DB", "db_path", _database,
             "the database: an SQLite file, or postgresql://user[:password]@host[:port]/name "
             "for PostgreSQL (several app servers)"),
    Variable("FESTIVAL_DB_POOL", "db_pool", _pool,
             "PostgreSQL connections each process keeps open (workers × hosts × this must "
             "stay under the server's max_connections)"),
    Variable("FESTIVAL_SECRET_KEY", "secret_key", _text,
             "signs the forms' CSRF tokens; set it, the same on every worker, or open "
             "forms fail after a restart",
             default="(random, per process)"),
    Variable("FESTIVAL_BASE_URL", "base_url", _http_url,
             "the public address, for absolute links in mails and calendar feeds"),
    Variable("FESTIVAL_SMTP_URL", "smtp_url", _smtp_url,
             "where mail is sent: smtp://[user:password@]host[:port][?starttls=1], "
             "smtp+starttls://... or smtps://...; unset, mail stays in the outbox"),
    Variable("FESTIVAL_MAIL_FROM", "mail_from", _address, "the From: of every mail"),
    Variable("FESTIVAL_MAIL_REPLY_TO", "mail_reply_to", _address,
             "the Reply-To: of every mail"),
    Variable("FESTIVAL_SQLITE_SYNCHRONOUS", "sqlite_synchronous", _synchronous,
             "SQLite's synchronous pragma: " + ", ".join(SYNCHRONOUS_MODES)),
    Variable("FESTIVAL_CHANGEOVER_MINUTES", "changeover_minutes", _minutes,
             "a venue's minimum gap between two screenings, in minutes"),
    Variable("FESTIVAL_RATE_LIMITS", "rate_limits", _switch,
             "per-client limits on registrations, lost-ticket requests and sign-ins: on, "
             "or off for load tests from one machine", default="on"),
    Variable("FESTIVAL_TRUSTED_PROXIES", "trusted_proxies", _networks,
             "addresses or networks (comma-separated) of reverse proxies whose "
             "X-Forwarded-For names the client; by default none", default="(none)"),
    Variable("FESTIVAL_RETENTION_DAYS", "retention_days", _days,
             "days after an edition ends before attendees' personal data is erased"),
)


def help_rows() -> list[tuple[str, str, str]]:
    """(variable, default, help) for each environment variable, for a help table."""
    return [(var.name, var.default_text(), var.help) for var in VARIABLES]
