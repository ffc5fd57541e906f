import type { QueueCap, QueueSettings, Store } from "../../store/store.js";
import { hasClaimLimits } from "../../job/queue-limits.js";
import { queueCaps } from "../new-jobs.js";
import type { Service } from "./service.js";

/**
 * Every queue's settings, as this process last read them: the engine gives enqueues their queue's
 * defaults from here, a process alone claims past paused and full queues by it (exactly: nothing else
 * writes its store), and claims on a shared store learn which queues are limited (those go through
 * claimLimited, under a lock). Read at start and every interval (another server may have changed
 * them); a change made through this process is known at once. Only defaults and which claim path to
 * take depend on it: the claim statements read pauses and limits from the store themselves.
 */
export class QueueSettingsCache implements Service {
  readonly name = "queue-settings";
  readonly runsOn = "everywhere";
  private settings: ReadonlyMap<string, QueueSettings> = new Map();
  private limitedQueues: ReadonlySet<string> = new Set();
  private caps: ReadonlyMap<string, QueueCap> = new Map();
  private ages: ReadonlyMap<string, number> = new Map();

  constructor(private readonly store: Store) {}

  /** No queue has settings: claims and enqueues need not ask. */
  get empty(): boolean {
    return this.settings.size === 0;
  }

  get(queue: string): QueueSettings | undefined {
    return this.settings.size === 0 ? undefined : this.settings.get(queue);
  }

  /** Queues with a limit on what they hand out (README "Queue controls") that are not paused. */
  get limited(): ReadonlySet<string> {
    return this.limitedQueues;
  }

  /** Queues with max_entries, and their caps: enqueues into them check the cap in their insert. */
  get capped(): ReadonlyMap<string, QueueCap> {
    return this.caps;
  }

  /** Queues with max_age_ms, and theirs: the max-age service expires their jobs. */
  get maxAges(): ReadonlyMap<string, number> {
    return this.ages;
  }

  /** A change made through this process. */
  changed(queue: string, settings: QueueSettings | undefined): void {
    const next = new Map(this.settings);
    if (settings) next.set(queue, settings);
    else next.delete(queue);
    this.replace(next);
  }

  async start(): Promise<void> {
    await this.tick();
  }

  async tick(): Promise<void> {
    this.replace(new Map((await this.store.listQueueSettings()).map(({ queue, settings }) => [queue, settings])));
  }

  private replace(settings: ReadonlyMap<string, QueueSettings>): void {
    this.settings = settings;
    this.limitedQueues = new Set([...settings].filter(([, queueSettings]) => hasClaimLimits(queueSettings) && !queueSettings.paused).map(([queue]) => queue));
    this.ages = new Map([...settings].flatMap(([queue, { max_age_ms: maxAgeMs }]) => (maxAgeMs === undefined ? [] : [[queue, maxAgeMs]])));
    this.caps = queueCaps(settings);
  }
}
