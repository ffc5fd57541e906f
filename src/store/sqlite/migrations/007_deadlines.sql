-- A job that has not started by its deadline (ms since the epoch) is dead. The index serves the
-- deadline service's "earliest deadline" and "missed by now" reads; jobs without one cost it nothing.
ALTER TABLE jobs ADD COLUMN deadline INTEGER;
CREATE INDEX jobs_by_deadline ON jobs (deadline) WHERE deadline IS NOT NULL;
