"""Settings.from_env: every FESTIVAL_* variable is typed and checked once, and a bad value
is one SettingsError that names the variable and says what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from festival.core.settings import ROOT, VARIABLES, Settings, SettingsError, help_rows

BAD_VALUES = [
    ("FESTIVAL_CHANGEOVER_MINUTES", "half an hour", "whole number of minutes"),
    ("FESTIVAL_CHANGEOVER_MINUTES", "-5", "whole number of minutes"),
    ("FESTIVAL_CHANGEOVER_MINUTES", "2.5", "whole number of minutes"),
    ("FESTIVAL_CHANGEOVER_MINUTES", "100000", "from 0 to 1440"),
    ("FESTIVAL_BASE_URL", "festival.example.org", "http:// or https:// URL"),
    ("FESTIVAL_BASE_URL", "ftp://festival.example.org", "http:// or https:// URL"),
    ("FESTIVAL_BASE_URL", "https://", "http:// or https:// URL"),
    ("FESTIVAL_BASE_URL", "https://festival.example.org:port", "http:// or https:// URL"),
    ("FESTIVAL_BASE_URL", "https://festival.example.org/?lang=fr", "http:// or https:// URL"),
    ("FESTIVAL_SMTP_URL", "mail.example.org:25", "smtp://"),
    ("FESTIVAL_SMTP_URL", "http://mail.example.org", "smtp://"),
    ("FESTIVAL_SMTP_URL", "smtp://:25", "smtp://"),
    ("FESTIVAL_SQLITE_SYNCHRONOUS", "fast", "OFF, NORMAL, FULL, EXTRA"),
    ("FESTIVAL_MAIL_FROM", "the festival", "mail address"),
    ("FESTIVAL_MAIL_REPLY_TO", "nobody", "mail address"),
    ("FESTIVAL_DB", "   ", "file path or a postgresql://"),
    ("FESTIVAL_DB", "mysql://db.example.org/festival", "postgresql://user@host"),
    ("FESTIVAL_DB", "postgresql://db.example.org", "postgresql://user@host"),
    ("FESTIVAL_DB_POOL", "0", "from 1 to 200"),
    ("FESTIVAL_DB_POOL", "many", "from 1 to 200"),
    ("FESTIVAL_SECRET_KEY", "   ", "some text"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_VALUES)
def test_a_bad_value_names_its_variable_and_what_is_expected(
        variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})

    message = str(caught.value)
    assert message.startswith(f"{variable}: expected ")
    assert expected in message
    assert message.endswith(f"got {value!r}")


def test_the_changeover_message_reads_as_a_sentence() -> None:
    with pytest.raises(SettingsError, match=r"^FESTIVAL_CHANGEOVER_MINUTES: expected a whole "
                       r"number of minutes from 0 to 1440, got 'half an hour'$"):
        Settings.from_env({"FESTIVAL_CHANGEOVER_MINUTES": "half an hour"})


def test_a_settings_error_is_a_value_error() -> None:
    # `festival` prints any ValueError from the settings as one line, without a traceback.
    assert issubclass(SettingsError, ValueError)


def test_a_bad_url_is_reported_without_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FESTIVAL_SMTP_URL": "smpt://mailer:hunter2@mail.example.org"})

    assert "hunter2" not in str(caught.value)
    assert "smpt://mailer:***@mail.example.org" in str(caught.value)


def test_good_values_parse() -> None:
    settings = Settings.from_env({
        "FESTIVAL_DB": "/var/lib/festival/festival.db",
        "FESTIVAL_SECRET_KEY": "s3cret-key-for-the-test",
        "FESTIVAL_BASE_URL": "https://festival.example.org/2026/",
        "FESTIVAL_SMTP_URL": "smtps://mailer:p%40ss@mail.example.org:465",
        "FESTIVAL_MAIL_FROM": "Film Festival <festival@example.org>",
        "FESTIVAL_MAIL_REPLY_TO": "programme@example.org",
        "FESTIVAL_SQLITE_SYNCHRONOUS": "normal",
        "FESTIVAL_CHANGEOVER_MINUTES": " 45 ",
    })

    assert settings.db_path == "/var/lib/festival/festival.db"
    assert settings.secret_key == "s3cret-key-for-the-test"
    assert settings.base_url == "https://festival.example.org/2026"  # no trailing slash
    assert settings.smtp_url == "smtps://mailer:p%40ss@mail.example.org:465"
    assert settings.mail_from == "Film Festival <festival@example.org>"
    assert settings.mail_reply_to == "programme@example.org"
    assert settings.sqlite_synchronous == "NORMAL"
    assert settings.changeover_minutes == 45


@pytest.mark.parametrize("url", ["smtp://127.0.0.1:1025", "smtp+starttls://mail.example.org",
                                 "smtp://mail.example.org?starttls=1", "SMTPS://mail.example.org"])
def test_every_smtp_url_the_sender_understands_is_accepted(url: str) -> None:
    assert Settings.from_env({"FESTIVAL_SMTP_URL": url}).smtp_url == url


@pytest.mark.parametrize("minutes", ["0", "1440"])
def test_changeover_bounds_are_accepted(minutes: str) -> None:
    assert Settings.from_env({"FESTIVAL_CHANGEOVER_MINUTES": minutes}).changeover_minutes == int(
        minutes)


def test_empty_values_mean_unset_and_defaults_stay() -> None:
    settings = Settings.from_env({var.name: "" for var in VARIABLES})
    default = Settings()

    assert settings.db_path == default.db_path == "festival.db"
    assert settings.base_url == default.base_url == "http://127.0.0.1:8000"
    assert settings.smtp_url is None and settings.mail_reply_to is None
    assert settings.mail_from == default.mail_from
    assert settings.sqlite_synchronous == "FULL"
    assert settings.changeover_minutes == 30
    assert len(settings.secret_key) >= 32  # a random key of its own


def test_unknown_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/usr/bin", "FESTIVAL_UNHEARD_OF": "x"}).db_path == (
        "festival.db")


def test_flags_win_over_the_environment() -> None:
    env = {"FESTIVAL_DB": "from-env.db", "FESTIVAL_CHANGEOVER_MINUTES": "10",
           "FESTIVAL_SMTP_URL": "smtp://env.example.org"}

    settings = Settings.from_env(env, db_path="from-flag.db", changeover_minutes=15,
                                 smtp_url=None, start_mail_sender=False)

    assert settings.db_path == "from-flag.db"
    assert settings.changeover_minutes == 15
    assert settings.smtp_url == "smtp://env.example.org"  # a flag of None is unset
    assert settings.start_mail_sender is False  # a flag for a field with no variable


def test_flags_are_checked_and_named_too() -> None:
    with pytest.raises(SettingsError, match=r"^changeover_minutes: expected a whole number"):
        Settings.from_env({}, changeover_minutes=-1)
    with pytest.raises(SettingsError, match=r"^sqlite_synchronous: expected one of"):
        Settings.from_env({}, sqlite_synchronous="sometimes")

    normalised = Settings.from_env({}, base_url="http://localhost:8000/",
                                   sqlite_synchronous="extra")
    assert normalised.base_url == "http://localhost:8000"
    assert normalised.sqlite_synchronous == "EXTRA"


def test_only_the_environment_given_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FESTIVAL_CHANGEOVER_MINUTES", "half an hour")

    assert Settings.from_env({}).changeover_minutes == 30
    with pytest.raises(SettingsError, match="FESTIVAL_CHANGEOVER_MINUTES"):
        Settings.from_env()


def test_the_environment_of_some_settings_gives_them_back() -> None:
    settings = Settings.from_env({}, db_path="w.db", smtp_url="smtp://127.0.0.1:1025",
                                 changeover_minutes=15, base_url="https://example.org")

    assert Settings.from_env(settings.environment()) == settings
    assert "FESTIVAL_MAIL_REPLY_TO" not in settings.environment()  # unset stays unset


def test_help_rows_list_every_variable_once() -> None:
    rows = help_rows()

    names = [name for name, _, _ in rows]
    assert names == [var.name for var in VARIABLES]
    assert len(set(names)) == len(names)
    assert all(name.startswith("FESTIVAL_") and help_text for name, _, help_text in rows)
    defaults = {name: default for name, default, _ in rows}
    assert defaults["FESTIVAL_CHANGEOVER_MINUTES"] == "30"
    assert defaults["FESTIVAL_SQLITE_SYNCHRONOUS"] == "FULL"
    assert defaults["FESTIVAL_SMTP_URL"] == "(unset)"
    assert "random" in defaults["FESTIVAL_SECRET_KEY"]


def test_every_variable_sets_a_settings_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert all(var.field in fields for var in VARIABLES)


def test_the_app_files_are_found() -> None:
    settings = Settings()

    assert (settings.templates_dir / "base.html").is_file()
    assert (settings.static_dir / "css" / "site.css").is_file()
    assert settings.seed_file.is_file()
    assert settings.templates_dir.parent == settings.static_dir.parent == ROOT
    assert isinstance(settings.templates_dir, Path)


def test_the_command_names_a_bad_variable_and_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from festival.__main__ import main

    monkeypatch.setenv("FESTIVAL_CHANGEOVER_MINUTES", "half an hour")
    assert main(["init", "--db", str(tmp_path / "x.db")]) == 1
    error = capsys.readouterr().err
    assert "FESTIVAL_CHANGEOVER_MINUTES" in error and "'half an hour'" in error
    assert not (tmp_path / "x.db").exists()
