import { randomBytes } from "node:crypto";
import { UnavailableError } from "../errors.js";
import { release } from "../job/state.js";
import type { Job } from "../job/types.js";
import type { Logger } from "../log.js";
import type { Clock } from "./clock.js";
import type { EngineObserver } from "./observer.js";
import { logFailure } from "./log.js";

export interface TakeOptions {
  /** Queues to take from; empty means every queue. */
  queues: string[];
  /** Job types to take, a Wharf extension; every type when absent. Jobs of other types stay ready for other streams. */
  types?: string[];
  /** Jobs this stream may hold unacknowledged; 0 means no limit but the server's cap. */
  prefetch: number;
  workerId?: string;
}

/** Receives jobs as they are leased to a take stream. */
export type JobSink = (jobs: Job[]) => void;

/** Told to a take stream that asked for control frames: the run of a job it holds was cancelled; stop working on it. */
export interface CancelFrame {
  control: "cancel";
  id: string;
  run_id?: string;
}

/** Receives a stream's control frames. */
export type ControlSink = (frame: CancelFrame) => void;

export interface Subscription {
  /** Unguessable, so only the stream's own client can close it by id. */
  readonly id: string;
  readonly workerId: string | undefined;
  /** The queues it takes from; null: every queue. */
  readonly queues: ReadonlySet<string> | null;
  close(): Promise<void>;
}

interface Stream extends Subscription {
  readonly types: ReadonlySet<string> | null;
  readonly prefetch: number;
  readonly sink: JobSink;
  readonly control: ControlSink | undefined;
  /** Jobs leased to this stream, including ones being claimed right now. */
  held: number;
  readonly jobIds: Set<string>;
  closed: boolean;
  /** The claim under way for this stream, if any: closing waits for it, so no job it leases is left behind. */
  claiming: Promise<unknown> | undefined;
  /** Set once closing has handed every job back; a lease that still arrives is returned on the spot. */
  released: boolean;
  readonly connectedAt: number;
  /** Its jobs acked, and failed, since it opened. */
  completed: number;
  failed: number;
  /** When it last got a job, or one of its jobs was acked, failed or heartbeat. */
  lastSeenAt: number;
}

/** A take stream as GET /workers shows it (not its id, which is the key that closes it). */
export interface StreamView {
  worker_id: string | null;
  queues: string[] | null;
  types: string[] | null;
  prefetch: number;
  in_flight: number;
  connected_at: number;
  completed: number;
  failed: number;
  /** When it last got a job, or one of its jobs was acked, failed or heartbeat: its worker's last sign of life. */
  last_seen_at: number;
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
  /** Persists status changes through the engine's write path; false where the compare-and-set lost. */
  applyUpdates(updates: Array<{ before: Job; after: Job }>): Promise<boolean[]>;
  /** Ready jobs a claim found past their deadline: not started, and to be made dead. */
  missedDeadlines(jobs: Job[]): void;
}

/** A stream as claim sources see it: where it takes from, which types, and the claim under way for it. */
export interface ClaimingStream {
  readonly queues: ReadonlySet<string> | null;
  /** Null takes every type. */
  readonly types: ReadonlySet<string> | null;
  claiming: Promise<unknown> | undefined;
}

/** The dispatcher's side of one claim round, handed to the claim source (src/engine/coordination/). */
export interface ClaimRound {
  /** The open streams, starting one further along at every round, so no stream starves another. */
  readonly streams: readonly ClaimingStream[];
  /** Jobs `stream` may still be given now: its prefetch window and the server's cap, at most a batch. */
  roomFor(stream: ClaimingStream): number;
  /** Holds `count` slots of `stream` for jobs being claimed. */
  reserve(stream: ClaimingStream, count: number): void;
  /** Gives back `count` reserved slots, of which `kept` are now filled by leased jobs. */
  settle(stream: ClaimingStream, count: number, kept: number): void;
  /**
   * Records claimed jobs as in flight on their streams and pushes them out. `claimed` settles per job
   * once its claim is committed; a job whose claim did not take is forgotten then.
   */
  admit(jobs: Job[], streamOf: (job: Job) => ClaimingStream, claimed: Array<Promise<boolean>>): void;
  applyUpdates(updates: Array<{ before: Job; after: Job }>): Promise<boolean[]>;
  /** Picked jobs whose deadline has passed: they are not claimed but handed to the deadline's expiry. */
  missedDeadlines(jobs: Job[]): void;
  /** Ready jobs were left for a limit that opens at `at` (a rate's window): a round then may take them. */
  wakeAt(at: number): void;
}

/** Where a dispatcher's jobs come from: an in-memory index (a process alone) or claims in a shared database. */
export interface ClaimSource {
  /** One claim round; true when it leased something and another round may find more. */
  round(dispatcher: ClaimRound): Promise<boolean>;
}

/** The `claimed` of a lease whose claim is already committed. */
export const CLAIMED = Promise.resolve(true);

/** Jobs claimed in one pass, at most; more passes follow at once, so the event loop is never held long. */
export const CLAIM_BATCH = 1000;

/**
 * Matches ready jobs to open take streams. Jobs are pushed the moment they
 * become ready; a stream never polls. Tracks every in-flight job, its stream
 * and its lease.
 */
export class Dispatcher {
  private readonly inFlight = new Map<string, InFlightJob>();
  private readonly streams: Stream[] = [];
  private reserved = 0;
  private passScheduled = false;
  private passRunning = false;
  private passWanted = false;
  private rotation = 0;
  /** The one timer for the earliest time a limit opens (wakeAt). */
  private limitTimer: { at: number; cancel: () => void } | undefined;

