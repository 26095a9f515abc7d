"""The JSON API under /api/v1 (docs/http.md describes it). Times are wall-clock times at the
venue with that day's UTC offset; errors use the one shape from festival.web.app.

Registrations are created with a JSON body only: a browser cannot send
`application/json` to another site without a CORS preflight we never grant, so the API
needs no CSRF token; the registration token is the key to read or cancel one. Only the
request that creates a registration is answered its token: registering again with a
known address answers its status, seats and screening, and the ticket link goes to that
address by mail. No answer holds an attendee's own secret (festival.seats.registrations)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from festival.core import times
from festival.core.errors import FestivalError, _
from festival.core.i18n import Text, current_locale, localize
from festival.programme import queries, search
from festival.seats import registrations
from festival.web import templating
from festival.web.openapi import SPEC
from festival.web.page_cache import Kept, keep, page_cache, with_counts
from festival.web.views import json_object, whole_number


def language_headers() -> dict[str, str]:
    """Titles and descriptions come in the reader's language (`?lang=`, else
    Accept-Language; festival.web.templating), each falling back to the original: the
    answer says which, and caches keep the languages apart."""
    return {"Content-Language": current_locale(), "Vary": "Accept-Language"}


def screening_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"],
        "key": s["key"],
        "title": s["title"],
        "venue": s["venue_name"],
        "city": s["city"],
        "country": s["country"],
        "timezone": s["timezone"],
        "starts_at": times.local_iso(s["starts_at"], s["timezone"]),
        "ends_at": times.local_iso(s["ends_at"], s["timezone"]),
        "capacity": s["capacity"],
        "seats_left": s["seats_left"],
        "waitlist": s["waitlist"],
        "status": s["status"],
        "max_seats": s["max_seats"],
        "language": s["language"],
        "subtitles": s["subtitle_list"],
        "sign_interpretation": bool(s["sign_interpretation"]),
        "captioned_debate": bool(s["captioned_debate"]),
        "edition": s["edition_key"],
    }


def screening_detail_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        **screening_json(s),
        "film": {"key": s["film_key"], "title": s["title"], "runtime_minutes": s["runtime_minutes"],
                 "synopsis": s["synopsis"], "director": s["director"], "year": s["year"],
                 "languages": s["language_list"]},
        "venue": {"id": s["venue_id"], "key": s["venue_key"], "name": s["venue_name"],
                  "address": s["address"], "city": s["city"], "country": s["country"],
                  "timezone": s["timezone"], "capacity": s["venue_capacity"],
                  "step_free": bool(s["step_free"])},
        "debate": {"title": s["debate_title"], "description": s["debate_description"],
                   "guests": [{"name": g["name"], "role": g["role"],
                               "organisation": g["organisation"]} for g in s["guests"]]},
    }


# Pages of the screenings list, for clients that ask for them (?limit= or ?after=);
# without either the list comes whole, as it always has (the contract).
DEFAULT_PAGE = 100  # ?after= without ?limit=
MAX_PAGE = 1000
# A position in the list, after the screening that starts at this UTC moment with this
# id: 20261205T180000Z.1234. Any such text is a position, also once that screening has
# moved or gone, so pages stay stable while the programme changes.
CURSOR = re.compile(r"([0-9]{8})T([0-9]{6})Z\.([0-9]{1,18})")


@dataclass(frozen=True)
class Paging:
    limit: int
    after: tuple[str, int] | None  # (starts_at as stored, id) of the screening before


def cursor(screening: dict[str, Any]) -> str:
    """The position after `screening` in the list (its UTC start, then its id)."""
    return f"{screening['starts_at'].replace('-', '').replace(':', '')}.{screening['id']}"


def paging(request: Request) -> Paging | None:
    """The page asked for (`limit`, `after`); None for the whole list. A bad value is
    refused (400) and names its parameter."""
    params = request.query_params
    if "limit" not in params and "after" not in params:
        return None
    limit = DEFAULT_PAGE
    if "limit" in params:
        number = whole_number(params["limit"], 9)
        if number is None or not 1 <= number <= MAX_PAGE:
            raise FestivalError(fields={"limit": Text(_("must be from %(low)d to %(high)d"),
                                                      low=1, high=MAX_PAGE)})
        limit = number
    after = None
    if "after" in params:
        found = CURSOR.fullmatch(params["after"])
        if found is None:
            raise FestivalError(fields={"after": _(
                "must be a position from a Link header of this list, such as "
                "20261205T180000Z.1234")})
        day, clock, screening_id = found.groups()
        after = (f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}Z",
                 int(screening_id))
    return Paging(limit, after)


async def list_screenings(request: Request) -> Response:
    """The edition's screenings, whole or a page at a time, kept per address and
    language while they are still right (festival.web.page_cache): with an ETag, 304 to a
    matching conditional request."""
    pages = paging(request)
    return await page_cache(request.app).serve(request,
                                               lambda: screening_list(request, pages))


async def screening_list(request: Request, pages: Paging | None) -> Kept:
    db = request.app.state.db
    # The version first: a change landing meanwhile makes this answer stale at once.
    version, _changed_at = await queries.programme_version(db)
    edition = await queries.edition_by_key(
        db, request.query_params.get("edition", "").strip() or None)  # empty: the current
    cache: queries.ScreeningCache = request.app.state.screening_cache
    screenings = await cache.screenings(db, edition["id"])
    seats = await page_cache(request.app).seats.current(db, cache, edition["id"])
    # ?q= searches as the programme page does (titles, guests, cities, debates).
    filters = await search.resolve(db, queries.Filters(
        q=request.query_params.get("q", "").strip()[:100]))
    whole = not filters.q and pages is None  # every screening's seats are in it
    if filters.q:
        screenings = [s for s in screenings if filters.matches(s)]
    headers = language_headers()
    if pages is not None:
        rest = screenings if pages.after is None else [
            s for s in screenings if (s["starts_at"], s["id"]) > pages.after]
        screenings = rest[:pages.limit]
        if len(rest) > pages.limit:
            headers["Link"] = f'<{next_page(request, pages, screenings[-1])}>; rel="next"'
    body = json_list(screening_json(localize(s)) for s in with_counts(screenings, seats))
    return keep(body, "application/json", version=version, edition_id=edition["id"],
                seats=seats, ids=None if whole else [s["id"] for s in screenings],
                headers=headers)


JSON_CHUNK = 256  # items encoded at a time by json_list


def json_list(items: Iterable[Any]) -> bytes:
    """The bytes JSONResponse makes of a list of these items, made a few items at a
    time: the whole list's dicts and text at once weighed tens of megabytes at 10,000
    screenings, in every worker."""
    parts: list[bytes] = []
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == JSON_CHUNK:
            parts.append(JSONResponse(chunk).body[1:-1])
            chunk = []
    if chunk:
        parts.append(JSONResponse(chunk).body[1:-1])
    return b"[" + b",".join(parts) + b"]"


def next_page(request: Request, pages: Paging, last: dict[str, Any]) -> str:
    """The absolute address of the page after `last`: this one's query, with the same
    limit and the position after it."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "after")]
    query = urlencode([*kept, ("limit", str(pages.limit)), ("after", cursor(last))])
    return (request.app.state.settings.base_url + route_path(request, "api_screenings")
            + "?" + query)


