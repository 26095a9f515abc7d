"""Organiser pages that manage a screening's registrations from its attendee list:
cancel, change seats, move, resend the ticket, check in part of a party, and write to
every registrant (form, preview, send).

Each action is a POST answered with 303 to the attendee list and `?done=<what>`; a
refusal shows the list again with the message beside the registration (409, 422).
Guards are declared on the routes (festival.web.routes); the domain
(festival.seats.management) checks the organiser's country."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from festival.core.errors import Conflict, ValidationError, _
from festival.core.i18n import translate
from festival.mail import compose
from festival.seats import management
from festival.web import templating
from festival.web.guards import signed_in
from festival.web.templating import gettext
from festival.web.views import form_number

DONE = {
    "cancelled": _("The registration is cancelled and its attendee was mailed."),
    "seats": _("The registration's seats are changed and its attendee was mailed."),
    "moved": _("The registration is moved and its attendee was mailed the new ticket."),
    "resent": _("The ticket mail is on its way again."),
    "checked_in": _("The arrived seats are checked in."),
}


def _page(request: Request, organiser: dict[str, Any], template: str, context: dict[str, Any],
          *, status_code: int = 200) -> Response:
    from festival.web.views import door as door_views  # it delegates its list here

    return door_views.page(request, organiser, template, context, status_code=status_code)


def _text(value: Any, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


async def attendee_page(request: Request, *, organiser: dict[str, Any] | None = None,
                        status_code: int = 200, problem: dict[str, Any] | None = None
                        ) -> Response:
    """The attendee list with its management forms, a notice after a redirect
    (`?done=`), or a refusal shown beside its registration (`problem`)."""
    organiser = organiser or signed_in(request)
    data = await management.attendee_list(request.app.state.db, organiser,
                                          request.path_params["id"])
    messages = []
    done = request.query_params.get("done", "")
    if problem is None and done in DONE:
        messages.append(gettext(DONE[done]))
    elif problem is None and done == "message":
        sent = form_number(_text(request.query_params.get("sent"), 9))
        if isinstance(sent, int):
            messages.append(templating.ngettext(
                "Your message is on its way to %(num)d person.",
                "Your message is on its way to %(num)d people.", sent) % {"num": sent})
    return _page(request, organiser, "admin/door/attendees.html",
                 {**data, "messages": messages, "problem": problem or {}},
                 status_code=status_code)


async def _act(request: Request, done: str,
               action: Callable[[Any, dict[str, Any], int, int, Any], Awaitable[Any]]
               ) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    screening_id = request.path_params["id"]
    registration_id = request.path_params["rid"]
    try:
        await action(request.app.state.db, organiser, screening_id, registration_id, form)
    except ValidationError as exc:
        message = " ".join(translate(v) for v in exc.fields.values())
        return await attendee_page(request, organiser=organiser, status_code=422,
                                   problem={"id": registration_id, "message": message})
    except Conflict as exc:
        return await attendee_page(request, organiser=organiser, status_code=exc.status,
                                   problem={"id": registration_id,
                                            "message": translate(exc.message)})
    target = request.app.url_path_for("admin_attendees", id=screening_id)
    return RedirectResponse(f"{target}?done={done}#r{registration_id}", status_code=303)


async def cancel(request: Request) -> Response:
    return await _act(request, "cancelled", lambda db, o, s, r, form: management.cancel(
        db, o, s, r))


async def change_seats(request: Request) -> Response:
    return await _act(request, "seats", lambda db, o, s, r, form: management.change_seats(
        db, o, s, r, form_number(_text(form.get("seats"), 9))))


async def move(request: Request) -> Response:
    return await _act(request, "moved", lambda db, o, s, r, form: management.move(
        db, o, s, r, form_number(_text(form.get("screening"), 9))))


async def resend(request: Request) -> Response:
    return await _act(request, "resent", lambda db, o, s, r, form: management.resend_ticket(
        db, o, s, r))


async def check_in(request: Request) -> Response:
    return await _act(request, "checked_in", lambda db, o, s, r, form: management.check_in_seats(
        db, o, s, r, form_number(_text(form.get("arriving"), 9))))


# --- writing to all registrants --------------------------------------------------------------

async def message_form(request: Request, *, status_code: int = 200,
                       values: dict[str, str] | None = None,
                       errors: dict[str, str] | None = None) -> Response:
    """GET: the empty form; POST (from the preview's "Change the message"): the form
    with what was written."""
    organiser = signed_in(request)
    if values is None and request.method == "POST":
        form = await request.form()
        values = {"subject": _text(form.get("subject"), 300),
                  "body": _text(form.get("body"), 6000)}
    data = await management.message_form(request.app.state.db, organiser,
                                         request.path_params["id"])
    return _page(request, organiser, "admin/door/message.html",
                 {**data, "values": values or {}, "errors": errors or {}},
                 status_code=status_code)


async def message_preview(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    values = {"subject": _text(form.get("subject"), 300), "body": _text(form.get("body"), 6000)}
    try:
        preview = await management.message_preview(
            request.app.state.db, organiser, request.path_params["id"], values["subject"],
            values["body"])
    except ValidationError as exc:
        return await message_form(request, status_code=422, values=values,
                                  errors={k: translate(v) for k, v in exc.fields.items()})
    mail = None
    if preview["facts"] is not None:
        composed = compose.compose(preview["facts"], request.app.state.settings)
        text = composed.get_body(("plain",))
        mail = {"subject": composed["Subject"], "to": composed["To"],
                "text": text.get_content() if text is not None else ""}
    return _page(request, organiser, "admin/door/message_preview.html",
                 {**preview, "mail": mail, "values": preview["message"]})


async def message_send(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    values = {"subject": _text(form.get("subject"), 300), "body": _text(form.get("body"), 6000)}
    screening_id = request.path_params["id"]
    try:
        sent = await management.send_message(request.app.state.db, organiser, screening_id,
                                             values["subject"], values["body"])
    except ValidationError as exc:
        return await message_form(request, status_code=422, values=values,
                                  errors={k: translate(v) for k, v in exc.fields.items()})
    except Conflict as exc:
        return await message_form(request, status_code=409, values=values,
                                  errors={"body": translate(exc.message)})
    target = request.app.url_path_for("admin_attendees", id=screening_id)
    return RedirectResponse(f"{target}?done=message&sent={sent}", status_code=303)


_R = "/admin/screenings/{id:int}/registrations/{rid:int}"
routes = [
    Route(f"{_R}/cancel", cancel, methods=["POST"], name="admin_registration_cancel"),
    Route(f"{_R}/seats", change_seats, methods=["POST"], name="admin_registration_seats"),
    Route(f"{_R}/move", move, methods=["POST"], name="admin_registration_move"),
    Route(f"{_R}/resend", resend, methods=["POST"], name="admin_registration_resend"),
    Route(f"{_R}/checkin", check_in, methods=["POST"], name="admin_registration_checkin"),
    Route("/admin/screenings/{id:int}/message", message_form, methods=["GET", "POST"],
          name="admin_message"),
    Route("/admin/screenings/{id:int}/message/preview", message_preview, methods=["POST"],
          name="admin_message_preview"),
    Route("/admin/screenings/{id:int}/message/send", message_send, methods=["POST"],
          name="admin_message_send"),
]
