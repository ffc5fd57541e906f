import { randomBytes } from "node:crypto";
import { claim, missedDeadline, release, type Lease } from "../../job/state.js";
import type { Job } from "../../job/types.js";
import type { EndedLease, ReadyEntry, StatusCount, Store } from "../../store/store.js";
import type { QueueSettingsCache } from "../services/queue-settings-cache.js";
import { CLAIM_BATCH, type ClaimingStream, type ClaimRound, type ClaimSource, type InFlightJob } from "../dispatch.js";
import { ReadyIndex } from "../ready-index.js";
import { QueueGate } from "./queue-gate.js";
import type { Service } from "../services/service.js";
import { StatusCounts } from "../status-counts.js";
import type { Clock } from "../clock.js";
import type { Coordination, EngineParts, TrackedJob } from "./coordination.js";
import { NO_OUTLET, type EventOutlet } from "../events.js";
import type { WorkerView } from "../worker-registry.js";

const RECOVERY_BATCH = 1000;

/**
 * A store of this process's own (SQLite): nothing changes behind its back, so the ready jobs live in
 * an in-memory index (a claim needs no query to find them) and the tallies per queue and status are
 * kept as changes commit. At start, jobs a previous process left in flight are ready again.
 */
export class Alone implements Coordination {
  readonly claims: ClaimSource;
  private readonly index = new ReadyIndex();
  private readonly counts = new StatusCounts();
  private readonly gate: QueueGate;
  /** Ready jobs held out of the index (hold), with what the index should hold for them at release. */
  private readonly held = new Map<string, Job | undefined>();

  constructor(store: Store, clock: Clock, leaseMs: (job: Job) => number, queueSettings: QueueSettingsCache) {
    this.gate = new QueueGate(this.counts, queueSettings, clock);
    this.claims = new IndexClaims(this.index, this.gate, store, clock, leaseMs);
  }

  eventOutlet(): EventOutlet {
    return NO_OUTLET;
  }

  async workers(local: WorkerView[]): Promise<WorkerView[]> {
    return local;
  }

  services(_parts: EngineParts): Service[] {
    return [];
  }

  /** Recovery writes through the write path like everything else; the index and tallies are loaded after it. */
  async start({ store, writes }: EngineParts): Promise<void> {
    for (;;) {
      const orphans = await store.jobsWithStatus("in_flight", RECOVERY_BATCH);
      if (orphans.length === 0) break;
      await writes.update(orphans.map((job) => ({ before: job, after: release(job) })));
    }
    for (const entry of await store.readyEntries()) this.index.add(entry);
    this.counts.load(await store.countByQueueAndStatus());
  }

  stop(): void {}

  tracked(before: TrackedJob | undefined, after: Job | undefined): void {
    this.gate.tracked(before, after);
    if (before) {
      this.counts.adjust(before.queue, before.status, -1);
      if (before.status === "ready") {
        if (this.held.size > 0 && this.held.has(before.id)) this.held.set(before.id, undefined);
        else this.index.remove(before);
      }
    }
    if (after) {
      this.counts.adjust(after.queue, after.status, 1);
      if (after.status === "ready") {
        if (this.held.size > 0 && this.held.has(after.id)) this.held.set(after.id, after);
        else this.index.add(after);
      }
    }
  }

  /** Out of the index, so no claim picks them; a job not in it has been picked by a claim already. */
  hold(jobs: Job[]): Job[] {
    return jobs.filter((job) => {
      if (this.held.has(job.id) || !this.index.has(job)) return false;
      this.index.remove(job);
      this.held.set(job.id, job);
      return true;
    });
  }

  /** Back in the index as changes made meanwhile left them (gone, when one deleted or moved it out of ready). */
  release(jobs: Job[]): void {
    for (const { id } of jobs) {
      const current = this.held.get(id);
      this.held.delete(id);
      if (current) this.index.add(current);
    }
  }

  /** Newest by construction: the claim's write may still be on its way to the disk. */
  currentCopy(lease: InFlightJob | undefined): Job | undefined {
    return lease?.job;
  }

  async foreignLeases(_ids: readonly string[]): Promise<Job[]> {
    return [];
  }

  announceEnded(_leases: EndedLease[]): void {}

  async statusCounts(): Promise<StatusCount[]> {
    return this.counts.entries();
  }

