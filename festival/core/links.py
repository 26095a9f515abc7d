"""Absolute links in what leaves the server outside a request (mails, calendar events),
where there is no router to ask. The paths are those of the named public routes in
festival.web.views; tests/web/test_links.py checks each against the app's own
`url_path_for`, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

PATHS = {
    "ticket": "/tickets/{token}",
    "ticket_confirm": "/tickets/{token}/confirm",
    "my_registrations": "/my/{secret}",
    "feed_my": "/feeds/my/{secret}.ics",
    "screening": "/screenings/{id}",
    "admin_invite": "/admin/invite/{token}",
}


def absolute(base_url: str, name: str, **params: Any) -> str:
    """'https://festival.example.org/tickets/abc…' for the route `name`."""
    return base_url.rstrip("/") + PATHS[name].format(**params)
