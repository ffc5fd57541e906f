-- What a job's success carried (result), the progress its heartbeats saved for the next attempt
-- (state), both JSON text as the user's values are kept, and two metadata fields (correlation_id,
-- parent_job_id) that tie jobs together. Filtering by correlation id is indexed; the many jobs
-- without one cost the index nothing.
ALTER TABLE jobs ADD COLUMN correlation_id TEXT;
ALTER TABLE jobs ADD COLUMN parent_job_id TEXT;
ALTER TABLE jobs ADD COLUMN result TEXT;
ALTER TABLE jobs ADD COLUMN state TEXT;
CREATE INDEX jobs_by_correlation_id ON jobs (correlation_id, id) WHERE correlation_id IS NOT NULL;
