"""The programme's search on PostgreSQL, at the level of its SQL (the PostgreSQL schema's
screening_search, festival_fold and triggers; festival.programme.search's query): rows
written by hand, so what is checked is the search, not the loader. tests/programme/
test_search.py runs the same behaviour end to end on both engines.

Also what only PostgreSQL needs: festival_fold keeps every character Python counts as a
letter or digit (the Python side keeps a visitor's word only when it holds one), and the
programme_version triggers, which run once per statement there."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from festival.core.store import migration_files
from festival.core.store.postgresql import PostgresConnection
from festival.programme import search
from tests import postgres

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        "postgresql" not in os.environ.get("FESTIVAL_TEST_BACKENDS", "sqlite,postgresql"),
        reason="FESTIVAL_TEST_BACKENDS leaves PostgreSQL out"),
    pytest.mark.skipif(postgres.why_not() is not None, reason=postgres.why_not() or ""),
]

ROWS = """
INSERT INTO editions (id, key, name, starts_on, ends_on, updated_at)
VALUES (1, 'e', 'E', '2099-01-01', '2099-01-09', 'x');
INSERT INTO venues (id, key, name, city, country, timezone, capacity, updated_at)
VALUES (1, 'geneva', 'Salle', 'Genève', 'CH', 'Europe/Zurich', 100, 'x'),
       (2, 'hague', 'Hall', 'The Hague', 'NL', 'Europe/Amsterdam', 100, 'x');
INSERT INTO films (id, key, title, title_i18n, updated_at)
VALUES (1, 'wallah', 'Wallah, je te jure',
        '{"ar": "والله، أقسم لك", "fr": "L’exil : «Über» tout"}', 'x'),
       (2, 'crossing', 'The Crossing', '{}', 'x');
INSERT INTO guests (id, key, name, listed, updated_at)
VALUES (1, 'ana', 'Ana Reyes', 1, 'x'), (2, 'secret', 'Secret Person', 0, 'x');
INSERT INTO screenings (id, edition_id, key, uid, film_id, venue_id, starts_at, ends_at,
                        timezone, capacity, debate_title, debate_description,
                        debate_description_i18n, created_at, updated_at)
VALUES (1, 1, 'geneva', 'u1', 1, 1, 's', 'e', 'Europe/Zurich', 10, 'Changer le REGARD',
        'Jean-Luc & co: 100% (vraiment!) a\\b', '', 'c', 'u'),
       (2, 1, 'hague', 'u2', 2, 2, 's', 'e', 'Europe/Amsterdam', 10, 'Perception',
        '', '{"es": "Migrantes"}', 'c', 'u');
