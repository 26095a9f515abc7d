"""Conditional requests for public feeds answered before routing.

A calendar app asks again every few minutes with the ETag it holds; nearly always the
programme has not changed and the answer is 304. `Validators` remembers, per URL, the
validators (ETag, Last-Modified) and headers of the last answer built from the programme
at a given version; `answer_early` (called by the app's outermost middleware) answers a
matching conditional request with 304 while the programme is still at that version,
without routing, without a database read while the version is held
(festival.programme.queries.programme_version), and without building a response object.
Anything it does not recognise goes the normal way, which answers the same."""

from __future__ import annotations

import email.utils
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Scope, Send

from festival.programme import queries

ENTRIES = 1024  # URLs remembered, least recently used dropped first


@dataclass(frozen=True, slots=True)
class Validators:
    version: int  # the programme version the answer was built from
    etag: str
    last_modified: str  # HTTP date
    headers: list[tuple[bytes, bytes]]  # of the 304, as the normal way sends it


class Remembered:
    def __init__(self, size: int = ENTRIES) -> None:
        self.size = size
        self._by_url: OrderedDict[tuple[str, bytes], Validators] = OrderedDict()

    def remember(self, scope: Scope, version: int, etag: str, last_modified: str,
                 headers: dict[str, str]) -> None:
        key = (scope["path"], scope["query_string"])
        known = self._by_url.get(key)
        if known is not None and known.version == version and known.etag == etag:
            self._by_url.move_to_end(key)
            return
        raw = Response(status_code=304, headers=headers).raw_headers
        self._by_url[key] = Validators(version, etag, last_modified, raw)
        self._by_url.move_to_end(key)
        while len(self._by_url) > self.size:
            self._by_url.popitem(last=False)

    def get(self, scope: Scope) -> Validators | None:
        return self._by_url.get((scope["path"], scope["query_string"]))


def remembered(app: Any) -> Remembered:
    found = getattr(app.state, "validators", None)
    if found is None:
        found = app.state.validators = Remembered()
    return found  # type: ignore[no-any-return]


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str,
                 last_modified: str) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if not if_modified_since:
        return False
    try:
        since_at = email.utils.parsedate_to_datetime(if_modified_since)
        modified_at = email.utils.parsedate_to_datetime(last_modified)
        return modified_at <= since_at
    except (TypeError, ValueError):
        return False


async def answer_early(scope: Scope, send: Send) -> bool:
    """Sends 304 for a conditional GET or HEAD that matches what this URL last answered
    at the current programme version; answers whether it did."""
    if scope["method"] not in ("GET", "HEAD"):
        return False
    app = scope.get("app")
    validators = getattr(getattr(app, "state", None), "validators", None)
    known = validators.get(scope) if validators is not None else None
    if known is None:
        return False
    if_none_match = if_modified_since = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"if-modified-since":
            if_modified_since = value.decode("latin-1")
    if if_none_match is None and if_modified_since is None:
        return False
    db = app.state.db  # type: ignore[union-attr]
    version = queries.held_version(db) or await queries.programme_version(db)
    if version[0] != known.version or not not_modified(
            if_none_match, if_modified_since, known.etag, known.last_modified):
        return False
    await send({"type": "http.response.start", "status": 304, "headers": known.headers})
    await send({"type": "http.response.body", "body": b""})
    return True
