import { earliest, hasClaimLimits, laneOf, limitsPerKey, rateLane, rateOpensAt, rateRoom, withStarts, type RateLimit, type RateLog, UNKEYED_LANE } from "../../job/queue-limits.js";
import type { ReadyEntry } from "../../store/store.js";
import type { Clock } from "../clock.js";
import type { QueueOpening } from "../ready-index.js";
import type { QueueSettingsCache } from "../services/queue-settings-cache.js";
import type { StatusCounts } from "../status-counts.js";
import type { TrackedJob } from "./coordination.js";

const SWEEP_INTERVAL_MS = 10_000;

/** A count per queue and lane. */
class LaneCounts {
  private readonly byQueue = new Map<string, { total: number; lanes: Map<string, number> }>();

  get(queue: string, lane: string): number {
    return this.byQueue.get(queue)?.lanes.get(lane) ?? 0;
  }

  total(queue: string): number {
    return this.byQueue.get(queue)?.total ?? 0;
  }

  adjust(queue: string, lane: string, by: number): void {
    let counts = this.byQueue.get(queue);
    if (!counts) {
      if (by <= 0) return;
      counts = { total: 0, lanes: new Map() };
      this.byQueue.set(queue, counts);
    }
    const before = counts.lanes.get(lane) ?? 0;
    const after = Math.max(0, before + by);
    counts.total += after - before;
    if (after > 0) counts.lanes.set(lane, after);
    else counts.lanes.delete(lane);
    if (counts.lanes.size === 0) this.byQueue.delete(queue);
  }
}

/**
 * What a process alone may take from each queue (README "Queue controls"): nothing from a paused
 * one; under max_in_flight, counting the jobs in flight (the committed tallies) and those picked by
 * claims not committed yet; per lane under a concurrency_key limit; and under a rate limit, whose
 * starts are logged in memory as jobs are picked. One process holds the store, so these counts are
 * the whole truth; the rate logs start empty at a restart.
 */
export class QueueGate {
  /** Picked, not committed yet, per queue and lane. */
  private readonly pending = new LaneCounts();
  /** Committed in flight, of jobs with a key (the unkeyed ones are the queue's tally less these). */
  private readonly keyedInFlight = new LaneCounts();
  private readonly rateLogs = new Map<string, Map<string, RateLog>>();
  private earliestOpening: number | undefined;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly counts: StatusCounts,
    private readonly settings: QueueSettingsCache,
    private readonly clock: Clock,
  ) {}

  /** Undefined while no queue has settings: the index then takes from every queue without asking. */
  get opening(): ((queue: string) => QueueOpening) | undefined {
    this.earliestOpening = undefined;
    if (this.settings.empty) return undefined;
    const now = this.clock.now();
    if (this.rateLogs.size > 0 && now - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweepRateLogs(now);
    return (queue) => this.openingOf(queue, now);
  }

  /** The earliest time a rate that closed a queue or lane, since `opening` was read, opens again. */
  get opensAt(): number | undefined {
    return this.earliestOpening;
  }

  /** Counts a pick against its queue's limits (a start, for a rate); false when its queue has none, so there is nothing to uncount. */
  picked(entry: ReadyEntry): boolean {
    const settings = this.settings.limited.size > 0 ? this.settings.get(entry.queue) : undefined;
    if (!settings || !hasClaimLimits(settings)) return false;
    this.pending.adjust(entry.queue, laneOf(entry), 1);
    const rate = settings.rate_limit;
    if (!rate) return true;
    const logs = this.rateLogs.get(entry.queue) ?? new Map<string, RateLog>();
    const lane = rateLane(rate, laneOf(entry));
    logs.set(lane, withStarts(rate, logs.get(lane), this.clock.now(), 1));
    this.rateLogs.set(entry.queue, logs);
    return true;
  }

  /** The picks `picked` counted, of a claim that is committed (or failed): counted by the tallies from now on. */
  unpicked(entries: readonly ReadyEntry[]): void {
    for (const entry of entries) this.pending.adjust(entry.queue, laneOf(entry), -1);
  }

  /** A committed change: keeps the keyed jobs in flight counted per lane. */
  tracked(before: TrackedJob | undefined, after: TrackedJob | undefined): void {
    if (before?.status === "in_flight" && before.concurrency_key != null) this.keyedInFlight.adjust(before.queue, before.concurrency_key, -1);
    if (after?.status === "in_flight" && after.concurrency_key != null) this.keyedInFlight.adjust(after.queue, after.concurrency_key, 1);
  }

  /** Drops the logs with no start left in their interval (keys seen once would stay otherwise), and those of removed rates. */
  private sweepRateLogs(now: number): void {
    this.lastSweep = now;
    for (const [queue, logs] of this.rateLogs) {
      const rate = this.settings.get(queue)?.rate_limit;
      for (const [lane, log] of logs) if (!rate || (log.at(-1)?.[0] ?? Number.NEGATIVE_INFINITY) <= now - rate.interval_ms) logs.delete(lane);
      if (logs.size === 0) this.rateLogs.delete(queue);
    }
  }

  private openingOf(queue: string, now: number): QueueOpening {
    const settings = this.settings.get(queue);
    if (settings === undefined) return true;
    if (settings.paused) return false;
    if (!hasClaimLimits(settings)) return true;
    const max = settings.max_in_flight;
    if (max !== undefined && this.counts.count(queue, "in_flight") + this.pending.total(queue) >= max) return false;
    const rate = settings.rate_limit;
    if (rate && rate.key === undefined && !this.rateOpen(queue, rate, UNKEYED_LANE, now)) return false;
    if (!limitsPerKey(settings)) return true;
    const perKey = settings.concurrency_key;
    const laneRate = rate?.key === undefined ? undefined : rate;
    return (lane) => (!perKey || this.inFlight(queue, lane) < perKey.limit) && (!laneRate || this.rateOpen(queue, laneRate, lane, now));
  }

  private inFlight(queue: string, lane: string): number {
    const committed = lane === UNKEYED_LANE ? this.counts.count(queue, "in_flight") - this.keyedInFlight.total(queue) : this.keyedInFlight.get(queue, lane);
    return committed + this.pending.get(queue, lane);
  }

  private rateOpen(queue: string, rate: RateLimit, lane: string, now: number): boolean {
    const log = this.rateLogs.get(queue)?.get(lane);
    if (rateRoom(rate, log, now) > 0) return true;
    const opensAt = rateOpensAt(rate, log!, now);
    this.earliestOpening = earliest(this.earliestOpening, opensAt);
    return false;
  }
}
