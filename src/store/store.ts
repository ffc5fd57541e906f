/**
 * The seam between the engine and where jobs live. Stores persist and query;
 * they never decide a status: every Job they are given was produced by the
 * state machine in src/job/state.ts. The interface is internal and free to
 * change; the conformance suite in test/store/ says what every store must do.
 */
import type { CronGroup } from "../cron/types.js";
import type { ConcurrencyKeyLimit, RateLimit } from "../job/queue-limits.js";
import type { Job, JobError, JobStatus, JsonValue, Retention, RetryPolicy } from "../job/types.js";
import type { DependencyRules, SettledChange } from "./dependencies.js";
import type { UpdatableJobColumn } from "./rows.js";

export interface NumberRange {
  min?: number;
  max?: number;
}

/** Conditions a store can evaluate itself; jq filters on payloads are the engine's. */
export interface JobQuery {
  ids?: string[];
  queues?: string[];
  types?: string[];
  statuses?: JobStatus[];
  correlationIds?: string[];
  priority?: NumberRange;
  ready_at?: NumberRange;
  attempts?: NumberRange;
}

export type SortOrder = "asc" | "desc";

export interface PageRequest {
  /** Exclusive cursor: ids strictly after (asc) or before (desc) this one. */
  after?: string;
  order: SortOrder;
  limit: number;
}

/**
 * A change, applied only if the stored job still has status `from` and, when `fromRunId` is given,
 * is still in that run (compare-and-set; the run id fences off a worker whose lease was taken over).
 */
export interface JobUpdate {
  job: Job;
  from: JobStatus;
  fromRunId?: string;
  /** Only while the stored lease ran out at or before this time: a lease extended elsewhere meanwhile is not ended. */
  leaseExpiredBy?: number;
  /**
   * The change brings the job back into its unique scope (src/job/state.ts entersUniqueScope). It
   * holds its key again if no other job holds it; otherwise it gives the key up for good, and the
   * update still applies.
   */
  entersUniqueScope?: boolean;
  /**
   * The columns this change writes (rows.ts changedColumns); every updatable column when absent.
   * The others keep their stored values, so a change computed from an older read (a patch) does not
   * undo what another writer did meanwhile (a lease extended elsewhere).
   */
  columns?: readonly UpdatableJobColumn[];
  /** A failed attempt's record, written (replacing one for the same attempt) only if the update applies. */
  error?: JobError;
}

/**
 * Leases ready jobs to one server in one atomic step, for stores several servers share. The store
 * writes exactly what src/job/state.ts `claim` would: status in_flight, dequeued_at = now, a fresh
 * unique run_id per job, and lease_expires_at = now + round(job.timeout * 1000), or now + defaultLeaseMs
 * for a job without a timeout.
 */
export interface ClaimRequest {
  /** Queues to take from; null means every queue. */
  queues: readonly string[] | null;
  /** Job types to take; null means every type. */
  types: readonly string[] | null;
  limit: number;
  /** The claim's time; a job whose deadline is at or before it is not claimed. */
  now: number;
  /** The claiming server, recorded with the lease for operators (which server holds what). */
  owner: string;
  defaultLeaseMs: number;
}

/** A deletion; with `from` (and `fromRunId`) it applies only while the job is still in that state and run. */
export interface JobDelete {
  id: string;
  from?: JobStatus;
  fromRunId?: string;
  /** As on JobUpdate. */
  leaseExpiredBy?: number;
  /** The deletion ends the job this way (a job its retention purges as it ends): its dependents settle as for that end, not as for a deletion. */
  ends?: "completed" | "dead";
  /**
   * A completed job's update (built only when needed), written instead of the deletion when other jobs depend on it: it stays
   * (and the purge leaves it) until they have ended, so they can read its result.
   */
  keptAs?: () => JobUpdate;
  /**
   * The job as the deciding side holds it. A store may then delete it only while its row still matches
   * this and answer this copy, instead of reading back what it deleted; a row that no longer matches is
   * deleted (or not) as if this were not given.
   */
  expected?: DeletedJob;
}

/** One atomic write: everything in it commits together or not at all. */
export interface ChangeSet {
  updates?: JobUpdate[];
  deletes?: JobDelete[];
  /** Inserted after the updates and deletes, as insertJobs inserts: a job whose unique key another job holds is skipped. */
  inserts?: Job[];
  /** The inserts' queue caps, as insertCapped applies them; the jobs discarded for room are among `settled`. */
  caps?: QueueCaps;
  /**
   * How the dependents of jobs this change completes, kills or deletes settle, in the same transaction
   * (src/store/dependencies.ts). Without rules, a change that ends a job with dependents is an error.
   */
  rules?: DependencyRules;
}

