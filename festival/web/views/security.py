"""Accounts beyond the password: invites (an admin invites an address; its link sets
the password, creating the account) and the TOTP second factor (an organiser's own
page; the code step of signing in). The rules live in festival.organisers.invites and
festival.organisers.totp; who may call each route is declared in festival.web.routes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from festival.core import i18n
from festival.core.errors import (
    Conflict,
    NotFound,
    RateLimited,
    ValidationError,
    _,
)
from festival.organisers import accounts, invites, totp
from festival.web.guards import client_of, signed_in
from festival.web.templating import gettext, render
from festival.web.views import PRIVATE_HEADERS
from festival.web.views.admin import organiser_accounts, page, redirect, safe_next
from festival.web.views.tickets import qr_svg

# --- the code step of signing in -------------------------------------------------------------

def _challenge(request: Request) -> str | None:
    token = request.cookies.get(totp.CHALLENGE_COOKIE)
    return token if token and 20 <= len(token) <= 100 else None


def set_challenge_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(totp.CHALLENGE_COOKIE, token,
                        max_age=int(totp.CHALLENGE_LIFETIME.total_seconds()), path="/admin/",
                        httponly=True, samesite="lax",
                        secure=accounts.cookie_is_secure(request))


async def login_code(request: Request) -> Response:
    home_path = request.app.url_path_for("admin_home")
    db = request.app.state.db
    if request.method == "GET":
        target = safe_next(request.query_params.get("next"), home_path)
        if not await totp.challenge_exists(db, _challenge(request)):
            return RedirectResponse(request.app.url_path_for("admin_login"), 303)
        return render(request, "admin/login_code.html", {"next": target, "error": ""},
                      headers=PRIVATE_HEADERS)
    form = await request.form()
    target = safe_next(str(form.get("next", "")), home_path)
    try:
        token = await totp.sign_in_with_code(
            db, _challenge(request), str(form.get("code", ""))[:20],
            settings=request.app.state.settings, client_ip=client_of(request))
    except totp.ChallengeGone as exc:
        return render(request, "admin/login.html",
                      {"next": target, "email": "", "error": gettext(exc.message)},
                      status_code=exc.status, headers=PRIVATE_HEADERS)
    except (totp.CodeRefused, accounts.SignInFailed, RateLimited) as exc:
        return render(request, "admin/login_code.html",
                      {"next": target, "error": gettext(exc.message)},
                      status_code=exc.status, headers={**PRIVATE_HEADERS, **exc.headers})
    await accounts.sign_out(db, accounts.session_token(request))
    response = RedirectResponse(target, 303)
    response.delete_cookie(totp.CHALLENGE_COOKIE, path="/admin/")
    accounts.set_session_cookie(request, response, token)
    return response


# --- the organiser's own two-step sign-in page ---------------------------------------------

async def security(request: Request, *, status_code: int = 200, error: str = "") -> Response:
    organiser = signed_in(request)
    state = await totp.state(request.app.state.db, organiser["id"])
    context: dict[str, Any] = {"totp": state, "error": error}
    if state["pending"]:
        uri = totp.provisioning_uri(state["pending"], state["email"])
        context["qr"] = qr_svg(uri, gettext(_("QR code for your authenticator app")))
        # In groups of four, as the apps show them; spaces are ignored when typed.
        context["secret_groups"] = " ".join(state["pending"][i:i + 4]
                                            for i in range(0, len(state["pending"]), 4))
    return page(request, organiser, "admin/security.html", context, status_code=status_code)


async def security_change(request: Request) -> Response:
    organiser = signed_in(request)
    form = await request.form()
    code = str(form.get("code", ""))[:20]
    turn_on = request.url.path.endswith("/enable")
    try:
        if turn_on:
            await totp.enable(request.app.state.db, organiser["id"], code)
        else:
            await totp.disable(request.app.state.db, organiser["id"], code)
    except (totp.CodeRefused, Conflict) as exc:
        return await security(request, status_code=exc.status, error=gettext(exc.message))
    return redirect(request, "admin_security", "totp_on" if turn_on else "totp_off")


# --- invites ---------------------------------------------------------------------------------

async def invite_create(request: Request) -> Response:
    admin = signed_in(request)
    form = await request.form()
    try:
        await invites.create_invite(
            request.app.state.db, str(form.get("email", ""))[:254],
            str(form.get("role", "")), str(form.get("country", ""))[:10],
            settings=request.app.state.settings, by=admin["id"],
            locale=i18n.current_locale())
    except ValidationError as exc:
        return await organiser_accounts(
            request, status_code=422,
            error=" ".join(gettext(m) for m in exc.fields.values()) or gettext(exc.message))
    except Conflict as exc:
        return await organiser_accounts(request, status_code=409, error=gettext(exc.message))
    return redirect(request, "admin_organisers", "invited")


async def invite_revoke(request: Request) -> Response:
    admin = signed_in(request)
    await request.form()
    await invites.revoke(request.app.state.db, request.path_params["id"], by=admin["id"])
    return redirect(request, "admin_organisers", "invite_revoked")


async def reset_totp(request: Request) -> Response:
    admin = signed_in(request)
    await request.form()
    await totp.reset(request.app.state.db, request.path_params["id"], by=admin["id"])
    return redirect(request, "admin_organisers", "totp_reset")


async def invite_accept(request: Request) -> Response:
    """The invite's link: a form to choose the password; a link that no longer works
    says why (410), an unknown one 404."""
    token = request.path_params["token"]
    db = request.app.state.db
    try:
        invite = await invites.find(db, token)
    except NotFound as exc:
        return _invite_page(request, None, gettext(exc.message), 404)
    if invite["status"] != "open":
        return _invite_page(request, invite, gettext(invites.refusal(invite["status"])), 410)
    if request.method == "GET":
        return _invite_page(request, invite, "", 200)
    form = await request.form()
    try:
        _id, session = await invites.accept(
            db, token, str(form.get("password", "")), str(form.get("confirmation", "")),
            settings=request.app.state.settings)
    except ValidationError as exc:
        return _invite_page(request, invite, "", 422,
                            {k: gettext(v) for k, v in exc.fields.items()})
    except Conflict as exc:
        return _invite_page(request, invite, gettext(exc.message), 410)
    await accounts.sign_out(db, accounts.session_token(request))
    response = RedirectResponse(request.app.url_path_for("admin_home"), 303)
    accounts.set_session_cookie(request, response, session)
    return response


def _invite_page(request: Request, invite: dict[str, Any] | None, error: str,
                 status_code: int, errors: dict[str, str] | None = None) -> Response:
    return render(request, "admin/invite.html",
                  {"invite": invite, "error": error, "errors": errors or {},
                   "open": invite is not None and invite["status"] == "open" and not error},
                  status_code=status_code, headers=PRIVATE_HEADERS)


# Anyone (the code step, an invite's link): CSRF-checked and limited per client.
routes: list[BaseRoute] = [
    Route("/admin/login/code", login_code, methods=["GET", "POST"], name="admin_login_code"),
    Route("/admin/invite/{token}", invite_accept, methods=["GET", "POST"],
          name="admin_invite"),
]

# Any signed-in organiser.
organiser_routes: list[BaseRoute] = [
    Route("/admin/security", security, name="admin_security"),
    Route("/admin/security/enable", security_change, methods=["POST"],
          name="admin_security_enable"),
    Route("/admin/security/disable", security_change, methods=["POST"],
          name="admin_security_disable"),
]

# Admins only.
admin_routes: list[BaseRoute] = [
    Route("/admin/organisers/invite", invite_create, methods=["POST"],
          name="admin_organiser_invite"),
    Route("/admin/invites/{id:int}/revoke", invite_revoke, methods=["POST"],
          name="admin_invite_revoke"),
    Route("/admin/organisers/{id:int}/reset-2fa", reset_totp, methods=["POST"],
          name="admin_organiser_reset_totp"),
]
