import type { Job } from "../../job/types.js";
import type { Sharing } from "../../store/sharing.js";
import type { ClaimRequest, EndedLease, StatusCount, Store } from "../../store/store.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../../log.js";
import { logFailure } from "../log.js";
import type { EngineObserver } from "../observer.js";
import { CLAIMED, type ClaimingStream, type ClaimRound, type ClaimSource, type Dispatcher, type InFlightJob } from "../dispatch.js";
import type { QueueSettingsCache } from "../services/queue-settings-cache.js";
import { LeaseSync } from "../services/lease-sync.js";
import { Rescue } from "../services/rescue.js";
import type { Service } from "../services/service.js";
import { WakeUp } from "../services/wake-up.js";
import { EventWatchers } from "../services/event-watchers.js";
import type { EventLog, EventOutlet } from "../events.js";
import { SharedEvents } from "./shared-events.js";
import { PublishWorkers } from "../services/worker-directory.js";
import type { WorkerView } from "../worker-registry.js";
import type { Coordination, EngineParts } from "./coordination.js";

export interface SharedOptions {
  store: Store;
  sharing: Sharing;
  clock: Clock;
  /** This server, as the owner of the leases it claims. */
  owner: string;
  /** Lease of a job with no timeout. */
  defaultLeaseMs: number;
  /** Told when this process becomes the leader or stops being it. */
  observer: EngineObserver;
  /** Where best-effort work with no caller reports its failures. */
  logger: Logger;
  /** Which queues are limited (the engine keeps it, as a service). */
  queueSettings: QueueSettingsCache;
  /** How often services tick: a server whose published workers are five ticks old is gone. */
  maintenanceIntervalMs: number;
}

/**
 * A store other servers use too (PostgreSQL): the database is the ready index and the tally. Each
 * stream claims for itself with SKIP LOCKED, notifications wake this server when another makes jobs
 * ready or ends one of its leases, and the elected leader runs the leader-only services.
 */
export class Shared implements Coordination {
  readonly claims: ClaimSource;
  private readonly store: Store;
  private readonly sharing: Sharing;
  private readonly stopListening: Array<() => void> = [];
  private readonly observer: EngineObserver;
  private leaseSync: LeaseSync | undefined;
  private readonly logger: Logger;
  private readonly queueSettings: QueueSettingsCache;
  private leading = false;
  private stopped = false;
  private readonly clock: Clock;
  private events: SharedEvents | undefined;
  private readonly owner: string;
  /** How old another server's published workers may be and still count: five ticks, at least 5 s. */
  private readonly workersTtlMs: number;


  constructor(options: SharedOptions) {
    this.store = options.store;
    this.sharing = options.sharing;
    this.observer = options.observer;
    this.logger = options.logger;
    this.queueSettings = options.queueSettings;
    this.clock = options.clock;
    this.owner = options.owner;
    this.workersTtlMs = Math.max(5000, 5 * options.maintenanceIntervalMs);
    this.claims = new StoreClaims(options);
  }

  /** This server's workers as they are, and the others' as they last published them, in the last few intervals. */
  async workers(local: WorkerView[], now: number): Promise<WorkerView[]> {
    const others = (await this.sharing.publishedWorkers(now - this.workersTtlMs)).filter((entry) => entry.server !== this.owner);
    return [...local, ...others.flatMap((entry) => JSON.parse(entry.workers) as WorkerView[])];
  }

  eventOutlet(log: EventLog): EventOutlet {
    this.events = new SharedEvents(this.sharing, this.clock, this.logger, log.server, log.keepMs);
    return this.events;
  }

  services(parts: EngineParts): Service[] {
    return [
      this.leaseSyncFor(parts),
      new WakeUp(parts.dispatcher),
      new Rescue(parts, this.observer),
      new EventWatchers(parts.events),
      new PublishWorkers(this.sharing, this.owner, () => parts.localWorkers(), this.logger),
    ];
  }

  async start(parts: EngineParts): Promise<void> {
    const { dispatcher } = parts;
    const leaseSync = this.leaseSyncFor(parts);
    this.stopListening.push(
      this.sharing.onReady(() => dispatcher.wake()),
      // A queue that became limited through another server goes through claimLimited here at once, not at the cache's next tick.
      this.sharing.onQueueSettingsChanged(() => {
        void this.queueSettings.tick().then(() => dispatcher.wake(), (error: unknown) => logFailure(this.logger, "reading queue settings", error));
      }),
      this.sharing.onLeasesEnded((leases) => endedElsewhere(leases, dispatcher, leaseSync, this.logger)),
      this.sharing.onEvents((message) => this.events?.received(message, parts.events)),
    );
  }

