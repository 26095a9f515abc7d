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
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

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
                "application/json": {"schema": {"$ref": "#/components/schemas/Screening"}}}},
                "404": _error("unknown screening")}}},
    },
    "components": {"schemas": {"Error": ERROR, "Screening": SCREENING}},
}