export interface ChangeResult {
  /** Per update, in order: false when the job was gone, no longer had status `from`, or was in another run than `fromRunId`. */
  updated: boolean[];
  deleted: DeletedJob[];
  /** Per insert, in order, as insertJobs answers. */
  inserted: InsertOutcome[];
  /** The dependents this change unblocked or killed, down the graph. */
  settled: SettledChange[];
  /** The deletes written as their keptAs update instead (others depend on the job). */
  kept: string[];
}

/** What a deletion by query removed, and what became of the deleted jobs' dependents. */
export interface DeleteResult {
  deleted: DeletedJob[];
  settled: SettledChange[];
}

export interface DeletedJob {
  id: string;
  queue: string;
  type: string;
  status: JobStatus;
  priority: number;
  attempts: number;
  concurrency_key?: string | null;
}

export interface InsertOutcome {
  job: Job;
  /** True when an existing job held the unique key and the insert was skipped; `job` is that job. */
  duplicate: boolean;
}

/** A lease that was ended (its job acked or failed), named by job and run. */
export interface EndedLease {
  id: string;
  runId: string;
  /** Ended by a cancel: the holder tells its stream (a control frame), not only frees the slot. */
  cancelled?: boolean;
}

export interface ReadyEntry {
  id: string;
  queue: string;
  type: string;
  priority: number;
  /** Null as the stores read it, absent or undefined otherwise: the job's lane is UNKEYED_LANE then. */
  concurrency_key?: string | null | undefined;
}

/** Which in-flight jobs no live server will end (Store.abandonedLeases). */
export interface AbandonedLeaseQuery {
  /** The engine's time: a shared store judges by it how long a server has been gone. */
  now: number;
  /** Leases that ran out at or before this time count as abandoned, whoever holds them. */
  expiredBefore: number;
  limit: number;
}

export interface StoredPayload {
  id: string;
  /** The payload's JSON text, every digit and key order as the job was enqueued with. */
  payload: string;
}

export interface StatusCount {
  queue: string;
  status: JobStatus;
  count: number;
}

/** A cron group as stored, with the revision a write fences on. */
export interface StoredCronGroup {
  group: CronGroup;
  revision: number;
}

/**
 * A cron group's new state, written only while the stored group is still at `revision` (a compare-
 * and-set: of two servers that decided from one read, one wins), with the jobs its ticks enqueue in
 * the same transaction, so a tick's job and the advance past the tick commit together or not at all.
 */
export interface CronGroupWrite {
  name: string;
  /** The revision read; undefined: the group must not exist yet. */
  revision: number | undefined;
  /** undefined deletes the group. */
  group: CronGroup | undefined;
  /** The group's earliest next_enqueue_at (src/cron/state.ts nextDueAt). */
  nextDueAt: number | undefined;
  jobs: Job[];
  /** The jobs' queue caps, applied as insertCapped applies them (a full "reject" queue fails the whole write). */
  caps?: QueueCaps;
  /** How the dependents of jobs discarded for room settle. */
  rules?: DependencyRules;
}

export interface CronWriteOutcome {
  /** False when the stored revision had moved on: nothing was written. */
  applied: boolean;
  inserted: InsertOutcome[];
  /** The jobs discarded for room (see QueueCaps), with the dependents that settled as they died. */
  discarded: SettledChange[];
}

/** A fold's write: the open job's merged payload, as JSON text. */
export interface BatchFold {
  id: string;
  payload: string;
}

/** What one round of batched enqueues writes, all or nothing. */
export interface BatchWrite {
  /** At most one per job. */
  folds: BatchFold[];
  /** Keys whose open job becomes one of `inserts`, sealing the one before. */
  opens: Array<{ key: string; id: string }>;
  /** New jobs, inserted as insertJobs inserts them (as insertCapped, with caps). */
  inserts: Job[];
  caps?: QueueCaps;
  /** How the dependents of jobs the caps discard settle. */
  rules?: DependencyRules;
}

/**
 * Batched enqueues on some keys, in a session no other process writes those keys' batches in until
 * it ends (an unshared store has no other process; the engine runs one session per key at a time).
 */
export interface BatchSession {
  /**
   * The job each key names as its open one, as stored now (keys without one, or whose job is gone,
   * are absent). On a shared store the jobs stay locked against claims until the session ends.
   */
  openJobs(): Promise<Map<string, Job>>;
  /**
   * Writes the round. A fold applies only while its job is still ready and never taken; when one does
   * not, nothing is written and the answer is undefined. Otherwise, as insertCapped answers.
   */
  write(write: BatchWrite): Promise<CappedInsert | undefined>;
}

