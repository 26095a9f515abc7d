"""Organiser pages that oversee the festival: the dashboard, the audit trail (admins
only, as declared in festival.web.routes) and the outbox of mail.

festival.organisers.overview reads the figures and messages, limited to the organiser's
country."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from festival.core.errors import Conflict
from festival.organisers import audit, overview
from festival.programme import queries
from festival.web.guards import signed_in
from festival.web.templating import gettext
from festival.web.views.door import _text, _whole, page


async def dashboard(request: Request) -> Response:
    organiser = signed_in(request)
    db = request.app.state.db
    edition = await queries.edition_by_key(db, request.query_params.get("edition") or None)
    data = await overview.dashboard(db, organiser, edition["id"],
                                    country=_text(request.query_params.get("country"), 2))
    return page(request, organiser, "admin/dashboard.html", {
        **data, "edition": edition, "editions": await queries.list_editions(db)})


async def audit_trail(request: Request) -> Response:
    organiser = signed_in(request)
    params = request.query_params
    entity = _text(params.get("entity"), 50)
    entity_id = _whole(params.get("entity_id"))
    data = await overview.audit_page(request.app.state.db, entity=entity, entity_id=entity_id,
                                     before_id=_whole(params.get("before")))
    return page(request, organiser, "admin/audit.html",
                {**data, "entity": entity, "entity_id": entity_id,
                 "paged": params.get("before") is not None,
                 "entity_name": lambda name: gettext(audit.ENTITY_NAMES.get(name, name))})


async def outbox(request: Request, *, organiser: dict[str, Any] | None = None,
                 status_code: int = 200, messages: list[str] | None = None) -> Response:
    organiser = organiser or signed_in(request)
    params = request.query_params
    data = await overview.outbox_messages(request.app.state.db, organiser,
                                          status=_text(params.get("status"), 10),
                                          page=_whole(params.get("page")) or 1)
    return page(request, organiser, "admin/outbox.html", {**data, "messages": messages or []},
                status_code=status_code)


async def outbox_retry(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    try:
        await overview.retry_message(request.app.state.db, organiser, request.path_params["id"])
    except Conflict as exc:
        return await outbox(request, organiser=organiser, status_code=409,
                            messages=[gettext(exc.message)])
    target = str(request.app.url_path_for("admin_outbox"))
    status = _text(form.get("status"), 10)
    return RedirectResponse(f"{target}?status={status}" if status else target, status_code=303)


routes: list[BaseRoute] = [
    Route("/admin/dashboard", dashboard, name="admin_dashboard"),
    Route("/admin/outbox", outbox, name="admin_outbox"),
    Route("/admin/outbox/{id:int}/retry", outbox_retry, methods=["POST"],
          name="admin_outbox_retry"),
]

admin_routes: list[BaseRoute] = [
    Route("/admin/audit", audit_trail, name="admin_audit"),
]
