/** The job as it is stored and as it travels on the wire (Zizq field names). */

export const JOB_STATUSES = ["blocked", "scheduled", "ready", "in_flight", "completed", "dead"] as const;
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

/** A named retry policy (src/job/retry-policy.ts), instead of `backoff`. */
export type RetryPolicy =
  | { name: "linear_1m" | "linear_10m" | "linear_1h" }
  | { name: "constant"; delay_ms: number }
  | { name: "exponential"; base_ms: number; max_ms: number };

export interface Retention {
  completed_ms?: number;
  dead_ms?: number;
}

/**
 * A batched job's configuration (Zizq "batched jobs"): enqueues with the same key fold into the key's
 * one open job while `when` holds, `fold` giving the merged payload; both are jq with `$existing` (the
 * open job's payload) and `$new` (the incoming one) bound.
 */
export interface BatchConfig {
  key: string;
  when: string;
  fold: string;
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
  /** When the job was enqueued, ms since the epoch, by the engine's clock; absent on jobs enqueued before Wharf kept it. */
  created_at?: number;
  retry_limit?: number;
  backoff?: Backoff;
  retry_policy?: RetryPolicy;
  retention?: Retention;
  unique_key?: string;
  unique_while?: UniqueWhile;
  /** As enqueued: the job is unique by its key within aligned windows of this many ms (see throttled_until), not by status. */
  throttle_ms?: number;
  /** As enqueued: throttle_ms, and an enqueue into a held window was scheduled for the next one. */
  debounce_ms?: number;
  /** Throttled or debounced jobs: the end of the window whose key the job holds, for as long as it exists (and it exists at least until then). */
  throttled_until?: number;
  /** The batch configuration the job was enqueued with (its first enqueue's, when others folded into it). */
  batch?: BatchConfig;
  /** Metadata tying jobs of one piece of work together (NatsWork); kept, shown and filterable, never interpreted. */
  correlation_id?: string;
  /** Metadata naming the job that led to this one; kept and shown, never checked or interpreted. */
  parent_job_id?: string;
  /** The lane its queue's per-key limits count it in (concurrency_key, rate_limit with a key): its own, or its queue's key expression's value at enqueue. */
  concurrency_key?: string;
  /** What the worker's success carried: completed jobs only. */
  result?: JsonValue;
  /** Progress saved by a heartbeat; the next attempt receives it, so a retried job resumes where the last stopped. */
  state?: JsonValue;
  /** What the last heartbeat that carried one said of the work's progress (a number, or small JSON): shown, never interpreted. */
  progress?: JsonValue;
  /** Ms since the epoch: a job that has not started by then is dead (one running may finish past it). */
  deadline?: number;
  /** The jobs this one waits for, as enqueued: it is blocked until every one has completed. */
  dependencies?: string[];
  /** Base64 ed25519 signature by the job's producer (src/job/signature.ts): of its id, queue, type, payload, signed_ready_at, deadline and dependencies. */
  signature?: string;
  /** Signed jobs whose producer gave a ready_at: that ready_at, which the signature covers (ready_at itself moves with retries). */
  signed_ready_at?: number;
  /** Taken with `dependency_results`: the results of the jobs it waited for (asyncjobs' load_dependencies). */
  load_dependencies?: boolean;
  /** "failure": the job runs when one of its dependencies dies or is deleted, and is discarded unrun once all complete. */
  runs_on?: "failure";
  /** On a take of a job with load_dependencies only: each dependency's result by id (null for none). */
  dependency_results?: Record<string, JsonValue>;
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
  /** Only with a signature, which covers it: the id the producer gave the job (a fresh one otherwise). */
  id?: string;
  /** The producer's signature (src/job/signature.ts), base64. */
  signature?: string;
  queue: string;
  type: string;
  payload: JsonValue;
  priority?: number;
  ready_at?: number;
  unique_key?: string;
  unique_while?: UniqueWhile;
  /** At most one job of unique_key per window of this many ms (windows aligned to the epoch); later enqueues in the window are duplicates. */
  throttle_ms?: number;
  /** As throttle_ms, but an enqueue into a held window goes into the next window (scheduled for its start) unless that one is held too. */
  debounce_ms?: number;
  retry_limit?: number;
  backoff?: Backoff;
  retry_policy?: RetryPolicy;
  retention?: Retention;
  timeout?: number;
  batch?: BatchConfig;
  correlation_id?: string;
  parent_job_id?: string;
  concurrency_key?: string;
  deadline?: number;
  /** Ids of existing jobs; in a bulk, also positions of earlier jobs of the same bulk. */
  dependencies?: Array<string | number>;
  load_dependencies?: boolean;
  runs_on?: "success" | "failure";
}

/** Enqueue responses carry `duplicate` and `folded`; other responses do not. */
export interface EnqueuedJob extends Omit<Job, "payload"> {
  duplicate: boolean;
  /** True when the enqueue folded into its batch's open job (which is the job answered). */
  folded: boolean;
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
  /** Only `null`: the job waits for nothing any more (a blocked job is released at once). */
  dependencies?: null;
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
