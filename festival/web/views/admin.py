"""Organiser pages under /admin/ and the admin JSON API under /api/v1/admin.

Who may call each route is declared in festival.web.routes (signed-in organisers;
admins only for the accounts pages; CSRF for every form; per-client limits on signing
in); handlers read the organiser with `signed_in`. The rules live in
festival.programme.screenings, festival.programme.catalogue and
festival.organisers.accounts. Pages follow
post/redirect/get: a saved form redirects with `?done=<what>`, shown as a notice on the
next page; a refused one is shown again with the entered values and the error beside
each field (status 422)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from festival.core import times
from festival.core.errors import Conflict, RateLimited, ValidationError, _
from festival.core.i18n import by_country_name, country_name, translations_of
from festival.organisers import accounts, invites
from festival.programme import catalogue, queries, screenings
from festival.programme.fields import Field
from festival.seats import registrations
from festival.web.guards import client_of, signed_in
from festival.web.templating import gettext, render
from festival.web.views import PRIVATE_HEADERS, json_object, paged, whole_number

DONE = {
    "created": _("Created."), "saved": _("Saved."), "unchanged": _("Nothing changed."),
    "publish": _("Published: the screening is now on the public programme."),
    "cancel": _("Cancelled. Registrants are told by mail; the screening stays in calendars "
                "as cancelled."),
    "reinstate": _("The screening is back on the programme. Registrants are told by mail."),
    "unpublish": _("Back to draft: the screening is no longer public."),
    "move": _("Moved. Registrants are told by mail and calendars update."),
    "disabled": _("The account is disabled: it cannot sign in, and its sessions have ended."),
    "enabled": _("The account is enabled again: it can sign in."),
    "unlocked": _("Unlocked: the account can be signed in to again from everywhere."),
    "password": _("The password is set. The account's sessions have ended: it signs in "
                  "again with the new password."),
    "invited": _("The invitation is on its way: its link works once, for 72 hours."),
    "invite_revoked": _("The invitation is withdrawn: its link no longer works."),
    "totp_reset": _("Two-step sign-in is off for that account: it signs in with its "
                    "password alone until it turns it on again."),
    "totp_on": _("Two-step sign-in is on: from now on, signing in asks for a code from "
                 "your app."),
    "totp_off": _("Two-step sign-in is off."),
    "deleted": _("Deleted."),
    "poster": _("The poster is saved: it shows on the film's page and its screenings' pages."),
    "poster_removed": _("The poster is removed."),
    "confirm_email": _("Saved: new registrations follow the edition's rule from now on."),
}
SCREENING_FORM = {n: f for n, f in screenings.SCREENING.items() if n != "status"}


# --- helpers -------------------------------------------------------------------------------

def safe_next(value: str | None, default: str) -> str:
    """Only a path on this site: '/admin/x?y' yes; '//evil.org', 'https://…' no."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\\"):
        return default
    return value


def page(request: Request, organiser: dict[str, Any], template: str,
         context: dict[str, Any] | None = None, *, status_code: int = 200) -> Response:
    done = request.query_params.get("done", "")
    messages = [gettext(DONE[done])] if done in DONE else []
    return render(request, template, {"organiser": organiser, "messages": messages,
                                      **(context or {})},
                  status_code=status_code, headers=PRIVATE_HEADERS)


def redirect(request: Request, name: str, done: str, **params: Any) -> Response:
    return RedirectResponse(f"{request.app.url_path_for(name, **params)}?done={done}", 303)


