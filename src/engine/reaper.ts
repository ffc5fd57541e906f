import { logFailure } from "./log.js";
import type { Clock } from "./clock.js";

/** Runs periodic maintenance (expired leases, retention) on the engine's clock, one run at a time. */
export class Reaper {
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly task: () => Promise<void>,
  ) {}

  start(): void {
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.cancelTimer = this.clock.setTimer(this.clock.now() + this.intervalMs, () => {
      this.running = this.run();
      return this.running;
    });
  }

  private async run(): Promise<void> {
    try {
      await this.task();
    } catch (error) {
      logFailure("maintenance", error);
    }
    this.running = undefined;
    this.arm();
  }

  /** No further runs; resolves when a run under way has finished, so the store can be closed after it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.running;
  }
}
