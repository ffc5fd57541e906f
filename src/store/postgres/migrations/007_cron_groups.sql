-- Cron groups, each one JSON document (src/store/cron-rows.ts); revision fences every write.
CREATE TABLE cron_groups (
  name        TEXT PRIMARY KEY,
  document    TEXT NOT NULL,
  next_due_at BIGINT,
  revision    BIGINT NOT NULL
);

CREATE INDEX cron_groups_by_next_due_at ON cron_groups (next_due_at) WHERE next_due_at IS NOT NULL;
