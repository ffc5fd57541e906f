/** A backlog drained by one SDK Worker over HTTP: what the limits and events scenarios compare variants by. */
import { performance } from "node:perf_hooks";
import { Worker, type Client, type EnqueueInput } from "../../src/index.js";
import { ratePerSecond } from "../stats.js";

const BULK = 1000;
/** Keys a keyed backlog's jobs are spread over. */
export const KEYS = 100;

/** Enqueues the backlog, then drains it with one Worker: jobs per second from its start to idle. */
export async function drain(client: Client, queue: string, total: number, keyed: boolean): Promise<number> {
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


export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}
