import type { Job } from "../../job/types.js";
import type { Store } from "../../store/store.js";
import type { QueueSettingsCache } from "./queue-settings-cache.js";
import type { Service } from "./service.js";

const EXPIRE_BATCH = 1000;

/**
 * The leader makes dead the jobs that have waited in their queue longer than its max_age_ms since they
 * were enqueued (state.ts expireAged), queue by queue, a batch at a time. Claims do not check the age:
 * a job may still start up to a maintenance interval after its queue's max_age_ms ran out.
 */
export class MaxAge implements Service {
  readonly name = "max-age";
  readonly runsOn = "leader";

  constructor(
    private readonly store: Store,
    private readonly settings: QueueSettingsCache,
    private readonly expire: (jobs: Job[], maxAgeMs: number, now: number) => Promise<void>,
  ) {}

  async tick(now: number): Promise<void> {
    for (const [queue, maxAgeMs] of this.settings.maxAges) {
      for (;;) {
        const aged = await this.store.agedJobs(queue, now - maxAgeMs, EXPIRE_BATCH);
        await this.expire(aged, maxAgeMs, now);
        if (aged.length < EXPIRE_BATCH) break;
      }
    }
  }
}
