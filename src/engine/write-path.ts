import { entersUniqueScope, type SavedWithLease } from "../job/state.js";
import { stringifyJson } from "../job/json.js";
import type { Job, JobError, JsonValue } from "../job/types.js";
import { chunks, Slicer } from "../slices.js";
import { changedColumns } from "../store/rows.js";
import type { BatchSession, BatchWrite, CronGroupWrite, CronWriteOutcome, DeletedJob, InsertOutcome, JobDelete, JobQuery, JobUpdate, QueueCaps, Store, WorkflowRecord } from "../store/store.js";
import type { DependencyRules, SettledChange } from "../store/dependencies.js";
import type { Coordination, TrackedJob } from "./coordination/coordination.js";
import type { EngineObserver } from "./observer.js";

/** Jobs tracked between yields to the event loop after a big bulk or delete. */
const TRACK_SLICE = 256;

/** A change the state machine decided, from the job as it was read. */
export interface DecidedUpdate {
  before: Job;
  after: Job;
  /** The failed attempt's record, written only if the update applies. */
  error?: JobError;
  /** Only while the stored lease ran out by then (lease expiry): a lease extended elsewhere is not ended. */
  leaseExpiredBy?: number;
}

export interface DecidedChanges {
  updates?: DecidedUpdate[];
  /**
   * Ends (completed or dead) that their retention purges at once: each is deleted, except a completed
   * job others depend on, which is written as it ends and purged once they have ended.
   */
  purgedEnds?: DecidedUpdate[];
  deletes?: JobDelete[];
  inserts?: Job[];
  /** The inserts' queue caps (max_entries). */
  caps?: QueueCaps;
}

export interface CommittedChanges {
  /** Per update, in order: whether it applied. */
  updated: boolean[];
  /** Per purged end, in order: whether it applied (deleted, or kept). */
  ended: boolean[];
  deleted: DeletedJob[];
  inserted: InsertOutcome[];
}

/** What else must hear of a committed change: the dispatcher (a job ready, a lease gone or extended) and promotion (a job scheduled). */
export interface WriteListeners {
  ready(): void;
  scheduled(readyAt: number): void;
  /** A job waiting to start has a deadline. */
  deadline(at: number): void;
  deleted(id: string): void;
  /** A job of `queue` left in_flight: a slot of a limited queue may have come free. */
  leaseEnded(queue: string): void;
  leaseExtended(id: string, runId: string, expiresAt: number, saved: SavedWithLease): void;
}

/**
 * The one path from a decided change to the store. Every write is fenced (a compare-and-set on the
 * status the change was decided from, and on the run for a lease), and whatever applied is passed
 * on, so the coordination's index and tallies, the dispatcher and promotion stay in step with the store.
 */
