import { ConflictError, NotFoundError, UnprocessableError } from "../errors.js";
import { DEFAULT_RETRY_LIMIT } from "../job/backoff.js";
import { newJobId } from "../job/ids.js";
import {
  applyPatch,
  blocksDuplicate,
  complete,
  createJob,
  DEFAULT_RETENTION,
  fail,
  isTerminal,
  promote,
  release,
  type RetentionDefaults,
} from "../job/state.js";
import type { EnqueueInput, FailureInput, Job, JobError, JobPatch } from "../job/types.js";
import type { DeletedJob, InsertOutcome, JobQuery, SortOrder, Store } from "../store/store.js";
import { systemClock, type Clock } from "./clock.js";
import { claimedOnly, Dispatcher, type JobSink, type Subscription, type TakeOptions } from "./dispatch.js";
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
const SCAN_BATCH = 500;
const RECOVERY_BATCH = 1000;
/** Times a patch is tried on a job that keeps changing under it before the caller gets 409. */
const PATCH_ATTEMPTS = 3;

/**
 * The one engine behind every door. Every status change is computed by
 * src/job/state.ts and persisted through `applyChanges`, which also keeps
 * the in-memory ready index and counts in step with the store.
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
      { applyUpdates: (updates) => this.applyUpdates(updates), leaseMs: (job) => this.leaseMs(job) },
      options.maxInFlight ?? 10_000,
      this.observer,
    );
    this.scheduler = new Scheduler(this.store, this.clock, (due) => this.promoteDue(due));
    this.reaper = new Reaper(this.clock, options.maintenanceIntervalMs ?? 1000, () => this.maintain());
  }

  /** Opens the engine on a store: in-flight jobs left by a previous process become ready again. */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await engine.recover();
    return engine;
  }

  private async recover(): Promise<void> {
    for (;;) {
      const orphans = await this.store.jobsWithStatus("in_flight", RECOVERY_BATCH);
      if (orphans.length === 0) break;
      await this.store.commit({ updates: orphans.map((job) => ({ job: release(job), from: "in_flight" as const })) });
    }
    for (const entry of await this.store.readyEntries()) this.index.add(entry);
    this.counts.load(await this.store.countByQueueAndStatus());
    await this.scheduler.start();
    this.reaper.start();
  }

  private leaseMs(job: Job): number {
    return (job.timeout ?? this.timeoutSeconds) * 1000;
  }

  // ---- bookkeeping: the only path from a decided change to the store ----

  private track(before: Pick<Job, "id" | "queue" | "status" | "priority"> | undefined, after: Job | undefined): void {
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

  private async applyUpdates(updates: Array<{ before: Job; after: Job }>): Promise<boolean[]> {
    if (updates.length === 0) return [];
    const result = await this.store.commit({ updates: updates.map(({ before, after }) => ({ job: after, from: before.status })) });
    updates.forEach(({ before, after }, position) => {
      if (result.updated[position]) this.track(before, after);
    });
    return result.updated;
  }

  // ---- enqueue ----

  async enqueue(inputs: EnqueueInput[]): Promise<InsertOutcome[]> {
    const now = this.clock.now();
    const jobs = inputs.map((input) => createJob(newJobId(), input, now));
    const outcomes = await this.store.insertJobs(jobs, blocksDuplicate);
    for (const outcome of outcomes) {
      if (outcome.duplicate) continue;
      this.track(undefined, outcome.job);
      this.observer.enqueued?.(outcome.job);
    }
    return outcomes;
  }

  // ---- take, ack, fail, heartbeat ----

  take(options: TakeOptions, sink: JobSink): Subscription {
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

  /** Acknowledges jobs; returns the ids that were not in flight (the rest are completed). */
  async ack(ids: readonly string[]): Promise<string[]> {
    const now = this.clock.now();
    const unique = [...new Set(ids)];
    const finished = await claimedOnly(unique.map((id) => this.dispatcher.finish(id)));
    const acked = new Set(finished.map(({ job }) => job.id));
    const notFound = unique.filter((id) => !acked.has(id));
    if (finished.length === 0) return notFound;
    const changes = finished.map(({ job }) => ({ before: job, after: complete(job, now, this.retention) }));
    const purged = changes.filter(({ after }) => after.purge_at! <= now);
    const kept = changes.filter(({ after }) => after.purge_at! > now);
    let result;
    try {
      result = await this.store.commit({
        updates: kept.map(({ after }) => ({ job: after, from: "in_flight" })),
        deletes: purged.map(({ after }) => after.id),
      });
    } catch (error) {
      for (const entry of finished) this.dispatcher.restore(entry);
      throw error;
    }
    const deletedIds = new Set(result.deleted.map((job) => job.id));
    const acknowledge = ({ before, after }: { before: Job; after: Job }, stored: boolean, removed: boolean): void => {
      if (!stored) {
        notFound.push(after.id);
        return;
      }
      this.track(before, removed ? undefined : after);
      this.observer.completed?.(after);
    };
    kept.forEach((change, position) => acknowledge(change, result.updated[position] === true, false));
    purged.forEach((change) => acknowledge(change, deletedIds.has(change.after.id), true));
    return notFound;
  }

  async fail(id: string, failure: FailureInput): Promise<Job> {
    const [entry] = await claimedOnly([this.dispatcher.finish(id)]);
    if (!entry) throw new NotFoundError(`job ${id} is not in flight`);
    try {
      return await this.recordFailure(entry.job, failure);
    } catch (error) {
      if (!(error instanceof NotFoundError)) this.dispatcher.restore(entry);
      throw error;
    }
  }

  private async recordFailure(job: Job, failure: FailureInput): Promise<Job> {
    const now = this.clock.now();
    const failed = fail(job, failure, {
      now,
      random: this.random(),
      defaultRetryLimit: this.retryLimit,
      retention: this.retention,
    });
    const error: JobError = { attempt: failed.attempts, message: failure.message, dequeued_at: job.dequeued_at ?? now, failed_at: now };
    if (failure.error_type !== undefined) error.error_type = failure.error_type;
    if (failure.backtrace !== undefined) error.backtrace = failure.backtrace;
    const purgeNow = failed.status === "dead" && failed.purge_at! <= now;
    const result = await this.store.commit({
      updates: purgeNow ? [] : [{ job: failed, from: "in_flight" }],
      errors: purgeNow ? [] : [{ jobId: failed.id, error }],
      deletes: purgeNow ? [failed.id] : [],
    });
    if (!(purgeNow ? result.deleted.length === 1 : result.updated[0])) throw new NotFoundError(`job ${job.id} no longer exists`);
    this.track(job, purgeNow ? undefined : failed);
    this.observer.failed?.(failed);
    if (failed.status === "dead") this.observer.died?.(failed);
    return failed;
  }

  heartbeat(id: string): { id: string; lease_expires_at: number } {
    const entry = this.dispatcher.inFlight.get(id);
    if (!entry) throw new NotFoundError(`job ${id} is not in flight`);
    entry.leaseExpiry = this.clock.now() + this.leaseMs(entry.job);
    return { id, lease_expires_at: entry.leaseExpiry };
  }

  // ---- reading ----

  async getJob(id: string): Promise<Job> {
    const job = this.dispatcher.inFlight.get(id)?.job ?? (await this.store.getJob(id));
    if (!job) throw new NotFoundError(`job ${id} not found`);
    return job;
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

  queues(): string[] {
    return this.counts.queues();
  }

  statusCounts(): ReturnType<StatusCounts["entries"]> {
    return this.counts.entries();
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
      const reread = await Promise.all(pending.filter((job) => !doneIds.has(job.id)).map((job) => this.currentJob(job.id)));
      pending = reread.filter((job): job is Job => job !== undefined && !isTerminal(job.status));
    }
    return patched;
  }

  /** The job as it is now: the in-flight copy once its claim has settled, else the stored one. */
  private async currentJob(id: string): Promise<Job | undefined> {
    await this.dispatcher.inFlight.get(id)?.claimed;
    return this.dispatcher.inFlight.get(id)?.job ?? (await this.store.getJob(id));
  }

  private async patchMany(jobs: Job[], patch: JobPatch): Promise<Job[]> {
    await Promise.all(jobs.map((job) => this.dispatcher.inFlight.get(job.id)?.claimed));
    const now = this.clock.now();
    const changes = jobs.map((before) => ({ before, after: applyPatch(before, patch, now) }));
    const applied = await this.applyUpdates(changes);
    const patched: Job[] = [];
    changes.forEach(({ after }, position) => {
      if (!applied[position]) return;
      const inFlight = this.dispatcher.inFlight.get(after.id);
      if (inFlight) inFlight.job = after;
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
      const live = jobs
        .filter((job) => !isTerminal(job.status))
        .map((job) => this.dispatcher.inFlight.get(job.id)?.job ?? job);
      patched += (await this.patchRetrying(live, patch)).length;
    }
    return patched;
  }

  async deleteJob(id: string): Promise<void> {
    const result = await this.store.commit({ deletes: [id] });
    if (result.deleted.length === 0) throw new NotFoundError(`job ${id} not found`);
    this.trackDeleted(result.deleted);
  }

  async deleteJobs(selection: JobSelection): Promise<number> {
    if (!selection.filter) {
      const deleted = await this.store.deleteMatching(selection.query);
      this.trackDeleted(deleted);
      return deleted.length;
    }
    let deleted = 0;
    for await (const jobs of this.matching(selection)) {
      const result = await this.store.commit({ deletes: jobs.map((job) => job.id) });
      this.trackDeleted(result.deleted);
      deleted += result.deleted.length;
    }
    return deleted;
  }

  async reset(): Promise<void> {
    this.trackDeleted(await this.store.deleteMatching(undefined));
  }

  // ---- time-driven work ----

  private async promoteDue(due: Job[]): Promise<void> {
    await this.applyUpdates(due.map((job) => ({ before: job, after: promote(job) })));
  }

  private async maintain(): Promise<void> {
    const now = this.clock.now();
    for (const entry of this.dispatcher.expiredLeases(now)) {
      if (!this.dispatcher.finish(entry.job.id)) continue;
      this.observer.leaseExpired?.(entry.job);
      const seconds = this.leaseMs(entry.job) / 1000;
      await this.recordFailure(entry.job, { message: `lease expired after ${seconds}s without an ack`, error_type: "LeaseExpired" })
        .catch(() => undefined);
    }
    for (;;) {
      const purged = await this.store.purgeDue(now, RECOVERY_BATCH);
      this.trackDeleted(purged);
      if (purged.length < RECOVERY_BATCH) break;
    }
  }

  /** Stops timers, returns in-flight jobs to ready and closes the store. */
  async close(): Promise<void> {
    this.reaper.stop();
    this.scheduler.stop();
    await this.dispatcher.closeAll();
    await this.store.close();
  }
}
