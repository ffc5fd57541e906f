-- Leases live in the row: run_id fences off a worker whose lease was taken
-- over; owner is the server whose claim leased the job (a store column only,
-- cleared whenever the job leaves in_flight).
ALTER TABLE jobs ADD COLUMN run_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE jobs ADD COLUMN owner TEXT;

-- No claim or lease indexes here: a SQLite server takes jobs from its in-memory
-- ready index and tracks leases in memory, so claimReady and expiredLeases (used
-- by shared stores) only need to be correct on SQLite, and the existing
-- jobs_by_status index serves them. Indexes nobody reads would slow every write.
