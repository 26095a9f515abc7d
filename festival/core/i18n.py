"""Translations and locale formatting: no HTTP, no database.

Every user-facing text goes through gettext. Catalogues are the .po files under
festival/locale; they are compiled in memory at start, so no build step or binary .mo
file is needed. The language is a context variable: set per request by the web side
(festival.web.templating picks it from the request), per message by mail composition.
Dates and times are formatted for that language by Babel.

Pages and mails share one Jinja2 setup (`create_environment`), so a text translated
for the site reads the same in the mail."""

from __future__ import annotations

import contextvars
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

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
    return Locale.parse(code).get_display_name(code) or code


def gettext(message: str) -> str:
    return CATALOGUES[_current_locale.get()].ugettext(message)


def translated(message: str, **values: Any) -> str:
    """A message marked with `_`, translated now into the reader's language, with its
    `%(name)s` values filled in (for messages that carry numbers or names)."""
    text = gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGUES[_current_locale.get()].ungettext(singular, plural, n)


def use_locale(code: str) -> None:
    """Sets the language for the rest of this request (or task, e.g. one mail)."""
    _current_locale.set(code if code in CATALOGUES else DEFAULT_LOCALE)


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


def zone_label(value: datetime) -> str:
    """'CET (UTC+01:00)': the zone as people at the venue call it, with its offset; just
    'UTC+05:45' where the zone has no letters of its own (Kathmandu)."""
    offset = value.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    name = value.tzname() or ""
    return utc if not name or name[0] in "+-" or name == "UTC" else f"{name} ({utc})"


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
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(datetime=format_datetime, date=format_date, time=format_time,
                       zone=zone_label, locale_name=locale_name)
    env.globals.update(locales=LOCALES, settings=settings)
    return env
