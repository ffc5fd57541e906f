import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { BadRequestError, ConflictError, NotFoundError, UnprocessableError } from "../errors.js";
import { DEFAULT_RETRY_LIMIT } from "../job/backoff.js";
import { newJobId } from "../job/ids.js";
import {
  applyPatch,
  complete,
  createJob,
  DEFAULT_RETENTION,
  entersUniqueScope,
  fail,
  isTerminal,
  promote,
  purgedOnEnd,
  release,
  requeue,
  type RetentionDefaults,
} from "../job/state.js";
import type { EnqueueInput, FailureInput, Job, JobError, JobPatch } from "../job/types.js";
import { mapInSlices, Slicer } from "../slices.js";
import { changedColumns } from "../store/rows.js";
import type { DeletedJob, EndedLease, InsertOutcome, JobDelete, JobQuery, JobUpdate, SortOrder, StatusCount, Store } from "../store/store.js";
import { systemClock, type Clock } from "./clock.js";
import { CLAIMED, claimedOnly, Dispatcher, type InFlightJob, type JobSink, type Subscription, type TakeOptions } from "./dispatch.js";
import type { EngineObserver } from "./observer.js";
import type { PayloadFilter } from "./payload-filter.js";
import { ReadyIndex } from "./ready-index.js";
import { Reaper } from "./reaper.js";
import { Scheduler } from "./scheduler.js";
import { StatusCounts } from "./status-counts.js";

export interface EngineOptions {
  store: Store;
  clock?: Clock;
  /** Jitter source in [0, 1). */
  random?: () => number;
  defaultRetryLimit?: number;
  retention?: Partial<RetentionDefaults>;
  /** Lease for one attempt when the job has no `timeout`, in seconds. */
  defaultTimeoutSeconds?: number;
  /** Jobs in flight across all take streams, at most. */
  maxInFlight?: number;
  /** How often leases are checked and retention runs, in ms. */
  maintenanceIntervalMs?: number;
  observer?: EngineObserver;
}

export interface JobPage {
  jobs: Job[];
  /** True when more jobs match beyond this page. */
  more: boolean;
}

export interface JobSelection {
  query: JobQuery;
  filter?: PayloadFilter;
}

/** Jobs read per round when a jq filter has to look at payloads. */
const SCAN_BATCH = 200;
const RECOVERY_BATCH = 1000;
/** Jobs tracked between yields to the event loop after a big bulk or delete. */
const TRACK_SLICE = 256;
/** Times a patch is tried on a job that keeps changing under it before the caller gets 409. */
const PATCH_ATTEMPTS = 3;

/**
 * The one engine behind every door. Every status change is computed by
 * src/job/state.ts, written to the store as a compare-and-set, and then
 * passed to `track`, which keeps the in-memory ready index and counts (on a
 * store of our own) in step and wakes the dispatcher.
 */
export class Engine {
  readonly clock: Clock;
  private readonly store: Store;
  private readonly index = new ReadyIndex();
  private readonly counts = new StatusCounts();
  private readonly dispatcher: Dispatcher;
  private readonly scheduler: Scheduler;
  private readonly reaper: Reaper;
  private readonly random: () => number;
  private readonly retryLimit: number;
  private readonly retention: RetentionDefaults;
  private readonly timeoutSeconds: number;
  private readonly observer: EngineObserver;
  private readonly maintenanceIntervalMs: number;
  private readonly stopListening: Array<() => void> = [];
  /**
   * Jobs of a big bulk that are stored but not yet tracked (tracking goes in slices): a change to one
   * meanwhile is tracked as the job's first appearance, and the bulk's own tracking then skips it.
   */
  private readonly untracked = new Set<string>();

  private constructor(options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.retryLimit = options.defaultRetryLimit ?? DEFAULT_RETRY_LIMIT;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.timeoutSeconds = options.defaultTimeoutSeconds ?? 300;
    this.observer = options.observer ?? {};
    this.dispatcher = new Dispatcher(
      this.store,
      this.index,
      this.clock,
      {
        applyUpdates: (updates) => this.applyUpdates(updates),
        leaseMs: (job) => this.leaseMs(job),
        defaultLeaseMs: Math.round(this.timeoutSeconds * 1000),
        owner: `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`,
      },
      options.maxInFlight ?? 10_000,
      this.observer,
    );
    this.scheduler = new Scheduler(this.store, this.clock, (due) => this.promoteDue(due));
    this.maintenanceIntervalMs = options.maintenanceIntervalMs ?? 1000;
    this.reaper = new Reaper(this.clock, this.maintenanceIntervalMs, () => this.maintain());
  }

