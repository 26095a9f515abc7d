"""Public pages: the programme with its filters, a screening, a venue and a film.

Why the programme is cut into days: the demo edition holds 5,000+ screenings, and a
page listing them all weighs megabytes and helps nobody. Up to PAGE_SIZE matches are
shown at once; beyond that, with no day chosen, the first day with matches is shown
(today's, during the festival) and links lead to every other day; a day that alone
holds more than PAGE_SIZE is split into numbered pages. Everything is a plain link or
a GET form, so it works without JavaScript and every view has an address to share.

Within a day, screenings stay in the order they really happen (UTC), each shown at
its venue's local time with that zone's name and offset."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_interval
from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from festival.calendar import google
from festival.core import times
from festival.core.errors import _
from festival.core.i18n import by_country_name, localize
from festival.core.text import city_slug
from festival.programme import posters, queries, search
from festival.seats import registrations
from festival.web.page_cache import Kept, keep, page_cache, with_counts
from festival.web.templating import PAGE_VARY, format_locale, gettext, render, render_shared
from festival.web.views import optional_path, paged, whole_number

PAGE_SIZE = 200
FILTER_PARAMS = ("q", "country", "city", "date", "language", "subtitles", "step_free",
                 "sign_interpretation", "captioned_debate")
ACCESS_FLAGS = ("step_free", "sign_interpretation", "captioned_debate")
# Shown (after a redirect to ?notice=already-registered#register) when the registration
# form is sent again with a known address: the ticket goes to that mailbox only.
ALREADY_REGISTERED = _(
    "This email address is already registered for this screening. Its ticket link is in "
    "the email we sent to it (sent again unless it went out a few minutes ago): please "
    "check that inbox, and its spam folder.")


# --- input --------------------------------------------------------------------------------

def parse_filters(params: Mapping[str, str]) -> queries.Filters:
    """The visitor's filters from the query string. Values we cannot use (a malformed
    date, an over-long search) are dropped or cut rather than refused: a shared or
    hand-edited link should still show a programme."""
    def text(name: str, limit: int = 100) -> str:
        return params.get(name, "").strip()[:limit]

    return queries.Filters(
        country=text("country", 10), city=text("city"), day=_parse_day(text("date", 10)),
        language=text("language", 12), subtitles=text("subtitles", 12), q=text("q"),
        **{flag: bool(params.get(flag)) for flag in ACCESS_FLAGS},
    )


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _edition_key(request: Request) -> str | None:
    """?edition=KEY, or None (an empty value too) for the current edition."""
    return request.query_params.get("edition", "").strip() or None


def _page_number(value: str | None) -> int:
    number = whole_number(value, 4)
    return number if number else 1


def filter_choices(screenings: list[dict[str, Any]],
                   helpers: dict[str, Callable[..., Any]]) -> dict[str, list[Any]]:
    """What the filter menus offer: the values occurring in the edition's screenings,
    countries and languages in the order of their names in the reader's language.
    The same as queries.filter_choices, but from the list this page has already
    loaded: building 5,000 screening dicts twice doubled the page's time."""
    languages = {c for s in screenings for c in s["language_list"]}
    languages |= {s["language"] for s in screenings if s["language"]}
    by_name = helpers["language_name"]
    return {
        "countries": by_country_name({s["country"] for s in screenings}),
        "cities": sorted({s["city"] for s in screenings}),
        "days": sorted({s["local_date"] for s in screenings}),
        "languages": sorted(languages, key=by_name),
        "subtitles": sorted({c for s in screenings for c in s["subtitle_list"]}, key=by_name),
    }


def programme_feeds(request: Request, filters: queries.Filters, choices: dict[str, list[Any]],
                    edition_key: str | None, country_name: Callable[[str], str]
                    ) -> list[tuple[str, str]]:
    """(label, path) of the calendar feeds for what the visitor is looking at: the
    festival, and the country or city they narrowed it to."""
    url = request.app.url_path_for
    feeds = [(gettext("Every screening of the festival"), str(url("feed_festival")))]
    country = filters.country.upper()
    if country in choices["countries"]:
        feeds.append((gettext("Screenings in %(country)s") % {"country": country_name(country)},
                      str(url("feed_country", cc=country))))
    city = next((c for c in choices["cities"] if c.casefold() == filters.city.casefold()), None)
    if city:
        feeds.append((gettext("Screenings in %(city)s") % {"city": city},
                      str(url("feed_city", city=city_slug(city)))))
    query = "?" + urlencode({"edition": edition_key}) if edition_key else ""
    return [(label, path + query) for label, path in feeds]


