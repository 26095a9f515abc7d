"""Per-client limits: how many registrations, lost-ticket requests and sign-ins one client
may make in a while, counted in the database so that every worker process of
`festival serve --workers N` sees the same counts.

Which routes count against which bucket is declared once, in festival.web.routes (the
`limited` guard of festival.web.guards); sign-in failures are counted by
festival.organisers.accounts. `Settings.rate_limits` (FESTIVAL_RATE_LIMITS=off) turns
every bucket off, for load tests from one machine.

Who is a client
- An IPv4 address, or an IPv6 /64: one household or office usually gets a whole /64,
  so counting single IPv6 addresses would give one person 2^64 clients. An IPv4-mapped
  IPv6 address (::ffff:192.0.2.1) is its IPv4 address.
- The peer of the connection, unless that peer is one of FESTIVAL_TRUSTED_PROXIES: then
  X-Forwarded-For is read from the right, each proxy having appended the address it got
  the request from, and the client is the rightmost hop that is not a trusted proxy.
  Hops further left are whatever the client chose to write, so they are never believed.

How it counts
- A sliding log: one row per request let through (`rate_limit_events`), with its time.
  A rule allows `limit` requests (or seats) in any `window`-long stretch of time, so
  there is no burst at a window's edge (a fixed window would let twice the limit through
  around its end). Rows older than the bucket's longest window are pruned as it goes.
- `take` reads the client's rows and writes the new one in one short transaction that
  first locks that client's count in the bucket (`lock_name`), so the counts are exact
  whatever the number of processes or hosts.
- Every request the limit lets through counts, also those the handler then refuses
  (a typo, a full screening): the limit is decided before the work is done, which is
  what keeps it exact and cheap, and the numbers leave room for typos. Refused requests
  are not written: hammering past a limit does not lengthen the wait (the time until the
  oldest counted request leaves the window, sent as Retry-After), and the table holds at
  most the sum of a bucket's limits per client.

The defaults, and why
- Registrations (`register`, the form and the API alike): 30 per 10 minutes and 60 a day
  per client; and 40 seats per client and screening in any 7 days (a request weighs the
  seats it asks for, 1 to 10).
  A school class or an office behind one address registers together: a class of 30
  fits in one lesson's 10 minutes, a second class later the same day too, and a class
  going to one screening (30 pupils at a seat each, and their teachers) fits in the 40
  seats. Nobody takes more than a small share: at most 60 registrations a day across
  the festival (its rooms hold thousands of seats a day), and at most 40 seats of one
  screening a week, a third of a typical 120-seat room; whatever is left of a full
  screening goes by the waitlist, in order. A script sending 200 registrations at once
  gets 30 through, then 429 until the first of them is 10 minutes old.
- Lost-ticket requests (`lost_ticket`): 10 per 10 minutes, 30 a day. Each one mails an
  address its ticket links (each registration at most once per 10 minutes already); the
  limit keeps anyone from using the form to send mail to many addresses.
- Sign-ins (`sign_in`, every POST of the form): 30 per 10 minutes, 100 a day. Every
  attempt costs an argon2 hash, also a refused one, so this bounds the work one client
  can make the server do.
- Failed sign-ins (`sign_in_failures`, counted by accounts.sign_in): 10 per 10 minutes,
  30 a day per client, whatever the addresses. The lockout per account and client
  (accounts.lock_duration) stops guessing one account's password; this one stops
  password spraying, a few guesses each at many addresses. Organisers sharing an
  office address who mistype now and then stay far below it.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from festival.core.errors import RateLimited
from festival.core.store import (
    Connection,
    Database,
    execute,
    execute_count,
    fetch_all,
    insert_returning_id,
    lock_name,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV6_PREFIX = 64    # one IPv6 client: a /64
MAX_WEIGHT = 10     # the most one request weighs (seats asked beyond that count as 10)
UNKNOWN_CLIENT = "unknown"  # no peer address (e.g. a Unix socket): all such share a bucket


@dataclass(frozen=True)
class Rule:
    """At most `limit` requests in any `window`-long stretch; `per_target`: counted per
    client and target (a screening), else per client; `weighed`: the requests' weights
    (seats asked) are summed rather than the requests counted."""

    limit: int
    window: timedelta
    per_target: bool = False
    weighed: bool = False


@dataclass(frozen=True)
class Bucket:
    name: str
    rules: tuple[Rule, ...]

    @property
    def horizon(self) -> float:
        """Seconds a request is remembered: the longest window."""
        return max(rule.window.total_seconds() for rule in self.rules)


MINUTES_10 = timedelta(minutes=10)
DAY = timedelta(days=1)

REGISTER = Bucket("register", (
    Rule(30, MINUTES_10), Rule(60, DAY),
    Rule(40, timedelta(days=7), per_target=True, weighed=True)))
LOST_TICKET = Bucket("lost_ticket", (Rule(10, MINUTES_10), Rule(30, DAY)))
SIGN_IN = Bucket("sign_in", (Rule(30, MINUTES_10), Rule(100, DAY)))
SIGN_IN_FAILURES = Bucket("sign_in_failures", (Rule(10, MINUTES_10), Rule(30, DAY)))

BUCKETS = {b.name: b for b in (REGISTER, LOST_TICKET, SIGN_IN, SIGN_IN_FAILURES)}


# --- who is the client -------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def trusted_networks(trusted_proxies: str) -> tuple[IPNetwork, ...]:
    """The networks of FESTIVAL_TRUSTED_PROXIES (checked by Settings at start)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in trusted_proxies.split(",") if part.strip())


