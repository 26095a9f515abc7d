"""Mail to attendees: composing the messages the outbox holds (festival.sender delivers).

Composition is pure (rows in, an `EmailMessage` out); `build_message` reads what it
needs through one connection, so it can run inside the transaction that queues the mail.

Choices a reader might question:
- A message carrying an invitation is `multipart/mixed` holding `multipart/alternative`
  (text/plain, text/html, text/calendar) and the same calendar as an `invite.ics`
  attachment. This is what Google Calendar itself sends. Outlook writes text, HTML and
  calendar as alternatives (MS-OXCMAIL 2.1.3.3.8) and reads iMIP data only from the
  first child of a multipart/mixed (its notes on RFC 6047); Gmail and Apple Mail read
  the alternative; clients that ignore calendar alternatives still show the attachment.
- The calendar part's header is written as Outlook writes it,
  `text/calendar; charset="utf-8"; method=REQUEST`, base64. The modern email API always
  quotes parameters, so that one part is built with the legacy `MIMEText`.
"""

from __future__ import annotations

import contextvars
import email.utils
import functools
import re
from collections.abc import Mapping
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from typing import Any, Literal

import aiosqlite
import jinja2

from festival.calendar import ics
from festival.core import times
from festival.core.settings import Settings
from festival.core.store import fetch_one, fetch_value
from festival.programme.queries import get_screening, guest_view
from festival.web import templating

KINDS = ("confirmed", "waitlisted", "promoted", "cancelled", "screening_changed",
         "screening_cancelled")

