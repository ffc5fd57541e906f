/** Enqueue throughput: one job per request, and 1000 jobs per bulk request. */
import { atLeast, measure, type Measurement } from "../report.js";
import { enqueueInBulk, noopJob, runPool } from "../load.js";
import { distribution, ratePerSecond } from "../stats.js";
import { warmUpServer, type ScenarioContext } from "./context.js";

const SINGLE_IN_FLIGHT = 64;
const BULK_BATCH = 1000;
const BULK_IN_FLIGHT = 4;
const BULK_TARGET_JOBS_PER_SECOND = 50_000;

export function enqueueSingle(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(20_000);
  return context.withServer(async (_server, client) => {
    await warmUpServer(client);
    const requestMs: number[] = [];
    const result = await runPool(total, SINGLE_IN_FLIGHT, context.phaseDeadline(), async (index) => {
      const started = performance.now();
      await client.enqueue(noopJob("single", index));
      requestMs.push(performance.now() - started);
    });
    context.noteIfTimedOut("enqueue", result, total);
    const requests = distribution(requestMs);
    return [
      measure("throughput", ratePerSecond(result.done, result.elapsedMs), "jobs/s"),
      measure("jobs enqueued", result.done, "jobs"),
      measure(`request p50 (${SINGLE_IN_FLIGHT} in flight)`, requests.p50, "ms"),
      measure(`request p99 (${SINGLE_IN_FLIGHT} in flight)`, requests.p99, "ms"),
    ];
  });
}

export function enqueueBulk(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(200_000);
  return context.withServer(async (_server, client) => {
    await warmUpServer(client);
    const result = await enqueueInBulk(client, { queue: "bulk", total, batchSize: BULK_BATCH, concurrency: BULK_IN_FLIGHT, deadline: context.phaseDeadline() });
    context.noteIfTimedOut("bulk enqueue", result, total);
    return [
      measure("throughput", ratePerSecond(result.done, result.elapsedMs), "jobs/s", atLeast(BULK_TARGET_JOBS_PER_SECOND)),
      measure("jobs enqueued", result.done, "jobs"),
    ];
  });
}
