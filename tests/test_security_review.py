"""Found in a security review of the organisers' new features: bad input that raised
(a 500) instead of being refused, and personal data the privacy commands missed."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from festival.organisers import accounts, invites, totp
from festival.privacy import records
from festival.programme import posters
from tests.helpers import PASSWORD, Client, SignIn, csrf_of, submit_sign_in


def test_a_code_in_other_digits_is_refused_not_an_error() -> None:
    secret = totp.new_secret()
    wide = "".join(chr(0xFF10 + int(d)) for d in pyotp.TOTP(secret).now())  # "１２３４５６"
    assert totp.matching_step(secret, wide) is None
    assert totp.matching_step(secret, "١٢٣٤٥٦") is None  # Arabic-Indic digits


async def test_the_code_step_refuses_non_ascii_digits(app: Any, client: Client,
                                                      settings: Any) -> None:
    db = app.state.db
    ana = await accounts.create_organiser(db, "ana@example.org", PASSWORD, "organiser", "NL",
                                          settings=settings)
    secret = (await totp.state(db, ana))["pending"]
    await totp.enable(db, ana, pyotp.TOTP(secret).now())
    answer = await submit_sign_in(client, "ana@example.org", PASSWORD)
    page = await client.get(answer.headers["location"])
    refused = await client.post("/admin/login/code", data={
        "csrf_token": csrf_of(page.text), "code": "１２３４５６"})
    assert refused.status_code == 401


async def test_turning_totp_on_with_non_ascii_digits_is_refused(sign_in: SignIn) -> None:
    ana = await sign_in("ana@example.org")
    page = await ana.get("/admin/security")
    answer = await ana.post("/admin/security/enable",
                            data={"csrf_token": csrf_of(page.text), "code": "１２３４５６"})
    assert answer.status_code == 401


@pytest.mark.parametrize("data", [b"RIFF\x00\x00\x00\x00WEBPVP8L",
                                  b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00"])
def test_a_webp_header_cut_short_is_not_an_image(data: bytes) -> None:
    assert posters.sniff(data) is None


async def test_forgetting_an_address_erases_and_withdraws_its_invitations(
        app: Any, settings: Any) -> None:
    db = app.state.db
    invite, _link = await invites.create_invite(db, "bea@example.org", "organiser", "NL",
                                                settings=settings)
    exported = await records.export_person(db, "Bea@example.org")
    assert [i["id"] for i in exported["invites"]] == [invite["id"]]
    assert "token_hash" not in exported["invites"][0]

    counts = await records.forget_person(db, "bea@example.org")
    assert counts.invites == 1
    left = await db.fetch_all("SELECT * FROM organiser_invites WHERE email LIKE '%bea%'")
    assert left == []
    row = await db.fetch_one("SELECT * FROM organiser_invites WHERE id = ?", (invite["id"],))
    assert row is not None and row["revoked_at"] is not None
    assert (await records.export_person(db, "bea@example.org"))["invites"] == []
