/** Wharf's worker for the peer benchmark, run by worker-host.ts: the SDK Worker over HTTP with a no-op handler; and what the Wharf systems share. */
import { connect, Worker, type Client } from "../../src/index.js";
import type { BenchPayload } from "./system.js";

export const WHARF_QUEUE = "bench";
export const WHARF_JOB_TYPE = "email";
/** The SDK Worker's prefetch in every Wharf system: jobs leased ahead of the 50 handlers. */
export const WHARF_PREFETCH = 100;
/** Statuses of jobs not yet done. */
export const UNFINISHED = ["scheduled", "ready", "in_flight"] as const;

export interface WharfWorkerConfig {
  url: string;
  concurrency: number;
  prefetch: number;
}

export type BenchJobs = { [WHARF_JOB_TYPE]: BenchPayload };

export function wharfJob(payload: BenchPayload): { queue: string; type: typeof WHARF_JOB_TYPE; payload: BenchPayload } {
  return { queue: WHARF_QUEUE, type: WHARF_JOB_TYPE, payload };
}

/** A started Worker whose handler only reports that it started. */
export function startBenchWorker(client: Client<BenchJobs>, options: { concurrency: number; prefetch: number }, jobStarted: (payload: BenchPayload) => void): Worker<BenchJobs> {
  return new Worker<BenchJobs>(client, {
    queues: [WHARF_QUEUE],
    concurrency: options.concurrency,
    prefetch: options.prefetch,
    handlers: { [WHARF_JOB_TYPE]: async (job) => jobStarted(job.payload) },
  }).start();
}

export async function runWorker(config: WharfWorkerConfig, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>> {
  const client = connect<BenchJobs>(config.url);
  const worker = startBenchWorker(client, config, jobStarted);
  return async () => {
    await worker.stop();
    await client.close();
  };
}
