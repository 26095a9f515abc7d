"""The programme's search (festival.programme.search, migration 0013): words in any
order, accents and case ignored, over titles in every language, listed guests, cities
and debates; never an unlisted guest's name; a visitor's text is never FTS syntax."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from festival.core.store import Database
from festival.programme import search
from festival.programme.loader import import_programme
from tests.helpers import ids, sql, translated_sample
from tests.web.test_public import listed


async def keys_for(db: Database, text: str) -> set[str]:
    found = await search.matching_ids(db, text)
    assert found is not None
    by_id = {v: k for k, v in (await ids(db)).items()}
    return {by_id[i] for i in found}


@pytest.fixture
async def translated(db: Database) -> Database:
    await import_programme(db, translated_sample())
    return db


async def test_words_in_any_order_across_title_city_and_debate(translated: Database) -> None:
    assert await keys_for(translated, "migrants perception Hague") == {"hague"}
    assert await keys_for(translated, "hague wallah") == {"hague"}
    assert await keys_for(translated, "Wallah") == {"hague", "kathmandu", "niamey"}
    assert await keys_for(translated, "kathmandu crossing") == set()  # every word counts


async def test_accents_case_translations_and_a_prefix(translated: Database) -> None:
    assert await keys_for(translated, "NIGÉRIEN") == set()  # the venue's name: not searched
    assert await keys_for(translated, "méxico") == {"mexico-late"}
    assert await keys_for(translated, "CHANGER le REGARD") == {"hague"}  # French title
    assert await keys_for(translated, "أقسم") == {"hague", "kathmandu", "niamey"}  # Arabic
    assert await keys_for(translated, "the hag") == {"hague"}  # the last word: a prefix
    assert await keys_for(translated, "hag the") == set()  # only the last word


async def test_listed_guests_are_found_unlisted_never(translated: Database) -> None:
    assert await keys_for(translated, "ana reyes") == {"hague"}
    assert await keys_for(translated, "Secret") == set()
    assert await keys_for(translated, "person") == set()
    # The index follows the guest: listed, then unlisted again, then renamed.
    await sql(translated, "UPDATE guests SET listed = 1 WHERE key = 'unlisted-guest'")
    assert await keys_for(translated, "secret person") == {"hague"}
    await sql(translated, "UPDATE guests SET listed = 0 WHERE key = 'unlisted-guest'")
    assert await keys_for(translated, "secret") == set()
    await sql(translated, "UPDATE guests SET name = 'Ana Lopez' WHERE key = 'ana-reyes'")
    assert await keys_for(translated, "reyes") == set()
    assert await keys_for(translated, "lopez") == {"hague"}


async def test_the_index_follows_programme_changes(translated: Database) -> None:
    await sql(translated, "UPDATE films SET title = 'Über Grenzen' WHERE key = 'the-crossing'")
    assert await keys_for(translated, "uber grenzen") == {"sydney", "mexico-late"}
    await sql(translated, "UPDATE venues SET city = 'Zürich' WHERE key = 'sydney-hall'")
    assert await keys_for(translated, "zurich") == {"sydney"}
    await sql(translated, "DELETE FROM screening_guests WHERE guest_id = "
                          "(SELECT id FROM guests WHERE key = 'ana-reyes')")
    assert await keys_for(translated, "reyes") == set()
    await sql(translated, "DELETE FROM screenings WHERE key = 'kathmandu'")
    assert await keys_for(translated, "kathmandu") == set()


@pytest.mark.parametrize("text", ['"', '*', 'NEAR(', 'NEAR(a b)', 'a AND', 'OR', '-x',
                                  '"hague', 'hague"*', '^', ':', 'body:hague', '( )', "'"])
async def test_fts_syntax_is_plain_text(translated: Database, text: str) -> None:
    found = await search.matching_ids(translated, text)  # no error, whatever it finds
    assert found is None or found <= set((await ids(translated)).values())


def test_each_word_is_quoted_and_the_last_a_prefix() -> None:
    assert search.match_expression('near( "x  y*') == '"near(" """x" "y*"*'
    assert search.match_expression(' * " - ') == ""


async def test_the_programme_page_lists_what_it_counts(client: httpx.AsyncClient,
                                                       programme: dict[str, Any]) -> None:
    hague = (await ids(client._transport.app.state.db))["hague"]
    page = (await client.get("/", params={"q": "perception migrants hague"})).text
    assert "1 screening matches your search." in page
    assert listed(page) == [hague]
    page = (await client.get("/", params={"q": "secret person"})).text
    assert "No screening matches your search." in page
    page = (await client.get("/", params={"q": "wallah", "country": "NP"})).text
    assert "1 screening matches your search." in page and len(listed(page)) == 1
    for text in ('"', "NEAR(", "*", '"hague'):
        assert (await client.get("/", params={"q": text})).status_code == 200


async def test_the_api_searches_too(client: httpx.AsyncClient, programme: dict[str, Any]
                                    ) -> None:
    found = (await client.get("/api/v1/screenings", params={"q": "reyes HAGUE"})).json()
    assert [s["id"] for s in found] == [(await ids(client._transport.app.state.db))["hague"]]
    assert (await client.get("/api/v1/screenings", params={"q": "secret"})).json() == []
    assert len((await client.get("/api/v1/screenings", params={"q": "NEAR("})).json()) == 0
    everything = (await client.get("/api/v1/screenings")).json()
    assert len((await client.get("/api/v1/screenings", params={"q": '"'})).json()) == \
        len(everything)