def parse_address(text: str | None) -> IPAddress | None:
    """An IP address from a peer or an X-Forwarded-For hop ('192.0.2.1', '192.0.2.1:443',
    '[2001:db8::1]:443', '2001:db8::1'), IPv4-mapped IPv6 as IPv4; None if it is none."""
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # no zone ids
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_key(peer: str | None, forwarded_for: Iterable[str] = (),
               trusted_proxies: str = "") -> str:
    """The client a request counts for: '192.0.2.1' or '2001:db8:1:2::/64'.

    `peer` is the connection's address; `forwarded_for` the X-Forwarded-For header
    values, read only when the peer is a trusted proxy (see the module's docstring)."""
    address = parse_address(peer)
    if address is None:
        return UNKNOWN_CLIENT
    networks = trusted_networks(trusted_proxies)
    if networks and _is_trusted(address, networks):
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            found = parse_address(hop)
            if found is None:
                break  # a proxy of ours wrote nonsense: the last good hop stands
            address = found
            if not _is_trusted(address, networks):
                break
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


# --- counting ------------------------------------------------------------------------------

def _wait(rule: Rule, rows: Sequence[Any], target: str, weight: int, now: float) -> float:
    """Seconds until `rule` lets this request through (0: now). `rows` are the client's
    counted requests (target, weight, at), oldest first. A per-target rule says nothing
    about a request without a target."""
    if rule.per_target and not target:
        return 0.0
    start = now - rule.window.total_seconds()
    counted = [(at, w if rule.weighed else 1) for t, w, at in rows
               if at > start and (not rule.per_target or t == target)]
    need = weight if rule.weighed else 1
    excess = sum(w for _at, w in counted) + need - rule.limit
    if excess <= 0:
        return 0.0
    for at, w in counted:  # the oldest leave the window first
        excess -= w
        if excess <= 0:
            return at + rule.window.total_seconds() - now
    return rule.window.total_seconds()  # more than the whole limit at once: never


async def take(db: Database, bucket: str, client: str, *, target: str = "", weight: int = 1,
               now: float | None = None) -> int:
    """Counts one request of `client` against `bucket` (for `target`, weighing `weight`),
    in one transaction that locks that client's count; answers its row id (for
    `release`). RateLimited, with the seconds to wait, when a rule of the bucket is
    already full: nothing is counted then."""
    spec = BUCKETS[bucket]
    now = time.time() if now is None else now
    weight = max(1, min(int(weight), MAX_WEIGHT))
    async with db.transaction() as conn:
        # Requests of one client in one bucket take turns, whichever host they reach.
        await lock_name(conn, f"rate-limit {bucket} {client}")
        await execute(conn, "DELETE FROM rate_limit_events WHERE bucket = ? AND at <= ?",
                      (bucket, now - spec.horizon))
        rows = await fetch_all(conn, "SELECT target, weight, at FROM rate_limit_events "
                               "WHERE bucket = ? AND client = ? ORDER BY at, id",
                               (bucket, client))
        wait = max(_wait(rule, rows, target, weight, now) for rule in spec.rules)
        if wait <= 0:
            return await insert_returning_id(
                conn, "INSERT INTO rate_limit_events (bucket, client, target, weight, at)"
                " VALUES (?, ?, ?, ?, ?)", (bucket, client, target, weight, now))
    raise RateLimited(wait)


async def release(conn: Connection, event_id: int | None) -> None:
    """Uncounts a request `take` counted (e.g. a sign-in that turned out right), inside
    the caller's transaction."""
    if event_id:
        await execute(conn, "DELETE FROM rate_limit_events WHERE id = ?", (event_id,))


async def forget(db: Database, *, bucket: str | None = None, client: str | None = None) -> int:
    """Clears the counts (of one bucket, one client, or both); answers how many requests
    were forgotten."""
    sql, params = "DELETE FROM rate_limit_events WHERE 1 = 1", []
    if bucket is not None:
        sql, params = sql + " AND bucket = ?", [*params, bucket]
    if client is not None:
        sql, params = sql + " AND client = ?", [*params, client]
    async with db.transaction() as conn:
        return await execute_count(conn, sql, params)
