"""The programme's own texts in the reader's language: a film's title and synopsis, a
debate's title and a guest's role, translated in the programme file or by organisers'
forms, shown in pages, the API, feeds (per `?lang=`) and mails (per the attendee's
language), each falling back to the original where a language has none; English
feeds keep their bytes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from festival.core import i18n
from festival.mail import compose, outbox
from festival.programme.loader import import_programme
from festival.seats import registrations
from tests.helpers import (
    ENGLISH_ETAGS,
    Client,
    SignIn,
    english_etags,
    fixed_stamps,
    ids,
    post_form,
    sql,
    translated_sample,
)

FRENCH_TITLE = "Wallah, je te le jure"
ORIGINAL_TITLE = "Wallah, Je te jure"


@pytest.fixture
async def translated(app: Any) -> dict[str, int]:
    """The sample programme with its translations; answers the screenings' ids."""
    await import_programme(app.state.db, translated_sample())
    return await ids(app)


async def test_pages_show_the_readers_language_and_else_the_original(
        app: Any, client: httpx.AsyncClient, translated: dict[str, int]) -> None:
    hague = f"/screenings/{translated['hague']}"
    film = f"/films/{(await ids(app, 'films'))['wallah-je-te-jure']}"
    french = (await client.get(f"{hague}?lang=fr")).text
    assert f"<h1>{FRENCH_TITLE}</h1>" in french
    assert "Du Sénégal à la Libye" in french
    assert "Changer le regard sur les migrants" in french
    assert "Réalisatrice" in french
    spanish = (await client.get(f"{hague}?lang=es")).text
    assert f"<h1>{ORIGINAL_TITLE}</h1>" in spanish  # no Spanish title: the original
    assert "Directora" in spanish  # but a Spanish role
    assert "From Senegal to Libya" in spanish
    arabic = (await client.get(f"{film}?lang=ar")).text
    assert "والله، أقسم لك" in arabic
    programme = (await client.get("/?lang=fr")).text
    assert FRENCH_TITLE in programme and ORIGINAL_TITLE not in programme
    english = (await client.get("/?lang=en")).text
    assert ORIGINAL_TITLE in english and FRENCH_TITLE not in english


async def test_a_search_finds_a_film_by_its_title_in_any_language(
        client: httpx.AsyncClient, translated: dict[str, int]) -> None:
    found = (await client.get("/?q=le+jure&lang=en")).text
    assert found.count('class="screening__title"') == 3  # Wallah's three screenings


async def test_the_api_answers_in_the_language_asked_for(
        client: httpx.AsyncClient, translated: dict[str, int]) -> None:
    detail = await client.get(f"/api/v1/screenings/{translated['hague']}",
                              headers={"Accept-Language": "fr-CH, fr;q=0.9"})
    assert detail.headers["content-language"] == "fr"
    assert "Accept-Language" in detail.headers["vary"]
    body = detail.json()
    assert (body["title"], body["film"]["title"]) == (FRENCH_TITLE, FRENCH_TITLE)
    assert body["film"]["synopsis"].startswith("Du Sénégal")
    assert body["debate"]["title"] == "Changer le regard sur les migrants"
    assert body["debate"]["guests"][0]["role"] == "Réalisatrice"
    listing = (await client.get("/api/v1/screenings?lang=es",
                                headers={"Accept-Language": "fr"})).json()
    assert {s["title"] for s in listing} == {ORIGINAL_TITLE,
                                             'The Crossing; a "journey", told\\retold'}


async def test_feeds_carry_the_translations_of_their_language_only(
        app: Any, client: httpx.AsyncClient, translated: dict[str, int]) -> None:
    french = (await client.get("/feeds/festival.ics?lang=fr")).content.decode()
    english = (await client.get("/feeds/festival.ics")).content.decode()
    assert f"SUMMARY:{FRENCH_TITLE.replace(',', chr(92) + ',')} + " in french.replace(
        "\r\n ", "")
    assert "Réalisatrice" in french.replace("\r\n ", "")
    assert FRENCH_TITLE.split(",")[1].strip() not in english.replace("\r\n ", "")


