"""Field checks: the rules a value must pass to enter the database, one set for every
way in (the programme file of festival.programme.file, the organisers' forms and admin
API of festival.programme.catalogue and festival.programme.screenings).

A `Check` answers the normalised value or raises ValueError with text for people;
`check_object` runs a spec of `Field`s over an object and records each error under its
path (`screenings[3].starts_at`), so one pass reports every mistake at once.

Error texts are marked messages (festival.core.i18n.Text): they read as English where
nobody's language is known (`festival load` prints them), and forms and the API show
them in the reader's language (i18n.translate, see writes.refused).

Texts attendees read may come in several languages (`localized`: a file's
{"en": "…", "fr": "…"}; `translations`: the forms' and API's `<name>_i18n` object);
`store_translations` turns either into the stored pair, the original and the JSON of
its translations.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from babel import Locale

from festival.core import times
from festival.core.errors import _
from festival.core.i18n import Text, translations_json, translations_of
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
            raise ValueError(Text(_("must be text")))
        value = value.strip()
        if not value and not blank:
            raise ValueError(Text(_("must not be empty")))
        if len(value) > limit:
            raise ValueError(Text(_("must be at most %(limit)d characters"), limit=limit))
        if has_unsafe_characters(value, lines=lines):
            raise ValueError(Text(_("must not contain control characters")) if lines else
                             Text(_("must not contain control characters or line breaks")))
        return value
    return check


def whole(low: int, high: int) -> Check:
    @form_input("number")
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(Text(_("must be a whole number")))
        if not low <= value <= high:
            raise ValueError(Text(_("must be from %(low)d to %(high)d"), low=low, high=high))
        return value
    return check


def slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise ValueError(Text(_("must be a key of letters, digits, '-', '_' or '.' (at most "
                                "100)")))
    return value


def day(value: Any) -> date:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        raise ValueError(Text(_("must be a date like 2016-12-05")))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(Text(_("%(value)r is not a real date"), value=value)) from None


@form_input("wall_clock")
def wall_clock(value: Any) -> datetime:
    if not isinstance(value, str) or not WALL_CLOCK.fullmatch(value):
        raise ValueError(Text(_("must be a wall-clock time at the venue like "
                                "2016-12-13T19:00, without an offset")))
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(Text(_("%(value)r is not a real time"), value=value)) from None


@form_input("flag")
def flag(value: Any) -> int:
    if not isinstance(value, bool):
        raise ValueError(Text(_("must be true or false")))
    return int(value)


def is_country(code: str) -> bool:
    """Whether `code` is an ISO 3166 alpha-2 country code, upper case."""
    return len(code) == 2 and code in _COUNTRIES


def country(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if not is_country(code):
        raise ValueError(Text(_("must be a 2-letter country code like NL")))
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
        raise ValueError(Text(_("unknown time zone %(value)r: use an IANA name like "
                                "Europe/Amsterdam"), value=value)) from None
    return str(value)


def languages(value: Any) -> str:
    """'fr,wo' or ["fr", "wo"], stored as 'fr,wo'."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(Text(_("must be language codes like 'en' or 'fr,wo'")))
    codes = [i.strip().lower() for i in items if i.strip()]
    for code in codes:
        if not LANGUAGE.fullmatch(code):
            raise ValueError(not_a_language(code))
    return ",".join(codes)


def not_a_language(code: object) -> Text:
    return Text(_("%(code)r is not a language code like 'en' or 'fr'"), code=code)


def language(value: Any) -> str:
    code = languages(value)
    if "," in code:
        raise ValueError(Text(_("must be one language code like 'en'")))
    return code


