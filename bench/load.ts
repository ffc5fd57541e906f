/** Load generators: bounded worker pools, paced senders and the jobs they enqueue. All stop by count or by time. */
import type { Client, EnqueueInput } from "../src/index.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Deadline, preciseNow } from "./clock.js";
import { SENT_AT_FIELD } from "./protocol.js";

export const JOB_TYPE = "noop";

export function noopJob(queue: string, index: number): EnqueueInput {
  return { queue, type: JOB_TYPE, payload: { n: index } };
}

/** A job whose payload carries the moment it was sent, for the worker to measure latency against. */
export function timedJob(queue: string, index: number): EnqueueInput {
  return { queue, type: JOB_TYPE, payload: { n: index, [SENT_AT_FIELD]: preciseNow() } };
}

export interface LoadResult {
  /** Units of work finished (jobs, or requests for a request pool). */
  done: number;
  elapsedMs: number;
  /** The deadline passed before the count was reached. */
  timedOut: boolean;
}

/**
 * Runs task(0) .. task(total - 1) with `concurrency` in flight, until all ran or the
 * deadline passed. The first error stops every lane and is thrown once they have stopped.
 */
export async function runPool(total: number, concurrency: number, deadline: Deadline, task: (index: number) => Promise<void>): Promise<LoadResult> {
  let next = 0;
  let done = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < total && !deadline.passed && failure === undefined) {
      const index = next++;
      try {
        await task(index);
        done++;
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  const elapsedMs = performance.now() - started;
  if (failure) throw failure.error;
  return { done, elapsedMs, timedOut: done < total };
}

/** What a bulk enqueue needs of a client. */
export type BulkEnqueuer = Pick<Client, "enqueueBulk">;

/** Sends each bulk enqueue to the next of `clients` in turn. */
export function roundRobin(clients: readonly Client[]): BulkEnqueuer {
  let next = 0;
  return {
    enqueueBulk: (jobs) => {
      const client = clients[next % clients.length]!;
      next++;
      return client.enqueueBulk(jobs);
    },
  };
}

/** Enqueues `total` jobs over POST /jobs/bulk, `batchSize` per request, `concurrency` requests in flight. */
export async function enqueueInBulk(
  client: BulkEnqueuer,
  options: { queue: string; total: number; batchSize: number; concurrency: number; deadline: Deadline; firstIndex?: number },
): Promise<LoadResult> {
  const { queue, total, batchSize, concurrency, deadline } = options;
  const firstIndex = options.firstIndex ?? 0;
  let jobs = 0;
  const requests = Math.ceil(total / batchSize);
  const result = await runPool(requests, concurrency, deadline, async (request) => {
    const start = request * batchSize;
    const count = Math.min(batchSize, total - start);
    await client.enqueueBulk(Array.from({ length: count }, (_, offset) => noopJob(queue, firstIndex + start + offset)));
    jobs += count;
  });
  return { ...result, done: jobs };
}

export interface PacedResult {
  sent: number;
  /** Sends left out because too many requests were still unanswered (the server fell behind). */
  skipped: number;
  elapsedMs: number;
}

/**
 * Calls send(i) at a steady `rate` per second for `seconds`, never with more than
 * `maxOutstanding` unanswered; then waits (bounded) for the answers. The first error is thrown.
 */
export async function runPaced(rate: number, seconds: number, maxOutstanding: number, send: (index: number) => Promise<void>): Promise<PacedResult> {
  const total = Math.round(rate * seconds);
  const deadline = new Deadline(seconds + 1);
  let index = 0;
  let sent = 0;
  let skipped = 0;
  let outstanding = 0;
  let failure: { error: unknown } | undefined;
  const started = performance.now();
  while (index < total && !deadline.passed && failure === undefined) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
    for (; index < due; index++) {
      if (outstanding >= maxOutstanding) {
        skipped++;
        continue;
      }
      outstanding++;
      sent++;
      send(index)
        .catch((error: unknown) => void (failure ??= { error }))
        .finally(() => outstanding--);
    }
    await sleep(1);
  }
  const elapsedMs = performance.now() - started;
  const drained = new Deadline(10);
  while (outstanding > 0 && !drained.passed) await sleep(5);
  if (failure) throw failure.error;
  return { sent, skipped, elapsedMs };
}
