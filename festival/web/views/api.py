"""The JSON API under /api/v1 (docs/http.md describes it). Times are wall-clock times at the
venue with that day's UTC offset; errors use the one shape from festival.web.app.

Registrations are created with a JSON body only: a browser cannot send
`application/json` to another site without a CORS preflight we never grant, so the API
needs no CSRF token; the registration token is the key to read or cancel one. Only the
request that creates a registration is answered its token: registering again with a
known address answers its status, seats and screening, and the ticket link goes to that
address by mail. No answer holds an attendee's own secret (festival.seats.registrations)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from festival.core import times
from festival.core.errors import _
from festival.core.i18n import current_locale, localize
from festival.programme import queries, search
from festival.seats import registrations
from festival.web import templating
from festival.web.openapi import SPEC
from festival.web.views import json_object


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


async def list_screenings(request: Request) -> JSONResponse:
    db = request.app.state.db
    edition = await queries.edition_by_key(
        db, request.query_params.get("edition", "").strip() or None)  # empty: the current
    cache: queries.ScreeningCache = request.app.state.screening_cache
    screenings = await cache.screenings(db, edition["id"])
    # ?q= searches as the programme page does (titles, guests, cities, debates).
    filters = await search.resolve(db, queries.Filters(
        q=request.query_params.get("q", "").strip()[:100]))
    if filters.q:
        screenings = [s for s in screenings if filters.matches(s)]
    screenings = await cache.with_seats(db, edition["id"], screenings)
    return JSONResponse([screening_json(localize(s)) for s in screenings],
                        headers=language_headers())


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
