/** Every SQL statement the SQLite store runs, by name. */
import { DELETED_COLUMNS, ERROR_COLUMN_NAMES, ERROR_READ_COLUMNS, JOB_COLUMN_NAMES, presentColumnNames, REQUIRED_COLUMNS, SKIP_HELD, type JobRowValues, type KeyHold, type UpdatableJobColumn } from "../rows.js";
import type { WhereDialect } from "../where.js";

const named = (columns: readonly string[]): string => columns.map((column) => `@${column}`).join(", ");

/** What sets one update statement apart from another: the columns it writes and the checks it makes. */
export interface UpdateShape {
  columns: readonly UpdatableJobColumn[];
  /** The job comes back into its unique scope (see the forfeit check below). */
  entersUniqueScope: boolean;
  /** The job leaves in_flight (or its run), so the server that leased it is no longer its owner. */
  clearsOwner: boolean;
  fence: Fence;
}

/**
 * Only `columns` are set: SQLite rewrites the index entries of every column an UPDATE sets, changed
 * or not. The forfeit check touches unique_forfeited, and with it the unique_hold index, so it is
 * only there for a job coming back into its unique scope. Checks that do not apply are left out of
 * the text rather than passed as NULLs, so each statement binds and tests only what it needs.
 */
export function updateJobText({ columns, entersUniqueScope, clearsOwner, fence }: UpdateShape): string {
  const sets = columns.map((column) => `${column} = ?`);
  if (clearsOwner) sets.push("owner = NULL");
  if (entersUniqueScope) {
    sets.push(`unique_forfeited = unique_forfeited OR EXISTS (
        SELECT 1 FROM jobs AS holder WHERE holder.unique_hold = jobs.unique_key AND holder.id <> jobs.id)`);
  }
  return `UPDATE jobs SET ${sets.join(", ")} WHERE ${fenceText(fence)}`;
}

/** Which conditions a fenced write checks besides its id; each is one `?`, in this order: id, status, run, expiry. */
export interface Fence {
  byStatus: boolean;
  byRun: boolean;
  byExpiry: boolean;
}

function fenceText({ byStatus, byRun, byExpiry }: Fence): string {
  return ["id = ?", ...(byStatus ? ["status = ?"] : []), ...(byRun ? ["run_id = ?"] : []), ...(byExpiry ? ["lease_expires_at <= ?"] : [])].join(" AND ");
}

/** Deletes a job, only while it passes the fence; returns DELETED_COLUMNS of what it deleted. */
export function deleteJobText(fence: Fence): string {
  return `DELETE FROM jobs WHERE ${fenceText(fence)} RETURNING ${DELETED_COLUMNS}`;
}

/**
 * Deletes a job, only while it passes the fence and its DELETED_COLUMNS are still the ones after the
 * fence's parameters (queue, type, status, priority, attempts, concurrency key): the caller knows what
 * it deletes, so nothing is returned. RETURNING costs SQLite an ephemeral table per statement, about
 * half of a one-row delete.
 */
export function deleteExpectedText(fence: Fence): string {
  return `DELETE FROM jobs WHERE ${fenceText(fence)} AND queue = ? AND type = ? AND status = ? AND priority = ? AND attempts = ? AND concurrency_key IS ?`;
}

/**
 * An insert of the columns a job has values for: `present` has bit i set when optional column
 * REQUIRED_COLUMNS + i is not NULL. Binding only those costs less than binding a NULL for each of the
 * many optional columns most jobs leave out. Parameters: presentValues(values), `present` from rows.ts presentColumns.
 */
export function insertJobText(present: number, hold: KeyHold): string {
  const key = present * 3 + HOLDS.indexOf(hold);
  let text = INSERT_TEXTS.get(key);
  if (text === undefined) {
    text = buildInsertText(present, hold);
    INSERT_TEXTS.set(key, text);
  }
  return text;
}

const HOLDS: readonly KeyHold[] = ["none", "status", "window"];

/** Built once per shape: the same string each time, so the statement caches find it by a hash computed once. */
const INSERT_TEXTS = new Map<number, string>();

function buildInsertText(present: number, hold: KeyHold): string {
  const columns = presentColumnNames(present);
  const insert = `INSERT INTO jobs (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`;
  return hold === "none" ? insert : `${insert} ${SKIP_HELD[hold]}`;
}

/** The values insertJobText(presentColumns(values), ...) binds. */
export function presentValues(values: readonly unknown[]): unknown[] {
  return values.filter((value, index) => index < REQUIRED_COLUMNS || value !== null);
}

