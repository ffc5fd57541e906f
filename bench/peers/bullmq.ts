/** BullMQ on the harness's Redis (no persistence): `add` one by one, `addBulk` in bulk, the worker in another process. */
import { Queue } from "bullmq";
import { BULLMQ_QUEUE, type BullmqWorkerConfig } from "./bullmq-worker.js";
import { packageVersions } from "./package-versions.js";
import type { BenchPayload, BenchSystem, RunningSystem, SystemContext } from "./system.js";
import { forkWorker } from "./worker-host.js";

const WORKER_MODULE = new URL("./bullmq-worker.ts", import.meta.url).pathname;
const JOB_NAME = "bench";

export const bullmq: BenchSystem = {
  name: "BullMQ",
  notes: "defaults (ioredis client, completed jobs kept); Redis without persistence",
  versions: async () => packageVersions(["bullmq", "ioredis"]),
  start: startBullmq,
};

async function startBullmq(context: SystemContext): Promise<RunningSystem> {
  const queue = new Queue<BenchPayload>(BULLMQ_QUEUE, { connection: { url: context.redisUrl } });
  queue.on("error", (error) => console.error(`bullmq: ${error.message}`));
  try {
    await queue.waitUntilReady();
  } catch (error) {
    await queue.close();
    throw error;
  }
  let serverPid: number | undefined;
  return {
    async serverPids() {
      serverPid ??= redisPid(await (await queue.getBackend().client).info());
      return [serverPid];
    },
    async enqueue(payload: BenchPayload) {
      await queue.add(JOB_NAME, payload);
    },
    async enqueueBulk(payloads: BenchPayload[]) {
      await queue.addBulk(payloads.map((data) => ({ name: JOB_NAME, data })));
    },
    startWorker: () => forkWorker(WORKER_MODULE, { redisUrl: context.redisUrl, concurrency: context.concurrency } satisfies BullmqWorkerConfig),
    async remaining() {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized");
      return Object.values(counts).reduce((sum, count) => sum + count, 0);
    },
    close: () => queue.close(),
  };
}

/** The `process_id` line of Redis's INFO: the server is on this machine (loopback), so /proc can sample it. */
function redisPid(info: string): number {
  const match = /^process_id:(\d+)/m.exec(info);
  if (match === null) throw new Error("Redis INFO has no process_id line");
  return Number(match[1]);
}
