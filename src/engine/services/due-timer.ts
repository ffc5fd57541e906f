import type { Logger } from "../../log.js";
import type { Clock } from "../clock.js";
import { logFailure } from "../log.js";
import type { Service } from "./service.js";

/** After a failed run, the next try comes this much later. */
const RETRY_AFTER_ERROR_MS = 1000;

export interface DueWork {
  /** Names the work in the log when a run fails. */
  name: string;
  clock: Clock;
  logger: Logger;
  /** Does everything due by now. */
  run(): Promise<void>;
  /** When something is next due, read after each run (and at start). */
  nextDueAt(): Promise<number | undefined>;
  /** Asked when the timer fires (whether this process still leads, say); a run asked for directly is not. */
  mayRun?(): Promise<boolean>;
}

/**
 * One timer, for the earliest time work is due, and one run at a time: a run asked for while one is
 * under way joins it. After each run the timer is armed for what is due next, or, when the run
 * failed, for a retry a second later. Promotion, deadlines and the cron service each keep one, so a million due
 * items cost one timer.
 */
export class DueTimer {
  private nextAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly work: DueWork) {}

  async start(): Promise<void> {
    this.note(await this.work.nextDueAt());
  }

  /** Arms the timer for `at` unless it is already armed for then or earlier. */
  note(at: number | undefined): void {
    if (at === undefined || this.stopped || (this.nextAt !== undefined && this.nextAt <= at)) return;
    this.cancelTimer?.();
    this.nextAt = at;
    this.cancelTimer = this.work.clock.setTimer(at, async () => {
      if (!this.work.mayRun || (await this.work.mayRun().catch(() => false))) await this.runNow();
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
    try {
      await this.work.run();
      this.note(await this.work.nextDueAt());
    } catch (error) {
      logFailure(this.work.logger, this.work.name, error);
      this.note(this.work.clock.now() + RETRY_AFTER_ERROR_MS);
    }
  }

  /** No further runs; resolves when one under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.running;
  }
}

/**
 * A leader service whose work falls due at times one DueTimer tracks (promotion, deadlines): every
 * process arms it for what it writes itself (`note`), and the leader's ticks also catch what other
 * servers sharing the store wrote.
 */
export class DueService implements Service {
  readonly runsOn = "leader";
  private readonly timer: DueTimer;

  constructor(readonly name: string, work: Omit<DueWork, "name" | "mayRun">) {
    this.timer = new DueTimer({ name, ...work });
  }

  start(): Promise<void> {
    return this.timer.start();
  }

  /** Work falls due at `at`. */
  note(at: number): void {
    this.timer.note(at);
  }

  tick(): Promise<void> {
    return this.timer.runNow();
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }
}
