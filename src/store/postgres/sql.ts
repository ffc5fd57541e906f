/**
 * Every SQL statement the PostgreSQL store runs, by name. Batches travel as
 * one array parameter per column and are spread into rows with unnest, so a
 * batch of any size is one statement.
 */
import {
  ERROR_COLUMN_NAMES,
  ERROR_READ_COLUMNS,
  JOB_COLUMN_NAMES,
  DELETED_COLUMNS,
  JOB_COLUMNS,
  presentColumnNames,
  SKIP_HELD,
  UPDATABLE_JOB_COLUMNS,
  type ErrorColumn,
  type JobColumn,
  type UpdatableJobColumn,
} from "../rows.js";
import type { ParamType, WhereDialect } from "../where.js";

/** Key of the advisory lock that serialises migrations across servers (one bigint: "wharf" in ASCII). */
const MIGRATION_LOCK = 0x7768617266;
/** Key of the session advisory lock the leader among the servers sharing a database holds ("wharl"). */
export const LEADER_LOCK = 0x776861726c;
/** The channel every write that leaves a job ready notifies, so the other servers' streams wake. */
export const READY_CHANNEL = "wharf_ready";
/** The channel a server announces leases it ended on someone else's behalf on; payloads are leasePayloads chunks. */
export const LEASES_ENDED_CHANNEL = "wharf_leases_ended";
/** The channel a change of a queue's settings notifies, so every server's settings cache reads them again at once. */
export const QUEUE_SETTINGS_CHANNEL = "wharf_queue_settings";
/** Job lifecycle events between servers (src/engine/coordination/shared-events.ts). */
export const EVENTS_CHANNEL = "wharf_events";
const NOTIFY_SETTINGS = `pg_notify('${QUEUE_SETTINGS_CHANNEL}', '')`;

const JOB_COLUMN_TYPES: Record<JobColumn, string> = {
  id: "text", queue: "text", type: "text", priority: "int4", status: "text", payload: "text", ready_at: "int8",
  attempts: "int4", retry_limit: "int4", backoff: "jsonb", retention: "jsonb", unique_key: "text", unique_while: "text",
  timeout: "float8", dequeued_at: "int8", failed_at: "int8", completed_at: "int8", purge_at: "int8", run_id: "text",
  lease_expires_at: "int8", batch: "text", correlation_id: "text", parent_job_id: "text", result: "text", state: "text", deadline: "int8", dependencies: "text", load_dependencies: "bool", runs_on: "text", retry_policy: "text", concurrency_key: "text", created_at: "int8",
  throttle_ms: "int8", debounce_ms: "int8", throttled_until: "int8", signature: "text", signed_ready_at: "int8", progress: "text",
};

const ERROR_COLUMN_TYPES: Record<ErrorColumn, string> = {
  job_id: "text", attempt: "int4", message: "text", error_type: "text", backtrace: "text", dequeued_at: "int8", failed_at: "int8",
};

/** `unnest($1::t1[], $2::t2[], ...)`: one row per array element, one column per array. */
function unnestArrays(types: readonly string[], firstParam = 1): string {
  return `unnest(${types.map((type, index) => `$${firstParam + index}::${type}[]`).join(", ")})`;
}

/** Deletes the jobs `jobsWhere` selects and their errors; returns what was deleted, by id. */
function deleteJobsAndErrors(jobsWhere: string, errorsWhere = "WHERE job_id IN (SELECT id FROM deleted)"): string {
  return `WITH deleted AS (DELETE FROM jobs ${jobsWhere} RETURNING ${DELETED_COLUMNS}),
    deleted_errors AS (DELETE FROM job_errors ${errorsWhere})
    SELECT ${DELETED_COLUMNS} FROM deleted ORDER BY id`;
}

/** Integer parameters compared with int4 columns are cast to int8, so a bound past int4 compares instead of failing. */
function insertJobsText(present: number): string {
  const columns = presentColumnNames(present);
  return `INSERT INTO jobs (${columns.join(", ")}) SELECT * FROM ${unnestArrays(columns.map((column) => JOB_COLUMN_TYPES[column]))}`;
}

