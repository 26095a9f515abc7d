-- Seats taken and parties waiting, kept per screening: the pair of SQLite's
-- 0015_seat_counts.sql (which says why), the same table and columns. Row triggers keep
-- the counts in the writer's own transaction.
--
-- Concurrency (READ COMMITTED): a seat decision locks its screening's row first
-- (festival.core.store.lock_row, in festival.seats.registrations.expire_overdue), then
-- reads the counts, so no other decision moves them under it; each trigger adds or
-- takes away its own difference (taken = taken + …), which PostgreSQL applies to the
-- newest committed row, so writers that do not decide (erasure, a script) lose nothing
-- either. The trigger also locks the screening's row before touching its counts: every
-- writer then takes the screening first and its counts second, in that order. Without
-- it, an erasure (which cancels first and locks the screening when it promotes the
-- waitlist) holding the counts' row would deadlock with a registration holding the
-- screening and waiting for that row.

CREATE TABLE screening_seats (
    screening_id  BIGINT PRIMARY KEY REFERENCES screenings (id) ON DELETE CASCADE,
    taken         INTEGER NOT NULL DEFAULT 0,
    waiting       INTEGER NOT NULL DEFAULT 0
);

INSERT INTO screening_seats (screening_id, taken, waiting)
SELECT s.id,
       (SELECT COALESCE(SUM(r.seats), 0) FROM registrations r
        WHERE r.screening_id = s.id AND r.status IN ('confirmed', 'held')),
       (SELECT COUNT(*) FROM registrations r
        WHERE r.screening_id = s.id AND r.status = 'waitlisted')
FROM screenings s;

CREATE FUNCTION festival_screening_seats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO screening_seats (screening_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER screenings_insert_seats AFTER INSERT ON screenings
    FOR EACH ROW EXECUTE FUNCTION festival_screening_seats_row();

-- Out of the old screening's counts (UPDATE, DELETE), into the new one's (INSERT,
-- UPDATE): the same screening unless the registration moved.
CREATE FUNCTION festival_count_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM 1 FROM screenings WHERE id = OLD.screening_id FOR UPDATE;
        UPDATE screening_seats
        SET taken = taken - CASE WHEN OLD.status IN ('confirmed', 'held')
                                 THEN OLD.seats ELSE 0 END,
            waiting = waiting - CASE WHEN OLD.status = 'waitlisted' THEN 1 ELSE 0 END
        WHERE screening_id = OLD.screening_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM screenings WHERE id = NEW.screening_id FOR UPDATE;
        UPDATE screening_seats
        SET taken = taken + CASE WHEN NEW.status IN ('confirmed', 'held')
                                 THEN NEW.seats ELSE 0 END,
            waiting = waiting + CASE WHEN NEW.status = 'waitlisted' THEN 1 ELSE 0 END
        WHERE screening_id = NEW.screening_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER registrations_insert_seats AFTER INSERT ON registrations
    FOR EACH ROW EXECUTE FUNCTION festival_count_seats();
CREATE TRIGGER registrations_update_seats AFTER UPDATE OF status, seats, screening_id
    ON registrations
    FOR EACH ROW EXECUTE FUNCTION festival_count_seats();
CREATE TRIGGER registrations_delete_seats AFTER DELETE ON registrations
    FOR EACH ROW EXECUTE FUNCTION festival_count_seats();
