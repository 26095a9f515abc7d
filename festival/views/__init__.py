"""Views: parse the request, call one domain function, render. One module per audience."""

from starlette.convertors import IntegerConvertor, register_url_convertor


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
