"""iCalendar feeds over HTTP, and the page that explains how to subscribe.

Calendar apps poll feeds again and again, mostly to hear "nothing changed". So each
public feed is built once and kept in this process, keyed by its URL and checked
against the programme's version (migration 0003: a counter that triggers bump on any
change to editions, venues, films, guests or screenings). A hit costs one one-row
query, also with several worker processes, each holding its own cache; a change
anywhere rebuilds each feed on its next request. The bytes depend on the data only, so
the ETag (a hash of them) is the same in every process.

Languages: a public feed is in the language its address names (`?lang=fr`), English
without one: calendar apps send no cookie and rarely a useful Accept-Language, and
shared caches key on the address. The language is part of the cache key. A private
feed is in its attendee's language (the one they registered in), unless `?lang=`
names another.

Private feeds are built on every request instead: they hold a few events and depend on
registrations too, which change all day. A ticket's feed (its token is the key) holds
that one registration's event; the attendee's own feed (the secret their mails carry is
the key) holds all of theirs.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from festival.calendar import ics
from festival.core import i18n, times
from festival.core.errors import NotFound, _
from festival.core.text import city_slug
from festival.programme import queries
from festival.seats import registrations
from festival.web import revalidation
from festival.web.templating import render

MEDIA_TYPE = "text/calendar"  # Starlette adds "; charset=utf-8"
CACHE_ENTRIES = 512
PUBLIC_CACHE = "public, max-age=300"
PRIVATE_CACHE = "private, no-cache"


@dataclass(frozen=True)
class Feed:
    """One built feed, ready to answer requests."""

    version: int
    body: bytes
    etag: str
    last_modified: str  # HTTP date
    filename: str


Builder = Callable[[Any], Awaitable[tuple[str, str, list[dict[str, Any]]]]]


class FeedCache:
    """Built feeds by key, least recently used dropped first. A feed being built is
    built once: a burst of requests after a change waits for the same build."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._feeds: OrderedDict[tuple[Any, ...], Feed] = OrderedDict()
        self._building: dict[tuple[Any, ...], tuple[int, asyncio.Task[Feed]]] = {}

    def get(self, key: tuple[Any, ...], version: int) -> Feed | None:
        feed = self._feeds.get(key)
        if feed is None or feed.version != version:
            return None
        self._feeds.move_to_end(key)
        return feed

    def put(self, key: tuple[Any, ...], feed: Feed) -> None:
        self._feeds[key] = feed
        self._feeds.move_to_end(key)
        while len(self._feeds) > self.size:
            self._feeds.popitem(last=False)

    async def get_or_build(self, key: tuple[Any, ...], version: int,
                           build: Callable[[], Awaitable[Feed]]) -> Feed:
        feed = self.get(key, version)
        if feed is not None:
            return feed
        building = self._building.get(key)
        if building is None or building[0] != version:
            task = asyncio.ensure_future(build())
            # Whoever waits sees the outcome; none waiting must not leave it unretrieved.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            building = self._building[key] = (version, task)
        try:
            # Shielded: one visitor hanging up does not cancel the build others await.
            feed = await asyncio.shield(building[1])
        finally:
            if self._building.get(key) is building and building[1].done():
                del self._building[key]
        self.put(key, feed)
        return feed


def feed_cache(app: Starlette) -> FeedCache:
    cache = getattr(app.state, "feed_cache", None)
    if cache is None:
        cache = app.state.feed_cache = FeedCache()
    return cache


# --- serving -----------------------------------------------------------------------------

def feed_language(request: Request) -> str:
    """The language a public feed's address names (`?lang=`), else English."""
    return i18n.known_locale(request.query_params.get("lang"))


async def serve_cached(request: Request, key: tuple[Any, ...], build: Builder) -> Response:
    """The feed named by `key` in the language of its address, from the cache while the
    programme is unchanged."""
    language = feed_language(request)
    i18n.use_locale(language)  # for the builder's names (a country, "my ticket")
    version, changed_at = await queries.programme_version(request.app.state.db)
    feed = await feed_cache(request.app).get_or_build(
        (*key, language), version,
        lambda: _build(request, build, version, changed_at, language))
    response = respond(request, feed, PUBLIC_CACHE)
    # The next conditional request for this URL can be answered before routing.
    revalidation.remembered(request.app).remember(
        request.scope, feed.version, feed.etag, feed.last_modified,
        feed_headers(feed, PUBLIC_CACHE))
    return response


async def _build(request: Request, build: Builder, version: int, changed_at: str,
                 language: str) -> Feed:
    name, filename, screenings = await build(request.app.state.db)
    organiser_name, organiser_email = organiser(request)
    screenings = [i18n.localize(s, language) for s in screenings]
    # Thousands of events take a while: off the event loop, so other requests go on.
    body = await run_in_threadpool(
        i18n.call_in_locale, language, ics.feed, screenings, name=name,
        base_url=request.app.state.settings.base_url, organiser_email=organiser_email,
        organiser_name=organiser_name)
    return Feed(version, body, ics.etag(body), http_date(changed_at), filename)