INSERT INTO screening_guests (screening_id, guest_id, position) VALUES (1, 1, 0), (1, 2, 1);
"""


@pytest.fixture
async def pg(postgresql_server: postgres.Server) -> AsyncIterator[PostgresConnection]:
    """A connection to a new database holding the PostgreSQL schema and ROWS."""
    name = postgresql_server.create()
    raw = await asyncpg.connect(postgresql_server.url(name))
    try:
        for _version, _name, sql in migration_files("postgresql"):
            await raw.execute(sql)
        await raw.execute(ROWS)
        yield PostgresConnection(raw)
    finally:
        await raw.close()
        postgresql_server.drop(name)


async def keys_for(conn: PostgresConnection, text: str) -> set[str] | None:
    db: Any = conn  # offers what matching_ids uses of a Database: dialect, fetch_all
    found = await search.matching_ids(db, text)
    if found is None:
        return None
    rows = await conn.raw.fetch("SELECT id, key FROM screenings")
    by_id = {r["id"]: r["key"] for r in rows}
    return {by_id[i] for i in found}


async def test_words_accents_case_and_the_last_word_as_a_prefix(pg: PostgresConnection) -> None:
    for text in ("geneve", "GENEVE", "Genève", "GENÈVE", "gene\u0300ve", "gen"):
        assert await keys_for(pg, text) == {"geneva"}, text
    assert await keys_for(pg, "regard wallah geneve") == {"geneva"}  # any order
    assert await keys_for(pg, "wallah hague") == set()  # every word must occur
    assert await keys_for(pg, "gen wallah") == set()  # only the last word is a prefix
    assert await keys_for(pg, "the") == {"hague"}
    assert await keys_for(pg, "te") == {"geneva"}  # "te", not "the": a word's start
    assert await keys_for(pg, "أقسم") == {"geneva"}  # Arabic, after an Arabic comma
    assert await keys_for(pg, "uber") == {"geneva"}  # a translation, in « »
    assert await keys_for(pg, "migrantes") == {"hague"}
    assert await keys_for(pg, "l'exil") == {"geneva"}  # ’ and ' are both separators
    assert await keys_for(pg, "jean-luc") == {"geneva"}
    assert await keys_for(pg, "luc jean") == {"geneva"}
    assert await keys_for(pg, "jean-co") == set()  # one word's parts stay a phrase


async def test_listed_guests_only(pg: PostgresConnection) -> None:
    assert await keys_for(pg, "ana reyes") == {"geneva"}
    assert await keys_for(pg, "secret") == set()
    assert await keys_for(pg, "person") == set()
    await pg.raw.execute("UPDATE guests SET listed = 1 WHERE key = 'secret'")
    assert await keys_for(pg, "secret person") == {"geneva"}
    await pg.raw.execute("UPDATE guests SET listed = 0 WHERE key = 'secret'")
    assert await keys_for(pg, "secret") == set()
    await pg.raw.execute("UPDATE guests SET name = 'Ana Lopez' WHERE key = 'ana'")
    assert await keys_for(pg, "reyes") == set()
    assert await keys_for(pg, "lopez") == {"geneva"}


async def test_the_index_follows_changes(pg: PostgresConnection) -> None:
    await pg.raw.execute("UPDATE films SET title = 'Über Grenzen' WHERE key = 'crossing'")
    assert await keys_for(pg, "uber grenzen") == {"hague"}
    await pg.raw.execute("UPDATE venues SET city = 'Zürich' WHERE key = 'hague'")
    assert await keys_for(pg, "zurich") == {"hague"}
    await pg.raw.execute("UPDATE screenings SET film_id = 1 WHERE key = 'hague'")
    assert await keys_for(pg, "wallah") == {"hague", "geneva"}
    await pg.raw.execute("UPDATE screenings SET debate_title_i18n = '{\"fr\": \"Élan\"}' "
                         "WHERE key = 'hague'")
    assert await keys_for(pg, "elan") == {"hague"}
    await pg.raw.execute("DELETE FROM screening_guests WHERE guest_id = 1")
    assert await keys_for(pg, "reyes") == set()
    await pg.raw.execute("DELETE FROM screenings WHERE key = 'geneva'")
    assert await keys_for(pg, "geneve") == set()
    assert await pg.raw.fetchval("SELECT count(*) FROM screening_search") == 1


@pytest.mark.parametrize("text", ["'", "''", "\\", "a\\b", ":*", "gen:*", "a & b", "&", "!",
                                  "!geneve", "|", "a | b", "(", "( )", "geneve)", ":",
                                  "body:hague", '"', '"geneve"', "*", "%", "_", "<->",
                                  "wall<->ah", "NEAR(a b)", "-x", "^", "$1", "?", "\x01"])
async def test_query_syntax_is_plain_text(pg: PostgresConnection, text: str) -> None:
    found = await keys_for(pg, text)  # no error, whatever it finds
    assert found is None or found <= {"geneva", "hague"}


async def test_what_special_characters_find(pg: PostgresConnection) -> None:
    assert await keys_for(pg, "gen:*") == {"geneva"}  # ':' and '*' are separators
    assert await keys_for(pg, "!geneve") == {"geneva"}
    assert await keys_for(pg, '"geneve"') == {"geneva"}
    assert await keys_for(pg, "a\\b") == {"geneva"}  # a word "a" then a word "b"
    assert await keys_for(pg, "vraiment!") == {"geneva"}
    assert await keys_for(pg, "100%") == {"geneva"}
    assert await keys_for(pg, "100_") == {"geneva"}  # never a LIKE wildcard
    assert await keys_for(pg, "w_llah") == set()
    assert await keys_for(pg, "w%llah") == set()
    assert await keys_for(pg, "& | ! : *") is None  # no word at all: nothing to narrow


async def test_fold_keeps_every_letter_and_digit(pg: PostgresConnection) -> None:
    """Python keeps a visitor's word when it holds a letter or digit (str.isalnum); the
    SQL fold must then leave something of it, or the word would find nothing."""
    ranges = [(1, 0x2FFF), (0x3000, 0x33FF), (0xA000, 0xA0FF), (0xFB00, 0xFFFD),
              (0x1F000, 0x1FAFF)]
    rows = await pg.raw.fetch(
        "SELECT g AS code, festival_fold(chr(g)) AS folded FROM unnest($1::int[]) g",
        [c for lo, hi in ranges for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF])
    lost = [hex(r["code"]) for r in rows if chr(r["code"]).isalnum() and not r["folded"]]
    # U+037A GREEK YPOGEGRAMMENI is, by NFKD, a space and a combining mark: no letter.
    lost.remove("0x37a")
    assert lost == [], f"letters or digits folded away (Unicode {sys.version}): {lost}"
    # The fold is stable: folding a folded text changes nothing.
    changed = await pg.raw.fetchval(
        "SELECT count(*) FROM unnest($1::int[]) g "
        "WHERE festival_fold(festival_fold(chr(g))) <> festival_fold(chr(g))",
        list(range(1, 0x2FFF)))
    assert changed == 0


async def test_fold(pg: PostgresConnection) -> None:
    cases = {"Genève": "geneve", "ÆRØ Œuvre Łódź": "ærø œuvre łodz", "ΟΔΟΣ Ἀθῆναι": "οδοσ αθηναι",
             "МОСКВА Ёлка": "москва елка", "ﬁlm Ｆｕｌｌ x²": "film full x2",
             "  a\t—b…c«d»e¿f?  ": "a b c d e f", "Straße STRASSE": "straße strasse",
             "soft\u00adhyphen zero\u200bwidth": "softhyphen zero width",
             "ke\u0301 ①": "ke 1", "🎬film🎥": "film"}
    for text, folded in cases.items():
        assert await pg.raw.fetchval("SELECT festival_fold($1)", text) == folded, text


async def test_programme_version_bumps_once_per_changing_statement(
        pg: PostgresConnection) -> None:
    async def version() -> tuple[int, str]:
        row = await pg.raw.fetchrow("SELECT version, changed_at FROM programme_version")
        return row["version"], row["changed_at"]

    start, changed_at = await version()
    assert len(changed_at) == 20 and changed_at[10] == "T" and changed_at.endswith("Z")
    await pg.raw.execute("UPDATE films SET notes = 'n'")  # two rows, one statement
    assert (await version())[0] == start + 1
    await pg.raw.execute("UPDATE films SET notes = 'n' WHERE key = 'none'")
    await pg.raw.execute("DELETE FROM guests WHERE key = 'none'")
    assert (await version())[0] == start + 1  # no row changed: no bump, as on SQLite
    await pg.raw.execute("UPDATE screening_guests SET position = 2 WHERE guest_id = 2")
    await pg.raw.execute("INSERT INTO films (id, key, title, updated_at) "
                         "VALUES (3, 'n', 'N', 'x')")
    await pg.raw.execute("DELETE FROM films WHERE key = 'n'")
    assert (await version())[0] == start + 4
    # Not part of the programme: no bump.
    await pg.raw.execute("INSERT INTO organisers (email, password_hash, role, created_at) "
                         "VALUES ('o@example.org', 'h', 'admin', 'c')")
    assert (await version())[0] == start + 4
