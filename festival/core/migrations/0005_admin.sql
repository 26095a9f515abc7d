-- Sign-in throttling (festival/auth.py). Failures are counted per email address, also
-- for addresses without an account, so a locked address looks the same whether or not
-- an organiser has it (no account enumeration). A run of failures is forgotten a day
-- after its last failure.

ALTER TABLE organisers ADD COLUMN last_failed_login_at TEXT;

CREATE TABLE sign_in_failures (
    email           TEXT PRIMARY KEY,             -- trimmed, lower case; no account has it
    failures        INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    last_failed_at  TEXT NOT NULL
);

CREATE INDEX sessions_organiser ON sessions (organiser_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX audit_log_at ON audit_log (at);
