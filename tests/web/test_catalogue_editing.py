"""Catalogue editing: a venue's country and time zone picked from lists, a screening's
guests picked with a search, films' posters (upload, checks by bytes, serving,
removal), and removing venues, films and guests that nothing uses."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import pytest

from festival.programme import posters
from tests.helpers import Client, SignIn, csrf_of, ids, post_form, sql


@pytest.fixture
def sign_in(sign_in: SignIn, programme: Any) -> SignIn:
    """The shared sign_in, with the sample programme loaded."""
    return sign_in


@pytest.fixture
async def nl(sign_in: SignIn) -> Client:
    return await sign_in("nl@example.org", "organiser", "NL")


@pytest.fixture
async def admin(sign_in: SignIn) -> Client:
    return await sign_in("admin@example.org", "admin", None)


def png(width: int = 2, height: int = 3) -> bytes:
    """A real PNG image (grey pixels) of that size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                               8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a JPEG: SOI, an APP0 segment, then a baseline frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


async def new_row(client: Client, kind: str, **fields: str) -> int:
    plural = {"venue": "venues", "film": "films", "guest": "guests"}[kind]
    answer = await post_form(client, f"/admin/{plural}/new", **fields)
    assert answer.status_code == 303, answer.text
    found = re.search(rf"/admin/{plural}/(\d+)", answer.headers["location"])
    assert found
    return int(found.group(1))


async def upload(client: Client, film_id: int, data: bytes, name: str = "poster.png",
                 content_type: str = "image/png") -> Any:
    page = await client.get(f"/admin/films/{film_id}")
    return await client.post(f"/admin/films/{film_id}/poster",
                             data={"csrf_token": csrf_of(page.text)},
                             files={"poster": (name, data, content_type)})


async def audit_actions(app: Any) -> list[str]:
    rows = await app.state.db.fetch_all("SELECT action FROM audit_log ORDER BY id")
    return [r["action"] for r in rows]


# --- the header checks ------------------------------------------------------------------------

def test_images_are_recognised_by_their_bytes_and_sized_from_their_headers() -> None:
    assert posters.sniff(png(640, 960)) == ("image/png", 640, 960)
    assert posters.sniff(jpeg_header(800, 1200)) == ("image/jpeg", 800, 1200)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4 \
        + (499).to_bytes(3, "little") + (749).to_bytes(3, "little")
    assert posters.sniff(vp8x) == ("image/webp", 500, 750)
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + struct.pack(
        "<I", (99) | (199 << 14))
    assert posters.sniff(vp8l) == ("image/webp", 100, 200)
    for other in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a\x01\x00\x01\x00",
                  b"%PDF-1.7", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b""):
        assert posters.sniff(other) is None


# --- posters ----------------------------------------------------------------------------------