  /** Opens the engine on a store and recovers what a previous process left (see `recover`). */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await engine.recover();
    return engine;
  }

  /**
   * A store of our own: in-flight jobs left by a previous process are ready again, and the ready index
   * and counts are loaded. A shared store: other servers' leases stay; expired ones are rescued by the
   * leader, and notifications wake our streams when another server makes jobs ready.
   */
  private async recover(): Promise<void> {
    if (this.store.shared) {
      this.stopListening.push(
        this.store.onReady(() => this.dispatcher.wake()),
        this.store.onLeasesEnded((leases) => this.leasesEndedElsewhere(leases)),
      );
      this.reaper.start();
      return;
    }
    for (;;) {
      const orphans = await this.store.jobsWithStatus("in_flight", RECOVERY_BATCH);
      if (orphans.length === 0) break;
      await this.store.commit({ updates: orphans.map((job) => fencedUpdate(job, release(job))) });
    }
    for (const entry of await this.store.readyEntries()) this.index.add(entry);
    this.counts.load(await this.store.countByQueueAndStatus());
    await this.scheduler.start();
    this.reaper.start();
  }

  /** Whole milliseconds, as stores keep them. */
  private leaseMs(job: Job): number {
    return Math.round((job.timeout ?? this.timeoutSeconds) * 1000);
  }

  // ---- bookkeeping: the only path from a decided change to the store ----

  private track(before: Pick<Job, "id" | "queue" | "status" | "priority"> | undefined, after: Job | undefined): void {
    if (this.store.shared) {
      // The store is the index and the tally; other servers' changes never pass through here. Our own
      // scheduled jobs still get a precise timer; the leader's ticks catch everyone else's.
      if (after?.status === "ready") this.dispatcher.wake();
      if (after?.status === "scheduled") this.scheduler.noteScheduled(after.ready_at);
      return;
    }
    if (before && this.untracked.delete(before.id)) before = undefined;
    if (before) {
      this.counts.adjust(before.queue, before.status, -1);
      if (before.status === "ready") this.index.remove(before);
    }
    if (after) {
      this.counts.adjust(after.queue, after.status, 1);
      if (after.status === "ready") {
        this.index.add(after);
        this.dispatcher.wake();
      } else if (after.status === "scheduled") {
        this.scheduler.noteScheduled(after.ready_at);
      }
    }
  }

  private trackDeleted(deleted: DeletedJob[]): void {
    for (const job of deleted) {
      this.dispatcher.finish(job.id);
      this.track(job, undefined);
    }
  }

  /** trackDeleted for a big delete, yielding between slices; the jobs are gone from the store, so nothing else changes them meanwhile. */
  private async trackDeletedInSlices(deleted: DeletedJob[]): Promise<void> {
    const slicer = new Slicer();
    for (let start = 0; start < deleted.length; start += TRACK_SLICE) {
      this.trackDeleted(deleted.slice(start, start + TRACK_SLICE));
      await slicer.pause();
    }
  }

  private async applyUpdates(updates: Array<{ before: Job; after: Job }>): Promise<boolean[]> {
    if (updates.length === 0) return [];
    const result = await this.store.commit({ updates: updates.map(({ before, after }) => fencedUpdate(before, after)) });
    updates.forEach(({ before, after }, position) => {
      if (result.updated[position]) this.track(before, after);
    });
    return result.updated;
  }

  // ---- enqueue ----

  async enqueue(inputs: EnqueueInput[]): Promise<InsertOutcome[]> {
    const now = this.clock.now();
    const jobs = await mapInSlices(inputs, (input) => createJob(newJobId(), input, now));
    const outcomes = await this.store.insertJobs(jobs);
    const sliced = outcomes.length > TRACK_SLICE && !this.store.shared;
    if (sliced) for (const outcome of outcomes) if (!outcome.duplicate) this.untracked.add(outcome.job.id);
    const slicer = new Slicer();
    for (const [position, outcome] of outcomes.entries()) {
      if (sliced && position % TRACK_SLICE === 0) await slicer.pause();
      if (outcome.duplicate) continue;
      if (!sliced || this.untracked.delete(outcome.job.id)) this.track(undefined, outcome.job);
      this.observer.enqueued?.(outcome.job);
    }
    return outcomes;
  }

  // ---- take, ack, fail, heartbeat ----

  /** Opens a take stream. Checked here, so that in-process clients get the same answer as HTTP ones. */
  take(options: TakeOptions, sink: JobSink): Subscription {
    if (!Number.isSafeInteger(options.prefetch) || options.prefetch < 0) {
      throw new BadRequestError(`prefetch must be a whole number, 0 (no limit) or more, got ${options.prefetch}`);
    }
    return this.dispatcher.open(options, sink);
  }

  /**
   * Closes a take stream on its client's request: it gets no more jobs, and
   * every job it still holds is ready again before this resolves. Lets a
   * worker shut down without racing the server's notice of a dropped socket.
   */
  async closeTake(streamId: string): Promise<void> {
    const stream = this.dispatcher.findStream(streamId);
    if (!stream) throw new NotFoundError(`take stream ${streamId} is not open`);
    await stream.close();
  }

  /**
   * The leases that acks or failures name, taken over from the dispatcher: this server's own, or on a
   * shared store ones another server made. An id whose lease is gone, or whose run id (when given)
   * is not the current one, is left out: a worker whose lease was taken over cannot end the new run.
   */
  private async takeLeases(wanted: ReadonlyMap<string, string | undefined>): Promise<InFlightJob[]> {
    const local: Array<InFlightJob | undefined> = [];
    const elsewhere: string[] = [];
    for (const [id, runId] of wanted) {
      const entry = this.dispatcher.inFlight.get(id);
      if (entry) {
        if (inRun(entry.job, runId)) local.push(this.dispatcher.finish(id));
      } else if (this.store.shared) {
        elsewhere.push(id);
      }
    }
    const current = await this.leasesElsewhere(elsewhere, wanted);
    return [...(await claimedOnly(local)), ...current.map((job) => ({ job, stream: undefined, claimed: CLAIMED }))];
  }

  /**
   * In-flight jobs another server leased, in the runs asked for. A job this server is claiming right
   * now also shows as in flight in the store; once our claims settle it is ours, and no worker can have
   * seen it yet, so it is not acked on someone else's behalf.
   */
  private async leasesElsewhere(ids: string[], wanted: ReadonlyMap<string, string | undefined>): Promise<Job[]> {
    if (ids.length === 0) return [];
    const stored = await this.store.getJobs(ids);
    await this.dispatcher.settleClaims();
    return stored.filter((job) => inRun(job, wanted.get(job.id)) && !this.dispatcher.inFlight.has(job.id));
  }

  /** Acknowledges jobs; returns the ids that were not in flight (the rest are completed). `runIds` aligns with `ids`. */
  async ack(ids: readonly string[], runIds?: ReadonlyArray<string | undefined>): Promise<string[]> {
    const now = this.clock.now();
    const wanted = new Map(ids.map((id, position) => [id, runIds?.[position]]));
    const finished = await this.takeLeases(wanted);
    const acked = new Set(finished.map(({ job }) => job.id));
    const notFound = [...wanted.keys()].filter((id) => !acked.has(id));
    if (finished.length === 0) return notFound;
    const endings = finished.map(({ job }) => ({ before: job, after: complete(job, now, this.retention) }));
    let applied: boolean[];
    try {
      applied = await this.commitEndings(endings);
    } catch (error) {
      for (const entry of finished) this.dispatcher.restore(entry);
      throw error;
    }
    endings.forEach(({ after }, position) => (applied[position] ? this.observer.completed?.(after) : notFound.push(after.id)));
    this.announceEnded(finished.filter(({ stream }, position) => stream === undefined && applied[position]).map(({ job }) => job));
    return notFound;
  }

  async fail(id: string, failure: FailureInput, runId?: string): Promise<Job> {
    const [entry] = await this.takeLeases(new Map([[id, runId]]));
    if (!entry) throw notInFlight(id, runId);
    let failed: Job | undefined;
    try {
      [failed] = await this.recordFailures([entry.job], () => failure);
    } catch (error) {
      this.dispatcher.restore(entry);
      throw error;
    }
    if (!failed) throw new NotFoundError(`job ${id} is no longer in flight`);
    if (entry.stream === undefined) this.announceEnded([entry.job]);
    return failed;
  }

  /**
   * Fails in-flight jobs in one commit; per job, the failed job, or undefined when its attempt had
   * already ended (another run, or with `leaseExpiredBy`, a lease extended past that time elsewhere).
   */
  private async recordFailures(jobs: Job[], failureOf: (job: Job) => FailureInput, leaseExpiredBy?: number): Promise<Array<Job | undefined>> {
    const now = this.clock.now();
    const endings = jobs.map((job) => {
      const failure = failureOf(job);
      const after = fail(job, failure, { now, random: this.random(), defaultRetryLimit: this.retryLimit, retention: this.retention });
      const error: JobError = { attempt: after.attempts, message: failure.message, dequeued_at: job.dequeued_at ?? now, failed_at: now };
      if (failure.error_type !== undefined) error.error_type = failure.error_type;
      if (failure.backtrace !== undefined) error.backtrace = failure.backtrace;
      return { before: job, after, error };
    });
    const applied = await this.commitEndings(endings, leaseExpiredBy);
    return endings.map(({ after }, position) => {
      if (!applied[position]) return undefined;
      this.observer.failed?.(after);
      if (after.status === "dead") this.observer.died?.(after);
      return after;
    });
  }

  /**
   * Commits the ends of attempts together: a job its retention purges at once is deleted (with its
   * errors, so its error record is not written), the others are updated. Tracks and reports, per
   * ending, whether it applied.
   */
  private async commitEndings(endings: Array<{ before: Job; after: Job; error?: JobError }>, leaseExpiredBy?: number): Promise<boolean[]> {
    const now = this.clock.now();
    const purged = endings.map(({ after }) => purgedOnEnd(after, now));
    const kept = endings.filter((_ending, position) => !purged[position]);
    const gone = endings.filter((_ending, position) => purged[position]);
    const result = await this.store.commit({
      updates: kept.map(({ before, after, error }) => ({ ...fencedUpdate(before, after, leaseExpiredBy), ...(error ? { error } : {}) })),
      deletes: gone.map(({ before }) => fencedDelete(before, leaseExpiredBy)),
    });
    const deletedIds = new Set(result.deleted.map(({ id }) => id));
    const updated = new Map(kept.map((ending, position) => [ending, result.updated[position] === true]));
    return endings.map((ending, position) => {
      const applied = purged[position] ? deletedIds.has(ending.before.id) : updated.get(ending)!;
      if (applied) this.track(ending.before, purged[position] ? undefined : ending.after);
      return applied;
    });
  }

  /** Extends the lease of an in-flight job (in run `runId`, when given) by its full lease length. */
  async heartbeat(id: string, runId?: string): Promise<{ id: string; run_id: string; lease_expires_at: number }> {
    const entry = this.dispatcher.inFlight.get(id);
    if (entry) await entry.claimed;
    const job = entry?.job ?? (this.store.shared ? await this.store.getJob(id) : undefined);
    if (!job || !inRun(job, runId) || job.run_id === undefined) throw notInFlight(id, runId);
    const expiresAt = this.clock.now() + this.leaseMs(job);
    if (!(await this.store.extendLease(id, job.run_id, expiresAt))) throw new NotFoundError(`job ${id} is no longer in flight`);
    this.dispatcher.refresh(id, job.run_id, (current) => ({ ...current, lease_expires_at: expiresAt }));
    return { id, run_id: job.run_id, lease_expires_at: expiresAt };
  }

  // ---- reading ----

  async getJob(id: string): Promise<Job> {
    const job = this.localCopy(id) ?? (await this.store.getJob(id));
    if (!job) throw new NotFoundError(`job ${id} not found`);
    return job;
  }

  /**
   * Our in-flight copy of a job, when it is the newest version: with a store of our own it is (the
   * claim's write may still be on its way); a shared store may have been changed by another server.
   */
  private localCopy(id: string): Job | undefined {
    return this.store.shared ? undefined : this.dispatcher.inFlight.get(id)?.job;
  }

  async listJobs(selection: JobSelection, page: { after?: string; order: SortOrder; limit: number }): Promise<JobPage> {
    const jobs: Job[] = [];
    let after = page.after;
    const batch = selection.filter ? SCAN_BATCH : page.limit + 1;
    for (;;) {
      const rows = await this.store.listJobs(selection.query, { after, order: page.order, limit: batch });
      for (const job of rows) {
        if (selection.filter && !selection.filter.matches(job.payload)) continue;
        jobs.push(job);
        if (jobs.length > page.limit) return { jobs: jobs.slice(0, page.limit), more: true };
      }
      if (rows.length < batch) return { jobs, more: false };
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Every job matching the selection, a batch at a time, in id order. */
  private async *matching(selection: JobSelection): AsyncGenerator<Job[]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.listJobs(selection, { after, order: "asc", limit: SCAN_BATCH });
      if (page.jobs.length > 0) yield page.jobs;
      if (!page.more) return;
      after = page.jobs[page.jobs.length - 1]!.id;
    }
  }

  async countJobs(selection: JobSelection): Promise<number> {
    if (!selection.filter) return this.store.countJobs(selection.query);
    let count = 0;
    for await (const jobs of this.matching(selection)) count += jobs.length;
    return count;
  }

  async queues(): Promise<string[]> {
    if (!this.store.shared) return this.counts.queues();
    return [...new Set((await this.store.countByQueueAndStatus()).map(({ queue }) => queue))].sort();
  }

  /** Jobs by queue and status: kept in memory for a store of our own, counted by the store when it is shared. */
  async statusCounts(): Promise<StatusCount[]> {
    return this.store.shared ? this.store.countByQueueAndStatus() : this.counts.entries();
  }

  get inFlightCount(): number {
    return this.dispatcher.inFlightCount;
  }

  get takeStreamCount(): number {
    return this.dispatcher.streamCount;
  }

  async listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<{ errors: JobError[]; more: boolean }> {
    await this.getJob(jobId);
    const errors = await this.store.listErrors(jobId, { ...page, limit: page.limit + 1 });
    return { errors: errors.slice(0, page.limit), more: errors.length > page.limit };
  }

  async getError(jobId: string, attempt: number): Promise<JobError> {
    await this.getJob(jobId);
    const error = await this.store.getError(jobId, attempt);
    if (!error) throw new NotFoundError(`job ${jobId} has no error for attempt ${attempt}`);
    return error;
  }

  // ---- changing and deleting ----

  async patchJob(id: string, patch: JobPatch): Promise<Job> {
    const [patched] = await this.patchRetrying([await this.getJob(id)], patch);
    if (patched) return patched;
    await this.getJob(id);
    throw new ConflictError(`job ${id} kept changing while it was being patched; try again`);
  }

  /**
   * Patches jobs optimistically: a job that changed under the patch (claimed, promoted, acked) is read
   * again and patched again, a few times; jobs that are gone or have become terminal are left out.
   */
  private async patchRetrying(jobs: Job[], patch: JobPatch): Promise<Job[]> {
    const patched: Job[] = [];
    let pending = jobs;
    for (let attempt = 0; attempt < PATCH_ATTEMPTS && pending.length > 0; attempt++) {
      const done = await this.patchMany(pending, patch);
      patched.push(...done);
      const doneIds = new Set(done.map((job) => job.id));
      const reread = await this.currentJobs(pending.filter((job) => !doneIds.has(job.id)).map((job) => job.id));
      pending = reread.filter((job) => !isTerminal(job.status));
    }
    return patched;
  }

  /** The jobs as they are now (those that still exist), once claims of them under way have settled: one read for all. */
  private async currentJobs(ids: string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    await Promise.all(ids.map((id) => this.dispatcher.inFlight.get(id)?.claimed));
    const local = ids.map((id) => this.localCopy(id));
    const stored = new Map((await this.store.getJobs(ids.filter((_id, position) => !local[position]))).map((job) => [job.id, job]));
    return ids.flatMap((id, position) => {
      const job = local[position] ?? stored.get(id);
      return job ? [job] : [];
    });
  }

  private async patchMany(jobs: Job[], patch: JobPatch): Promise<Job[]> {
    await Promise.all(jobs.map((job) => this.dispatcher.inFlight.get(job.id)?.claimed));
    const now = this.clock.now();
    const changes = jobs.map((before) => ({ before, after: applyPatch(before, patch, now) }));
    const applied = await this.applyUpdates(changes);
    const patched: Job[] = [];
    changes.forEach(({ before, after }, position) => {
      if (!applied[position]) return;
      // Only the copy of the lease this patch was made from: a claim that landed just after it leased the patched job afresh.
      if (before.status === "in_flight") this.dispatcher.refresh(after.id, before.run_id, () => after);
      patched.push(after);
    });
    return patched;
  }

  /** Patches every non-terminal job that matches; naming a terminal status is an error. */
  async patchJobs(selection: JobSelection, patch: JobPatch): Promise<number> {
    const terminal = selection.query.statuses?.filter((status) => isTerminal(status)) ?? [];
    if (terminal.length > 0) throw new UnprocessableError(`${terminal.join(", ")} jobs cannot be patched`);
    let patched = 0;
    for await (const jobs of this.matching(selection)) {
      const live = jobs.filter((job) => !isTerminal(job.status)).map((job) => this.localCopy(job.id) ?? job);
      patched += (await this.patchRetrying(live, patch)).length;
    }
    return patched;
  }

  /**
   * Retries a dead job: enqueues a fresh copy (state.ts requeue) and deletes the dead one, in one
   * commit, so the work is never lost between the two and the dead job's own unique key passes to
   * the copy. If another job holds the key, that job is the answer (a duplicate) and the dead one
   * goes all the same: its work is queued.
   */
  async requeueDead(id: string): Promise<InsertOutcome> {
    const dead = await this.getJob(id);
    const copy = requeue(dead, newJobId(), this.clock.now());
    const result = await this.store.commit({ deletes: [{ id, from: "dead" }], inserts: [copy] });
    this.trackDeleted(result.deleted);
    const [outcome] = result.inserted;
    if (!outcome!.duplicate) {
      this.track(undefined, outcome!.job);
      this.observer.enqueued?.(outcome!.job);
    }
    return outcome!;
  }

  async deleteJob(id: string): Promise<void> {
    const result = await this.store.commit({ deletes: [{ id }] });
    if (result.deleted.length === 0) throw new NotFoundError(`job ${id} not found`);
    this.trackDeleted(result.deleted);
  }

  async deleteJobs(selection: JobSelection): Promise<number> {
    if (!selection.filter) {
      const deleted = await this.store.deleteMatching(selection.query);
      await this.trackDeletedInSlices(deleted);
      return deleted.length;
    }
    let deleted = 0;
    for await (const jobs of this.matching(selection)) {
      const result = await this.store.commit({ deletes: jobs.map((job) => ({ id: job.id })) });
      this.trackDeleted(result.deleted);
      deleted += result.deleted.length;
    }
    return deleted;
  }

  async reset(): Promise<void> {
    await this.trackDeletedInSlices(await this.store.deleteMatching(undefined));
  }

  // ---- time-driven work ----

  private async promoteDue(due: Job[]): Promise<void> {
    await this.applyUpdates(due.map((job) => ({ before: job, after: promote(job) })));
  }

  /**
   * Every server fails its own expired leases (a hung worker on a live connection). Only the leader
   * promotes scheduled jobs of a shared store, rescues leases whose server is gone, and purges.
   */
  private async maintain(): Promise<void> {
    const now = this.clock.now();
    await this.expireOwnLeases(now);
    if (this.store.shared) this.dispatcher.wake();
    if (!(await this.store.lead())) return;
    if (this.store.shared) {
      await this.scheduler.promoteNow();
      await this.rescueAbandonedLeases(now);
    }
    for (;;) {
      const purged = await this.store.purgeDue(now, RECOVERY_BATCH);
      this.trackDeleted(purged);
      if (purged.length < RECOVERY_BATCH) break;
    }
  }

  /** Fails this server's leases that ran out, a batch per commit; one extended elsewhere meanwhile is left alone. */
  private async expireOwnLeases(now: number): Promise<void> {
    if (this.store.shared) await this.syncLeasesWithStore();
    const expired = this.dispatcher.expiredLeases(now).filter((entry) => this.dispatcher.finish(entry.job.id));
    for (let start = 0; start < expired.length; start += RECOVERY_BATCH) {
      const jobs = expired.slice(start, start + RECOVERY_BATCH).map(({ job }) => job);
      for (const job of jobs) this.observer.leaseExpired?.(job);
      await this.recordFailures(jobs, (job) => ({
        message: `lease expired after ${this.leaseMs(job) / 1000}s without an ack`,
        error_type: "LeaseExpired",
      }), now).catch(() => undefined);
    }
  }

  /**
   * Other servers may have acked, failed or heartbeaten our leases (a client behind a load balancer):
   * leases no longer current in the store free their stream's slot, and extended ones are extended here.
   */
  private async syncLeasesWithStore(): Promise<void> {
    const entries = [...this.dispatcher.inFlight.values()];
    for (let start = 0; start < entries.length; start += RECOVERY_BATCH) {
      const batch = entries.slice(start, start + RECOVERY_BATCH);
      const stored = new Map((await this.store.getJobs(batch.map(({ job }) => job.id))).map((job) => [job.id, job]));
      for (const entry of batch) {
        const current = stored.get(entry.job.id);
        if (!current || !inRun(current, entry.job.run_id)) this.dispatcher.finish(entry.job.id);
        else if ((current.lease_expires_at ?? 0) > (entry.job.lease_expires_at ?? 0)) {
          this.dispatcher.refresh(entry.job.id, entry.job.run_id, (job) => ({ ...job, lease_expires_at: current.lease_expires_at! }));
        }
      }
    }
  }

  /**
   * Leases another server made end here (a client behind a load balancer): telling it frees their
   * stream slots now rather than at its next sync. Best effort: the sync still catches a lost one.
   */
  private announceEnded(jobs: Job[]): void {
    const leases = jobs.flatMap(({ id, run_id: runId }) => (runId === undefined ? [] : [{ id, runId }]));
    if (leases.length > 0) void this.store.announceLeasesEnded(leases).catch(() => undefined);
  }

  /**
   * Leases of ours that another server announced it ended: their jobs are no longer our workers' to
   * end. Undefined means announcements may have been missed (the listener reconnected): check them all.
   */
  private leasesEndedElsewhere(leases: EndedLease[] | undefined): void {
    if (!leases) {
      void this.syncLeasesWithStore().catch(() => undefined);
      return;
    }
    for (const { id, runId } of leases) {
      if (this.dispatcher.inFlight.get(id)?.job.run_id === runId) this.dispatcher.finish(id);
    }
  }

  /**
   * In-flight jobs of a shared store whose lease ran out a while ago belong to a server that is gone
   * (a live one fails its own expired leases first): they are ready again, as if their stream dropped.
   */
  private async rescueAbandonedLeases(now: number): Promise<void> {
    const graceMs = 2 * this.maintenanceIntervalMs;
    for (;;) {
      const abandoned = (await this.store.expiredLeases(now - graceMs, RECOVERY_BATCH))
        .filter((job) => !this.dispatcher.inFlight.has(job.id));
      if (abandoned.length === 0) return;
      await this.applyUpdates(abandoned.map((job) => ({ before: job, after: release(job) })));
      if (abandoned.length < RECOVERY_BATCH) return;
    }
  }

  /** Stops timers, returns in-flight jobs to ready and closes the store. */
  async close(): Promise<void> {
    for (const stop of this.stopListening) stop();
    await Promise.all([this.reaper.stop(), this.scheduler.stop()]);
    await this.dispatcher.closeAll();
    await this.store.close();
  }
}