/**
 * A statement per set of columns present (rows.ts presentColumns), built once each: an insert binds
 * an array only for the columns some job of the batch has; the others default to NULL. Binding all
 * 38, NULLs and all, cost a bulk enqueue on PostgreSQL about a tenth of its rate.
 */
function byColumnsPresent(text: (insert: string) => string): (present: number) => string {
  const texts = new Map<number, string>();
  return (present) => {
    let built = texts.get(present);
    if (built === undefined) texts.set(present, (built = text(insertJobsText(present))));
    return built;
  };
}

/** Leases the jobs `picked` selects: in flight, dequeued at $3, owned by $4, each with a fresh run id and a lease. */
function claimStatement(picked: string): string {
  return `WITH picked AS MATERIALIZED (${picked})
    UPDATE jobs SET status = 'in_flight', dequeued_at = $3::int8, run_id = gen_random_uuid()::text, owner = $4::text,
      lease_expires_at = $3::int8 + coalesce(round(jobs.timeout * 1000), round($5::float8))::int8
    FROM picked WHERE jobs.id = picked.id
    RETURNING ${JOB_COLUMN_NAMES.map((column) => `jobs.${column}`).join(", ")}`;
}

/** Bit i stands for UPDATABLE_JOB_COLUMNS[i]: the columns one row of updateJobs writes. */
export function writtenMask(columns: readonly UpdatableJobColumn[]): number {
  return columns.reduce((mask, column) => mask | (1 << UPDATABLE_JOB_COLUMNS.indexOf(column)), 0);
}

function writtenIfMasked(column: UpdatableJobColumn, bit: number): string {
  return `${column} = CASE WHEN change.written & ${1 << bit} <> 0 THEN change.${column} ELSE job.${column} END`;
}

/** A claim at $3 starts no job past its deadline: the deadline service makes such jobs dead. */
const BEFORE_DEADLINE = "(deadline IS NULL OR deadline > $3::int8)";

/**
 * The claims of the hot path skip paused queues and queues with limits (claimLimited takes
 * those, under a lock); the list is read once per statement, so a setting holds on every server. The
 * statements that walk queues one by one leave such queues out of the walk (`skipSettled`), not row by
 * row: a condition on every row inside the per-queue scan let the planner trade that ordered index scan
 * for a worse one once the table's statistics changed (the drain fell to 2,000 jobs/s).
 */
const SETTLED_QUEUES = "ARRAY(SELECT queue FROM queue_settings WHERE paused OR limited)";
const CLAIMABLE = `${BEFORE_DEADLINE} AND queue <> ALL(${SETTLED_QUEUES})`;
const unlessSettled = (skipSettled: boolean): string => (skipSettled ? `WHERE wanted.queue <> ALL(${SETTLED_QUEUES})` : "");

/** claimReadyFromQueues; with `skipSettled`, of the queues in $1 without settings that keep them from it. */
function fromQueues(skipSettled: boolean): string {
  return claimStatement(`SELECT candidate.id FROM unnest($1::text[]) AS wanted(queue),
      LATERAL (SELECT id, priority FROM jobs WHERE status = 'ready' AND queue = wanted.queue AND ${BEFORE_DEADLINE}
        ORDER BY priority, id LIMIT $2 FOR UPDATE SKIP LOCKED) AS candidate
      ${unlessSettled(skipSettled)}
      ORDER BY candidate.priority, candidate.id LIMIT $2`);
}

/** claimReadyOfTypes; `skipSettled` as for fromQueues. */
function ofTypes(skipSettled: boolean): string {
  return claimStatement(`WITH RECURSIVE ready_queue(queue) AS (
        (SELECT queue FROM jobs WHERE status = 'ready' AND $1::text[] IS NULL ORDER BY queue LIMIT 1)
        UNION ALL
        SELECT (SELECT queue FROM jobs WHERE status = 'ready' AND queue > ready_queue.queue ORDER BY queue LIMIT 1)
        FROM ready_queue WHERE ready_queue.queue IS NOT NULL),
      wanted(queue) AS (SELECT unnest($1::text[]) UNION ALL SELECT queue FROM ready_queue WHERE queue IS NOT NULL)
    SELECT candidate.id FROM wanted, unnest($6::text[]) AS wanted_type(type),
      LATERAL (SELECT id, priority FROM jobs WHERE status = 'ready' AND queue = wanted.queue AND type = wanted_type.type AND ${BEFORE_DEADLINE}
        ORDER BY priority, id LIMIT $2 FOR UPDATE SKIP LOCKED) AS candidate
    ${unlessSettled(skipSettled)}
    ORDER BY candidate.priority, candidate.id LIMIT $2`);
}

