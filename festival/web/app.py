"""The ASGI application: `create_app(settings)`.

The lifespan opens the Database (migrating it) and starts the mail sender; middleware
adds security headers, limits request bodies and picks the reader's language; one set
of handlers turns every error into the JSON error shape (API) or a friendly page. Logs
are masked (festival.core.logs: no tokens, no email addresses), installed here so that
every worker process has it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from festival.core import i18n, logs
from festival.core.errors import FestivalError, TooLarge, Unauthorised, _
from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail.sender import MailSender
from festival.privacy.retention import RetentionTask
from festival.programme import queries
from festival.seats import registrations
from festival.web import revalidation, templating
from festival.web.routes import build_routes

log = logging.getLogger("festival")

MAX_BODY_BYTES = 64 * 1024
# Larger bodies some routes take (their path, fully matched): a film's poster upload
# (festival.programme.posters refuses images over 2 MB with a message of its own).
BODY_ALLOWANCES = [(re.compile(r"/admin/films/\d{1,18}/poster"), 4 * 1024 * 1024)]


def body_limit(path: str) -> int:
    """The most bytes a request to `path` may send: MAX_BODY_BYTES, or its allowance."""
    return next((limit for pattern, limit in BODY_ALLOWANCES if pattern.fullmatch(path)),
                MAX_BODY_BYTES)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
     b"script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    # Every powerful feature off, for this site and anything it could embed; the camera
    # stays allowed for the site itself, for the door's QR scanner.
    (b"permissions-policy",
     b"accelerometer=(), autoplay=(), camera=(self), display-capture=(), "
     b"encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), "
     b"idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), "
     b"picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), "
     b"serial=(), sync-xhr=(), usb=(), xr-spatial-tracking=()"),
]
# Sent behind https only (the request's scheme, or FESTIVAL_BASE_URL): browsers then
# refuse plain http to this host, and its subdomains, for a year.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
HTTP_MESSAGES = {
    404: _("We could not find that page."),
    405: _("That action is not possible here."),
    400: _("Something is wrong with this request."),
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/healthz")


def error_response(request: Request, status: int, code: str, message: str,
                   fields: dict[str, str] | None = None) -> Response:
    headers = {"Retry-After": "2"} if status == 503 else None
    templating.use_locale(templating.negotiate_locale(request))
    text = i18n.translate(message)
    shown = {k: i18n.translate(v) for k, v in (fields or {}).items()}
    if wants_json(request):
        body: dict[str, Any] = {"code": code, "message": text}
        if shown:
            body["fields"] = shown
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    return templating.render(request, "error.html",
                             {"status": status, "message": text, "fields": shown},
                             status_code=status, headers=headers)


async def on_festival_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FestivalError)
    if isinstance(exc, Unauthorised) and not wants_json(request):
        # A page that needs an organiser sends the browser to sign in, then back.
        login = request.app.url_path_for("admin_login")
        return RedirectResponse(f"{login}?{urlencode({'next': request.url.path})}", 303)
    response = error_response(request, exc.status, exc.code, exc.message, exc.fields)
    response.headers.update(getattr(exc, "headers", None) or {})  # e.g. a 429's Retry-After
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = HTTP_MESSAGES.get(exc.status_code, HTTP_MESSAGES[400])
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    response = error_response(request, exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        response.headers["Allow"] = ", ".join(methods)
    return response


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at the request's path. Starlette's own 405 names
    only the methods of the first route that matched the path; routes that share a path
    (GET and DELETE of /api/v1/registrations/{token}) would each hide the others'."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            taken = route.methods
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            taken = {"GET", "HEAD"}  # StaticFiles' 405 names none
        else:
            continue
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= taken
    return sorted(methods)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal",
                          _("Sorry, something went wrong on our side. Please try again."))


class RequestGuard:
    """Pure ASGI middleware: security headers on every answer (HSTS too behind https:
    the request's scheme, or `https_site` from FESTIVAL_BASE_URL), request bodies capped
    at MAX_BODY_BYTES or a route's allowance (413, before any handler reads them), and
    the reader's language."""

    def __init__(self, app: ASGIApp, *, https_site: bool = False) -> None:
        self.app = app
        self.https_site = https_site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra_headers = list(SECURITY_HEADERS)
        if self.https_site or scope.get("scheme") == "https":
            extra_headers.append(HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        if await revalidation.answer_early(scope, send_with_headers):
            return  # a feed's 304, as the route would have answered it
        request = Request(scope)
        templating.use_locale(templating.negotiate_locale(request))

        limit = body_limit(scope["path"])
        length = request.headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            exc = TooLarge()
            response = error_response(request, exc.status, exc.code, exc.message)
            await response(scope, receive, send_with_headers)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge()
            return message

        await self.app(scope, limited_receive, send_with_headers)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    logs.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logs.install()  # again: uvicorn configures its logging after create_app
        db = await Database(settings.db_path, synchronous=settings.sqlite_synchronous,
                            pool_size=settings.db_pool).open()
        app.state.db = db
        background = await _start_background(app)
        try:
            yield
        finally:
            for stop in background:
                await stop()
            await db.close()

    app = Starlette(
        debug=False,
        routes=build_routes(settings),
        middleware=[Middleware(RequestGuard,
                               https_site=settings.base_url.lower().startswith("https:"))],
        exception_handlers={
            FestivalError: on_festival_error,
            HTTPException: on_http_error,
            Exception: on_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = templating.create_environment(settings)
    app.state.screening_cache = queries.ScreeningCache()
    return app


async def _start_background(app: Starlette) -> list[Any]:
    """Starts the server's background tasks (the mail sender, the expiry of unconfirmed
    holds, the daily erasure of personal data past its retention); answers their
    stoppers. Every worker runs them: each job is one transaction that finds its own
    work, so two workers never do a piece twice."""
    if not app.state.settings.start_mail_sender:
        return []
    sender = MailSender(app.state.db, app.state.settings).start()
    app.state.mail_sender = sender
    retention = RetentionTask(app.state.db, app.state.settings).start()
    tasks = [asyncio.create_task(registrations.expire_holds_periodically(app.state.db),
                                 name="festival-hold-expiry")]

    async def stop_tasks() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return [sender.stop, retention.stop, stop_tasks]


def app_from_env() -> Starlette:
    """For `uvicorn --factory` and `festival serve --workers N`: settings from the
    environment, which the `serve` command fills from its flags."""
    return create_app(Settings.from_env())
