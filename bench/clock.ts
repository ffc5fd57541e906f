/**
 * Wall-clock milliseconds with sub-millisecond precision. Two processes on one
 * machine share the system clock, so a time taken here and one taken in the
 * worker process can be subtracted (the worker also measures the offset).
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A point in time after which loops stop, whatever count they reached. */
export class Deadline {
  private readonly endsAt: number;

  constructor(readonly seconds: number) {
    this.endsAt = performance.now() + seconds * 1000;
  }

  get passed(): boolean {
    return performance.now() >= this.endsAt;
  }

  get remainingMs(): number {
    return Math.max(0, this.endsAt - performance.now());
  }
}
