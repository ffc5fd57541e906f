/**
 * The graphile-worker process (see worker-host.ts), with the batching its performance page uses for its
 * quick stats: `localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0`, and the pool
 * its option docs recommend: "we recommend setting it to `10` or `concurrentJobs + 2`, whichever is
 * larger". New jobs arrive by LISTEN/NOTIFY, as by default.
 */
import { Logger, run } from "graphile-worker";
import type { BenchPayload } from "./system.js";

export const GRAPHILE_TASK = "bench";
export const GRAPHILE_LOCAL_QUEUE_SIZE = 500;
export const GRAPHILE_COMPLETE_JOB_BATCH_DELAY_MS = 0;

export interface GraphileWorkerConfig {
  postgresUrl: string;
  concurrency: number;
}

/** Keeps warnings and errors; the default logger writes an info line for every completed job. */
const quietLogger = new Logger(() => (level: string, message: string) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

export async function runWorker(config: GraphileWorkerConfig, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>> {
  const runner = await run({
    connectionString: config.postgresUrl,
    concurrency: config.concurrency,
    noHandleSignals: true,
    logger: quietLogger,
    taskList: { [GRAPHILE_TASK]: async (payload) => jobStarted(payload as BenchPayload) },
    preset: {
      worker: {
        maxPoolSize: Math.max(10, config.concurrency + 2),
        localQueue: { size: GRAPHILE_LOCAL_QUEUE_SIZE },
        completeJobBatchDelay: GRAPHILE_COMPLETE_JOB_BATCH_DELAY_MS,
        failJobBatchDelay: GRAPHILE_COMPLETE_JOB_BATCH_DELAY_MS,
      },
    },
  });
  return () => runner.stop();
}
