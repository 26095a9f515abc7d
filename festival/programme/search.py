"""The programme's search: words in any order, accents and case ignored, over film
titles (every translation), cities, debate titles and descriptions, and listed debate
guests' names (never unlisted ones). Migration 0013 (SQLite: an FTS5 table) and the
PostgreSQL schema (0014: the screening_search table) keep the index in step.

A visitor's text is never query syntax: all words must occur, and the last one also
matches as the start of a longer word, so a search works while it is being typed. On
SQLite each word is quoted as an FTS5 phrase (so `"`, `*`, `NEAR(`, `AND` or `-` are
plain text); on PostgreSQL each word is a parameter of a plain substring search."""

from __future__ import annotations

from dataclasses import replace

from festival.core.store import Database
from festival.programme.queries import Filters

MAX_TERMS = 12

# PostgreSQL has no FTS5 (and no extension is assumed), so its screening_search holds
# each screening's words folded by festival_fold() (accents, case, punctuation), one
# space between words and one at each end: a word is found as ' word ', the last word,
# a prefix, as ' wor'. The visitor's words go through the same festival_fold, so both
# sides fold alike; a word inside one ("jean-luc") must be followed by the next, as in
# an FTS5 phrase.
_PG_WORD = "strpos(body, ' ' || festival_fold(?) || ' ') > 0"
_PG_PREFIX = "strpos(body, ' ' || festival_fold(?)) > 0"


def search_terms(text: str) -> list[str]:
    """The visitor's words worth searching for, at most MAX_TERMS of them."""
    # A term without a letter or digit ("*", "-", a lone quote) has no token to find.
    return [t for t in (text or "").split() if any(c.isalnum() for c in t)][:MAX_TERMS]


def match_expression(text: str) -> str:
    """The FTS5 query for a visitor's text ('' when it holds no word): each word a
    quoted phrase, the last one a prefix."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in search_terms(text)]
    if not quoted:
        return ""
    quoted[-1] += "*"
    return " ".join(quoted)


async def matching_ids(db: Database, text: str) -> frozenset[int] | None:
    """Ids of the screenings (any edition, drafts too) matching `text`; None when the
    text holds no word to search for."""
    if db.dialect == "postgresql":
        terms = search_terms(text)
        if not terms:
            return None
        where = " AND ".join([_PG_WORD] * (len(terms) - 1) + [_PG_PREFIX])
        rows = await db.fetch_all(f"SELECT id FROM screening_search WHERE {where}", terms)
    else:
        expression = match_expression(text)
        if not expression:
            return None
        rows = await db.fetch_all(
            "SELECT rowid FROM screening_search WHERE screening_search MATCH ?", (expression,))
    return frozenset(int(r[0]) for r in rows)


async def resolve(db: Database, filters: Filters) -> Filters:
    """`filters` with its search text answered from the index (Filters.matches then
    keeps only those screenings)."""
    if not filters.q:
        return filters
    ids = await matching_ids(db, filters.q)
    # A text with no word in it ("*", a lone quote) narrows nothing.
    return replace(filters, search_ids=ids) if ids is not None else replace(filters, q="")
