"""`festival privacy export|forget|purge` and `festival edition confirm-email`, in-process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from festival.__main__ import main

SEED = Path(__file__).resolve().parents[2] / "seed.json"


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    path = str(tmp_path / "cli.db")
    assert main(["load", str(SEED), "--db", path]) == 0
    with sqlite3.connect(path) as conn:
        screening = conn.execute("SELECT id FROM screenings LIMIT 1").fetchone()[0]
        conn.execute(
            "INSERT INTO registrations (screening_id, token, name, email, email_key, seats,"
            " status, created_at, updated_at) VALUES (?, ?, 'Zoë Example', 'Zoe@Example.org',"
            " 'zoe@example.org', 2, 'confirmed', '2016-12-01T10:00:00Z',"
            " '2016-12-01T10:00:00Z')", (screening, "t" * 32))
    return path


def test_export_prints_what_is_held_as_json(db_path: str, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    assert main(["privacy", "export", " ZOE@example.org ", "--db", db_path]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["registrations"]] == ["Zoë Example"]
    assert "t" * 32 not in json.dumps(data)


def test_purge_erases_an_edition_past_its_retention(
        db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["privacy", "purge", "--db", db_path]) == 0  # 2016 ended long ago
    assert "1 registration" in capsys.readouterr().out
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT name, email, seats FROM registrations").fetchall() == [
            ("", "", 2)]


def test_forget_erases_one_person(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["privacy", "forget", "zoe@example.org", "--db", db_path]) == 0
    capsys.readouterr()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM registrations WHERE email_key ="
                            " 'zoe@example.org' OR name != ''").fetchone() == (0,)


def test_edition_confirm_email_switches_holding(db_path: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edition", "confirm-email", "2016", "on", "--hold-minutes", "45",
                 "--db", db_path]) == 0
    assert "45 minutes" in capsys.readouterr().out
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT confirm_email, hold_minutes FROM editions").fetchone() == (
            1, 45)
    assert main(["edition", "confirm-email", "nope", "on", "--db", db_path]) == 1
