"""The OpenAPI description of /api/v1, served at /api/v1/openapi.json. Kept by hand
beside the views it describes: small, and exact about the error shape.

It describes every answer exactly, so that a client (or schemathesis, see
tests/web/test_openapi.py) can rely on it: each field an answer always holds is
`required`; a request the schema calls valid is one the server takes (unless the
screening is unknown, closed or full: 404, 409, or the waitlist), and a request it calls
invalid is refused. Rules that depend on the screening (its max_seats, its capacity) are
described in words, with the absolute bounds as `maximum`."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "e.g. not_found, invalid, conflict, "
                 "registration_closed, too_large, busy (docs/http.md lists them)"},
        "message": {"type": "string", "description": "for people, in their language"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "only with field errors: the field (or `body`) and "
                                  "what is wrong with it"}}}},
}

MAX_SEATS = 100  # the highest max_seats organisers may set (festival.programme.screenings)

# A screening's fields in every answer, but `venue`: its name in lists, an object in
# GET /api/v1/screenings/{id}.
SCREENING_FIELDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "key": {"type": "string"}, "title": {"type": "string"},
        "city": {"type": "string"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
        "timezone": {"type": "string", "description": "IANA zone of the venue"},
        "starts_at": {"type": "string", "format": "date-time",
                      "description": "wall-clock time at the venue with its UTC offset"},
        "ends_at": {"type": "string", "format": "date-time"},
        "capacity": {"type": "integer"}, "seats_left": {"type": "integer"},
        "waitlist": {"type": "integer", "description": "registrations waiting"},
        "status": {"type": "string", "enum": ["scheduled", "cancelled"]},
        "max_seats": {"type": "integer", "minimum": 1, "maximum": MAX_SEATS,
                      "description": "seats one registration may hold"},
        "language": {"type": "string",
                     "description": "language of the debate (code); empty when none"},
        "subtitles": {"type": "array", "items": {"type": "string"}},
        "sign_interpretation": {"type": "boolean"},
        "captioned_debate": {"type": "boolean"},
        "edition": {"type": "string", "description": "the edition's key"},
    },
}
SCREENING_FIELDS["required"] = sorted(SCREENING_FIELDS["properties"])


def _object(properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An object schema whose every property is always in the answer."""
    return {"type": "object", "required": sorted(properties), "properties": properties,
            **more}


SCREENING = _object({**SCREENING_FIELDS["properties"],
                     "venue": {"type": "string", "description": "the venue's name"}})

SCREENING_DETAIL = {"allOf": [SCREENING_FIELDS, _object({
    "film": _object({
        "key": {"type": "string"}, "title": {"type": "string"},
        "runtime_minutes": {"type": "integer", "nullable": True},
        "synopsis": {"type": "string"}, "director": {"type": "string"},
        "year": {"type": "integer", "nullable": True},
        "languages": {"type": "array", "items": {"type": "string"}}}),
    "venue": _object({
        "id": {"type": "integer"}, "key": {"type": "string"}, "name": {"type": "string"},
        "address": {"type": "string"}, "city": {"type": "string"},
        "country": {"type": "string"}, "timezone": {"type": "string"},
        "capacity": {"type": "integer", "description": "the room's; the screening's own "
                                                       "`capacity` may be lower"},
        "step_free": {"type": "boolean"}}, description="the venue, as an object here"),
    "debate": _object({
        "title": {"type": "string"}, "description": {"type": "string"},
        "guests": {"type": "array", "description": "unlisted guests appear as "
                   "'a guest speaker'", "items": _object({
                       "name": {"type": "string"}, "role": {"type": "string"},
                       "organisation": {"type": "string"}})}}),
}, description="`venue` is an object here, not the venue's name")]}

