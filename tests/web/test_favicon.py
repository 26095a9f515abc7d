"""The site's icon: linked from every page (public and organisers'), and /favicon.ico,
which browsers ask for anyway, leads to it instead of logging a 404."""

from __future__ import annotations

from typing import Any

import httpx


async def test_favicon_ico_redirects_to_the_svg_icon(client: httpx.AsyncClient) -> None:
    answer = await client.get("/favicon.ico")
    assert answer.status_code == 301
    assert answer.headers["location"] == "/static/favicon.svg"
    icon = await client.get(answer.headers["location"])
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg") and "<script" not in icon.text


async def test_every_page_links_the_icon(client: httpx.AsyncClient, programme: Any,
                                         sign_in: Any) -> None:
    link = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert link in (await client.get("/")).text
    assert link in (await client.get("/nowhere")).text  # the error page too
    admin = await sign_in("admin@example.org", role="admin", country=None)
    assert link in (await admin.get("/admin/dashboard")).text
