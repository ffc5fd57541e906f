-- Workflows (POST /workflows): the shape a chain or group was enqueued as, with its jobs' ids. The jobs
-- carry the workflow's id as their correlation_id; a workflow goes when DELETE /workflows/{id} removes
-- it, or with the purge once none of its jobs is left.
CREATE TABLE workflows (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  document   TEXT NOT NULL
) WITHOUT ROWID;
