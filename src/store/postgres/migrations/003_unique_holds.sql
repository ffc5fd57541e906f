-- Unique keys as a constraint. A job holds its key (unique_hold) while its
-- status is in its unique_while scope, and at most one job holds a key, so two
-- servers inserting the same key at once cannot both succeed. The scopes here
-- are those of uniqueScope in src/job/state.ts:
--   queued: scheduled, ready; active: also in_flight; exists: every status.
-- A job that re-enters its scope (a retry back to ready) while another job
-- holds its key gives the key up for good: unique_forfeited.
ALTER TABLE jobs
  ADD COLUMN unique_forfeited BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN unique_hold TEXT GENERATED ALWAYS AS (
    CASE WHEN NOT unique_forfeited AND (
      status IN ('scheduled', 'ready')
      OR (status = 'in_flight' AND unique_while IN ('active', 'exists'))
      OR unique_while = 'exists'
    ) THEN unique_key END) STORED;

-- Earlier versions let such a re-entering job keep its key: the oldest holder keeps it.
UPDATE jobs SET unique_forfeited = true
  WHERE unique_hold IS NOT NULL
    AND EXISTS (SELECT 1 FROM jobs AS older WHERE older.unique_hold = jobs.unique_hold AND older.id < jobs.id);

DROP INDEX jobs_by_unique_key;
-- Partial: the many jobs without a key cost this index nothing.
CREATE UNIQUE INDEX jobs_unique_hold ON jobs (unique_hold) WHERE unique_hold IS NOT NULL;
