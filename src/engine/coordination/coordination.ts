import type { Logger } from "../../log.js";
import type { Job } from "../../job/types.js";
import type { EndedLease, StatusCount, Store } from "../../store/store.js";
import type { Clock } from "../clock.js";
import type { ClaimSource, Dispatcher, InFlightJob } from "../dispatch.js";
import type { Service } from "../services/service.js";
import type { EventLog, EventOutlet } from "../events.js";
import type { WorkerView } from "../worker-registry.js";
import type { WritePath } from "../write-path.js";

/** The engine's parts a coordination works with once the engine is built. */
export interface EngineParts {
  store: Store;
  clock: Clock;
  dispatcher: Dispatcher;
  writes: WritePath;
  maintenanceIntervalMs: number;
  /** Where background work that has no caller reports its failures. */
  logger: Logger;
  events: EventLog;
  /** This server's workers: its open take streams, with their reports. */
  localWorkers(): WorkerView[];
}

/** The part of a job bookkeeping needs to undo its old state. */
export type TrackedJob = Pick<Job, "id" | "queue" | "type" | "status" | "priority"> & { concurrency_key?: string | null | undefined };

/**
 * How this process works with the others on its store, chosen once when the engine opens: alone (a
 * store of its own: an in-memory ready index and tallies, always the leader) or shared (claims in
 * the database, notifications, an elected leader). The engine asks; it never tests which one it has.
 */
export interface Coordination {
  /** Where the dispatcher's jobs come from. */
  readonly claims: ClaimSource;
  /** The time-driven duties this coordination adds to the engine's own (src/engine/services/). */
  services(parts: EngineParts): Service[];
  /** Brings this process in step with the store, before any request is served. */
  start(parts: EngineParts): Promise<void>;
  stop(): void;
  /** A change this process committed: keeps what this coordination holds in memory in step. */
  tracked(before: TrackedJob | undefined, after: Job | undefined): void;
  /** This process's copy of an in-flight job, when it is known to be the newest version. */
  currentCopy(lease: InFlightJob | undefined): Job | undefined;
  /** In-flight jobs among `ids` leased by other processes (acks and heartbeats sent through this one). */
  foreignLeases(ids: readonly string[]): Promise<Job[]>;
  /** Tells the processes that made these leases that they ended here. Best effort. */
  announceEnded(leases: EndedLease[]): void;
  statusCounts(): Promise<StatusCount[]>;
  /**
   * Keeps this process's claims off these ready jobs until `release` (a fold is being written into
   * them); answers the ones no claim of this process has picked already. Row locks keep other
   * processes' claims off them (Store.batchSession).
   */
  hold(jobs: Job[]): Job[];
  release(jobs: Job[]): void;
  /** True while this process leads: leader-only services run then. */
  lead(): Promise<boolean>;
  /** How `log`'s events reach the other processes on the store (and theirs this one). */
  eventOutlet(log: EventLog): EventOutlet;
  /** Every process's workers, this one's (`local`) included. */
  workers(local: WorkerView[], now: number): Promise<WorkerView[]>;
}
