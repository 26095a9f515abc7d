"""What the programme page says it lists is what it lists: the count of one day when a
day is shown, and a hint where a day mixes venues in several time zones (listed in the
order they happen, each at its local time)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from festival.programme import demo
from festival.programme.loader import import_programme
from tests.web.test_public import day_sections, listed


def said_count(html: str) -> int:
    sentence = re.search(r'<p class="count">(.*?)</p>', html, re.S)
    assert sentence, "no count"
    return int(re.search(r"([\d,]+) screenings?", sentence.group(1)).group(1).replace(",", ""))


async def test_the_count_counts_the_day_that_is_listed(client: httpx.AsyncClient,
                                                       app: Any) -> None:
    await import_programme(app.state.db, demo.generate(screenings=400, seed=3))
    days = re.findall(r'<a href="/\?date=(\d{4}-\d\d-\d\d)"', (await client.get("/")).text)
    day = days[3]
    html = (await client.get(f"/?date={day}")).text
    assert said_count(html) == len(listed(html)) > 0
    per_day = [int(n) for n in re.findall(r'class="days__count">(\d+) screenings?<', html)]
    assert f"{sum(per_day)} on all days." in html
    country = re.search(r'<p class="screening__place">[^<]*, ([^<,]+)</p>', html).group(1)
    code = re.search(rf'<option value="([A-Z]{{2}})"[^>]*>{country}</option>', html).group(1)
    narrowed = (await client.get(f"/?date={day}&country={code}")).text
    assert said_count(narrowed) == len(listed(narrowed)) > 0
    assert "match your search" in narrowed or "matches your search" in narrowed


async def test_a_day_of_several_zones_says_why_local_times_are_out_of_order(
        client: httpx.AsyncClient, app: Any) -> None:
    await import_programme(app.state.db, demo.generate(screenings=400, seed=3))
    day = re.findall(r'<a href="/\?date=(\d{4}-\d\d-\d\d)"', (await client.get("/")).text)[3]
    section = day_sections((await client.get(f"/?date={day}")).text)[day]
    zones = set(re.findall(r'<span class="zone" dir="ltr">([^<]*)</span>', section))
    assert len(zones) > 1
    assert "Times are local to each venue, listed in the order they happen." in section


async def test_one_zone_needs_no_hint(client: httpx.AsyncClient, programme: Any) -> None:
    html = (await client.get("/?country=NL")).text
    assert listed(html)
    assert "Times are local to each venue" not in html
