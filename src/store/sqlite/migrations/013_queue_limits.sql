-- Per-key limits and rate limits (src/job/queue-limits.ts). A job's key (its lane); `limited` marks the queues the
-- hot-path claim leaves to claimLimited (any of max_in_flight, concurrency_key, rate_limit); the rate logs hold
-- each lane's recent starts as JSON [[at, count], ...].
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
ALTER TABLE queue_settings ADD COLUMN limited INTEGER NOT NULL DEFAULT 0;
UPDATE queue_settings SET limited = 1 WHERE max_in_flight IS NOT NULL;
CREATE TABLE queue_rate_starts (
  queue  TEXT NOT NULL,
  lane   TEXT NOT NULL,
  starts TEXT NOT NULL,
  PRIMARY KEY (queue, lane)
) WITHOUT ROWID;