def feed_headers(feed: Feed, cache_control: str) -> dict[str, str]:
    return {"ETag": feed.etag, "Last-Modified": feed.last_modified,
            "Cache-Control": cache_control,
            "Content-Disposition": f'inline; filename="{feed.filename}"'}


def respond(request: Request, feed: Feed, cache_control: str) -> Response:
    """200 with the feed, 304 for a matching conditional request, HEAD without body."""
    headers = feed_headers(feed, cache_control)
    if not_modified(request, feed):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(feed.body))
        return Response(b"", media_type=MEDIA_TYPE, headers=headers)
    return Response(feed.body, media_type=MEDIA_TYPE, headers=headers)


def not_modified(request: Request, feed: Feed) -> bool:
    return revalidation.not_modified(request.headers.get("if-none-match"),
                                     request.headers.get("if-modified-since"),
                                     feed.etag, feed.last_modified)


def http_date(utc_text: str) -> str:
    return email.utils.format_datetime(times.parse_utc(utc_text), usegmt=True)


def organiser(request: Request) -> tuple[str, str]:
    """(name, address) of the festival as the events' ORGANIZER, from its mail sender."""
    name, address = email.utils.parseaddr(request.app.state.settings.mail_from)
    return name or i18n.gettext("Global Migration Film Festival"), address


# --- the feeds ---------------------------------------------------------------------------

async def _screenings(db: Any, edition: dict[str, Any],
                      filters: queries.Filters | None = None) -> list[dict[str, Any]]:
    return await queries.screenings_with_guests(db, edition["id"], filters)


def _edition_key(request: Request) -> str | None:
    return request.query_params.get("edition") or None


async def festival_feed(request: Request) -> Response:
    key = _edition_key(request)

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        edition = await queries.edition_by_key(db, key)
        return edition["name"], f"festival-{edition['key']}.ics", await _screenings(db, edition)

    return await serve_cached(request, ("festival", key), build)


async def venue_feed(request: Request) -> Response:
    venue_id, key = request.path_params["id"], _edition_key(request)

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        venue = await queries.get_venue(db, venue_id)
        edition = await queries.edition_by_key(db, key)
        screenings = await _screenings(db, edition, queries.Filters(venue_id=venue_id))
        return (f"{edition['name']} – {venue['name']} ({venue['city']})",
                f"venue-{venue_id}.ics", screenings)

    return await serve_cached(request, ("venue", venue_id, key), build)


async def country_feed(request: Request) -> Response:
    code, key = request.path_params["cc"].upper(), _edition_key(request)
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise NotFound(_("There is no such country in the programme."))

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        if not await queries.has_country(db, code):
            raise NotFound(_("There is no such country in the programme."))
        edition = await queries.edition_by_key(db, key)
        screenings = await _screenings(db, edition, queries.Filters(country=code))
        return (f"{edition['name']} – {ics.country_name(code)}",
                f"country-{code.lower()}.ics", screenings)

    return await serve_cached(request, ("country", code, key), build)


async def city_feed(request: Request) -> Response:
    slug, key = city_slug(request.path_params["city"]), _edition_key(request)

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        cities = await queries.list_cities(db)
        city = next((c for c in cities if city_slug(c) == slug), None)
        if city is None:
            raise NotFound(_("There is no such city in the programme."))
        edition = await queries.edition_by_key(db, key)
        screenings = await _screenings(db, edition, queries.Filters(city=city))
        return f"{edition['name']} – {city}", f"city-{slug}.ics", screenings

    return await serve_cached(request, ("city", slug, key), build)


async def guest_feed(request: Request) -> Response:
    guest_id, key = request.path_params["id"], _edition_key(request)

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        guest = await queries.get_guest(db, guest_id, public=True)  # listed guests only
        edition = await queries.edition_by_key(db, key)
        screenings = await _screenings(db, edition, queries.Filters(guest_id=guest_id))
        return f"{edition['name']} – {guest['name']}", f"guest-{guest_id}.ics", screenings

    return await serve_cached(request, ("guest", guest_id, key), build)


async def film_feed(request: Request) -> Response:
    film_id, key = request.path_params["id"], _edition_key(request)

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        film = i18n.localize(await queries.get_film(db, film_id))
        edition = await queries.edition_by_key(db, key)
        screenings = await _screenings(db, edition, queries.Filters(film_id=film_id))
        return f"{edition['name']} – {film['title']}", f"film-{film_id}.ics", screenings

    return await serve_cached(request, ("film", film_id, key), build)


