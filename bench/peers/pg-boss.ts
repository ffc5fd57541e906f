/** pg-boss 10 on the harness's PostgreSQL: `send` one by one, `insert` in bulk, workers in another process. */
import PgBoss from "pg-boss";
import { packageVersions } from "./package-versions.js";
import { PG_BOSS_BATCH_SIZE, PG_BOSS_POLLING_INTERVAL_SECONDS, PG_BOSS_QUEUE, PG_BOSS_STOP_TIMEOUT_MS, type PgBossWorkerConfig } from "./pg-boss-worker.js";
import { postgresPids } from "./postgres-pids.js";
import type { BenchPayload, BenchSystem, RunningSystem, SystemContext } from "./system.js";
import { forkWorker } from "./worker-host.js";

const WORKER_MODULE = new URL("./pg-boss-worker.ts", import.meta.url).pathname;

export const pgBoss: BenchSystem = {
  name: "pg-boss",
  notes: `one work() per unit of concurrency, started spread over one polling interval, batchSize ${PG_BOSS_BATCH_SIZE}, pollingIntervalSeconds ${PG_BOSS_POLLING_INTERVAL_SECONDS} ` +
    "(its minimum; v10 polls, no LISTEN/NOTIFY); defaults otherwise",
  versions: async () => packageVersions(["pg-boss"]),
  start: startPgBoss,
};

async function startPgBoss(context: SystemContext): Promise<RunningSystem> {
  const boss = new PgBoss(context.postgresUrl);
  boss.on("error", (error) => console.error(`pg-boss: ${error.message}`));
  await boss.start();
  try {
    await boss.createQueue(PG_BOSS_QUEUE);
  } catch (error) {
    await boss.stop({ graceful: false, wait: true });
    throw error;
  }
  return {
    serverPids: () => postgresPids(context.postgresUrl),
    async enqueue(payload: BenchPayload) {
      await boss.send(PG_BOSS_QUEUE, payload);
    },
    async enqueueBulk(payloads: BenchPayload[]) {
      await boss.insert(payloads.map((data) => ({ name: PG_BOSS_QUEUE, data })));
    },
    startWorker: () => forkWorker(WORKER_MODULE, { postgresUrl: context.postgresUrl, concurrency: context.concurrency } satisfies PgBossWorkerConfig),
    // Counts every state before `completed`: created, retry and active.
    remaining: () => boss.getQueueSize(PG_BOSS_QUEUE, { before: "completed" }),
    close: () => boss.stop({ graceful: true, wait: true, timeout: PG_BOSS_STOP_TIMEOUT_MS }),
  };
}