async def test_a_poster_is_uploaded_served_shown_and_removed(app: Any, client: Any,
                                                             nl: Client) -> None:
    film_id = await new_row(nl, "film", title="Borders of Light")
    image = png(300, 450)
    answer = await upload(nl, film_id, image, name="whatever.bin",
                          content_type="application/octet-stream")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/films/{film_id}?done=poster"
    form = await nl.get(f"/admin/films/{film_id}")
    assert f'src="/posters/{film_id}.png?v=' in form.text
    assert 'alt="Poster of Borders of Light"' in form.text

    served = await client.get(f"/posters/{film_id}.png")
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=3600"
    etag = served.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    again = await client.get(f"/posters/{film_id}.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get(f"/posters/{film_id}.jpg")).status_code == 404
    film_page = await client.get(f"/films/{film_id}")
    assert 'alt="Poster of Borders of Light"' in film_page.text

    removed = await post_form(nl, f"/admin/films/{film_id}",
                              f"/admin/films/{film_id}/poster/remove")
    assert removed.status_code == 303
    assert (await client.get(f"/posters/{film_id}.png")).status_code == 404
    assert "Poster of" not in (await client.get(f"/films/{film_id}")).text
    assert (await audit_actions(app))[-3:] == ["film.create", "film.poster",
                                               "film.poster_remove"]


async def test_the_screening_page_shows_its_films_poster(app: Any, client: Any,
                                                         admin: Client) -> None:
    films, screenings = await ids(app, "films"), await ids(app, "screenings")
    assert (await upload(admin, films["wallah-je-te-jure"], png())).status_code == 303
    page = await client.get(f"/screenings/{screenings['hague']}")
    assert re.search(rf'<img class="poster" src="/posters/{films["wallah-je-te-jure"]}\.png'
                     r'\?v=[0-9a-f]{16}" width="2" height="3" alt="Poster of Wallah', page.text)


@pytest.mark.parametrize(("data", "message"), [
    (b"<html><script>alert(1)</script></html>", "This file is not a JPEG, PNG or WebP image."),
    (b"GIF89a" + b"\x00" * 100, "This file is not a JPEG, PNG or WebP image."),
    (png()[:16] + struct.pack(">II", 10_000, 10), "The image must be at most 6000 pixels"),
    (png() + b"\x00" * posters.MAX_BYTES, "The image is larger than 2 MB"),
    (b"", "Choose an image file to upload."),
])
async def test_a_poster_that_is_not_a_small_image_is_refused(app: Any, client: Any, nl: Client,
                                                             data: bytes, message: str) -> None:
    film_id = await new_row(nl, "film", title="Refused Poster")
    answer = await upload(nl, film_id, data)  # named .png, sent as image/png
    assert answer.status_code == 422
    assert message in answer.text and 'id="e-poster"' in answer.text
    assert (await client.get(f"/posters/{film_id}.png")).status_code == 404
    assert "film.poster" not in await audit_actions(app)


async def test_only_the_poster_upload_takes_a_large_body(nl: Client) -> None:
    film_id = await new_row(nl, "film", title="Huge Poster")
    too_big = await upload(nl, film_id, b"\x00" * (5 * 1024 * 1024))
    assert too_big.status_code == 413
    page = await nl.get(f"/admin/films/{film_id}")
    elsewhere = await nl.post(f"/admin/films/{film_id}", data={
        "csrf_token": csrf_of(page.text), "title": "x", "synopsis": "y" * (100 * 1024)})
    assert elsewhere.status_code == 413


async def test_a_poster_follows_the_films_edit_rules(app: Any, nl: Client) -> None:
    films = await ids(app, "films")  # Wallah is shown in three countries
    page = await nl.get("/admin/films")
    answer = await nl.post(f"/admin/films/{films['wallah-je-te-jure']}/poster",
                           data={"csrf_token": csrf_of(page.text)},
                           files={"poster": ("p.png", png(), "image/png")})
    assert answer.status_code == 403
    assert (await app.state.db.fetch_one("SELECT COUNT(*) AS n FROM posters"))["n"] == 0


# --- removing venues, films, guests -----------------------------------------------------------

async def test_what_a_screening_uses_cannot_be_deleted_and_the_answer_says_what(
        app: Any, admin: Client) -> None:
    venues, films = await ids(app, "venues"), await ids(app, "films")
    guests = await ids(app, "guests")
    for kind, plural, row_id, wanted in (
            ("venue", "venues", venues["humanity-house"], "screening takes place here"),
            ("film", "films", films["wallah-je-te-jure"], "3 screenings show it"),
            ("guest", "guests", guests["ana-reyes"], "screening has them in its debate")):
        confirm = await admin.get(f"/admin/{plural}/{row_id}/delete")
        assert confirm.status_code == 200 and wanted in confirm.text
        assert "Yes, delete" not in confirm.text
        refused = await admin.post(f"/admin/{plural}/{row_id}/delete",
                                   data={"csrf_token": csrf_of(confirm.text)})
        assert refused.status_code == 409, kind
        assert wanted in refused.text and "Wallah" in refused.text
        assert await app.state.db.fetch_one(f"SELECT id FROM {plural} WHERE id = ?", (row_id,))
    assert not any(a.endswith(".delete") for a in await audit_actions(app))


async def test_an_unused_venue_film_and_guest_are_deleted_after_confirming(
        app: Any, nl: Client) -> None:
    rows = {"venue": await new_row(nl, "venue", name="Pop-up Hall", city="Utrecht",
                                   country="NL", timezone="Europe/Amsterdam", capacity="50"),
            "film": await new_row(nl, "film", title="Never Shown"),
            "guest": await new_row(nl, "guest", name="Nobody Booked", listed="1")}
    film_id = rows["film"]
    assert (await upload(nl, film_id, png())).status_code == 303
    for kind, row_id in rows.items():
        plural = kind + "s"
        edit = await nl.get(f"/admin/{plural}/{row_id}")
        assert f'href="/admin/{plural}/{row_id}/delete"' in edit.text
        confirm = await nl.get(f"/admin/{plural}/{row_id}/delete")
        assert confirm.status_code == 200 and "Yes, delete" in confirm.text
        done = await nl.post(f"/admin/{plural}/{row_id}/delete",
                             data={"csrf_token": csrf_of(confirm.text)})
        assert done.status_code == 303
        assert done.headers["location"] == f"/admin/{plural}?done=deleted"
        assert "Deleted." in (await nl.get(done.headers["location"])).text
        assert not await app.state.db.fetch_one(f"SELECT id FROM {plural} WHERE id = ?",
                                                (row_id,))
        assert (await nl.get(f"/admin/{plural}/{row_id}")).status_code == 404
    assert not await app.state.db.fetch_one("SELECT 1 FROM posters WHERE film_id = ?",
                                            (film_id,))
    entries = await app.state.db.fetch_all(
        "SELECT action, entity_id, before_json, after_json FROM audit_log "
        "WHERE action LIKE '%.delete' ORDER BY id")
    assert [(e["action"], e["entity_id"]) for e in entries] == [
        ("venue.delete", rows["venue"]), ("film.delete", rows["film"]),
        ("guest.delete", rows["guest"])]
    assert all(e["after_json"] is None and "Pop-up Hall" in entries[0]["before_json"]
               for e in entries)


async def test_a_venue_of_another_country_cannot_be_deleted(app: Any, nl: Client,
                                                             admin: Client) -> None:
    venue_id = await new_row(admin, "venue", name="Salle vide", city="Niamey", country="NE",
                             timezone="Africa/Niamey", capacity="40")
    assert (await nl.get(f"/admin/venues/{venue_id}/delete")).status_code == 403
    page = await nl.get("/admin/venues")
    answer = await nl.post(f"/admin/venues/{venue_id}/delete",
                           data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 403
    assert await app.state.db.fetch_one("SELECT id FROM venues WHERE id = ?", (venue_id,))


# --- picking from lists -----------------------------------------------------------------------

async def test_a_venues_country_and_time_zone_are_picked_from_lists(app: Any,
                                                                     admin: Client) -> None:
    form = await admin.get("/admin/venues/new?lang=fr")
    assert re.search(r'<select id="f-country" name="country" required', form.text)
    assert '<option value="NL">Pays-Bas</option>' in form.text
    assert re.search(r'<select id="f-timezone" name="timezone" required', form.text)
    assert '<optgroup label="Africa">' in form.text
    assert '<option value="Africa/Niamey">Africa/Niamey</option>' in form.text
    venue_id = await new_row(admin, "venue", name="Cinéma Nomade", city="Dakar", country="SN",
                             timezone="Africa/Dakar", capacity="120")
    edit = await admin.get(f"/admin/venues/{venue_id}")  # still in French (remembered)
    assert '<option value="SN" selected>Sénégal</option>' in edit.text
    assert '<option value="Africa/Dakar" selected>Africa/Dakar</option>' in edit.text
    await admin.get("/admin/?lang=en")
    wrong = await post_form(admin, "/admin/venues/new", name="Nowhere", city="X",
                            country="XX", timezone="Mars/Olympus", capacity="1")
    assert wrong.status_code == 422
    assert "must be a 2-letter country code" in wrong.text and "unknown time zone" in wrong.text


async def test_a_screenings_guests_are_searchable_chosen_first_and_saved(
        app: Any, nl: Client) -> None:
    screenings, guests = await ids(app, "screenings"), await ids(app, "guests")
    extra = await new_row(nl, "guest", name="Zainab Aziz", role="Researcher", listed="1")
    form = await nl.get(f"/admin/screenings/{screenings['hague']}")
    assert 'src="/static/js/guest-picker.js"' in form.text
    assert '<label for="guest-search">Find a guest</label>' in form.text
    order = [int(i) for i in re.findall(r'id="g-(\d+)"', form.text)]
    assert order[-1] == extra  # the hague's two guests first, then the others
    assert set(order[:2]) == {guests["ana-reyes"], guests["unlisted-guest"]}
    answer = await nl.post(f"/admin/screenings/{screenings['hague']}", data={
        "csrf_token": csrf_of(form.text), "film_id": str((await ids(app, "films"))[
            "wallah-je-te-jure"]), "venue_id": str((await ids(app, "venues"))["humanity-house"]),
        "starts_at": re.search(r'name="starts_at" value="([^"]+)"', form.text).group(1),  # type: ignore[union-attr]
        "ends_at": re.search(r'name="ends_at" value="([^"]+)"', form.text).group(1),  # type: ignore[union-attr]
        "max_seats": "4", "guest_ids": [str(guests["ana-reyes"]), str(extra)]})
    assert answer.status_code == 303, answer.text
    saved = await app.state.db.fetch_all(
        "SELECT guest_id FROM screening_guests WHERE screening_id = ? ORDER BY position",
        (screenings["hague"],))
    assert [r["guest_id"] for r in saved] == [guests["ana-reyes"], extra]


async def test_a_venue_keeps_a_valid_time_zone_the_list_does_not_offer(app: Any,
                                                                       admin: Client) -> None:
    venues = await ids(app, "venues")
    await sql(app, "UPDATE venues SET timezone = 'Etc/GMT-3' WHERE key = 'humanity-house'")
    edit = await admin.get(f"/admin/venues/{venues['humanity-house']}")
    assert '<option value="Etc/GMT-3" selected>Etc/GMT-3</option>' in edit.text
