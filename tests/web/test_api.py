"""The registration endpoints of the JSON API, as docs/http.md describes them: 201 or 200
with the registration, 422 with field errors and nothing written, 413, 404, 409, and
DELETE that cancels (twice is fine)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests import helpers
from tests.helpers import written

API = "/api/v1"


@pytest.fixture
async def ids(app: Any, programme: dict[str, Any]) -> dict[str, int]:
    """Screening ids by key, with the sample programme loaded."""
    return await helpers.ids(app)


def person(**changes: Any) -> dict[str, Any]:
    return {"name": "Ana Reyes", "email": "ana@example.org", "seats": 2, **changes}


async def test_post_registration_answers_201_with_the_registration(client, ids):
    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=person())

    assert answer.status_code == 201
    body = answer.json()
    assert {k: body[k] for k in ("status", "seats", "screening_id", "name", "email")} == {
        "status": "confirmed", "seats": 2, "screening_id": ids["hague"], "name": "Ana Reyes",
        "email": "ana@example.org"}
    assert len(body["token"]) >= 32 and body["waitlist_position"] is None
    assert body["ticket_url"] == f"https://festival.example.org/tickets/{body['token']}"
    assert answer.headers["location"].endswith(f"{API}/registrations/{body['token']}")


async def test_post_registration_same_email_answers_200_with_the_existing(client, ids):
    url = f"{API}/screenings/{ids['hague']}/registrations"
    first = await client.post(url, json=person())

    again = await client.post(url, json=person(email="  ANA@Example.ORG ", seats=4))

    # Where it stands, never its token: that goes to the address by mail
    # (tests/web/test_registration_keys.py).
    assert again.status_code == 200
    assert again.json() == {"status": "confirmed", "seats": 2, "screening_id": ids["hague"]}
    assert first.json()["token"] not in again.text and "location" not in again.headers


async def test_post_registration_joins_the_waitlist_when_full(app, client, ids):
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 1 WHERE id = ?", (ids["hague"],))
    url = f"{API}/screenings/{ids['hague']}/registrations"
    await client.post(url, json=person(seats=1))

    answer = await client.post(url, json=person(email="bo@example.org", seats=1))

    assert answer.status_code == 201
    assert (answer.json()["status"], answer.json()["waitlist_position"]) == ("waitlisted", 1)
    listed = (await client.get(f"{API}/screenings/{ids['hague']}")).json()
    assert (listed["seats_left"], listed["waitlist"]) == (0, 1)


BAD_JSON_BODIES = [
    ("body", {"content": b"name=Ana&email=ana%40example.org&seats=1",
              "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    ("body", {"content": json.dumps(person()).encode(), "headers": {"content-type": "text/plain"}}),
    ("body", {"content": json.dumps(person()).encode(), "headers": {}}),
    ("body", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("body", {"content": b"", "headers": {"content-type": "application/json"}}),
    ("body", {"content": b'{"name": "\xff\xfe"}', "headers": {"content-type": "application/json"}}),
    ("body", {"content": b"[" * 20000 + b"]" * 20000,
              "headers": {"content-type": "application/json"}}),
    ("body", {"content": b'{"seats": ' + b"9" * 5000 + b"}",
              "headers": {"content-type": "application/json"}}),
    ("body", {"json": [person()]}),
    ("body", {"json": "Ana"}),
    ("body", {"json": None}),
]


@pytest.mark.parametrize(("field", "request_args"), BAD_JSON_BODIES)
async def test_post_registration_bad_body_is_422_and_writes_nothing(
    app, client, ids, field, request_args
):
    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations", **request_args)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid"
    assert field in answer.json()["error"]["fields"]
    assert await written(app) == (0, 0)


BAD_FIELDS = [
    ({}, {"name", "email", "seats"}),
    ({"name": "Ana"}, {"email", "seats"}),
    (person(name=""), {"name"}),
    (person(name="  "), {"name"}),
    (person(name="x" * 201), {"name"}),
    (person(name=["Ana"]), {"name"}),
    (person(name={"first": "Ana"}), {"name"}),
    (person(name="Ana\u2028Reyes"), {"name"}),
    (person(name="Ana\ud800"), {"name"}),
    (person(email="not-an-email"), {"email"}),
    (person(email="ana@example.org\nBcc: eve@example.org"), {"email"}),
    (person(email="a" * 250 + "@example.org"), {"email"}),
    (person(email=12), {"email"}),
    (person(seats=0), {"seats"}),
    (person(seats=5), {"seats"}),
    (person(seats=-3), {"seats"}),
    (person(seats=1.5), {"seats"}),
    (person(seats=2.0), {"seats"}),
    (person(seats="2"), {"seats"}),
    (person(seats=True), {"seats"}),
    (person(seats=None), {"seats"}),
    (person(seats=[2]), {"seats"}),
    (person(seats=10**30), {"seats"}),
    (person(name="", email="x", seats=0), {"name", "email", "seats"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_FIELDS)
async def test_post_registration_bad_fields_are_422_and_write_nothing(
    app, client, ids, body, fields
):
    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                               content=json.dumps(body).encode(),  # escapes lone surrogates
                               headers={"content-type": "application/json"})

    assert answer.status_code == 422
    assert set(answer.json()["error"]["fields"]) == fields
    assert all(answer.json()["error"]["fields"].values())
    assert await written(app) == (0, 0)


async def test_post_registration_nan_and_infinity_are_422(app, client, ids):
    for literal in (b"NaN", b"Infinity", b"1e400"):
        answer = await client.post(
            f"{API}/screenings/{ids['hague']}/registrations",
            content=b'{"name": "Ana", "email": "ana@example.org", "seats": ' + literal + b"}",
            headers={"content-type": "application/json"})
        assert answer.status_code == 422 and "seats" in answer.json()["error"]["fields"]
    assert await written(app) == (0, 0)


async def test_post_registration_accepts_a_json_charset_and_ignores_extra_fields(client, ids):
    answer = await client.post(
        f"{API}/screenings/{ids['hague']}/registrations",
        content=json.dumps(person(newsletter=True)).encode(),
        headers={"content-type": "application/json; charset=utf-8"})
    assert answer.status_code == 201


async def test_post_registration_oversized_body_is_413_and_writes_nothing(app, client, ids):
    huge = person(name="x" * (70 * 1024))
    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=huge)

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert await written(app) == (0, 0)


async def test_post_registration_oversized_streamed_body_is_413(app, client, ids):
    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b" " * 8192

    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                               content=chunks(), headers={"content-type": "application/json"})

    assert answer.status_code == 413
    assert await written(app) == (0, 0)


async def test_post_registration_unknown_screening_is_404(app, client, ids):
    answer = await client.post(f"{API}/screenings/999999/registrations", json=person())
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert await written(app) == (0, 0)


async def test_post_registration_cancelled_screening_is_409(app, client, ids):
    answer = await client.post(f"{API}/screenings/{ids['niamey']}/registrations", json=person())

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "registration_closed"
    assert await written(app) == (0, 0)
    listed = (await client.get(f"{API}/screenings")).json()
    assert [(s["status"], s["seats_left"]) for s in listed if s["id"] == ids["niamey"]] == [
        ("cancelled", 0)]  # no seats to be had at a cancelled screening


async def test_post_registration_started_screening_is_409(app, client, ids):
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET starts_at = '2000-01-01T18:00:00Z' WHERE id = ?",
                           (ids["hague"],))

    answer = await client.post(f"{API}/screenings/{ids['hague']}/registrations", json=person())

    assert answer.status_code == 409
    assert "started" in answer.json()["error"]["message"]
    assert await written(app) == (0, 0)


async def test_get_registration_answers_it_with_its_screening(client, ids):
    created = (await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                                 json=person())).json()

    answer = await client.get(f"{API}/registrations/{created['token']}")

    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == created["token"] and body["status"] == "confirmed"
    assert body["screening"]["id"] == ids["hague"] and body["screening"]["seats_left"] == 118


@pytest.mark.parametrize("token", ["unknown", "x" * 32, "x" * 300, "%00"])
async def test_registration_unknown_token_is_404(client, ids, token):
    assert (await client.get(f"{API}/registrations/{token}")).status_code == 404
    assert (await client.delete(f"{API}/registrations/{token}")).status_code == 404


async def test_delete_registration_cancels_it_and_again_is_200(app, client, ids):
    url = f"{API}/screenings/{ids['hague']}/registrations"
    token = (await client.post(url, json=person())).json()["token"]

    first = await client.delete(f"{API}/registrations/{token}")
    second = await client.delete(f"{API}/registrations/{token}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert first.json()["cancelled_at"] == second.json()["cancelled_at"]
    listed = (await client.get(f"{API}/screenings/{ids['hague']}")).json()
    assert listed["seats_left"] == 120


async def test_delete_registration_promotes_the_waitlist(app, client, ids):
    async with app.state.db.transaction() as conn:
        await conn.execute("UPDATE screenings SET capacity = 2 WHERE id = ?", (ids["hague"],))
    url = f"{API}/screenings/{ids['hague']}/registrations"
    first = (await client.post(url, json=person())).json()
    waiting = (await client.post(url, json=person(email="bo@example.org"))).json()
    assert waiting["status"] == "waitlisted"

    await client.delete(f"{API}/registrations/{first['token']}")

    assert (await client.get(f"{API}/registrations/{waiting['token']}")).json()["status"] == \
        "confirmed"


async def test_registration_endpoints_refuse_other_methods(client, ids):
    answer = await client.put(f"{API}/registrations/whatever-token-0123456789", json={})
    assert answer.status_code == 405
    answer = await client.get(f"{API}/screenings/{ids['hague']}/registrations")
    assert answer.status_code == 405


async def test_openapi_describes_the_registration_endpoints(client):
    spec = (await client.get(f"{API}/openapi.json")).json()

    post = spec["paths"]["/api/v1/screenings/{id}/registrations"]["post"]
    assert set(post["responses"]) >= {"200", "201", "404", "409", "413", "422"}
    assert set(spec["paths"]["/api/v1/registrations/{token}"]) == {"get", "delete"}
    assert spec["components"]["schemas"]["RegistrationRequest"]["required"] == [
        "name", "email", "seats"]


async def test_openapi_names_every_field_the_api_answers(client, ids):
    schemas = (await client.get(f"{API}/openapi.json")).json()["components"]["schemas"]
    listed = set(schemas["Screening"]["properties"])
    detail = listed | set(schemas["ScreeningDetail"]["allOf"][1]["properties"])
    registration = set(schemas["Registration"]["properties"])

    one = (await client.get(f"{API}/screenings")).json()[0]
    full = (await client.get(f"{API}/screenings/{ids['hague']}")).json()
    made = (await client.post(f"{API}/screenings/{ids['hague']}/registrations",
                              json=person())).json()
    fetched = (await client.get(f"{API}/registrations/{made['token']}")).json()

    assert set(one) == listed
    assert set(full) == detail
    assert set(made) | set(fetched) == registration


async def test_api_never_answers_500_for_garbage(app, client, ids):
    url = f"{API}/screenings/{ids['hague']}/registrations"
    garbage: list[dict[str, Any]] = [
        {"content": bytes(range(256)), "headers": {"content-type": "application/json"}},
        {"content": b"\x00" * 100, "headers": {"content-type": "application/json"}},
        {"content": b'{"name": "\\ud800", "email": "\\udfff@x.org", "seats": 1}',
         "headers": {"content-type": "application/json"}},
        {"json": {"name": "Ana", "email": "ana@example.org", "seats": {"$gt": 0}}},
    ]
    for args in garbage:
        answer: httpx.Response = await client.post(url, **args)
        assert answer.status_code == 422
    assert await written(app) == (0, 0)