def status(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError(Text(_("must be scheduled, cancelled or draft")))
    return str(value)


def key_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(Text(_("must be a list of guest keys")))
    return list(value)


# --- texts in several languages ----------------------------------------------------------

class Localized(NamedTuple):
    """A text and its translations: the original (shown when there is none for the
    reader's language) and {language code: text}."""

    original: str
    translations: dict[str, str]


def _translated_texts(value: Any, check: Check) -> dict[str, str]:
    """{code: text} checked: codes are language codes, texts pass `check`; empty texts
    are no translation and dropped."""
    if not isinstance(value, dict):
        raise ValueError(Text(_('must be an object of texts by language code, like '
                                '{"fr": "…"}')))
    texts = {}
    for code, text_ in value.items():
        if not isinstance(code, str) or not LANGUAGE.fullmatch(code):
            raise ValueError(not_a_language(code))
        if isinstance(text_, str) and not text_.strip():
            continue
        try:
            texts[code] = check(text_)
        except ValueError as exc:
            raise ValueError(Text(_("%(language)s: %(problem)s"), language=code,
                                  problem=exc.args[0])) from None
    return texts


def localized(check: Check) -> Check:
    """A text attendees read, in a programme file: plain text, or the text in several
    languages, {"en": "…", "fr": "…"}, whose original is the "en" one (else the first).
    Answers Localized; forms and the API carry the translations apart (`translations`,
    see `for_forms`)."""
    def check_localized(value: Any) -> Localized:
        if not isinstance(value, dict):
            return Localized(check(value), {})
        if not value:
            raise ValueError(Text(_("must not be empty")))
        texts = _translated_texts(value, check)
        code = "en" if "en" in value else next(iter(value))
        original = check(value[code])  # the original may not be empty where text may not
        return Localized(original, {c: t for c, t in texts.items() if c != code})
    check_localized.localized = check  # type: ignore[attr-defined]
    return check_localized


def translations(check: Check) -> Check:
    """The translations of a text, apart from it (forms and the API): {"fr": "…"}; an
    empty text is no translation."""
    @form_input("translations")
    def check_translations(value: Any) -> dict[str, str]:
        return _translated_texts(value, check)
    return check_translations


def for_forms(spec: dict[str, Field]) -> dict[str, Field]:
    """A file's spec as forms and the API take it: each localized text plain, its
    translations in a field of their own, `<name>_i18n`."""
    result: dict[str, Field] = {}
    for name, rule in spec.items():
        plain = getattr(rule.check, "localized", None)
        if plain is None:
            result[name] = rule
            continue
        result[name] = Field(plain, rule.required, rule.default)
        result[f"{name}_i18n"] = Field(translations(plain))
    return result


def store_translations(values: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    """Checked values as stored: each localized text (a file's) or text with a
    `<name>_i18n` field (a form's) as its original and, in `<name>_i18n`, the JSON of
    its translations ('{}' for none). Values whose check failed stay out."""
    for name, rule in spec.items():
        if getattr(rule.check, "localized", None) is not None and name in values:
            value = values[name]
            original, texts = value if isinstance(value, Localized) else (value, {})
            values[name] = original
            values[f"{name}_i18n"] = translations_json(original or "", texts)
        elif rule.form_input == "translations" and name[:-5] in values and name in values:
            original = values[name[:-5]] or ""
            values[name] = translations_json(original, translations_of(values[name] or {}))
    return values


def field_path(base: str, name: str | int) -> str:
    return f"{base}[{name}]" if isinstance(name, int) else f"{base}.{name}" if base else name


def unknown_fields(value: dict[str, Any], known: Any, path: str, errors: dict[str, str]) -> None:
    for name in value:
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            errors.setdefault(field_path(path, str(name)),
                              Text(_("unknown field; did you mean '%(name)s'?"), name=close[0])
                              if close else Text(_("unknown field")))


def check_object(value: Any, spec: dict[str, Field], path: str, errors: dict[str, str]
                 ) -> dict[str, Any] | None:
    """The object's fields, normalised; a field whose value is wrong is left out (and its
    error recorded), so later checks can tell 'absent' from 'invalid'."""
    if not isinstance(value, dict):
        errors.setdefault(path, Text(_("must be an object ({...})")))
        return None
    unknown_fields(value, spec, path, errors)
    result: dict[str, Any] = {}
    for name, rule in spec.items():
        raw, where = value.get(name), field_path(path, name)
        if raw is None:
            if rule.required:
                errors.setdefault(where, Text(_("required")))
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
                # The message itself, not str(exc): a Text keeps its msgid and values.
                errors.setdefault(where, exc.args[0] if exc.args else str(exc))
    return result
