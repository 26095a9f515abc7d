-- Privacy (festival/privacy, docs/privacy.md): finding everything held about one
-- person, and erasing it, without reading whole tables under the write lock.
-- From this version on every connection runs with PRAGMA secure_delete = ON
-- (festival/core/store.py): a database migrated across it is VACUUMed once, so free
-- space written before holds no old copies of rows.

-- An attendee is their email_key: their registrations across screenings (export,
-- forget, the ticket feed, lost tickets).
CREATE INDEX registrations_email_key ON registrations (email_key);

-- A registration's messages (erasing them, the re-send throttle).
CREATE INDEX outbox_registration ON outbox (registration_id);
