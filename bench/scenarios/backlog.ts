/**
 * A large ready backlog: server memory, the time a new take stream waits for its
 * first job, and enqueue-to-handler latency on another queue, each compared with
 * the same on an empty queue.
 */
import type { Client } from "../../src/index.js";
import { setTimeout as sleep } from "node:timers/promises";
import { enqueueInBulk, noopJob } from "../load.js";
import { atLeast, atMost, measure, type Measurement, type Target } from "../report.js";
import type { ServerProcess } from "../server-process.js";
import { median, ratePerSecond } from "../stats.js";
import type { ScenarioContext } from "./context.js";
import { measureLatency, noteShortfall, P99_TARGET_MS, LATENCY_QUEUE, type LatencyRun } from "./latency.js";

const BACKLOG_QUEUE = "backlog";
const BATCH = 1000;
const IN_FLIGHT = 4;
const TAKE_SAMPLES = 7;
const TAKE_TIMEOUT_MS = 10_000;
const RSS_TARGET_MB = 500;
const BULK_TARGET_JOBS_PER_SECOND = 50_000;
const MB = 1024 * 1024;
/** Sub-millisecond differences between two medians of a few samples are noise, not a regression. */
const TAKE_NOISE_MARGIN = 1.25;

/** Opens a take stream and times the arrival of its first job; the job goes back to the queue when the stream closes. */
async function timeFirstJob(client: Client, queue: string): Promise<number> {
  const started = performance.now();
  const stream = client.take({ queues: [queue], prefetch: 1 });
  const timer = setTimeout(() => stream.close(), TAKE_TIMEOUT_MS);
  try {
    for await (const _job of stream) return performance.now() - started;
    throw new Error(`no job arrived on a take stream within ${TAKE_TIMEOUT_MS} ms`);
  } finally {
    clearTimeout(timer);
    stream.close();
  }
}

async function medianTakeLatency(client: Client, queue: string): Promise<number> {
  const samples: number[] = [];
  for (let sample = 0; sample < TAKE_SAMPLES; sample++) {
    samples.push(await timeFirstJob(client, queue));
    await sleep(20);
  }
  return median(samples);
}

function takeTarget(emptyMs: number): Target {
  const allowed = emptyMs * TAKE_NOISE_MARGIN;
  const margin = Math.round((TAKE_NOISE_MARGIN - 1) * 100);
  return atMost(allowed, `<= empty queue +${margin}% (${allowed.toFixed(2)} ms)`);
}

interface QueueState {
  rssMb: number;
  heapUsedMb: number;
  takeMs: number;
  latency: LatencyRun;
}

async function observe(context: ScenarioContext, server: ServerProcess, client: Client, label: string, run: () => Promise<LatencyRun>): Promise<QueueState> {
  const { rssBytes } = await server.memory();
  const heapUsedMb = (await server.heapUsedBytes()) / MB;
  const takeMs = await medianTakeLatency(client, BACKLOG_QUEUE);
  const latency = await run();
  noteShortfall(context, label, latency);
  return { rssMb: rssBytes / MB, heapUsedMb, takeMs, latency };
}

export function backlog(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(1_000_000);
  const seconds = Math.min(3, context.options.latencySeconds);
  const rate = context.options.latencyRate;
  return context.withServer((server, client) =>
    context.withWorker(server, client, [LATENCY_QUEUE], async (worker) => {
      const latencyRun = (): Promise<LatencyRun> => measureLatency(client, worker, rate, seconds);
      await client.enqueue(noopJob(BACKLOG_QUEUE, 0));
      const empty = await observe(context, server, client, "empty queue", latencyRun);
      const fill = await enqueueInBulk(client, { queue: BACKLOG_QUEUE, total: total - 1, batchSize: BATCH, concurrency: IN_FLIGHT, deadline: context.phaseDeadline(), firstIndex: 1 });
      context.noteIfTimedOut("backlog enqueue", fill, total - 1);
      const full = await observe(context, server, client, "backlog", latencyRun);
      const { rssBytes, peakRssBytes } = await server.memory();
      const backlogJobs = fill.done + 1;
      return [
        measure("backlog", backlogJobs, "jobs"),
        measure("bulk enqueue into the backlog", ratePerSecond(fill.done, fill.elapsedMs), "jobs/s", atLeast(BULK_TARGET_JOBS_PER_SECOND)),
        measure("server RSS, empty queue", empty.rssMb, "MB"),
        measure("server RSS, backlog", full.rssMb, "MB", atMost(RSS_TARGET_MB)),
        measure("server peak RSS", Math.max(rssBytes, peakRssBytes) / MB, "MB"),
        measure("server JS heap used, empty queue", empty.heapUsedMb, "MB"),
        measure("server JS heap used, backlog", full.heapUsedMb, "MB"),
        measure("store size on disk", (await server.diskBytes()) / MB, "MB"),
        measure("first job on a new take stream, empty queue", empty.takeMs, "ms"),
        measure("first job on a new take stream, backlog", full.takeMs, "ms", takeTarget(empty.takeMs)),
        measure(`latency p50, empty queue (${seconds} s)`, empty.latency.latency.p50, "ms"),
        measure(`latency p99, empty queue (${seconds} s)`, empty.latency.latency.p99, "ms", atMost(P99_TARGET_MS)),
        measure(`latency p50, backlog (${seconds} s)`, full.latency.latency.p50, "ms"),
        measure(`latency p99, backlog (${seconds} s)`, full.latency.latency.p99, "ms", atMost(P99_TARGET_MS)),
      ];
    }),
  );
}
