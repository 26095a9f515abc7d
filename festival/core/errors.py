"""Domain errors: values with text for people, raised by the domain and turned into a
page or JSON in one place (`festival.web.app`). Messages are marked for translation with
`_` (lazy: translated when rendered, in the reader's language)."""

from __future__ import annotations


def _(text: str) -> str:
    """Marks a message for extraction; it is translated when shown."""
    return text


class FestivalError(Exception):
    status = 400
    code = "bad_request"
    message = _("Something is wrong with this request.")

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
