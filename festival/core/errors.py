"""Domain errors: values with text for people, raised by the domain and turned into a
page or JSON in one place (`festival.web.app`). Messages are marked for translation with
`_` (lazy: translated when rendered, in the reader's language)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType


def _(text: str) -> str:
    """Marks a message for extraction; it is translated when shown."""
    return text


class FestivalError(Exception):
    status = 400
    code = "bad_request"
    message = _("Something is wrong with this request.")
    # Response headers the answer must carry (e.g. Retry-After), added by the one error
    # handler to the page or JSON it makes of the error.
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None):
        if message is not None:
            self.message = message
        self.fields = fields or {}
        super().__init__(self.message)


class ValidationError(FestivalError):
    status = 422
    code = "invalid"
    message = _("Please correct the fields marked below.")


class NotFound(FestivalError):
    status = 404
    code = "not_found"
    message = _("We could not find that page.")


class Forbidden(FestivalError):
    status = 403
    code = "forbidden"
    message = _("You are not allowed to do that.")


class Unauthorised(FestivalError):
    status = 401
    code = "unauthorised"
    message = _("Please sign in first.")


class Conflict(FestivalError):
    status = 409
    code = "conflict"
    message = _("That can no longer be done.")


class RegistrationClosed(Conflict):
    code = "registration_closed"
    message = _("Registration for this screening is closed.")


class TooLarge(FestivalError):
    status = 413
    code = "too_large"
    message = _("The request is too large.")


class Busy(FestivalError):
    """The database stayed locked by other processes for too long."""

    status = 503
    code = "busy"
    message = _("We are very busy right now. Please try again in a moment.")


class RateLimited(FestivalError):
    """Too many requests from one client (festival.core.limits): 429, with Retry-After
    saying in whole seconds when the next one will be let through. The message says
    roughly how long, in words that can be translated."""

    status = 429
    code = "rate_limited"
    message = _("There have been too many requests from your network. Please try again in "
                "a few minutes.")

    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = max(1, math.ceil(retry_after))  # whole seconds, rounded up
        super().__init__(message or wait_message(self.retry_after))
        self.headers = MappingProxyType({"Retry-After": str(self.retry_after)})


WAIT_MESSAGES = (  # (at most this many seconds, the message)
    (60, _("There have been too many requests from your network. Please try again in a "
           "minute.")),
    (15 * 60, RateLimited.message),
    (2 * 3600, _("There have been too many requests from your network. Please try again "
                 "in an hour or two.")),
    (24 * 3600, _("There have been too many requests from your network. Please try again "
                  "later today or tomorrow.")),
    (None, _("There have been too many requests from your network. Please try again in a "
             "few days.")),
)


def wait_message(seconds: int) -> str:
    """The message for a wait of `seconds` (marked text, translated when shown)."""
    return next(text for limit, text in WAIT_MESSAGES if limit is None or seconds <= limit)
