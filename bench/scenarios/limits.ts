/**
 * What queue limits cost where jobs are handed out: the same backlog drained by one SDK Worker over
 * HTTP from a queue without settings and from queues with each limit set high enough never to bind,
 * so the difference is the limited claim path itself (README "Queue controls"). A warm-up drain goes
 * first, and the variants run twice, in mirrored order, so a drift of the machine cancels out.
 */
import { performance } from "node:perf_hooks";
import { Worker, type Client, type EnqueueInput, type QueuePatch } from "../../src/index.js";
import { measure, type Measurement } from "../report.js";
import { ratePerSecond } from "../stats.js";
import type { ScenarioContext } from "./context.js";

const BULK = 1000;
const KEYS = 100;

interface Variant {
  label: string;
  settings: QueuePatch | undefined;
  keyed: boolean;
}

const VARIANTS: Variant[] = [
  { label: "no limits", settings: undefined, keyed: false },
  { label: "max_in_flight 100,000", settings: { max_in_flight: 100_000 }, keyed: false },
  { label: `concurrency_key 1,000 per key, ${KEYS} keys`, settings: { concurrency_key: { limit: 1000 } }, keyed: true },
  { label: "rate_limit 10,000 per 10 ms", settings: { rate_limit: { limit: 10_000, interval_ms: 10 } }, keyed: false },
];

/** Enqueues the backlog, then drains it with one Worker: jobs per second from its start to idle. */
async function drain(client: Client, queue: string, total: number, keyed: boolean): Promise<number> {
  for (let start = 0; start < total; start += BULK) {
    const inputs: EnqueueInput[] = Array.from({ length: Math.min(BULK, total - start) }, (_, offset) => ({
      queue,
      type: "noop",
      payload: { n: start + offset },
      ...(keyed ? { concurrency_key: `key-${(start + offset) % KEYS}` } : {}),
    }));
    await client.enqueueBulk(inputs);
  }
  const started = performance.now();
  const worker = new Worker(client, { queues: [queue], concurrency: 50, prefetch: 100, handlers: { noop: () => undefined } });
  worker.start();
  await worker.waitUntilIdle();
  const elapsed = performance.now() - started;
  await worker.stop();
  return ratePerSecond(total, elapsed);
}

export async function limits(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(30_000);
  const rates = new Map<Variant, number[]>(VARIANTS.map((variant) => [variant, []]));
  await context.withServer(async (_server, client) => {
    await drain(client, "limits-warm-up", Math.min(total, 5000), false);
    let runs = 0;
    for (const variant of [...VARIANTS, ...[...VARIANTS].reverse()]) {
      const queue = `limits-${runs++}`;
      if (variant.settings) await client.patchQueue(queue, variant.settings);
      rates.get(variant)!.push(await drain(client, queue, total, variant.keyed));
    }
  });
  return VARIANTS.map((variant) => measure(`drain ${total} jobs, ${variant.label} (mean of 2)`, mean(rates.get(variant)!), "jobs/s"));
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}
