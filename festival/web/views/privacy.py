"""An attendee deletes their registration data from their ticket page.

POST /tickets/{token}/forget cancels the registration (if it has not started and was
not checked in: the waitlist moves up) and erases its name, email and token
(festival.privacy.records.erase_registration), then redirects (303) to a page saying it
is done. That page names nobody and takes no token: the old ticket link answers 404
from then on, and reloading the page erases nothing twice. The form sits at the bottom
of the ticket page and carries the CSRF token (the route is declared `same_origin`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from festival.privacy import records
from festival.web.templating import render
from festival.web.views import PRIVATE_HEADERS


async def forget(request: Request) -> Response:
    await records.erase_registration(request.app.state.db, request.path_params["token"])
    return RedirectResponse(str(request.app.url_path_for("privacy_deleted")), status_code=303)


async def deleted(request: Request) -> Response:
    return render(request, "public/privacy_deleted.html", {}, headers=PRIVATE_HEADERS)


routes = [
    Route("/tickets/{token}/forget", forget, methods=["POST"], name="ticket_forget"),
    Route("/privacy/deleted", deleted, name="privacy_deleted"),
]
