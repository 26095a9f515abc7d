"""The JSON API under /api/v1, as CONTRACT.md names it. Times are wall-clock times at the
venue with that day's UTC offset; errors use the one shape from festival.app."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from festival import programme, times
from festival.openapi import SPEC


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
    edition = await programme.edition_by_key(db, request.query_params.get("edition"))
    screenings = await programme.list_screenings(db, edition["id"])
    return JSONResponse([screening_json(s) for s in screenings])


async def get_screening(request: Request) -> JSONResponse:
    screening = await programme.get_screening(request.app.state.db, request.path_params["id"])
    return JSONResponse(screening_detail_json(screening))


async def healthz(request: Request) -> JSONResponse:
    await request.app.state.db.fetch_one("SELECT 1")
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(SPEC)


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/api/v1/openapi.json", openapi, name="api_openapi"),
    Route("/api/v1/screenings", list_screenings, name="api_screenings"),
    Route("/api/v1/screenings/{id:int}", get_screening, name="api_screening"),
]
