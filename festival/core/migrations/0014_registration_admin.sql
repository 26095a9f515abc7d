-- Organisers manage registrations (festival/seats/management.py explains the rules).
--
-- registrations.cancel_reason gains 'organiser' (an organiser cancelled it from the
-- attendee list); registrations.checked_in_seats is how many of the party's seats have
-- arrived (NULL: all of them once checked_in_at is set, as before this migration).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (its rows,
-- ids and indexes kept). The outbox refers to registrations: with foreign keys checked
-- at commit (defer_foreign_keys), dropping the old table and filling the new one under
-- the same name leaves every reference whole.
--
-- screening_messages: what an organiser wrote to all registrants of a screening; each
-- mail of kind 'message' in the outbox points at it (outbox.screening_message_id).

PRAGMA defer_foreign_keys = ON;

CREATE TABLE registrations_before_0014 AS SELECT * FROM registrations;
DROP TABLE registrations;

CREATE TABLE registrations (
    id                  INTEGER PRIMARY KEY,          -- arrival order
    screening_id        INTEGER NOT NULL REFERENCES screenings (id),
    token               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    email               TEXT NOT NULL,
    email_key           TEXT NOT NULL,                -- trimmed, lower case: the identity
    seats               INTEGER NOT NULL CHECK (seats >= 1),
    status              TEXT NOT NULL
                        CHECK (status IN ('confirmed', 'held', 'waitlisted', 'cancelled')),
    locale              TEXT NOT NULL DEFAULT 'en',
    walk_in             INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    confirmed_at        TEXT,
    cancelled_at        TEXT,
    checked_in_at       TEXT,                         -- the first arrival of the party
    checked_in_by       INTEGER REFERENCES organisers (id),
    updated_at          TEXT NOT NULL,
    changes             INTEGER NOT NULL DEFAULT 0,
    held_until          TEXT,                         -- while 'held': when the hold ends (UTC)
    confirm_code        TEXT,                         -- mailed only: confirms the address
    email_confirmed_at  TEXT,                         -- when the attendee used it
    cancel_reason       TEXT                          -- 'attendee', 'expired' or 'organiser'
                        CHECK (cancel_reason IN ('attendee', 'expired', 'organiser')),
    checked_in_seats    INTEGER                       -- seats arrived; NULL: all, once checked in
                        CHECK (checked_in_seats BETWEEN 1 AND seats)
);
INSERT INTO registrations (id, screening_id, token, name, email, email_key, seats, status,
    locale, walk_in, created_at, confirmed_at, cancelled_at, checked_in_at, checked_in_by,
    updated_at, changes, held_until, confirm_code, email_confirmed_at, cancel_reason)
SELECT id, screening_id, token, name, email, email_key, seats, status, locale, walk_in,
       created_at, confirmed_at, cancelled_at, checked_in_at, checked_in_by, updated_at,
       changes, held_until, confirm_code, email_confirmed_at, cancel_reason
FROM registrations_before_0014;
DROP TABLE registrations_before_0014;
CREATE UNIQUE INDEX registrations_one_per_email
    ON registrations (screening_id, email_key) WHERE status != 'cancelled';
CREATE INDEX registrations_screening_status ON registrations (screening_id, status, id);
CREATE INDEX registrations_held ON registrations (held_until) WHERE status = 'held';
CREATE INDEX registrations_email_key ON registrations (email_key);

CREATE TABLE screening_messages (
    id            INTEGER PRIMARY KEY,
    screening_id  INTEGER NOT NULL REFERENCES screenings (id),
    organiser_id  INTEGER REFERENCES organisers (id),
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
ALTER TABLE outbox ADD COLUMN screening_message_id INTEGER REFERENCES screening_messages (id);
