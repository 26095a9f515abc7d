"""Wall-clock times at venues around the world become the right UTC instants, and a time
the clocks skip is refused instead of being guessed."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from festival.core import times
from festival.core.i18n import zone_label
from festival.core.store import Database
from festival.programme.file import validate_programme
from festival.programme.loader import import_programme


async def stored(db: Database, key: str) -> tuple[str, str, str]:
    row = await db.fetch_one("SELECT starts_at, ends_at, timezone FROM screenings WHERE key = ?",
                             (key,))
    assert row is not None
    return tuple(row)  # type: ignore[return-value]


async def test_sydney_screening_in_december_is_in_summer_time(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)

    starts_at, ends_at, zone = await stored(db, "sydney")

    # 19:30 on 6 December in Sydney is UTC+11 (daylight saving), 08:30 UTC.
    assert (starts_at, ends_at, zone) == ("2099-12-06T08:30:00Z", "2099-12-06T11:00:00Z",
                                          "Australia/Sydney")
    assert times.local_iso(starts_at, zone) == "2099-12-06T19:30:00+11:00"


async def test_kathmandu_screening_is_five_hours_forty_five_ahead(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)

    starts_at, _, zone = await stored(db, "kathmandu")

    assert starts_at == "2099-12-10T11:30:00Z"
    assert times.local_iso(starts_at, zone) == "2099-12-10T17:15:00+05:45"


async def test_screening_after_midnight_keeps_its_venue_day(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)

    starts_at, ends_at, zone = await stored(db, "mexico-late")

    assert (starts_at, ends_at) == ("2099-12-13T04:30:00Z", "2099-12-13T07:00:00Z")
    assert str(times.local_date(starts_at, zone)) == "2099-12-12"


@pytest.mark.parametrize(("zone", "local", "utc"), [
    ("Asia/Kolkata", "2099-12-10T19:00", "2099-12-10T13:30:00Z"),
    ("Asia/Tehran", "2099-12-10T19:00", "2099-12-10T15:30:00Z"),
    ("Australia/Adelaide", "2099-12-10T19:00", "2099-12-10T08:30:00Z"),  # +10:30 in summer
    ("America/St_Johns", "2099-12-10T19:00", "2099-12-10T22:30:00Z"),
    ("Pacific/Auckland", "2099-12-10T19:00", "2099-12-10T06:00:00Z"),  # +13 in summer
    ("America/Santiago", "2099-12-10T19:00", "2099-12-10T22:00:00Z"),  # -03 in summer
    ("Europe/Amsterdam", "2099-12-10T19:00", "2099-12-10T18:00:00Z"),
])
def test_local_time_becomes_the_right_utc_instant(zone: str, local: str, utc: str) -> None:
    assert times.utc_text(times.local_to_utc(datetime.fromisoformat(local), zone)) == utc


def spring_programme(sample_programme: dict[str, Any], starts_at: str, ends_at: str
                     ) -> dict[str, Any]:
    """A one-screening edition in The Hague around the clock change of 29 March 2099."""
    data = copy.deepcopy(sample_programme)
    data["edition"].update(key="2099-spring", starts_on="2099-03-25", ends_on="2099-04-05")
    data["screenings"] = [dict(data["screenings"][0], starts_at=starts_at, ends_at=ends_at)]
    return data


def test_time_skipped_by_the_clock_change_is_refused(sample_programme: dict[str, Any]) -> None:
    # At 02:00 on 29 March 2099 Amsterdam's clocks jump to 03:00: 02:30 never happens.
    data = spring_programme(sample_programme, "2099-03-29T02:30", "2099-03-29T04:00")

    errors = validate_programme(data)

    assert list(errors) == ["screenings[0].starts_at"]
    assert "does not exist in Europe/Amsterdam" in errors["screenings[0].starts_at"]


def test_duration_across_the_clock_change_is_real_time(sample_programme: dict[str, Any]
                                                       ) -> None:
    # 01:30 to 03:30 across the jump lasts one hour, not two: still after its start.
    data = spring_programme(sample_programme, "2099-03-29T01:30", "2099-03-29T03:30")

    assert validate_programme(data) == {}
    start = times.local_to_utc(datetime(2099, 3, 29, 1, 30), "Europe/Amsterdam")
    end = times.local_to_utc(datetime(2099, 3, 29, 3, 30), "Europe/Amsterdam")
    assert (end - start).total_seconds() == 3600


def test_repeated_hour_means_its_first_occurrence() -> None:
    # On 25 October 2099 Amsterdam lives 02:30 twice; the first is still summer time.
    instant = times.local_to_utc(datetime(2099, 10, 25, 2, 30), "Europe/Amsterdam")

    assert times.utc_text(instant) == "2099-10-25T00:30:00Z"


@pytest.mark.parametrize(("zone", "label"), [
    ("Asia/Manila", "UTC+08:00"),  # 'PST' would read as California
    ("America/Mexico_City", "UTC-06:00"),  # 'CST' is also China's (and Cuba's)
    ("Asia/Kolkata", "UTC+05:30"),  # 'IST': India, Ireland or Israel
    ("Asia/Kathmandu", "UTC+05:45"),  # no letters of its own
    ("America/New_York", "UTC-05:00"),  # 'EST' named eastern Australia too
    ("Europe/Amsterdam", "CET (UTC+01:00)"),
    ("Africa/Nairobi", "EAT (UTC+03:00)"),
    ("Australia/Sydney", "AEDT (UTC+11:00)"),
    ("Europe/London", "GMT (UTC+00:00)"),
])
def test_zone_label_names_a_zone_only_where_its_letters_are_unambiguous(zone: str,
                                                                        label: str) -> None:
    assert zone_label(times.to_local("2099-12-10T12:00:00Z", zone)) == label
