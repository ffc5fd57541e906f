/**
 * Jobs bulk-enqueued while worker processes take and ack them: first enqueue to last ack.
 * With --servers N, N servers share one PostgreSQL database, each with its own worker,
 * and the bulk enqueues go to the servers in turn.
 */
import { preciseNow } from "../clock.js";
import { enqueueInBulk, roundRobin } from "../load.js";
import { atLeast, measure, type Measurement } from "../report.js";
import { ratePerSecond } from "../stats.js";
import type { WorkerGroup } from "../worker-control.js";
import type { ScenarioContext } from "./context.js";

const QUEUE = "e2e";
const BATCH = 1000;
/** Bulk requests in flight, over all servers together. */
const IN_FLIGHT = 4;
const TARGET_JOBS_PER_SECOND = 20_000;

/** Each worker's acks from now on. */
function ackCounter(workers: WorkerGroup): () => number[] {
  const before = workers.members.map((worker) => worker.acked);
  return () => workers.members.map((worker, index) => worker.acked - before[index]!);
}

/** One measurement per server when there are several: how many of the jobs its worker acked. */
function ackedPerServer(acked: number[]): Measurement[] {
  if (acked.length < 2) return [];
  return acked.map((count, index) => measure(`jobs acked via server ${index + 1}`, count, "jobs"));
}

export function endToEnd(context: ScenarioContext): Promise<Measurement[]> {
  const total = context.jobCount(100_000);
  const serverCount = context.options.servers;
  if (serverCount > 1) context.note(`${serverCount} servers on one PostgreSQL database, one worker process each`);
  return context.withServers(serverCount, (servers) =>
    context.withWorkers(servers, [QUEUE], async (workers) => {
      const ackedByWorker = ackCounter(workers);
      const acked = (): number => ackedByWorker().reduce((sum, count) => sum + count, 0);
      const clients = servers.map(({ client }) => client);
      const deadline = context.phaseDeadline();
      const startedAt = preciseNow();
      const enqueue = await enqueueInBulk(roundRobin(clients), { queue: QUEUE, total, batchSize: BATCH, concurrency: IN_FLIGHT, deadline });
      const enqueuedAt = preciseNow();
      context.noteIfTimedOut("enqueue", enqueue, total);
      const drained = await workers.waitUntil(() => acked() >= enqueue.done, deadline);
      if (!drained) context.note(`workers acked ${acked()} of ${enqueue.done} jobs before the ${context.options.maxPhaseSeconds} s limit`);
      if (workers.failedAcks > 0) context.note(`${workers.failedAcks} acks failed`);
      const finishedAt = drained ? workers.lastAckAt : preciseNow();
      const left = await clients[0]!.countJobs({ queue: QUEUE });
      return [
        measure("throughput (first enqueue to last ack)", ratePerSecond(acked(), finishedAt - startedAt), "jobs/s", atLeast(TARGET_JOBS_PER_SECOND)),
        measure("jobs completed (acked)", acked(), "jobs"),
        measure("jobs left on the server", left, "jobs"),
        measure("enqueue rate while consuming", ratePerSecond(enqueue.done, enqueuedAt - startedAt), "jobs/s"),
        measure("drain after last enqueue", Math.max(0, finishedAt - enqueuedAt), "ms"),
        ...ackedPerServer(ackedByWorker()),
      ];
    }),
  );
}
