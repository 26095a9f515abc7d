"""Attendees' pages: the registration form's answer, the ticket, its cancellation and
the confirmation of held seats, and the attendee's own page of all their registrations.

Bad input re-renders the screening's page (422) with a message beside each field and
the values kept; a closed screening re-renders it with the reason (409). Success
redirects (303) to the ticket, so reloading never registers twice. An address already
registered gets its ticket mailed again instead of shown: the form does not reveal a
stranger's ticket to whoever knows their email. The ticket's token is
its only key: the page is private (no caching, no indexing), and leads to nothing but
that registration. The attendee's own page (/my/{secret}) is reached only from their
mails. Held seats are confirmed with the code their mail carries, from a page with a
button (a GET never confirms: mail scanners open links)."""

from __future__ import annotations

from typing import Any

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from festival.calendar import google
from festival.core import times
from festival.core.errors import Conflict, RegistrationClosed, ValidationError
from festival.core.i18n import localize
from festival.core.text import masked_email
from festival.mail import outbox
from festival.programme import queries
from festival.seats import registrations
from festival.web import templating
from festival.web.templating import render
from festival.web.views import PRIVATE_HEADERS, form_number, optional_path, public

ALREADY_REGISTERED = public.ALREADY_REGISTERED



async def screening_page(request: Request, screening_id: int, *, status_code: int,
                         **extra: Any) -> Response:
    """The public screening page again, its registration block showing why the form was
    refused (with the values sent, so nobody types them twice)."""
    screening = await queries.get_screening(request.app.state.db, screening_id)
    return await public.render_screening(
        request, screening, status_code=status_code,
        booking=registrations.booking_state(screening), **extra)


async def register(request: Request) -> Response:
    screening_id = request.path_params["id"]
    form = await request.form()
    # Text fields only: a file upload in their place counts as empty.
    values = {key: value if isinstance(value := form.get(key), str) else ""
              for key in ("name", "email", "seats")}
    try:
        registration, created = await registrations.register(
            request.app.state.db, screening_id, values["name"], values["email"],
            form_number(values["seats"]), locale=templating.current_locale(),
            resend_ticket=True)
    except ValidationError as exc:
        return await screening_page(request, screening_id, status_code=422, form=values,
                                    errors=exc.fields)
    except RegistrationClosed as exc:
        return await screening_page(request, screening_id, status_code=409, form=values,
                                    registration_error=exc.message)
    if not created:
        # Whoever typed this address may not own it: the ticket goes to the mailbox only.
        # Post/redirect/get to the registration block, where the page says so.
        target = request.app.url_path_for("screening", id=screening_id)
        return RedirectResponse(f"{target}?notice=already-registered#register", status_code=303)
    # ?sent=1: the ticket page then says where its mail went (and whether it did).
    return RedirectResponse(ticket_path(request, registration["token"]) + "?sent=1",
                            status_code=303)


def ticket_path(request: Request, token: str) -> str:
    return str(request.app.url_path_for("ticket", token=token))


