/** Enqueue-to-handler-start latency at a steady rate of single enqueues. */
import type { Client } from "../../src/index.js";
import { Deadline } from "../clock.js";
import { runPaced, timedJob } from "../load.js";
import { atMost, measure, type Measurement } from "../report.js";
import { distribution, ratePerSecond, type Distribution } from "../stats.js";
import type { WorkerProcess } from "../worker-control.js";
import type { ScenarioContext } from "./context.js";

export const LATENCY_QUEUE = "latency";
export const P99_TARGET_MS = 10;
/** Enqueue requests unanswered at once, at most; beyond it sends are skipped and counted. */
const MAX_OUTSTANDING = 256;

export interface LatencyRun {
  /** Enqueue request sent to handler start in the worker. */
  latency: Distribution;
  /** Enqueue request sent to its answer. */
  request: Distribution;
  planned: number;
  sent: number;
  skipped: number;
  achievedRate: number;
}

/** Paced single enqueues carrying their send time; the worker reports when each handler started. */
export async function measureLatency(client: Client, worker: WorkerProcess, rate: number, seconds: number): Promise<LatencyRun> {
  worker.takeLatencies();
  const requestMs: number[] = [];
  const paced = await runPaced(rate, seconds, MAX_OUTSTANDING, async (index) => {
    const started = performance.now();
    await client.enqueue(timedJob(LATENCY_QUEUE, index));
    requestMs.push(performance.now() - started);
  });
  await worker.waitUntil(() => worker.latencyCount >= paced.sent, new Deadline(10));
  return {
    latency: distribution(worker.takeLatencies()),
    request: distribution(requestMs),
    planned: Math.round(rate * seconds),
    sent: paced.sent,
    skipped: paced.skipped,
    achievedRate: ratePerSecond(paced.sent, paced.elapsedMs),
  };
}

export function noteShortfall(context: ScenarioContext, label: string, run: LatencyRun): void {
  if (run.skipped > 0) context.note(`${label}: ${run.skipped} enqueues skipped with ${MAX_OUTSTANDING} requests unanswered`);
  if (run.latency.count < run.sent) context.note(`${label}: ${run.sent - run.latency.count} of ${run.sent} jobs never reached a handler within 10 s`);
}

export function latency(context: ScenarioContext): Promise<Measurement[]> {
  const { latencyRate, latencySeconds } = context.options;
  return context.withServer((server, client) =>
    context.withWorker(server, client, [LATENCY_QUEUE], async (worker) => {
      const run = await measureLatency(client, worker, latencyRate, latencySeconds);
      noteShortfall(context, "latency", run);
      return [
        measure("enqueue rate achieved", run.achievedRate, "jobs/s"),
        measure("samples", run.latency.count, "jobs"),
        measure("p50", run.latency.p50, "ms"),
        measure("p90", run.latency.p90, "ms"),
        measure("p99", run.latency.p99, "ms", atMost(P99_TARGET_MS)),
        measure("max", run.latency.max, "ms"),
        measure("enqueue request p50", run.request.p50, "ms"),
        measure("enqueue request p99", run.request.p99, "ms"),
      ];
    }),
  );
}