  async lead(): Promise<boolean> {
    return true;
  }
}

/**
 * Claims from the in-memory index: picks are read in one query and claimed in one background write.
 * Delivery does not wait for the disk: a restart makes in-flight jobs ready anyway, and each lease's
 * `claimed` lets later writes for the job wait for the claim.
 */
class IndexClaims implements ClaimSource {
  private readonly runIdPrefix = randomBytes(8).toString("hex");
  private runCounter = 0;

  constructor(
    private readonly index: ReadyIndex,
    private readonly gate: QueueGate,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly leaseMs: (job: Job) => number,
  ) {}

  async round(dispatcher: ClaimRound): Promise<boolean> {
    const { picks, gated } = this.pick(dispatcher);
    const opensAt = this.gate.opensAt;
    if (opensAt !== undefined) dispatcher.wakeAt(opensAt);
    if (picks.size === 0) return false;
    const streamOf = new Map<string, ClaimingStream>();
    for (const [stream, entries] of picks) for (const { id } of entries) streamOf.set(id, stream);
    const kept = new Map<ClaimingStream, number>();
    let claimed: Promise<unknown> = Promise.resolve();
    try {
      const reading = this.store.getJobs([...streamOf.keys()]);
      for (const stream of picks.keys()) stream.claiming = reading;
      const byId = new Map((await reading).map((job) => [job.id, job]));
      const now = this.clock.now();
      const ready: Job[] = [];
      const missed: Job[] = [];
      for (const id of streamOf.keys()) {
        const job = byId.get(id);
        if (job?.status === "ready") (missedDeadline(job, now) ? missed : ready).push(job);
      }
      if (missed.length > 0) dispatcher.missedDeadlines(missed);
      for (const job of ready) kept.set(streamOf.get(job.id)!, (kept.get(streamOf.get(job.id)!) ?? 0) + 1);
      claimed = this.claim(dispatcher, ready, streamOf);
    } finally {
      for (const [stream, entries] of picks) dispatcher.settle(stream, entries.length, kept.get(stream) ?? 0);
      // Counted as in flight once the claim is committed (tallies); until then as picked.
      if (gated.length > 0) void claimed.finally(() => this.gate.unpicked(gated));
    }
    return true;
  }

  /**
   * Picks jobs for streams round-robin, one at a time, so no stream starves another. `gated`: the
   * picks the gate counted against their queues' limits, which it uncounts once the claim settles.
   */
  private pick(dispatcher: ClaimRound): { picks: Map<ClaimingStream, ReadyEntry[]>; gated: ReadyEntry[] } {
    const picks = new Map<ClaimingStream, ReadyEntry[]>();
    const gated: ReadyEntry[] = [];
    const opening = this.gate.opening;
    let picked = 0;
    let progress = true;
    while (progress && picked < CLAIM_BATCH) {
      progress = false;
      for (const stream of dispatcher.streams) {
        if (picked >= CLAIM_BATCH || dispatcher.roomFor(stream) === 0) continue;
        const entry = this.index.takeNext(stream.queues, stream.types, opening);
        if (!entry) continue;
        if (this.gate.picked(entry)) gated.push(entry);
        dispatcher.reserve(stream, 1);
        picked++;
        progress = true;
        const entries = picks.get(stream) ?? [];
        entries.push(entry);
        picks.set(stream, entries);
      }
    }
    return { picks, gated };
  }

  /** Claims in the background; answers the write, which settles once the claims are committed (or failed). */
  private claim(dispatcher: ClaimRound, ready: Job[], streamOf: Map<string, ClaimingStream>): Promise<unknown> {
    const now = this.clock.now();
    const updates = ready.map((job) => ({ before: job, after: claim(job, now, this.newLease(job, now)) }));
    const persisted = dispatcher.applyUpdates(updates);
    const claimed = updates.map((_update, position) => persisted.then((applied) => applied[position] === true, () => false));
    dispatcher.admit(updates.map(({ after }) => after), (job) => streamOf.get(job.id)!, claimed);
    return persisted.catch(() => undefined);
  }

  /** Run ids only need to differ from every earlier run of the same job: a random per-process prefix and a counter do. */
  private newLease(job: Job, now: number): Lease {
    return { runId: `${this.runIdPrefix}${(++this.runCounter).toString(36)}`, expiresAt: now + this.leaseMs(job) };
  }
}
