"""'Add to Google Calendar' links: one screening as Google Calendar's event template
(calendar.google.com/calendar/render?action=TEMPLATE), for people who use Google
Calendar in a browser, where a downloaded .ics file is awkward to open. No HTTP, no
database: the same texts as the screening's iCalendar event (festival.calendar.ics),
times in UTC (`dates=20991213T180000Z/20991213T203000Z`), every value URL-encoded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from festival.calendar.ics import _description, _stamp, _summary, location, screening_url

TEMPLATE_URL = "https://calendar.google.com/calendar/render"
# Google's links break somewhere past 2,000 characters: a long synopsis is cut.
MAX_DETAILS = 1000


def calendar_url(s: Mapping[str, Any], base_url: str, *, note: str = "") -> str:
    """The link that opens Google Calendar with the screening `s` (localized, with its
    guests) filled in; `note` (e.g. the ticket's link) goes first in the details, so a
    cut never loses it."""
    url = screening_url(s, base_url)
    details = _description(s, url, False, "")
    if note:
        details = note + "\n\n" + details
    if len(details) > MAX_DETAILS:
        details = details[: MAX_DETAILS - 1].rstrip() + "…"
    return TEMPLATE_URL + "?" + urlencode({
        "action": "TEMPLATE",
        "text": _summary(s),
        "dates": f"{_stamp(s['starts_at'])}/{_stamp(s['ends_at'])}",
        "details": details,
        "location": location(s),
    })