def form_input(form: FormData, spec: dict[str, Field]) -> dict[str, Any]:
    """A form's values as the domain takes them (what JSON would carry), by each field's
    declared input: numbers as int (anything else is passed on for the domain to
    refuse), ticked boxes as True, an empty number or time as absent, the boxes of a
    text's translations (`title_i18n_fr`, ...) as one object. Every checkbox counts: a
    form shows the whole row."""
    data: dict[str, Any] = {}
    for name, field in spec.items():
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if field.form_input == "translations":
            data[name] = form_translations(form, name)
        elif field.form_input == "flag":
            data[name] = name in form
        elif field.form_input == "ids":
            ids = [v for v in form.getlist(name) if isinstance(v, str)]
            numbers = [whole_number(v) for v in ids]
            data[name] = numbers if None not in numbers else ids
        elif field.form_input in ("number", "wall_clock"):
            if text:
                data[name] = int(text) if re.fullmatch(r"-?\d{1,12}", text) else text
        elif isinstance(raw, str):
            data[name] = raw
    return data


def form_translations(form: FormData, name: str) -> dict[str, str]:
    """{language code: text} from the boxes `<name>_<code>` of a form."""
    prefix = f"{name}_"
    return {key[len(prefix):]: value for key, value in form.items()
            if key.startswith(prefix) and isinstance(value, str)}


def form_values(form: FormData, spec: dict[str, Field]) -> dict[str, Any]:
    """What the organiser typed, to show again beside the errors."""
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    for name, field in spec.items():
        if field.form_input == "translations":
            values[name] = form_translations(form, name)
        elif field.form_input == "ids":
            values[name] = [n for v in form.getlist(name) if (n := whole_number(v)) is not None]
        elif field.form_input == "flag":
            values[name] = name in form
    return values


