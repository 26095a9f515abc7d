"""The demo edition: deterministic, worldwide, awkward time zones, never a double-booked
venue, and it loads cleanly (also over an earlier demo of another size)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from festival.core.store import Database
from festival.programme.demo import edition_year, generate
from festival.programme.file import validate_programme
from festival.programme.loader import import_programme

TODAY = date(2030, 6, 1)
AWKWARD_ZONES = {"Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns",
                 "Asia/Tehran", "Australia/Sydney", "Pacific/Auckland", "America/Santiago"}


@pytest.fixture(scope="module")
def big() -> dict[str, Any]:
    return generate(10_000, seed=3, today=TODAY)


def test_demo_is_the_same_for_the_same_seed() -> None:
    assert generate(200, seed=5, today=TODAY) == generate(200, seed=5, today=TODAY)
    assert generate(200, seed=5, today=TODAY) != generate(200, seed=6, today=TODAY)


@pytest.mark.parametrize(("today", "year"), [
    (date(2030, 1, 10), 2030), (date(2030, 12, 18), 2030), (date(2030, 12, 19), 2031)])
def test_demo_edition_is_this_years_until_it_has_passed(today: date, year: int) -> None:
    edition = generate(10, today=today)["edition"]

    assert edition_year(today) == year
    assert (edition["starts_on"], edition["ends_on"]) == (f"{year}-12-05", f"{year}-12-18")


def test_demo_spans_many_cities_and_awkward_time_zones() -> None:
    data = generate(300, today=TODAY)
    zones = {v["timezone"] for v in data["venues"]}
    continents = {z.split("/")[0] for z in zones}

    assert len({v["city"] for v in data["venues"]}) >= 15
    assert AWKWARD_ZONES - zones == set()
    assert {"Europe", "Africa", "Asia", "America", "Australia", "Pacific"} <= continents


def test_demo_has_debates_guests_and_access_details() -> None:
    data = generate(300, today=TODAY)
    screenings = data["screenings"]

    assert len(screenings) == 300
    assert any(not g.get("listed", True) for g in data["guests"])
    assert sum(1 for s in screenings if s.get("debate", {}).get("guests")) > 50
    assert any(s["subtitles"] for s in screenings)
    assert any(s.get("sign_interpretation") for s in screenings)
    assert any(v["step_free"] for v in data["venues"])
    assert any(s.get("status") == "cancelled" for s in screenings)


def test_demo_starts_in_the_afternoon_or_evening(big: dict[str, Any]) -> None:
    hours = {int(s["starts_at"][11:13]) for s in big["screenings"]}

    assert min(hours) >= 12
    assert max(hours) <= 21


def test_demo_never_double_books_a_venue(big: dict[str, Any]) -> None:
    # Within one venue the wall clock is one zone with no clock change in December, so
    # comparing wall-clock times is enough (validation also checks the instants).
    by_venue: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for s in big["screenings"]:
        by_venue[s["venue"]].append((datetime.fromisoformat(s["starts_at"]),
                                     datetime.fromisoformat(s["ends_at"])))
    for slots in by_venue.values():
        slots.sort()
        for (_, end), (start, _) in zip(slots, slots[1:], strict=False):
            assert start >= end + timedelta(minutes=30)
    assert len(big["screenings"]) == 10_000


def test_demo_is_a_valid_programme() -> None:
    assert validate_programme(generate(2000, seed=9, today=TODAY), changeover_minutes=30) == {}


async def test_demo_loads_cleanly_and_again_over_another_size(db: Database) -> None:
    first = await import_programme(db, generate(300, seed=2, today=TODAY))
    again = await import_programme(db, generate(300, seed=2, today=TODAY))
    bigger = await import_programme(db, generate(1500, seed=2, today=TODAY))

    assert first.added["screenings"] == 300
    assert again.unchanged["screenings"] == 300
    assert bigger.added["screenings"] + bigger.updated["screenings"] \
        + bigger.unchanged["screenings"] == 1500
    count = await db.fetch_one("SELECT COUNT(*) FROM screenings")
    assert count is not None and count[0] >= 1500
