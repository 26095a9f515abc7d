"""Translations and locale formatting: no HTTP, no database.

Every user-facing text goes through gettext. Catalogues are the .po files under
festival/locale; they are compiled in memory at start, so no build step or binary .mo
file is needed. The language is a context variable: set per request by the web side
(festival.web.templating picks it from the request), per message by mail composition.
Dates and times are formatted for that language by Babel.

Pages and mails share one Jinja2 setup (`create_environment`), so a text translated
for the site reads the same in the mail.

Also here, because mail and feeds need them without the web package: each language's
direction (`text_direction`: Arabic runs right to left); `Text`, a marked message with
its values, which reads as English where no reader is known (the command line) and is
translated by `translate` where one is (forms, the API); and `localize`, which gives
the programme's own texts (a film's title, ...) in the reader's language where the
programme has them, else the original."""

from __future__ import annotations

import contextvars
import io
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from babel import Locale, UnknownLocaleError, dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup

from festival.core.settings import Settings

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LOCALE = "en"

_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("locale", default="en")


def _load_catalogues() -> dict[str, NullTranslations]:
    catalogues: dict[str, NullTranslations] = {DEFAULT_LOCALE: NullTranslations()}
    for po_path in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogues[po_path.parent.parent.name] = Translations(buffer)
    return catalogues


CATALOGUES = _load_catalogues()
LOCALES = sorted(CATALOGUES)


def locale_name(code: str) -> str:
    """'fr' -> 'français': each language named in itself, for the switch."""
    try:
        return Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):  # a code Babel does not know
        return code


def text_direction(code: str | None = None) -> str:
    """'rtl' for a language written right to left (Arabic), else 'ltr': the `dir` of
    pages and mails in that language (Babel's character order, from CLDR)."""
    try:
        order = Locale.parse(code or current_locale()).character_order
    except (ValueError, UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def gettext(message: str) -> str:
    return CATALOGUES[_current_locale.get()].ugettext(message)


def translated(message: str, **values: Any) -> str:
    """A message marked with `_`, translated now into the reader's language, with its
    `%(name)s` values filled in (for messages that carry numbers or names)."""
    text = gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGUES[_current_locale.get()].ungettext(singular, plural, n)


class Text(str):
    """A message marked with `_` and its `%(name)s` values, filled in: it reads as the
    English text (the command line's errors, logs) and `translate` gives it in the
    reader's language (forms, the API). For messages made where the reader is not known,
    such as the field checks that files, forms and the API share."""

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, **values: Any) -> Text:
        text = super().__new__(cls, msgid % values if values else msgid)
        text.msgid, text.values = msgid, values
        return text


def translate(message: str) -> str:
    """A message (a marked msgid, or a Text with its values) in the reader's language."""
    if isinstance(message, Text):
        return translated(message.msgid, **{
            name: translate(value) if isinstance(value, Text) else value
            for name, value in message.values.items()})
    return gettext(message)


def use_locale(code: str) -> None:
    """Sets the language for the rest of this request (or task, e.g. one mail)."""
    _current_locale.set(code if code in CATALOGUES else DEFAULT_LOCALE)


def known_locale(code: object) -> str:
    """`code` when it names a shipped language, else the default (English)."""
    return code if isinstance(code, str) and code in CATALOGUES else DEFAULT_LOCALE


T = TypeVar("T")


