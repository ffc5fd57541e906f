/**
 * The enqueue side of the peer benchmark's workloads, the same for every system. They run where the
 * system's engine lives: in the harness for a system with a server, inside the process of an in-process
 * system (bench/peers/wharf-in-process.ts), which is why they are plain functions over an Enqueuer.
 */
import { Deadline } from "../clock.js";
import { runPaced, runPool, type LoadResult, type PacedResult } from "../load.js";
import type { BenchPayload, RunningSystem } from "./system.js";

export type Enqueuer = Pick<RunningSystem, "enqueue" | "enqueueBulk">;

const PAD = "x".repeat(24);

/** About 100 bytes of JSON, stamped with the moment it is made. */
export function benchPayload(index: number): BenchPayload {
  return { sentAt: Date.now(), to: `user-${index}@example.com`, subject: `Welcome aboard, user ${index}`, pad: PAD };
}

/** Requests still unanswered after which the paced load skips sends (the system fell behind). */
const PACED_MAX_OUTSTANDING = 1_000;

/** The enqueue workloads, each bounded by `maxSeconds`; an in-process system runs them in its own process. */
export interface EnqueueWorkloads {
  /** (a) `total` single enqueues, `inFlight` at once. */
  oneByOne(total: number, inFlight: number, maxSeconds: number): Promise<LoadResult>;
  /** (b) `total` jobs in bulk enqueues of `bulkSize`, one at a time. */
  inBulks(total: number, bulkSize: number, maxSeconds: number): Promise<LoadResult>;
  /** (d) single enqueues at `rate` per second for `seconds`. */
  paced(rate: number, seconds: number): Promise<PacedResult>;
}

export function enqueueWorkloads(system: Enqueuer): EnqueueWorkloads {
  return {
    oneByOne: (total, inFlight, maxSeconds) => runPool(total, inFlight, new Deadline(maxSeconds), (index) => system.enqueue(benchPayload(index))),
    async inBulks(total, bulkSize, maxSeconds) {
      const bulks = Math.ceil(total / bulkSize);
      let jobs = 0;
      const result = await runPool(bulks, 1, new Deadline(maxSeconds), async (bulk) => {
        const first = bulk * bulkSize;
        const count = Math.min(bulkSize, total - first);
        await system.enqueueBulk(Array.from({ length: count }, (_, offset) => benchPayload(first + offset)));
        jobs += count;
      });
      return { ...result, done: jobs };
    },
    paced: (rate, seconds) => runPaced(rate, seconds, PACED_MAX_OUTSTANDING, (index) => system.enqueue(benchPayload(index))),
  };
}

/** A system whose enqueue workloads run in its own process, next to its engine. */
export interface HostsWorkloads {
  readonly workloads: EnqueueWorkloads;
}

/** Where a system's enqueue workloads run: its own host if it has one, here otherwise. */
export function workloadsOf(system: RunningSystem): EnqueueWorkloads {
  return "workloads" in system ? (system as RunningSystem & HostsWorkloads).workloads : enqueueWorkloads(system);
}
