/**
 * The pg-boss worker process (see worker-host.ts). pg-boss 10 has no concurrency option; its docs say
 * "Each call to work() will add a new worker", so there is one work() per unit of concurrency, each
 * fetching a batch (the handler gets an array of jobs) and polling at the documented minimum:
 * "pollingIntervalSeconds ... Interval to check for new jobs in seconds, must be >=0.5 (500ms)".
 */
import PgBoss from "pg-boss";
import type { BenchPayload } from "./system.js";

export const PG_BOSS_QUEUE = "bench";
/** As many jobs per fetch as Wharf's Worker prefetches. */
export const PG_BOSS_BATCH_SIZE = 100;
export const PG_BOSS_POLLING_INTERVAL_SECONDS = 0.5;
export const PG_BOSS_STOP_TIMEOUT_MS = 10_000;

export interface PgBossWorkerConfig {
  postgresUrl: string;
  concurrency: number;
}

export async function runWorker(config: PgBossWorkerConfig, jobStarted: (payload: BenchPayload) => void): Promise<() => Promise<void>> {
  const boss = new PgBoss(config.postgresUrl);
  boss.on("error", (error) => console.error(`pg-boss worker: ${error.message}`));
  await boss.start();
  const options = { batchSize: PG_BOSS_BATCH_SIZE, pollingIntervalSeconds: PG_BOSS_POLLING_INTERVAL_SECONDS };
  const addWorker = (): Promise<string> => boss.work<BenchPayload>(PG_BOSS_QUEUE, options, async (jobs) => {
    for (const job of jobs) jobStarted(job.data);
  });
  await addWorker();
  // Workers added at once would poll at once, every interval: spread over one interval, they take turns.
  // The rest join in the background, so jobs taken while they join count from the moment the worker is ready.
  const staggerMs = (PG_BOSS_POLLING_INTERVAL_SECONDS * 1000) / config.concurrency;
  const joining = Array.from({ length: config.concurrency - 1 }, (_, index) => setTimeout(() => {
    addWorker().catch((error: Error) => console.error(`pg-boss worker: ${error.message}`));
  }, (index + 1) * staggerMs));
  return async () => {
    for (const timer of joining) clearTimeout(timer);
    await boss.stop({ graceful: true, wait: true, timeout: PG_BOSS_STOP_TIMEOUT_MS });
  };
}
