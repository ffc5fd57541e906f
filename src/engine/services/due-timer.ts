import type { Clock } from "../clock.js";

/**
 * One timer, for the earliest time work is due, and one run at a time: a run asked for while one is
 * under way joins it. A run clears the timer; the work notes what is due next as it finishes.
 * Promotion and the cron service each keep one, so a million due items cost one timer.
 */
export class DueTimer {
  private nextAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  /** `mayRun` is asked when the timer fires (whether this process still leads, say); a run asked for directly is not. */
  constructor(
    private readonly clock: Clock,
    private readonly work: () => Promise<void>,
    private readonly mayRun: () => Promise<boolean> = async () => true,
  ) {}

  /** Arms the timer for `at` unless it is already armed for then or earlier. */
  note(at: number | undefined): void {
    if (at === undefined || this.stopped || (this.nextAt !== undefined && this.nextAt <= at)) return;
    this.cancelTimer?.();
    this.nextAt = at;
    this.cancelTimer = this.clock.setTimer(at, async () => {
      if (await this.mayRun().catch(() => false)) await this.runNow();
    });
  }

  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    this.nextAt = undefined;
    this.cancelTimer = undefined;
    await this.work();
  }

  /** No further runs; resolves when one under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.running;
  }
}
