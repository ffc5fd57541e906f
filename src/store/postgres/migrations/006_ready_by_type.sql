-- Claims for streams that take some job types only (a Wharf extension to take):
-- one ordered scan per queue and type, so the ready jobs of other types ahead
-- of them are never read.
CREATE INDEX jobs_ready_by_queue_and_type ON jobs (queue, type, priority, id) WHERE status = 'ready';
