"""The door's QR code in the mails that confirm seats (confirmed; promoted once
confirmed): an inline image/png part beside the HTML (multipart/related), which the
HTML shows by its Content-ID with alt text, and that encodes the ticket's link. Composed
from the facts alone (festival.mail.compose stays pure)."""

from __future__ import annotations

import email
import io
import struct
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from festival.core import times
from festival.core.settings import Settings
from festival.mail import compose

TICKET_URL = "https://festival.example.org/tickets/t0k"


def facts(kind: str, status: str = "confirmed") -> compose.MessageFacts:
    registration = {"name": "Ana", "email": "ana@example.org", "token": "t0k", "seats": 2,
                    "status": status, "confirmed_at": "2099-12-01T09:00:00Z",
                    "updated_at": "2099-12-01T11:00:00Z", "changes": 1}
    screening = {"id": 7, "uid": "wallah-hague@festival", "sequence": 2, "status": "scheduled",
                 "title": "Wallah", "venue_name": "Humanity House", "city": "The Hague",
                 "country": "NL", "address": "Prinsegracht 8", "edition_name": "GMFF 2099",
                 "timezone": "Europe/Amsterdam", "starts_at": "2099-12-13T18:00:00Z",
                 "ends_at": "2099-12-13T20:30:00Z", "created_at": "2099-11-01T10:00:00Z",
                 "updated_at": "2099-12-01T10:00:00Z",
                 "starts_local": times.to_local("2099-12-13T18:00:00Z", "Europe/Amsterdam"),
                 "ends_local": times.to_local("2099-12-13T20:30:00Z", "Europe/Amsterdam"),
                 "guests": []}
    return compose.MessageFacts(kind=kind, message_id="m1@festival.example.org",
                                date=times.parse_utc("2099-12-01T11:00:00Z"), locale="en",
                                registration=registration, screening=screening,
                                waitlist_position=2 if status == "waitlisted" else None)


@pytest.fixture
def base_settings(settings: Settings) -> Settings:
    import dataclasses
    return dataclasses.replace(settings, base_url="https://festival.example.org")


def parsed(message_facts: compose.MessageFacts, settings: Settings) -> EmailMessage:
    raw = compose.render(message_facts, settings)
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def png_parts(msg: EmailMessage) -> list[Any]:
    return [p for p in msg.walk() if p.get_content_type() == "image/png"]


@pytest.mark.parametrize("kind", ["confirmed", "promoted"])
def test_the_mail_shows_the_code_inline_by_its_content_id(base_settings: Settings,
                                                          kind: str) -> None:
    msg = parsed(facts(kind), base_settings)
    [png] = png_parts(msg)
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    cid = png["Content-ID"].strip("<>")
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'<img src="cid:{cid}"' in html
    assert 'alt="QR code of your ticket, to show at the door"' in html
    data = png.get_content()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == height >= 100
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert TICKET_URL in text and "show the QR code" in text


def test_the_code_encodes_the_ticket_link(base_settings: Settings) -> None:
    import segno
    expected = io.BytesIO()
    segno.make(TICKET_URL, error="m", micro=False).save(
        expected, kind="png", scale=6, border=4, dark="#000", light="#fff")
    [png] = png_parts(parsed(facts("confirmed"), base_settings))
    assert png.get_content() == expected.getvalue()


@pytest.mark.parametrize(("kind", "status"), [("promoted", "held"), ("waitlisted", "waitlisted"),
                                              ("cancelled", "cancelled")])
def test_no_code_before_the_seats_are_confirmed(base_settings: Settings, kind: str,
                                                status: str) -> None:
    msg = parsed(facts(kind, status), base_settings)
    assert png_parts(msg) == []
    assert "cid:" not in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
