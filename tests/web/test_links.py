"""Mails and calendar events link to pages by the routes' own paths."""

from __future__ import annotations

from typing import Any

from festival.core import links

SAMPLE = {"ticket": {"token": "t" * 32}, "ticket_confirm": {"token": "t" * 32},
          "my_registrations": {"secret": "s" * 32}, "feed_my": {"secret": "s" * 32},
          "screening": {"id": 7}, "admin_invite": {"token": "i" * 43}}


def test_every_link_outside_a_request_is_the_named_route(app: Any) -> None:
    assert set(SAMPLE) == set(links.PATHS)
    for name, params in SAMPLE.items():
        assert links.absolute("https://f.example.org/", name, **params) == (
            "https://f.example.org" + app.url_path_for(name, **params))