def qr_svg(text: str, title: str) -> Markup:
    """An inline SVG QR code: presentation attributes only (the CSP forbids inline
    styles); segno escapes the title, and the data itself is drawn, not written."""
    code = segno.make(text, error="m", micro=False)
    svg = code.svg_inline(scale=5, border=4, title=title, svgclass="qr-code",
                          dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 (segno's own output, its text escaped)


def hold_details(registration: dict[str, Any], screening: dict[str, Any]) -> dict[str, Any]:
    """What the pages say about a hold: until when (local time at the venue), and
    whether the registration was cancelled because it ran out."""
    held_until = registration.get("held_until")
    return {
        "held_until_local": times.to_local(held_until, screening["timezone"])
        if registration["status"] == "held" and held_until else None,
        "expired": registration["status"] == "cancelled"
        and registration.get("cancel_reason") == "expired",
    }


async def ticket(request: Request) -> Response:
    registration = await registrations.get_registration(
        request.app.state.db, request.path_params["token"])
    screening = localize(registration.pop("screening"))
    token = registration["token"]
    ticket_url = request.app.state.settings.base_url + ticket_path(request, token)
    context = {
        "registration": registration,
        "screening": screening,
        "booking": registrations.booking_state(screening),
        "ticket_url": ticket_url,
        # The door admits confirmed seats only: a waiting or held ticket gets its code
        # once confirmed.
        "qr_svg": None if registration["status"] != "confirmed" else qr_svg(
            ticket_url, templating.gettext("Ticket for %(title)s") % {"title": screening["title"]}),
        # Waiting or held: the ticket's own one-event feed, which says TENTATIVE (the
        # screening's public file would say CONFIRMED).
        "screening_ics": optional_path(request, "feed_ticket", token=token)
        if registration["status"] in ("waitlisted", "held")
        else optional_path(request, "screening_ics", id=screening["id"]),
        "google_calendar": None if screening["status"] == "cancelled" else google.calendar_url(
            screening, request.app.state.settings.base_url,
            note=templating.gettext("Your ticket: %(url)s") % {"url": ticket_url}),
        "ticket_feed": optional_path(request, "feed_ticket", token=token),
        **hold_details(registration, screening),
        **await mail_notice(request, registration),
    }
    return render(request, "public/ticket.html", context, headers=PRIVATE_HEADERS)


async def mail_notice(request: Request, registration: dict[str, Any]) -> dict[str, Any]:
    """Right after registering (?sent=1), what became of the ticket's mail, as the outbox
    has it: sent, on its way (pending, sending), not sent (capped: too many mails to the
    address within the hour) or failed; with the address masked (a***@example.org),
    since a ticket link may be opened on a shared screen."""
    if request.query_params.get("sent") != "1" or not registration.get("email"):
        return {}
    status = await outbox.latest_status(request.app.state.db, registration["id"])
    if status is None:
        return {}
    return {"mail_status": "pending" if status == "sending" else status,
            "mail_to": masked_email(registration["email"])}


async def confirm(request: Request) -> Response:
    """GET (the link in the mail): a page with a button; POST: confirms the address, then
    redirects to the ticket. The code comes from the mail only (query, then form)."""
    db = request.app.state.db
    token = request.path_params["token"]
    if request.method == "GET":
        code = request.query_params.get("code", "")
        registration = await registrations.confirmation(db, token, code)
        return _confirm_page(request, registration, code)
    form = await request.form()
    code = form.get("code")
    try:
        await registrations.confirm(db, token, code)
    except Conflict as exc:
        registration = await registrations.confirmation(db, token, code)
        return _confirm_page(request, registration, "", error=exc.message, status_code=409)
    return RedirectResponse(ticket_path(request, token), status_code=303)


def _confirm_page(request: Request, registration: dict[str, Any], code: Any, *,
                  error: str | None = None, status_code: int = 200) -> Response:
    screening = localize(registration.pop("screening"))
    context = {"registration": registration, "screening": screening,
               "code": code if isinstance(code, str) else "", "error": error,
               "ticket_path": ticket_path(request, registration["token"]),
               **hold_details(registration, screening)}
    return render(request, "public/confirm.html", context, status_code=status_code,
                  headers=PRIVATE_HEADERS)


async def my_registrations(request: Request) -> Response:
    """The attendee's own page: every registration of their address, each linking to its
    ticket, and their feed. Its key is the secret their mails carry."""
    secret = request.path_params["secret"]
    tickets, _stamp = await registrations.attendee_registrations(request.app.state.db, secret)
    ordered = sorted(((r, localize(s)) for r, s in tickets),
                     key=lambda pair: (pair[1]["starts_at"], pair[0]["id"]))
    live = [(r, s, hold_details(r, s)) for r, s in ordered if r["status"] != "cancelled"]
    cancelled = [(r, s, hold_details(r, s)) for r, s in ordered if r["status"] == "cancelled"]
    context = {"live": live, "cancelled": cancelled,
               "my_feed": optional_path(request, "feed_my", secret=secret)}
    return render(request, "public/my_registrations.html", context, headers=PRIVATE_HEADERS)


async def cancel(request: Request) -> Response:
    token = request.path_params["token"]
    await registrations.cancel(request.app.state.db, token)
    return RedirectResponse(ticket_path(request, token), status_code=303)


async def lost_ticket(request: Request) -> Response:
    """GET: the form; POST: mails the address its ticket links. The answer is the same
    whether or not the address registered, so the form tells nobody who did."""
    context: dict[str, Any] = {"sent": False, "errors": {}, "email": ""}
    status_code = 200
    if request.method == "POST":
        form = await request.form()
        email = form.get("email")
        context["email"] = email if isinstance(email, str) else ""
        try:
            await registrations.resend_tickets(request.app.state.db, context["email"])
            context["sent"] = True
        except ValidationError as exc:
            context["errors"], status_code = exc.fields, 422
    return render(request, "public/lost_ticket.html", context, status_code=status_code,
                  headers=PRIVATE_HEADERS)


routes = [
    Route("/screenings/{id:int}/register", register, methods=["POST"], name="register"),
    # Before /tickets/{token}, which would take "lost" for a token.
    Route("/tickets/lost", lost_ticket, methods=["GET", "POST"], name="lost_ticket"),
    Route("/tickets/{token}", ticket, name="ticket"),
    Route("/tickets/{token}/cancel", cancel, methods=["POST"], name="ticket_cancel"),
    Route("/tickets/{token}/confirm", confirm, methods=["GET", "POST"], name="ticket_confirm"),
    Route("/my/{secret}", my_registrations, name="my_registrations"),
]
