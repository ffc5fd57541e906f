-- When a job was enqueued (the engine's clock), which a queue's max_age_ms counts from. Jobs already waiting take
-- their ready_at: never earlier than they were enqueued, so none of them is expired before its time.
ALTER TABLE jobs ADD COLUMN created_at BIGINT;
UPDATE jobs SET created_at = ready_at WHERE status IN ('scheduled', 'ready', 'blocked');
-- No index on it: every insert and claim would pay for one, queues without max_age_ms included (about 8% of
-- single and bulk enqueue throughput on SQLite); the max-age service reads the jobs of each queue that has one instead.
