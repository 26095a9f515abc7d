"""`festival organiser list|disable|enable|password|unlock`, called in-process."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from festival.__main__ import main
from festival.organisers.accounts import verify_password


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "cli.db")
    for email, role in (("ana@example.org", "organiser"), ("boss@example.org", "admin")):
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        country = ["--country", "NL"] if role == "organiser" else []
        assert main(["organiser", "add", email, "--role", role, *country, "--db", path]) == 0
    return path


def rows(db_path: str, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql))


def test_organiser_list_disable_enable(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["organiser", "disable", " ANA@example.org", "--db", db_path]) == 0
    assert main(["organiser", "list", "--db", db_path]) == 0
    assert capsys.readouterr().out == (
        "Organiser ana@example.org disabled; their sessions have ended\n"
        "ana@example.org  organiser NL  disabled, last sign-in never\n"
        "boss@example.org  admin  active, last sign-in never\n")
    assert main(["organiser", "enable", "ana@example.org", "--db", db_path]) == 0
    assert capsys.readouterr().out == "Organiser ana@example.org enabled\n"
    assert rows(db_path, "SELECT action, organiser_id FROM audit_log") == [
        ("organiser.disable", None), ("organiser.enable", None)]


def test_organiser_password_and_unlock(db_path: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["organiser", "password", "ana@example.org", "--db", db_path]) == 0
    [(password_hash,)] = rows(db_path, "SELECT password_hash FROM organisers WHERE id = 1")
    assert verify_password(password_hash, "a brand new password")
    assert main(["organiser", "unlock", "ana@example.org", "--db", db_path]) == 0
    assert capsys.readouterr().out == (
        "Password set for ana@example.org; their sessions have ended\n"
        "Organiser ana@example.org unlocked (0 client(s) were locked out)\n")


def test_organiser_changes_refused(db_path: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["organiser", "unlock", "who@example.org", "--db", db_path]) == 1
    assert main(["organiser", "disable", "boss@example.org", "--db", db_path]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["organiser", "password", "ana@example.org", "--db", db_path]) == 1
    assert capsys.readouterr().err == (
        "festival: There is no organiser with that email address.\n"
        "festival: This is the last admin account that can sign in: it cannot be disabled.\n"
        "password: The password needs at least 8 characters.\n")