  constructor(
    private readonly claims: ClaimSource,
    private readonly clock: Clock,
    private readonly hooks: DispatcherHooks,
    private readonly maxInFlight: number,
    private readonly observer: EngineObserver,
    private readonly logger: Logger,
  ) {}

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get streamCount(): number {
    return this.streams.length;
  }

  /** The lease this process holds on a job, if any. */
  lease(id: string): InFlightJob | undefined {
    return this.inFlight.get(id);
  }

  /** Every lease this process holds. */
  leases(): InFlightJob[] {
    return [...this.inFlight.values()];
  }

  open(options: TakeOptions, sink: JobSink, control?: ControlSink): Subscription {
    const stream: Stream = {
      id: randomBytes(12).toString("hex"),
      workerId: options.workerId,
      queues: options.queues.length > 0 ? new Set(options.queues) : null,
      types: options.types ? new Set(options.types) : null,
      prefetch: options.prefetch,
      sink,
      control,
      held: 0,
      jobIds: new Set(),
      closed: false,
      claiming: undefined,
      released: false,
      connectedAt: this.clock.now(),
      completed: 0,
      failed: 0,
      lastSeenAt: this.clock.now(),
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

  /** Wakes at `at` (never sooner than the next millisecond), keeping one timer for the earliest time asked. */
  wakeAt(at: number): void {
    const when = Math.max(at, this.clock.now() + 1);
    if (this.limitTimer && this.limitTimer.at <= when) return;
    this.limitTimer?.cancel();
    this.limitTimer = {
      at: when,
      cancel: this.clock.setTimer(when, () => {
        this.limitTimer = undefined;
        this.wake();
      }),
    };
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
      this.logDispatchError(error);
    } finally {
      this.passRunning = false;
    }
  }

  /** One claim round, from wherever this process's jobs come from. */
  private pass(): Promise<boolean> {
    const order = this.streams.map((_stream, offset) => this.streams[(this.rotation + offset) % this.streams.length]!);
    this.rotation++;
    return this.claims.round({
      streams: order,
      roomFor: (stream) => this.roomFor(stream as Stream),
      reserve: (stream, count) => {
        (stream as Stream).held += count;
        this.reserved += count;
      },
      settle: (stream, count, kept) => {
        (stream as Stream).held -= count - kept;
        this.reserved -= count;
      },
      admit: (jobs, streamOf, claimed) => this.admit(jobs, streamOf as (job: Job) => Stream, claimed),
      applyUpdates: (updates) => this.hooks.applyUpdates(updates),
      missedDeadlines: (jobs) => this.hooks.missedDeadlines(jobs),
      wakeAt: (at) => this.wakeAt(at),
    });
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
  private admit(jobs: Job[], streamOf: (job: Job) => Stream, claimed: Array<Promise<boolean>>): void {
    const now = this.clock.now();
    const deliveries = new Map<Stream, Job[]>();
    jobs.forEach((job, position) => {
      const stream = streamOf(job);
      this.inFlight.set(job.id, { job, stream, claimed: claimed[position]! });
      stream.jobIds.add(job.id);
      void claimed[position]!.then((took) => {
        if (!took && this.inFlight.get(job.id)?.job.run_id === job.run_id) this.finish(job.id);
      });
      this.observer.taken?.(job, Math.max(0, now - job.ready_at));
      const batch = deliveries.get(stream) ?? [];
      batch.push(job);
      deliveries.set(stream, batch);
    });
    for (const [stream, batch] of deliveries) {
      if (stream.released) void this.releaseJobs(batch.map((job) => job.id)).catch((error: unknown) => this.logDispatchError(error));
      else if (!stream.closed) {
        stream.lastSeenAt = this.clock.now();
        stream.sink(batch);
      }
    }
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

  /** Counts how a lease of a stream ended (acked or failed), for GET /workers. */
  tally(entry: InFlightJob, outcome: "completed" | "failed"): void {
    if (!entry.stream) return;
    entry.stream[outcome]++;
    this.seen(entry);
  }

  /** A sign of life from the worker that holds `entry` (a heartbeat). */
  seen(entry: InFlightJob | undefined): void {
    if (entry?.stream) entry.stream.lastSeenAt = this.clock.now();
  }

  /** The open take streams. */
  streamViews(): StreamView[] {
    return this.streams.filter((stream) => !stream.closed).map((stream) => ({
      worker_id: stream.workerId ?? null,
      queues: stream.queues && [...stream.queues],
      types: stream.types && [...stream.types],
      prefetch: stream.prefetch,
      in_flight: stream.held,
      connected_at: stream.connectedAt,
      completed: stream.completed,
      failed: stream.failed,
      last_seen_at: stream.lastSeenAt,
    }));
  }

  /** Tells the stream that held a lease that its run was cancelled (streams that asked for control frames). */
  tellCancelled(entry: InFlightJob): void {
    if (entry.stream && !entry.stream.closed) entry.stream.control?.({ control: "cancel", id: entry.job.id, ...(entry.job.run_id === undefined ? {} : { run_id: entry.job.run_id }) });
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

  private logDispatchError(error: unknown): void {
    logFailure(this.logger, "dispatch", error);
  }

  async closeAll(): Promise<void> {
    this.limitTimer?.cancel();
    this.limitTimer = undefined;
    await Promise.all([...this.streams].map((stream) => stream.close()));
  }
}

/** The entries whose claim committed, once every claim has settled. */
export async function claimedOnly(entries: Array<InFlightJob | undefined>): Promise<InFlightJob[]> {
  const present = entries.filter((entry): entry is InFlightJob => entry !== undefined);
  const took = await Promise.all(present.map((entry) => entry.claimed));
  return present.filter((_entry, position) => took[position]);
}
