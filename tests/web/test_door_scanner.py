"""The door's camera scanner, as the server serves it: the panel on the door page (hidden
until static/js/door-scanner.js shows it, with its translated texts and the check-in
API's address), the script, its stylesheet and the vendored QR decoder, all from this
server under the CSP's script-src 'self'. Its behaviour in a browser is in
tests/web/test_browser_door.py."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from tests.helpers import screening_id

ROOT = Path(__file__).resolve().parents[2]


def attribute(page: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', page)
    assert found, f"no {name} on the page"
    return html.unescape(found.group(1))


async def test_the_door_page_holds_the_scanner_hidden_until_its_script_runs(
        app: Any, programme: Any, sign_in: Any) -> None:
    sid = await screening_id(app, "hague")
    client = await sign_in("door-scan@example.org")
    response = await client.get(f"/admin/screenings/{sid}/door")
    assert response.status_code == 200
    page = response.text
    panel = re.search(r'<section class="panel door-scanner" id="door-scanner"[^>]*>', page)
    assert panel and " hidden" in panel.group(0)
    assert '<script type="module" src="/static/js/door-scanner.js"></script>' in page
    assert 'href="/static/css/door-scanner.css"' in page
    assert attribute(page, "data-api") == "/api/v1/admin/checkins"
    assert attribute(page, "data-decoder") == "/static/vendor/jsqr/jsQR.js"
    assert attribute(page, "data-screening-id") == str(sid)
    assert attribute(page, "data-timezone") == "Europe/Amsterdam"
    assert attribute(page, "data-time-locale") == "en-GB"
    assert attribute(page, "data-text-already") == "Already in at {time}"
    assert attribute(page, "data-text-waiting") == "Scans waiting to sync: {num}"
    # The camera's button is hidden too: the script shows it only where a camera API is.
    assert re.search(r'<button[^>]*data-scanner="start" hidden>Scan tickets with the camera<',
                     page)
    # Without JavaScript the form is all there is, and it still checks in.
    assert f'action="/admin/screenings/{sid}/door/checkins"' in page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "camera=(self)" in response.headers["permissions-policy"]


async def test_the_scanner_texts_are_translated(app: Any, programme: Any, sign_in: Any) -> None:
    sid = await screening_id(app, "hague")
    client = await sign_in("door-scan-fr@example.org")
    page = (await client.get(f"/admin/screenings/{sid}/door?lang=fr")).text
    assert attribute(page, "data-time-locale") == "fr"
    for name in ("data-text-admitted", "data-text-already", "data-text-wrong",
                 "data-text-queued", "data-text-waiting"):
        assert attribute(page, name)  # a text, in French once translated


async def test_the_script_and_the_decoder_are_served_from_here(client: Any) -> None:
    for path, marker in (("/static/js/door-scanner.js", "festival:scan"),
                         ("/static/vendor/jsqr/jsQR.js", 'root["jsQR"]'),
                         ("/static/css/door-scanner.css", ".scan-result--admitted")):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert marker in response.text, path
    script = (ROOT / "static" / "js" / "door-scanner.js").read_text("utf-8")
    assert "http://" not in script and "https://" not in script  # no CDN, nothing outside
    assert "eval(" not in script and "new Function" not in script
    licence = (ROOT / "static" / "vendor" / "jsqr" / "LICENSE").read_text("utf-8")
    assert "Apache License" in licence


def test_the_scanner_stylesheet_uses_logical_properties_only() -> None:
    css = (ROOT / "static" / "css" / "door-scanner.css").read_text("utf-8")
    physical = re.findall(r"\b(?:margin|padding|border)-(?:left|right|top|bottom)\b"
                          r"|(?<![-\w])(?:left|right|top|bottom|(?:min-|max-)?(?:width|height))\s*:",
                          css)
    assert physical == []
