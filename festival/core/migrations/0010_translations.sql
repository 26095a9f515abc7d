-- The programme's own texts in several languages (docs/programme-file.md): a film's
-- title and synopsis, a debate's title and description, a guest's role. The plain
-- column keeps the original; beside it a JSON object of its translations by language
-- code, {"fr": "…", "ar": "…"}, keys sorted, none empty and none equal to the
-- original ('{}' for none: festival.core.i18n.translations_json), so an unchanged
-- file or form compares equal and leaves feeds byte-identical.
-- Adding the columns changes no row: no trigger runs, programme_version stays, and the
-- feeds of an unchanged programme keep their bytes and ETags.

ALTER TABLE films ADD COLUMN title_i18n TEXT NOT NULL DEFAULT '{}';
ALTER TABLE films ADD COLUMN synopsis_i18n TEXT NOT NULL DEFAULT '{}';
ALTER TABLE guests ADD COLUMN role_i18n TEXT NOT NULL DEFAULT '{}';
ALTER TABLE screenings ADD COLUMN debate_title_i18n TEXT NOT NULL DEFAULT '{}';
ALTER TABLE screenings ADD COLUMN debate_description_i18n TEXT NOT NULL DEFAULT '{}';
