import type { Store } from "../../store/store.js";
import type { Service } from "./service.js";

/**
 * On a shared store, which queues have a max_in_flight: claims take those through claimLimited, under
 * a lock. Read at start and every interval (another server may have set one); the claim statements
 * read the settings themselves, so a stale list only delays a limited queue's jobs, never passes a limit.
 */
export class QueueLimits implements Service {
  readonly name = "queue-limits";
  readonly runsOn = "everywhere";
  private limited: ReadonlySet<string> = new Set();

  constructor(private readonly store: Store) {}

  get queues(): ReadonlySet<string> {
    return this.limited;
  }

  /** A change made through this server, known at once. */
  changed(queue: string, limited: boolean): void {
    const next = new Set(this.limited);
    if (limited) next.add(queue);
    else next.delete(queue);
    this.limited = next;
  }

  async start(): Promise<void> {
    await this.tick();
  }

  async tick(): Promise<void> {
    const settings = await this.store.listQueueSettings();
    this.limited = new Set(settings.filter(({ settings: { max_in_flight: max, paused } }) => max !== undefined && !paused).map(({ queue }) => queue));
  }
}
