-- Jobs: one row per job, whatever its status. Timestamps are epoch milliseconds.
-- Ids compare bytewise (COLLATE "C") whatever the database's collation, so
-- paging by id orders them as SQLite does: by creation time.
CREATE TABLE jobs (
  id           TEXT COLLATE "C" PRIMARY KEY,
  queue        TEXT NOT NULL,
  type         TEXT NOT NULL,
  priority     INTEGER NOT NULL,
  status       TEXT NOT NULL,
  payload      JSONB NOT NULL,
  ready_at     BIGINT NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  retry_limit  INTEGER,
  backoff      JSONB,
  retention    JSONB,
  unique_key   TEXT,
  unique_while TEXT,
  timeout      DOUBLE PRECISION,
  dequeued_at  BIGINT,
  failed_at    BIGINT,
  completed_at BIGINT,
  purge_at     BIGINT
);

CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_queue ON jobs (queue, id);
CREATE INDEX jobs_scheduled_by_ready_at ON jobs (ready_at) WHERE status = 'scheduled';
CREATE INDEX jobs_by_purge_at ON jobs (purge_at) WHERE purge_at IS NOT NULL;
-- Not UNIQUE: whether two jobs with one key may coexist depends on their statuses (see insertJobs).
CREATE INDEX jobs_by_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

-- One row per failed attempt, kept until the job itself is deleted.
CREATE TABLE job_errors (
  job_id      TEXT COLLATE "C" NOT NULL,
  attempt     INTEGER NOT NULL,
  message     TEXT NOT NULL,
  error_type  TEXT,
  backtrace   TEXT,
  dequeued_at BIGINT NOT NULL,
  failed_at   BIGINT NOT NULL,
  PRIMARY KEY (job_id, attempt)
);
