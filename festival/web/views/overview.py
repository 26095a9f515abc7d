"""Organiser pages that oversee the festival: the dashboard, the audit trail (admins
only, as declared in festival.web.routes) and the outbox of mail.

festival.organisers.overview reads the figures and messages, limited to the organiser's
country."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from festival.core.errors import Conflict, _
from festival.core.i18n import by_country_name
from festival.organisers import audit, chart, overview
from festival.programme import queries
from festival.seats import exports
from festival.web import templating
from festival.web.guards import signed_in
from festival.web.templating import gettext
from festival.web.views import PRIVATE_HEADERS
from festival.web.views.door import _helpers, _text, _whole, page


async def dashboard(request: Request) -> Response:
    organiser = signed_in(request)
    db = request.app.state.db
    edition = await queries.edition_by_key(db, request.query_params.get("edition") or None)
    data = await overview.dashboard(db, organiser, edition["id"],
                                    country=_text(request.query_params.get("country"), 2))
    days = await overview.registrations_by_day(db, organiser, edition["id"],
                                               country=data["country"])
    # Countries in the order of their names in the reader's language, not of their codes.
    order = by_country_name(c["country"] for c in data["countries"])
    data["countries"] = sorted(data["countries"], key=lambda c: order.index(c["country"]))
    return page(request, organiser, "admin/dashboard.html", {
        **data, "edition": edition, "editions": await queries.list_editions(db),
        "days": days, "chart": _registrations_chart(days, data["country"])})


def _registrations_chart(days: list[dict[str, Any]], country: str) -> Markup | None:
    """The registrations-per-day SVG (festival.organisers.chart), in the reader's
    language; None when nobody registered yet."""
    if not days:
        return None
    locale = templating.format_locale()
    place = _helpers()["country_name"](country) if country else gettext("every country")
    figures = [chart.Day(d["day"], d["confirmed_seats"], d["waiting_seats"]) for d in days]
    busiest = max(figures, key=lambda d: d.seats)

    def number(value: int) -> str:
        return format_decimal(value, locale=locale)

    texts = chart.ChartTexts(
        title=gettext("Registrations per day: %(place)s") % {"place": place},
        description=gettext(
            "Seats registered each day (UTC) from %(first)s to %(last)s: %(confirmed)s "
            "confirmed and %(waiting)s on the waitlist in all.") % {
            "first": templating.format_date(figures[0].day, "medium"),
            "last": templating.format_date(figures[-1].day, "medium"),
            "confirmed": number(sum(d.confirmed_seats for d in figures)),
            "waiting": number(sum(d.waiting_seats for d in figures))} + " " + templating.ngettext(
            "The busiest day was %(day)s, with %(num)s seat.",
            "The busiest day was %(day)s, with %(num)s seats.", busiest.seats) % {
            "day": templating.format_date(busiest.day, "medium"), "num": number(busiest.seats)},
        confirmed=gettext("Confirmed seats"), waiting=gettext("Seats on the waitlist"),
        x_axis=gettext("Day registered (UTC)"), y_axis=gettext("Seats"),
        day=gettext("%(day)s: %(confirmed)s confirmed, %(waiting)s on the waitlist"))
    # registrations_svg escapes every text it writes.
    return Markup(chart.registrations_svg(  # noqa: S704
        figures, texts, locale=locale, id_prefix="registrations-chart"))


def _csv(body: bytes, filename: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        **PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


async def dashboard_csv(request: Request) -> Response:
    """The dashboard's figures as CSV: every country, the total, every screening listed
    (all of them, however many)."""
    organiser = signed_in(request)
    db = request.app.state.db
    edition = await queries.edition_by_key(db, request.query_params.get("edition") or None)
    data = await overview.dashboard(db, organiser, edition["id"], every_screening=True,
                                    country=_text(request.query_params.get("country"), 2))
    return _csv(exports.dashboard_csv(data),
                exports.csv_filename("dashboard", edition["key"], data["country"]))


async def attendees_csv(request: Request) -> Response:
    """The attendees of one country (an organiser's own; 403 for another) or, for
    admins, of the whole edition, as CSV; the export is audited."""
    organiser = signed_in(request)
    db = request.app.state.db
    edition = await queries.edition_by_key(db, request.query_params.get("edition") or None)
    country = exports.export_country(organiser, _text(request.query_params.get("country"), 2))
    rows = await exports.edition_attendees(db, organiser, edition, country)
    return _csv(exports.attendees_csv(rows),
                exports.csv_filename("attendees", edition["key"], country))


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
    if messages is None and params.get("done") == "retried":
        messages = [gettext(_("Queued again: the message goes out with the next delivery."))]
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
    query = urlencode({"status": status, "done": "retried"} if status else {"done": "retried"})
    return RedirectResponse(f"{target}?{query}", status_code=303)


routes: list[BaseRoute] = [
    Route("/admin/dashboard", dashboard, name="admin_dashboard"),
    Route("/admin/dashboard.csv", dashboard_csv, name="admin_dashboard_csv"),
    Route("/admin/attendees.csv", attendees_csv, name="admin_edition_attendees_csv"),
    Route("/admin/outbox", outbox, name="admin_outbox"),
    Route("/admin/outbox/{id:int}/retry", outbox_retry, methods=["POST"],
          name="admin_outbox_retry"),
]

admin_routes: list[BaseRoute] = [
    Route("/admin/audit", audit_trail, name="admin_audit"),
]
