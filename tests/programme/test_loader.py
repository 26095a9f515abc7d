"""The programme file: every mistake is refused with its path, nothing of a bad file is
written, and re-importing updates by key without disturbing what did not change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from festival.core.errors import ValidationError
from festival.core.store import Database
from festival.programme.file import screening_uid, validate_programme
from festival.programme.loader import import_programme

TABLES = ("editions", "venues", "films", "guests", "screenings", "screening_guests")


def changed(programme: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the programme with the value at 'screenings[0].debate.title' replaced
    (or removed, for value ...)."""
    data = copy.deepcopy(programme)
    target: Any = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return data


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    # Sorted by content: the engines return rows in no particular order.
    return {t: sorted((dict(r) for r in await db.fetch_all(f"SELECT * FROM {t}")), key=repr)
            for t in TABLES}


async def screening(db: Database, key: str) -> dict[str, Any]:
    row = await db.fetch_one("SELECT * FROM screenings WHERE key = ?", (key,))
    assert row is not None
    return dict(row)


# --- validation, one mistake at a time ------------------------------------------------------

def test_sample_programme_is_valid(sample_programme: dict[str, Any]) -> None:
    assert validate_programme(sample_programme) == {}


@pytest.mark.parametrize(("path", "value", "error_path", "message"), [
    ("surprise", 1, "surprise", "unknown field"),
    ("venues.0.wheelchair", True, "venues[0].wheelchair", "unknown field"),
    ("screenings.0.start_at", "2099-12-13T19:00", "screenings[0].start_at",
     "unknown field; did you mean 'starts_at'?"),
    ("screenings.0.debate.moderator", "x", "screenings[0].debate.moderator", "unknown field"),
    ("venues.1.timezone", ..., "venues[1].timezone", "required"),
    ("films.0.title", ..., "films[0].title", "required"),
    ("edition.name", ..., "edition.name", "required"),
    ("screenings.2.ends_at", ..., "screenings[2].ends_at", "required"),
    ("edition", ..., "edition", "required"),
    ("venues.0.capacity", "120", "venues[0].capacity", "must be a whole number"),
    ("venues.0.step_free", "yes", "venues[0].step_free", "must be true or false"),
    ("guests.0.listed", 0, "guests[0].listed", "must be true or false"),
    ("films.0.runtime_minutes", 12.5, "films[0].runtime_minutes", "must be a whole number"),
    ("screenings.0.capacity", True, "screenings[0].capacity", "must be a whole number"),
    ("venues", {}, "venues", "must be a list ([...])"),
    ("screenings.1", "sydney", "screenings[1]", "must be an object ({...})"),
    ("films.0.title", "   ", "films[0].title", "must not be empty"),
    ("edition.starts_on", "05/12/2099", "edition.starts_on", "must be a date like 2016-12-05"),
    ("edition.starts_on", "2099-02-30", "edition.starts_on", "'2099-02-30' is not a real date"),
    ("edition.ends_on", "2099-12-01", "edition.ends_on", "must not be before starts_on"),
    ("screenings.0.starts_at", "2099-12-13T19:00+01:00", "screenings[0].starts_at",
     "must be a wall-clock time at the venue like 2016-12-13T19:00, without an offset"),
    ("screenings.0.starts_at", "2099-12-13 19:00", "screenings[0].starts_at",
     "must be a wall-clock time at the venue like 2016-12-13T19:00, without an offset"),
    ("screenings.0.starts_at", "2099-12-13T25:00", "screenings[0].starts_at",
     "'2099-12-13T25:00' is not a real time"),
    ("screenings.0.ends_at", "2099-12-13T18:00", "screenings[0].ends_at",
     "must be after starts_at"),
    ("screenings.0.ends_at", "2099-12-14T21:30", "screenings[0].ends_at",
     "must be within 24 hours of starts_at"),
    ("edition.starts_on", "2099-12-07", "screenings[1].starts_at",
     "not within the edition's dates (2099-12-07 to 2099-12-18) at the venue"),
    ("screenings.0.capacity", 121, "screenings[0].capacity",
     "more than the venue's capacity (120)"),
    ("venues.0.timezone", "Europe/Atlantis", "venues[0].timezone",
     "unknown time zone 'Europe/Atlantis': use an IANA name like Europe/Amsterdam"),
    ("venues.0.timezone", "CET+1", "venues[0].timezone",
     "unknown time zone 'CET+1': use an IANA name like Europe/Amsterdam"),
    ("screenings.0.film", "no-such-film", "screenings[0].film", "unknown film 'no-such-film'"),
    ("screenings.0.venue", "nowhere", "screenings[0].venue", "unknown venue 'nowhere'"),
    ("screenings.0.debate.guests.1", "nobody", "screenings[0].debate.guests[1]",
     "unknown guest 'nobody'"),
    ("screenings.0.debate.guests.1", "ana-reyes", "screenings[0].debate.guests[1]",
     "guest 'ana-reyes' is listed twice"),
    ("screenings.0.debate.guests", "ana-reyes", "screenings[0].debate.guests",
     "must be a list of guest keys"),
    ("screenings.4.key", "hague", "screenings[4].key",
     "duplicate key 'hague' (also screenings[0])"),
    ("venues.0.key", "humanity house", "venues[0].key",
     "must be a key of letters, digits, '-', '_' or '.' (at most 100)"),
    ("venues.0.country", "NLD", "venues[0].country", "must be a 2-letter country code like NL"),
    ("venues.0.country", "N1", "venues[0].country", "must be a 2-letter country code like NL"),
    ("screenings.0.status", "postponed", "screenings[0].status",
     "must be scheduled, cancelled or draft"),
    ("screenings.0.subtitles", "english", "screenings[0].subtitles",
     "'english' is not a language code like 'en' or 'fr'"),
    ("screenings.0.language", "en,nl", "screenings[0].language",
     "must be one language code like 'en'"),
    ("screenings.0.max_seats", 0, "screenings[0].max_seats", "must be from 1 to 100"),
])
def test_validation_names_the_path_of_each_mistake(
        sample_programme: dict[str, Any], path: str, value: Any, error_path: str,
        message: str) -> None:
    errors = validate_programme(changed(sample_programme, path, value))

    assert errors == {error_path: message}