/** What an enqueue into a full queue does: fails whole (429), or makes room by discarding the queue's oldest waiting jobs. */
export type OnFull = "reject" | "discard_oldest";

/** What an operator set on a queue (src/engine/queue-settings.ts). */
export interface QueueSettings {
  /** Accepts enqueues, hands out nothing: every claim skips the queue. */
  paused: boolean;
  /** At most this many of the queue's jobs in flight at once, across every server. */
  max_in_flight?: number;
  /** At most `limit` in flight per key, across every server. */
  concurrency_key?: ConcurrencyKeyLimit;
  /** At most `limit` started per `interval_ms`, for the queue or per key, across every server. */
  rate_limit?: RateLimit;
  /** At most this many of the queue's jobs waiting (blocked, scheduled, ready) after an enqueue; on_full says what an enqueue past it does. */
  max_entries?: number;
  /** Absent: "reject". */
  on_full?: OnFull;
  /** A job waiting in line (scheduled or ready) longer than this since it was enqueued is dead (the max-age service). */
  max_age_ms?: number;
  /** Enqueues must be signed by a trusted key (src/engine/signatures.ts); absent: as the server says (--require-signed). */
  require_signed?: true;
  /** Defaults a job enqueued on the queue takes when it gives none of its own. */
  retry_limit?: number;
  timeout?: number;
  retention?: Retention;
  retry_policy?: RetryPolicy;
}

/** A queue's cap on its waiting jobs (max_entries), which an insert must not take it past. */
export interface QueueCap {
  max: number;
  onFull: OnFull;
}

/**
 * The caps an insert checks in its own transaction, by queue, counting the waiting jobs (blocked,
 * scheduled, ready) it leaves: past a cap, "reject" fails the whole insert (QueueFullError) and
 * "discard_oldest" makes the queue's oldest waiting jobs (by id, which is creation order) that the
 * insert did not bring dead, by the state machine's `discarded`, until the queue is back at its cap.
 * Jobs of the insert itself are never discarded: an insert that alone brings more than a cap fails.
 */
export interface QueueCaps {
  byQueue: ReadonlyMap<string, QueueCap>;
  /** src/job/state.ts discard, bound to the engine's clock and retention. */
  discarded(job: Job, max: number): { job: Job; error: JobError };
}

/** What an insert under caps did: the outcomes as insertJobs answers, and the jobs discarded for room (with the dependents that settled as they died). */
export interface CappedInsert {
  inserted: InsertOutcome[];
  discarded: SettledChange[];
}

export interface LimitedClaim {
  jobs: Job[];
  opensAt?: number;
}

/** A workflow as stored: its shape and job ids as JSON text (src/engine/workflows.ts reads it). */
export interface WorkflowRecord {
  id: string;
  created_at: number;
  document: string;
}

export interface Store {
  /**
   * Inserts jobs atomically, in order. A job whose unique key another job holds (stored, or earlier
   * in the batch) is not inserted; its outcome is the holder. The store enforces this as a constraint
   * of its schema, so concurrent inserts of one key, from any server, let exactly one in.
   */
  /**
   * Jobs with `dependencies` go in blocked, with an edge per dependency that has not completed (or
   * unblocked by `rules` when none is left), in the same transaction; a dependency that does not exist
   * or is dead refuses the whole insert (UnprocessableError). Jobs with dependencies need `rules`.
   */
  insertJobs(jobs: Job[], rules?: DependencyRules, workflow?: WorkflowRecord): Promise<InsertOutcome[]>;
  /** insertJobs under queue caps (max_entries), checked and applied in the insert's transaction; see QueueCaps. */
  insertCapped(jobs: Job[], caps: QueueCaps, rules?: DependencyRules, workflow?: WorkflowRecord): Promise<CappedInsert>;
  getWorkflow(id: string): Promise<WorkflowRecord | undefined>;
  /** The settings of every queue that has any, by queue name. */
  listQueueSettings(): Promise<Array<{ queue: string; settings: QueueSettings }>>;
  getQueueSettings(queue: string): Promise<QueueSettings | undefined>;
  /**
   * Writes a queue's settings; `undefined` removes them (the defaults). Where servers share the store,
   * a queue that is not paused afterwards wakes every server's claims.
   */
  putQueueSettings(queue: string, settings: QueueSettings | undefined): Promise<void>;
  /** False when there was no such workflow. */
  deleteWorkflow(id: string): Promise<boolean>;
  /** Deletes up to `limit` workflows none of whose jobs is left (none carries the id as its correlation_id); answers how many. */
  purgeWorkflows(limit: number): Promise<number>;
  commit(changes: ChangeSet): Promise<ChangeResult>;
  /**
   * Deletes the jobs matching `query` (or every job, and every batch's open-job record) and their
   * errors; the dependents of deleted jobs that had not completed die, by `rules`, in the same transaction.
   */
  deleteMatching(query: JobQuery | undefined, rules?: DependencyRules): Promise<DeleteResult>;
  /** Deletes terminal jobs whose purge_at has passed. */
  purgeDue(now: number, limit: number): Promise<DeletedJob[]>;

