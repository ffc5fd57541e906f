/**
 * Jobs bulk-enqueued while worker processes take and ack them: first enqueue to last ack.
 * With --servers N,M,... it runs once per entry: N servers share one PostgreSQL database, each with
 * its own worker, and the bulk enqueues go to the servers in turn; then M. On PostgreSQL the
 * default is 1,2,2,1 servers, and the ratio of the means says whether adding a server made it faster.
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
const THROUGHPUT = "throughput (first enqueue to last ack)";

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

/** Names a measurement after its server count when the scenario runs several counts. */
type Label = (name: string) => string;

function runWith(context: ScenarioContext, serverCount: number, label: Label): Promise<Measurement[]> {
  const total = context.jobCount(100_000);
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
        measure(label(THROUGHPUT), ratePerSecond(acked(), finishedAt - startedAt), "jobs/s", atLeast(TARGET_JOBS_PER_SECOND)),
        measure(label("jobs completed (acked)"), acked(), "jobs"),
        measure(label("jobs left on the server"), left, "jobs"),
        measure(label("enqueue rate while consuming"), ratePerSecond(enqueue.done, enqueuedAt - startedAt), "jobs/s"),
        measure(label("drain after last enqueue"), Math.max(0, finishedAt - enqueuedAt), "ms"),
        ...ackedPerServer(ackedByWorker()).map((measurement) => ({ ...measurement, name: label(measurement.name) })),
      ];
    }),
  );
}

/** Mean throughput per server count, in order of first appearance. */
function meanByCount(counts: readonly number[], throughputs: readonly number[]): Map<number, number> {
  const means = new Map<number, number>();
  for (const count of new Set(counts)) {
    const rates = throughputs.filter((_rate, index) => counts[index] === count);
    means.set(count, rates.reduce((sum, rate) => sum + rate, 0) / rates.length);
  }
  return means;
}

/**
 * Each server count's mean throughput, and how much faster each larger count ran than the smallest:
 * above 1 means adding servers helped. Running counts in mirrored order (1,2,2,1) cancels a drift
 * of the machine over the runs.
 */
function comparison(counts: readonly number[], throughputs: readonly number[]): Measurement[] {
  if (new Set(counts).size < 2) return [];
  const means = meanByCount(counts, throughputs);
  const baseCount = Math.min(...means.keys());
  const baseRate = means.get(baseCount)!;
  return [
    ...[...means].map(([count, mean]) => measure(`mean throughput, ${serversLabel(count)}`, mean, "jobs/s")),
    ...[...means].filter(([count]) => count !== baseCount).map(([count, mean]) =>
      measure(`${serversLabel(count)} / ${serversLabel(baseCount)}, mean throughput`, mean / baseRate, "x", atLeast(1, "> 1 (scales)"))),
  ];
}

function serversLabel(count: number): string {
  return `${count} server${count > 1 ? "s" : ""}`;
}

export async function endToEnd(context: ScenarioContext): Promise<Measurement[]> {
  const counts = context.options.servers;
  const measurements: Measurement[] = [];
  const throughputs: number[] = [];
  for (const [index, count] of counts.entries()) {
    const label: Label = counts.length > 1 ? (name) => `${name}, ${serversLabel(count)} (run ${index + 1})` : (name) => name;
    const run = await runWith(context, count, label);
    throughputs.push(run.find((measurement) => measurement.name === label(THROUGHPUT))!.value);
    measurements.push(...run);
  }
  return [...measurements, ...comparison(counts, throughputs)];
}
