"""The programme's search: words in any order, accents and case ignored, over film
titles (every translation), cities, debate titles and descriptions, and listed debate
guests' names (never unlisted ones). Migration 0013 keeps the FTS5 table in step.

A visitor's text is never FTS syntax: each word is quoted as a phrase (so `"`, `*`,
`NEAR(`, `AND` or `-` are plain text), all words must occur, and the last one also
matches as the start of a longer word, so a search works while it is being typed."""

from __future__ import annotations

from dataclasses import replace

from festival.core.store import Database
from festival.programme.queries import Filters

MAX_TERMS = 12


def match_expression(text: str) -> str:
    """The FTS5 query for a visitor's text ('' when it holds no word): each word a
    quoted phrase, the last one a prefix."""
    # A term without a letter or digit ("*", "-", a lone quote) has no token to find.
    terms = [t.replace('"', '""') for t in (text or "").split()
             if any(c.isalnum() for c in t)][:MAX_TERMS]
    if not terms:
        return ""
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


async def matching_ids(db: Database, text: str) -> frozenset[int] | None:
    """Ids of the screenings (any edition, drafts too) matching `text`; None when the
    text holds no word to search for."""
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
