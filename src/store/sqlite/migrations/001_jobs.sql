-- Jobs: one row per job, whatever its status. payload, backoff and retention are JSON text.
CREATE TABLE jobs (
  id           TEXT PRIMARY KEY,
  queue        TEXT NOT NULL,
  type         TEXT NOT NULL,
  priority     INTEGER NOT NULL,
  status       TEXT NOT NULL,
  payload      TEXT NOT NULL,
  ready_at     INTEGER NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  retry_limit  INTEGER,
  backoff      TEXT,
  retention    TEXT,
  unique_key   TEXT,
  unique_while TEXT,
  timeout      REAL,
  dequeued_at  INTEGER,
  failed_at    INTEGER,
  completed_at INTEGER,
  purge_at     INTEGER
);

CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_queue ON jobs (queue, id);
CREATE INDEX jobs_scheduled_by_ready_at ON jobs (ready_at) WHERE status = 'scheduled';
CREATE INDEX jobs_by_purge_at ON jobs (purge_at) WHERE purge_at IS NOT NULL;
CREATE INDEX jobs_by_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

-- One row per failed attempt, kept until the job itself is deleted.
CREATE TABLE job_errors (
  job_id      TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  message     TEXT NOT NULL,
  error_type  TEXT,
  backtrace   TEXT,
  dequeued_at INTEGER NOT NULL,
  failed_at   INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