  getJob(id: string): Promise<Job | undefined>;
  getJobs(ids: readonly string[]): Promise<Job[]>;
  /** The size of each stored result of `ids`, in bytes of JSON text (0 for none): what loading them would cost, read without them. */
  resultSizes(ids: readonly string[]): Promise<Map<string, number>>;
  /** The results of `ids`, by id, without the rest of their jobs: those of jobs without one, or gone, are absent. */
  getResults(ids: readonly string[]): Promise<Map<string, JsonValue>>;
  listJobs(query: JobQuery, page: PageRequest): Promise<Job[]>;
  /** As listJobs, but each job's id and its payload as the JSON text stored: what a jq filter reads, without parsing. */
  listPayloads(query: JobQuery, page: PageRequest): Promise<StoredPayload[]>;
  countJobs(query: JobQuery): Promise<number>;
  countByQueueAndStatus(): Promise<StatusCount[]>;
  readyEntries(): Promise<ReadyEntry[]>;
  jobsWithStatus(status: JobStatus, limit: number): Promise<Job[]>;
  dueScheduled(now: number, limit: number): Promise<Job[]>;
  nextScheduledAt(): Promise<number | undefined>;
  /** Jobs of `queue` waiting in line (scheduled or ready) that were enqueued (created_at) before `enqueuedBefore`, oldest first. */
  agedJobs(queue: string, enqueuedBefore: number, limit: number): Promise<Job[]>;
  /** Jobs waiting to start (scheduled or ready) whose deadline is at or before `now`, earliest deadline first. */
  missedDeadlines(now: number, limit: number): Promise<Job[]>;
  /** The earliest deadline of a job waiting to start. */
  nextDeadline(): Promise<number | undefined>;
  listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<JobError[]>;
  getError(jobId: string, attempt: number): Promise<JobError | undefined>;

  /** Ready jobs in take order (priority, then id), skipping rows another claimer holds; returns them claimed. */
  claimReady(request: ClaimRequest): Promise<Job[]>;
  /**
   * claimReady for queues with limits (max_in_flight, concurrency_key, rate_limit), which claimReady
   * skips (as it skips paused ones): from each of `request.queues` that has limits and is not paused,
   * as many as its limits leave room for (src/job/queue-limits.ts), counted by every server's leases
   * and starts; the starts are recorded in the same transaction. Claims of one limited queue take
   * turns, so none passes it. `opensAt`: when a rate that left no room opens again.
   */
  claimLimited(request: ClaimRequest & { queues: readonly string[] }): Promise<LimitedClaim>;
  /**
   * Moves an in-flight job's lease expiry and, when `state` (JSON text) is given, saves it as the job's
   * state in the same write; false if the job is no longer in flight in run `runId`.
   */
  extendLease(id: string, runId: string, expiresAt: number, state?: string, progress?: string): Promise<boolean>;
  /**
   * In-flight jobs no live server will end, oldest lease first: their lease ran out at or before
   * `expiredBefore`, or (on a shared store) the server that leased them (ClaimRequest.owner) is gone: a
   * store that claims for an owner keeps it visibly alive until the store is closed or its process
   * dies, and an owner counts as gone a short grace after it stopped being alive. An unshared store has
   * no other servers: only expired leases.
   */
  abandonedLeases(query: AbandonedLeaseQuery): Promise<Job[]>;

  /** Cron group names, sorted. */
  listCronGroups(): Promise<string[]>;
  getCronGroup(name: string): Promise<StoredCronGroup | undefined>;
  /** Groups with a tick due by `now`, earliest first. */
  dueCronGroups(now: number, limit: number): Promise<StoredCronGroup[]>;
  nextCronDueAt(): Promise<number | undefined>;
  writeCronGroup(write: CronGroupWrite): Promise<CronWriteOutcome>;
  /** Deletes every cron group; returns how many there were. */
  deleteCronGroups(): Promise<number>;

  /** Runs `work` in a batch session on `keys` (see BatchSession); it ends when `work` settles. */
  batchSession<T>(keys: readonly string[], work: (session: BatchSession) => Promise<T>): Promise<T>;

  close(): Promise<void>;
}
