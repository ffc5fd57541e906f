import { randomBytes } from "node:crypto";
import { UnavailableError } from "../errors.js";
import { claim, release } from "../job/state.js";
import type { Job } from "../job/types.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { EngineObserver } from "./observer.js";
import type { ReadyIndex } from "./ready-index.js";

export interface TakeOptions {
  /** Queues to take from; empty means every queue. */
  queues: string[];
  /** Jobs this stream may hold unacknowledged; 0 means no limit but the server's cap. */
  prefetch: number;
  workerId?: string;
}

/** Receives jobs as they are leased to a take stream. */
export type JobSink = (jobs: Job[]) => void;

export interface Subscription {
  /** Unguessable, so only the stream's own client can close it by id. */
  readonly id: string;
  readonly workerId: string | undefined;
  close(): Promise<void>;
}

interface Stream extends Subscription {
  readonly queues: ReadonlySet<string> | null;
  readonly prefetch: number;
  readonly sink: JobSink;
  /** Jobs leased to this stream, including ones being claimed right now. */
  held: number;
  readonly jobIds: Set<string>;
  closed: boolean;
}

export interface InFlightJob {
  job: Job;
  stream: Stream | undefined;
  leaseExpiry: number;
  /**
   * Settles when the claim (ready -> in_flight) is committed: true if it took. Writes that start from
   * in_flight wait for it, so they never reach the store before the claim, whatever the store's ordering.
   */
  claimed: Promise<boolean>;
}

export interface DispatcherHooks {
  /** Persists status changes and keeps index and counts in step; false where the compare-and-set lost. */
  applyUpdates(updates: Array<{ before: Job; after: Job }>): Promise<boolean[]>;
  leaseMs(job: Job): number;
}

/** Jobs claimed in one pass, at most; more passes follow at once, so the event loop is never held long. */
const CLAIM_BATCH = 1000;

/**
 * Matches ready jobs to open take streams. Jobs are pushed the moment they
 * become ready; a stream never polls. Tracks every in-flight job, its stream
 * and its lease.
 */
export class Dispatcher {
  readonly inFlight = new Map<string, InFlightJob>();
  private readonly streams: Stream[] = [];
  private reserved = 0;
  private passScheduled = false;
  private passRunning = false;
  private passWanted = false;
  private rotation = 0;

  constructor(
    private readonly store: Store,
    private readonly index: ReadyIndex,
    private readonly clock: Clock,
    private readonly hooks: DispatcherHooks,
    private readonly maxInFlight: number,
    private readonly observer: EngineObserver,
  ) {}

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get streamCount(): number {
    return this.streams.length;
  }

  open(options: TakeOptions, sink: JobSink): Subscription {
    const stream: Stream = {
      id: randomBytes(12).toString("hex"),
      workerId: options.workerId,
      queues: options.queues.length > 0 ? new Set(options.queues) : null,
      prefetch: options.prefetch,
      sink,
      held: 0,
      jobIds: new Set(),
      closed: false,
      close: () => this.closeStream(stream),
    };
    this.streams.push(stream);
    this.wake();
    return stream;
  }

  /** Schedules a dispatch pass for the end of this turn (many wake-ups, one pass). */
  wake(): void {
    if (this.passRunning) {
      this.passWanted = true;
      return;
    }
    if (this.passScheduled || this.streams.length === 0) return;
    this.passScheduled = true;
    setImmediate(() => void this.runPasses());
  }

  private async runPasses(): Promise<void> {
    this.passScheduled = false;
    this.passRunning = true;
    try {
      do {
        this.passWanted = false;
        while (await this.pass()) { /* keep going while jobs and capacity remain */ }
      } while (this.passWanted);
    } catch (error) {
      logDispatchError(error);
    } finally {
      this.passRunning = false;
    }
  }

  private hasCapacity(stream: Stream): boolean {
    return !stream.closed && (stream.prefetch === 0 || stream.held < stream.prefetch);
  }

  /** Picks jobs for streams round-robin, one at a time, so no stream starves another. */
  private pick(): Map<Stream, string[]> {
    const picks = new Map<Stream, string[]>();
    let picked = 0;
    let progress = true;
    while (progress && picked < CLAIM_BATCH && this.inFlight.size + this.reserved < this.maxInFlight) {
      progress = false;
      for (let offset = 0; offset < this.streams.length && picked < CLAIM_BATCH; offset++) {
        const stream = this.streams[(this.rotation + offset) % this.streams.length]!;
        if (!this.hasCapacity(stream) || this.inFlight.size + this.reserved >= this.maxInFlight) continue;
        const entry = this.index.takeNext(stream.queues);
        if (!entry) continue;
        stream.held++;
        this.reserved++;
        picked++;
        progress = true;
        const ids = picks.get(stream) ?? [];
        ids.push(entry.id);
        picks.set(stream, ids);
      }
    }
    this.rotation++;
    return picks;
  }

