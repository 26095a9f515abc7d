"""Public pages: the programme and a screening's detail."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from festival import programme
from festival.templating import render


async def index(request: Request) -> Response:
    db = request.app.state.db
    edition = await programme.edition_by_key(db, request.query_params.get("edition"))
    screenings = await programme.list_screenings(db, edition["id"])
    return render(request, "public/programme.html", {"edition": edition, "screenings": screenings})


async def screening_detail(request: Request) -> Response:
    screening = await programme.get_screening(request.app.state.db, request.path_params["id"])
    return render(request, "public/screening.html", {"screening": screening})


routes = [
    Route("/", index, name="programme"),
    Route("/screenings/{id:int}", screening_detail, name="screening"),
]
