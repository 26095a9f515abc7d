-- A film's poster image, in the database so that every worker and every machine of a
-- several-machine setup serves the same bytes (festival.programme.posters). One per
-- film; it goes with its film. `etag` is the SHA-256 of the bytes (hex), the answer's
-- ETag. No programme_version trigger: a poster is not in any calendar feed.

CREATE TABLE posters (
    film_id       INTEGER PRIMARY KEY REFERENCES films (id) ON DELETE CASCADE,
    content_type  TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    image         BLOB NOT NULL,
    updated_at    TEXT NOT NULL
);
