-- A dependency that completes keeps its edges, marked met, until each dependent ends: a dependent taken
-- with load_dependencies reads the results of the jobs it waited for, so those stay (the purge skips a
-- completed job with edges) until nothing waits to read them. A job is blocked while it has unmet edges.
-- runs_on = 'failure' marks a job that runs when a dependency fails and is discarded when all complete.
ALTER TABLE job_dependencies ADD COLUMN met BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN load_dependencies BOOLEAN;
ALTER TABLE jobs ADD COLUMN runs_on TEXT;
