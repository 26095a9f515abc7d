"""Jinja2 pages and the reader's language.

The language follows `?lang=`, then the `lang` cookie, then Accept-Language (the API:
`?lang=`, then Accept-Language); the page says it in `<html lang dir>`, right to left
for Arabic. Catalogues,
gettext, the date and time formatting and the Jinja2 environment live in
festival.core.i18n (mail uses them too); they are imported here under their old names."""

from __future__ import annotations

from typing import Any

import jinja2
from babel import Locale
from starlette.requests import Request
from starlette.responses import HTMLResponse

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


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Renders a page in the reader's language, with a CSRF token for its forms."""
    env: jinja2.Environment = request.app.state.templates
    page_context = {
        "request": request,
        "url": lambda name, **params: request.app.url_path_for(name, **params),
        "csrf_token": csrf.token(request),
        "locale": current_locale(),
        **(context or {}),
    }
    html = env.get_template(template).render(page_context)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    csrf.set_cookie(request, response)
    if request.query_params.get("lang") in CATALOGUES:
        response.set_cookie(LANGUAGE_COOKIE, request.query_params["lang"], max_age=31536000,
                            samesite="lax", httponly=True)
    return response
