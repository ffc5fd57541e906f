-- Batched jobs: each job keeps the batch configuration it was enqueued with (JSON text), and each
-- batch key names its open job, the one later enqueues fold into. A row outlives its job's openness:
-- the engine reads the job and judges (src/job/state.ts takesFolds); a new open job replaces the row.
ALTER TABLE jobs ADD COLUMN batch TEXT;

CREATE TABLE open_batches (
  key    TEXT PRIMARY KEY,
  job_id TEXT NOT NULL
) WITHOUT ROWID;
