"""The `festival` command, called in-process: exit statuses and the messages a person at
the terminal reads (never a traceback for bad input)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from festival.__main__ import main, prepare, settings_environment
from festival.core.settings import Settings
from festival.organisers.accounts import verify_password
from tests.helpers import SAMPLE

SEED = Path(__file__).parent.parent / "seed.json"


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def rows(db_path: str, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql))


def write_json(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(data), "utf-8")
    return str(path)


def test_init_is_safe_to_run_twice(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--db", db_path]) == 0
    assert main(["init", "--db", db_path]) == 0

    assert "ready" in capsys.readouterr().out
    assert rows(db_path, "SELECT COUNT(*) FROM editions") == [(0,)]


def test_load_imports_and_summarises(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", str(SAMPLE), "--db", db_path]) == 0
    assert capsys.readouterr().out == ("2099: 5 venues, 2 films, 2 guests, 5 screenings added; "
                                       "0 updated; 0 unchanged\n")

    assert main(["load", str(SAMPLE), "--db", db_path]) == 0
    assert capsys.readouterr().out == ("2099: 0 added; 0 updated; "
                                       "5 venues, 2 films, 2 guests, 5 screenings unchanged\n")


def test_load_refuses_a_bad_file_whole(db_path: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(SAMPLE.read_text("utf-8"))
    data["screenings"][3]["starts_at"] = "2099-12-20T19:00"
    data["venues"][0]["capacity"] = "lots"

    status = main(["load", write_json(tmp_path, data), "--db", db_path])

    err = capsys.readouterr().err
    assert status == 1
    assert "venues[0].capacity: must be a whole number\n" in err
    assert "screenings[3].starts_at: not within the edition's dates (2099-12-05 to 2099-12-18)" \
        " at the venue\n" in err
    assert "nothing was imported" in err
    assert "Traceback" not in err
    assert rows(db_path, "SELECT COUNT(*) FROM venues") == [(0,)]


def test_load_explains_a_missing_file(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "/no/such/programme.json", "--db", db_path]) == 1

    assert capsys.readouterr().err == "festival: /no/such/programme.json: no such file\n"


def test_load_explains_bad_json(db_path: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"edition": {"key": "2099",}', "utf-8")

    assert main(["load", str(path), "--db", db_path]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"festival: {path}: not valid JSON: ")
    assert "line 1, column" in err


def test_load_explains_a_file_that_is_not_a_programme(
        db_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", write_json(tmp_path, ["not", "a", "programme"]), "--db", db_path]) == 1

    assert capsys.readouterr().err.startswith("file: must be a JSON object")


def test_seed_file_loads(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", str(SEED), "--db", db_path]) == 0

    assert capsys.readouterr().out.startswith("2016: 1 venue, 1 film, 3 guests, 1 screening")
    assert rows(db_path, "SELECT key, starts_at, timezone FROM screenings") == [
        ("the-hague-2016-12-13", "2016-12-13T18:00:00Z", "Europe/Amsterdam")]


def test_demo_writes_an_edition(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--screenings", "40", "--seed", "4", "--db", db_path]) == 0

    assert "40 screenings added" in capsys.readouterr().out
    assert rows(db_path, "SELECT COUNT(*) FROM screenings") == [(40,)]


def test_demo_refuses_a_nonsense_size(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--screenings", "none", "--db", db_path]) == 2

    assert "is not a whole number" in capsys.readouterr().err


def test_organiser_add_reads_the_password_from_stdin(
        db_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))

    status = main(["organiser", "add", "Ana@Example.org", "--role", "organiser",
                   "--country", "nl", "--db", db_path])

    assert status == 0
    assert "ana@example.org" in capsys.readouterr().out
    [(email, role, country, password_hash)] = rows(
        db_path, "SELECT email, role, country, password_hash FROM organisers")
    assert (email, role, country) == ("ana@example.org", "organiser", "NL")
    assert verify_password(password_hash, "correct horse battery")
    assert not verify_password(password_hash, "correct horse battery\n")


def test_organiser_add_needs_a_country_for_the_organiser_role(
        db_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))

    assert main(["organiser", "add", "ana@example.org", "--db", db_path]) == 1

    assert capsys.readouterr().err.startswith("country: ")


def test_organiser_add_refuses_an_empty_password_and_a_taken_email(
        db_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["organiser", "add", "boss@example.org", "--role", "admin",
                 "--db", db_path]) == 1
    assert "no password" in capsys.readouterr().err

    for expected in (0, 1):
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        assert main(["organiser", "add", "boss@example.org", "--role", "admin",
                     "--db", db_path]) == expected
    assert "already an organiser" in capsys.readouterr().err


def test_no_command_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2

    assert "usage: festival" in capsys.readouterr().err


def test_serve_prepares_an_empty_database_with_the_seed(tmp_path: Path) -> None:
    settings = Settings(db_path=str(tmp_path / "serve.db"), seed_file=SEED)

    first = asyncio.run(prepare(settings))
    second = asyncio.run(prepare(settings))

    assert first is not None and first.added["screenings"] == 1
    assert second is None
    assert rows(settings.db_path, "SELECT key FROM editions") == [("2016",)]


def test_serve_passes_its_settings_to_workers(tmp_path: Path) -> None:
    settings = Settings.from_env({}, db_path=str(tmp_path / "w.db"),
                                 smtp_url="smtp://127.0.0.1:1025", changeover_minutes=15)

    worker = Settings.from_env(settings_environment(settings))

    assert worker == settings


def test_a_smaller_demo_refuses_to_leave_the_earlier_one_then_replaces_it(
        db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--screenings", "60", "--seed", "4", "--db", db_path]) == 0
    capsys.readouterr()
    assert main(["demo", "--screenings", "20", "--seed", "4", "--db", db_path]) == 1
    assert "already holds 40 screenings that this demo does not; add --replace" in (
        capsys.readouterr().err)
    assert rows(db_path, "SELECT COUNT(*) FROM screenings") == [(60,)]
    assert main(["demo", "--screenings", "20", "--seed", "4", "--replace",
                 "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert "Removed 40 screenings of the earlier demo" in out
    assert ", 20 screenings in " in out
    assert rows(db_path, "SELECT COUNT(*) FROM screenings") == [(20,)]


def test_demo_reports_the_screenings_the_edition_holds(
        db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--screenings", "30", "--seed", "4", "--db", db_path]) == 0
    assert ", 30 screenings in " in capsys.readouterr().out


def test_mail_send_builds_links_with_the_base_url_flag(
        db_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    async def send_all_once(settings: Settings) -> int:
        seen.append(settings.base_url)
        return 0

    monkeypatch.setattr("festival.__main__.sender.send_all_once", send_all_once)
    monkeypatch.setenv("FESTIVAL_BASE_URL", "http://127.0.0.1:8000")
    assert main(["mail", "send", "--db", db_path, "--base-url", "http://127.0.0.1:8765"]) == 0
    assert main(["mail", "send", "--db", db_path]) == 0
    assert seen == ["http://127.0.0.1:8765", "http://127.0.0.1:8000"]
    assert main(["mail", "send", "--base-url", "ftp://nowhere"]) == 1
    assert "--base-url" in capsys.readouterr().err
    assert main(["mail", "send", "--help"]) == 0
    assert "$FESTIVAL_BASE_URL or http://127.0.0.1:8000" in " ".join(
        capsys.readouterr().out.split())
