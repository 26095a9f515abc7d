"""The rules for text that comes in: one function each, used by every way in (the
registration form and API, the door, organisers' forms, the programme file, sign-in).

- Text never holds control characters, lone surrogates, line or paragraph separators,
  or the bidi controls that make a name display as something else ("abc\u202egpj.exe"
  shows as "abcexe.jpg"); line breaks only where a field allows several lines.
- Email addresses are checked by email-validator (RFC 5321/5322 syntax, with its
  careful rules for dots, quoting and domains) rather than by a regular expression of
  ours, and must be ASCII (see clean_email).
- Slugs: 'São Paulo' -> 'sao-paulo', for keys and URL parts."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email

from festival.core.errors import _

UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})  # control, surrogate, separators
# Embeddings, overrides and isolates, and the invisible direction marks (LRM, RLM, ALM).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                          "\u200e\u200f\u061c")
LINE_BREAKS = frozenset("\n\r\t")
EMAIL_MAX = 254


def has_unsafe_characters(text: str, *, lines: bool = False) -> bool:
    """Whether `text` holds a character no input may hold (line breaks and tabs are
    allowed only where `lines`)."""
    return any((c in BIDI_CONTROLS or unicodedata.category(c) in UNSAFE_CATEGORIES)
               and not (lines and c in LINE_BREAKS) for c in text)


def without_unsafe(text: str, *, lines: bool = False) -> str:
    """`text` with every character no input may hold dropped (line breaks and tabs kept
    where `lines`): the same rule, applied on the way out of the calendar and mail
    exports as a second line of defence."""
    if not has_unsafe_characters(text, lines=lines):
        return text
    return "".join(c for c in text if not has_unsafe_characters(c, lines=lines))


def one_line(text: str) -> str:
    """Text for a mail header or a quoted parameter: line breaks and unsafe characters
    become spaces, and runs of white space one space."""
    return " ".join("".join(" " if has_unsafe_characters(c) else c for c in str(text)).split())


def masked_email(email: str) -> str:
    """'ana.silva@example.org' -> 'a***@example.org': enough for its owner to recognise
    the address on a shared screen, too little for anyone else to learn it."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return "***"
    return f"{local.lstrip(chr(34))[:1] or '*'}***@{domain}"


def email_key(email: str) -> str:
    """The identity of an address: trimmed and lower-cased (so ' ALICE@Example.org ' and
    'alice@example.org' are one person)."""
    return email.strip().lower()


def clean_email(value: Any) -> tuple[str, str | None]:
    """(the trimmed address, an error for people or None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "", _("Please enter your email address.")
    if not isinstance(value, str):
        return "", _("Please enter your email address as text.")
    email = value.strip()
    if len(email) > EMAIL_MAX:
        return email, _("Please use an email address of 254 characters or fewer.")
    if has_unsafe_characters(email):
        return email, _("This does not look like an email address, e.g. name@example.org.")
    if not email.isascii():
        # Mail to such an address needs SMTPUTF8, which few servers offer: it would wait
        # in the outbox for ever. Refused now, while the person can give another.
        return email, _("Please use an address in plain Latin letters: our mail cannot "
                        "reach addresses with accents or other scripts yet.")
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=False,
                       allow_quoted_local=False, allow_domain_literal=False)
    except EmailNotValidError:
        return email, _("This does not look like an email address, e.g. name@example.org.")
    return email, None


def slugify(text: str, fallback: str = "", *, limit: int = 60) -> str:
    """'Cineteca, Sala 3' -> 'cineteca-sala-3', 'São Paulo' -> 'sao-paulo': ASCII
    letters and digits joined by '-', at most `limit` characters; `fallback` when
    nothing is left (a name in another script)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:limit].strip("-")
    return slug or fallback


def city_slug(city: str) -> str:
    """A city's part of a feed's path: its slug, or for a name in another script the
    name itself, lower-cased, with what a path cannot hold turned into '-'."""
    return slugify(city, re.sub(r"[\s/?#%]+", "-", city.casefold()).strip("-"), limit=100)
