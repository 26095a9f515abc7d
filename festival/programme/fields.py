"""Field checks: the rules a value must pass to enter the database, one set for every
way in (the programme file of festival.programme.file, the organisers' forms and admin
API of festival.programme.catalogue and festival.programme.screenings).

A `Check` answers the normalised value or raises ValueError with text for people;
`check_object` runs a spec of `Field`s over an object and records each error under its
path (`screenings[3].starts_at`), so one pass reports every mistake at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from babel import Locale

from festival.core import times
from festival.core.text import has_unsafe_characters

Check = Callable[[Any], Any]  # answers the normalised value or raises ValueError(text)


@dataclass(frozen=True)
class Field:
    check: Check | None = None
    required: bool = False
    default: Any = None
    fields: dict[str, Field] | None = None  # a nested object (a screening's debate)

    @property
    def form_input(self) -> str:
        """How an HTML form carries this field: 'text', 'number', 'flag' (a checkbox),
        'wall_clock' or 'ids' (several values). Read by the organisers' forms, so a
        field is declared once, here, for files, forms and the API alike."""
        return getattr(self.check, "form_input", "text")


def form_input(kind: str) -> Callable[[Check], Check]:
    """Marks a check with the form input that carries its values (see Field.form_input)."""
    def mark(check: Check) -> Check:
        check.form_input = kind  # type: ignore[attr-defined]
        return check
    return mark


SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
WALL_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")
STATUSES = ("scheduled", "cancelled", "draft")
MAX_SCREENING = timedelta(hours=24)  # longer is a typo in a date, not a festival night


def text(limit: int = 200, *, blank: bool = False, lines: bool = False) -> Check:
    """Text of at most `limit` characters; line breaks only where `lines` (a synopsis, a
    bio), control characters never: they would break pages, feeds and mail headers."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        value = value.strip()
        if not value and not blank:
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        if has_unsafe_characters(value, lines=lines):
            raise ValueError("must not contain control characters"
                             + ("" if lines else " or line breaks"))
        return value
    return check


def whole(low: int, high: int) -> Check:
    @form_input("number")
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value
    return check


def slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise ValueError("must be a key of letters, digits, '-', '_' or '.' (at most 100)")
    return value


def day(value: Any) -> date:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        raise ValueError("must be a date like 2016-12-05")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None


@form_input("wall_clock")
def wall_clock(value: Any) -> datetime:
    if not isinstance(value, str) or not WALL_CLOCK.fullmatch(value):
        raise ValueError("must be a wall-clock time at the venue like 2016-12-13T19:00, "
                         "without an offset")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real time") from None


@form_input("flag")
def flag(value: Any) -> int:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return int(value)


def is_country(code: str) -> bool:
    """Whether `code` is an ISO 3166 alpha-2 country code, upper case."""
    return len(code) == 2 and code in _COUNTRIES


def country(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if not is_country(code):
        raise ValueError("must be a 2-letter country code like NL")
    return code


# ISO 3166 alpha-2 codes, as Babel (CLDR) knows them; numeric regions like 150 left out.
# ZZ, EU, UN, QO, XA, ... are regions or placeholders, not countries (XK stays).
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "AC", "CP", "CQ", "DG", "EA",
                  "IC", "TA"}
_COUNTRIES = frozenset(code for code in Locale("en").territories
                       if code.isalpha() and code not in _NOT_COUNTRIES)


def timezone(value: Any) -> str:
    try:
        times.zone(value if isinstance(value, str) else "")
    except ValueError:
        raise ValueError(f"unknown time zone {value!r}: use an IANA name like "
                         "Europe/Amsterdam") from None
    return str(value)


def languages(value: Any) -> str:
    """'fr,wo' or ["fr", "wo"], stored as 'fr,wo'."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("must be language codes like 'en' or 'fr,wo'")
    codes = [i.strip().lower() for i in items if i.strip()]
    for code in codes:
        if not LANGUAGE.fullmatch(code):
            raise ValueError(f"{code!r} is not a language code like 'en' or 'fr'")
    return ",".join(codes)


def language(value: Any) -> str:
    code = languages(value)
    if "," in code:
        raise ValueError("must be one language code like 'en'")
    return code


def status(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError("must be scheduled, cancelled or draft")
    return str(value)


def key_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of guest keys")
    return list(value)


def field_path(base: str, name: str | int) -> str:
    return f"{base}[{name}]" if isinstance(name, int) else f"{base}.{name}" if base else name


def unknown_fields(value: dict[str, Any], known: Any, path: str, errors: dict[str, str]) -> None:
    for name in value:
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            errors.setdefault(field_path(path, str(name)), "unknown field" + hint)


def check_object(value: Any, spec: dict[str, Field], path: str, errors: dict[str, str]
                 ) -> dict[str, Any] | None:
    """The object's fields, normalised; a field whose value is wrong is left out (and its
    error recorded), so later checks can tell 'absent' from 'invalid'."""
    if not isinstance(value, dict):
        errors.setdefault(path, "must be an object ({...})")
        return None
    unknown_fields(value, spec, path, errors)
    result: dict[str, Any] = {}
    for name, rule in spec.items():
        raw, where = value.get(name), field_path(path, name)
        if raw is None:
            if rule.required:
                errors.setdefault(where, "required")
            else:
                result[name] = rule.default
        elif rule.fields is not None:
            nested = check_object(raw, rule.fields, where, errors)
            if nested is not None:
                result[name] = nested
        else:
            try:
                result[name] = rule.check(raw) if rule.check else raw
            except ValueError as exc:
                errors.setdefault(where, str(exc))
    return result
