"""Where a venue is, as organisers pick it from lists: countries by their name in the
reader's language (Babel, CLDR) and IANA time zones grouped by region. The lists only
offer values; the checks stay those of festival.programme.fields (country, timezone)."""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from babel import Locale

from festival.core import i18n
from festival.programme.fields import is_country

# The regions of the IANA names people pick; 'Etc/GMT+3' and old aliases like
# 'US/Eastern' stay valid when typed into a file, but are not offered.
ZONE_REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic",
                "Australia", "Europe", "Indian", "Pacific")


def country_choices(code: str | None = None) -> list[tuple[str, str]]:
    """(ISO code, name) of every country, by name in the language `code` (the reader's)."""
    return _countries(code or i18n.format_locale())


@functools.lru_cache(maxsize=16)
def _countries(code: str) -> list[tuple[str, str]]:
    try:
        names = Locale.parse(code).territories
    except (ValueError, TypeError):
        names = Locale("en").territories
    english = Locale("en").territories
    pairs = [(c, names.get(c) or english[c]) for c in english if is_country(c)]
    return sorted(pairs, key=lambda pair: (pair[1].casefold(), pair[0]))


@functools.lru_cache(maxsize=1)
def zone_groups() -> list[tuple[str, list[str]]]:
    """(region, its zone names) of the IANA zones people pick, by region and name."""
    groups: dict[str, list[str]] = {}
    for name in sorted(available_timezones()):
        region = name.split("/", 1)[0]
        if "/" in name and region in ZONE_REGIONS:
            groups.setdefault(region, []).append(name)
    return list(groups.items())


@functools.lru_cache(maxsize=1)
def other_zones() -> frozenset[str]:
    """The IANA names that are valid but not offered (UTC, Etc/GMT-3, US/Eastern):
    a venue that has one keeps it."""
    offered = {name for _region, names in zone_groups() for name in names}
    return frozenset(available_timezones() - offered)
