import { promote } from "../../job/state.js";
import type { Store } from "../../store/store.js";
import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import { logFailure } from "../log.js";
import type { WritePath } from "../write-path.js";
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
  private nextAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private promoting: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly writes: WritePath,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const at = await this.store.nextScheduledAt();
    if (at !== undefined) this.noteScheduled(at);
  }

  /** Called for every job that becomes scheduled. */
  noteScheduled(readyAt: number): void {
    if (this.stopped || (this.nextAt !== undefined && this.nextAt <= readyAt)) return;
    this.arm(readyAt);
  }

  private arm(at: number): void {
    this.cancelTimer?.();
    this.nextAt = at;
    this.cancelTimer = this.clock.setTimer(at, () => this.promoteNow());
  }

  tick(): Promise<void> {
    return this.promoteNow();
  }

  /** Promotes every job due by now, then waits for the next ready_at; a call while one runs joins it. */
  private async promoteNow(): Promise<void> {
    if (this.stopped) return;
    this.promoting ??= this.promoteDue().finally(() => {
      this.promoting = undefined;
    });
    await this.promoting;
  }

  private async promoteDue(): Promise<void> {
    this.nextAt = undefined;
    this.cancelTimer = undefined;
    try {
      for (;;) {
        const due = await this.store.dueScheduled(this.clock.now(), PROMOTE_BATCH);
        await this.writes.update(due.map((job) => ({ before: job, after: promote(job) })));
        if (due.length < PROMOTE_BATCH) break;
      }
      const next = await this.store.nextScheduledAt();
      if (next !== undefined) this.noteScheduled(next);
    } catch (error) {
      logFailure(this.logger, "promotion", error);
      this.noteScheduled(this.clock.now() + RETRY_AFTER_ERROR_MS);
    }
  }

  /** No further promotions; resolves when one under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.promoting;
  }
}
