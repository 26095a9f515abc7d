"""Instants and wall-clock times. Instants are stored in UTC as fixed-width text
('2016-12-13T18:00:00Z', which sorts as time); wall-clock times belong to a venue's
IANA zone and are converted at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(UTC_FORMAT)


def now_text() -> str:
    return utc_text(utc_now())


def moment(now: datetime | str | None = None) -> str:
    """The UTC text of `now`, or of this moment when None: domain functions take an
    optional `now` so tests can say when things happen."""
    if now is None:
        return now_text()
    return now if isinstance(now, str) else utc_text(now)


def parse_utc(text: str) -> datetime:
    # fromisoformat reads the trailing 'Z' (3.11+) and is many times faster than strptime,
    # which matters when a feed or page reads thousands of screenings.
    return datetime.fromisoformat(text)


def zone(name: str) -> ZoneInfo:
    """The IANA zone; ValueError for an unknown name (also for odd strings like '')."""
    if not name or name not in _zone_names():
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def local_to_utc(wall: datetime, zone_name: str) -> datetime:
    """A naive wall-clock time at a place to its UTC instant.

    A time that does not exist there (skipped by a clock change) is a ValueError; an
    ambiguous one (repeated by a clock change) means its first occurrence."""
    tz = zone(zone_name)
    local = wall.replace(tzinfo=tz, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        raise ValueError(f"{wall:%Y-%m-%d %H:%M} does not exist in {zone_name} (clock change)")
    return instant


def to_local(instant: datetime | str, zone_name: str) -> datetime:
    if isinstance(instant, str):
        instant = parse_utc(instant)
    return instant.astimezone(ZoneInfo(zone_name))


def local_iso(instant: datetime | str, zone_name: str) -> str:
    """ISO 8601 wall-clock time with the zone's offset then: '2016-12-13T19:00:00+01:00'."""
    return to_local(instant, zone_name).isoformat()


def local_date(instant: datetime | str, zone_name: str) -> date:
    return to_local(instant, zone_name).date()


def parse_wall_clock(text: str) -> datetime:
    """'2016-12-13T19:00' (seconds optional, no offset) to a naive datetime."""
    if not isinstance(text, str) or len(text) not in (16, 19) or "T" not in text:
        raise ValueError("expected a wall-clock time like 2016-12-13T19:00")
    return datetime.fromisoformat(text)


def day_bounds_utc(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """The UTC instants where a venue-local day starts and ends."""
    tz = ZoneInfo(zone_name)
    start = datetime.combine(day, datetime.min.time(), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
