"""Countries are named and ordered by their names in the reader's language, never by
their ISO codes: on /subscribe, the programme's filter, the dashboard and the
organisers' screening list (the sample's NE, Niger, sorts after NL, Netherlands)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from festival.core import i18n

NAMES_EN = ["Australia", "Mexico", "Nepal", "Netherlands", "Niger"]
NAMES_FR = ["Australie", "Mexique", "Népal", "Niger", "Pays-Bas"]


def options(html: str, select_id: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select id="{select_id}" name="country">(.*?)</select>', html, re.S)
    assert select, f"no select #{select_id}"
    return [(v, t) for v, t in re.findall(r'<option value="([A-Z]*)"[^>]*>([^<]*)</option>',
                                          select.group(1)) if v]


def test_names_sort_ignoring_case_and_accents() -> None:
    i18n.use_locale("fr")
    try:
        assert i18n.by_country_name(["NL", "NE", "AE", "EG", "NP"]) == [
            "EG", "AE", "NP", "NE", "NL"]  # Égypte, Émirats arabes unis, Népal, Niger, Pays-Bas
    finally:
        i18n.use_locale("en")


async def test_subscribe_lists_countries_by_name(client: httpx.AsyncClient,
                                                 programme: Any) -> None:
    html = (await client.get("/subscribe")).text
    listed = [n for n in re.findall(r'<a href="webcal://[^"]*/feeds/countries/[A-Z]+\.ics[^"]*">'
                                    r"([^<]*)</a>", html)]
    assert listed == NAMES_EN
    french = (await client.get("/subscribe?lang=fr")).text
    assert [n for n in re.findall(r'<a href="webcal://[^"]*/feeds/countries/[A-Z]+\.ics[^"]*">'
                                  r"([^<]*)</a>", french)] == NAMES_FR


async def test_programme_filter_lists_countries_by_name(client: httpx.AsyncClient,
                                                        programme: Any) -> None:
    french = (await client.get("/?lang=fr")).text
    assert [t for _v, t in options(french, "f-country")] == NAMES_FR


async def test_organisers_see_country_names_in_name_order(sign_in: Any, programme: Any) -> None:
    admin = await sign_in("admin@example.org", role="admin", country=None)
    dashboard = (await admin.get("/admin/dashboard")).text
    assert [t for _v, t in options(dashboard, "country")] == NAMES_EN
    rows = re.findall(r'<th scope="row">([^<(]+) \(([A-Z]{2})\)</th>', dashboard)
    assert [name for name, _code in rows] == NAMES_EN
    screenings = (await admin.get("/admin/screenings")).text
    assert options(screenings, "country") == [("AU", "Australia"), ("MX", "Mexico"),
                                              ("NP", "Nepal"), ("NL", "Netherlands"),
                                              ("NE", "Niger")]
    assert "Humanity House, The Hague, Netherlands" in screenings
