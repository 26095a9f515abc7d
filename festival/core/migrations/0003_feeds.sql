-- Feeds are cached inside each worker process. This one-row counter tells every process
-- that what a feed shows has changed: triggers bump it on any insert, update or delete of
-- editions, venues, films, guests, screenings and debate guests, so no writer (loader,
-- admin pages, a script, another process) can forget to. A feed's cache entry is valid
-- while the counter is unchanged; reading it is one indexed row.

CREATE TABLE programme_version (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    changed_at  TEXT NOT NULL              -- UTC, the feeds' Last-Modified
);
INSERT INTO programme_version (id, version, changed_at)
VALUES (1, 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

CREATE TRIGGER editions_insert_bumps_programme AFTER INSERT ON editions
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER editions_update_bumps_programme AFTER UPDATE ON editions
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER editions_delete_bumps_programme AFTER DELETE ON editions
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER venues_insert_bumps_programme AFTER INSERT ON venues
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER venues_update_bumps_programme AFTER UPDATE ON venues
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER venues_delete_bumps_programme AFTER DELETE ON venues
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER films_insert_bumps_programme AFTER INSERT ON films
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER films_update_bumps_programme AFTER UPDATE ON films
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER films_delete_bumps_programme AFTER DELETE ON films
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER guests_insert_bumps_programme AFTER INSERT ON guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER guests_update_bumps_programme AFTER UPDATE ON guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER guests_delete_bumps_programme AFTER DELETE ON guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screenings_insert_bumps_programme AFTER INSERT ON screenings
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screenings_update_bumps_programme AFTER UPDATE ON screenings
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screenings_delete_bumps_programme AFTER DELETE ON screenings
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screening_guests_insert_bumps_programme AFTER INSERT ON screening_guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screening_guests_update_bumps_programme AFTER UPDATE ON screening_guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;

CREATE TRIGGER screening_guests_delete_bumps_programme AFTER DELETE ON screening_guests
BEGIN
    UPDATE programme_version
    SET version = version + 1, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1;
END;