@pytest.mark.parametrize("kind", ["venues", "films", "guests"])
def test_validation_refuses_duplicate_keys(sample_programme: dict[str, Any], kind: str) -> None:
    data = copy.deepcopy(sample_programme)
    data[kind].append(dict(data[kind][0]))
    last = len(data[kind]) - 1

    assert validate_programme(data) == {
        f"{kind}[{last}].key": f"duplicate key '{data[kind][0]['key']}' (also {kind}[0])"}


def test_validation_refuses_a_file_that_is_not_an_object() -> None:
    assert list(validate_programme([1, 2])) == ["file"]


def test_validation_reports_every_mistake_at_once(sample_programme: dict[str, Any]) -> None:
    data = changed(sample_programme, "venues.0.country", "Netherlands")
    data = changed(data, "screenings.1.starts_at", "tomorrow")
    data = changed(data, "films.0.extra", True)

    assert set(validate_programme(data)) == {
        "venues[0].country", "screenings[1].starts_at", "films[0].extra"}


def test_validation_reads_the_start_date_at_the_venue(sample_programme: dict[str, Any]) -> None:
    # 23:30 on 4 December in Mexico City is already 5 December in UTC: still too early.
    early = changed(sample_programme, "screenings.3.starts_at", "2099-12-04T23:30")
    early = changed(early, "screenings.3.ends_at", "2099-12-05T01:00")
    # 09:00 on 5 December in Sydney is still 4 December in UTC: in time.
    sydney = changed(sample_programme, "screenings.1.starts_at", "2099-12-05T09:00")
    sydney = changed(sydney, "screenings.1.ends_at", "2099-12-05T11:00")

    assert validate_programme(early) == {"screenings[3].starts_at": "not within the edition's "
                                         "dates (2099-12-05 to 2099-12-18) at the venue"}
    assert validate_programme(sydney) == {}


