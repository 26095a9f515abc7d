-- Safe in front of the public (festival/seats/registrations.py explains the rules).
--
-- attendees: one row per attendee (email_key) with the secret of their own page and
-- feed of every registration (/my/{secret}, /feeds/my/{secret}.ics). The secret is
-- only ever mailed; a registration token never leads to it. Rows are made when the
-- attendee registers or asks for their tickets; existing attendees get one here
-- (192 random bits, hex).
--
-- editions.confirm_email, hold_minutes: when on, a new registration that gets seats is
-- 'held' (its seats taken) until the attendee confirms their address with the code
-- mailed to them (registrations.confirm_code); an unconfirmed hold is cancelled with
-- cancel_reason 'expired' after hold_minutes and the waitlist moves up.
--
-- registrations: status gains 'held'. SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt (its rows, ids and indexes kept). The outbox refers
-- to registrations, and dropping a referenced table with foreign keys on fails, so the
-- outbox's rows wait in a plain copy while registrations is rebuilt; the outbox is
-- rebuilt too, for its own new status:
--
-- outbox.status gains 'capped': mail an attendee's own actions trigger beyond the cap
-- per address (festival/mail/outbox.py) is recorded but never sent. recipient_key is
-- the recipient's email_key, which the cap counts by.

CREATE TABLE attendees (
    email_key   TEXT PRIMARY KEY,             -- trimmed, lower case: the identity
    secret      TEXT NOT NULL UNIQUE,         -- key of their own page and feed
    created_at  TEXT NOT NULL
);
INSERT INTO attendees (email_key, secret, created_at)
SELECT email_key, lower(hex(randomblob(24))), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM registrations WHERE walk_in = 0 GROUP BY email_key;

ALTER TABLE editions ADD COLUMN confirm_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE editions ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 30
    CHECK (hold_minutes BETWEEN 5 AND 1440);

CREATE TABLE outbox_before_0007 AS SELECT * FROM outbox;
DROP TABLE outbox;

CREATE TABLE registrations_0007 (
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
    checked_in_at       TEXT,
    checked_in_by       INTEGER REFERENCES organisers (id),
    updated_at          TEXT NOT NULL,
    changes             INTEGER NOT NULL DEFAULT 0,
    held_until          TEXT,                         -- while 'held': when the hold ends (UTC)
    confirm_code        TEXT,                         -- mailed only: confirms the address
    email_confirmed_at  TEXT,                         -- when the attendee used it
    cancel_reason       TEXT                          -- 'attendee' or 'expired'
                        CHECK (cancel_reason IN ('attendee', 'expired'))
);
INSERT INTO registrations_0007 (id, screening_id, token, name, email, email_key, seats,
    status, locale, walk_in, created_at, confirmed_at, cancelled_at, checked_in_at,
    checked_in_by, updated_at, changes, cancel_reason)
SELECT id, screening_id, token, name, email, email_key, seats, status, locale, walk_in,
       created_at, confirmed_at, cancelled_at, checked_in_at, checked_in_by, updated_at,
       changes, CASE WHEN status = 'cancelled' THEN 'attendee' END
FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_0007 RENAME TO registrations;
CREATE UNIQUE INDEX registrations_one_per_email
    ON registrations (screening_id, email_key) WHERE status != 'cancelled';
CREATE INDEX registrations_screening_status ON registrations (screening_id, status, id);
CREATE INDEX registrations_held ON registrations (held_until) WHERE status = 'held';

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT NOT NULL,
    kind             TEXT NOT NULL,               -- confirmed, waitlisted, promoted, ...
    registration_id  INTEGER REFERENCES registrations (id),
    recipient        TEXT NOT NULL,
    recipient_key    TEXT NOT NULL DEFAULT '',    -- the recipient's email_key
    subject          TEXT NOT NULL DEFAULT '',
    message_id       TEXT NOT NULL UNIQUE,
    message          BLOB,                        -- the whole RFC 5322 message
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'capped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT,
    last_error       TEXT,
    sent_at          TEXT
);
INSERT INTO outbox (id, created_at, kind, registration_id, recipient, recipient_key, subject,
    message_id, message, status, attempts, next_attempt_at, claimed_until, last_error, sent_at)
SELECT o.id, o.created_at, o.kind, o.registration_id, o.recipient,
       COALESCE((SELECT r.email_key FROM registrations r WHERE r.id = o.registration_id),
                lower(trim(o.recipient))),
       o.subject, o.message_id, o.message, o.status, o.attempts, o.next_attempt_at,
       o.claimed_until, o.last_error, o.sent_at
FROM outbox_before_0007 o;
DROP TABLE outbox_before_0007;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient_key, created_at);