/** A ready job of the one queue in $1 and of the types $6 (any, when null), for claimPerKey. */
const PER_KEY_CANDIDATE = `status = 'ready' AND queue = ($1::text[])[1] AND ($6::text[] IS NULL OR type = ANY($6::text[])) AND ${BEFORE_DEADLINE}`;
const laneRoom = (lane: string): string => `coalesce((SELECT room FROM unnest($7::text[], $8::int4[]) AS named(lane, room) WHERE named.lane = ${lane}), $9::int4)`;

const NOTIFY_READY = `SELECT pg_notify('${READY_CHANNEL}', '')`;

/** Types of updateJobs' per-update arrays: the conditions, then the columns it may write. */
const UPDATE_PARAM_TYPES = ["text", "text", "text", "int8", "bool", "int4", ...UPDATABLE_JOB_COLUMNS.map((column) => JOB_COLUMN_TYPES[column])];

/**
 * The single-statement end of a job (completed or dead) leaves alone a job others wait for: such a job
 * ends in a transaction that settles its dependents as well (postgres-store.ts commit).
 */
const UNLESS_DEPENDED_ON_UPDATE = "\n        AND NOT (job.has_dependents AND change.status IN ('completed', 'dead'))";

/**
 * A job that ends drops its own edges in the statement that ends it (the jobs it waited for may be
 * purged now), so ending a dependent needs no transaction of its own: an index probe for jobs without.
 */
const DROP_OWN_EDGES = (ended: string): string => `dropped_edges AS (DELETE FROM job_dependencies WHERE job_id IN (${ended}))`;

function updateJobsText(settling: boolean): string {
  return `WITH updated AS (
      UPDATE jobs AS job SET ${UPDATABLE_JOB_COLUMNS.map(writtenIfMasked).join(", ")},
        owner = CASE WHEN change.status = 'in_flight' AND change.run_id IS NOT NULL THEN job.owner END,
        unique_forfeited = job.unique_forfeited OR (change.enters_unique_scope AND EXISTS (
          SELECT 1 FROM jobs AS holder WHERE holder.unique_hold = job.unique_key AND holder.id <> job.id))
      FROM ${unnestArrays(UPDATE_PARAM_TYPES)}
        AS change(id, from_status, from_run_id, expired_by, enters_unique_scope, written, ${UPDATABLE_JOB_COLUMNS.join(", ")})
      WHERE job.id = change.id AND job.id = ANY($1::text[]) AND job.status = change.from_status
        AND (change.from_run_id IS NULL OR job.run_id = change.from_run_id)
        AND (change.expired_by IS NULL OR job.lease_expires_at <= change.expired_by)${settling ? "" : UNLESS_DEPENDED_ON_UPDATE}
      RETURNING job.id, job.status, job.queue, change.from_status),
    recorded AS (
      INSERT INTO job_errors (${ERROR_COLUMN_NAMES.join(", ")})
      SELECT * FROM ${unnestArrays(ERROR_COLUMN_NAMES.map((column) => ERROR_COLUMN_TYPES[column]), UPDATE_PARAM_TYPES.length + 1)}
        AS error(${ERROR_COLUMN_NAMES.join(", ")})
      WHERE error.job_id IN (SELECT id FROM updated)
      ON CONFLICT (job_id, attempt) DO UPDATE SET
        ${ERROR_COLUMN_NAMES.slice(2).map((column) => `${column} = EXCLUDED.${column}`).join(", ")}),
    woken AS (SELECT pg_notify('${READY_CHANNEL}', '') FROM updated WHERE status = 'ready'
      OR (from_status = 'in_flight' AND queue IN (SELECT queue FROM queue_settings WHERE limited)) LIMIT 1),
    ${DROP_OWN_EDGES("SELECT id FROM updated WHERE status IN ('completed', 'dead')")}
    SELECT id, (SELECT count(*) FROM woken) AS woke FROM updated`;
}