export class WritePath {
  /**
   * Jobs of a big bulk that are stored but not yet tracked (tracking goes in slices): a change to one
   * meanwhile is tracked as the job's first appearance, and the bulk's own tracking then skips it.
   */
  private readonly untracked = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly coordination: Coordination,
    private readonly listeners: WriteListeners,
    private readonly observer: EngineObserver,
    /** How dependents settle, for the store to apply in the transaction that ends their dependency. */
    private readonly rules: DependencyRules,
  ) {}

  /** With `caps`, under the queues' max_entries: the jobs discarded for room are tracked as they died. */
  async insert(jobs: Job[], caps?: QueueCaps): Promise<InsertOutcome[]> {
    const outcomes = caps ? await this.insertCapped(jobs, caps) : await this.store.insertJobs(jobs, this.rules);
    if (outcomes.length <= TRACK_SLICE) {
      this.trackInserted(outcomes);
      return outcomes;
    }
    for (const { job, duplicate } of outcomes) if (!duplicate) this.untracked.add(job.id);
    await inSlices(outcomes, (slice) => this.trackInserted(slice.filter(({ job }) => this.untracked.delete(job.id))));
    return outcomes;
  }

  async update(updates: DecidedUpdate[]): Promise<boolean[]> {
    if (updates.length === 0) return [];
    return (await this.commit({ updates })).updated;
  }

  async commit(changes: DecidedChanges): Promise<CommittedChanges> {
    const updates = changes.updates ?? [];
    const purgedEnds = changes.purgedEnds ?? [];
    const result = await this.store.commit({
      updates: updates.map(fencedUpdate),
      deletes: [...purgedEnds.map(purgedEnd), ...(changes.deletes ?? [])],
      inserts: changes.inserts ?? [],
      rules: this.rules,
      caps: changes.caps,
    });
    updates.forEach(({ before, after }, position) => {
      if (result.updated[position]) this.track(before, after);
    });
    const kept = new Set(result.kept);
    for (const { before, after } of purgedEnds) if (kept.has(before.id)) this.track(before, after);
    this.trackDeleted(result.deleted);
    this.trackInserted(result.inserted);
    this.trackSettled(result.settled);
    const deletedIds = new Set(result.deleted.map(({ id }) => id));
    const ended = purgedEnds.map(({ before }) => kept.has(before.id) || deletedIds.has(before.id));
    return { updated: result.updated, ended, deleted: result.deleted, inserted: result.inserted };
  }

  /** Moves the lease of an in-flight job (in its current run) to `expiresAt`, saving its state and progress with it when given; false when that run has ended. */
  async extendLease(job: Job, expiresAt: number, saved: SavedWithLease = {}): Promise<boolean> {
    const text = (value: JsonValue | undefined): string | undefined => (value === undefined ? undefined : stringifyJson(value));
    if (job.run_id === undefined || !(await this.store.extendLease(job.id, job.run_id, expiresAt, text(saved.state), text(saved.progress)))) return false;
    this.listeners.leaseExtended(job.id, job.run_id, expiresAt, saved);
    return true;
  }

  /** A cron group's fenced write; the jobs its ticks enqueued are tracked like any insert. */
  async writeCronGroup(write: CronGroupWrite): Promise<CronWriteOutcome> {
    const outcome = await this.store.writeCronGroup({ ...write, rules: this.rules });
    this.trackInserted(outcome.inserted);
    this.trackSettled(outcome.discarded);
    return outcome;
  }

  /** A batch round's write in its session; the jobs it inserted (or discarded for room) are tracked like any insert's (folds change no status). */
  async writeBatch(session: BatchSession, write: BatchWrite): Promise<InsertOutcome[] | undefined> {
    const written = await session.write({ ...write, rules: this.rules });
    if (!written) return undefined;
    this.trackInserted(written.inserted);
    this.trackSettled(written.discarded);
    return written.inserted;
  }

  /** Tracks a big delete in slices, yielding between them: the jobs are gone from the store, so nothing else changes them meanwhile. */
  async deleteMatching(query: JobQuery | undefined): Promise<DeletedJob[]> {
    const { deleted, settled } = await this.store.deleteMatching(query, this.rules);
    await inSlices(deleted, (slice) => this.trackDeleted(slice));
    this.trackSettled(settled);
    return deleted;
  }

  async purgeDue(now: number, limit: number): Promise<DeletedJob[]> {
    const purged = await this.store.purgeDue(now, limit);
    this.trackDeleted(purged);
    return purged;
  }

  purgeWorkflows(limit: number): Promise<number> {
    return this.store.purgeWorkflows(limit);
  }

  /** Inserts a workflow's jobs and its record in one transaction; tracked like any insert. */
  async insertWorkflow(jobs: Job[], workflow: WorkflowRecord, caps?: QueueCaps): Promise<InsertOutcome[]> {
    const outcomes = caps ? await this.insertCapped(jobs, caps, workflow) : await this.store.insertJobs(jobs, this.rules, workflow);
    this.trackInserted(outcomes);
    return outcomes;
  }

  private async insertCapped(jobs: Job[], caps: QueueCaps, workflow?: WorkflowRecord): Promise<InsertOutcome[]> {
    const { inserted, discarded } = await this.store.insertCapped(jobs, caps, this.rules, workflow);
    this.trackSettled(discarded);
    return inserted;
  }

  private track(before: TrackedJob | undefined, after: Job | undefined): void {
    if (before && this.untracked.delete(before.id)) before = undefined;
    this.coordination.tracked(before, after);
    if (before?.status === "in_flight" && after?.status !== "in_flight") this.listeners.leaseEnded(before.queue);
    if (after?.status === "ready") this.listeners.ready();
    else if (after?.status === "scheduled") this.listeners.scheduled(after.ready_at);
    if (after?.deadline !== undefined && (after.status === "ready" || after.status === "scheduled")) this.listeners.deadline(after.deadline);
  }

  private trackDeleted(deleted: DeletedJob[]): void {
    for (const job of deleted) {
      this.listeners.deleted(job.id);
      this.track(job, undefined);
    }
  }

  /** Dependents a commit unblocked, killed or discarded along with what it ended. */
  private trackSettled(settled: SettledChange[]): void {
    for (const { before, after, error } of settled) {
      if (!after) {
        this.trackDeleted([before]);
        continue;
      }
      this.track(before, after);
      if (after.status !== "dead") {
        if (before.status === "blocked" && after.status !== "blocked") this.observer.unblocked?.(after);
        continue;
      }
      if (error) this.observer.failed?.(after, error);
      this.observer.died?.(after);
    }
  }

  private trackInserted(outcomes: InsertOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.duplicate) continue;
      this.track(undefined, outcome.job);
      this.observer.enqueued?.(outcome.job);
    }
  }
}

/** Runs `track` over TRACK_SLICE items at a time, yielding to the event loop when a slice has run long. */
async function inSlices<T>(items: readonly T[], track: (slice: T[]) => void): Promise<void> {
  const slicer = new Slicer();
  for (const slice of chunks(items, TRACK_SLICE)) {
    track(slice);
    await slicer.pause();
  }
}

/** An end its retention purges at once, as a fenced delete; a completed one keeps its update for the store to write instead, should others depend on it. */
function purgedEnd(ending: DecidedUpdate): JobDelete {
  const completed = ending.after.status === "completed";
  const deletion = fenced<JobDelete>({ id: ending.before.id, from: ending.before.status, ends: completed ? "completed" : "dead", expected: ending.before }, ending);
  if (completed) deletion.keptAs = () => fencedUpdate(ending);
  return deletion;
}

function fencedUpdate(decided: DecidedUpdate): JobUpdate {
  const { before, after, error } = decided;
  const update = fenced<JobUpdate>({ job: after, from: before.status, columns: changedColumns(before, after) }, decided);
  if (entersUniqueScope(before, after)) update.entersUniqueScope = true;
  if (error) update.error = error;
  return update;
}

/**
 * Adds the fence to a change decided from `before`: from in_flight it is fenced by the run, so only the
 * current lease can end it. Set field by field rather than spread: this runs once per claim and per ack,
 * and a spread of objects of varying shapes costs microseconds each.
 */
function fenced<T extends Pick<JobUpdate, "fromRunId" | "leaseExpiredBy">>(change: T, { before, leaseExpiredBy }: Pick<DecidedUpdate, "before" | "leaseExpiredBy">): T {
  if (before.status === "in_flight" && before.run_id !== undefined) change.fromRunId = before.run_id;
  if (leaseExpiredBy !== undefined) change.leaseExpiredBy = leaseExpiredBy;
  return change;
}