async def screening_feed(request: Request) -> Response:
    """One screening, for "add to calendar"."""
    screening_id = request.path_params["id"]

    async def build(db: Any) -> tuple[str, str, list[dict[str, Any]]]:
        screening = await queries.get_screening(db, screening_id, public=True)
        return (i18n.localize(screening)["title"], f"screening-{screening_id}.ics",
                [screening])

    return await serve_cached(request, ("screening", screening_id), build)


async def ticket_feed(request: Request) -> Response:
    """One registration's event with its status. Private: the token is the only key, and
    it shows nothing of the attendee's other registrations."""
    db: Any = request.app.state.db
    tickets, stamp = await registrations.ticket_events(db, request.path_params["token"])
    return await _private_feed(request, tickets, stamp,
                               _("Global Migration Film Festival – my ticket"), "ticket.ics")


async def my_feed(request: Request) -> Response:
    """Every registration of the attendee whose secret (only ever mailed) this is."""
    db: Any = request.app.state.db
    tickets, stamp = await registrations.attendee_registrations(
        db, request.path_params["secret"])
    return await _private_feed(request, tickets, stamp,
                               _("Global Migration Film Festival – my registrations"),
                               "my-registrations.ics")


def attendee_language(request: Request, tickets: list[Any]) -> str:
    """A private feed's language: `?lang=` when it names one, else the language of the
    attendee's latest registration (the one they last registered in)."""
    chosen = request.query_params.get("lang")
    if chosen in i18n.CATALOGUES:
        return chosen
    spoken = [r["locale"] for r, _s in tickets if r.get("locale")]  # oldest first
    return i18n.known_locale(spoken[-1] if spoken else None)


async def _private_feed(request: Request, tickets: list[Any], stamp: str, name: str,
                        filename: str) -> Response:
    language = attendee_language(request, tickets)
    i18n.use_locale(language)
    organiser_name, organiser_email = organiser(request)
    localized = [(r, i18n.localize(s, language)) for r, s in tickets]
    body = i18n.call_in_locale(
        language, ics.ticket_feed, localized, name=i18n.gettext(name),
        base_url=request.app.state.settings.base_url, organiser_email=organiser_email,
        organiser_name=organiser_name)
    _version, changed_at = await queries.programme_version(request.app.state.db)
    feed = Feed(0, body, ics.etag(body), http_date(max(stamp, changed_at)), filename)
    return respond(request, feed, PRIVATE_CACHE)


# --- the subscribe page ------------------------------------------------------------------

def feed_urls(request: Request, name: str, **params: Any) -> dict[str, str]:
    """The https and webcal:// addresses of a feed, absolute from the base URL."""
    https = request.app.state.settings.base_url + str(request.app.url_path_for(name, **params))
    return {"https": https, "webcal": re.sub(r"^https?://", "webcal://", https)}


async def subscribe(request: Request) -> Response:
    db: Any = request.app.state.db
    edition = await queries.edition_by_key(db, _edition_key(request))
    screenings = await queries.list_screenings(db, edition["id"])
    venues = {s["venue_id"]: s for s in screenings}
    countries = i18n.by_country_name({s["country"] for s in screenings})
    cities = sorted({s["city"] for s in screenings})
    feeds = {
        "festival": feed_urls(request, "feed_festival"),
        "countries": [(ics.country_name(c), feed_urls(request, "feed_country", cc=c))
                      for c in countries],
        "cities": [(c, feed_urls(request, "feed_city", city=city_slug(c))) for c in cities],
        "venues": [(f"{v['venue_name']} ({v['city']})",
                    feed_urls(request, "feed_venue", id=venue_id))
                   for venue_id, v in sorted(venues.items(), key=lambda i: i[1]["venue_name"])],
    }
    return render(request, "public/subscribe.html", {"edition": edition, "feeds": feeds})


routes = [
    Route("/feeds/festival.ics", festival_feed, name="feed_festival"),
    Route("/feeds/venues/{id:int}.ics", venue_feed, name="feed_venue"),
    Route("/feeds/countries/{cc}.ics", country_feed, name="feed_country"),
    Route("/feeds/cities/{city}.ics", city_feed, name="feed_city"),
    Route("/feeds/guests/{id:int}.ics", guest_feed, name="feed_guest"),
    Route("/feeds/films/{id:int}.ics", film_feed, name="feed_film"),
    Route("/feeds/tickets/{token}.ics", ticket_feed, name="feed_ticket"),
    Route("/feeds/my/{secret}.ics", my_feed, name="feed_my"),
    Route("/screenings/{id:int}.ics", screening_feed, name="screening_ics"),
    Route("/subscribe", subscribe, name="subscribe"),
]

__all__ = ["FeedCache", "feed_urls", "routes"]
