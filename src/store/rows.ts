/**
 * Jobs and errors as table rows, shared by every SQL store. Both drivers are
 * set up to hand rows back in this one shape: integers as numbers, JSON
 * columns as JSON text. Payloads go through src/job/json.ts, so integers past 2^53 keep every digit
 * and the text a store keeps is the text it was given, key order and all.
 */
import { parseJson, stringifyJson } from "../job/json.js";
import { hasClaimLimits } from "../job/queue-limits.js";
import type { Job, JobError, JobStatus, JsonValue, UniqueWhile } from "../job/types.js";
import type { QueueSettings } from "./store.js";

export const JOB_COLUMN_NAMES = [
  "id", "queue", "type", "priority", "status", "payload", "ready_at", "attempts", "retry_limit", "backoff", "retention",
  "unique_key", "unique_while", "timeout", "dequeued_at", "failed_at", "completed_at", "purge_at", "run_id", "lease_expires_at",
  "batch", "correlation_id", "parent_job_id", "result", "state", "deadline", "dependencies", "load_dependencies", "runs_on", "retry_policy",
  "concurrency_key", "created_at", "throttle_ms", "debounce_ms", "throttled_until", "signature", "signed_ready_at", "progress",
] as const;
export type JobColumn = (typeof JOB_COLUMN_NAMES)[number];

/** The columns every job has a value for: the first of JOB_COLUMN_NAMES. The rest are optional (NULL when absent). */
export const REQUIRED_COLUMNS = 8;

/** Which optional columns of a job's values (jobToValues) are not NULL: bit i for column REQUIRED_COLUMNS + i. */
export function presentColumns(values: readonly unknown[]): number {
  let present = 0;
  for (let index = REQUIRED_COLUMNS; index < values.length; index++) if (values[index] !== null) present |= 1 << (index - REQUIRED_COLUMNS);
  return present;
}

/** The columns a presentColumns mask names, the required ones first, in JOB_COLUMN_NAMES order. */
export function presentColumnNames(present: number): JobColumn[] {
  return JOB_COLUMN_NAMES.filter((_column, index) => index < REQUIRED_COLUMNS || (present & (1 << (index - REQUIRED_COLUMNS))) !== 0);
}
export const JOB_COLUMNS = JOB_COLUMN_NAMES.join(", ");

/**
 * What a status change may rewrite: everything but the id, type, payload and unique key. Stores
 * also keep an `owner` column (the server whose claimReady leased the job) that is no Job field:
 * an update clears it whenever the job it writes is not in flight in a run.
 */
export const UPDATABLE_JOB_COLUMNS = [
  "queue", "priority", "status", "ready_at", "attempts", "retry_limit", "backoff", "retention", "timeout",
  "dequeued_at", "failed_at", "completed_at", "purge_at", "run_id", "lease_expires_at", "result", "state", "dependencies",
] as const satisfies readonly JobColumn[];
export type UpdatableJobColumn = (typeof UPDATABLE_JOB_COLUMNS)[number];

export const ERROR_COLUMN_NAMES = ["job_id", "attempt", "message", "error_type", "backtrace", "dequeued_at", "failed_at"] as const;
export type ErrorColumn = (typeof ERROR_COLUMN_NAMES)[number];
/** The columns of an error as it is read back (without its job id). */
export const ERROR_READ_COLUMNS = ERROR_COLUMN_NAMES.slice(1).join(", ");

/**
 * How a job holds its unique key, which decides what an insert of it conflicts on: "status" by
 * the unique index on unique_hold (its unique_while scope), "window" by the one on (unique_key,
 * throttled_until) (a throttled job), "none" without a key.
 */
export type KeyHold = "none" | "status" | "window";

export function keyHoldOf(job: Job): KeyHold {
  if (job.unique_key === undefined) return "none";
  return job.throttled_until === undefined ? "status" : "window";
}

/** The clause that makes an insert skip, rather than fail, a job whose key another job holds, as both dialects spell it. */
export const SKIP_HELD: Record<Exclude<KeyHold, "none">, string> = {
  status: "ON CONFLICT (unique_hold) WHERE unique_hold IS NOT NULL DO NOTHING",
  window: "ON CONFLICT (unique_key, throttled_until) WHERE throttled_until IS NOT NULL DO NOTHING",
};

