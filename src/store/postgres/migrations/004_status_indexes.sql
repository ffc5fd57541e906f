-- Listing by status: the live statuses already have partial indexes (ready by
-- priority, scheduled by ready_at, in flight by lease); the terminal ones get
-- their own. A (status, id) index took an entry on every insert and every claim,
-- the hottest writes there are, to serve listings the partial indexes serve too.
CREATE INDEX jobs_completed ON jobs (id) WHERE status = 'completed';
CREATE INDEX jobs_dead ON jobs (id) WHERE status = 'dead';
DROP INDEX jobs_by_status;
