"""Mail to attendees: composing the messages the outbox holds (festival.mail.sender
delivers them).

Composition is pure: a message's facts in (festival.mail.facts.MessageFacts, read by
festival.mail.outbox.read_facts), an `EmailMessage` or its bytes out. The same facts
and settings give the same message, but for its random MIME boundaries. This module
imports nothing that reaches the database or the web (tests/test_architecture.py).

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
import io
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from typing import Any, Literal

import jinja2
import segno

from festival.calendar import ics
from festival.core import i18n, links, times
from festival.core.settings import Settings
from festival.core.text import one_line
from festival.mail.facts import KINDS, MessageFacts

__all__ = ["KINDS", "MessageFacts", "compose", "one_line", "render", "subject_of"]

_METHOD = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def render(facts: MessageFacts, settings: Settings) -> bytes:
    """The RFC 5322 bytes of the message `facts` describe."""
    return compose(facts, settings).as_bytes()


def compose(facts: MessageFacts, settings: Settings) -> EmailMessage:
    """The whole message `facts` describe, in the attendee's language, with the
    calendar invitation (or cancellation) when the attendee has, or had, a seat.
    `settings` gives From, Reply-To, the base URL of links and the templates."""
    run = contextvars.copy_context().run  # the language must not leak into the caller
    return run(_compose, facts, settings)


def _compose(facts: MessageFacts, settings: Settings) -> EmailMessage:
    i18n.use_locale(facts.locale)
    registration = facts.registration
    # The programme's texts in the attendee's language too, where it has them.
    screening = i18n.localize(facts.screening)
    calendar = _invite(facts, screening, settings)
    context = _context(facts, screening, settings, bool(calendar))
    qr = _door_code(facts, context["ticket_url"])
    context["qr_cid"] = qr[0] if qr else None
    env = _environment(settings)
    text_template = env.get_template(f"mail/{facts.kind}.txt")
    subject = one_line("".join(text_template.blocks["subject"](
        text_template.new_context(context))))
    context["subject"] = subject
    # Templates may be generous with blank lines; the mail keeps one between paragraphs.
    text = _BLANK_LINES.sub("\n\n", text_template.render(context)).strip() + "\n"
    html = env.get_template(f"mail/{facts.kind}.html").render(context)

    msg = EmailMessage(policy=policy.SMTP)
    msg["Date"] = email.utils.format_datetime(facts.date)
    message_id = facts.message_id
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
    if qr:
        # multipart/related (text/html, image/png): the HTML shows the image by its
        # Content-ID; clients that block remote images still show an inline part.
        html_part = msg.get_payload()[1]
        html_part.add_related(qr[1], maintype="image", subtype="png", cid=f"<{qr[0]}>",
                              filename="ticket-qr.png")
    if calendar:
        _attach_invite(msg, calendar)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # only the top level needs it
    msg["Content-Language"] = i18n.current_locale()
    return msg


def _door_code(facts: MessageFacts, ticket_url: str) -> tuple[str, bytes] | None:
    """(Content-ID, PNG) of the QR code the door scans, the ticket's link, for a mail
    that confirms seats (confirmed, promoted when confirmed); None for the others. The
    Content-ID comes from the Message-ID: the same facts give the same message."""
    if facts.kind not in ("confirmed", "promoted") or facts.registration.get(
            "status", "confirmed") != "confirmed":
        return None
    buffer = io.BytesIO()
    segno.make(ticket_url, error="m", micro=False).save(
        buffer, kind="png", scale=6, border=4, dark="#000", light="#fff")
    cid = "ticket-qr." + facts.message_id.strip("<>")
    return cid, buffer.getvalue()


def _attach_invite(msg: EmailMessage, calendar: bytes) -> None:
    found = _METHOD.search(calendar)
    if found is None:
        raise ValueError("the calendar part has no METHOD")
    method = found.group(1).decode("ascii").upper()
    part = MIMEText(calendar.decode("utf-8"), "calendar", "utf-8")  # base64
    part.set_param("method", method, requote=False)
    msg.attach(part)  # type: ignore[arg-type]  # a legacy part, for its header
    msg.make_mixed()
    msg.add_attachment(calendar, maintype="application", subtype="ics",
                       filename="invite.ics")


def _context(facts: MessageFacts, screening: dict[str, Any], settings: Settings,
             has_invite: bool) -> dict[str, Any]:
    registration = facts.registration
    base = settings.base_url.rstrip("/")
    festival_name = email.utils.parseaddr(settings.mail_from)[0] or screening.get(
        "edition_name") or i18n.gettext("Global Migration Film Festival")
    return {
        "name": one_line(registration["name"]),
        "registration": registration,
        "screening": screening,
        "seats": int(registration["seats"]),
        "ticket_url": _ticket_url(facts, settings),
        # The attendee's own page of all their registrations: mail to their own address
        # is the one place its key is given.
        "my_url": links.absolute(settings.base_url, "my_registrations",
                                 secret=facts.attendee_secret) if facts.attendee_secret else None,
        "confirm_url": _confirm_url(facts, settings),
        "held_until": times.to_local(registration["held_until"], screening["timezone"])
        if registration.get("status") == "held" and registration.get("held_until") else None,
        "screening_url": ics.screening_url(screening, base),
        "location": ics.location(screening),
        "waitlist_position": facts.waitlist_position,
        "has_invite": has_invite,
        "festival_name": festival_name,
        "base_url": base,
        "locale": i18n.current_locale(),
        "note": facts.note,
    }


def _ticket_url(facts: MessageFacts, settings: Settings) -> str:
    return links.absolute(settings.base_url, "ticket", token=facts.registration["token"])


def _confirm_url(facts: MessageFacts, settings: Settings) -> str | None:
    """The link that confirms the attendee's address, while it waits for that: with the
    code only this mail carries (the ticket's token alone does not confirm)."""
    registration = facts.registration
    code = registration.get("confirm_code")
    if not code or registration.get("email_confirmed_at") or registration["status"] not in (
            "held", "waitlisted"):
        return None
    return links.absolute(settings.base_url, "ticket_confirm",
                          token=registration["token"]) + "?code=" + code


@functools.lru_cache(maxsize=8)
def _environment(settings: Settings) -> jinja2.Environment:
    return i18n.create_environment(settings)


def _invite(facts: MessageFacts, screening: dict[str, Any], settings: Settings
            ) -> bytes | None:
    """The calendar part for the message, in the current language, or None.

    SEQUENCE is ics.attendee_sequence, as in the ticket feed: the attendee's own
    cancellation raises it above the screening's, as iTIP wants; someone who cancelled
    and registered again gets their earlier cancellations added, with a later DTSTAMP,
    so their calendar does not take the new invitation for an old one."""
    kind, registration = facts.kind, facts.registration
    had_seat = registration["confirmed_at"] is not None or registration["status"] == "confirmed"
    method: Literal["REQUEST", "CANCEL"]
    if (kind in ("confirmed", "promoted") and registration["status"] != "held") or (
            kind in ("screening_changed", "moved") and registration["status"] == "confirmed"):
        method = "REQUEST"  # a held seat gets its invitation once the address is confirmed
    elif kind in ("cancelled", "screening_cancelled") and had_seat:
        method = "CANCEL"
    else:
        return None
    sequence = ics.attendee_sequence(screening, registration, facts.earlier_cancellations)
    if method == "REQUEST" and registration["status"] == "cancelled":
        sequence -= 1  # an invitation sent late, after the attendee cancelled: it came first
    dtstamp = max(screening["updated_at"], registration["updated_at"])
    name, address = email.utils.parseaddr(settings.mail_from)
    return ics.invite(
        screening, method=method, attendee_name=one_line(registration["name"]),
        attendee_email=registration["email"], organiser_email=address,
        organiser_name=name or screening.get("edition_name") or "",
        base_url=settings.base_url, sequence=sequence, dtstamp=dtstamp,
        note=i18n.gettext("Your ticket: ") + _ticket_url(facts, settings))


def subject_of(message: bytes) -> str:
    """The decoded Subject of a composed message."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(message)
    return str(headers.get("Subject", ""))
