"""Organiser pages for the door: attendee list and CSV, the door (search, check-in,
walk-ins) and the check-in API for scanners.

Only signed-in organisers reach these routes (declared in festival.web.routes); the
domain (festival.seats.door) checks the organiser's country for each screening and
registration it touches. Refusals
at the door (already checked in, waitlisted, another screening, full) are part of the
job, not errors: the door page shows them in place, with the status code that fits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.numbers import format_percent
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from festival.core import times
from festival.core.errors import Conflict, NotFound, ValidationError, _
from festival.core.i18n import translate
from festival.seats import door
from festival.web import templating
from festival.web.guards import signed_in
from festival.web.templating import gettext, render
from festival.web.views import PRIVATE_HEADERS, form_number, json_object, whole_number

# --- helpers -------------------------------------------------------------------------------

def _helpers() -> dict[str, Callable[..., Any]]:
    locale = Locale.parse(templating.format_locale())

    def percent(rate: float | None) -> str:
        return "–" if rate is None else format_percent(rate, locale=locale)

    def bar_width(rate: float | None) -> str:
        """An SVG width out of 100 (bars are drawn with <rect>: the CSP forbids style=)."""
        return f"{max(0.0, min(1.0, rate or 0.0)) * 100:.1f}"

    return {"percent": percent, "bar_width": bar_width,
            "country_name": lambda code: locale.territories.get(code, code)}


def page(request: Request, organiser: dict[str, Any], template: str, context: dict[str, Any],
         *, status_code: int = 200) -> Response:
    return render(request, template, {"organiser": organiser, **_helpers(), **context},
                  status_code=status_code, headers=PRIVATE_HEADERS)


def _text(value: Any, limit: int = 200) -> str:
    """A form or query value as text (a file upload in its place counts as empty)."""
    return value.strip()[:limit] if isinstance(value, str) else ""


def _whole(value: Any) -> int | None:
    return whole_number(_text(value, 9))


def checked_in_sentence(r: dict[str, Any]) -> str:
    """'Already checked in at 7:02 PM CET (UTC+01:00) on 13 Dec 2099 by door@…': the
    first check-in, at the venue's local time."""
    moment: datetime = r["checked_in_local"]
    return gettext("Already checked in at %(time)s %(zone)s on %(date)s by %(who)s.") % {
        "time": templating.format_time(moment), "zone": templating.zone_label(moment),
        "date": templating.format_date(moment, "medium"),
        "who": r["checked_in_by_label"] or gettext("an organiser")}


# --- attendee list and CSV -----------------------------------------------------------------

async def attendee_list(request: Request) -> Response:
    # With the forms that manage each registration (festival.web.views.management).
    from festival.web.views import management

    return await management.attendee_page(request)


async def attendee_csv(request: Request) -> Response:
    organiser = signed_in(request)
    data = await door.attendees(request.app.state.db, organiser, request.path_params["id"])
    body = door.attendees_csv(data["confirmed"] + data["waitlist"] + data["cancelled"])
    filename = door.csv_filename(data["screening"])
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        **PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


# --- the door ------------------------------------------------------------------------------

async def door_page(request: Request, *, organiser: dict[str, Any] | None = None,
                    status_code: int = 200, **extra: Any) -> Response:
    """The door: counts, the ticket field, search results, the walk-in form. POST views
    show it again with `outcome` (what happened to a ticket) or walk-in `errors`."""
    organiser = organiser or signed_in(request)
    db = request.app.state.db
    screening_id = request.path_params["id"]
    data = await door.attendees(db, organiser, screening_id)
    query = _text(request.query_params.get("q"))
    results: list[dict[str, Any]] = []
    if query:
        try:
            results = await door.find(db, organiser, screening_id, query)
        except door.WrongScreening as exc:
            extra.setdefault("outcome", _outcome(exc))
    if "outcome" not in extra:
        extra.update(_done(request, data))
    context = {**data, "query": query, "results": results, "form": {}, "errors": {}, **extra}
    return page(request, organiser, "admin/door/door.html", context, status_code=status_code)


def _outcome(exc: Conflict | NotFound) -> dict[str, Any]:
    """What the door shows about a refused ticket."""
    registration = getattr(exc, "registration", None)
    message = gettext(exc.message)
    if isinstance(exc, door.AlreadyCheckedIn):
        message = checked_in_sentence(exc.registration)
    elif isinstance(exc, door.WrongScreening):
        message = gettext("This ticket is for another screening (number %(id)d).") % {
            "id": exc.registration["screening_id"]}
    return {"ok": False, "message": message, "registration": registration}


