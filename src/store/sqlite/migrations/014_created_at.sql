-- When a job was enqueued (the engine's clock), which a queue's max_age_ms counts from. Jobs already waiting take
-- their ready_at: never earlier than they were enqueued, so none of them is expired before its time.
ALTER TABLE jobs ADD COLUMN created_at INTEGER;
UPDATE jobs SET created_at = ready_at WHERE status IN ('scheduled', 'ready', 'blocked');
-- The waiting jobs of a queue by age, for the max_age_ms service.
CREATE INDEX jobs_waiting_by_created_at ON jobs (queue, created_at) WHERE status IN ('scheduled', 'ready');
