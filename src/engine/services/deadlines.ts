import type { Job } from "../../job/types.js";
import type { Logger } from "../../log.js";
import type { Store } from "../../store/store.js";
import type { Clock } from "../clock.js";
import { DueTimer } from "./due-timer.js";
import type { Service } from "./service.js";

const EXPIRE_BATCH = 1000;

/**
 * Makes jobs dead whose deadline passes before they start (state.ts expire). One timer, for the
 * earliest deadline of a job waiting to start; every process arms it for the jobs it enqueues, and
 * the leader's ticks also catch what other servers sharing the store enqueued. Claims never start a
 * job past its deadline, so a job this misses for a moment is still not run.
 */
export class Deadlines implements Service {
  readonly name = "deadlines";
  readonly runsOn = "leader";
  private readonly timer: DueTimer;

  constructor(store: Store, clock: Clock, expire: (jobs: Job[], now: number) => Promise<void>, logger: Logger) {
    this.timer = new DueTimer({
      name: this.name,
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

  start(): Promise<void> {
    return this.timer.start();
  }

  /** Called for every job waiting to start with a deadline. */
  noteDeadline(deadline: number): void {
    this.timer.note(deadline);
  }

  tick(): Promise<void> {
    return this.timer.runNow();
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }
}
