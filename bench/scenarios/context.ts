/** What every scenario gets: the options, a server child, a worker child, and a place for notes. */
import { mkdir } from "node:fs/promises";
import { connect, type Client } from "../../src/index.js";
import { Deadline } from "../clock.js";
import { enqueueInBulk, noopJob, runPool } from "../load.js";
import type { BenchOptions } from "../options.js";
import { profileOfProcess, summarizeProfile, type ServerProfile } from "../profile.js";
import { ServerProcess } from "../server-process.js";
import { WorkerProcess } from "../worker-control.js";

/** Requests the bench process may have open at once (the single-enqueue scenario uses 64). */
const BENCH_SOCKETS = 64;
const WORKER_WARMUP_BULK_JOBS = 1000;
const WORKER_WARMUP_SINGLE_JOBS = 200;

export class ScenarioContext {
  readonly notes: string[] = [];
  readonly profiles: ServerProfile[] = [];

  /** `postgresDatabase` gives a fresh database URL per server when the bench runs on PostgreSQL. */
  constructor(readonly options: BenchOptions, private readonly postgresDatabase?: () => Promise<string>) {}

  note(text: string): void {
    this.notes.push(text);
  }

  jobCount(scenarioDefault: number): number {
    return this.options.jobs ?? scenarioDefault;
  }

  /** The time limit of one load phase, starting now. */
  phaseDeadline(): Deadline {
    return new Deadline(this.options.maxPhaseSeconds);
  }

  /** Notes a load phase that stopped on the time limit rather than the count. */
  noteIfTimedOut(phase: string, result: { done: number; timedOut: boolean }, planned: number): void {
    if (result.timedOut) this.note(`${phase} stopped after ${this.options.maxPhaseSeconds} s with ${result.done} of ${planned} done`);
  }

  /** Runs `body` against a fresh server child (own data directory), stopped and cleaned up afterwards. */
  async withServer<T>(body: (server: ServerProcess, client: Client) => Promise<T>): Promise<T> {
    const cpuProfileDir = this.options.cpuProfileDir;
    if (cpuProfileDir) await mkdir(cpuProfileDir, { recursive: true });
    const store = this.postgresDatabase ? await this.postgresDatabase() : undefined;
    const server = await ServerProcess.start({
      durability: this.options.durability,
      ...(store ? { store } : {}),
      ...(cpuProfileDir ? { cpuProfileDir } : {}),
    });
    const client = connect(server.url, { format: "msgpack", maxSockets: BENCH_SOCKETS });
    try {
      return await body(server, client);
    } catch (error) {
      const output = server.recentOutput.trim();
      if (output) this.note(`server output: ${output.slice(-500)}`);
      throw error;
    } finally {
      await client.close();
      await server.stop();
      if (cpuProfileDir) await this.collectProfile(cpuProfileDir, server.pid);
    }
  }

  private async collectProfile(directory: string, pid: number): Promise<void> {
    const path = await profileOfProcess(directory, pid);
    if (path) this.profiles.push(await summarizeProfile(path));
    else this.note(`no CPU profile found for server pid ${pid}`);
  }

  /** Runs `body` with a worker child taking from `queues`, warmed up (its stream is open and has acked jobs). */
  async withWorker<T>(server: ServerProcess, client: Client, queues: string[], body: (worker: WorkerProcess) => Promise<T>): Promise<T> {
    const worker = await WorkerProcess.start({
      url: server.url,
      queues,
      concurrency: this.options.workerConcurrency,
      prefetch: this.options.workerPrefetch,
    });
    try {
      await warmUpWorker(client, worker, queues[0] ?? "warmup");
      this.note(`worker clock offset ${worker.clockOffsetMs.toFixed(3)} ms (latencies are corrected for it)`);
      return await body(worker);
    } finally {
      await worker.stop();
    }
  }
}

/**
 * Enqueues jobs to `queue`, in bulk and one by one, and waits until the worker has
 * acked them all: its stream is open and both sides' code is compiled.
 */
async function warmUpWorker(client: Client, worker: WorkerProcess, queue: string): Promise<void> {
  const before = worker.acked;
  const deadline = new Deadline(30);
  await enqueueInBulk(client, { queue, total: WORKER_WARMUP_BULK_JOBS, batchSize: 100, concurrency: 2, deadline });
  await runPool(WORKER_WARMUP_SINGLE_JOBS, 1, deadline, async (index) => {
    await client.enqueue(noopJob(queue, index));
  });
  const expected = WORKER_WARMUP_BULK_JOBS + WORKER_WARMUP_SINGLE_JOBS;
  const warm = await worker.waitUntil(() => worker.acked - before >= expected, deadline);
  if (!warm) throw new Error(`worker acked ${worker.acked - before} of ${expected} warm-up jobs within 30 s`);
}

/** A few hundred requests of each kind so the server's code is compiled before it is measured. */
export async function warmUpServer(client: Client): Promise<void> {
  const deadline = new Deadline(30);
  await runPool(256, 32, deadline, async (index) => {
    await client.enqueue(noopJob("warmup", index));
  });
  await enqueueInBulk(client, { queue: "warmup", total: 4000, batchSize: 1000, concurrency: 2, deadline });
}
