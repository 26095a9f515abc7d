"""The ASGI application: `create_app(settings)`.

The lifespan opens the Database (migrating it) and starts the mail sender; middleware
adds security headers, limits request bodies and picks the reader's language; one set
of handlers turns every error into the JSON error shape (API) or a friendly page."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from festival.core.errors import FestivalError, TooLarge, Unauthorised, _
from festival.core.settings import Settings
from festival.core.store import Database
from festival.mail.sender import MailSender
from festival.programme import queries
from festival.web import templating
from festival.web.routes import build_routes

log = logging.getLogger("festival")

MAX_BODY_BYTES = 64 * 1024
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
    text = templating.gettext(message)
    if wants_json(request):
        body: dict[str, Any] = {"code": code, "message": text}
        if fields:
            body["fields"] = {k: templating.gettext(v) for k, v in fields.items()}
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    return templating.render(request, "error.html",
                             {"status": status, "message": text, "fields": fields or {}},
                             status_code=status, headers=headers)


async def on_festival_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FestivalError)
    if isinstance(exc, Unauthorised) and not wants_json(request):
        # A page that needs an organiser sends the browser to sign in, then back.
        login = request.app.url_path_for("admin_login")
        return RedirectResponse(f"{login}?{urlencode({'next': request.url.path})}", 303)
    return error_response(request, exc.status, exc.code, exc.message, exc.fields)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = HTTP_MESSAGES.get(exc.status_code, HTTP_MESSAGES[400])
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    response = error_response(request, exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal",
                          _("Sorry, something went wrong on our side. Please try again."))


class RequestGuard:
    """Pure ASGI middleware: security headers on every answer, request bodies capped at
    MAX_BODY_BYTES (413, before any handler reads them), and the reader's language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        templating.use_locale(templating.negotiate_locale(request))
        length = request.headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES:
            exc = TooLarge()
            response = error_response(request, exc.status, exc.code, exc.message)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise TooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy",
                     b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                     b"script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database(settings.db_path, synchronous=settings.sqlite_synchronous).open()
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
        middleware=[Middleware(RequestGuard)],
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
    """Starts the server's background tasks (the mail sender); answers their stoppers."""
    if not app.state.settings.start_mail_sender:
        return []
    sender = MailSender(app.state.db, app.state.settings).start()
    app.state.mail_sender = sender
    return [sender.stop]


def app_from_env() -> Starlette:
    """For `uvicorn --factory` and `festival serve --workers N`: settings from the
    environment, which the `serve` command fills from its flags."""
    return create_app(Settings.from_env())