/** Columns read as they are: the ones every job has, and created_at (every job enqueued since migration 014). */
const DENSE_COLUMNS: readonly string[] = [...JOB_COLUMN_NAMES.slice(0, REQUIRED_COLUMNS), "created_at"];
const DENSE_POSITIONS = DENSE_COLUMNS.map((column) => JOB_COLUMN_NAMES.indexOf(column as (typeof JOB_COLUMN_NAMES)[number]));
const SPARSE_POSITIONS = JOB_COLUMN_NAMES.flatMap((column, position) => (DENSE_COLUMNS.includes(column) ? [] : [position]));

/**
 * What a job read selects: the dense columns, then the other 29 (which most jobs leave NULL) packed
 * into one JSON array, or NULL when all are. The driver builds a JavaScript value per column read,
 * NULLs too: reading all 38 cost 3.6 µs per job against 1.5 µs for 8. Values come back from the
 * array as from the driver (SQLite writes its floats with every digit JSON needs to round-trip).
 * unpackJobRow turns a row of these back into JobRowValues.
 */
const READ_JOB_COLUMNS = `${DENSE_COLUMNS.join(", ")},
  CASE WHEN ${SPARSE_POSITIONS.map((position) => `${JOB_COLUMN_NAMES[position]} IS NULL`).join(" AND ")} THEN NULL
  ELSE json_array(${SPARSE_POSITIONS.map((position) => JOB_COLUMN_NAMES[position]).join(", ")}) END`;

/** Columns of a READ_JOB_COLUMNS row; any after them are the statement's own. */
export const READ_JOB_WIDTH = DENSE_COLUMNS.length + 1;

/** A row of READ_JOB_COLUMNS as JobRowValues. */
export function unpackJobRow(row: readonly unknown[]): JobRowValues {
  const values = new Array<unknown>(JOB_COLUMN_NAMES.length).fill(null);
  DENSE_POSITIONS.forEach((position, index) => (values[position] = row[index]));
  const packed = row[DENSE_COLUMNS.length];
  if (typeof packed === "string") {
    const sparse = JSON.parse(packed) as unknown[];
    SPARSE_POSITIONS.forEach((position, index) => (values[position] = sparse[index]));
  }
  return values as JobRowValues;
}