  /** One lease sync, ticked as a service and run at once when ended-lease announcements may have been missed. */
  private leaseSyncFor({ store, dispatcher }: EngineParts): LeaseSync {
    this.leaseSync ??= new LeaseSync(store, dispatcher);
    return this.leaseSync;
  }

  /** Stepping down: the store gives up the leader's lock when it closes, next. */
  stop(): void {
    this.stopped = true;
    for (const stop of this.stopListening.splice(0)) stop();
    this.noteLeading(false);
  }

  /** The store is the index and the tally; other servers' changes never pass through here. */
  tracked(): void {}

  /** The batch session's row locks already keep every claim, ours included, off them. */
  hold(jobs: Job[]): Job[] {
    return jobs;
  }

  release(): void {}

  /** Another server may have changed the job since this one leased it. */
  currentCopy(_lease: InFlightJob | undefined): Job | undefined {
    return undefined;
  }

  async foreignLeases(ids: readonly string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    return (await this.store.getJobs(ids)).filter((job) => job.status === "in_flight");
  }

  /** Frees the leasing server's stream slots now rather than at its next sync; a lost announcement is caught by that sync. */
  announceEnded(leases: EndedLease[]): void {
    if (leases.length === 0) return;
    void this.sharing.announceLeasesEnded(leases).catch((error: unknown) => {
      logFailure(this.logger, "announcing ended leases (the leasing server's next sync catches up)", error);
    });
  }

  statusCounts(): Promise<StatusCount[]> {
    return this.store.countByQueueAndStatus();
  }

  async lead(): Promise<boolean> {
    if (this.stopped) return false;
    const leading = await this.sharing.lead();
    if (!this.stopped) this.noteLeading(leading);
    return leading && !this.stopped;
  }

  private noteLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.observer.leadershipChanged?.(leading);
  }
}

/**
 * Leases of ours that another server announced it ended: their jobs are no longer our workers' to
 * end. Undefined means announcements may have been missed (the listener reconnected): check them all.
 */
function endedElsewhere(leases: EndedLease[] | undefined, dispatcher: Dispatcher, leaseSync: LeaseSync, logger: Logger): void {
  if (!leases) {
    void leaseSync.tick().catch((error: unknown) => logFailure(logger, leaseSync.name, error));
    return;
  }
  for (const { id, runId, cancelled } of leases) {
    const entry = dispatcher.lease(id);
    if (entry?.job.run_id !== runId) continue;
    if (cancelled) dispatcher.tellCancelled(entry);
    dispatcher.finish(id);
  }
}

/**
 * Each stream claims for itself, in turn, so servers never hand out one job twice: first from its
 * queues without a limit (claimReady), then, with room left, from its limited ones (claimLimited).
 */
class StoreClaims implements ClaimSource {
  constructor(private readonly options: SharedOptions) {}

  async round(dispatcher: ClaimRound): Promise<boolean> {
    let leasedAny = false;
    for (const stream of dispatcher.streams) {
      const room = dispatcher.roomFor(stream);
      if (room === 0) continue;
      dispatcher.reserve(stream, room);
      let jobs: Job[] = [];
      try {
        const claiming = this.claim(dispatcher, stream, room);
        stream.claiming = claiming;
        jobs = await claiming;
      } finally {
        dispatcher.settle(stream, room, jobs.length);
      }
      dispatcher.admit(jobs, () => stream, jobs.map(() => CLAIMED));
      leasedAny ||= jobs.length > 0;
    }
    return leasedAny;
  }

  private async claim(round: ClaimRound, stream: ClaimingStream, room: number): Promise<Job[]> {
    const request: ClaimRequest = {
      queues: stream.queues ? [...stream.queues] : null,
      types: stream.types ? [...stream.types] : null,
      limit: room,
      now: this.options.clock.now(),
      owner: this.options.owner,
      defaultLeaseMs: this.options.defaultLeaseMs,
    };
    const jobs = await this.options.store.claimReady(request);
    const { limited: limitedQueues } = this.options.queueSettings;
    if (jobs.length >= room || limitedQueues.size === 0) return jobs;
    const limited = [...limitedQueues].filter((queue) => stream.queues === null || stream.queues.has(queue));
    if (limited.length === 0) return jobs;
    const { jobs: limitedJobs, opensAt } = await this.options.store.claimLimited({ ...request, queues: limited, limit: room - jobs.length });
    if (opensAt !== undefined) round.wakeAt(opensAt);
    return [...jobs, ...limitedJobs];
  }
}
