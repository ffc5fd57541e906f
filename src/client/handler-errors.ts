/** What a handler may throw to say how its job goes on, and what the worker throws in its place. */

/** Throw from a handler to have the job retried at a given time instead of by backoff. */
export class RetryAtError extends Error {
  readonly retryAt: number;
  constructor(retryAt: Date | number, message = "retry requested") {
    super(message);
    this.name = "RetryAtError";
    this.retryAt = typeof retryAt === "number" ? retryAt : retryAt.getTime();
  }
}

/** Throw from a handler to make the job dead at once, with no further retries. */
export class KillJobError extends Error {
  constructor(message = "job killed by its handler") {
    super(message);
    this.name = "KillJobError";
  }
}

/** Thrown, before any handler runs, for a job the worker's verification keys do not verify: the job is dead at once. */
export class SignatureError extends KillJobError {
  constructor(message: string) {
    super(message);
    this.name = "SignatureError";
  }
}
