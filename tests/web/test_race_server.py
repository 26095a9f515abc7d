"""A real `festival serve --workers 2` on loopback: 300 concurrent registrations for 50
seats across two worker processes sharing one SQLite file. Exactly 50 are confirmed,
the rest wait in order, nobody sees a 5xx, and cancellations promote in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import run_festival, serve_festival

pytestmark = pytest.mark.slow

REQUESTS = 300
SEATS = 50

PROGRAMME = {
    "edition": {"key": "race-2099", "name": "Race test edition",
                "starts_on": "2099-12-05", "ends_on": "2099-12-18"},
    "venues": [{"key": "small-hall", "name": "Small Hall", "city": "The Hague",
                "country": "NL", "timezone": "Europe/Amsterdam", "address": "Somewhere 1",
                "capacity": 60}],
    "films": [{"key": "race-film", "title": "The Race", "runtime_minutes": 90,
               "synopsis": "Everyone wants a seat."}],
    "guests": [],
    "screenings": [{"key": "race", "film": "race-film", "venue": "small-hall",
                    "starts_at": "2099-12-10T19:00", "ends_at": "2099-12-10T21:00",
                    "capacity": SEATS}],
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A loaded database and `festival serve --workers 2` on it; answers its base URL."""
    db_path, programme_file = tmp_path / "race.db", tmp_path / "race.json"
    programme_file.write_text(json.dumps(PROGRAMME), "utf-8")
    # 300 registrations from one address (loopback): a load test, so no per-client limits.
    env = {"FESTIVAL_SECRET_KEY": "race-test-secret", "FESTIVAL_SQLITE_SYNCHRONOUS": "NORMAL",
           "FESTIVAL_RATE_LIMITS": "off"}
    run_festival("load", str(programme_file), "--db", str(db_path), env=env)
    with serve_festival(db_path, workers=2, env=env, log=tmp_path / "server.log") as running:
        yield running.url


async def screening_id(client: httpx.AsyncClient) -> int:
    screenings = (await client.get("/api/v1/screenings?edition=race-2099")).json()
    return int(screenings[0]["id"])


async def test_race_against_two_workers_confirms_exactly_the_capacity(server: str) -> None:
    limits = httpx.Limits(max_connections=64)  # bounded: 64 requests in flight at most
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=60) as client:
        sid = await screening_id(client)

        async def register(i: int) -> httpx.Response:
            return await client.post(f"/api/v1/screenings/{sid}/registrations", json={
                "name": f"Person {i}", "email": f"person{i}@example.org", "seats": 1})

        answers = await asyncio.gather(*(register(i) for i in range(REQUESTS)))

        assert [a.status_code for a in answers if a.status_code >= 500] == []
        assert {a.status_code for a in answers} == {201}
        bodies: list[dict[str, Any]] = [a.json() for a in answers]
        confirmed = [b for b in bodies if b["status"] == "confirmed"]
        waiting = sorted((b for b in bodies if b["status"] == "waitlisted"),
                         key=lambda b: b["waitlist_position"])
        assert len(confirmed) == SEATS and len(waiting) == REQUESTS - SEATS
        assert [b["waitlist_position"] for b in waiting] == list(range(1, REQUESTS - SEATS + 1))
        screening = (await client.get(f"/api/v1/screenings/{sid}")).json()
        assert (screening["seats_left"], screening["waitlist"]) == (0, REQUESTS - SEATS)

        cancels = await asyncio.gather(*(client.delete(f"/api/v1/registrations/{b['token']}")
                                         for b in confirmed[:5]))
        assert {c.status_code for c in cancels} == {200}

        after = [(await client.get(f"/api/v1/registrations/{b['token']}")).json()
                 for b in waiting[:6]]
        assert [a["status"] for a in after] == ["confirmed"] * 5 + ["waitlisted"]
        assert after[5]["waitlist_position"] == 1
        screening = (await client.get(f"/api/v1/screenings/{sid}")).json()
        assert (screening["seats_left"], screening["waitlist"]) == (0, REQUESTS - SEATS - 5)
