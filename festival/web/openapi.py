"""The OpenAPI description of /api/v1, served at /api/v1/openapi.json. Kept by hand
beside the views it describes: small, and exact about the error shape."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}},
}

SCREENING = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "key": {"type": "string"}, "title": {"type": "string"},
        "venue": {"type": "string"}, "city": {"type": "string"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
        "timezone": {"type": "string", "description": "IANA zone of the venue"},
        "starts_at": {"type": "string", "format": "date-time",
                      "description": "wall-clock time at the venue with its UTC offset"},
        "ends_at": {"type": "string", "format": "date-time"},
        "capacity": {"type": "integer"}, "seats_left": {"type": "integer"},
        "waitlist": {"type": "integer", "description": "registrations waiting"},
        "status": {"type": "string", "enum": ["scheduled", "cancelled"]},
        "max_seats": {"type": "integer", "description": "seats one registration may hold"},
        "language": {"type": "string", "description": "language of the debate (code)"},
        "subtitles": {"type": "array", "items": {"type": "string"}},
        "sign_interpretation": {"type": "boolean"},
        "captioned_debate": {"type": "boolean"},
        "edition": {"type": "string", "description": "the edition's key"},
    },
}

SCREENING_DETAIL = {"allOf": [SCREENING, {
    "type": "object",
    "description": "`venue` is an object here, not the venue's name",
    "properties": {
        "film": {"type": "object", "properties": {
            "key": {"type": "string"}, "title": {"type": "string"},
            "runtime_minutes": {"type": "integer", "nullable": True},
            "synopsis": {"type": "string"}, "director": {"type": "string"},
            "year": {"type": "integer", "nullable": True},
            "languages": {"type": "array", "items": {"type": "string"}}}},
        "venue": {"type": "object", "properties": {
            "id": {"type": "integer"}, "key": {"type": "string"}, "name": {"type": "string"},
            "address": {"type": "string"}, "city": {"type": "string"},
            "country": {"type": "string"}, "timezone": {"type": "string"},
            "capacity": {"type": "integer"}, "step_free": {"type": "boolean"}}},
        "debate": {"type": "object", "properties": {
            "title": {"type": "string"}, "description": {"type": "string"},
            "guests": {"type": "array", "description": "unlisted guests appear as "
                       "'a guest speaker'", "items": {"type": "object", "properties": {
                           "name": {"type": "string"}, "role": {"type": "string"},
                           "organisation": {"type": "string"}}}}}},
    },
}]}


REGISTRATION_REQUEST = {
    "type": "object",
    "required": ["name", "email", "seats"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200,
                 "description": "trimmed; no control characters"},
        "email": {"type": "string", "format": "email", "maxLength": 254,
                  "description": "the attendee's identity, compared trimmed and "
                                 "case-insensitively"},
        "seats": {"type": "integer", "minimum": 1,
                  "description": "1 to the screening's max_seats (4 unless organisers set "
                                 "another), and at most its capacity"},
    },
}

REGISTRATION = {
    "type": "object",
    "required": ["token", "status", "seats", "screening_id"],
    "properties": {
        "token": {"type": "string", "description": "the ticket's secret key (192 bits)"},
        "status": {"type": "string", "enum": ["confirmed", "waitlisted", "cancelled"]},
        "seats": {"type": "integer"}, "screening_id": {"type": "integer"},
        "name": {"type": "string"}, "email": {"type": "string"},
        "waitlist_position": {"type": "integer", "nullable": True,
                              "description": "1-based place on the waitlist while waiting"},
        "created_at": {"type": "string", "format": "date-time"},
        "confirmed_at": {"type": "string", "format": "date-time", "nullable": True},
        "cancelled_at": {"type": "string", "format": "date-time", "nullable": True},
        "ticket_url": {"type": "string", "format": "uri", "description": "the ticket page"},
        "url": {"type": "string", "format": "uri", "description": "this resource"},
        "screening": {"$ref": "#/components/schemas/Screening",
                      "description": "only in GET /api/v1/registrations/{token}"},
    },
}

WAITLIST_RULE = (
    "Seats are confirmed in order of arrival. A newcomer is confirmed at once only when "
    "their seats fit and nobody is waiting. When seats free up, the longest-waiting party "
    "is confirmed first when all its seats fit (parties are promoted whole); if it does "
    "not fit, nobody behind it is promoted, even a smaller party that would fit.")


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}


def _registration(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Registration"}}}}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "festival", "version": "1",
             "description": "Screenings and free-seat registrations of the film festival."},
    "paths": {
        "/api/v1/screenings": {"get": {
            "summary": "Screenings of an edition (the current one by default), unpaginated",
            "parameters": [{"name": "edition", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the screenings", "content": {
                "application/json": {"schema": {"type": "array", "items": {
                    "$ref": "#/components/schemas/Screening"}}}}},
                "404": _error("unknown edition")}}},
        "/api/v1/screenings/{id}": {"get": {
            "summary": "One screening with film, venue and debate guests",
            "parameters": [ID],
            "responses": {"200": {"description": "the screening", "content": {
                "application/json": {"schema": {
                    "$ref": "#/components/schemas/ScreeningDetail"}}}},
                "404": _error("unknown screening")}}},
        "/api/v1/screenings/{id}/registrations": {"post": {
            "summary": "Register for a screening's free seats",
            "description": WAITLIST_RULE + " The same email again (trimmed, "
                           "case-insensitive) answers the existing registration with 200.",
            "parameters": [ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/RegistrationRequest"}}}},
            "responses": {
                "201": _registration("registered: confirmed or on the waitlist"),
                "200": _registration("this email was already registered: the existing one"),
                "404": _error("unknown screening"),
                "409": _error("registration is closed (started or cancelled)"),
                "413": _error("body over 64 KiB"),
                "422": _error("bad input; `fields` names each bad field (or `body`)"),
                "503": _error("very busy; retry after the Retry-After seconds")}}},
        "/api/v1/registrations/{token}": {
            "get": {
                "summary": "A registration, with its screening",
                "parameters": [TOKEN],
                "responses": {"200": _registration("the registration"),
                              "404": _error("unknown token")}},
            "delete": {
                "summary": "Cancel a registration (again: the same answer)",
                "description": "Frees its seats and promotes the waitlist. " + WAITLIST_RULE,
                "parameters": [TOKEN],
                "responses": {"200": _registration("cancelled"),
                              "404": _error("unknown token"),
                              "409": _error("the ticket was checked in at the door")}}},
    },
    "components": {"schemas": {"Error": ERROR, "Screening": SCREENING,
                               "ScreeningDetail": SCREENING_DETAIL,
                               "RegistrationRequest": REGISTRATION_REQUEST,
                               "Registration": REGISTRATION}},
}