function deleteJobsText(settling: boolean): string {
  return `WITH target AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS target(id, from_status, from_run_id, expired_by)),
    deleted AS (DELETE FROM jobs USING target
      WHERE jobs.id = target.id AND jobs.id = ANY($1::text[])
        AND (target.from_status IS NULL OR jobs.status = target.from_status)
        AND (target.from_run_id IS NULL OR jobs.run_id = target.from_run_id)
        AND (target.expired_by IS NULL OR jobs.lease_expires_at <= target.expired_by)${settling ? "" : " AND NOT jobs.has_dependents"}
      RETURNING jobs.id, jobs.queue, jobs.type, jobs.status, jobs.priority, jobs.attempts, jobs.concurrency_key),
    deleted_errors AS (DELETE FROM job_errors WHERE job_id IN (SELECT id FROM deleted)),
    ${DROP_OWN_EDGES("SELECT id FROM deleted")}
    SELECT ${DELETED_COLUMNS} FROM deleted`;
}

export const SQL = {
  cronGroupNames: "SELECT name FROM cron_groups ORDER BY name",
  cronGroupByName: "SELECT document, revision FROM cron_groups WHERE name = $1",
  dueCronGroups: "SELECT document, revision FROM cron_groups WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
  nextCronDueAt: "SELECT min(next_due_at) AS at FROM cron_groups",
  insertCronGroup: "INSERT INTO cron_groups (name, document, next_due_at, revision) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name",
  updateCronGroup: "UPDATE cron_groups SET document = $1, next_due_at = $2, revision = $3 WHERE name = $4 AND revision = $5 RETURNING name",
  deleteCronGroup: "DELETE FROM cron_groups WHERE name = $1 AND revision = $2 RETURNING name",
  deleteCronGroups: "DELETE FROM cron_groups RETURNING name",
  /** Held until the transaction ends: one batch session per key across every server (hash collisions only serialize more). */
  lockBatchKey: "SELECT pg_advisory_xact_lock(hashtextextended('wharf.batch:' || $1::text, 0))",
  /** Held until the transaction ends: inserts into one capped queue (max_entries) take turns across every server. */
  lockQueueEntries: "SELECT pg_advisory_xact_lock(hashtextextended('wharf.entries:' || $1::text, 0))",
  /**
   * The waiting jobs of queue $1 not among $2, newest first, past the first $4 of them, at most $3 (null:
   * all): what a capped queue has no room for (src/store/caps.ts). Not locked (a lock would also take the
   * rows OFFSET steps past, which claims would then skip): the discards are fenced on the status read.
   */
  waitingBeyond: `SELECT ${JOB_COLUMNS} FROM jobs WHERE queue = $1 AND status IN ('blocked', 'scheduled', 'ready') AND id <> ALL($2::text[])
    ORDER BY id DESC LIMIT $3 OFFSET $4`,
  /** JOB_COLUMNS and the key of the jobs the keys name as open, locked so no claim takes them until the session ends. */
  openBatchJobs: `SELECT ${JOB_COLUMNS}, open_batches.key AS batch_key FROM open_batches JOIN jobs ON jobs.id = open_batches.job_id
    WHERE open_batches.key = ANY($1::text[]) FOR UPDATE OF jobs`,
  /** Parameters: ids, payloads. Fenced as src/job/state.ts takesFolds judges: ready and never taken. */
  foldPayloads: `UPDATE jobs SET payload = fold.payload FROM unnest($1::text[], $2::text[]) AS fold(id, payload)
    WHERE jobs.id = fold.id AND jobs.status = 'ready' AND jobs.dequeued_at IS NULL AND jobs.attempts = 0 RETURNING jobs.id`,
  /** Parameters: keys, ids. */
  openBatches: `INSERT INTO open_batches (key, job_id) SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT (key) DO UPDATE SET job_id = EXCLUDED.job_id`,
  deleteOpenBatches: "DELETE FROM open_batches",
  /** Marks the unfinished jobs among $1 as depended on, locking them until the transaction ends; returns the ids marked. */
  markDependedOn: "UPDATE jobs SET has_dependents = true WHERE id = ANY($1::text[]) AND status <> 'dead' RETURNING id",
  statusesOf: "SELECT id, status FROM jobs WHERE id = ANY($1::text[])",
  resultSizesOf: "SELECT id, octet_length(result) AS bytes FROM jobs WHERE result IS NOT NULL AND id = ANY($1::text[])",
  resultsOf: "SELECT id, result FROM jobs WHERE result IS NOT NULL AND id = ANY($1::text[])",
  /** Parameters: job ids, the ids they wait for, whether each of those has completed already. */
  insertEdges: "INSERT INTO job_dependencies (job_id, depends_on, met) SELECT * FROM unnest($1::text[], $2::text[], $3::bool[]) ON CONFLICT DO NOTHING",
  /** Marks met the unmet edges on the (completed) dependencies $1; returns them. */
  meetEdges: "UPDATE job_dependencies SET met = true WHERE depends_on = ANY($1::text[]) AND NOT met RETURNING job_id, depends_on",
  /** Removes the edges on the (dead or deleted) dependencies $1; returns them. */
  releaseEdges: "DELETE FROM job_dependencies WHERE depends_on = ANY($1::text[]) RETURNING job_id, depends_on",
  /** Locked in id order, so two transactions settling one dependent queue up instead of deadlocking. */
  lockBlocked: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[]) AND status = 'blocked' ORDER BY id FOR UPDATE`,
  edgesLeft: "SELECT job_id, count(*)::int AS count FROM job_dependencies WHERE job_id = ANY($1::text[]) AND NOT met GROUP BY job_id",
  dropEdgesOf: "DELETE FROM job_dependencies WHERE job_id = ANY($1::text[])",
  deleteAllEdges: "DELETE FROM job_dependencies",
  queueSettings: "SELECT queue, paused, max_in_flight, settings FROM queue_settings ORDER BY queue",
  queueSettingsOf: "SELECT queue, paused, max_in_flight, settings FROM queue_settings WHERE queue = $1",
  /** Parameters: an array of queue names. */
  queueSettingsOfAny: "SELECT queue, paused, max_in_flight, settings FROM queue_settings WHERE queue = ANY($1::text[])",
  /**
   * Parameters: queue, paused, max_in_flight, limited, the other settings as JSON text. Every server's
   * settings cache is told; a queue not paused afterwards wakes every server's claims.
   */
  putQueueSettings: `WITH written AS (INSERT INTO queue_settings (queue, paused, max_in_flight, limited, settings) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, max_in_flight = excluded.max_in_flight, limited = excluded.limited, settings = excluded.settings RETURNING paused)
    SELECT ${NOTIFY_SETTINGS}, (SELECT pg_notify('${READY_CHANNEL}', '') FROM written WHERE NOT paused) FROM written`,
  /** Back to the defaults: not paused, so every server's claims wake. */
  deleteQueueSettings: `WITH deleted AS (DELETE FROM queue_settings WHERE queue = $1 RETURNING queue)
    SELECT ${NOTIFY_SETTINGS}, pg_notify('${READY_CHANNEL}', '') FROM deleted`,
  deleteAllQueueSettings: `WITH deleted AS (DELETE FROM queue_settings RETURNING queue) SELECT ${NOTIFY_SETTINGS} FROM deleted LIMIT 1`,
  insertWorkflow: "INSERT INTO workflows (id, created_at, document) VALUES ($1, $2, $3)",
  workflowById: "SELECT id, created_at, document FROM workflows WHERE id = $1",
  deleteWorkflow: "DELETE FROM workflows WHERE id = $1 RETURNING id",
  deleteAllWorkflows: "DELETE FROM workflows",
  /** Workflows without a job left, at most $1 of them. */
  purgeWorkflows: `DELETE FROM workflows WHERE id IN (SELECT id FROM workflows
      WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.correlation_id = workflows.id) LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id`,
  /** Which of $1 others wait for (or did). */
  dependedOn: "SELECT id FROM jobs WHERE id = ANY($1::text[]) AND has_dependents",
  /** Which of $1 an edge names as a dependency. */
  dependedOnByEdges: "SELECT DISTINCT depends_on AS id FROM job_dependencies WHERE depends_on = ANY($1::text[])",
  /** Parameters: one array per column of presentColumnNames(present). */
  insertJobs: byColumnsPresent((insert) => insert),
  /** insertJobs of jobs that hold their keys one way (rows.ts KeyHold), skipping each whose key another job holds; returns the ids it inserted. */
  insertJobsUnlessHeld: {
    status: byColumnsPresent((insert) => `${insert} ${SKIP_HELD.status} RETURNING id`),
    window: byColumnsPresent((insert) => `${insert} ${SKIP_HELD.window} RETURNING id`),
  },
  /** insertJobs, and a notification on commit (for batches with a ready job), in one statement. */
  insertJobsAndNotify: byColumnsPresent((insert) => `WITH inserted AS (${insert}) ${NOTIFY_READY}`),
  /** Delivered to every listener when the transaction commits; identical ones in one transaction are sent once. */
  notifyReady: NOTIFY_READY,
  /** $1: a payload of ended leases. */
  notifyLeasesEnded: `SELECT pg_notify('${LEASES_ENDED_CHANNEL}', $1)`,
  publishWorkers: `INSERT INTO worker_registry (server, workers, updated_at) VALUES ($1, $2, $3)
    ON CONFLICT (server) DO UPDATE SET workers = excluded.workers, updated_at = excluded.updated_at`,
  publishedWorkers: "SELECT server, workers FROM worker_registry WHERE updated_at >= $1 ORDER BY server",
  withdrawWorkers: "DELETE FROM worker_registry WHERE server = $1",
  /** $1: an events message. */
  notifyEvents: `SELECT pg_notify('${EVENTS_CHANNEL}', $1)`,
  /**
   * Compare-and-set on status and, where the expected run is not null, on the run (and, where given, on
   * the stored lease having run out). Parameters: ids, expected statuses, expected run ids, lease
   * deadlines, whether each enters its unique scope, which columns each writes (writtenMask), one array
   * per UPDATABLE_JOB_COLUMNS, then one array per ERROR_COLUMN_NAMES: the error records that go with
   * the updates, each inserted (or replacing its attempt's record) only if its job's update applied.
   * Columns a change does not write keep their stored value, so a patch does not undo a lease another
   * server extended meanwhile. The owner stays only while the job stays in flight in a run. A job
   * entering its unique scope while another job holds its key gives the key up; two such jobs with one
   * key must not share a statement, as neither would see the other take it. An update that leaves a
   * job ready notifies, on commit. Returns the ids it updated.
   */
  updateJobs: updateJobsText(false),
  /** updateJobs for ends of jobs others wait for, in the transaction that settles their dependents. */
  updateJobsSettling: updateJobsText(true),
  /**
   * Claims up to $2 ready jobs of any queue ($1 is null) in take order, skipping rows
   * another claimer has locked, and leases them to owner $4 at time $3: a fresh run id each, and a
   * lease of the job's timeout or else $5 ms, rounded to whole ms. Rows come back in no particular order.
   */
  claimReady: claimStatement(`SELECT id FROM jobs WHERE status = 'ready' AND $1::text[] IS NULL AND ${CLAIMABLE}
      ORDER BY priority, id LIMIT $2 FOR UPDATE SKIP LOCKED`),
  /**
   * claimReady for a list of queues. \`queue = ANY(list)\` cannot walk the (queue, priority, id) index in
   * order, so it would sort every ready job of those queues on each claim; instead each queue gives
   * its first $2 by an ordered index scan, and the merge keeps the first $2 of those. The rows a queue
   * locked beyond the merge's cut stay ready and are unlocked when the statement ends.
   */
  claimReadyFromQueues: fromQueues(true),
  /**
   * claimReady for the job types $6, from the queues $1 or, where $1 is null, from every queue that has
   * a ready job (found by a skip scan of the ready index, one step per queue). Each queue and type gives
   * its first $2 by an ordered scan of (queue, type, priority, id), so ready jobs of other types, however
   * many, are never read; the merge keeps the first $2 of those.
   */
  claimReadyOfTypes: ofTypes(true),
  /** claimReadyFromQueues and claimReadyOfTypes for one limited queue ($1), its settings row locked and its room ($2) counted. */
  claimLimitedFromQueues: fromQueues(false),
  claimLimitedOfTypes: ofTypes(false),
  /** The settings of the queues $1 that have limits and are not paused, locked in queue order: limited claims of a queue take turns. */
  lockQueueLimits: "SELECT queue, paused, max_in_flight, settings FROM queue_settings WHERE queue = ANY($1::text[]) AND limited AND NOT paused ORDER BY queue FOR UPDATE",
  /** The jobs of queue $1 in flight, by lane. */
  inFlightByLane: "SELECT coalesce(concurrency_key, '') AS lane, count(*)::int AS count FROM jobs WHERE status = 'in_flight' AND queue = $1 GROUP BY 1",
  rateLogsOf: "SELECT lane, starts FROM queue_rate_starts WHERE queue = $1",
  /** Parameters: queue, lanes, their logs as JSON text. */
  putRateLogs: `INSERT INTO queue_rate_starts (queue, lane, starts) SELECT $1, * FROM unnest($2::text[], $3::text[])
    ON CONFLICT (queue, lane) DO UPDATE SET starts = excluded.starts`,
  deleteRateLogs: "DELETE FROM queue_rate_starts WHERE queue = $1 AND lane = ANY($2::text[])",
  /**
   * claimLimitedFromQueues for a queue ($1, one) with per-key limits: each key's ready jobs (found by a
   * skip scan of jobs_ready_by_key, one step per key) give their first as many as the key's room, the
   * unkeyed ones theirs; the merge keeps the first $2. $6 types or null; a lane's room is its entry of
   * $8 where $7 names it, else $9.
   */
  claimPerKey: claimStatement(`WITH RECURSIVE lane_key(key) AS (
        (SELECT concurrency_key FROM jobs WHERE status = 'ready' AND queue = ($1::text[])[1] AND concurrency_key IS NOT NULL ORDER BY concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT concurrency_key FROM jobs WHERE status = 'ready' AND queue = ($1::text[])[1] AND concurrency_key > lane_key.key ORDER BY concurrency_key LIMIT 1)
        FROM lane_key WHERE lane_key.key IS NOT NULL)
    SELECT candidate.id FROM (
        SELECT keyed.id, keyed.priority FROM lane_key, LATERAL (SELECT id, priority FROM jobs WHERE ${PER_KEY_CANDIDATE} AND concurrency_key = lane_key.key
          ORDER BY priority, id LIMIT ${laneRoom("lane_key.key")} FOR UPDATE SKIP LOCKED) AS keyed
        WHERE lane_key.key IS NOT NULL
        UNION ALL
        SELECT unkeyed.id, unkeyed.priority FROM (SELECT id, priority FROM jobs WHERE ${PER_KEY_CANDIDATE} AND concurrency_key IS NULL
          ORDER BY priority, id LIMIT ${laneRoom("''")} FOR UPDATE SKIP LOCKED) AS unkeyed
      ) AS candidate
    ORDER BY candidate.priority, candidate.id LIMIT $2`),
  /** $3 rounded to whole ms: a lease computed from a fractional timeout must not fail the bigint column. $4: saved state, or null to keep it. */
  extendLease: `UPDATE jobs SET lease_expires_at = round($3::float8)::int8, state = coalesce($4::text, state), progress = coalesce($5::text, progress)
    WHERE id = $1 AND status = 'in_flight' AND run_id = $2 RETURNING id`,
  /** In flight and leased by one of the owners $1 (servers that are gone), or with a lease that ran out by $2. */
  abandonedLeases: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'in_flight' AND (owner = ANY($1::text[]) OR lease_expires_at <= $2::int8)
    ORDER BY lease_expires_at, id LIMIT $3`,
  /**
   * Deletes jobs, each only while it has the expected status and run where those are not null.
   * Parameters: ids, expected statuses, expected run ids, lease deadlines. Errors go with their job.
   * Returns what was deleted, in no particular order.
   */
  deleteJobs: deleteJobsText(false),
  /** deleteJobs for jobs others wait for, in the transaction that settles their dependents. */
  deleteJobsSettling: deleteJobsText(true),
  jobsHoldingKeys: `SELECT ${JOB_COLUMNS} FROM jobs WHERE unique_hold = ANY($1::text[])`,
  /** The jobs holding windows: $1 unique keys, $2 the windows' ends, pairwise. */
  jobsHoldingWindows: `SELECT ${JOB_COLUMNS} FROM jobs WHERE (unique_key, throttled_until) IN (SELECT * FROM unnest($1::text[], $2::int8[]))`,
  jobById: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`,
  jobsByIds: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[])`,
  /** SKIP LOCKED: servers purging at the same time take different rows instead of queueing behind each other. */
  purgeDue: deleteJobsAndErrors(`WHERE id IN (
      SELECT id FROM jobs WHERE purge_at IS NOT NULL AND purge_at <= $1 AND status IN ('completed', 'dead')
        AND NOT EXISTS (SELECT 1 FROM job_dependencies WHERE depends_on = jobs.id)
      ORDER BY purge_at LIMIT $2 FOR UPDATE SKIP LOCKED)`),
  countByQueueAndStatus: "SELECT queue, status, count(*) AS count FROM jobs GROUP BY queue, status",
  readyEntries: "SELECT id, queue, type, priority, concurrency_key FROM jobs WHERE status = 'ready'",
  jobsWithStatus: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = $1 ORDER BY id LIMIT $2`,
  dueScheduled: `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'scheduled' AND ready_at <= $1 ORDER BY ready_at LIMIT $2`,
  /** Jobs waiting to start whose deadline passed by $1, earliest first. */
  missedDeadlines: `SELECT ${JOB_COLUMNS} FROM jobs WHERE deadline <= $1 AND deadline IS NOT NULL AND status IN ('scheduled', 'ready') ORDER BY deadline LIMIT $2`,
  agedJobs: `SELECT ${JOB_COLUMNS} FROM jobs WHERE queue = $1 AND status IN ('scheduled', 'ready') AND created_at < $2
    ORDER BY created_at LIMIT $3`,
  nextDeadline: "SELECT min(deadline) AS at FROM jobs WHERE deadline IS NOT NULL AND status IN ('scheduled', 'ready')",
  nextScheduledAt: "SELECT min(ready_at) AS at FROM jobs WHERE status = 'scheduled'",
  errorsAsc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = $1 AND attempt > $2::int8 ORDER BY attempt ASC LIMIT $3`,
  errorsDesc: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = $1 AND attempt < $2::int8 ORDER BY attempt DESC LIMIT $3`,
  errorByAttempt: `SELECT ${ERROR_READ_COLUMNS} FROM job_errors WHERE job_id = $1 AND attempt = $2::int8`,
  lockMigrations: `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`,
  /** Session-scoped: held until unlocked or the connection ends. Repeated calls stack, so call it only while not leading. */
  tryLead: `SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS locked`,
  ping: "SELECT 1",
  createMigrationsTable: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
  appliedMigrations: "SELECT version FROM schema_migrations",
  recordMigration: "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
} as const;

/** Statements whose WHERE clause is built from a JobQuery (see WhereBuilder). */
export const QUERY_SQL = {
  /** Deletes every job when `where` is empty, and then every error too, orphans included. */
  deleteMatching: (where: string): string => (where === "" ? deleteJobsAndErrors("", "") : deleteJobsAndErrors(where)),
};

const PLACEHOLDER_CASTS: Record<ParamType, string> = { text: "", integer: "::int8", "text-list": "::text[]" };

/**
 * Numbered `$n` parameters, cast so that an out-of-range bound (a priority
 * filter beyond int4, say) compares instead of failing; lists travel as arrays.
 */
export const POSTGRES_DIALECT: WhereDialect = {
  placeholder: (position, type) => `$${position}${PLACEHOLDER_CASTS[type]}`,
  inList: (column, placeholder) => `${column} = ANY(${placeholder})`,
  listValue: (values) => [...values],
};