  /** One claim round; true when it leased something and another round may find more. */
  private async pass(): Promise<boolean> {
    const picks = this.pick();
    if (picks.size === 0) return false;
    const allIds = [...picks.values()].flat();
    const streamOf = new Map<string, Stream>();
    for (const [stream, ids] of picks) for (const id of ids) streamOf.set(id, stream);
    const leased = new Set<string>();
    try {
      const byId = new Map((await this.store.getJobs(allIds)).map((job) => [job.id, job]));
      const jobs = allIds.map((id) => byId.get(id)).filter((job): job is Job => job?.status === "ready");
      await this.lease(jobs, streamOf, leased);
    } finally {
      this.reserved -= allIds.length;
      for (const id of allIds) if (!leased.has(id)) streamOf.get(id)!.held--;
    }
    return true;
  }

  /**
   * Claims `ready` for the streams that picked them and delivers at once; adds each leased job to `leased`.
   * The in_flight status is written in the background: a restart makes in-flight jobs ready anyway, so
   * delivery need not wait for the disk, and the store applies writes in order, so a later ack, failure or
   * release of these jobs always lands after the claim.
   */
  private async lease(ready: Job[], streamOf: Map<string, Stream>, leased: Set<string>): Promise<void> {
    const now = this.clock.now();
    const updates = ready.map((job) => ({ before: job, after: claim(job, now) }));
    const persisted = this.hooks.applyUpdates(updates);
    const deliveries = new Map<Stream, Job[]>();
    updates.forEach(({ after }, position) => {
      const stream = streamOf.get(after.id)!;
      const claimed = persisted.then((applied) => applied[position] === true, () => false);
      this.inFlight.set(after.id, { job: after, stream, leaseExpiry: now + this.hooks.leaseMs(after), claimed });
      stream.jobIds.add(after.id);
      leased.add(after.id);
      this.observer.taken?.(after, Math.max(0, now - after.ready_at));
      const batch = deliveries.get(stream) ?? [];
      batch.push(after);
      deliveries.set(stream, batch);
    });
    for (const [stream, jobs] of deliveries) {
      if (stream.closed) void this.releaseJobs(jobs.map((job) => job.id)).catch(logDispatchError);
      else stream.sink(jobs);
    }
    void persisted.then((applied) => this.forgetUnclaimed(updates.map(({ after }) => after), applied), logDispatchError);
  }

  /** A job deleted or changed between pick and claim was not leased after all; its worker's ack will get 404. */
  private forgetUnclaimed(jobs: Job[], applied: boolean[]): void {
    jobs.forEach((job, position) => {
      if (!applied[position]) this.finish(job.id);
    });
  }

  /** Forgets an in-flight job (acked, failed, deleted, expired) and frees its stream's slot. */
  finish(id: string): InFlightJob | undefined {
    const entry = this.inFlight.get(id);
    if (!entry) return undefined;
    this.inFlight.delete(id);
    if (entry.stream) {
      entry.stream.held--;
      entry.stream.jobIds.delete(id);
    }
    this.wake();
    return entry;
  }

  /** Puts an entry back after a write that failed, so the job stays in flight. */
  restore(entry: InFlightJob): void {
    this.inFlight.set(entry.job.id, entry);
    if (entry.stream) {
      entry.stream.held++;
      entry.stream.jobIds.add(entry.job.id);
    }
  }

  /** Returns in-flight jobs to ready untouched (their stream went away). */
  async releaseJobs(ids: readonly string[]): Promise<void> {
    const entries = await claimedOnly(ids.map((id) => this.finish(id)));
    if (entries.length === 0) return;
    await this.hooks.applyUpdates(entries.map(({ job }) => ({ before: job, after: release(job) })));
  }

  private async closeStream(stream: Stream): Promise<void> {
    if (stream.closed) return;
    stream.closed = true;
    const position = this.streams.indexOf(stream);
    if (position >= 0) this.streams.splice(position, 1);
    try {
      await this.releaseJobs([...stream.jobIds]);
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
    }
  }

  findStream(id: string): Subscription | undefined {
    return this.streams.find((stream) => stream.id === id);
  }

  expiredLeases(now: number): InFlightJob[] {
    return [...this.inFlight.values()].filter((entry) => entry.leaseExpiry <= now);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.streams].map((stream) => stream.close()));
  }
}

/** The entries whose claim committed, once every claim has settled. */
export async function claimedOnly(entries: Array<InFlightJob | undefined>): Promise<InFlightJob[]> {
  const present = entries.filter((entry): entry is InFlightJob => entry !== undefined);
  const took = await Promise.all(present.map((entry) => entry.claimed));
  return present.filter((_entry, position) => took[position]);
}

function logDispatchError(error: unknown): void {
  console.error(JSON.stringify({ level: "error", msg: "dispatch failed", error: (error as Error).message }));
}
