/** Every SQL statement the SQLite store runs, by name. */

export const JOB_COLUMNS =
  "id, queue, type, priority, status, payload, ready_at, attempts, retry_limit, backoff, retention, " +
  "unique_key, unique_while, timeout, dequeued_at, failed_at, completed_at, purge_at";

export const SQL = {
  insertJob: `INSERT INTO jobs (${JOB_COLUMNS}) VALUES (@id, @queue, @type, @priority, @status, @payload, @ready_at,
    @attempts, @retry_limit, @backoff, @retention, @unique_key, @unique_while, @timeout, @dequeued_at, @failed_at,
    @completed_at, @purge_at)`,
  updateJob: `UPDATE jobs SET queue = @queue, priority = @priority, status = @status, ready_at = @ready_at,
    attempts = @attempts, retry_limit = @retry_limit, backoff = @backoff, retention = @retention, timeout = @timeout,
    dequeued_at = @dequeued_at, failed_at = @failed_at, completed_at = @completed_at, purge_at = @purge_at
    WHERE id = @id AND status = @from`,
  deleteJob: "DELETE FROM jobs WHERE id = ? RETURNING id, queue, status, priority",
  deleteErrorsOfJob: "DELETE FROM job_errors WHERE job_id = ?",
  deleteAllErrors: "DELETE FROM job_errors",
  deleteErrorsOfMissingJobs: "DELETE FROM job_errors WHERE job_id NOT IN (SELECT id FROM jobs)",
  insertError: `INSERT OR REPLACE INTO job_errors (job_id, attempt, message, error_type, backtrace, dequeued_at, failed_at)
    VALUES (@job_id, @attempt, @message, @error_type, @backtrace, @dequeued_at, @failed_at)`,
  jobsByUniqueKey: `SELECT ${JOB_COLUMNS} FROM jobs WHERE unique_key = ?`,
  jobById: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`,
  jobsByIds: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))`,
  purgeDue: `DELETE FROM jobs WHERE id IN (
      SELECT id FROM jobs WHERE purge_at IS NOT NULL AND purge_at <= ? AND status IN ('completed', 'dead') LIMIT ?)
    RETURNING id, queue, status, priority`,
  countByQueueAndStatus: "SELECT queue, status, count(*) AS count FROM jobs GROUP BY queue, status",
  readyEntries: "SELECT id, queue, priority FROM jobs WHERE status = 'ready'",
  jobsWithStatus: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = ? ORDER BY id LIMIT ?`,
  dueScheduled: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'scheduled' AND ready_at <= ? ORDER BY ready_at LIMIT ?`,
  nextScheduledAt: "SELECT min(ready_at) AS at FROM jobs WHERE status = 'scheduled'",
  errorsAsc: `SELECT attempt, message, error_type, backtrace, dequeued_at, failed_at FROM job_errors
    WHERE job_id = ? AND attempt > ? ORDER BY attempt ASC LIMIT ?`,
  errorsDesc: `SELECT attempt, message, error_type, backtrace, dequeued_at, failed_at FROM job_errors
    WHERE job_id = ? AND attempt < ? ORDER BY attempt DESC LIMIT ?`,
  errorByAttempt: `SELECT attempt, message, error_type, backtrace, dequeued_at, failed_at FROM job_errors
    WHERE job_id = ? AND attempt = ?`,
  createMigrationsTable: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
  appliedMigrations: "SELECT version FROM schema_migrations",
  recordMigration: "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
} as const;
