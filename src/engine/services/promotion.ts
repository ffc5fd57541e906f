import { promote } from "../../job/state.js";
import type { Store } from "../../store/store.js";
import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import type { WritePath } from "../write-path.js";
import { DueTimer } from "./due-timer.js";
import type { Service } from "./service.js";

const PROMOTE_BATCH = 1000;

/**
 * Promotes scheduled jobs when their ready_at arrives. Keeps one timer, for
 * the earliest ready_at, rather than one per job, so a million scheduled jobs
 * cost nothing in memory. Every process arms it for the jobs it schedules; the
 * leader's ticks also promote what other servers sharing the store scheduled.
 */
export class Promotion implements Service {
  readonly name = "promotion";
  readonly runsOn = "leader";
  private readonly timer: DueTimer;

  constructor(store: Store, clock: Clock, writes: WritePath, logger: Logger) {
    this.timer = new DueTimer({
      name: this.name,
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

  start(): Promise<void> {
    return this.timer.start();
  }

  /** Called for every job that becomes scheduled. */
  noteScheduled(readyAt: number): void {
    this.timer.note(readyAt);
  }

  tick(): Promise<void> {
    return this.timer.runNow();
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }
}