# What Python's str.strip() removes (str.isspace), and what no text may hold (control
# characters, line and paragraph separators, bidi controls: festival.core.text). Lone
# surrogates are refused too; a pattern cannot name them (JSON Schema patterns are
# Unicode). tests/web/test_openapi.py checks both against every code point.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_UNSAFE = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# 1 to 200 characters once trimmed, none unsafe; spaces around are trimmed away.
NAME_PATTERN = (rf"^[{_SPACE}]*[^{_UNSAFE}{_SPACE}](?:[^{_UNSAFE}]{{0,198}}[^{_UNSAFE}{_SPACE}])?"
                rf"[{_SPACE}]*$")
# Plain ASCII once trimmed, and not at a special-use domain (RFC 6761), which
# email-validator refuses: mail there is never delivered.
_SPECIAL_USE = "|".join("".join(f"[{c.upper()}{c}]" for c in name)
                        for name in ("arpa", "invalid", "localhost", "local", "onion", "test"))
EMAIL_PATTERN = rf"^(?![\s\S]*[@.](?:{_SPECIAL_USE})[{_SPACE}]*$)[\x00-\x7f{_SPACE}]*$"


REGISTRATION_REQUEST = {
    "type": "object",
    "required": ["name", "email", "seats"],
    "example": {"name": "Ann Lee", "email": "ann@example.org", "seats": 2},
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN,
                 "description": "1 to 200 characters once trimmed, with no control "
                                "characters, line separators or bidi controls"},
        "email": {"type": "string", "format": "email", "maxLength": 254,
                  "pattern": EMAIL_PATTERN,
                  "description": "the attendee's identity, compared trimmed and "
                                 "case-insensitively; plain ASCII (RFC 5321, no quoted "
                                 "local part or address literal), not at a special-use "
                                 "domain such as .test or .invalid"},
        "seats": {"type": "integer", "minimum": 1, "maximum": MAX_SEATS,
                  "description": "1 to the screening's max_seats (4 unless organisers set "
                                 f"another, at most {MAX_SEATS}), and at most its "
                                 "capacity: more answers 422. A JSON integer: 2.0, \"2\" "
                                 "and true are refused"},
    },
}

REGISTRATION = {
    "type": "object",
    "required": ["token", "status", "seats", "screening_id"],
    "properties": {
        "token": {"type": "string", "description": "the ticket's secret key (192 bits)"},
        "status": {"type": "string", "enum": ["confirmed", "held", "waitlisted", "cancelled"],
                   "description": "`held`: seats taken until the attendee confirms their "
                                  "address with the link mailed to them (editions that ask "
                                  "for it), by `held_until`; then `confirmed`, or `cancelled` "
                                  "with cancel_reason `expired`"},
        "seats": {"type": "integer"}, "screening_id": {"type": "integer"},
        "name": {"type": "string"}, "email": {"type": "string"},
        "waitlist_position": {"type": "integer", "nullable": True,
                              "description": "1-based place on the waitlist while waiting"},
        "created_at": {"type": "string", "format": "date-time"},
        "confirmed_at": {"type": "string", "format": "date-time", "nullable": True},
        "cancelled_at": {"type": "string", "format": "date-time", "nullable": True},
        "held_until": {"type": "string", "format": "date-time", "nullable": True,
                       "description": "while `held`: when the seats go to others unless "
                                      "the address is confirmed (UTC)"},
        "cancel_reason": {"type": "string", "enum": ["attendee", "expired"], "nullable": True,
                          "description": "while `cancelled`: `attendee` (they cancelled) "
                                         "or `expired` (a hold ran out); otherwise null"},
        "ticket_url": {"type": "string", "format": "uri", "description": "the ticket page"},
        "url": {"type": "string", "format": "uri", "description": "this resource"},
        "screening": {"$ref": "#/components/schemas/Screening",
                      "description": "only in GET /api/v1/registrations/{token}"},
    },
}

# Registering again with a known address: where that registration stands, and nothing
# that reaches it (its token goes to the address by mail).
EXISTING_REGISTRATION = {
    "type": "object",
    "required": ["status", "seats", "screening_id"],
    "additionalProperties": False,
    "properties": {
        "status": REGISTRATION["properties"]["status"],  # type: ignore[index]
        "seats": {"type": "integer"}, "screening_id": {"type": "integer"},
    },
}

