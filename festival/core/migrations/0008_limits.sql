-- Per-client limits (festival/core/limits.py), sign-in failures per account and client,
-- and disabled accounts (festival/organisers/accounts.py).

-- The sliding log of requests each limit let through: one row per request, pruned once
-- older than its bucket's longest window. `at` is seconds since 1970 (UTC), with a
-- fraction, so the windows slide smoothly.
CREATE TABLE rate_limit_events (
    id      INTEGER PRIMARY KEY,
    bucket  TEXT NOT NULL,                  -- register, lost_ticket, sign_in, ...
    client  TEXT NOT NULL,                  -- an IPv4 address or an IPv6 /64
    target  TEXT NOT NULL DEFAULT '',       -- what per-target rules count per: a screening
    weight  INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),  -- e.g. the seats asked
    at      REAL NOT NULL
);
CREATE INDEX rate_limit_events_client ON rate_limit_events (bucket, client, at);
CREATE INDEX rate_limit_events_at ON rate_limit_events (bucket, at);

-- Failed sign-ins in a row, per account and client: one client guessing locks only
-- itself out, and the organiser signs in from anywhere else. No typed address is kept:
-- an account is 'organiser:<id>', an address without one 'unknown:<keyed hash>'. A run
-- of failures is forgotten a day after its last one.
CREATE TABLE sign_in_locks (
    account         TEXT NOT NULL,
    client          TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    locked_until    TEXT,
    last_failed_at  TEXT NOT NULL,
    PRIMARY KEY (account, client)
);
CREATE INDEX sign_in_locks_last_failed ON sign_in_locks (last_failed_at);

-- Replaced by sign_in_locks: it held typed addresses, and locked an account for everyone.
DROP TABLE sign_in_failures;
ALTER TABLE organisers DROP COLUMN failed_logins;
ALTER TABLE organisers DROP COLUMN locked_until;
ALTER TABLE organisers DROP COLUMN last_failed_login_at;

-- A disabled account cannot sign in, and its sessions end at once.
ALTER TABLE organisers ADD COLUMN disabled_at TEXT;
ALTER TABLE organisers ADD COLUMN password_changed_at TEXT;
