-- How often a registration's status changed after it was made (promoted from the
-- waitlist, cancelled): each change raises the SEQUENCE of the event in the attendee's
-- ticket feed and invitations (festival/calendar.py, attendee_sequence). Counting in
-- the row, not comparing timestamps, because a promotion can fall in the same second.
ALTER TABLE registrations ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