# --- shaping a programme into pages -------------------------------------------------------

def choose_day(days: list[date], today: date) -> date | None:
    """The day shown when there are too many matches: today's during the festival, the
    next one before or between days, the first once it is over."""
    upcoming = [d for d in days if d >= today]
    return upcoming[0] if upcoming else (days[0] if days else None)


def group_by_day(screenings: list[dict[str, Any]]) -> list[tuple[date, list[dict[str, Any]]]]:
    """Screenings under their venue-local day, days in order, each day in real order."""
    by_day = sorted(screenings, key=lambda s: (s["local_date"], s["starts_at"], s["id"]))
    return [(day, list(items)) for day, items in groupby(by_day, key=lambda s: s["local_date"])]


def shape_programme(screenings: list[dict[str, Any]], filters: queries.Filters,
                    page: int, today: date) -> dict[str, Any]:
    """What the programme page shows: matches, the day links and the current slice
    (`shown`, in start order)."""
    any_day = replace(filters, day=None)
    matching_any_day = [s for s in screenings if any_day.matches(s)]
    day_counts = [(day, len(items)) for day, items in group_by_day(matching_any_day)]
    day = filters.day
    auto_day = False
    if day is None and len(matching_any_day) > PAGE_SIZE:
        day, auto_day = choose_day([d for d, _n in day_counts], today), True
    matching = [s for s in matching_any_day if day is None or s["local_date"] == day]
    shown, page, pages = paged(matching, page, PAGE_SIZE)
    return {"shown": shown, "day_counts": day_counts, "day": day,
            "auto_day": auto_day, "total": len(matching_any_day), "matching": len(matching),
            "page": page, "pages": pages}


# --- helpers for templates ----------------------------------------------------------------

def template_helpers(request: Request) -> dict[str, Callable[..., Any]]:
    """Functions the public templates call, bound to this request and its language."""
    locale = Locale.parse(format_locale())

    def link_with(**changes: Any) -> str:
        """This page's address with some query parameters changed (None drops one)."""
        params = dict(request.query_params)
        params.pop("lang", None)
        params.update(changes)
        kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
        return request.url.path + ("?" + urlencode(kept) if kept else "")

    return {
        "url_or_none": lambda name, **params: optional_path(request, name, **params),
        "booking_state": registrations.booking_state,
        "link_with": link_with,
        "country_name": lambda code: locale.territories.get(code, code),
        "language_name": lambda code: locale.languages.get(code, code),
        "language_names": lambda codes: ", ".join(locale.languages.get(c, c) for c in codes),
        "number": lambda n: format_decimal(n, locale=locale),
        "date_range": lambda start, end: format_interval(
            date.fromisoformat(start), date.fromisoformat(end), "yMMMMd", locale=locale),
    }


def page(request: Request, template: str, context: dict[str, Any], *,
         status_code: int = 200) -> Response:
    return render(request, template, {**template_helpers(request), **context},
                  status_code=status_code)


# --- views --------------------------------------------------------------------------------

async def index(request: Request) -> Response:
    """The programme, kept per address and language while it is still right
    (festival.web.page_cache): a warm request costs a lookup, a matching conditional one
    a 304. It shows no form that needs a token, so it sets no cookie and caches in front
    may keep it."""
    return await page_cache(request.app).serve(request, lambda: programme_page(request))


