"""The catalogue's extra organiser pages (the forms themselves: festival.web.views.admin):
removing a venue, film or guest after a confirmation, and a film's poster (upload,
removal) with the public address that serves it, /posters/{film_id}.{ext}.

Who may call each route is declared in festival.web.routes; the rules live in
festival.programme.removal and festival.programme.posters. A poster upload is the one
request with a body larger than 64 KiB (festival.web.app.BODY_ALLOWANCES)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from festival.core.errors import Conflict, ValidationError
from festival.programme import catalogue, places, posters, removal
from festival.web.guards import signed_in
from festival.web.templating import gettext
from festival.web.views.admin import page, redirect, stored_values

POSTER_CACHE = "public, max-age=3600"  # pages link ?v=<digest>: a new poster is a new URL


async def form_extras(request: Request, kind: str, row: dict[str, Any] | None
                      ) -> dict[str, Any]:
    """What a venue's, film's or guest's form shows besides its fields: the lists of
    countries and time zones of a venue; a film's poster."""
    if kind == "venue":
        return {"countries": places.country_choices(), "zone_groups": places.zone_groups(),
                "other_zones": places.other_zones()}
    if kind == "film" and row is not None:
        return {"poster": await posters.about(request.app.state.db, row["id"])}
    return {}


# --- removing a venue, film or guest ----------------------------------------------------------

def _delete_route(kind: str) -> Route:
    plural = catalogue.KINDS[kind].table

    async def confirm(request: Request) -> Response:
        """GET: asks to confirm, or says what uses the row; POST: removes it."""
        organiser = signed_in(request)
        db = request.app.state.db
        row_id = request.path_params["id"]
        if request.method == "POST":
            await request.form()
            try:
                await removal.delete_row(db, organiser, kind, row_id)
            except Conflict as exc:
                return await _confirm_page(request, organiser, kind, row_id,
                                           error=gettext(exc.message), status_code=409)
            return redirect(request, f"admin_{plural}", "deleted")
        return await _confirm_page(request, organiser, kind, row_id)

    return Route(f"/admin/{plural}/{{id:int}}/delete", confirm, methods=["GET", "POST"],
                 name=f"admin_{kind}_delete")


async def _confirm_page(request: Request, organiser: dict[str, Any], kind: str, row_id: int,
                        *, error: str = "", status_code: int = 200) -> Response:
    row, in_use = await removal.to_delete(request.app.state.db, organiser, kind, row_id)
    return page(request, organiser, "admin/delete.html",
                {"kind": kind, "row": row, "in_use": error or in_use},
                status_code=status_code)


# --- posters -------------------------------------------------------------------------------------

async def poster_upload(request: Request) -> Response:
    organiser = signed_in(request)
    db = request.app.state.db
    film_id = request.path_params["id"]
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("poster")
        data = await upload.read(posters.MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    try:
        await posters.save(db, organiser, film_id, data)
    except ValidationError as exc:
        row = await catalogue.get_row(db, organiser, "film", film_id)
        return page(request, organiser, "admin/film_form.html",
                    {"row": row, "values": stored_values(dict(row)), "errors": exc.fields,
                     "error": gettext(exc.message),
                     **await form_extras(request, "film", row)}, status_code=422)
    return redirect(request, "admin_film", "poster", id=film_id)


async def poster_remove(request: Request) -> Response:
    organiser = signed_in(request)
    await request.form()
    film_id = request.path_params["id"]
    await posters.remove(request.app.state.db, organiser, film_id)
    return redirect(request, "admin_film", "poster_removed", id=film_id)


async def poster_image(request: Request) -> Response:
    """The poster's bytes, with its type (never sniffed: nosniff), ETag and caching."""
    poster, data = await posters.image(request.app.state.db, request.path_params["id"],
                                       request.path_params["ext"])
    etag = f'"{poster.etag}"'
    # X-Content-Type-Options: nosniff comes with every answer (festival.web.app).
    headers = {"ETag": etag, "Cache-Control": POSTER_CACHE, "Content-Disposition": "inline"}
    wanted = request.headers.get("if-none-match", "")
    if etag in [tag.strip().removeprefix("W/") for tag in wanted.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=poster.content_type, headers=headers)


routes: list[BaseRoute] = [
    Route("/posters/{id:int}.{ext}", poster_image, name="poster"),
]

organiser_routes: list[BaseRoute] = [
    _delete_route("venue"),
    _delete_route("film"),
    _delete_route("guest"),
    Route("/admin/films/{id:int}/poster", poster_upload, methods=["POST"],
          name="admin_film_poster"),
    Route("/admin/films/{id:int}/poster/remove", poster_remove, methods=["POST"],
          name="admin_film_poster_remove"),
]
