-- Organiser invites and a TOTP second factor (festival/organisers/invites.py,
-- festival/organisers/totp.py).

-- An admin invites an address with a role (and country): the link's secret (256 random
-- bits) is mailed or printed once; only its SHA-256 is kept. It can be used once, until
-- expires_at, unless revoked.
CREATE TABLE organiser_invites (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,                 -- lower case
    role          TEXT NOT NULL CHECK (role IN ('admin', 'organiser')),
    country       TEXT,
    created_at    TEXT NOT NULL,
    created_by    INTEGER REFERENCES organisers (id),
    expires_at    TEXT NOT NULL,
    used_at       TEXT,
    revoked_at    TEXT,
    organiser_id  INTEGER REFERENCES organisers (id)  -- the account it created
);
CREATE INDEX organiser_invites_email ON organiser_invites (email);

-- TOTP (RFC 6238): totp_pending holds a secret being set up until a code confirms it;
-- totp_secret the confirmed one (second factor on). totp_last_step is the time step of
-- the last code accepted: a code is never accepted twice.
ALTER TABLE organisers ADD COLUMN totp_secret TEXT;
ALTER TABLE organisers ADD COLUMN totp_pending TEXT;
ALTER TABLE organisers ADD COLUMN totp_last_step INTEGER;
ALTER TABLE organisers ADD COLUMN totp_enabled_at TEXT;

-- The step between a right password and the code: the cookie holds a random token,
-- this table its SHA-256. Short-lived, and dropped after a few wrong codes.
CREATE TABLE sign_in_challenges (
    token_hash    TEXT PRIMARY KEY,
    organiser_id  INTEGER NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    client        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0
);
