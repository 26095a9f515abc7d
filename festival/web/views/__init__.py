"""Views: parse the request, call one domain function, render. One module per audience;
this module holds what several of them share."""

import json
from typing import Any

from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.requests import Request
from starlette.routing import NoMatchFound

from festival.core.errors import ValidationError, _

# Pages and answers that hold personal data or a secret: never stored by a shared cache,
# never indexed.
PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}


class BoundedIntegerConvertor(IntegerConvertor):
    """`{id:int}` in every route: at most 18 digits, so an id always fits SQLite's 64-bit
    INTEGER and a longer one is a plain 404, not an OverflowError."""

    regex = "[0-9]{1,18}"


# Registered before any view module builds its routes (they compile their paths then).
register_url_convertor("int", BoundedIntegerConvertor())


def whole_number(text: object, digits: int = 18) -> int | None:
    """An ASCII digit string of at most `digits` digits as an int, else None. (str.isdigit
    alone accepts '²', which int() refuses.)"""
    if isinstance(text, str) and 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def form_number(value: object) -> object:
    """A number typed in a form (seats, ids) as an int; anything else is passed on as it
    came, for the domain to refuse with its own friendly message."""
    number = whole_number(value.strip() if isinstance(value, str) else value, digits=9)
    return value if number is None else number


def optional_path(request: Request, name: str, **params: Any) -> str | None:
    """The path of a named route, or None while no such route is installed, so a page
    offers a link only once the feature behind it exists."""
    try:
        return str(request.app.url_path_for(name, **params))
    except NoMatchFound:
        return None


async def json_object(request: Request, *, what: str = _("Send a JSON object.")) -> dict[str, Any]:
    """The JSON object body of an API write; ValidationError (422) for anything else
    (`what` says what to send). Requiring the JSON content type also keeps other sites
    out: a cross-site form cannot send it without the browser asking first. An
    oversized body never gets here: the app answers 413 first."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ValidationError(fields={"body": _("Send a JSON object (Content-Type: "
                                                "application/json).")})
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):  # also bad UTF-8 and absurdly long numbers
        raise ValidationError(fields={"body": _("The body is not valid JSON.")}) from None
    if not isinstance(data, dict):
        raise ValidationError(fields={"body": what})
    return data


def paged(items: list[Any], page: int, size: int) -> tuple[list[Any], int, int]:
    """(the items of page `page`, that page number, the number of pages): a page past
    the end shows the last one."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return items[(page - 1) * size: page * size], page, pages
