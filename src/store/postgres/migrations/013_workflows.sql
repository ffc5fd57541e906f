-- Workflows (POST /workflows): the shape a chain or group was enqueued as, with its jobs' ids. The jobs
-- carry the workflow's id as their correlation_id; a workflow goes when DELETE /workflows/{id} removes
-- it, or with the purge once none of its jobs is left.
CREATE TABLE workflows (
  id         TEXT COLLATE "C" PRIMARY KEY,
  created_at BIGINT NOT NULL,
  document   TEXT NOT NULL
);
