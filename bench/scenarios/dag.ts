/**
 * Dependencies: random DAGs (each job waits for 0-3 earlier ones) of growing size, each enqueued in
 * bulks of 1,000 and run by one SDK Worker over HTTP; the time per job, enqueue to the last ack,
 * beside the same number of jobs without dependencies. Unblocking is one indexed step per edge, so the
 * cost per job should stay flat as the graph grows.
 */
import { performance } from "node:perf_hooks";
import { Worker, type Client, type EnqueueInput } from "../../src/index.js";
import { measure, type Measurement } from "../report.js";
import type { ScenarioContext } from "./context.js";

const BULK = 1000;

/** Positions each job waits for, from a fixed seed: the same graph on every run. */
function randomDag(size: number): number[][] {
  let seed = 5;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: size }, (_, position) =>
    position === 0 ? [] : [...new Set(Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * position)))]);
}

/** Enqueues the jobs in bulks (dependencies become ids as the bulks come back), then runs them all; µs per job. */
async function runGraph(client: Client, queue: string, graph: number[][]): Promise<number> {
  const started = performance.now();
  const ids: string[] = [];
  for (let start = 0; start < graph.length; start += BULK) {
    const inputs: EnqueueInput[] = graph.slice(start, start + BULK).map((dependencies, offset) => ({
      queue,
      type: "node",
      payload: start + offset,
      ...(dependencies.length > 0 ? { dependencies: dependencies.map((position) => (position >= start ? position - start : ids[position]!)) } : {}),
    }));
    for (const job of await client.enqueueBulk(inputs)) ids.push(job.id);
  }
  const worker = new Worker(client, { queues: [queue], concurrency: 50, handlers: { node: () => undefined } });
  worker.start();
  await worker.waitUntilIdle();
  await worker.stop();
  return ((performance.now() - started) * 1000) / graph.length;
}

export async function dag(context: ScenarioContext): Promise<Measurement[]> {
  const largest = context.jobCount(20_000);
  const sizes = [...new Set([Math.max(1000, Math.floor(largest / 20)), Math.max(1000, Math.floor(largest / 4)), largest])];
  const measurements: Measurement[] = [];
  await context.withServer(async (_server, client) => {
    for (const size of sizes) {
      const graph = randomDag(size);
      const edges = graph.reduce((total, dependencies) => total + dependencies.length, 0);
      const withDependencies = await runGraph(client, `dag-${size}`, graph);
      const without = await runGraph(client, `flat-${size}`, graph.map(() => []));
      measurements.push(measure(`${size} jobs, ${edges} edges: enqueue to last ack, per job`, withDependencies, "µs"));
      measurements.push(measure(`${size} jobs without dependencies, the same way, per job`, without, "µs"));
    }
  });
  return measurements;
}
