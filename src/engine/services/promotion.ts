import { promote } from "../../job/state.js";
import type { Store } from "../../store/store.js";
import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import type { WritePath } from "../write-path.js";
import { DueService } from "./due-timer.js";

const PROMOTE_BATCH = 1000;

/**
 * Promotes scheduled jobs when their ready_at arrives. Keeps one timer, for the earliest ready_at,
 * rather than one per job, so a million scheduled jobs cost nothing in memory; it is noted for every
 * job that becomes scheduled.
 */
export function promotion(store: Store, clock: Clock, writes: WritePath, logger: Logger): DueService {
  return new DueService("promotion", {
    clock,
    logger,
    nextDueAt: () => store.nextScheduledAt(),
    async run() {
      for (;;) {
        const due = await store.dueScheduled(clock.now(), PROMOTE_BATCH);
        await writes.update(due.map((job) => ({ before: job, after: promote(job) })));
        if (due.length < PROMOTE_BATCH) break;
      }
    },
  });
}
