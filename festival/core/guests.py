"""What the public must never learn. Some debate guests are migrants who must not be
exposed: a guest who is not listed is shown to the public, in pages, feeds, calendars
and mail, under this name only (festival.programme.queries.guest_view, and
festival.calendar.ics again, as defence in depth)."""

from __future__ import annotations

from festival.core.errors import _

UNLISTED_GUEST_NAME = _("a guest speaker")
