"""Logs never carry a secret or an email address: `install()` puts one `logging.Filter`
(MaskSecrets) on the loggers that log requests and people (festival*, uvicorn,
uvicorn.error, uvicorn.access) and on the root logger's handlers. The web app installs
it (festival.web.app.create_app, and again in its lifespan, once uvicorn has configured
its own logging), so every worker process has it; a command that runs without the app
calls `install()` itself.

What is masked, in the message, its arguments, a logged exception and a stack:

- a path segment after /tickets/, /registrations/, /feeds/tickets/, /feeds/my/ and /my/
  (ticket tokens and attendees' secrets): `/tickets/***/confirm`,
  `/feeds/tickets/***.ics` (`/tickets/lost`, a page, is kept);
- a query value that looks like a token (16 or more URL-safe characters that are not a
  lower-case slug such as `gmff-2016`), and any value of a parameter named like a
  secret (token, ticket, secret, password, session, code): `?ticket=***`;
- every email address, also percent-encoded (`ana%40example.org`): `a***@example.org`.
  The domain stays, to tell which mail provider refused a delivery;
- anywhere else, a run of 24 or more URL-safe characters that looks random (letters and
  digits, or 32 and more of mixed case) and is not a slug: a bare token, as in the SQL
  parameters aiosqlite logs at DEBUG (`('O75vb…',)` becomes `('***',)`).

A filter on a logger sees only what is logged on that very logger (not its children), so
install() also walks every `festival.*` logger that exists by then, and the root
logger's handlers catch what propagates from any other. The filter changes the record
itself, so every handler after it sees the masked text. Masking is idempotent."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

MASK = "***"
LOGGER_NAMES = ("festival", "uvicorn", "uvicorn.error", "uvicorn.access")

# The segment after a private prefix, up to the next '/', query, fragment, quote or space;
# an `.ics` suffix stays, so a log still tells a feed from a page.
SECRET_PATH = re.compile(
    r"(?P<prefix>/(?:feeds/tickets|feeds/my|tickets|registrations|my)/)"
    r"(?!lost(?:[/?#\s\"'<>]|$))"  # /tickets/lost is a page, not a token
    r"(?P<secret>[^/?#\s\"'<>]+?)(?P<suffix>\.ics)?(?=[/?#\s\"'<>]|$)")
QUERY_VALUE = re.compile(r"(?P<name>[?&;](?P<key>[^=&;#\s\"'<>]*)=)(?P<value>[^&;#\s\"'<>]*)")
SECRET_PARAMETERS = re.compile(r"(?i)token|ticket|secret|passw|session|code")
TOKENISH = re.compile(r"[A-Za-z0-9_-]{16,}")
BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{24,}(?![A-Za-z0-9_-])")
SLUG = re.compile(r"[a-z0-9]{1,15}(?:-[a-z0-9]{1,15})*")
# An address: a local part (no '/', '?', '=' or '&', so a URL before it stays readable),
# '@' or its percent-encoding, a domain. A quoted local part ("ana reyes"@…) is one too.
EMAIL = re.compile(r"(?P<local>\"[^\"\n]{1,64}\"|[\w!#$%'*+^`{|}~.-]{1,64})(?:@|%40)"
                   r"(?P<domain>[\w-]{1,63}(?:\.[\w-]{1,63}){0,16})")


def _email(match: re.Match[str]) -> str:
    local = match["local"]
    if local.startswith('"'):  # a quoted local part: its first letter stands for it
        return f"{local[1:2]}{MASK}@{match['domain']}"
    quotes = local[:len(local) - len(local.lstrip("'"))]  # repr()'s quote, kept
    return f"{quotes}{local[len(quotes):][:1] or '*'}{MASK}@{match['domain']}"


def _query_value(match: re.Match[str]) -> str:
    value = match["value"]
    if value == MASK or not value:
        return match[0]
    if SECRET_PARAMETERS.search(match["key"]) or any(
            not SLUG.fullmatch(run) for run in TOKENISH.findall(value)):
        return match["name"] + MASK
    return match[0]


def _path(match: re.Match[str]) -> str:
    return f"{match['prefix']}{MASK}{match['suffix'] or ''}"


def _bare_token(match: re.Match[str]) -> str:
    run = match[0]
    if SLUG.fullmatch(run):
        return run
    digits, upper, lower = (any(test(c) for c in run)
                            for test in (str.isdigit, str.isupper, str.islower))
    letters = upper or lower
    return MASK if (digits and letters) or (upper and lower and len(run) >= 32) else run


def mask(text: str) -> str:
    """`text` with every secret path segment, token-like query value, email address and
    bare token masked."""
    if "@" in text or "%40" in text:
        text = EMAIL.sub(_email, text)
    if "/" in text:
        text = SECRET_PATH.sub(_path, text)
    if "=" in text:
        text = QUERY_VALUE.sub(_query_value, text)
    return BARE_TOKEN.sub(_bare_token, text)


def _mask_value(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else value


class MaskSecrets(logging.Filter):
    """Masks secrets and email addresses in the record (see the module's docstring);
    never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "festival_masked", False):
            return True
        try:
            self._mask(record)
        except Exception:  # a log line must never be lost, nor leak, over masking
            record.msg = mask(str(record.msg))
            record.args = ()
        if record.exc_info:
            # Formatters print exc_text when it is set; exc_info is dropped so that no
            # handler formats the exception (and its message) again, unmasked.
            record.exc_text = mask(record.exc_text or "".join(
                traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        record.festival_masked = True
        return True

    @staticmethod
    def _mask(record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, Mapping):
            masked_args: Any = {key: _mask_value(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            masked_args = tuple(_mask_value(value) for value in args)
        else:
            masked_args = args
        msg = record.msg
        record.msg, record.args = (mask(msg) if isinstance(msg, str) and not args else msg,
                                   masked_args)
        # Arguments masked one by one keep the record's shape (uvicorn's access log
        # formatter reads them); anything still unmasked once rendered (an object whose
        # text holds an address, a secret in the format string) collapses the record to
        # its masked text.
        rendered = record.getMessage()
        masked = mask(rendered)
        if masked != rendered:
            record.msg, record.args = masked, ()


_FILTER = MaskSecrets()


def _add(target: logging.Filterer) -> None:
    if not any(isinstance(f, MaskSecrets) for f in target.filters):
        target.addFilter(_FILTER)


def install() -> None:
    """Puts MaskSecrets on LOGGER_NAMES, every `festival.*` logger that exists now, their
    handlers and the root logger's handlers. Safe to call again (and to call after a
    logging configuration replaced handlers): nothing is added twice."""
    names = set(LOGGER_NAMES) | {name for name in list(logging.root.manager.loggerDict)
                                  if name.startswith("festival.")}
    loggers = [logging.getLogger(name) for name in sorted(names)]
    for logger in [logging.getLogger(), *loggers]:
        _add(logger)
        for handler in logger.handlers:
            _add(handler)
    if logging.lastResort is not None:
        _add(logging.lastResort)