def test_validation_lets_the_last_screening_end_after_midnight(
        sample_programme: dict[str, Any]) -> None:
    data = changed(sample_programme, "screenings.0.starts_at", "2099-12-18T23:00")
    data = changed(data, "screenings.0.ends_at", "2099-12-19T01:00")

    assert validate_programme(data) == {}


def test_validation_refuses_a_double_booked_venue(sample_programme: dict[str, Any]) -> None:
    extra = dict(sample_programme["screenings"][0], key="hague-too",
                 starts_at="2099-12-13T21:00", ends_at="2099-12-13T22:30")
    data = copy.deepcopy(sample_programme)
    data["screenings"].append(extra)

    assert validate_programme(data) == {"screenings[5].starts_at": "venue 'humanity-house' is "
                                        "double-booked: overlaps screenings[0] ('hague')"}


def test_validation_allows_back_to_back_screenings(sample_programme: dict[str, Any]) -> None:
    data = copy.deepcopy(sample_programme)
    data["screenings"].append(dict(sample_programme["screenings"][0], key="hague-later",
                                   starts_at="2099-12-13T21:30", ends_at="2099-12-13T23:00"))

    assert validate_programme(data) == {}
    assert list(validate_programme(data, changeover_minutes=30)) == ["screenings[5].starts_at"]


def test_validation_ignores_a_cancelled_screening_for_double_booking(
        sample_programme: dict[str, Any]) -> None:
    data = copy.deepcopy(sample_programme)
    data["screenings"].append(dict(sample_programme["screenings"][0], key="hague-off",
                                   status="cancelled"))

    assert validate_programme(data) == {}


def test_validation_allows_optional_fields_and_notes_everywhere(
        sample_programme: dict[str, Any]) -> None:
    data = copy.deepcopy(sample_programme)
    data["notes"] = "file"
    data["edition"]["notes"] = "edition"
    data["venues"][0]["notes"] = "venue"
    data["films"][0].update(director="Someone", year=2016, languages=["fr", "wo"], notes="n")
    data["guests"][0].update(listed=True, notes="n")
    data["screenings"][0].update(max_seats=2, status="draft", notes="n")
    data["screenings"][0]["debate"].update(description="d", notes="n")

    assert validate_programme(data) == {}


# --- importing ---------------------------------------------------------------------------------

async def test_import_writes_the_whole_programme(db: Database,
                                                 sample_programme: dict[str, Any]) -> None:
    summary = await import_programme(db, sample_programme)

    assert str(summary) == "2099: 5 venues, 2 films, 2 guests, 5 screenings added; " \
                           "0 updated; 0 unchanged"
    hague = await screening(db, "hague")
    assert hague["starts_at"] == "2099-12-13T18:00:00Z"
    assert hague["ends_at"] == "2099-12-13T20:30:00Z"
    assert hague["timezone"] == "Europe/Amsterdam"
    assert hague["uid"] == screening_uid("2099", "hague")
    assert hague["uid"].endswith("@festival")
    assert (hague["sequence"], hague["debate_title"]) == (0, "Changing the perception of migrants")
    guests = await db.fetch_all("SELECT g.key, g.listed FROM screening_guests sg JOIN guests g "
                                "ON g.id = sg.guest_id ORDER BY sg.position")
    assert [tuple(g) for g in guests] == [("ana-reyes", 1), ("unlisted-guest", 0)]
    niamey = await screening(db, "niamey")
    assert niamey["status"] == "cancelled"


async def test_import_gives_a_screening_without_capacity_the_venues(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, changed(sample_programme, "screenings.1.capacity", ...))

    assert (await screening(db, "sydney"))["capacity"] == 80


async def test_import_of_a_bad_file_writes_nothing(db: Database,
                                                   sample_programme: dict[str, Any]) -> None:
    bad = changed(sample_programme, "screenings.4.venue", "nowhere")

    with pytest.raises(ValidationError) as caught:
        await import_programme(db, bad)

    assert caught.value.fields == {"screenings[4].venue": "unknown venue 'nowhere'"}
    assert all(rows == [] for rows in (await snapshot(db)).values())


