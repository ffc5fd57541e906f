/** The BullMQ worker process (see worker-host.ts): `new Worker(queue, handler, { connection, concurrency })`, defaults otherwise. */
import { Worker } from "bullmq";
import type { BenchPayload } from "./system.js";

export const BULLMQ_QUEUE = "bench";

export interface BullmqWorkerConfig {
  redisUrl: string;
  concurrency: number;
}

export async function runWorker(config: BullmqWorkerConfig, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>> {
  const worker = new Worker<BenchPayload>(BULLMQ_QUEUE, async (job) => jobStarted(job.data), {
    connection: { url: config.redisUrl },
    concurrency: config.concurrency,
  });
  worker.on("error", (error) => console.error(`bullmq worker: ${error.message}`));
  await worker.waitUntilReady();
  return () => worker.close();
}
