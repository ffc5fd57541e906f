/** Jobs bulk-enqueued while the worker process takes and acks them: first enqueue to last ack. */
import { preciseNow } from "../clock.js";
import { enqueueInBulk } from "../load.js";
import { atLeast, measure, type Measurement } from "../report.js";
import { ratePerSecond } from "../stats.js";
import type { ScenarioContext } from "./context.js";

const QUEUE = "e2e";
const BATCH = 1000;
const IN_FLIGHT = 4;
const TARGET_JOBS_PER_SECOND = 20_000;

export function endToEnd(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(100_000);
  return context.withServer((server, client) =>
    context.withWorker(server, client, [QUEUE], async (worker) => {
      const ackedBefore = worker.acked;
      const acked = (): number => worker.acked - ackedBefore;
      const deadline = context.phaseDeadline();
      const startedAt = preciseNow();
      const enqueue = await enqueueInBulk(client, { queue: QUEUE, total, batchSize: BATCH, concurrency: IN_FLIGHT, deadline });
      const enqueuedAt = preciseNow();
      context.noteIfTimedOut("enqueue", enqueue, total);
      const drained = await worker.waitUntil(() => acked() >= enqueue.done, deadline);
      if (!drained) context.note(`worker acked ${acked()} of ${enqueue.done} jobs before the ${context.options.maxPhaseSeconds} s limit`);
      if (worker.failedAcks > 0) context.note(`${worker.failedAcks} acks failed`);
      const finishedAt = drained ? worker.lastAckAt : preciseNow();
      const left = await client.countJobs({ queue: QUEUE });
      return [
        measure("throughput (first enqueue to last ack)", ratePerSecond(acked(), finishedAt - startedAt), "jobs/s", atLeast(TARGET_JOBS_PER_SECOND)),
        measure("jobs completed (acked)", acked(), "jobs"),
        measure("jobs left on the server", left, "jobs"),
        measure("enqueue rate while consuming", ratePerSecond(enqueue.done, enqueuedAt - startedAt), "jobs/s"),
        measure("drain after last enqueue", Math.max(0, finishedAt - enqueuedAt), "ms"),
      ];
    }),
  );
}

