"""The programme's own texts in several languages, in the programme file: a film's title
and synopsis, a debate's title and description and a guest's role may be
{"en": "…", "fr": "…"} beside the plain string, which stays valid. The plain column
keeps the original; the translations sit beside it as JSON (migration 0010)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from festival.core import i18n
from festival.core.store import Database
from festival.programme.file import validate_programme
from festival.programme.loader import import_programme
from tests.helpers import catalogue, translated_sample


async def row(db: Database, table: str, key: str) -> dict[str, Any]:
    found = await db.fetch_one(f"SELECT * FROM {table} WHERE key = ?", (key,))
    assert found is not None
    return dict(found)


def test_a_text_may_come_in_several_languages_or_plain(sample_programme: dict[str, Any]
                                                       ) -> None:
    assert validate_programme(sample_programme) == {}  # plain strings, as ever
    assert validate_programme(translated_sample()) == {}


async def test_the_original_is_kept_plain_and_the_translations_beside_it(db: Database) -> None:
    await import_programme(db, translated_sample())
    film = await row(db, "films", "wallah-je-te-jure")
    assert film["title"] == "Wallah, Je te jure"
    assert json.loads(film["title_i18n"]) == {"ar": "والله، أقسم لك",
                                              "fr": "Wallah, je te le jure"}
    assert film["synopsis"].startswith("From Senegal")
    assert json.loads(film["synopsis_i18n"]) == {
        "fr": "Du Sénégal à la Libye puis vers l'Europe, des migrants en route."}
    assert (await row(db, "guests", "ana-reyes"))["role_i18n"] == \
        '{"es":"Directora","fr":"Réalisatrice"}'
    hague = await row(db, "screenings", "hague")
    assert hague["debate_title"] == "Changing the perception of migrants"
    assert json.loads(hague["debate_title_i18n"]) == {
        "fr": "Changer le regard sur les migrants"}
    assert hague["debate_description_i18n"] == "{}"
    crossing = await row(db, "films", "the-crossing")  # a plain string: no translations
    assert (crossing["title_i18n"], crossing["synopsis_i18n"]) == ("{}", "{}")


async def test_without_an_english_text_the_first_is_the_original(db: Database) -> None:
    data = translated_sample()
    data["films"][1]["title"] = {"fr": "La Traversée", "es": "La travesía", "nl": "La Traversée"}
    await import_programme(db, data)
    film = await row(db, "films", "the-crossing")
    assert film["title"] == "La Traversée"
    # A translation that only repeats the original is no translation.
    assert json.loads(film["title_i18n"]) == {"es": "La travesía"}


async def test_importing_the_same_translations_again_changes_nothing(db: Database) -> None:
    await import_programme(db, translated_sample())
    again = await import_programme(db, translated_sample())
    assert again.updated == dict.fromkeys(again.updated, 0)
    reordered = translated_sample()
    film = reordered["films"][0]
    film["title"] = dict(reversed(list(film["title"].items())))  # same texts, other order
    assert sum((await import_programme(db, reordered)).updated.values()) == 0


async def test_a_changed_translation_reaches_calendars(db: Database) -> None:
    await import_programme(db, translated_sample())
    before = await row(db, "screenings", "hague")
    changed = translated_sample()
    changed["films"][0]["title"]["fr"] = "Wallah, je te le promets"
    summary = await import_programme(db, changed)
    assert summary.updated["films"] == 1
    after = await row(db, "screenings", "hague")
    assert after["sequence"] == before["sequence"] + 1  # calendars in French update


@pytest.mark.parametrize(("path", "value", "error_path", "message"), [
    ("films.0.title", {"fr": 5}, "films[0].title", "fr: must be text"),
    ("films.0.title", {"fr": "x" * 301}, "films[0].title",
     "fr: must be at most 300 characters"),
    ("films.0.title", {"French": "Titre"}, "films[0].title",
     "'French' is not a language code like 'en' or 'fr'"),
    ("films.0.title", {}, "films[0].title", "must not be empty"),
    ("films.0.title", {"en": "", "fr": "Titre"}, "films[0].title", "must not be empty"),
    ("guests.0.role", ["Director"], "guests[0].role", "must be text"),
    ("screenings.0.debate.title", {"fr": "Débat\nen deux lignes"},
     "screenings[0].debate.title", "fr: must not contain control characters or line breaks"),
])
def test_a_bad_translation_is_refused_with_its_path_in_english(
        sample_programme: dict[str, Any], path: str, value: Any, error_path: str,
        message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy.deepcopy(sample_programme)
    target: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value
    # `festival load` speaks English, whatever language the process was left in.
    monkeypatch.setitem(i18n.CATALOGUES, "fr",
                        catalogue("fr", {"must be text": "doit être du texte"}))
    assert i18n.call_in_locale("fr", validate_programme, data) == {error_path: message}


def test_field_errors_are_english_for_the_command_line_and_translated_for_readers(
        sample_programme: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy.deepcopy(sample_programme)
    data["films"][0]["title"] = "x" * 301
    data["films"][1]["year"] = 1700
    errors = validate_programme(data)
    assert errors == {"films[0].title": "must be at most 300 characters",
                      "films[1].year": "must be from 1888 to 2200"}
    monkeypatch.setitem(i18n.CATALOGUES, "fr", catalogue("fr", {
        "must be at most %(limit)d characters": "au plus %(limit)d caractères",
        "must be from %(low)d to %(high)d": "de %(low)d à %(high)d"}))
    found = i18n.call_in_locale("fr", lambda: {k: i18n.translate(v) for k, v in errors.items()})
    assert found == {"films[0].title": "au plus 300 caractères",
                     "films[1].year": "de 1888 à 2200"}
