import type { Job } from "../job/types.js";

/** What the engine reports as it works; metrics and logs listen here. All methods are optional. */
export interface EngineObserver {
  enqueued?(job: Job): void;
  taken?(job: Job, waitedMs: number): void;
  completed?(job: Job): void;
  failed?(job: Job): void;
  died?(job: Job): void;
  leaseExpired?(job: Job): void;
}
