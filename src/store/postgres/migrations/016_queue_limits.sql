-- Per-key limits and rate limits (src/job/queue-limits.ts). A job's key (its lane); `limited` marks the queues the
-- hot-path claims leave to claimLimited (any of max_in_flight, concurrency_key, rate_limit); the rate logs hold
-- each lane's recent starts as JSON [[at, count], ...], written under the queue's settings-row lock.
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT COLLATE "C";
ALTER TABLE queue_settings ADD COLUMN limited BOOLEAN NOT NULL DEFAULT false;
UPDATE queue_settings SET limited = true WHERE max_in_flight IS NOT NULL;
CREATE TABLE queue_rate_starts (
  queue  TEXT COLLATE "C" NOT NULL,
  lane   TEXT COLLATE "C" NOT NULL,
  starts TEXT NOT NULL,
  PRIMARY KEY (queue, lane)
);
-- The keys of a queue's ready jobs, walked one by one by a per-key claim; unkeyed jobs are not in it, so the hot path pays nothing.
CREATE INDEX jobs_ready_by_key ON jobs (queue, concurrency_key, priority, id) WHERE status = 'ready' AND concurrency_key IS NOT NULL;
