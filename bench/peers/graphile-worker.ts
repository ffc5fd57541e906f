/** graphile-worker 0.17 on the harness's PostgreSQL: WorkerUtils `addJob` one by one, `addJobs` in bulk. */
import { makeWorkerUtils } from "graphile-worker";
import {
  GRAPHILE_COMPLETE_JOB_BATCH_DELAY_MS, GRAPHILE_LOCAL_QUEUE_SIZE, GRAPHILE_TASK, type GraphileWorkerConfig,
} from "./graphile-worker-worker.js";
import { packageVersions } from "./package-versions.js";
import { postgresPids } from "./postgres-pids.js";
import type { BenchPayload, BenchSystem, RunningSystem, SystemContext } from "./system.js";
import { forkWorker } from "./worker-host.js";

const WORKER_MODULE = new URL("./graphile-worker-worker.ts", import.meta.url).pathname;

export const graphileWorker: BenchSystem = {
  name: "graphile-worker",
  notes: `localQueue size ${GRAPHILE_LOCAL_QUEUE_SIZE}, completeJobBatchDelay and failJobBatchDelay ${GRAPHILE_COMPLETE_JOB_BATCH_DELAY_MS}, ` +
    "maxPoolSize concurrency + 2; LISTEN/NOTIFY; per-job info log off",
  versions: async () => packageVersions(["graphile-worker"]),
  start: startGraphileWorker,
};

async function startGraphileWorker(context: SystemContext): Promise<RunningSystem> {
  const utils = await makeWorkerUtils({ connectionString: context.postgresUrl });
  try {
    await utils.migrate();
  } catch (error) {
    await utils.release();
    throw error;
  }
  return {
    serverPids: () => postgresPids(context.postgresUrl),
    async enqueue(payload: BenchPayload) {
      await utils.addJob(GRAPHILE_TASK, payload);
    },
    async enqueueBulk(payloads: BenchPayload[]) {
      await utils.addJobs(payloads.map((payload) => ({ identifier: GRAPHILE_TASK, payload })));
    },
    startWorker: () => forkWorker(WORKER_MODULE, { postgresUrl: context.postgresUrl, concurrency: context.concurrency } satisfies GraphileWorkerConfig),
    // Completing a job deletes its row, so every row left is waiting, scheduled, running or failed.
    remaining: () => utils.withPgClient(async (client) => {
      const { rows } = await client.query<{ count: number }>("SELECT count(*)::int AS count FROM graphile_worker._private_jobs");
      return rows[0]!.count;
    }),
    async close() {
      await utils.release();
    },
  };
}