async def programme_page(request: Request) -> Kept:
    db = request.app.state.db
    # The version first: a change landing meanwhile makes this page stale at once.
    version, _changed_at = await queries.programme_version(db)
    edition_key = _edition_key(request)
    edition = await queries.edition_by_key(db, edition_key)
    filters = await search.resolve(db, parse_filters(request.query_params))
    cache: queries.ScreeningCache = request.app.state.screening_cache
    screenings = await cache.screenings(db, edition["id"])
    seats = await page_cache(request.app).seats.current(db, cache, edition["id"])
    helpers = template_helpers(request)
    now = times.utc_now()
    shaped = shape_programme(screenings, filters, _page_number(request.query_params.get("page")),
                             now.date())
    shown = [localize(s) for s in with_counts(shaped.pop("shown"), seats)]
    choices = filter_choices(screenings, helpers)
    body = render_shared(request, "public/programme.html", {
        **helpers,
        "edition": edition,
        "edition_key": edition_key,
        # Over everywhere (a day's margin for the zones behind UTC): nothing to try.
        "edition_ended": str(edition["ends_on"])
        < (now.date() - timedelta(days=1)).isoformat(),
        "editions": await queries.list_editions(db),
        "filters": filters,
        "filtering": any(request.query_params.get(p) for p in FILTER_PARAMS),
        "choices": choices,
        "feeds": programme_feeds(request, filters, choices, edition_key,
                                 helpers["country_name"]),
        "clear_url": helpers["link_with"](**dict.fromkeys((*FILTER_PARAMS, "page"))),
        "groups": group_by_day(shown),
        **shaped,
    })
    return keep(body, "text/html", version=version, edition_id=edition["id"], seats=seats,
                ids=[s["id"] for s in shown], until=changes_by_itself(shown, now),
                headers={"Vary": PAGE_VARY})


def changes_by_itself(shown: list[dict[str, Any]], now: datetime) -> float:
    """When the programme page showing `shown` changes with time alone (time.time()):
    the next start or end of a screening it shows (its registration closes), or the
    next midnight UTC (the day it opens on, "this edition has ended")."""
    moment = times.utc_text(now)
    coming = [t for s in shown for t in (s["starts_at"], s["ends_at"]) if t and t > moment]
    midnight = (math.floor(now.timestamp() / 86400) + 1) * 86400.0
    if not coming:
        return midnight
    return min(times.parse_utc(min(coming)).timestamp(), midnight)


async def render_screening(request: Request, screening: dict[str, Any],
                           status_code: int = 200, **extra: Any) -> Response:
    """The screening page, also for views that show it again (e.g. a registration form
    with errors: pass `errors=`, `form=` and the like in `extra`)."""
    shown = localize(screening)
    return page(request, "public/screening.html", {
        "screening": shown,
        "poster": await posters.about(request.app.state.db, screening["film_id"]),
        "google_calendar": None if shown["status"] == "cancelled" else google.calendar_url(
            shown, request.app.state.settings.base_url),
        **extra}, status_code=status_code)


async def screening_detail(request: Request) -> Response:
    screening = await queries.get_screening(request.app.state.db, request.path_params["id"])
    notice = (ALREADY_REGISTERED
              if request.query_params.get("notice") == "already-registered" else None)
    return await render_screening(request, screening, registration_notice=notice,
                                  booking=registrations.booking_state(screening))


async def venue_detail(request: Request) -> Response:
    db = request.app.state.db
    venue = await queries.get_venue(db, request.path_params["id"])
    edition = await queries.edition_by_key(db, _edition_key(request))
    screenings = await queries.list_screenings(
        db, edition["id"], queries.Filters(venue_id=venue["id"]))
    return page(request, "public/venue.html", {
        "venue": venue, "edition": edition,
        "groups": group_by_day([localize(s) for s in screenings]),
        "count": len(screenings)})


async def film_detail(request: Request) -> Response:
    db = request.app.state.db
    film = await queries.get_film(db, request.path_params["id"])
    edition = await queries.edition_by_key(db, _edition_key(request))
    screenings = await queries.list_screenings(
        db, edition["id"], queries.Filters(film_id=film["id"]))
    return page(request, "public/film.html", {
        "film": localize(film), "edition": edition,
        "poster": await posters.about(db, film["id"]),
        "groups": group_by_day([localize(s) for s in screenings]),
        "count": len(screenings)})


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page links: the icon is an SVG file."""
    return RedirectResponse(request.app.url_path_for("static", path="favicon.svg"),
                            status_code=301)


routes = [
    Route("/", index, name="programme"),
    Route("/favicon.ico", favicon, name="favicon"),
    Route("/screenings/{id:int}", screening_detail, name="screening"),
    Route("/venues/{id:int}", venue_detail, name="venue"),
    Route("/films/{id:int}", film_detail, name="film"),
]