async def get_screening(request: Request) -> JSONResponse:
    screening = await queries.get_screening(request.app.state.db, request.path_params["id"])
    return JSONResponse(screening_detail_json(localize(screening)), headers=language_headers())


def route_path(request: Request, name: str, **params: Any) -> str:
    """url_path_for through a cached name -> route map: the app's own lookup tries every
    route in turn, a measurable share of a registration's time."""
    named = getattr(request.app.state, "routes_by_name", None)
    if named is None:
        named = {r.name: r for r in request.app.routes if isinstance(r, Route)}
        request.app.state.routes_by_name = named
    return str(named[name].url_path_for(name, **params))


def registration_json(request: Request, r: dict[str, Any]) -> dict[str, Any]:
    base = request.app.state.settings.base_url
    return {
        "token": r["token"],
        "status": r["status"],
        "seats": r["seats"],
        "screening_id": r["screening_id"],
        "name": r["name"],
        "email": r["email"],
        "waitlist_position": r["waitlist_position"],
        "created_at": r["created_at"],
        "confirmed_at": r["confirmed_at"],
        "cancelled_at": r["cancelled_at"],
        "held_until": r["held_until"] if r["status"] == "held" else None,
        "cancel_reason": r["cancel_reason"] if r["status"] == "cancelled" else None,
        "ticket_url": base + route_path(request, "ticket", token=r["token"]),
        "url": base + route_path(request, "api_registration", token=r["token"]),
    }


async def create_registration(request: Request) -> JSONResponse:
    data = await json_object(request, what=_("Send a JSON object with name, email and seats."))
    registration, created = await registrations.register(
        request.app.state.db, request.path_params["id"], data.get("name"), data.get("email"),
        data.get("seats"), locale=templating.current_locale(), resend_ticket=True)
    if not created:
        # Whoever sent this address may not own it: its ticket goes to the mailbox only.
        return JSONResponse(existing_json(registration), status_code=200)
    body = registration_json(request, registration)
    return JSONResponse(body, status_code=201, headers={"Location": body["url"]})


def existing_json(r: dict[str, Any]) -> dict[str, Any]:
    """The answer to registering again with a known address: where that registration
    stands, nothing that reaches it (no token, no link)."""
    return {"status": r["status"], "seats": r["seats"], "screening_id": r["screening_id"]}


async def get_registration(request: Request) -> JSONResponse:
    registration = await registrations.get_registration(
        request.app.state.db, request.path_params["token"])
    return JSONResponse({**registration_json(request, registration),
                         "screening": screening_json(localize(registration["screening"]))},
                        headers=language_headers())


async def cancel_registration(request: Request) -> JSONResponse:
    registration = await registrations.cancel(request.app.state.db, request.path_params["token"])
    return JSONResponse(registration_json(request, registration))


async def healthz(request: Request) -> JSONResponse:
    await queries.ping(request.app.state.db)
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(SPEC)


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/api/v1/openapi.json", openapi, name="api_openapi"),
    Route("/api/v1/screenings", list_screenings, name="api_screenings"),
    Route("/api/v1/screenings/{id:int}", get_screening, name="api_screening"),
    Route("/api/v1/screenings/{id:int}/registrations", create_registration, methods=["POST"],
          name="api_registrations"),
    Route("/api/v1/registrations/{token}", get_registration, methods=["GET"],
          name="api_registration"),
    Route("/api/v1/registrations/{token}", cancel_registration, methods=["DELETE"],
          name="api_registration_cancel"),
]