/**
 * An update from a job's current state; from in_flight it is fenced by the run, so only the current
 * lease can end it, and with `leaseExpiredBy` only while the stored lease has run out.
 */
function fencedUpdate(before: Job, after: Job, leaseExpiredBy?: number): JobUpdate {
  const update: JobUpdate = { job: after, from: before.status, columns: changedColumns(before, after), ...fence(before, leaseExpiredBy) };
  if (entersUniqueScope(before, after)) update.entersUniqueScope = true;
  return update;
}

function fencedDelete(before: Job, leaseExpiredBy?: number): JobDelete {
  return { id: before.id, from: before.status, ...fence(before, leaseExpiredBy) };
}

function fence(before: Job, leaseExpiredBy: number | undefined): Pick<JobUpdate, "fromRunId" | "leaseExpiredBy"> {
  const conditions: Pick<JobUpdate, "fromRunId" | "leaseExpiredBy"> = {};
  if (before.status === "in_flight" && before.run_id !== undefined) conditions.fromRunId = before.run_id;
  if (leaseExpiredBy !== undefined) conditions.leaseExpiredBy = leaseExpiredBy;
  return conditions;
}

/** In flight, and (when a run id is asked for) in that run: the check every ack, failure and heartbeat makes. */
function inRun(job: Job, runId: string | undefined): boolean {
  return job.status === "in_flight" && (runId === undefined || job.run_id === runId);
}

function notInFlight(id: string, runId: string | undefined): NotFoundError {
  return new NotFoundError(`job ${id} is not in flight${runId === undefined ? "" : ` in run ${runId}`}`);
}
