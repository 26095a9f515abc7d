"""One rule for text and one for email addresses, whichever way a value comes in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from festival.core.errors import ValidationError
from festival.core.text import city_slug, clean_email, has_unsafe_characters, slugify
from festival.organisers import accounts
from festival.programme import fields

SPOOFED = "abc\u202egpj.exe"  # shows as "abcexe.jpg"


@pytest.mark.parametrize("text", [SPOOFED, "a\u2066b", "line\u2028break", "nul\x00", "bell\x07"])
def test_unsafe_characters_are_refused_everywhere(text: str) -> None:
    assert has_unsafe_characters(text)
    with pytest.raises(ValueError, match="control characters"):
        fields.text()(text)


def test_line_breaks_only_where_a_field_has_lines() -> None:
    assert has_unsafe_characters("two\nlines")
    assert not has_unsafe_characters("two\nlines\tand a tab", lines=True)
    assert has_unsafe_characters("two\u202elines", lines=True)
    assert not has_unsafe_characters("Zoë Ōsaka 大阪 مرحبا")


async def test_a_registration_refuses_a_spoofed_name(
        client: httpx.AsyncClient, programme: Any) -> None:
    listing = (await client.get("/api/v1/screenings")).json()
    answer = await client.post(f"/api/v1/screenings/{listing[0]['id']}/registrations",
                               json={"name": SPOOFED, "email": "a@example.org", "seats": 1})
    assert answer.status_code == 422
    assert "name" in answer.json()["error"]["fields"]


@pytest.mark.parametrize("address", ["a..b@example.org", ".a@example.org", "a@example",
                                     '"q"@example.org', "a@[1.2.3.4]", "zoë@example.org",
                                     "a@b@example.org", "a\u202e@example.org"])
def test_bad_addresses_are_refused(address: str) -> None:
    assert clean_email(address)[1] is not None


@pytest.mark.parametrize("address", ["  ALICE@Example.org ", "user+tag@sub.example.co.uk",
                                     "a@xn--bcher-kva.example"])
def test_good_addresses_pass_trimmed(address: str) -> None:
    assert clean_email(address) == (address.strip(), None)


def test_organiser_accounts_use_the_same_email_rule() -> None:
    with pytest.raises(ValidationError) as refused:
        accounts.check_organiser("a..b@example.org", "long enough", "admin", None)
    assert "email" in refused.value.fields
    assert accounts.check_organiser(" Root@Example.org ", "long enough", "admin", None) == (
        "root@example.org", None)


def test_one_slug() -> None:
    assert slugify("Cineteca, Sala 3") == "cineteca-sala-3"
    assert slugify("São Paulo") == "sao-paulo"
    assert slugify("東京", "venue") == "venue"
    assert city_slug("Mexico City") == "mexico-city"
    assert city_slug("東京") == "東京"


def test_the_exports_apply_the_same_rule_on_the_way_out() -> None:
    from festival.calendar import ics
    from festival.mail import compose

    assert compose.one_line("Zoë\r\nBcc: x\u202e\x00 ") == "Zoë Bcc: x"
    assert ics.escape("a\u202eb\x07c\nd") == "abc\\nd"
