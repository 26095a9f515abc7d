"""The mail that invites someone to become an organiser: pure, like
festival.mail.compose (facts in, bytes out; nothing reaches the database or the web).

An invite is not an attendee's message, so it is not read back by the sender from a
registration: its link carries a secret that is stored only hashed, so the message is
composed when the invite is made and queued whole (festival.organisers.invites). The
sender delivers it like any other and then keeps its headers only, so the link is not
kept once sent."""

from __future__ import annotations

import email.utils
from datetime import datetime
from email import policy
from email.message import EmailMessage

from festival.core import i18n
from festival.core.errors import _
from festival.core.settings import Settings
from festival.core.text import one_line


def compose_invite(*, recipient: str, link: str, role: str, country: str | None,
                   expires_at: datetime, message_id: str, date: datetime,
                   settings: Settings, locale: str = i18n.DEFAULT_LOCALE) -> bytes:
    """The RFC 5322 bytes of an invite to `recipient`, in `locale`."""
    return i18n.call_in_locale(locale, _compose, recipient, link, role, country,
                               expires_at, message_id, date, settings)


def _compose(recipient: str, link: str, role: str, country: str | None,
             expires_at: datetime, message_id: str, date: datetime,
             settings: Settings) -> bytes:
    what = (i18n.translated(_("an administrator")) if role == "admin" else
            i18n.translated(_("an organiser for %(country)s"), country=country or ""))
    until = i18n.format_datetime(expires_at) + " UTC"
    text = "\n\n".join([
        i18n.translated(_("You are invited to join the back office of the Global Migration "
                          "Film Festival as %(what)s."), what=what),
        i18n.translated(_("Choose your password here to create your account:")) + "\n" + link,
        i18n.translated(_("The link works once, until %(time)s. If you did not expect "
                          "this invitation, you can ignore this message."), time=until),
    ]) + "\n"
    msg = EmailMessage(policy=policy.SMTP)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = message_id
    msg["From"] = settings.mail_from
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    msg["To"] = one_line(recipient)
    msg["Subject"] = one_line(i18n.translated(
        _("Your invitation to the festival's back office")))
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = i18n.current_locale()
    msg.set_content(text, cte="quoted-printable")
    return msg.as_bytes()