_METHOD = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)
_CONTROL = {c: " " for c in range(32)} | {127: " "}
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def compose(
    kind: str,
    *,
    registration: Mapping[str, Any],
    screening: Mapping[str, Any],
    settings: Settings,
    waitlist_position: int | None,
    invite: bytes | None,
    locale: str,
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """The whole message of `kind` for a registration, in its language (`locale`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of mail {kind!r}")
    run = contextvars.copy_context().run  # the language must not leak into the caller
    return run(_compose, kind, registration, screening, settings, waitlist_position, invite,
               locale, message_id, date or times.utc_now())


def _compose(kind: str, registration: Mapping[str, Any], screening: Mapping[str, Any],
             settings: Settings, waitlist_position: int | None, invite: bytes | None,
             locale: str, message_id: str, date: datetime) -> EmailMessage:
    templating.use_locale(locale)
    context = _context(registration, screening, settings, waitlist_position, bool(invite))
    env = _environment(settings)
    text_template = env.get_template(f"mail/{kind}.txt")
    subject = one_line("".join(text_template.blocks["subject"](
        text_template.new_context(context))))
    context["subject"] = subject
    # Templates may be generous with blank lines; the mail keeps one between paragraphs.
    text = _BLANK_LINES.sub("\n\n", text_template.render(context)).strip() + "\n"
    html = env.get_template(f"mail/{kind}.html").render(context)

    msg = EmailMessage(policy=policy.SMTP)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    msg["From"] = settings.mail_from
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    # Address() refuses CR/LF; one_line() removes them (and other control characters)
    # first, so a name with line breaks is delivered, on one line, and injects nothing.
    msg["To"] = Address(display_name=one_line(registration["name"])[:200],
                        addr_spec=registration["email"].strip())
    msg["Subject"] = subject
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to us
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    if invite:
        _attach_invite(msg, invite)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # only the top level needs it
    msg["Content-Language"] = templating.current_locale()
    return msg


def _attach_invite(msg: EmailMessage, invite: bytes) -> None:
    found = _METHOD.search(invite)
    if found is None:
        raise ValueError("the calendar part has no METHOD")
    method = found.group(1).decode("ascii").upper()
    part = MIMEText(invite.decode("utf-8"), "calendar", "utf-8")  # base64
    part.set_param("method", method, requote=False)
    msg.attach(part)  # type: ignore[arg-type]  # a legacy part, for its header
    msg.make_mixed()
    msg.add_attachment(invite, maintype="application", subtype="ics", filename="invite.ics")


def _context(registration: Mapping[str, Any], screening: Mapping[str, Any],
             settings: Settings, waitlist_position: int | None, has_invite: bool
             ) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    festival_name = email.utils.parseaddr(settings.mail_from)[0] or screening.get(
        "edition_name") or templating.gettext("Global Migration Film Festival")
    return {
        "name": one_line(registration["name"]),
        "registration": registration,
        "screening": screening,
        "seats": int(registration["seats"]),
        "ticket_url": f"{base}/tickets/{registration['token']}",
        "screening_url": ics.screening_url(screening, base),
        "location": ics.location(screening),
        "waitlist_position": waitlist_position,
        "has_invite": has_invite,
        "festival_name": festival_name,
        "base_url": base,
        "locale": templating.current_locale(),
    }


@functools.lru_cache(maxsize=8)
def _environment(settings: Settings) -> jinja2.Environment:
    return templating.create_environment(settings)


def one_line(text: str) -> str:
    """Text for a header: control characters and line breaks become single spaces."""
    return " ".join(str(text).translate(_CONTROL).split())


async def build_message(
    conn: aiosqlite.Connection, settings: Settings, kind: str, registration_id: int,
    message_id: str, *, date: str | None = None,
) -> bytes:
    """The RFC 5322 bytes of one outbox message, from the database as `conn` sees it."""
    row = await fetch_one(conn, "SELECT * FROM registrations WHERE id = ?", (registration_id,))
    if row is None:
        raise LookupError(f"no registration {registration_id}")
    registration = dict(row)
    screening = await get_screening(conn, registration["screening_id"], public=False)
    # Mail goes to the public: unlisted debate guests stay anonymous here too.
    screening["guests"] = [guest_view(g, public=True) for g in screening["guests"]]
    position = None
    if registration["status"] == "waitlisted":
        position = await fetch_value(
            conn, """SELECT COUNT(*) FROM registrations WHERE screening_id = ?
                     AND status = 'waitlisted' AND id <= ?""",
            (registration["screening_id"], registration_id))
    # Each change of an earlier registration (promoted, cancelled) raised SEQUENCE once.
    earlier = await fetch_value(
        conn, """SELECT COALESCE(SUM(changes), 0) FROM registrations WHERE screening_id = ?
                 AND email_key = ? AND status = 'cancelled' AND id < ?""",
        (registration["screening_id"], registration["email_key"], registration_id))
    locale = registration.get("locale") or templating.DEFAULT_LOCALE
    invite = contextvars.copy_context().run(
        _invite, kind, registration, screening, settings, int(earlier or 0), locale)
    message = compose(kind, registration=registration, screening=screening, settings=settings,
                      waitlist_position=position, invite=invite, locale=locale,
                      message_id=message_id,
                      date=times.parse_utc(date) if date else None)
    return message.as_bytes()


def _invite(kind: str, registration: dict[str, Any], screening: dict[str, Any],
            settings: Settings, earlier_cancellations: int, locale: str) -> bytes | None:
    """The calendar part for `kind`, or None when the attendee never had a seat.

    SEQUENCE is ics.attendee_sequence, as in the ticket feed: the attendee's own
    cancellation raises it above the screening's, as iTIP wants; someone who cancelled
    and registered again gets their earlier cancellations added, with a later DTSTAMP,
    so their calendar does not take the new invitation for an old one."""
    templating.use_locale(locale)
    had_seat = registration["confirmed_at"] is not None or registration["status"] == "confirmed"
    method: Literal["REQUEST", "CANCEL"]
    if kind in ("confirmed", "promoted") or (kind == "screening_changed"
                                             and registration["status"] == "confirmed"):
        method = "REQUEST"
    elif kind in ("cancelled", "screening_cancelled") and had_seat:
        method = "CANCEL"
    else:
        return None
    sequence = ics.attendee_sequence(screening, registration, earlier_cancellations)
    if method == "REQUEST" and registration["status"] == "cancelled":
        sequence -= 1  # an invitation sent late, after the attendee cancelled: it came first
    dtstamp = max(screening["updated_at"], registration["updated_at"])
    name, address = email.utils.parseaddr(settings.mail_from)
    ticket = f"{settings.base_url.rstrip('/')}/tickets/{registration['token']}"
    return ics.invite(
        screening, method=method, attendee_name=one_line(registration["name"]),
        attendee_email=registration["email"], organiser_email=address,
        organiser_name=name or screening.get("edition_name") or "",
        base_url=settings.base_url, sequence=sequence, dtstamp=dtstamp,
        note=templating.gettext("Your ticket: ") + ticket)


def subject_of(message: bytes) -> str:
    """The decoded Subject of a composed message."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(message)
    return str(headers.get("Subject", ""))
