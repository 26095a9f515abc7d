"""Protection of unsafe requests from other sites (double-submit cookie).

A random value lives in an HttpOnly cookie; forms carry an HMAC of it under the
server's secret key. Another site can make the browser send the cookie but can neither
read it nor compute the HMAC, so a forged form fails `check`."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from festival.core.errors import Forbidden, _
from festival.organisers.accounts import cookie_is_secure

COOKIE = "festival_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"  # for scripts of our own pages that send no form


def _cookie_value(request: Request) -> str:
    value = request.cookies.get(COOKIE) or getattr(request.state, "csrf_new", None)
    if not value:
        value = secrets.token_urlsafe(32)
        request.state.csrf_new = value
    return value


def token(request: Request) -> str:
    """The token a form of this page must send back."""
    key = request.app.state.settings.secret_key.encode()
    return hmac.new(key, _cookie_value(request).encode(), hashlib.sha256).hexdigest()


def set_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "csrf_new", None)
    if new:
        response.set_cookie(COOKIE, new, httponly=True, samesite="lax",
                            secure=cookie_is_secure(request), max_age=7 * 86400)


def check(request: Request, sent: object) -> None:
    """Raises Forbidden unless `sent` is this browser's token (festival.web.guards calls
    this for every unsafe request; handlers never need to)."""
    if not request.cookies.get(COOKIE) or not isinstance(sent, str) or not hmac.compare_digest(
        sent.encode(), token(request).encode()  # bytes: str refuses non-ASCII input
    ):
        raise Forbidden(_("This form has expired or came from another site. "
                          "Please reload the page and try again."))
