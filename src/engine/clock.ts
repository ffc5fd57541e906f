/**
 * Time as the engine sees it. Backoff, ready_at promotion, leases, retention
 * and heartbeats all read `now()` and wait through `setTimer`, so tests drive
 * them with a ManualClock instead of sleeping.
 */
export interface Clock {
  now(): number;
  /**
   * Runs `callback` once when `now() >= at`. Returns a function that cancels it.
   * A callback may return the promise of the work it starts, so a ManualClock can wait for it.
   */
  setTimer(at: number, callback: TimerCallback): () => void;
}

export type TimerCallback = () => void | Promise<void>;

/** setTimeout cannot wait longer than this; longer waits re-arm. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(at, callback) {
    let handle: NodeJS.Timeout;
    const arm = (): void => {
      const wait = at - Date.now();
      if (wait <= 0) {
        void callback();
        return;
      }
      handle = setTimeout(arm, Math.min(wait, MAX_TIMEOUT_MS));
      handle.unref();
    };
    handle = setTimeout(arm, Math.max(0, Math.min(at - Date.now(), MAX_TIMEOUT_MS)));
    handle.unref();
    return () => clearTimeout(handle);
  },
};

interface PendingTimer {
  at: number;
  sequence: number;
  callback: TimerCallback;
}

/** A clock that moves only when told to; timers fire in time order during `advance`. */
export class ManualClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];
  private sequence = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(at: number, callback: TimerCallback): () => void {
    const timer = { at, sequence: this.sequence++, callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((pending) => pending !== timer);
    };
  }

  /** Moves time forward, firing due timers in order and waiting for the work each one starts. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.timers = this.timers.filter((pending) => pending !== next);
      this.current = Math.max(this.current, next.at);
      await next.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }

  private nextDue(target: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.timers) {
      if (timer.at > target) continue;
      if (!best || timer.at < best.at || (timer.at === best.at && timer.sequence < best.sequence)) best = timer;
    }
    return best;
  }
}

/** Lets queued I/O callbacks and group commits run. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
}
