"""Jinja2 pages and the reader's language.

The language follows `?lang=`, then the `lang` cookie, then Accept-Language (the API:
`?lang=`, then Accept-Language); the page says it in `<html lang dir>`, right to left
for Arabic. Catalogues,
gettext, the date and time formatting and the Jinja2 environment live in
festival.core.i18n (mail uses them too); they are imported here under their old names.

Cookies and caches: a page sets the CSRF cookie only when it prints a form's token (its
forms need it), and is then private (`Cache-Control: private, no-store`); a page without
such a form sets no cookie at all (the `lang` cookie only answers `?lang=`), so a shared
cache in front may keep it. Every page says that its language follows the request
(`Vary: Accept-Language, Cookie`). Pages the same for every
visitor (render_shared) are kept between requests by festival.web.page_cache."""

from __future__ import annotations

from typing import Any

import jinja2
from babel import Locale
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from festival.core.i18n import CATALOGUES as CATALOGUES
from festival.core.i18n import DEFAULT_LOCALE as DEFAULT_LOCALE
from festival.core.i18n import FORMAT_LOCALES as FORMAT_LOCALES
from festival.core.i18n import LOCALE_DIR as LOCALE_DIR
from festival.core.i18n import LOCALES as LOCALES
from festival.core.i18n import create_environment as create_environment
from festival.core.i18n import current_locale as current_locale
from festival.core.i18n import format_date as format_date
from festival.core.i18n import format_datetime as format_datetime
from festival.core.i18n import format_locale as format_locale
from festival.core.i18n import format_time as format_time
from festival.core.i18n import gettext as gettext
from festival.core.i18n import locale_name as locale_name
from festival.core.i18n import ngettext as ngettext
from festival.core.i18n import use_locale as use_locale
from festival.core.i18n import zone_label as zone_label
from festival.web import csrf

LANGUAGE_COOKIE = "lang"
# Every page's language follows these request headers (negotiate_locale); `?lang=` is
# in the address itself.
PAGE_VARY = "Accept-Language, Cookie"
# A page that prints a form's token holds a secret of this browser's: never stored by a
# shared cache (the same as festival.web.views.PRIVATE_HEADERS).
PRIVATE_PAGE = "private, no-store"
# Any other page: caches may keep it, but ask again before each use (seat counts change).
OTHER_PAGE = "no-cache"


def negotiate_locale(request: Request) -> str:
    """`?lang=`, then the `lang` cookie (the language switch's choice; not for the JSON
    API, whose answers follow the request alone), then Accept-Language, else English."""
    cookie = None if request.url.path.startswith("/api/") else request.cookies.get(
        LANGUAGE_COOKIE)
    for candidate in (request.query_params.get("lang"), cookie):
        if candidate in CATALOGUES:
            return candidate
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",")]
    chosen = Locale.negotiate([p for p in preferred if p and p != "*"], LOCALES, sep="_")
    return str(chosen) if chosen else DEFAULT_LOCALE


class FormToken:
    """The page's CSRF token, made only when a template prints it: a page without a
    form that needs it then sets no cookie (festival.web.csrf)."""

    __slots__ = ("_request", "_value")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = csrf.token(self._request)
        return self._value

    def __html__(self) -> str:  # hex digits: nothing to escape
        return str(self)

    @property
    def printed(self) -> bool:
        return self._value is not None


class NoFormToken:
    """The `csrf_token` of a page kept for every visitor (PageCache): such a page must
    not carry a form that needs one."""

    def __str__(self) -> str:
        raise RuntimeError("a page kept for every visitor cannot print a form's token")

    __html__ = __str__


def _html(request: Request, template: str, context: dict[str, Any] | None,
          token: FormToken | NoFormToken) -> str:
    env: jinja2.Environment = request.app.state.templates
    page_context = {
        "request": request,
        "url": lambda name, **params: request.app.url_path_for(name, **params),
        "csrf_token": token,
        "locale": current_locale(),
        **(context or {}),
    }
    return env.get_template(template).render(page_context)


def remember_language(request: Request, response: Response) -> None:
    """`?lang=` naming a language sets the `lang` cookie (the language switch)."""
    if request.query_params.get("lang") in CATALOGUES:
        response.set_cookie(LANGUAGE_COOKIE, request.query_params["lang"], max_age=31536000,
                            samesite="lax", httponly=True)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Renders a page in the reader's language, with a CSRF token for its forms (and
    the cookie behind it) when it prints one."""
    token = FormToken(request)
    html = _html(request, template, context, token)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if token.printed:
        csrf.set_cookie(request, response)
        response.headers.setdefault("Cache-Control", PRIVATE_PAGE)
    else:
        response.headers.setdefault("Cache-Control", OTHER_PAGE)
    response.headers.add_vary_header(PAGE_VARY)
    remember_language(request, response)
    return response


def render_shared(request: Request, template: str, context: dict[str, Any]) -> bytes:
    """The bytes of a page that is the same for every visitor asking with this address
    and language (no form token, nothing of who asks), for PageCache."""
    return _html(request, template, context, NoFormToken()).encode("utf-8")
