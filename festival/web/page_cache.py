"""The bytes of the busiest public answers (the programme page, the screenings API list),
kept in each process between requests while they are still right, with their ETag and
Last-Modified, and a 304 to a matching conditional request (PageCache says when an
answer is still right). Hand-written: what makes a kept page stale is this product's own
(the programme version, the seat counts a page shows, the start times on it), which no
generic HTTP cache knows. docs/http.md ("Caching and cookies of public pages") is its
public side."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from festival.core.i18n import current_locale
from festival.programme import queries
from festival.web import revalidation
from festival.web.templating import remember_language

# How many answers one process keeps, and how many bytes in all (the least recently
# used go first). 5,000 screenings: the programme page weighs about 140 kB, the whole
# API list 2.2 MB (4.4 MB at 10,000), so this holds every language of both and a few
# hundred filtered pages, well inside a worker's memory budget.
PAGE_CACHE_ENTRIES = 512
PAGE_CACHE_BYTES = 24 * 1024 * 1024
SHARED_CACHE = "public, no-cache"  # caches in front may keep it, and ask again each time


@dataclass(frozen=True, slots=True)
class Seats:
    """Seat counts of an edition's screenings as read at one moment, and their
    generation: a number that changes (in this process) whenever the counts do."""

    generation: int
    counts: dict[int, tuple[int, int]]  # screening id -> (seats taken, parties waiting)
    commits: int  # db.commits when read
    read_at: float  # queries.clock() when read


class SeatCounts:
    """Seat counts per edition, read at most once per queries.VERSION_HELD_SECONDS in
    this process (and again at once after this process commits a write), as the
    programme version is: registrations change seats all day without changing the
    programme, and a kept page shows seats. One aggregate read for the whole edition;
    concurrent requests share it."""

    def __init__(self) -> None:
        self._held: dict[int, Seats] = {}
        self._reading: dict[int, tuple[int, asyncio.Task[Seats]]] = {}
        self._stubs: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self._generation = 0

    def held(self, db: Any, edition_id: int) -> Seats | None:
        seats = self._held.get(edition_id)
        if seats is None or seats.commits != db.commits:
            return None
        if queries.clock() - seats.read_at >= queries.VERSION_HELD_SECONDS:
            return None
        return seats

    async def current(self, db: Any, screenings: queries.ScreeningCache,
                      edition_id: int) -> Seats:
        seats = self.held(db, edition_id)
        if seats is not None:
            return seats
        return await _once(self._reading, edition_id, db.commits,
                           lambda: self._read(db, screenings, edition_id))

    async def _read(self, db: Any, screenings: queries.ScreeningCache,
                    edition_id: int) -> Seats:
        commits, read_at = db.commits, queries.clock()  # before the read, as queries does
        public = await screenings.screenings(db, edition_id)
        known = self._stubs.get(edition_id)
        if known is None or known[0] is not public:
            # What with_seats reads of each screening, not 5,000 copies of whole ones.
            stubs = [{"id": s["id"], "status": s["status"], "capacity": s["capacity"]}
                     for s in public]
            known = self._stubs[edition_id] = (public, stubs)
        fresh = await screenings.with_seats(db, edition_id, known[1])
        counts = {s["id"]: (s["confirmed_seats"], s["waitlist"]) for s in fresh}
        before = self._held.get(edition_id)
        if before is not None and before.counts == counts:
            generation = before.generation
        else:
            self._generation += 1
            generation = self._generation
        seats = Seats(generation, counts, commits, read_at)
        latest = self._held.get(edition_id)
        if latest is None or (latest.commits, latest.read_at) <= (commits, read_at):
            self._held[edition_id] = seats
        return seats


def with_counts(screenings: Iterable[dict[str, Any]], seats: Seats
                ) -> Iterator[dict[str, Any]]:
    """Copies of `screenings` with the seat counts of `seats` (as
    queries.ScreeningCache.with_seats answers them), one at a time: 10,000 whole copies
    at once weighed tens of megabytes."""
    for s in screenings:
        confirmed, waiting = seats.counts.get(s["id"], (0, 0))
        yield dict(s, confirmed_seats=confirmed, waitlist=waiting,
                   seats_left=queries.seats_left(s, confirmed))


def shown_counts(ids: Iterable[int], seats: Seats) -> array[int]:
    """The seat counts of these screenings, flat, for comparing later."""
    return array("q", [n for i in ids for n in seats.counts.get(i, (0, 0))])


@dataclass(frozen=True, slots=True)
class Kept:
    """One answer's bytes, what they were made from, and when they stop being right."""

    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]  # of the 200 (and 304, but its content-*)
    etag: str
    last_modified: str  # HTTP date: when this process first made these bytes
    dated: bool  # whether Last-Modified tells these bytes apart (If-Modified-Since)
    version: int  # the programme version they were made from
    edition_id: int
    seats: int  # the generation of the edition's seat counts they were last checked on
    ids: array[int] | None  # the screenings whose seats they show; None: every one
    counts: array[int]  # those seats (shown_counts)
    until: float  # time.time() at which they may change by themselves (a start time)


def keep(body: bytes, media_type: str, *, version: int, edition_id: int, seats: Seats,
         ids: list[int] | None, until: float = math.inf,
         headers: dict[str, str] | None = None) -> Kept:
    """`body` as an answer to keep: `ids` the screenings whose seat counts it shows
    (None: all of the edition's), `until` when time alone changes it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    made = email.utils.formatdate(time.time(), usegmt=True)
    raw = Response(body, media_type=media_type, headers={
        "ETag": etag, "Last-Modified": made, "Cache-Control": SHARED_CACHE,
        **(headers or {})}).raw_headers
    return Kept(body, tuple(raw), etag, made, True, version, edition_id, seats.generation,
                None if ids is None else array("q", ids),
                shown_counts(ids, seats) if ids is not None else array("q"), until)


class _Answer(Response):
    """A kept answer: its headers are ready, nothing to work out again."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.raw_headers = headers
        self.body = body
        self.background = None