async def test_english_feeds_are_the_same_bytes_with_translations(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    """The sample's English feeds, then the same programme with translations: the
    English bytes do not change (the pinned ETags of tests/web/test_languages.py)."""
    await sql(app, "DELETE FROM screening_guests")
    for table in ("screenings", "guests", "films", "venues", "editions"):
        await sql(app, f"DELETE FROM {table}")
        if app.state.db.dialect == "postgresql":  # ids start again at 1, as SQLite's do
            await sql(app, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)")
    await import_programme(app.state.db, translated_sample())
    await fixed_stamps(app)
    assert await english_etags(app, client) == ENGLISH_ETAGS


async def test_mail_uses_the_attendees_language_for_the_programmes_texts(
        app: Any, translated: dict[str, int]) -> None:
    for who, locale in (("ana", "fr"), ("ben", "es")):
        await registrations.register(app.state.db, translated["hague"], who.title(),
                                     f"{who}@example.org", 1, locale=locale)
    subjects, bodies = {}, {}
    async with app.state.db.reader() as conn:
        for row in await app.state.db.fetch_all("SELECT * FROM outbox ORDER BY id"):
            facts = await outbox.read_facts(conn, kind=row["kind"],
                                            registration_id=row["registration_id"],
                                            message_id=row["message_id"],
                                            queued_at=row["created_at"])
            message = compose.compose(facts, app.state.settings)
            subjects[facts.locale] = str(message["Subject"])
            bodies[facts.locale] = "".join(
                str(part.get_content()) for part in message.walk()
                if part.get_content_type() in ("text/plain", "text/html"))
    assert FRENCH_TITLE in subjects["fr"] and FRENCH_TITLE in bodies["fr"]
    assert "Changer le regard sur les migrants" not in bodies["es"]
    assert ORIGINAL_TITLE in subjects["es"] and FRENCH_TITLE not in bodies["es"]


# --- organisers enter translations ------------------------------------------------------------

@pytest.fixture
async def admin(sign_in: SignIn, translated: dict[str, int]) -> Client:
    return await sign_in("admin@example.org", "admin", None)


async def stored(app: Any, table: str, key: str) -> dict[str, Any]:
    row = await app.state.db.fetch_one(f"SELECT * FROM {table} WHERE key = ?", (key,))
    assert row is not None
    return dict(row)


async def test_the_film_form_shows_and_saves_translations(app: Any, admin: Client) -> None:
    film = (await ids(app, "films"))["wallah-je-te-jure"]
    page = (await admin.get(f"/admin/films/{film}?lang=en")).text
    for code in ("ar", "es", "fr", "nl"):
        assert f'name="title_i18n_{code}"' in page and f'name="synopsis_i18n_{code}"' in page
    assert f'value="{FRENCH_TITLE}"' in page  # what the file brought
    assert 'id="f-title_i18n_ar"' in page and 'lang="ar" dir="rtl"' in page
    answer = await post_form(admin, f"/admin/films/{film}", title=ORIGINAL_TITLE,
                             runtime_minutes="30", languages="fr,wo",
                             synopsis="From Senegal to Libya and on to Europe, migrants along "
                                      "the route.",
                             title_i18n_fr="", title_i18n_es="Wallah, te lo juro",
                             title_i18n_ar="والله، أقسم لك", synopsis_i18n_nl="Van Senegal…")
    assert answer.status_code == 303, answer.text
    row = await stored(app, "films", "wallah-je-te-jure")
    assert json.loads(row["title_i18n"]) == {"ar": "والله، أقسم لك", "es": "Wallah, te lo juro"}
    assert json.loads(row["synopsis_i18n"]) == {"nl": "Van Senegal…"}
    hague = (await ids(app))["hague"]
    assert "<h1>Wallah, te lo juro</h1>" in (await admin.get(f"/screenings/{hague}?lang=es")).text


async def test_a_refused_translation_is_explained_in_the_readers_language(
        app: Any, admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import catalogue

    monkeypatch.setitem(i18n.CATALOGUES, "fr", catalogue("fr", {
        "%(language)s: %(problem)s": "%(language)s : %(problem)s",
        "must be at most %(limit)d characters": "au plus %(limit)d caractères"}))
    answer = await post_form(admin, "/admin/films/new?lang=fr", "/admin/films/new",
                             title="Borders", title_i18n_es="x" * 301)
    assert answer.status_code == 422
    assert '<span class="field__error" id="e-title_i18n">es : au plus 300 caractères</span>' \
        in answer.text
    assert 'aria-describedby="e-title_i18n"' in answer.text
    assert 'value="' + "x" * 301 + '"' in answer.text  # kept to correct


async def test_guest_roles_and_debates_take_translations_too(app: Any, admin: Client) -> None:
    guest = (await ids(app, "guests"))["ana-reyes"]
    answer = await post_form(admin, f"/admin/guests/{guest}", name="Ana Reyes", role="Director",
                             organisation="IOM", listed="1", role_i18n_fr="Cinéaste",
                             role_i18n_es="Directora")
    assert answer.status_code == 303, answer.text
    assert json.loads((await stored(app, "guests", "ana-reyes"))["role_i18n"]) == {
        "es": "Directora", "fr": "Cinéaste"}
    hague = (await ids(app))["hague"]
    page = (await admin.get(f"/admin/screenings/{hague}")).text
    assert 'name="debate_title_i18n_fr" value="Changer le regard sur les migrants"' in page
    assert 'name="debate_description_i18n_ar"' in page
    # The admin API takes and answers them as objects; what it leaves out is kept.
    patched = await admin.patch(f"/api/v1/admin/screenings/{hague}", json={
        "debate_description": "Who decides who moves?",
        "debate_description_i18n": {"fr": "Qui décide qui part ?"}})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["debate_title_i18n"] == {"fr": "Changer le regard sur les migrants"}
    assert body["debate_description_i18n"] == {"fr": "Qui décide qui part ?"}
    public = (await admin.get(f"/screenings/{hague}?lang=fr")).text
    assert "Qui décide qui part ?" in public and "Cinéaste" in public
