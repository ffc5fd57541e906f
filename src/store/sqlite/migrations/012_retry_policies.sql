-- A job's named retry policy (src/job/retry-policy.ts), as JSON text; NULL for Zizq's backoff.
ALTER TABLE jobs ADD COLUMN retry_policy TEXT;
