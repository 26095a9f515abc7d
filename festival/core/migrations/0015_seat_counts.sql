-- Seats taken and parties waiting, kept per screening, so that deciding on a seat reads
-- one row instead of summing every registration of the screening (which grew with the
-- screening: 3 ms at 20,000 registrations, inside the write lock). Triggers keep the
-- counts in the writer's own transaction on every change to registrations, so no writer
-- (registration, organisers' changes, the door, the loader, erasure, a script) can forget
-- to; nothing in Python writes this table.
-- taken: the seats of 'confirmed' and 'held' registrations (festival.seats.registrations
-- TAKEN); waiting: the number of 'waitlisted' parties. Every screening has its row, from
-- the backfill below or from the trigger on screenings; it goes with its screening.
-- PostgreSQL: postgresql/0015_seat_counts.sql, the same table and triggers.
-- A later migration that rebuilds registrations or screenings (new table, copy, rename)
-- drops these triggers with the old table: it must create them again.

CREATE TABLE screening_seats (
    screening_id  INTEGER PRIMARY KEY REFERENCES screenings (id) ON DELETE CASCADE,
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

CREATE TRIGGER screenings_insert_seats AFTER INSERT ON screenings
BEGIN
    INSERT INTO screening_seats (screening_id) VALUES (NEW.id);
END;

CREATE TRIGGER registrations_insert_seats AFTER INSERT ON registrations
BEGIN
    UPDATE screening_seats
    SET taken = taken + CASE WHEN NEW.status IN ('confirmed', 'held') THEN NEW.seats ELSE 0 END,
        waiting = waiting + CASE WHEN NEW.status = 'waitlisted' THEN 1 ELSE 0 END
    WHERE screening_id = NEW.screening_id;
END;

-- Out of the old screening's counts, into the new one's (the same one unless moved).
CREATE TRIGGER registrations_update_seats AFTER UPDATE OF status, seats, screening_id
ON registrations
BEGIN
    UPDATE screening_seats
    SET taken = taken - CASE WHEN OLD.status IN ('confirmed', 'held') THEN OLD.seats ELSE 0 END,
        waiting = waiting - CASE WHEN OLD.status = 'waitlisted' THEN 1 ELSE 0 END
    WHERE screening_id = OLD.screening_id;
    UPDATE screening_seats
    SET taken = taken + CASE WHEN NEW.status IN ('confirmed', 'held') THEN NEW.seats ELSE 0 END,
        waiting = waiting + CASE WHEN NEW.status = 'waitlisted' THEN 1 ELSE 0 END
    WHERE screening_id = NEW.screening_id;
END;

CREATE TRIGGER registrations_delete_seats AFTER DELETE ON registrations
BEGIN
    UPDATE screening_seats
    SET taken = taken - CASE WHEN OLD.status IN ('confirmed', 'held') THEN OLD.seats ELSE 0 END,
        waiting = waiting - CASE WHEN OLD.status = 'waitlisted' THEN 1 ELSE 0 END
    WHERE screening_id = OLD.screening_id;
END;
