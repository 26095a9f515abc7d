"""Every setting, read once from command-line flags and the environment (flags win)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout: templates/, static/, seed.json


@dataclass(frozen=True)
class Settings:
    db_path: str = "festival.db"
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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **flags: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        mapping = {
            "FESTIVAL_DB": "db_path",
            "FESTIVAL_SECRET_KEY": "secret_key",
            "FESTIVAL_BASE_URL": "base_url",
            "FESTIVAL_SMTP_URL": "smtp_url",
            "FESTIVAL_MAIL_FROM": "mail_from",
            "FESTIVAL_MAIL_REPLY_TO": "mail_reply_to",
            "FESTIVAL_SQLITE_SYNCHRONOUS": "sqlite_synchronous",
        }
        for var, name in mapping.items():
            if env.get(var):
                values[name] = env[var]
        if env.get("FESTIVAL_CHANGEOVER_MINUTES"):
            values["changeover_minutes"] = int(env["FESTIVAL_CHANGEOVER_MINUTES"])
        values.update({k: v for k, v in flags.items() if v is not None})
        settings = cls(**values)
        if settings.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("FESTIVAL_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
        return replace(settings, base_url=settings.base_url.rstrip("/"),
                       sqlite_synchronous=settings.sqlite_synchronous.upper())
