import type { Job, JobError, JobStatus, UniqueWhile } from "../../job/types.js";

/** A jobs row as SQLite returns it. */
export interface JobRow {
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
}

export interface ErrorRow {
  attempt: number;
  message: string;
  error_type: string | null;
  backtrace: string | null;
  dequeued_at: number;
  failed_at: number;
}

export function rowToJob(row: JobRow): Job {
  const job: Job = {
    id: row.id,
    queue: row.queue,
    type: row.type,
    priority: row.priority,
    status: row.status as JobStatus,
    payload: JSON.parse(row.payload) as Job["payload"],
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
  return job;
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Named parameters for the insert and update statements. */
export function jobToParams(job: Job): Record<string, string | number | null> {
  return {
    id: job.id,
    queue: job.queue,
    type: job.type,
    priority: job.priority,
    status: job.status,
    payload: JSON.stringify(job.payload),
    ready_at: job.ready_at,
    attempts: job.attempts,
    retry_limit: job.retry_limit ?? null,
    backoff: jsonOrNull(job.backoff),
    retention: jsonOrNull(job.retention),
    unique_key: job.unique_key ?? null,
    unique_while: job.unique_while ?? null,
    timeout: job.timeout ?? null,
    dequeued_at: job.dequeued_at ?? null,
    failed_at: job.failed_at ?? null,
    completed_at: job.completed_at ?? null,
    purge_at: job.purge_at ?? null,
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