def call_in_locale(code: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` with `code` as the language, which does not leak
    to the caller (e.g. a feed built in the reader's language in a worker thread)."""
    def run() -> T:
        use_locale(code)
        return function(*args, **kwargs)

    return contextvars.copy_context().run(run)


def current_locale() -> str:
    return _current_locale.get()


# The festival is international: English dates read day-month-year, not the US order.
FORMAT_LOCALES = {"en": "en_GB"}


def format_locale() -> str:
    """The Babel locale that formats dates and numbers for the current language."""
    code = _current_locale.get()
    return FORMAT_LOCALES.get(code, code)


def format_datetime(value: datetime, format: str = "medium") -> str:  # noqa: A002
    return dates.format_datetime(value, format, tzinfo=value.tzinfo, locale=format_locale())


def format_date(value: date | datetime, format: str = "full") -> str:  # noqa: A002
    if isinstance(value, datetime):
        value = value.date()
    return dates.format_date(value, format, locale=format_locale())


def format_time(value: datetime, format: str = "short") -> str:  # noqa: A002
    return dates.format_time(value, format, tzinfo=value.tzinfo, locale=format_locale())


def format_date_time(value: datetime, date_format: str = "full",
                     time_format: str = "HH:mm") -> str:
    """'Sunday, 13 December 2099, 19:00': the date and the time, joined as the language
    joins them ('الأحد، 13 ديسمبر 2099، 19:00' with the Arabic comma)."""
    pattern = Locale.parse(format_locale()).datetime_formats["medium"]  # '{1}, {0}'
    return str(pattern).replace("'", "").format(format_time(value, time_format),
                                                 format_date(value, date_format))


def format_utc(value: str | datetime | None, date_format: str = "medium") -> str:
    """A stored UTC time ('2026-12-05T15:30:00Z') as organisers' pages show it, with
    the month in words so no reader takes the day for the month: '5 Dec 2026, 15:30'."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return format_date_time(moment, date_format)


# Zone abbreviations that name one zone the world over, shown before the offset. Others
# stand for several: PST (Pacific, and the Philippines), CST (US Central, China, Cuba),
# IST (India, Ireland, Israel), BST (British Summer Time, Bangladesh), MST (Mountain,
# Malaysia), EST (New York, and once eastern Australia): for those the offset speaks
# alone, and it is always shown.
UNAMBIGUOUS_ZONES = frozenset({
    "GMT", "WET", "WEST", "CET", "CEST", "EET", "EEST", "MSK",
    "WAT", "CAT", "EAT", "SAST",
    "JST", "KST", "HKT", "AWST", "ACST", "ACDT", "AEST", "AEDT", "NZST", "NZDT",
})


def zone_label(value: datetime) -> str:
    """'CET (UTC+01:00)': the zone as people at the venue call it, with its offset, where
    that name is unambiguous (UNAMBIGUOUS_ZONES); else just the offset: 'UTC+08:00' in
    Manila (not 'PST'), 'UTC+05:45' in Kathmandu (which has no letters of its own)."""
    offset = value.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    name = value.tzname() or ""
    return f"{name} ({utc})" if name in UNAMBIGUOUS_ZONES else utc


# --- the programme's own texts in several languages ---------------------------------------
# A film's title and synopsis, a debate's title and description and a guest's role may
# carry translations (docs/programme-file.md): the plain column holds the original, and
# `<name>_i18n` a JSON object {"fr": "…"} of its translations.

TRANSLATABLE = ("title", "synopsis", "debate_title", "debate_description", "role")


def country_name(code: str | None) -> str:
    """A country's name in the reader's language ('NL': 'Netherlands', 'Pays-Bas'), or
    the code where Babel has none."""
    if not code:
        return ""
    return Locale.parse(format_locale()).territories.get(code.upper(), code)


def name_order(name: str) -> str:
    """A sort key for names as readers expect them: case and accents ignored ('Émirats
    arabes unis' among the E, not after Z)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name)
                   if not unicodedata.combining(c)).casefold()


def by_country_name(codes: Iterable[str]) -> list[str]:
    """Country codes in the order of their names in the reader's language."""
    return sorted(codes, key=lambda code: (name_order(country_name(code)), code))


def translations_of(value: object) -> dict[str, str]:
    """The translations stored as JSON text (or already a mapping) as a dict."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str) or value in ("", "{}"):
        return {}
    try:
        found = json.loads(value)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def translations_json(original: str, translations: Mapping[str, str] | None) -> str:
    """The stored form of a text's translations: one JSON object, keys sorted, without
    empty ones or those that only repeat the original ('{}' for none), so equal
    translations are equal text and an unchanged row compares equal."""
    kept = {code: text for code, text in sorted((translations or {}).items())
            if text and text != original}
    return json.dumps(kept, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def in_language(original: str, translations: object, code: str | None = None) -> str:
    """The text in language `code` (default: the reader's), else the original."""
    if not translations or translations == "{}":
        return original
    code = code or current_locale()
    found = translations_of(translations)
    return (found.get(code) or found.get(code.lower().replace("_", "-"))
            or found.get(code.split("_")[0]) or original)


def localize(row: Mapping[str, Any], code: str | None = None) -> dict[str, Any]:
    """A copy of a screening, film or guest (its guests too) with its translatable
    texts in language `code` (default: the reader's), each falling back to the
    original. The `_i18n` values stay, so it can be localized again."""
    code = code or current_locale()
    copy = dict(row)
    for name in TRANSLATABLE:
        if name in copy and f"{name}_i18n" in copy:
            copy[name] = in_language(copy[name], copy[f"{name}_i18n"], code)
    if isinstance(copy.get("guests"), list | tuple):
        copy["guests"] = [localize(g, code) for g in copy["guests"]]
    return copy


def left_to_right(value: object) -> Markup:
    """HTML for a value that reads left to right whatever surrounds it ("CET
    (UTC+01:00)" inside an Arabic sentence): isolated in a <bdi dir="ltr">."""
    return Markup('<bdi dir="ltr">%s</bdi>') % value


def _template_gettext(message: str) -> str:
    """Templates' `_`: also for messages handed over by views (`_(error)`), which may be
    Text with their values filled in: Jinja formats what this answers once more."""
    if isinstance(message, Text):
        return translate(message).replace("%", "%%")
    return gettext(message)


def with_language(address: str) -> str:
    """A public feed's address in the reader's language: `?lang=fr` added, nothing for
    English (festival.web.views.feeds: feeds follow their address, not a cookie)."""
    code = current_locale()
    if code == DEFAULT_LOCALE:
        return address
    return f"{address}{'&' if '?' in address else '?'}lang={code}"


def create_environment(settings: Settings) -> jinja2.Environment:
    """The Jinja2 environment of pages and mails: templates from `settings.templates_dir`,
    gettext in the current language, and the date, time and zone filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined if settings.debug else jinja2.Undefined,
    )
    env.install_gettext_callables(_template_gettext, ngettext,  # type: ignore[attr-defined]
                                  newstyle=True)
    env.filters.update(datetime=format_datetime, date=format_date, time=format_time,
                       date_time=format_date_time, utc=format_utc, zone=zone_label,
                       locale_name=locale_name, bdi=left_to_right,
                       with_language=with_language, country=country_name)
    env.globals.update(locales=LOCALES, settings=settings, text_direction=text_direction)
    return env