/** What a delete returns of each job it removed (a DeletedJob). */
export const DELETED_COLUMNS = "id, queue, type, status, priority, attempts, concurrency_key";

export type ColumnValue = string | number | null;

/** A jobs row as the drivers return it. */
export type JobRow = {
  id: string;
  queue: string;
  type: string;
  priority: number;
  status: string;
  payload: string;
  ready_at: number;
  attempts: number;
  retry_limit: number | null;
  backoff: string | null;
  retention: string | null;
  unique_key: string | null;
  unique_while: string | null;
  timeout: number | null;
  dequeued_at: number | null;
  failed_at: number | null;
  completed_at: number | null;
  purge_at: number | null;
  run_id: string | null;
  lease_expires_at: number | null;
  batch: string | null;
  correlation_id: string | null;
  parent_job_id: string | null;
  result: string | null;
  state: string | null;
  deadline: number | null;
  dependencies: string | null;
  /** 1 (or true, as PostgreSQL keeps it) when set. */
  load_dependencies: number | boolean | null;
  runs_on: string | null;
  retry_policy: string | null;
  concurrency_key: string | null;
  created_at: number | null;
  throttle_ms: number | null;
  debounce_ms: number | null;
  throttled_until: number | null;
  signature: string | null;
  signed_ready_at: number | null;
  progress: string | null;
};

export type ResultSizeRow = { id: string; bytes: number | string };
export type ResultRow = { id: string; result: string };

/** Result sizes by id; PostgreSQL's driver may hand integers back as text. */
export function resultSizesFrom(rows: readonly ResultSizeRow[]): Map<string, number> {
  return new Map(rows.map(({ id, bytes }) => [id, Number(bytes)]));
}

export function resultsFrom(rows: readonly ResultRow[]): Map<string, JsonValue> {
  return new Map(rows.map(({ id, result }) => [id, parseJson(result) as JsonValue]));
}

export type ErrorRow = {
  attempt: number;
  message: string;
  error_type: string | null;
  backtrace: string | null;
  dequeued_at: number;
  failed_at: number;
};

export function rowToJob(row: JobRow): Job {
  const job: Job = {
    id: row.id,
    queue: row.queue,
    type: row.type,
    priority: row.priority,
    status: row.status as JobStatus,
    payload: parseJson(row.payload) as Job["payload"],
    ready_at: row.ready_at,
    attempts: row.attempts,
  };
  if (row.retry_limit !== null) job.retry_limit = row.retry_limit;
  if (row.backoff !== null) job.backoff = JSON.parse(row.backoff) as Job["backoff"];
  if (row.retention !== null) job.retention = JSON.parse(row.retention) as Job["retention"];
  if (row.unique_key !== null) job.unique_key = row.unique_key;
  if (row.unique_while !== null) job.unique_while = row.unique_while as UniqueWhile;
  if (row.timeout !== null) job.timeout = row.timeout;
  if (row.dequeued_at !== null) job.dequeued_at = row.dequeued_at;
  if (row.failed_at !== null) job.failed_at = row.failed_at;
  if (row.completed_at !== null) job.completed_at = row.completed_at;
  if (row.purge_at !== null) job.purge_at = row.purge_at;
  if (row.run_id !== null) job.run_id = row.run_id;
  if (row.lease_expires_at !== null) job.lease_expires_at = row.lease_expires_at;
  if (row.batch !== null) job.batch = JSON.parse(row.batch) as Job["batch"];
  if (row.correlation_id !== null) job.correlation_id = row.correlation_id;
  if (row.parent_job_id !== null) job.parent_job_id = row.parent_job_id;
  if (row.result !== null) job.result = parseJson(row.result) as Job["result"];
  if (row.state !== null) job.state = parseJson(row.state) as Job["state"];
  if (row.deadline !== null) job.deadline = row.deadline;
  if (row.dependencies !== null) job.dependencies = JSON.parse(row.dependencies) as string[];
  if (row.load_dependencies) job.load_dependencies = true;
  if (row.runs_on !== null) job.runs_on = row.runs_on as Job["runs_on"];
  if (row.retry_policy !== null) job.retry_policy = JSON.parse(row.retry_policy) as Job["retry_policy"];
  if (row.concurrency_key !== null) job.concurrency_key = row.concurrency_key;
  if (row.created_at !== null) job.created_at = row.created_at;
  if (row.throttled_until !== null) {
    job.throttled_until = row.throttled_until;
    if (row.throttle_ms !== null) job.throttle_ms = row.throttle_ms;
    if (row.debounce_ms !== null) job.debounce_ms = row.debounce_ms;
  }
  if (row.progress !== null) job.progress = parseJson(row.progress) as Job["progress"];
  if (row.signature !== null) {
    job.signature = row.signature;
    if (row.signed_ready_at !== null) job.signed_ready_at = row.signed_ready_at;
  }
  return job;
}

