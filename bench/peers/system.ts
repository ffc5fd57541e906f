/**
 * One job-queue system under the peer benchmark (`npm run bench:peers`). Every system gets the same
 * workloads, payload and worker concurrency; the harness (bench/peers/run.ts) drives them through this
 * interface and measures from outside (wall time, /proc CPU and memory of the pids each system names).
 */

/** What the harness hands a system for one workload: a fresh store every time. */
export interface SystemContext {
  /** A fresh, empty PostgreSQL database (fsync on) on the harness's throwaway cluster. */
  postgresUrl: string;
  /** A Redis server on a loopback port, started without persistence, flushed before each workload. */
  redisUrl: string;
  /** A fresh temporary directory for files (SQLite) that the harness removes afterwards. */
  dataDir: string;
  /** Worker concurrency every system uses (50). */
  concurrency: number;
  /** When set, Wharf's HTTP servers write a V8 CPU profile here as they stop (`--cpu-prof`). */
  cpuProfileDir?: string;
}

/** A job as every system carries it: about 100 bytes of JSON, with the enqueue time for latency. */
export interface BenchPayload {
  sentAt: number;
  to: string;
  subject: string;
  pad: string;
}

/** A system set up for one workload; everything it started stops in `close()`. */
export interface RunningSystem {
  /** Processes whose CPU and memory count as "server" (a Wharf server, redis-server, the postgres processes). */
  serverPids(): Promise<number[]>;
  /** Enqueues one job and resolves once the system acknowledged it (durably, where the system is durable). */
  enqueue(payload: BenchPayload): Promise<void>;
  /** Enqueues many jobs in one call, the system's own bulk API. */
  enqueueBulk(payloads: BenchPayload[]): Promise<void>;
  /**
   * Starts one worker in another process (forked from the system's worker module) with the harness's
   * concurrency and a no-op handler. The handle reports handler starts as they happen.
   */
  startWorker(): Promise<WorkerHandle>;
  /** Jobs not yet completed (waiting, scheduled or running), as the system's store says: 0 ends a drain. */
  remaining(): Promise<number>;
  close(): Promise<void>;
}

export interface WorkerHandle {
  /** The worker process's pid, for /proc sampling. */
  readonly pid: number;
  /** Jobs whose handler has started, so far. */
  started(): number;
  /** Enqueue-to-handler-start latencies in ms, of every job started so far (from `sentAt`). */
  latenciesMs(): number[];
  /** Stops the worker process (gracefully, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export interface BenchSystem {
  /** Column name in the table, e.g. "BullMQ" or "Wharf, HTTP on SQLite". */
  readonly name: string;
  /** Settings used, for the table's notes (e.g. "defaults; Redis without persistence"). */
  readonly notes: string;
  /** The package versions it runs, for bench/results/. */
  versions(): Promise<Record<string, string>>;
  /** Sets the system up on a fresh store for one workload. */
  start(context: SystemContext): Promise<RunningSystem>;
}
