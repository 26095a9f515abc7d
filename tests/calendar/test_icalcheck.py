"""The feeds read by the parsers real calendar apps use (../shared/icalcheck): ical.js
(Thunderbird), libical (Evolution), KCalendarCore, khal, Radicale, vobject, icalendar,
Home Assistant's ical, sabre/vobject and a strict RFC 5545 linter. All must accept every
file and agree on the number of events and every start instant in UTC.

Slow (about ten seconds a file), so marked `icalcheck`; skipped with the reason when
../shared/icalcheck or its install (~/.cache/icalcheck) is missing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from festival.calendar import ics
from festival.core.store import Database
from tests.helpers import BASE_URL as BASE
from tests.helpers import ORGANISER_EMAIL as ORGANISER
from tests.helpers import load_feed_screenings as load

pytestmark = pytest.mark.icalcheck

ICALCHECK = Path(__file__).resolve().parents[3] / "shared" / "icalcheck"
STATE = Path(os.environ.get("ICALCHECK_HOME") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "icalcheck")
# KCalendarCore's probe reports some statuses as its enum's numbers.
KCAL_STATUS = {"1": "TENTATIVE", "2": "CONFIRMED", "5": "CANCELLED"}
# khal lists 2000-2040 only; the sample's 2099 dates are checked by every other consumer.
KHAL_LAST_YEAR = 2039


@pytest.fixture(autouse=True)
def _needs_icalcheck() -> None:
    if not (ICALCHECK / "check.sh").exists():
        pytest.skip(f"icalcheck not found at {ICALCHECK} (the ../shared checkout)")
    if not (STATE / "venv" / "bin" / "python").exists():
        pytest.skip(f"icalcheck not installed in {STATE}: run {ICALCHECK}/install.sh")


def moved_to(data: dict[str, Any], year: str) -> dict[str, Any]:
    """The sample programme, same days and times, in another year."""
    return json.loads(json.dumps(data).replace("2099", year))


def check(path: Path) -> list[dict[str, Any]]:
    """Runs every consumer; answers their reports after asserting the overall verdict."""
    run = subprocess.run([str(ICALCHECK / "check.sh"), str(path), "--json"],
                         capture_output=True, text=True, timeout=900)
    reports, _end = json.JSONDecoder().raw_decode(run.stdout)
    summary = run.stdout[_end:].strip()
    assert run.returncode == 0, summary + run.stderr[-2000:]
    ran = [r for r in reports if not r.get("skipped")]
    assert ran, "no consumer ran"
    failed = {r["name"]: r["errors"] for r in ran if not r["ok"]}
    assert not failed, failed
    return ran


def assert_all_see(reports: list[dict[str, Any]], starts: list[str], year: int) -> None:
    for report in reports:
        if report["name"] == "khal" and year > KHAL_LAST_YEAR:
            continue
        seen = sorted(e["start_utc"] for e in report["events"])
        assert seen == sorted(starts), report["name"]


@pytest.mark.parametrize("year", ["2099", "2030"])
async def test_festival_feed_every_consumer_sees_every_screening_at_its_instant(
    db: Database, sample_programme: dict[str, Any], tmp_path: Path, year: str
) -> None:
    screenings = await load(db, moved_to(sample_programme, year))
    path = tmp_path / "festival.ics"
    path.write_bytes(ics.feed(screenings, name="Global Migration Film Festival",
                                   base_url=BASE, organiser_email=ORGANISER))
    reports = check(path)
    assert_all_see(reports, [s["starts_at"] for s in screenings], int(year))
    expected = {s["uid"]: ("CANCELLED" if s["status"] == "cancelled" else "CONFIRMED")
                for s in screenings}
    for report in reports:
        statuses = {e["uid"]: KCAL_STATUS.get(e["status"], e["status"].upper())
                    for e in report["events"] if e.get("status")}
        assert all(expected[uid] == status for uid, status in statuses.items()), (
            report["name"], statuses)


async def test_ticket_feed_every_consumer_reads_it(
    db: Database, sample_programme: dict[str, Any], tmp_path: Path
) -> None:
    screenings = await load(db, moved_to(sample_programme, "2030"))
    statuses = ["confirmed", "waitlisted", "cancelled", "confirmed", "confirmed"]
    tickets = [({"id": i, "token": f"t{i}", "status": status, "seats": 1,
                 "updated_at": "2030-11-01T00:00:00Z"}, s)
               for i, (status, s) in enumerate(zip(statuses, screenings, strict=True))]
    path = tmp_path / "tickets.ics"
    path.write_bytes(ics.ticket_feed(tickets, name="My festival", base_url=BASE,
                                          organiser_email=ORGANISER))
    assert_all_see(check(path), [s["starts_at"] for s in screenings], 2030)


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
async def test_invite_every_consumer_reads_it(
    db: Database, sample_programme: dict[str, Any], tmp_path: Path, method: str
) -> None:
    screenings = await load(db, moved_to(sample_programme, "2030"))
    late = next(s for s in screenings if s["key"] == "mexico-late")
    path = tmp_path / "invite.ics"
    path.write_bytes(ics.invite(late, method=method, attendee_name="Zoë O'Neil, Jr.",
                                     attendee_email="zoe@example.net",
                                     organiser_email=ORGANISER, base_url=BASE))
    assert_all_see(check(path), [late["starts_at"]], 2030)
