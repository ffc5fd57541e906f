import type { Job } from "../../job/types.js";
import type { Logger } from "../../log.js";
import type { Store } from "../../store/store.js";
import type { Clock } from "../clock.js";
import { DueService } from "./due-timer.js";

const EXPIRE_BATCH = 1000;

/**
 * Makes jobs dead whose deadline passes before they start (state.ts expire), with one timer for the
 * earliest deadline of a job waiting to start; it is noted for every such job written. Claims never
 * start a job past its deadline, so a job this reaches a moment late is still not run.
 */
export function deadlines(store: Store, clock: Clock, expire: (jobs: Job[], now: number) => Promise<void>, logger: Logger): DueService {
  return new DueService("deadlines", {
    clock,
    logger,
    nextDueAt: () => store.nextDeadline(),
    async run() {
      for (;;) {
        const now = clock.now();
        const missed = await store.missedDeadlines(now, EXPIRE_BATCH);
        await expire(missed, now);
        if (missed.length < EXPIRE_BATCH) break;
      }
    },
  });
}
