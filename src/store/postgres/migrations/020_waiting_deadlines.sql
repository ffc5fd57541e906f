-- The deadline service reads the earliest deadline of a job waiting to start, and those missed by
-- now, once per maintenance tick. An index of every job with a deadline made those reads walk the
-- jobs that had ended too (dead ones are kept a week, with their deadlines long past); this one
-- holds only the waiting jobs, so each read touches what it returns.
DROP INDEX jobs_by_deadline;
CREATE INDEX jobs_waiting_by_deadline ON jobs (deadline) WHERE deadline IS NOT NULL AND status IN ('scheduled', 'ready');