export const SQL = {
  /** The errors of the jobs in the JSON list of ids. */
  deleteErrorsOfJobs: "DELETE FROM job_errors WHERE job_id IN (SELECT value FROM json_each(?))",
  deleteAllErrors: "DELETE FROM job_errors",
  insertError: `INSERT OR REPLACE INTO job_errors (${ERROR_COLUMN_NAMES.join(", ")}) VALUES (${named(ERROR_COLUMN_NAMES)})`,
  /**
   * Ready jobs in take order, of the queues and types in the JSON lists (a null list: all of them);
   * unless @limited is 1 (claimLimited, which has counted the room), none of a paused or limited queue.
   */
  readyToClaim: `SELECT id, timeout FROM jobs
    WHERE status = 'ready' AND (@queues IS NULL OR queue IN (SELECT value FROM json_each(@queues)))
      AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
      AND (deadline IS NULL OR deadline > @now)
      AND (@limited = 1 OR queue NOT IN (SELECT queue FROM queue_settings WHERE paused OR limited))
    ORDER BY priority, id LIMIT @limit`,
  /** The settings of the queues in the JSON list that have limits and are not paused. */
  limitedQueues: `SELECT queue, paused, max_in_flight, settings FROM queue_settings
    WHERE queue IN (SELECT value FROM json_each(?)) AND limited AND NOT paused ORDER BY queue`,
  /** The jobs of a queue in flight, by lane. */
  inFlightByLane: "SELECT coalesce(concurrency_key, '') AS lane, count(*) AS count FROM jobs WHERE status = 'in_flight' AND queue = ? GROUP BY 1",
  rateLogsOf: "SELECT lane, starts FROM queue_rate_starts WHERE queue = ?",
  putRateLog: "INSERT INTO queue_rate_starts (queue, lane, starts) VALUES (?, ?, ?) ON CONFLICT (queue, lane) DO UPDATE SET starts = excluded.starts",
  deleteRateLog: "DELETE FROM queue_rate_starts WHERE queue = ? AND lane = ?",
  /**
   * readyToClaim for one queue with per-key limits: each lane's first jobs, as many as its room (its
   * entry in the JSON object @rooms, else @other), in take order.
   */
  readyPerKey: `SELECT id, timeout FROM (
      SELECT id, timeout, priority, coalesce(concurrency_key, '') AS lane,
        row_number() OVER (PARTITION BY coalesce(concurrency_key, '') ORDER BY priority, id) AS position
      FROM jobs WHERE status = 'ready' AND queue = @queue AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
        AND (deadline IS NULL OR deadline > @now)) AS ranked
    WHERE position <= coalesce((SELECT value FROM json_each(@rooms) WHERE json_each.key = ranked.lane), @other)
    ORDER BY priority, id LIMIT @limit`,
  claimJob: `UPDATE jobs SET status = 'in_flight', dequeued_at = @now, run_id = @run_id, owner = @owner,
      lease_expires_at = @lease_expires_at
    WHERE id = @id AND status = 'ready'
    RETURNING ${READ_JOB_COLUMNS}`,
  /** Parameters: expiry, saved state (null keeps it), id, run id. */
  extendLease: "UPDATE jobs SET lease_expires_at = ?, state = coalesce(?, state), progress = coalesce(?, progress) WHERE id = ? AND status = 'in_flight' AND run_id = ?",
  expiredLeases: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE status = 'in_flight' AND lease_expires_at <= ?
    ORDER BY lease_expires_at, id LIMIT ?`,
  jobHoldingKey: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE unique_hold = ?`,
  /** Parameters: unique key, window end. */
  jobHoldingWindow: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE unique_key = ? AND throttled_until = ?`,
  jobById: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE id = ?`,
  jobsByIds: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))`,
  purgeDue: `DELETE FROM jobs WHERE id IN (
      SELECT id FROM jobs INDEXED BY jobs_by_purge_at WHERE purge_at IS NOT NULL AND purge_at <= ? AND status IN ('completed', 'dead')
        AND NOT EXISTS (SELECT 1 FROM job_dependencies WHERE depends_on = jobs.id) LIMIT ?)
    RETURNING ${DELETED_COLUMNS}`,
  countByQueueAndStatus: "SELECT queue, status, count(*) AS count FROM jobs GROUP BY queue, status",
  readyEntries: "SELECT id, queue, type, priority, concurrency_key FROM jobs WHERE status = 'ready'",
  jobsWithStatus: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE status = ? ORDER BY id LIMIT ?`,
  // The maintenance reads name their partial indexes: without statistics SQLite's planner prefers
  // jobs_by_status, and then reads (and sorts) every job of the status: 20 ms a read behind 100,000
  // ready jobs, a few times a second.
  dueScheduled: `SELECT ${READ_JOB_COLUMNS} FROM jobs INDEXED BY jobs_scheduled_by_ready_at WHERE status = 'scheduled' AND ready_at <= ? ORDER BY ready_at LIMIT ?`,
  nextScheduledAt: "SELECT min(ready_at) AS at FROM jobs INDEXED BY jobs_scheduled_by_ready_at WHERE status = 'scheduled'",
  /** Jobs waiting to start whose deadline passed, earliest first. */
  missedDeadlines: `SELECT ${READ_JOB_COLUMNS} FROM jobs INDEXED BY jobs_waiting_by_deadline
    WHERE deadline <= ? AND deadline IS NOT NULL AND status IN ('scheduled', 'ready') ORDER BY deadline LIMIT ?`,
  /**
   * The waiting jobs of queue ? not among the ids in the JSON list, newest first, past the first ? of
   * them, at most ? (-1: all): what a capped queue has no room for (src/store/caps.ts).
   */
  waitingBeyond: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE queue = ? AND status IN ('blocked', 'scheduled', 'ready')
      AND id NOT IN (SELECT value FROM json_each(?))
    ORDER BY id DESC LIMIT ? OFFSET ?`,
  /** Parameters: queue, enqueued before, limit. */
  agedJobs: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE queue = ? AND status IN ('scheduled', 'ready') AND created_at < ?
    ORDER BY created_at LIMIT ?`,
  nextDeadline: "SELECT min(deadline) AS at FROM jobs INDEXED BY jobs_waiting_by_deadline WHERE deadline IS NOT NULL AND status IN ('scheduled', 'ready')",
  errorsAsc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt > ? ORDER BY attempt ASC LIMIT ?`,
  errorsDesc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt < ? ORDER BY attempt DESC LIMIT ?`,
  errorByAttempt: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = ? AND attempt = ?`,
  cronGroupNames: "SELECT name FROM cron_groups ORDER BY name",
  cronGroupByName: "SELECT document, revision FROM cron_groups WHERE name = ?",
  dueCronGroups: "SELECT document, revision FROM cron_groups WHERE next_due_at <= ? ORDER BY next_due_at LIMIT ?",
  nextCronDueAt: "SELECT min(next_due_at) FROM cron_groups",
  /** Parameters: name, document, next_due_at, new revision. */
  insertCronGroup: "INSERT INTO cron_groups (name, document, next_due_at, revision) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
  /** Parameters: document, next_due_at, new revision, name, revision read. */
  updateCronGroup: "UPDATE cron_groups SET document = ?, next_due_at = ?, revision = ? WHERE name = ? AND revision = ?",
  deleteCronGroup: "DELETE FROM cron_groups WHERE name = ? AND revision = ?",
  deleteCronGroups: "DELETE FROM cron_groups",
  /** JOB_COLUMNS, then the key, of the jobs the keys in the JSON list name as open. */
  openBatchJobs: `SELECT ${READ_JOB_COLUMNS}, open_batches.key FROM open_batches JOIN jobs ON jobs.id = open_batches.job_id
    WHERE open_batches.key IN (SELECT value FROM json_each(?))`,
  /** Parameters: payload, id. Fenced as src/job/state.ts takesFolds judges: ready and never taken. */
  foldPayload: "UPDATE jobs SET payload = ? WHERE id = ? AND status = 'ready' AND dequeued_at IS NULL AND attempts = 0",
  /** Parameters: key, id. */
  openBatch: "INSERT INTO open_batches (key, job_id) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id",
  deleteOpenBatches: "DELETE FROM open_batches",
  /** The statuses of the jobs in the JSON list of ids that exist. */
  statusesOf: "SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
  resultSizesOf: "SELECT id, length(CAST(result AS BLOB)) AS bytes FROM jobs WHERE result IS NOT NULL AND id IN (SELECT value FROM json_each(?))",
  resultsOf: "SELECT id, result FROM jobs WHERE result IS NOT NULL AND id IN (SELECT value FROM json_each(?))",
  /** Parameters: job id, the id of the job it waits for, 1 when that one has completed already. */
  insertEdge: "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on, met) VALUES (?, ?, ?)",
  anyEdge: "SELECT 1 FROM job_dependencies LIMIT 1",
  /** Which jobs of the JSON list others depend on. */
  dependedOn: "SELECT DISTINCT depends_on AS id FROM job_dependencies WHERE depends_on IN (SELECT value FROM json_each(?))",
  /** Marks met the unmet edges on the (completed) dependencies in the JSON list; returns them. */
  meetEdges: "UPDATE job_dependencies SET met = 1 WHERE depends_on IN (SELECT value FROM json_each(?)) AND met = 0 RETURNING job_id, depends_on",
  /** Removes the edges on the (dead or deleted) dependencies in the JSON list; returns them. */
  releaseEdges: "DELETE FROM job_dependencies WHERE depends_on IN (SELECT value FROM json_each(?)) RETURNING job_id, depends_on",
  blockedJobs: `SELECT ${READ_JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND status = 'blocked'`,
  edgesLeft: "SELECT job_id, count(*) AS count FROM job_dependencies WHERE job_id IN (SELECT value FROM json_each(?)) AND met = 0 GROUP BY job_id",
  dropEdgesOf: "DELETE FROM job_dependencies WHERE job_id IN (SELECT value FROM json_each(?))",
  deleteAllEdges: "DELETE FROM job_dependencies",
  queueSettings: "SELECT queue, paused, max_in_flight, settings FROM queue_settings ORDER BY queue",
  queueSettingsOf: "SELECT queue, paused, max_in_flight, settings FROM queue_settings WHERE queue = ?",
  /** Parameters: queue, paused (0 or 1), max_in_flight, limited (0 or 1), the other settings as JSON text. */
  putQueueSettings: `INSERT INTO queue_settings (queue, paused, max_in_flight, limited, settings) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, max_in_flight = excluded.max_in_flight, limited = excluded.limited, settings = excluded.settings`,
  deleteQueueSettings: "DELETE FROM queue_settings WHERE queue = ?",
  deleteAllQueueSettings: "DELETE FROM queue_settings",
  insertWorkflow: "INSERT INTO workflows (id, created_at, document) VALUES (?, ?, ?)",
  workflowById: "SELECT id, created_at, document FROM workflows WHERE id = ?",
  deleteWorkflow: "DELETE FROM workflows WHERE id = ?",
  deleteAllWorkflows: "DELETE FROM workflows",
  /** Workflows without a job left, at most ? of them. */
  purgeWorkflows: `DELETE FROM workflows WHERE id IN (SELECT id FROM workflows
      WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.correlation_id = workflows.id) LIMIT ?)`,
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