def stored_values(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a form shows it: translations as {language code: text}."""
    return {k: translations_of(v) if k.endswith("_i18n") else v for k, v in row.items()}


# --- signing in and out ----------------------------------------------------------------------

async def login(request: Request) -> Response:
    home_path = request.app.url_path_for("admin_home")
    target = safe_next(request.query_params.get("next"), home_path)
    if request.method == "GET":
        if await accounts.current_organiser(request) is not None:
            return RedirectResponse(target, 303)
        return render(request, "admin/login.html", {"next": target, "email": "", "error": ""},
                      headers=PRIVATE_HEADERS)
    form = await request.form()
    target = safe_next(str(form.get("next", "")), home_path)
    email = str(form.get("email", ""))[:254]
    try:
        _organiser, token = await accounts.sign_in(
            request.app.state.db, email, str(form.get("password", "")),
            settings=request.app.state.settings, client_ip=client_of(request))
    except (accounts.SignInFailed, RateLimited) as exc:
        return render(request, "admin/login.html",
                      {"next": target, "email": email, "error": gettext(exc.message)},
                      status_code=exc.status, headers={**PRIVATE_HEADERS, **exc.headers})
    except accounts.SecondFactorRequired as second:
        # The password was right; the session waits for the code (views.security).
        from festival.web.views.security import set_challenge_cookie
        response = RedirectResponse(
            f"{request.app.url_path_for('admin_login_code')}?{urlencode({'next': target})}",
            303)
        set_challenge_cookie(request, response, second.challenge)
        return response
    # A new session for every sign-in: a session id planted before it is worthless.
    await accounts.sign_out(request.app.state.db, accounts.session_token(request))
    response = RedirectResponse(target, 303)
    accounts.set_session_cookie(request, response, token)
    return response


async def logout(request: Request) -> Response:
    await request.form()
    await accounts.sign_out(request.app.state.db, accounts.session_token(request))
    response = RedirectResponse(request.app.url_path_for("admin_login"), 303)
    accounts.clear_session_cookie(request, response)
    return response


# --- organiser accounts (admins only) ----------------------------------------------------------

async def organiser_accounts(request: Request, *, status_code: int = 200,
                             errors: dict[int, str] | None = None, error: str = ""
                             ) -> Response:
    """Every account, with buttons to disable, enable or unlock it and a form to set its
    password. `errors`: a refused password form's message, by account id."""
    organiser = signed_in(request)
    rows = await accounts.list_organisers(request.app.state.db)
    pending = await invites.list_invites(request.app.state.db)
    return page(request, organiser, "admin/organisers.html",
                {"accounts": rows, "errors": errors or {}, "error": error, "invites": pending},
                status_code=status_code)


async def organiser_disable(request: Request) -> Response:
    return await _account_change(request, "disabled")


async def organiser_enable(request: Request) -> Response:
    return await _account_change(request, "enabled")


async def organiser_unlock(request: Request) -> Response:
    return await _account_change(request, "unlocked")


async def organiser_password(request: Request) -> Response:
    return await _account_change(request, "password")


async def _account_change(request: Request, done: str) -> Response:
    admin = signed_in(request)
    form = await request.form()
    db = request.app.state.db
    account_id = request.path_params["id"]
    try:
        if done in ("disabled", "enabled"):
            await accounts.set_disabled(db, account_id, done == "disabled", by=admin["id"])
        elif done == "unlocked":
            await accounts.unlock(db, account_id, by=admin["id"])
        else:
            password = form.get("password")
            await accounts.set_password(db, account_id,
                                        password if isinstance(password, str) else "",
                                        request.app.state.settings, by=admin["id"])
    except ValidationError as exc:
        message = exc.fields.get("password", exc.message)
        return await organiser_accounts(request, status_code=422,
                                        errors={account_id: gettext(message)})
    except Conflict as exc:
        return await organiser_accounts(request, status_code=409, error=gettext(exc.message))
    return redirect(request, "admin_organisers", done)


# --- screenings ----------------------------------------------------------------------------

async def _edition(request: Request) -> dict[str, Any] | None:
    return await queries.current_edition(request.app.state.db)


HOME_LIMIT = 50  # the next screenings on the home page; the full list pages
LIST_PAGE = 200  # screenings per page of the full list (an admin may see 5,000)


async def home(request: Request) -> Response:
    organiser = signed_in(request)
    edition = await _edition(request)
    upcoming = [] if edition is None else await screenings.list_screenings(
        request.app.state.db, organiser, edition["id"], upcoming=True)
    return page(request, organiser, "admin/home.html",
                {"edition": edition, "screenings": upcoming[:HOME_LIMIT],
                 "more": max(0, len(upcoming) - HOME_LIMIT)})


async def edition_confirm_email(request: Request) -> Response:
    """An admin turns holding seats until the address is confirmed on or off for the
    current edition (festival.seats.registrations.set_email_confirmation)."""
    organiser = signed_in(request)
    edition = await _edition(request)
    if edition is None:
        return RedirectResponse(request.app.url_path_for("admin_home"), 303)
    form = await request.form()
    minutes = whole_number(str(form.get("hold_minutes", "")).strip(), digits=4)
    try:
        await registrations.set_email_confirmation(
            request.app.state.db, edition["key"], required="confirm_email" in form,
            hold_minutes=registrations.HOLD_MINUTES if minutes is None else minutes,
            organiser_id=organiser["id"])
    except ValidationError as exc:
        upcoming = await screenings.list_screenings(request.app.state.db, organiser,
                                                    edition["id"], upcoming=True)
        return page(request, organiser, "admin/home.html",
                    {"edition": edition, "screenings": upcoming[:HOME_LIMIT],
                     "more": max(0, len(upcoming) - HOME_LIMIT), "errors": exc.fields},
                    status_code=422)
    return redirect(request, "admin_home", "confirm_email")


async def screening_list(request: Request) -> Response:
    organiser = signed_in(request)
    edition = await _edition(request)
    query = request.query_params
    wanted = query.get("status", "")
    wanted = wanted if wanted in ("draft", "scheduled", "cancelled") else ""
    rows = [] if edition is None else await screenings.list_screenings(
        request.app.state.db, organiser, edition["id"], status_is=wanted)
    countries = [(code, country_name(code))
                 for code in by_country_name({s["country"] for s in rows})]
    country = query.get("country", "").strip().upper()
    title = query.get("q", "").strip()[:200]
    narrowed = queries.Filters(country=country, q=title)
    rows = [s for s in rows if narrowed.matches(s)]
    shown, number, pages = paged(rows, whole_number(query.get("page"), 4) or 1, LIST_PAGE)
    return page(request, organiser, "admin/screenings.html", {
        "edition": edition, "screenings": shown, "status": wanted, "countries": countries,
        "country": country, "q": title,
        "count": len(rows), "page": number, "pages": pages,
        "page_url": lambda page: "?" + urlencode({**query, "page": page})})


async def _choices(request: Request, organiser: dict[str, Any]) -> dict[str, Any]:
    db = request.app.state.db
    return {"venues": await catalogue.list_rows(db, organiser, "venue"),
            "films": await catalogue.list_rows(db, organiser, "film"),
            "guests": await catalogue.list_rows(db, organiser, "guest"),
            "changeover": request.app.state.settings.changeover_minutes}


async def screening_new(request: Request) -> Response:
    organiser = signed_in(request)
    values: dict[str, Any] = {"max_seats": 4, "guest_ids": []}
    if request.method == "POST":
        form = await request.form()
        try:
            saved = await screenings.create_screening(
                request.app.state.db, organiser, form_input(form, SCREENING_FORM),
                changeover_minutes=request.app.state.settings.changeover_minutes)
        except ValidationError as exc:
            return page(request, organiser, "admin/screening_form.html",
                        {"screening": None, "values": form_values(form, SCREENING_FORM),
                         "errors": exc.fields,
                         "error": gettext(exc.message), **await _choices(request, organiser)},
                        status_code=422)
        return redirect(request, "admin_screening", "created", id=saved.id)
    return page(request, organiser, "admin/screening_form.html",
                {"screening": None, "values": values, "errors": {},
                 **await _choices(request, organiser)})


def _screening_values(s: dict[str, Any]) -> dict[str, Any]:
    values = stored_values({n: s.get(n) for n in SCREENING_FORM})
    values.update(starts_at=s["starts_input"], ends_at=s["ends_input"],
                  guest_ids=s["guest_ids"], confirm_guest_clash=False)
    return values


async def screening_edit(request: Request) -> Response:
    organiser = signed_in(request)
    db = request.app.state.db
    screening_id = request.path_params["id"]
    screening = await screenings.get_screening(db, organiser, screening_id)
    if request.method == "GET":
        return page(request, organiser, "admin/screening_form.html",
                    {"screening": screening, "values": _screening_values(screening),
                     "errors": {}, **await _choices(request, organiser)})
    form = await request.form()
    try:
        saved = await screenings.update_screening(
            db, organiser, screening_id, form_input(form, SCREENING_FORM),
            changeover_minutes=request.app.state.settings.changeover_minutes)
    except ValidationError as exc:
        return page(request, organiser, "admin/screening_form.html",
                    {"screening": screening, "values": form_values(form, SCREENING_FORM),
                     "errors": exc.fields,
                     "error": gettext(exc.message), **await _choices(request, organiser)},
                    status_code=422)
    done = saved.action if saved.action in DONE else "saved"
    return redirect(request, "admin_screening", done, id=screening_id)


async def screening_status(request: Request) -> Response:
    """Publish, cancel, reinstate or unpublish: one button each on the screening's page."""
    organiser = signed_in(request)
    form = await request.form()
    screening_id = request.path_params["id"]
    wanted = form.get("status")
    if wanted == "cancelled" and form.get("confirm") != "1":
        # Cancelling mails every registrant: it is done from the page that says how many
        # (to those who may manage the screening: Forbidden otherwise).
        await screenings.get_screening(request.app.state.db, organiser, screening_id)
        return RedirectResponse(request.app.url_path_for("admin_screening_cancel",
                                                         id=screening_id), 303)
    try:
        saved = await screenings.update_screening(
            request.app.state.db, organiser, screening_id, {"status": wanted},
            changeover_minutes=request.app.state.settings.changeover_minutes)
    except ValidationError as exc:
        screening = await screenings.get_screening(request.app.state.db, organiser, screening_id)
        return page(request, organiser, "admin/screening_form.html",
                    {"screening": screening, "values": _screening_values(screening),
                     "errors": exc.fields, "error": gettext(exc.message),
                     **await _choices(request, organiser)}, status_code=422)
    done = saved.action if saved.action in DONE else "saved"
    return redirect(request, "admin_screening", done, id=screening_id)


async def screening_cancel(request: Request) -> Response:
    """Asks to confirm a cancellation, saying how many registrants will be mailed; its
    form posts to `screening_status` with `confirm=1`."""
    organiser = signed_in(request)
    screening = await screenings.screening_to_cancel(request.app.state.db, organiser,
                                                     request.path_params["id"])
    return page(request, organiser, "admin/screening_cancel.html", {"screening": screening})


# --- venues, films, guests -----------------------------------------------------------------

def _kind_routes(kind: str) -> tuple[BaseRoute, ...]:
    """The list, new and edit pages of a venue, film or guest: one shape for the three."""
    plural = catalogue.KINDS[kind].table
    spec = catalogue.KINDS[kind].fields

    async def listing(request: Request) -> Response:
        organiser = signed_in(request)
        rows = await catalogue.list_rows(request.app.state.db, organiser, kind)
        return page(request, organiser, f"admin/{plural}.html", {"rows": rows})

    async def form_page(request: Request) -> Response:
        from festival.web.views import catalogue_pages  # it builds on this module's pages

        organiser = signed_in(request)
        db = request.app.state.db
        row_id = request.path_params.get("id")
        row = None if row_id is None else await catalogue.get_row(db, organiser, kind, row_id)
        if request.method == "GET":
            values = stored_values(dict(row)) if row else {"listed": True,
                                                           "country": organiser["country"]}
            return page(request, organiser, f"admin/{kind}_form.html",
                        {"row": row, "values": values, "errors": {},
                         **await catalogue_pages.form_extras(request, kind, row)})
        form = await request.form()
        try:
            saved = await catalogue.save_row(db, organiser, kind, row_id, form_input(form, spec))
        except ValidationError as exc:
            return page(request, organiser, f"admin/{kind}_form.html",
                        {"row": row, "values": form_values(form, spec), "errors": exc.fields,
                         "error": gettext(exc.message),
                         **await catalogue_pages.form_extras(request, kind, row)},
                        status_code=422)
        done = {"create": "created", "update": "saved"}.get(saved.action, "unchanged")
        return redirect(request, f"admin_{kind}", done, id=saved.id)

    return (Route(f"/admin/{plural}", listing, name=f"admin_{plural}"),
            Route(f"/admin/{plural}/new", form_page, methods=["GET", "POST"],
                  name=f"admin_{kind}_new"),
            Route(f"/admin/{plural}/{{id:int}}", form_page, methods=["GET", "POST"],
                  name=f"admin_{kind}"))


# --- the admin JSON API --------------------------------------------------------------------

def screening_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"], "key": s["key"], "uid": s["uid"], "status": s["status"],
        "edition": s["edition_key"], "film_id": s["film_id"], "title": s["title"],
        "venue_id": s["venue_id"], "venue": s["venue_name"], "city": s["city"],
        "country": s["country"], "timezone": s["timezone"],
        "starts_at": times.local_iso(s["starts_at"], s["timezone"]),
        "ends_at": times.local_iso(s["ends_at"], s["timezone"]),
        "capacity": s["capacity"], "max_seats": s["max_seats"],
        "confirmed_seats": s["confirmed_seats"], "seats_left": s["seats_left"],
        "waitlist": s["waitlist"], "language": s["language"], "subtitles": s["subtitles"],
        "sign_interpretation": bool(s["sign_interpretation"]),
        "captioned_debate": bool(s["captioned_debate"]),
        "debate_title": s["debate_title"], "debate_description": s["debate_description"],
        "debate_title_i18n": translations_of(s["debate_title_i18n"]),
        "debate_description_i18n": translations_of(s["debate_description_i18n"]),
        "guest_ids": s.get("guest_ids", []), "notes": s["notes"],
        "sequence": s["sequence"], "updated_at": s["updated_at"],
    }


