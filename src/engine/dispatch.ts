import { randomBytes } from "node:crypto";
import { UnavailableError } from "../errors.js";
import { claim, release, type Lease } from "../job/state.js";
import type { Job } from "../job/types.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { EngineObserver } from "./observer.js";
import { logFailure } from "./log.js";
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
  /** The claim under way for this stream, if any: closing waits for it, so no job it leases is left behind. */
  claiming: Promise<unknown> | undefined;
  /** Set once closing has handed every job back; a lease that still arrives is returned on the spot. */
  released: boolean;
}

export interface InFlightJob {
  /** The job as leased; its run_id and lease_expires_at are the lease. */
  job: Job;
  stream: Stream | undefined;
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
  /** Lease of a job with no timeout, for claims a shared store makes. */
  defaultLeaseMs: number;
  /** This server, as the owner of the jobs it claims from a shared store. */
  owner: string;
}

/** The `claimed` of a lease whose claim is already committed. */
export const CLAIMED = Promise.resolve(true);

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
  private readonly runIdPrefix = randomBytes(8).toString("hex");
  private runCounter = 0;

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
      claiming: undefined,
      released: false,
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

  /** Picks jobs for streams round-robin, one at a time, so no stream starves another. */
  private pick(): Map<Stream, string[]> {
    const picks = new Map<Stream, string[]>();
    let picked = 0;
    let progress = true;
    while (progress && picked < CLAIM_BATCH && this.inFlight.size + this.reserved < this.maxInFlight) {
      progress = false;
      for (let offset = 0; offset < this.streams.length && picked < CLAIM_BATCH; offset++) {
        const stream = this.streams[(this.rotation + offset) % this.streams.length]!;
        if (this.roomFor(stream) === 0) continue;
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
  private pass(): Promise<boolean> {
    return this.store.shared ? this.passShared() : this.passLocal();
  }

  /** From the in-memory index: the picks are read in one query, claimed in one background write. */
  private async passLocal(): Promise<boolean> {
    const picks = this.pick();
    if (picks.size === 0) return false;
    const allIds = [...picks.values()].flat();
    const streamOf = new Map<string, Stream>();
    for (const [stream, ids] of picks) for (const id of ids) streamOf.set(id, stream);
    const leased = new Set<string>();
    try {
      const reading = this.store.getJobs(allIds);
      for (const stream of picks.keys()) stream.claiming = reading;
      const byId = new Map((await reading).map((job) => [job.id, job]));
      const jobs = allIds.map((id) => byId.get(id)).filter((job): job is Job => job?.status === "ready");
      this.claimLocally(jobs, streamOf, leased);
    } finally {
      this.reserved -= allIds.length;
      for (const id of allIds) if (!leased.has(id)) streamOf.get(id)!.held--;
    }
    return true;
  }

  /**
   * Claims picked jobs and delivers them at once. The in_flight status is written in the background:
   * a restart makes in-flight jobs ready anyway, so delivery need not wait for the disk; each entry's
   * `claimed` lets later writes for the job wait for it.
   */
  private claimLocally(ready: Job[], streamOf: Map<string, Stream>, leased: Set<string>): void {
    const now = this.clock.now();
    const updates = ready.map((job) => ({ before: job, after: claim(job, now, this.newLease(job, now)) }));
    const persisted = this.hooks.applyUpdates(updates);
    const claimed = updates.map((_update, position) => persisted.then((applied) => applied[position] === true, () => false));
    this.admit(updates.map(({ after }) => after), (job) => streamOf.get(job.id)!, claimed, leased);
    void persisted.then((applied) => this.forgetUnclaimed(updates.map(({ after }) => after), applied), logDispatchError);
  }

  /** Run ids only need to differ from every earlier run of the same job: a random per-process prefix and a counter do. */
  private newLease(job: Job, now: number): Lease {
    return { runId: `${this.runIdPrefix}${(++this.runCounter).toString(36)}`, expiresAt: now + this.hooks.leaseMs(job) };
  }

  /** From a shared store: each stream claims for itself with SKIP LOCKED, so servers never hand out one job twice. */
  private async passShared(): Promise<boolean> {
    let leasedAny = false;
    const order = this.streams.map((_stream, offset) => this.streams[(this.rotation + offset) % this.streams.length]!);
    this.rotation++;
    for (const stream of order) {
      const room = this.roomFor(stream);
      if (room === 0) continue;
      stream.held += room;
      this.reserved += room;
      let jobs: Job[];
      try {
        const claiming = this.store.claimReady({
          queues: stream.queues ? [...stream.queues] : null,
          limit: room,
          now: this.clock.now(),
          owner: this.hooks.owner,
          defaultLeaseMs: this.hooks.defaultLeaseMs,
        });
        stream.claiming = claiming;
        jobs = await claiming;
      } finally {
        stream.held -= room;
        this.reserved -= room;
      }
      stream.held += jobs.length;
      this.admit(jobs, () => stream, jobs.map(() => CLAIMED), new Set());
      leasedAny ||= jobs.length > 0;
    }
    return leasedAny;
  }

  private roomFor(stream: Stream): number {
    if (stream.closed) return 0;
    const streamRoom = stream.prefetch === 0 ? CLAIM_BATCH : stream.prefetch - stream.held;
    const serverRoom = this.maxInFlight - this.inFlight.size - this.reserved;
    return Math.max(0, Math.min(streamRoom, serverRoom, CLAIM_BATCH));
  }

  /**
   * Records claimed jobs as in flight on their streams and pushes them out. A stream closing meanwhile
   * keeps them until its close (which waited for this claim) hands them back.
   */
  private admit(jobs: Job[], streamOf: (job: Job) => Stream, claimed: Array<Promise<boolean>>, leased: Set<string>): void {
    const now = this.clock.now();
    const deliveries = new Map<Stream, Job[]>();
    jobs.forEach((job, position) => {
      const stream = streamOf(job);
      this.inFlight.set(job.id, { job, stream, claimed: claimed[position]! });
      stream.jobIds.add(job.id);
      leased.add(job.id);
      this.observer.taken?.(job, Math.max(0, now - job.ready_at));
      const batch = deliveries.get(stream) ?? [];
      batch.push(job);
      deliveries.set(stream, batch);
    });
    for (const [stream, batch] of deliveries) {
      if (stream.released) void this.releaseJobs(batch.map((job) => job.id)).catch(logDispatchError);
      else if (!stream.closed) stream.sink(batch);
    }
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

  /** Replaces the in-flight copy of a job, only while its lease here is still run `runId`. */
  refresh(id: string, runId: string | undefined, update: (job: Job) => Job): void {
    const entry = this.inFlight.get(id);
    if (entry && entry.job.run_id === runId) entry.job = update(entry.job);
  }

  /** Puts an entry back after a write that failed, so the job stays in flight. Leases made by another server are not ours to keep. */
  restore(entry: InFlightJob): void {
    if (!entry.stream) return;
    this.inFlight.set(entry.job.id, entry);
    entry.stream.held++;
    entry.stream.jobIds.add(entry.job.id);
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
    await stream.claiming?.catch(() => undefined);
    try {
      await this.releaseJobs([...stream.jobIds]);
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
    } finally {
      stream.released = true;
    }
  }

  /** Waits for every claim under way to be admitted. */
  async settleClaims(): Promise<void> {
    await Promise.all(this.streams.map((stream) => stream.claiming?.catch(() => undefined)));
  }

  findStream(id: string): Subscription | undefined {
    return this.streams.find((stream) => stream.id === id);
  }

  expiredLeases(now: number): InFlightJob[] {
    return [...this.inFlight.values()].filter((entry) => (entry.job.lease_expires_at ?? Infinity) <= now);
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
  logFailure("dispatch", error);
}