WAITLIST_RULE = (
    "Seats are confirmed in order of arrival. A newcomer is confirmed at once only when "
    "their seats fit and nobody is waiting. When seats free up, the longest-waiting party "
    "is confirmed first when all its seats fit (parties are promoted whole); if it does "
    "not fit, nobody behind it is promoted, even a smaller party that would fit.")


def _error(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    """An error answer: the one error shape (festival.web.app.error_response)."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if headers:
        answer["headers"] = {name.replace("_", "-"): header for name, header in headers.items()}
    return answer


RETRY_AFTER = {"description": "seconds to wait before trying again",
               "schema": {"type": "integer", "minimum": 0}}
# Per-client rate limits (FESTIVAL_RATE_LIMITS) may answer any request with 429.
TOO_MANY = _error("too many requests from this client; retry after the Retry-After "
                  "seconds", Retry_After=RETRY_AFTER)
BUSY = _error("very busy (the database stayed locked); retry after the Retry-After seconds",
              Retry_After={**RETRY_AFTER, "required": True})

# {id:int} in the routes: 1 to 18 digits; any other value is a path no route has (404).
ID = {"name": "id", "in": "path", "required": True,
      "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}}
TOKEN = {"name": "token", "in": "path", "required": True,
         "description": "the registration's token, as its answers give it",
         "schema": {"type": "string"}}
# Texts for people (titles, synopses, roles, error messages) come in the language asked
# for, each falling back to the original; the answer's Content-Language says which.
LANG = {"name": "lang", "in": "query", "schema": {"type": "string"},
        "description": "the language of texts: ar, en, es, fr or nl (without it, or for "
                       "another: the Accept-Language header, else English); a "
                       "registration keeps it for its mails"}
# Pages of the screenings list (festival.web.views.api: DEFAULT_PAGE, MAX_PAGE, CURSOR).
PAGES_RULE = (
    "Without `limit` and `after` the answer is the whole list, unpaginated. With either, "
    "it is one page: at most `limit` screenings (100 without it) in start order (UTC "
    "start, then id), and while more follow, a `Link: <…>; rel=\"next\"` header gives "
    "the absolute address of the next page (the same query, with `limit` and `after`). "
    "Following `rel=\"next\"` visits every screening once, in order, also while the "
    "programme changes: `after` is a position in the list (after the screening that "
    "starts at that UTC moment with that id), not an offset, so a screening added, moved "
    "or removed meanwhile is seen where it now stands or not at all, and never shifts "
    "the others. Answers carry an ETag and Last-Modified and answer 304 to a matching "
    "If-None-Match or If-Modified-Since; `Cache-Control: public, no-cache`.")
LIMIT = {"name": "limit", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
         "description": "a page of at most this many screenings (1 to 1000; 100 when only "
                        "`after` is given); without `limit` and `after`: the whole list"}
AFTER = {"name": "after", "in": "query",
         "schema": {"type": "string", "pattern": r"^[0-9]{8}T[0-9]{6}Z\.[0-9]{1,18}$"},
         "description": "the page after this position, as the `Link: rel=\"next\"` header "
                        "of the previous page gives it (the UTC start and the id of the "
                        "last screening of that page, e.g. `20261205T180000Z.1234`); treat "
                        "it as opaque"}
LINK = {"description": "`<address of the next page>; rel=\"next\"`, while more screenings "
                       "follow this page (pages only)", "schema": {"type": "string"}}
ETAG = {"description": "of these bytes: the same answer has the same ETag in every process",
        "schema": {"type": "string"}}
LAST_MODIFIED = {"description": "when the server first made these bytes",
                 "schema": {"type": "string"}}
LOCATION = {"description": "the registration's URL (its `url`)", "required": True,
            "schema": {"type": "string", "format": "uri"}}


def _registration(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Registration"}}}}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "festival", "version": "1",
             "description": "Screenings and free-seat registrations of the film festival. "
                            "Texts come in the language of `?lang=` or Accept-Language, "
                            "each falling back to the original."},
    "paths": {
        "/api/v1/screenings": {"get": {
            "operationId": "listScreenings",
            "summary": "Screenings of an edition (the current one by default), whole or "
                       "a page at a time",
            "description": PAGES_RULE,
            "parameters": [{"name": "edition", "in": "query", "schema": {"type": "string"},
                            "description": "the edition's key; empty: the current one"},
                           {"name": "q", "in": "query", "schema": {"type": "string"},
                            "description": "words to search for, in any order, accents "
                                           "and case ignored: film titles (every "
                                           "translation), listed debate guests, cities, "
                                           "debate titles and descriptions; the last "
                                           "word also matches as a prefix (only the first 100 "
                                           "characters count)"},
                           LANG, LIMIT, AFTER],
            "responses": {"200": {"description": "the screenings in start order: all of "
                                                 "them, or the page asked for",
                                  "headers": {"Link": LINK, "ETag": ETAG,
                                              "Last-Modified": LAST_MODIFIED},
                                  "content": {"application/json": {"schema": {
                                      "type": "array", "items": {
                                          "$ref": "#/components/schemas/Screening"}}}}},
                "304": {"description": "not modified: the If-None-Match (or "
                                       "If-Modified-Since) of the request still holds",
                        "headers": {"ETag": ETAG}},
                "400": _error("a bad `limit` or `after`; `fields` names it"),
                "404": _error("unknown edition"),
                "429": TOO_MANY}}},
        "/api/v1/screenings/{id}": {"get": {
            "operationId": "getScreening",
            "summary": "One screening with film, venue and debate guests",
            "parameters": [ID, LANG],
            "responses": {"200": {"description": "the screening", "content": {
                "application/json": {"schema": {
                    "$ref": "#/components/schemas/ScreeningDetail"}}}},
                "404": _error("unknown screening"),
                "429": TOO_MANY}}},
        "/api/v1/screenings/{id}/registrations": {"post": {
            "operationId": "register",
            "summary": "Register for a screening's free seats",
            "description": WAITLIST_RULE + " The same email again (trimmed, "
                           "case-insensitive) answers 200 with the existing registration's "
                           "status, seats and screening only, never its token, and mails "
                           "its ticket link to that address (at most once per 10 minutes).",
            "parameters": [ID, LANG],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/RegistrationRequest"}}}},
            "responses": {
                "201": {**_registration("registered: confirmed or on the waitlist"),
                        "headers": {"Location": LOCATION}},
                "200": {"description": "this email was already registered: where that "
                                       "registration stands; its link went to the address",
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/ExistingRegistration"}}}},
                "404": _error("unknown screening"),
                "409": _error("registration is closed (started or cancelled)"),
                "413": _error("body over 64 KiB"),
                "422": _error("bad input; `fields` names each bad field (or `body`)"),
                "429": TOO_MANY,
                "503": BUSY}}},
        "/api/v1/registrations/{token}": {
            "get": {
                "operationId": "getRegistration",
                "summary": "A registration, with its screening",
                "parameters": [TOKEN, LANG],
                "responses": {"200": _registration("the registration"),
                              "404": _error("unknown token"),
                              "429": TOO_MANY}},
            "delete": {
                "operationId": "cancelRegistration",
                "summary": "Cancel a registration (again: the same answer)",
                "description": "Frees its seats and promotes the waitlist. The registration "
                               "stays readable, with status `cancelled`. " + WAITLIST_RULE,
                "parameters": [TOKEN],
                "responses": {"200": _registration("cancelled"),
                              "404": _error("unknown token"),
                              "409": _error("the ticket was checked in at the door"),
                              "429": TOO_MANY,
                              "503": BUSY}}},
    },
    "components": {"schemas": {"Error": ERROR, "Screening": SCREENING,
                               "ScreeningDetail": SCREENING_DETAIL,
                               "RegistrationRequest": REGISTRATION_REQUEST,
                               "Registration": REGISTRATION,
                               "ExistingRegistration": EXISTING_REGISTRATION}},
}
