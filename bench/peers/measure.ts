/**
 * The peer benchmark's workloads (a)-(e) measured on one system, each on a fresh store: throughput from
 * wall time, latency from the worker's handler starts, memory and CPU from /proc of the pids it names.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Deadline } from "../clock.js";
import { distribution, ratePerSecond } from "../stats.js";
import type { PeerBenchOptions } from "./options.js";
import { cpuByPid, cpuUsedMicros, samplePeakMemory } from "./proc.js";
import type { BenchSystem, RunningSystem, SystemContext, WorkerHandle } from "./system.js";
import { workloadsOf } from "./workloads.js";

export const METRICS = ["single", "bulk", "drain", "latencyP99", "latencyMax", "memory", "cpuPerJob"] as const;
export type Metric = (typeof METRICS)[number];

/** One run's figures for one system; a workload that failed leaves its metrics out and says why. */
export interface SystemRun {
  figures: Partial<Record<Metric, number>>;
  errors: string[];
  notes: string[];
}

const POLL_MS = 50;

async function until(condition: () => Promise<boolean> | boolean, deadline: Deadline): Promise<boolean> {
  while (!deadline.passed) {
    if (await condition()) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/** Starts the system on a fresh store, runs `body`, and always closes it. */
async function withSystem<T>(system: BenchSystem, freshContext: () => Promise<SystemContext>, body: (running: RunningSystem) => Promise<T>): Promise<T> {
  const running = await system.start(await freshContext());
  try {
    return await body(running);
  } finally {
    await running.close();
  }
}

async function withWorker<T>(running: RunningSystem, body: (worker: WorkerHandle) => Promise<T>): Promise<T> {
  const worker = await running.startWorker();
  try {
    return await body(worker);
  } finally {
    await worker.stop();
  }
}

function completeOrThrow(what: string, done: number, total: number): void {
  if (done < total) throw new Error(`${what}: only ${done} of ${total} jobs within the phase's time limit`);
}

type Workload = (running: RunningSystem, run: SystemRun) => Promise<void>;

function workloads(options: PeerBenchOptions): Record<string, Workload> {
  const phase = (): Deadline => new Deadline(options.maxPhaseSeconds);
  return {
    async "(a) single enqueue"(running, run) {
      const result = await workloadsOf(running).oneByOne(options.singleJobs, options.inFlight, options.maxPhaseSeconds);
      completeOrThrow("single enqueue", result.done, options.singleJobs);
      run.figures.single = ratePerSecond(result.done, result.elapsedMs);
    },
    async "(b) bulk enqueue"(running, run) {
      const result = await workloadsOf(running).inBulks(options.bulkJobs, options.bulkSize, options.maxPhaseSeconds);
      completeOrThrow("bulk enqueue", result.done, options.bulkJobs);
      run.figures.bulk = ratePerSecond(result.done, result.elapsedMs);
    },
    async "(c) drain"(running, run) {
      const filled = await workloadsOf(running).inBulks(options.backlogJobs, options.bulkSize, options.maxPhaseSeconds);
      completeOrThrow("backlog fill", filled.done, options.backlogJobs);
      await withWorker(running, async (worker) => {
        // Listed once, with the worker connected: finding a cluster's processes opens a connection, so a list per sample would add backends.
        const serverPids = await running.serverPids();
        const measuredPids = [...new Set([worker.pid, ...serverPids])];
        const cpuBefore = await cpuByPid(measuredPids);
        const memory = samplePeakMemory(serverPids);
        const started = performance.now();
        const deadline = phase();
        // Counting what remains costs the store a query: ask only once every job has started.
        const drained = (await until(() => worker.started() >= filled.done, deadline)) && (await until(async () => (await running.remaining()) === 0, deadline));
        const elapsedMs = performance.now() - started;
        const cpuAfter = await cpuByPid(measuredPids);
        const peakMemory = await memory.stop();
        if (!drained) throw new Error(`drain: ${worker.started()} of ${filled.done} jobs started within ${options.maxPhaseSeconds} s`);
        run.figures.drain = ratePerSecond(filled.done, elapsedMs);
        run.figures.memory = peakMemory / (1024 * 1024);
        run.figures.cpuPerJob = cpuUsedMicros(cpuBefore, cpuAfter) / filled.done;
      });
    },
    async "(d) latency"(running, run) {
      await withWorker(running, async (worker) => {
        const paced = await workloadsOf(running).paced(options.latencyRate, options.latencySeconds);
        await until(() => worker.started() >= paced.sent, new Deadline(10));
        const latencies = distribution(worker.latenciesMs());
        if (latencies.count < paced.sent) run.notes.push(`(d) ${paced.sent - latencies.count} of ${paced.sent} jobs had not started 10 s after the last enqueue`);
        if (paced.skipped > 0) run.notes.push(`(d) ${paced.skipped} sends skipped: 1,000 enqueues were unanswered`);
        run.figures.latencyP99 = latencies.p99;
        run.figures.latencyMax = latencies.max;
      });
    },
  };
}

/** Runs every workload on its own fresh store; a failure is noted and the next workload still runs. */
export async function measureSystem(system: BenchSystem, options: PeerBenchOptions, freshContext: () => Promise<SystemContext>): Promise<SystemRun> {
  const run: SystemRun = { figures: {}, errors: [], notes: [] };
  for (const [name, workload] of Object.entries(workloads(options))) {
    if (options.workloads.length > 0 && !options.workloads.includes(name.charAt(1))) continue;
    const started = performance.now();
    try {
      await withSystem(system, freshContext, (running) => workload(running, run));
    } catch (error) {
      run.errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    process.stdout.write(`  ${system.name} ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return run;
}
