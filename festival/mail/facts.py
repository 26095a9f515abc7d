"""What one message says, as a value: the facts an outbox message is composed from.

The outbox reads them from the database (festival.mail.outbox.read_facts) and
composition turns them into bytes (festival.mail.compose.render) without asking the
database anything. This module is the contract between the two, and imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

KINDS = ("confirmed", "held", "waitlisted", "promoted", "cancelled", "expired",
         "screening_changed", "screening_cancelled", "moved", "message")


@dataclass(frozen=True)
class MessageFacts:
    """Everything one message needs, read in one go (one connection, one moment).

    `registration` is the attendee's row (name, email, token, seats, status, locale,
    confirmed_at, updated_at, changes, held_until, confirm_code, email_confirmed_at,
    cancel_reason, ...). `screening` is a screening as the programme reads it (its
    film, venue and edition columns, `starts_local`/`ends_local`, uid, sequence,
    updated_at) with `guests` as the public may see them: unlisted guests already
    anonymous. Both are frozen into read-only mappings on construction.
    `attendee_secret` is the key of the attendee's own page of every registration (None
    for an address without one, such as a walk-in's): mail goes to the attendee's own
    address, the one place that key may be given."""

    kind: str
    message_id: str
    date: datetime                  # the message's Date: when it was queued
    locale: str                     # the attendee's language
    registration: Mapping[str, Any]
    screening: Mapping[str, Any]
    waitlist_position: int | None   # 1 for the first in line; None unless waitlisted
    earlier_cancellations: int = 0  # SEQUENCE raised by their earlier, cancelled registrations
    attendee_secret: str | None = None  # the key of their own page (festival.core.links)
    note: Mapping[str, Any] | None = None  # kind 'message': the organiser's subject and body

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind of mail {self.kind!r}")
        object.__setattr__(self, "registration", frozen(self.registration))
        object.__setattr__(self, "screening", frozen(self.screening))
        if self.note is not None:
            object.__setattr__(self, "note", frozen(self.note))


def frozen(value: Any) -> Any:
    """A read-only copy: mappings become MappingProxyType, lists and tuples tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value
