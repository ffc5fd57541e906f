/** The job as it is stored and as it travels on the wire (Zizq field names). */

export const JOB_STATUSES = ["scheduled", "ready", "in_flight", "completed", "dead"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ["completed", "dead"];

export const UNIQUE_SCOPES = ["queued", "active", "exists"] as const;
export type UniqueWhile = (typeof UNIQUE_SCOPES)[number];

/** A payload value. Integers beyond 2^53 are BigInt, so they keep every digit (see src/job/json.ts). */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

export interface Backoff {
  base_ms: number;
  exponent: number;
  jitter_ms: number;
}

export interface Retention {
  completed_ms?: number;
  dead_ms?: number;
}

export interface Job {
  id: string;
  queue: string;
  type: string;
  priority: number;
  status: JobStatus;
  payload: JsonValue;
  ready_at: number;
  attempts: number;
  retry_limit?: number;
  backoff?: Backoff;
  retention?: Retention;
  unique_key?: string;
  unique_while?: UniqueWhile;
  /** Lease length in seconds for one attempt; the server default applies when absent. */
  timeout?: number;
  dequeued_at?: number;
  failed_at?: number;
  completed_at?: number;
  purge_at?: number;
  /** In flight only: the lease token of this attempt. Acks, failures and heartbeats that carry an older one are refused. */
  run_id?: string;
  /** In flight only: when the lease runs out unless a heartbeat extends it. */
  lease_expires_at?: number;
}

/** What a caller may send to enqueue a job. */
export interface EnqueueInput {
  queue: string;
  type: string;
  payload: JsonValue;
  priority?: number;
  ready_at?: number;
  unique_key?: string;
  unique_while?: UniqueWhile;
  retry_limit?: number;
  backoff?: Backoff;
  retention?: Retention;
  timeout?: number;
}

/** Enqueue responses carry `duplicate`; other responses do not. */
export interface EnqueuedJob extends Omit<Job, "payload"> {
  duplicate: boolean;
}

/** Fields a PATCH may change; `null` clears a field back to the server default. */
export interface JobPatch {
  queue?: string;
  priority?: number;
  ready_at?: number | null;
  retry_limit?: number | null;
  backoff?: Backoff | null;
  retention?: { completed_ms?: number | null; dead_ms?: number | null } | null;
  timeout?: number | null;
}

export interface FailureInput {
  message: string;
  error_type?: string;
  backtrace?: string;
  retry_at?: number;
  kill?: boolean;
}

export interface JobError {
  attempt: number;
  message: string;
  error_type?: string;
  backtrace?: string;
  dequeued_at: number;
  failed_at: number;
}

export const DEFAULT_PRIORITY = 32768;
export const MAX_PRIORITY = 65535;