/** A jobs row as positional values, in JOB_COLUMN_NAMES order: how the SQLite store reads rows (an array costs the driver less to build than an object). */
export type JobRowValues = [
  id: string, queue: string, type: string, priority: number, status: string, payload: string, ready_at: number, attempts: number,
  retry_limit: number | null, backoff: string | null, retention: string | null, unique_key: string | null, unique_while: string | null,
  timeout: number | null, dequeued_at: number | null, failed_at: number | null, completed_at: number | null, purge_at: number | null,
  run_id: string | null, lease_expires_at: number | null, batch: string | null, correlation_id: string | null,
  parent_job_id: string | null, result: string | null, state: string | null, deadline: number | null, dependencies: string | null,
  load_dependencies: number | null, runs_on: string | null, retry_policy: string | null, concurrency_key: string | null,
  created_at: number | null, throttle_ms: number | null, debounce_ms: number | null, throttled_until: number | null,
  signature: string | null, signed_ready_at: number | null, progress: string | null,
];

export function valuesToJob(values: JobRowValues): Job {
  const [
    id, queue, type, priority, status, payload, ready_at, attempts, retry_limit, backoff, retention, unique_key, unique_while,
    timeout, dequeued_at, failed_at, completed_at, purge_at, run_id, lease_expires_at, batch, correlation_id, parent_job_id, result, state, deadline, dependencies, load_dependencies, runs_on, retry_policy,
    concurrency_key, created_at, throttle_ms, debounce_ms, throttled_until, signature, signed_ready_at, progress,
  ] = values;
  return rowToJob({
    id, queue, type, priority, status, payload, ready_at, attempts, retry_limit, backoff, retention, unique_key, unique_while,
    timeout, dequeued_at, failed_at, completed_at, purge_at, run_id, lease_expires_at, batch, correlation_id, parent_job_id, result, state, deadline, dependencies, load_dependencies, runs_on, retry_policy,
    concurrency_key, created_at, throttle_ms, debounce_ms, throttled_until, signature, signed_ready_at, progress,
  });
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** A user's JSON value (a result or saved state) as a payload is kept: integers past 2^53 with every digit. */
function userJsonOrNull(value: Job["result"]): string | null {
  return value === undefined ? null : stringifyJson(value);
}

/**
 * A job's column values in JOB_COLUMN_NAMES order, JSON columns as JSON text: what every insert binds.
 * Built positionally, since it runs once per enqueued job.
 */
export function jobToValues(job: Job): JobRowValues {
  return [
    job.id, job.queue, job.type, job.priority, job.status, stringifyJson(job.payload), job.ready_at, job.attempts,
    job.retry_limit ?? null, jsonOrNull(job.backoff), jsonOrNull(job.retention), job.unique_key ?? null, job.unique_while ?? null,
    job.timeout ?? null, job.dequeued_at ?? null, job.failed_at ?? null, job.completed_at ?? null, job.purge_at ?? null,
    job.run_id ?? null, job.lease_expires_at ?? null, jsonOrNull(job.batch), job.correlation_id ?? null, job.parent_job_id ?? null,
    userJsonOrNull(job.result), userJsonOrNull(job.state), job.deadline ?? null,
    jsonOrNull(job.dependencies), job.load_dependencies ? 1 : null, job.runs_on ?? null, jsonOrNull(job.retry_policy),
    job.concurrency_key ?? null, job.created_at ?? null, job.throttle_ms ?? null, job.debounce_ms ?? null, job.throttled_until ?? null,
    job.signature ?? null, job.signed_ready_at ?? null, userJsonOrNull(job.progress),
  ];
}

/** The columns a status change rewrites, plus the id that selects the row. */
export function jobToUpdateParams(job: Job): Record<UpdatableJobColumn | "id", ColumnValue> {
  return { id: job.id, ...columnValues(job, UPDATABLE_JOB_COLUMNS) };
}

/** One column's stored value; JSON columns as JSON text. */
export function columnValue(job: Job, column: UpdatableJobColumn): ColumnValue {
  switch (column) {
    case "backoff":
    case "retention":
    case "dependencies":
      return jsonOrNull(job[column]);
    case "result":
    case "state":
      return userJsonOrNull(job[column]);
    default:
      return job[column] ?? null;
  }
}

/** The values of `columns` of a job, keyed by column name; JSON columns as JSON text. */
export function columnValues<C extends UpdatableJobColumn>(job: Job, columns: readonly C[]): Record<C, ColumnValue> {
  const values: Partial<Record<C, ColumnValue>> = {};
  for (const column of columns) values[column] = columnValue(job, column);
  return values as Record<C, ColumnValue>;
}

/** The updatable columns whose stored values differ between two versions of a job. */
export function changedColumns(before: Job, after: Job): UpdatableJobColumn[] {
  return UPDATABLE_JOB_COLUMNS.filter((column) => !sameValue(before, after, column));
}

/** Transitions copy a job field by field, so an unchanged JSON column is the same object: compared as text only when it is not. */
function sameValue(before: Job, after: Job, column: UpdatableJobColumn): boolean {
  const value = before[column];
  if (value === after[column]) return true;
  return typeof value === "object" || typeof after[column] === "object" ? columnValue(before, column) === columnValue(after, column) : false;
}

export function errorToParams(jobId: string, error: JobError): Record<ErrorColumn, ColumnValue> {
  return {
    job_id: jobId,
    attempt: error.attempt,
    message: error.message,
    error_type: error.error_type ?? null,
    backtrace: error.backtrace ?? null,
    dequeued_at: error.dequeued_at,
    failed_at: error.failed_at,
  };
}

export function rowToError(row: ErrorRow): JobError {
  const error: JobError = {
    attempt: row.attempt,
    message: row.message,
    dequeued_at: row.dequeued_at,
    failed_at: row.failed_at,
  };
  if (row.error_type !== null) error.error_type = row.error_type;
  if (row.backtrace !== null) error.backtrace = row.backtrace;
  return error;
}

/**
 * How a page of a job's errors reads: ascending or descending by attempt, after (before, when
 * descending) `afterAttempt`, or from the first (last) attempt when there is none.
 */
export function errorCursor(page: { afterAttempt?: number; order: "asc" | "desc" }): { ascending: boolean; after: number } {
  const ascending = page.order === "asc";
  return { ascending, after: page.afterAttempt ?? (ascending ? 0 : Number.MAX_SAFE_INTEGER) };
}

/** A queue_settings row as both drivers return it (paused as 0/1 or a boolean). */
export type QueueSettingsRow = { queue: string; paused: number | boolean; max_in_flight: number | null; settings: string };

export function rowToQueueSettings(row: QueueSettingsRow): { queue: string; settings: QueueSettings } {
  const settings: QueueSettings = { ...(JSON.parse(row.settings) as object), paused: Boolean(row.paused) };
  if (row.max_in_flight !== null) settings.max_in_flight = row.max_in_flight;
  return { queue: row.queue, settings };
}

/**
 * A queue's settings as the values of a queue_settings row after its queue: paused, max_in_flight,
 * whether claims must count its limits (claimLimited), the rest as JSON text.
 */
export function queueSettingsValues(settings: QueueSettings): [paused: boolean, maxInFlight: number | null, limited: boolean, others: string] {
  const { paused, max_in_flight: maxInFlight, ...others } = settings;
  return [paused, maxInFlight ?? null, hasClaimLimits(settings), JSON.stringify(others)];
}
