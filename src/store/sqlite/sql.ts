/** Every SQL statement the SQLite store runs, by name. */
import { DELETED_COLUMNS, ERROR_COLUMN_NAMES, ERROR_READ_COLUMNS, JOB_COLUMN_NAMES, JOB_COLUMNS, type UpdatableJobColumn } from "../rows.js";
import type { WhereDialect } from "../where.js";

const named = (columns: readonly string[]): string => columns.map((column) => `@${column}`).join(", ");

/** Each shape of update (the columns it writes, whether it takes back a unique key) gets its own statement text, built once. */
const updateTexts = new Map<string, string>();

/**
 * Only `columns` are set: SQLite rewrites the index entries of every column an UPDATE sets, changed
 * or not. The forfeit check touches unique_forfeited, and with it the unique_hold index, so it is
 * only there for a job coming back into its unique scope.
 */
function updateJobText(columns: readonly UpdatableJobColumn[], entersUniqueScope: boolean): string {
  const forfeit = entersUniqueScope
    ? `, unique_forfeited = unique_forfeited OR EXISTS (
        SELECT 1 FROM jobs AS holder WHERE holder.unique_hold = jobs.unique_key AND holder.id <> jobs.id)`
    : "";
  return `UPDATE jobs SET ${columns.map((column) => `${column} = @${column}, `).join("")}
      owner = CASE WHEN @status = 'in_flight' AND @run_id IS NOT NULL THEN owner END${forfeit}
    WHERE id = @id AND status = @from AND (@from_run_id IS NULL OR run_id = @from_run_id)
      AND (@expired_by IS NULL OR lease_expires_at <= @expired_by)`;
}

const INSERT_JOB = `INSERT INTO jobs (${JOB_COLUMNS}) VALUES (${named(JOB_COLUMN_NAMES)})`;

export const SQL = {
  insertJob: INSERT_JOB,
  /** insertJob for a job with a unique key: skipped, not failed, when another job holds the key (the unique index on unique_hold). */
  insertJobUnlessHeld: `${INSERT_JOB} ON CONFLICT (unique_hold) WHERE unique_hold IS NOT NULL DO NOTHING`,
  /**
   * Writes `columns` of a job, compare-and-set on status and, when @from_run_id is not null, on the
   * run. The owner stays only while the job stays in flight in a run. A job entering its unique
   * scope while another job holds its key gives the key up. Parameters: @id, @from, @from_run_id,
   * @expired_by, @status, @run_id and one per column.
   */
  updateJob: (columns: readonly UpdatableJobColumn[], entersUniqueScope: boolean): string => {
    const key = `${columns.join(",")}${entersUniqueScope ? "+key" : ""}`;
    let text = updateTexts.get(key);
    if (text === undefined) {
      text = updateJobText(columns, entersUniqueScope);
      updateTexts.set(key, text);
    }
    return text;
  },
  /** Deletes a job, only while it has status @from and is in run @from_run_id when those are not null. */
  deleteJob: `DELETE FROM jobs
    WHERE id = @id AND (@from IS NULL OR status = @from) AND (@from_run_id IS NULL OR run_id = @from_run_id)
      AND (@expired_by IS NULL OR lease_expires_at <= @expired_by)
    RETURNING ${DELETED_COLUMNS}`,
  /** The errors of the jobs in the JSON list of ids. */
  deleteErrorsOfJobs: "DELETE FROM job_errors WHERE job_id IN (SELECT value FROM json_each(?))",
  deleteAllErrors: "DELETE FROM job_errors",
  insertError: `INSERT OR REPLACE INTO job_errors (${ERROR_COLUMN_NAMES.join(", ")}) VALUES (${named(ERROR_COLUMN_NAMES)})`,
  /** Ready jobs in take order, of the queues and types in the JSON lists (a null list: all of them). */
  readyToClaim: `SELECT id, timeout FROM jobs
    WHERE status = 'ready' AND (@queues IS NULL OR queue IN (SELECT value FROM json_each(@queues)))
      AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
    ORDER BY priority, id LIMIT @limit`,
  claimJob: `UPDATE jobs SET status = 'in_flight', dequeued_at = @now, run_id = @run_id, owner = @owner,
      lease_expires_at = @lease_expires_at
    WHERE id = @id AND status = 'ready'
    RETURNING ${JOB_COLUMNS}`,
  extendLease: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND status = 'in_flight' AND run_id = ?",
  expiredLeases: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'in_flight' AND lease_expires_at <= ?
    ORDER BY lease_expires_at, id LIMIT ?`,
  jobHoldingKey: `SELECT ${JOB_COLUMNS} FROM jobs WHERE unique_hold = ?`,
  jobById: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`,
  jobsByIds: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))`,
  purgeDue: `DELETE FROM jobs WHERE id IN (
      SELECT id FROM jobs WHERE purge_at IS NOT NULL AND purge_at <= ? AND status IN ('completed', 'dead') LIMIT ?)
    RETURNING ${DELETED_COLUMNS}`,
  countByQueueAndStatus: "SELECT queue, status, count(*) AS count FROM jobs GROUP BY queue, status",
  readyEntries: "SELECT id, queue, type, priority FROM jobs WHERE status = 'ready'",
  jobsWithStatus: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = ? ORDER BY id LIMIT ?`,
  dueScheduled: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'scheduled' AND ready_at <= ? ORDER BY ready_at LIMIT ?`,
  nextScheduledAt: "SELECT min(ready_at) AS at FROM jobs WHERE status = 'scheduled'",
  errorsAsc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt > ? ORDER BY attempt ASC LIMIT ?`,
  errorsDesc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt < ? ORDER BY attempt DESC LIMIT ?`,
  errorByAttempt: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt = ?`,
  createMigrationsTable: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
  appliedMigrations: "SELECT version FROM schema_migrations",
  recordMigration: "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
} as const;

/** Positional `?` parameters; lists travel as JSON text and are unpacked with json_each. */
export const SQLITE_DIALECT: WhereDialect = {
  placeholder: () => "?",
  inList: (column, placeholder) => `${column} IN (SELECT value FROM json_each(${placeholder}))`,
  listValue: (values) => JSON.stringify(values),
};
