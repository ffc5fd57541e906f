-- Payloads as the text Wharf wrote, not JSONB: JSONB sorts an object's keys,
-- drops all but the last of a duplicated key and keeps numbers as numeric, so a
-- payload did not read back as it was enqueued (SQLite keeps the text already).
-- Jobs enqueued before this keep JSONB's rendering of their payload; no key
-- order is left to recover for them.
ALTER TABLE jobs ALTER COLUMN payload TYPE TEXT USING payload::text;