async def _screening_response(request: Request, organiser: dict[str, Any], screening_id: int,
                              status_code: int = 200) -> JSONResponse:
    screening = await screenings.get_screening(request.app.state.db, organiser, screening_id)
    return JSONResponse(screening_json(screening), status_code=status_code, headers=PRIVATE_HEADERS)


async def api_screenings(request: Request) -> Response:
    organiser = signed_in(request)
    if request.method == "POST":
        data = await json_object(request)
        saved = await screenings.create_screening(
            request.app.state.db, organiser, data,
            changeover_minutes=request.app.state.settings.changeover_minutes)
        return await _screening_response(request, organiser, saved.id, 201)
    edition = await _edition(request)
    rows = [] if edition is None else await screenings.list_screenings(
        request.app.state.db, organiser, edition["id"])
    guests = await queries.guests_by_screening(request.app.state.db, [s["id"] for s in rows],
                                                 public=False)
    for s in rows:
        s["guest_ids"] = [g["id"] for g in guests.get(s["id"], [])]
    return JSONResponse([screening_json(s) for s in rows], headers=PRIVATE_HEADERS)


async def api_screening(request: Request) -> Response:
    organiser = signed_in(request)
    screening_id = request.path_params["id"]
    if request.method == "PATCH":
        data = await json_object(request)
        await screenings.update_screening(
            request.app.state.db, organiser, screening_id, data,
            changeover_minutes=request.app.state.settings.changeover_minutes)
    return await _screening_response(request, organiser, screening_id)


