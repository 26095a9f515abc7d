"""The reader's language: Accept-Language, the ?lang= switch and its cookie, dates per
locale, and a catalogue that holds every message. French stands in for any language
that arrives later: a catalogue is all it takes, no template changes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from festival.web import templating

ROOT = Path(__file__).resolve().parents[2]
FRENCH = {
    "Find a screening": "Trouver une séance",
    "Programme": "Programme",
    "Search": "Rechercher",
}


@pytest.fixture
def french(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small French catalogue installed as if festival/locale/fr existed."""
    catalog = Catalog(locale="fr")
    for msgid, msgstr in FRENCH.items():
        catalog.add(msgid, msgstr)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    monkeypatch.setitem(templating.CATALOGUES, "fr", Translations(buffer))
    monkeypatch.setattr(templating, "LOCALES", ["en", "fr"])
    monkeypatch.setitem(app.state.templates.globals, "locales", ["en", "fr"])


async def hague_page(client: httpx.AsyncClient, app: Any, **kwargs: Any) -> httpx.Response:
    row = await app.state.db.fetch_one("SELECT id FROM screenings WHERE key = 'hague'")
    return await client.get(f"/screenings/{row['id']}", **kwargs)


async def test_accept_language_picks_a_supported_locale(
        client: httpx.AsyncClient, programme: dict[str, Any], french: None) -> None:
    html = (await client.get("/", headers={"Accept-Language": "de-DE, fr-CH;q=0.9, en;q=0.5"})
            ).text
    assert '<html lang="fr" dir="ltr">' in html
    assert "Trouver une séance" in html
    assert '<label for="f-q">Rechercher</label>' in html


async def test_unsupported_language_falls_back_to_english(
        client: httpx.AsyncClient, programme: dict[str, Any], french: None) -> None:
    html = (await client.get("/", headers={"Accept-Language": "de-DE, ja;q=0.8"})).text
    assert '<html lang="en" dir="ltr">' in html
    assert "Find a screening" in html


async def test_lang_parameter_sets_a_cookie_that_wins_over_the_browser(
        client: httpx.AsyncClient, programme: dict[str, Any], french: None) -> None:
    chosen = await client.get("/?lang=fr", headers={"Accept-Language": "en"})
    assert '<html lang="fr" dir="ltr">' in chosen.text
    assert chosen.cookies.get("lang") == "fr"
    later = await client.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="fr" dir="ltr">' in later.text
    back = await client.get("/?lang=en", headers={"Accept-Language": "fr"})
    assert '<html lang="en" dir="ltr">' in back.text


async def test_language_switch_names_each_language_in_itself(
        client: httpx.AsyncClient, programme: dict[str, Any], french: None) -> None:
    html = (await client.get("/?country=NL")).text
    assert ('<a href="/?country=NL&amp;lang=fr" lang="fr" hreflang="fr">français</a>'
            in html)
    assert ('<a href="/?country=NL&amp;lang=en" lang="en" hreflang="en" aria-current="true">'
            'English</a>' in html)


async def test_dates_are_formatted_for_the_reader_by_babel(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any, french: None) -> None:
    english = (await hague_page(client, app, headers={"Accept-Language": "en"})).text
    assert "Sunday, 13 December 2099, 19:00" in english
    french_page = (await hague_page(client, app, headers={"Accept-Language": "fr"})).text
    assert "dimanche 13 décembre 2099, 19:00" in french_page
    assert "Pays-Bas" in french_page  # the venue's country, named by Babel too
    programme_fr = (await client.get("/", headers={"Accept-Language": "fr"})).text
    assert "dim. 6 déc." in programme_fr  # the day links


async def test_unlisted_guest_stand_in_is_translated(
        client: httpx.AsyncClient, programme: dict[str, Any], app: Any, french: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = Catalog(locale="fr")
    catalog.add("a guest speaker", "un·e invité·e")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    monkeypatch.setitem(templating.CATALOGUES, "fr", Translations(buffer))
    html = (await hague_page(client, app, headers={"Accept-Language": "fr"})).text
    assert "un·e invité·e" in html
    assert "Secret Person" not in html


def test_english_catalogue_holds_every_message() -> None:
    """Texts added to code or templates must reach the catalogues translators work
    from; if this fails, run the two commands at the top of babel.cfg."""
    method_map = [("festival/**.py", "python"), ("templates/**.html", "jinja2"),
                  ("templates/**.txt", "jinja2")]
    options = {pattern: {"extensions": "jinja2.ext.i18n", "trim_blocks": "True",
                         "lstrip_blocks": "True"}
               for pattern, method in method_map if method == "jinja2"}
    found = {message[2] if isinstance(message[2], str) else message[2][0]
             for message in extract_from_dir(str(ROOT), method_map, options)}
    with (ROOT / "festival/locale/en/LC_MESSAGES/messages.po").open("rb") as po:
        catalogue = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(po) if m.id}
    missing = sorted(found - catalogue)
    assert not missing, f"not in the English catalogue (see babel.cfg): {missing[:10]}"