class PageCache:
    """The bytes of public answers that are the same for everyone asking with the same
    address in the same language (the programme page, the screenings API list), kept in
    this process, so a warm request costs a lookup rather than a render.

    An answer is kept under (path, query string, language): the pages repeat their
    query in their links, so equal keys give equal bytes. It is used while it is still
    right: the programme version is the one it was made from (festival.programme.
    queries.programme_version: held a moment, dropped at once on this process's own
    writes), the seat counts it shows are the edition's current ones (SeatCounts, held
    alike), and no screening it shows has started or ended since (nor has the day
    changed). Every kept answer has a strong ETag (a hash of its bytes, equal in every
    process) and a Last-Modified; a matching conditional request is answered 304 from
    the kept answer, before any rendering. At most PAGE_CACHE_ENTRIES answers and
    PAGE_CACHE_BYTES bytes are kept, least recently used dropped first; the answer
    being built for a key is built once for everyone asking meanwhile."""

    def __init__(self, entries: int = PAGE_CACHE_ENTRIES, size: int = PAGE_CACHE_BYTES) -> None:
        self.entries, self.size = entries, size
        self.seats = SeatCounts()
        self._kept: OrderedDict[tuple[Any, ...], Kept] = OrderedDict()
        self._bytes = 0
        self._building: dict[tuple[Any, ...], tuple[int, asyncio.Task[Kept]]] = {}

    @staticmethod
    def key(request: Request) -> tuple[Any, ...]:
        return (request.scope["path"], request.scope["query_string"], current_locale())

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def bytes(self) -> int:
        return self._bytes

    async def fresh(self, request: Request, key: tuple[Any, ...]) -> Kept | None:
        """The answer kept under `key` while it is still right, else None."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        db = request.app.state.db
        version = queries.held_version(db) or await queries.programme_version(db)
        if version[0] != kept.version or time.time() >= kept.until:
            return None
        seats = self.seats.held(db, kept.edition_id) or await self.seats.current(
            db, request.app.state.screening_cache, kept.edition_id)
        if seats.generation != kept.seats:
            if kept.ids is None or shown_counts(kept.ids, seats) != kept.counts:
                return None
            kept = replace(kept, seats=seats.generation)  # other screenings' seats moved
            self._kept[key] = kept
        self._kept.move_to_end(key)
        return kept

    async def serve(self, request: Request, build: Callable[[], Awaitable[Kept]]) -> Response:
        """The kept answer for this request, else the one `build` makes (and keeps):
        200, 304 for a matching conditional request, HEAD without the body."""
        key = self.key(request)
        kept = await self.fresh(request, key)
        if kept is None:
            kept = await self._build_once(request, key, build)
            self._put(key, kept)
        return self.answer(request, kept)

    async def _build_once(self, request: Request, key: tuple[Any, ...],
                          build: Callable[[], Awaitable[Kept]]) -> Kept:
        return await _once(self._building, key, request.app.state.db.commits, build)

    def _put(self, key: tuple[Any, ...], kept: Kept) -> None:
        before = self._kept.pop(key, None)
        if before is kept:
            self._kept[key] = kept
            return
        if before is not None:
            self._bytes -= len(before.body)
            if before.etag == kept.etag:  # the same bytes: as old as they are
                kept = replace(kept, last_modified=before.last_modified, dated=before.dated,
                               headers=tuple((n, before.last_modified.encode("latin-1"))
                                             if n == b"last-modified" else (n, v)
                                             for n, v in kept.headers))
            elif _seconds(before.last_modified) >= _seconds(kept.last_modified):
                # Changed within the second: the date cannot tell them apart.
                kept = replace(kept, dated=False)
        if len(kept.body) > self.size:
            return
        self._kept[key] = kept
        self._bytes += len(kept.body)
        while len(self._kept) > self.entries or self._bytes > self.size:
            _key, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.body)

    @staticmethod
    def answer(request: Request, kept: Kept) -> Response:
        if request.method in ("GET", "HEAD") and _not_modified(request, kept):
            response: Response = _Answer(304, [
                (n, v) for n, v in kept.headers
                if n not in (b"content-length", b"content-type")], b"")
        elif request.method == "HEAD":
            response = _Answer(200, list(kept.headers), b"")
        else:
            response = _Answer(200, list(kept.headers), kept.body)
        remember_language(request, response)
        return response


async def _once(pending: dict[Any, tuple[int, asyncio.Task[Any]]], key: Any, commits: int,
                make: Callable[[], Awaitable[Any]]) -> Any:
    """What `make` answers, made once for everyone asking for `key` meanwhile; never a
    making begun before this process's latest commit (`commits`)."""
    running = pending.get(key)
    if running is None or running[0] != commits:
        task = asyncio.ensure_future(make())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        running = pending[key] = (commits, task)
    try:
        # Shielded: one visitor hanging up does not cancel what others wait for.
        return await asyncio.shield(running[1])
    finally:
        if pending.get(key) is running and running[1].done():
            del pending[key]


def _seconds(http_date: str) -> float:
    return email.utils.parsedate_to_datetime(http_date).timestamp()


def _not_modified(request: Request, kept: Kept) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if if_none_match is None and not kept.dated:
        return False
    return revalidation.not_modified(if_none_match, if_modified_since, kept.etag,
                                     kept.last_modified)


def page_cache(app: Starlette) -> PageCache:
    cache = getattr(app.state, "page_cache", None)
    if cache is None:
        cache = app.state.page_cache = PageCache()
    return cache  # type: ignore[no-any-return]