routes: list[BaseRoute] = [
    Route("/admin/login", login, methods=["GET", "POST"], name="admin_login"),
    Route("/admin/logout", logout, methods=["POST"], name="admin_logout"),
]

organiser_routes: list[BaseRoute] = [
    Route("/admin/", home, name="admin_home"),
    Route("/admin/screenings", screening_list, name="admin_screenings"),
    Route("/admin/screenings/new", screening_new, methods=["GET", "POST"],
          name="admin_screening_new"),
    Route("/admin/screenings/{id:int}", screening_edit, methods=["GET", "POST"],
          name="admin_screening"),
    Route("/admin/screenings/{id:int}/status", screening_status, methods=["POST"],
          name="admin_screening_status"),
    Route("/admin/screenings/{id:int}/cancel", screening_cancel, name="admin_screening_cancel"),
    *_kind_routes("venue"),
    *_kind_routes("film"),
    *_kind_routes("guest"),
    Route("/api/v1/admin/screenings", api_screenings, methods=["GET", "POST"],
          name="api_admin_screenings"),
    Route("/api/v1/admin/screenings/{id:int}", api_screening, methods=["GET", "PATCH"],
          name="api_admin_screening"),
]

# Admins only (festival.web.routes declares it).
admin_routes: list[BaseRoute] = [
    Route("/admin/edition/confirm-email", edition_confirm_email, methods=["POST"],
          name="admin_edition_confirm_email"),
    Route("/admin/organisers", organiser_accounts, name="admin_organisers"),
    Route("/admin/organisers/{id:int}/disable", organiser_disable, methods=["POST"],
          name="admin_organiser_disable"),
    Route("/admin/organisers/{id:int}/enable", organiser_enable, methods=["POST"],
          name="admin_organiser_enable"),
    Route("/admin/organisers/{id:int}/unlock", organiser_unlock, methods=["POST"],
          name="admin_organiser_unlock"),
    Route("/admin/organisers/{id:int}/password", organiser_password, methods=["POST"],
          name="admin_organiser_password"),
]
