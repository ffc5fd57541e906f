import { promote } from "../../job/state.js";
import type { Store } from "../../store/store.js";
import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import { logFailure } from "../log.js";
import type { WritePath } from "../write-path.js";
import { DueTimer } from "./due-timer.js";
import type { Service } from "./service.js";

const PROMOTE_BATCH = 1000;
const RETRY_AFTER_ERROR_MS = 1000;

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

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly writes: WritePath,
    private readonly logger: Logger,
  ) {
    this.timer = new DueTimer(clock, () => this.promoteDue());
  }

  async start(): Promise<void> {
    this.timer.note(await this.store.nextScheduledAt());
  }

  /** Called for every job that becomes scheduled. */
  noteScheduled(readyAt: number): void {
    this.timer.note(readyAt);
  }

  tick(): Promise<void> {
    return this.timer.runNow();
  }

  /** Promotes every job due by now, then waits for the next ready_at. */
  private async promoteDue(): Promise<void> {
    try {
      for (;;) {
        const due = await this.store.dueScheduled(this.clock.now(), PROMOTE_BATCH);
        await this.writes.update(due.map((job) => ({ before: job, after: promote(job) })));
        if (due.length < PROMOTE_BATCH) break;
      }
      this.timer.note(await this.store.nextScheduledAt());
    } catch (error) {
      logFailure(this.logger, "promotion", error);
      this.timer.note(this.clock.now() + RETRY_AFTER_ERROR_MS);
    }
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }
}