async def test_import_twice_changes_nothing(db: Database, sample_programme: dict[str, Any]
                                            ) -> None:
    await import_programme(db, sample_programme)
    async with db.transaction() as conn:  # make any rewrite visible in updated_at
        for table in ("editions", "venues", "films", "guests", "screenings"):
            await conn.execute(f"UPDATE {table} SET updated_at = '2000-01-01T00:00:00Z'")
    before = await snapshot(db)

    summary = await import_programme(db, sample_programme)

    assert await snapshot(db) == before
    assert str(summary) == "2099: 0 added; 0 updated; " \
                           "5 venues, 2 films, 2 guests, 5 screenings unchanged"


async def age_screenings(db: Database) -> None:
    """Backdates every screening's last change, so a new one shows."""
    async with db.transaction() as conn:
        await conn.execute("UPDATE screenings SET updated_at = '2000-01-01T00:00:00Z'")


async def register(db: Database, screening_id: int) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO registrations (screening_id, token, name, email, email_key, seats,"
            " status, created_at, updated_at) VALUES (?, 't1', 'Ana', 'a@example.org',"
            " 'a@example.org', 2, 'confirmed', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')",
            (screening_id,))


async def test_import_of_a_moved_screening_keeps_it_and_raises_its_sequence(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    before = await screening(db, "hague")
    await register(db, before["id"])
    await age_screenings(db)
    moved = changed(sample_programme, "screenings.0.starts_at", "2099-12-14T20:00")
    moved = changed(moved, "screenings.0.ends_at", "2099-12-14T22:00")

    summary = await import_programme(db, moved)

    after = await screening(db, "hague")
    assert (after["id"], after["uid"]) == (before["id"], before["uid"])
    assert after["starts_at"] == "2099-12-14T19:00:00Z"
    assert after["sequence"] == 1
    assert after["updated_at"] != "2000-01-01T00:00:00Z"
    assert (await screening(db, "sydney"))["updated_at"] == "2000-01-01T00:00:00Z"
    registrations = await db.fetch_all("SELECT screening_id FROM registrations")
    assert [r[0] for r in registrations] == [before["id"]]
    assert str(summary) == "2099: 0 added; 1 screening updated; " \
                           "5 venues, 2 films, 2 guests, 4 screenings unchanged; " \
                           "1 registrant to be told of a change"
    mail = await db.fetch_all("SELECT kind, recipient FROM outbox")
    assert [tuple(m) for m in mail] == [("screening_changed", "a@example.org")]


async def test_import_cancelling_a_screening_tells_its_registrants(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    await register(db, (await screening(db, "hague"))["id"])

    await import_programme(db, changed(sample_programme, "screenings.0.status", "cancelled"))

    mail = await db.fetch_all("SELECT kind, recipient FROM outbox")
    assert [tuple(m) for m in mail] == [("screening_cancelled", "a@example.org")]
    assert (await db.fetch_one("SELECT status FROM registrations"))[0] == "confirmed"


async def test_import_refuses_capacity_below_the_confirmed_seats(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    await register(db, (await screening(db, "hague"))["id"])  # 2 seats confirmed
    before = await snapshot(db)

    with pytest.raises(ValidationError) as refused:
        await import_programme(db, changed(sample_programme, "screenings.0.capacity", 1))

    assert refused.value.fields == {
        "screenings[0].capacity": "2 seats are already confirmed; capacity cannot go below 2"}
    assert await snapshot(db) == before


async def test_import_refuses_to_hide_a_screening_people_registered_for(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    await register(db, (await screening(db, "hague"))["id"])

    with pytest.raises(ValidationError) as refused:
        await import_programme(db, changed(sample_programme, "screenings.0.status", "draft"))

    assert refused.value.fields == {"screenings[0].status": "1 registration would be hidden: "
                                    "cancel the screening instead of making it a draft"}


async def test_import_raising_capacity_promotes_the_waitlist(
        db: Database, sample_programme: dict[str, Any]) -> None:
    from festival.seats import registrations

    await import_programme(db, changed(sample_programme, "screenings.0.capacity", 2))
    sid = (await screening(db, "hague"))["id"]
    for name in ("ana", "bo", "cy"):
        await registrations.register(db, sid, name, f"{name}@example.org", 2)

    summary = await import_programme(
        db, changed(sample_programme, "screenings.0.capacity", 4))

    rows = await db.fetch_all("SELECT email, status FROM registrations ORDER BY id")
    assert [tuple(r) for r in rows] == [("ana@example.org", "confirmed"),
                                        ("bo@example.org", "confirmed"),
                                        ("cy@example.org", "waitlisted")]
    assert summary.promoted == 1
    assert ("promoted", "bo@example.org") in [
        tuple(m) for m in await db.fetch_all("SELECT kind, recipient FROM outbox")]


@pytest.mark.parametrize(("path", "value"), [
    ("screenings.0.status", "cancelled"),
    ("screenings.0.venue", "mexico-cineteca"),
    ("screenings.0.film", "the-crossing"),
    ("screenings.0.capacity", 100),
    ("screenings.0.debate.guests", ["ana-reyes"]),
    ("screenings.0.debate", ...),
    ("venues.0.address", "Somewhere else 1, Den Haag"),
    ("films.0.title", "Wallah, je te jure (director's cut)"),
    ("guests.0.name", "Ana Reyes-López"),
])
async def test_import_raises_the_sequence_of_what_attendees_see(
        db: Database, sample_programme: dict[str, Any], path: str, value: Any) -> None:
    await import_programme(db, sample_programme)
    await age_screenings(db)

    await import_programme(db, changed(sample_programme, path, value))

    hague = await screening(db, "hague")
    assert (hague["sequence"], hague["updated_at"] > "2000") == (1, True)


async def test_import_of_new_notes_does_not_disturb_calendars(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    await age_screenings(db)
    data = changed(sample_programme, "screenings.0.notes", "Ask about the projector")
    data = changed(data, "venues.0.notes", "Side entrance")

    summary = await import_programme(db, data)

    hague = await screening(db, "hague")
    assert hague["notes"] == "Ask about the projector"
    assert (hague["sequence"], hague["updated_at"]) == (0, "2000-01-01T00:00:00Z")
    assert (summary.updated["screenings"], summary.updated["venues"]) == (1, 1)


async def test_import_keeps_screenings_the_file_no_longer_lists(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    shorter = copy.deepcopy(sample_programme)
    shorter["screenings"] = shorter["screenings"][:2]

    await import_programme(db, shorter)

    rows = await db.fetch_all("SELECT key FROM screenings ORDER BY id")
    assert [r[0] for r in rows] == ["hague", "sydney", "kathmandu", "mexico-late", "niamey"]


async def test_import_refuses_double_booking_against_the_database(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    other = {"edition": {"key": "2099-extra", "name": "Extra", "starts_on": "2099-12-01",
                         "ends_on": "2099-12-31"},
             "screenings": [{"key": "clash", "film": "the-crossing", "venue": "humanity-house",
                             "starts_at": "2099-12-13T20:00", "ends_at": "2099-12-13T23:00"}]}

    with pytest.raises(ValidationError) as caught:
        await import_programme(db, other)

    assert caught.value.fields == {"screenings[0].starts_at": "venue 'humanity-house' is "
                                   "double-booked: overlaps screening 'hague' of edition 2099 "
                                   "already in the database"}


async def test_import_may_move_a_screening_into_a_slot_the_file_frees(
        db: Database, sample_programme: dict[str, Any]) -> None:
    await import_programme(db, sample_programme)
    data = changed(sample_programme, "screenings.0.starts_at", "2099-12-14T19:00")
    data = changed(data, "screenings.0.ends_at", "2099-12-14T21:30")
    data["screenings"].append(dict(sample_programme["screenings"][0], key="hague-new"))

    summary = await import_programme(db, data)

    assert (summary.added["screenings"], summary.updated["screenings"]) == (1, 1)


async def test_import_reports_progress(db: Database, sample_programme: dict[str, Any]) -> None:
    calls: list[tuple[int, int]] = []

    await import_programme(db, sample_programme, progress=lambda done, total: calls.append(
        (done, total)))

    assert calls[0] == (0, 5)
    assert calls[-1] == (5, 5)
