-- The whole schema the product needs from the start, so that later features add
-- behaviour, not rewrites. Instants are UTC text 'YYYY-MM-DDTHH:MM:SSZ' (sorts as time);
-- a screening keeps its venue's IANA zone beside them. Dates are venue-local 'YYYY-MM-DD'.

CREATE TABLE editions (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    notes       TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE venues (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    city        TEXT NOT NULL,
    country     TEXT NOT NULL,          -- ISO 3166-1 alpha-2, upper case
    timezone    TEXT NOT NULL,          -- IANA zone name
    address     TEXT NOT NULL DEFAULT '',
    capacity    INTEGER NOT NULL CHECK (capacity >= 0),
    step_free   INTEGER NOT NULL DEFAULT 0,
    notes       TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX venues_country ON venues (country);

CREATE TABLE films (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    runtime_minutes INTEGER,
    synopsis        TEXT NOT NULL DEFAULT '',
    director        TEXT NOT NULL DEFAULT '',
    year            INTEGER,
    languages       TEXT NOT NULL DEFAULT '',   -- spoken languages, comma-separated codes
    notes           TEXT,
    updated_at      TEXT NOT NULL
);

CREATE TABLE guests (
    id            INTEGER PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT '',
    organisation  TEXT NOT NULL DEFAULT '',
    bio           TEXT NOT NULL DEFAULT '',
    listed        INTEGER NOT NULL DEFAULT 1,   -- 0: shown publicly as "a guest speaker"
    notes         TEXT,
    updated_at    TEXT NOT NULL
);

CREATE TABLE screenings (
    id                  INTEGER PRIMARY KEY,
    edition_id          INTEGER NOT NULL REFERENCES editions (id),
    key                 TEXT NOT NULL,
    uid                 TEXT NOT NULL UNIQUE,    -- iCalendar UID, never changes
    film_id             INTEGER NOT NULL REFERENCES films (id),
    venue_id            INTEGER NOT NULL REFERENCES venues (id),
    starts_at           TEXT NOT NULL,           -- UTC
    ends_at             TEXT NOT NULL,           -- UTC
    timezone            TEXT NOT NULL,           -- the venue's zone when scheduled
    capacity            INTEGER NOT NULL CHECK (capacity >= 0),
    max_seats           INTEGER NOT NULL DEFAULT 4 CHECK (max_seats >= 1),
    status              TEXT NOT NULL DEFAULT 'scheduled'
                        CHECK (status IN ('draft', 'scheduled', 'cancelled')),
    language            TEXT NOT NULL DEFAULT '',  -- language of the debate
    subtitles           TEXT NOT NULL DEFAULT '',  -- subtitle languages, comma-separated
    sign_interpretation INTEGER NOT NULL DEFAULT 0,
    captioned_debate    INTEGER NOT NULL DEFAULT 0,
    debate_title        TEXT NOT NULL DEFAULT '',
    debate_description  TEXT NOT NULL DEFAULT '',
    notes               TEXT,
    sequence            INTEGER NOT NULL DEFAULT 0,  -- iCalendar SEQUENCE
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,              -- last change attendees see (DTSTAMP)
    UNIQUE (edition_id, key)
);
CREATE INDEX screenings_edition_start ON screenings (edition_id, starts_at);
CREATE INDEX screenings_venue_start ON screenings (venue_id, starts_at);
CREATE INDEX screenings_film ON screenings (film_id);

CREATE TABLE screening_guests (
    screening_id  INTEGER NOT NULL REFERENCES screenings (id) ON DELETE CASCADE,
    guest_id      INTEGER NOT NULL REFERENCES guests (id),
    position      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (screening_id, guest_id)
);
CREATE INDEX screening_guests_guest ON screening_guests (guest_id);

CREATE TABLE registrations (
    id              INTEGER PRIMARY KEY,          -- arrival order
    screening_id    INTEGER NOT NULL REFERENCES screenings (id),
    token           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL,                -- trimmed, lower case: the identity
    seats           INTEGER NOT NULL CHECK (seats >= 1),
    status          TEXT NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    locale          TEXT NOT NULL DEFAULT 'en',
    walk_in         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    confirmed_at    TEXT,
    cancelled_at    TEXT,
    checked_in_at   TEXT,
    checked_in_by   INTEGER REFERENCES organisers (id),
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX registrations_one_per_email
    ON registrations (screening_id, email_key) WHERE status != 'cancelled';
CREATE INDEX registrations_screening_status ON registrations (screening_id, status, id);

CREATE TABLE organisers (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,         -- lower case
    name            TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'organiser')),
    country         TEXT,                         -- required for role 'organiser'
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    created_at      TEXT NOT NULL,
    last_login_at   TEXT
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,               -- sha256 of the cookie value
    organiser_id  INTEGER NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    organiser_id  INTEGER REFERENCES organisers (id),
    action        TEXT NOT NULL,                  -- e.g. 'screening.update'
    entity        TEXT NOT NULL,
    entity_id     INTEGER,
    before_json   TEXT,
    after_json    TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT NOT NULL,
    kind             TEXT NOT NULL,               -- confirmed, waitlisted, promoted, ...
    registration_id  INTEGER REFERENCES registrations (id),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    message_id       TEXT NOT NULL UNIQUE,
    message          BLOB,                        -- the whole RFC 5322 message
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT,
    last_error       TEXT,
    sent_at          TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
