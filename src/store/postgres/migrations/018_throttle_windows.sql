-- Throttled and debounced jobs (throttle_ms, debounce_ms): such a job holds its unique key for an aligned
-- window ending at throttled_until, in every status, for as long as it exists (its purge_at is never before
-- the window's end), and never by its status. At most one job holds a key's window.
ALTER TABLE jobs
  ADD COLUMN throttle_ms BIGINT,
  ADD COLUMN debounce_ms BIGINT,
  ADD COLUMN throttled_until BIGINT;
CREATE UNIQUE INDEX jobs_throttle_window ON jobs (unique_key, throttled_until) WHERE throttled_until IS NOT NULL;

-- The status holds of 003_unique_holds, now leaving throttled jobs out.
DROP INDEX jobs_unique_hold;
ALTER TABLE jobs DROP COLUMN unique_hold;
ALTER TABLE jobs ADD COLUMN unique_hold TEXT GENERATED ALWAYS AS (
  CASE WHEN throttled_until IS NULL AND NOT unique_forfeited AND (
    status IN ('scheduled', 'ready')
    OR (status = 'in_flight' AND unique_while IN ('active', 'exists'))
    OR unique_while = 'exists'
  ) THEN unique_key END) STORED;
CREATE UNIQUE INDEX jobs_unique_hold ON jobs (unique_hold) WHERE unique_hold IS NOT NULL;
