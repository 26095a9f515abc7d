"""A film's poster: one JPEG, PNG or WebP image per film, stored in the database (table
`posters`, migration 0012) so every worker and machine serves the same bytes.

What is accepted is decided by the bytes, never by the file's name or the browser's
claimed type: the magic number says the format, and the width and height are read from
the image's header (no decoder runs on it), so a huge or disguised file is refused
before anything is stored. Who may change a poster: whoever may edit the film
(catalogue's rules). Each change is one transaction with its audit entry, which keeps
the poster's type, size and digest, not its bytes."""

from __future__ import annotations

import hashlib
import struct
from typing import Any, NamedTuple

from festival.core import times
from festival.core.errors import NotFound, ValidationError, _
from festival.core.i18n import Text, translate, translated
from festival.core.store import Database, execute, fetch_one
from festival.organisers import audit
from festival.programme import removal

MAX_BYTES = 2 * 1024 * 1024  # 2 MB
MAX_SIDE = 6000  # pixels, either side
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class Image(NamedTuple):
    content_type: str
    width: int
    height: int


def sniff(data: bytes) -> Image | None:
    """The image's type and size from its first bytes; None when it is not a JPEG, PNG
    or WebP whose header says its size."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return Image("image/png", width, height)
        if data.startswith(b"\xff\xd8\xff"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError):  # a header cut short
        return None
    return None


# JPEG frame headers (SOF0-15 but DHT, JPG, DAC) carry the height and width.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> Image | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return Image("image/jpeg", width, height)
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        at += 2 + length
    return None


def _webp(data: bytes) -> Image | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return Image("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return Image("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return Image("image/webp", width, height)
    return None


def check(data: bytes) -> Image:
    """The image, or ValidationError (field `poster`) saying what is wrong with it."""
    problem: str | None = None
    image = sniff(data) if data else None
    if not data:
        problem = _("Choose an image file to upload.")
    elif len(data) > MAX_BYTES:
        problem = _("The image is larger than 2 MB: make it smaller and try again.")
    elif image is None:
        problem = _("This file is not a JPEG, PNG or WebP image.")
    elif not (0 < image.width <= MAX_SIDE and 0 < image.height <= MAX_SIDE):
        problem = Text(_("The image must be at most %(n)d pixels wide and high."), n=MAX_SIDE)
    if problem is not None:
        raise ValidationError(fields={"poster": translate(problem)})
    assert image is not None
    return image


def _summary(row: Any) -> dict[str, Any] | None:
    """What the audit trail keeps of a poster: never its bytes."""
    if row is None:
        return None
    return {"film_id": row["film_id"], "content_type": row["content_type"],
            "width": row["width"], "height": row["height"], "size": row["size"],
            "etag": row["etag"]}


async def save(db: Database, organiser: dict[str, Any], film_id: int, data: bytes) -> None:
    """Stores (or replaces) the film's poster; ValidationError, NotFound or Forbidden and
    nothing written."""
    image = check(data)
    etag = hashlib.sha256(data).hexdigest()
    async with db.transaction() as conn:
        await removal.find_for_change(conn, organiser, "film", film_id)
        before = await fetch_one(conn, "SELECT * FROM posters WHERE film_id = ?", (film_id,))
        await execute(conn, "INSERT INTO posters (film_id, content_type, width, height, size, "
                      "etag, image, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (film_id) DO UPDATE SET content_type = excluded.content_type,"
                      " width = excluded.width, height = excluded.height, size = excluded.size,"
                      " etag = excluded.etag, image = excluded.image,"
                      " updated_at = excluded.updated_at",
                      (film_id, image.content_type, image.width, image.height, len(data), etag,
                       data, times.now_text()))
        after = await fetch_one(conn, "SELECT * FROM posters WHERE film_id = ?", (film_id,))
        await audit.record(conn, organiser["id"], "film.poster", "film", film_id,
                           _summary(before), _summary(after))


async def remove(db: Database, organiser: dict[str, Any], film_id: int) -> bool:
    """Removes the film's poster; answers whether there was one."""
    async with db.transaction() as conn:
        await removal.find_for_change(conn, organiser, "film", film_id)
        before = await fetch_one(conn, "SELECT * FROM posters WHERE film_id = ?", (film_id,))
        if before is None:
            return False
        await execute(conn, "DELETE FROM posters WHERE film_id = ?", (film_id,))
        await audit.record(conn, organiser["id"], "film.poster_remove", "film", film_id,
                           _summary(before), None)
    return True


class Poster(NamedTuple):
    content_type: str
    extension: str
    width: int
    height: int
    etag: str


async def about(db: Database, film_id: int) -> Poster | None:
    """The film's poster without its bytes (for pages: its address and size)."""
    row = await db.fetch_one("SELECT content_type, width, height, etag FROM posters "
                             "WHERE film_id = ?", (film_id,))
    if row is None:
        return None
    return Poster(row["content_type"], EXTENSIONS[row["content_type"]], row["width"],
                  row["height"], row["etag"])


async def image(db: Database, film_id: int, extension: str) -> tuple[Poster, bytes]:
    """The poster and its bytes; NotFound when the film has none of that extension."""
    row = await db.fetch_one("SELECT * FROM posters WHERE film_id = ?", (film_id,))
    if row is None or EXTENSIONS[row["content_type"]] != extension:
        raise NotFound(translated(_("This film has no poster.")))
    return (Poster(row["content_type"], extension, row["width"], row["height"], row["etag"]),
            bytes(row["image"]))
