import type { Job, JobError, JsonValue } from "../job/types.js";
import type { DeletedJob } from "../store/store.js";

/** What the engine reports as it works; metrics and logs listen here. All methods are optional. */
export interface EngineObserver {
  enqueued?(job: Job): void;
  /** A cron entry's tick enqueued `job` (reported after enqueued). */
  cronFired?(job: Job): void;
  /** An enqueue folded into its batch's open job: the job as it is now. */
  folded?(job: Job): void;
  taken?(job: Job, waitedMs: number): void;
  completed?(job: Job): void;
  /** An attempt failed: the job as it is now (scheduled, ready or dead), and the error recorded. */
  failed?(job: Job, error: JobError): void;
  died?(job: Job): void;
  /** A lease ran out and its attempt was recorded as failed: the job as it is now. */
  leaseExpired?(job: Job): void;
  /** On a shared store: leases no live server will end (their server is gone, say) made ready again, by the leader. */
  rescued?(jobs: Job[]): void;
  /** A heartbeat of `job` (in flight) said how far its work has come. */
  progress?(job: Job, progress: JsonValue): void;
  /** A blocked job's last dependency completed: the job as it is now (ready or scheduled). */
  unblocked?(job: Job): void;
  /** Jobs deleted on request (DELETE /jobs, /jobs/{id}, a reset), not those purged by retention. */
  deleted?(jobs: DeletedJob[]): void;
  /** A queue was paused (true) or resumed (false). */
  queuePaused?(queue: string, paused: boolean): void;
  /** On a shared store: this process became the leader, or is one no more. */
  leadershipChanged?(leading: boolean): void;
}

/**
 * One observer that tells each of `observers`. An event only one of them listens to goes straight to
 * it, so a busy event (taken, completed) costs no more when another observer ignores it.
 */
export function joinObservers(...observers: EngineObserver[]): EngineObserver {
  const joined: EngineObserver = {};
  const names = new Set(observers.flatMap((observer) => Object.keys(observer) as Array<keyof EngineObserver>));
  for (const name of names) {
    const listeners = observers.map((observer) => observer[name]).filter((listener) => listener !== undefined) as Array<(...args: unknown[]) => void>;
    const event = listeners.length === 1 ? listeners[0]! : (...args: unknown[]) => {
      for (const listener of listeners) listener(...args);
    };
    (joined as Record<string, unknown>)[name] = event;
  }
  return joined;
}
