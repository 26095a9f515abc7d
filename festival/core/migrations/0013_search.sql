-- The programme's search (festival.programme.search): one FTS5 row per screening, its
-- rowid the screening's id, holding the words a visitor may look for: the film's title
-- and its translations, the city, the debate's title and description with their
-- translations, and the names of LISTED debate guests only (an unlisted guest, who may
-- be a migrant at risk, must never be findable by name). The unicode61 tokenizer with
-- remove_diacritics 2 folds case and accents, so "Genève" is found by "geneve".
-- Triggers keep it in step with every change to those texts, in the writer's own
-- transaction; the search reads only this table, so it is never stale.

CREATE VIEW screening_search_source AS
SELECT s.id AS id,
       f.title || ' ' || (SELECT COALESCE(group_concat(value, ' '), '') FROM json_each(f.title_i18n))
       || ' ' || v.city
       || ' ' || s.debate_title || ' '
       || (SELECT COALESCE(group_concat(value, ' '), '') FROM json_each(s.debate_title_i18n))
       || ' ' || s.debate_description || ' '
       || (SELECT COALESCE(group_concat(value, ' '), '') FROM json_each(s.debate_description_i18n))
       || ' ' || (SELECT COALESCE(group_concat(g.name, ' '), '')
                  FROM screening_guests sg JOIN guests g ON g.id = sg.guest_id
                  WHERE sg.screening_id = s.id AND g.listed = 1) AS body
FROM screenings s
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id;

CREATE VIRTUAL TABLE screening_search USING fts5(
    body, tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO screening_search (rowid, body) SELECT id, body FROM screening_search_source;

CREATE TRIGGER screenings_insert_search AFTER INSERT ON screenings
BEGIN
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source WHERE id = NEW.id;
END;

CREATE TRIGGER screenings_update_search AFTER UPDATE OF
    id, film_id, venue_id, debate_title, debate_title_i18n, debate_description,
    debate_description_i18n ON screenings
BEGIN
    DELETE FROM screening_search WHERE rowid IN (OLD.id, NEW.id);
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source WHERE id = NEW.id;
END;

CREATE TRIGGER screenings_delete_search AFTER DELETE ON screenings
BEGIN
    DELETE FROM screening_search WHERE rowid = OLD.id;
END;

CREATE TRIGGER films_update_search AFTER UPDATE OF title, title_i18n ON films
BEGIN
    DELETE FROM screening_search
        WHERE rowid IN (SELECT id FROM screenings WHERE film_id = NEW.id);
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source
        WHERE id IN (SELECT id FROM screenings WHERE film_id = NEW.id);
END;

CREATE TRIGGER venues_update_search AFTER UPDATE OF city ON venues
BEGIN
    DELETE FROM screening_search
        WHERE rowid IN (SELECT id FROM screenings WHERE venue_id = NEW.id);
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source
        WHERE id IN (SELECT id FROM screenings WHERE venue_id = NEW.id);
END;

CREATE TRIGGER guests_update_search AFTER UPDATE OF name, listed ON guests
BEGIN
    DELETE FROM screening_search
        WHERE rowid IN (SELECT screening_id FROM screening_guests WHERE guest_id = NEW.id);
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source
        WHERE id IN (SELECT screening_id FROM screening_guests WHERE guest_id = NEW.id);
END;

CREATE TRIGGER screening_guests_insert_search AFTER INSERT ON screening_guests
BEGIN
    DELETE FROM screening_search WHERE rowid = NEW.screening_id;
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source WHERE id = NEW.screening_id;
END;

CREATE TRIGGER screening_guests_update_search AFTER UPDATE ON screening_guests
BEGIN
    DELETE FROM screening_search WHERE rowid IN (OLD.screening_id, NEW.screening_id);
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source
        WHERE id IN (OLD.screening_id, NEW.screening_id);
END;

CREATE TRIGGER screening_guests_delete_search AFTER DELETE ON screening_guests
BEGIN
    DELETE FROM screening_search WHERE rowid = OLD.screening_id;
    INSERT INTO screening_search (rowid, body)
        SELECT id, body FROM screening_search_source WHERE id = OLD.screening_id;
END;