async def door_check_in(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    db = request.app.state.db
    screening_id = request.path_params["id"]
    await door.managed_screening(db, organiser, screening_id)  # 403 before anything else
    try:
        registration = await door.check_in(db, organiser, _text(form.get("ticket")),
                                           screening_id=screening_id)
    except (Conflict, NotFound) as exc:
        return await door_page(request, organiser=organiser, status_code=exc.status,
                               outcome=_outcome(exc))
    return _admitted(request, registration, "checked_in")


def _admitted(request: Request, registration: dict[str, Any], done: str) -> Response:
    """Post/redirect/get: back to the door (a reload does not post again), which tells who
    just came in (`done`: 'checked_in' or 'walk_in', and the registration's id)."""
    target = request.app.url_path_for("admin_door", id=request.path_params["id"])
    return RedirectResponse(f"{target}?{urlencode({'done': done, 'r': registration['id']})}",
                            status_code=303)


def _done(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """The door's notice after a redirect from a check-in or walk-in: who came in, found
    among this screening's checked-in registrations (nothing for any other id)."""
    done = request.query_params.get("done")
    rid = whole_number(_text(request.query_params.get("r"), 9))
    registration = next((r for r in data["confirmed"]
                         if r["id"] == rid and r["checked_in_at"]), None)
    if done not in ("checked_in", "walk_in") or registration is None:
        return {}
    if done == "walk_in":
        sentence = templating.ngettext("Walk-in added and checked in: %(name)s, %(num)d seat.",
                                       "Walk-in added and checked in: %(name)s, %(num)d seats.",
                                       registration["seats"])
    else:
        sentence = templating.ngettext("Checked in: %(name)s, %(num)d seat.",
                                       "Checked in: %(name)s, %(num)d seats.",
                                       registration["seats"])
    message = sentence % {"name": registration["name"], "num": registration["seats"]}
    return {"outcome": {"ok": True, "message": message, "registration": registration}}


async def door_walk_in(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    values = {k: _text(form.get(k), 300) for k in ("name", "email", "seats")}
    try:
        registration = await door.add_walk_in(
            request.app.state.db, organiser, request.path_params["id"], values["name"],
            form_number(values["seats"]), values["email"], locale=templating.current_locale())
    except ValidationError as exc:
        return await door_page(request, organiser=organiser, status_code=422, form=values,
                               errors={k: translate(v) for k, v in exc.fields.items()})
    except door.NoSeatsLeft as exc:
        message = templating.ngettext("Only %(num)d seat is left.", "Only %(num)d seats are left.",
                                      exc.seats_left) % {"num": exc.seats_left}
        return await door_page(request, organiser=organiser, status_code=409, form=values,
                               outcome={"ok": False, "message": f"{gettext(exc.message)} "
                                        f"{message}", "registration": None})
    except Conflict as exc:
        return await door_page(request, organiser=organiser, status_code=409, form=values,
                               outcome=_outcome(exc))
    return _admitted(request, registration, "walk_in")


# --- the check-in API for door scanners ----------------------------------------------------

def checkin_json(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "seats": r["seats"], "status": r["status"],
            "walk_in": bool(r["walk_in"]), "screening_id": r["screening_id"],
            "checked_in_at": times.local_iso(r["checked_in_at"], r["timezone"])
            if r["checked_in_at"] else None,
            "checked_in_by": r["checked_in_by_label"] or None}


async def _json_body(request: Request) -> dict[str, Any]:
    data = await json_object(request)
    if not isinstance(data.get("token"), str):
        raise ValidationError(fields={"token": _("Send the ticket's token or URL as "
                                                 "\"token\".")})
    return data


async def api_check_in(request: Request) -> JSONResponse:
    """POST {"token": token or ticket URL, "screening_id"?: n}: 200 checked in, 409 with
    the first check-in (or why not), 404 unknown ticket, 403 another country's."""
    organiser = signed_in(request)
    data = await _json_body(request)
    screening_id = data.get("screening_id")
    if screening_id is not None and (isinstance(screening_id, bool)
                                     or not isinstance(screening_id, int)):
        raise ValidationError(fields={"screening_id": _("Send the screening's id as a number.")})
    try:
        registration = await door.check_in(request.app.state.db, organiser, data["token"],
                                           screening_id=screening_id)
    except (door.AlreadyCheckedIn, door.NotCheckable, door.WrongScreening) as exc:
        body = {"code": exc.code, "message": _outcome(exc)["message"],
                "registration": checkin_json(exc.registration)}
        if isinstance(exc, door.AlreadyCheckedIn):
            body.update(checked_in_at=body["registration"]["checked_in_at"],
                        checked_in_by=body["registration"]["checked_in_by"])
        return JSONResponse({"error": body}, status_code=409)
    return JSONResponse({"status": "checked_in", "registration": checkin_json(registration)})


routes = [
    Route("/admin/screenings/{id:int}/attendees", attendee_list, name="admin_attendees"),
    Route("/admin/screenings/{id:int}/attendees.csv", attendee_csv, name="admin_attendees_csv"),
    Route("/admin/screenings/{id:int}/door", door_page, name="admin_door"),
    Route("/admin/screenings/{id:int}/door/checkins", door_check_in, methods=["POST"],
          name="admin_door_checkin"),
    Route("/admin/screenings/{id:int}/door/walk-ins", door_walk_in, methods=["POST"],
          name="admin_door_walk_in"),
    Route("/api/v1/admin/checkins", api_check_in, methods=["POST"], name="api_admin_checkins"),
]
