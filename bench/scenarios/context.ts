/** What every scenario gets: the options, server children, worker children, and a place for notes. */
import { mkdir } from "node:fs/promises";
import { connect, type Client } from "../../src/index.js";
import { Deadline } from "../clock.js";
import { enqueueInBulk, noopJob, runPool } from "../load.js";
import type { BenchOptions } from "../options.js";
import { profileOfProcess, summarizeProfile, type ServerProfile } from "../profile.js";
import { ServerProcess } from "../server-process.js";
import { WorkerGroup, WorkerProcess } from "../worker-control.js";

/** Requests the bench process may have open at once (the single-enqueue scenario uses 64). */
const BENCH_SOCKETS = 64;
const WORKER_WARMUP_BULK_JOBS = 1000;
const WORKER_WARMUP_SINGLE_JOBS = 200;

/** A server child and the bench's client for it. */
export interface RunningServer {
  server: ServerProcess;
  client: Client;
}

export class ScenarioContext {
  readonly notes: string[] = [];
  readonly profiles: ServerProfile[] = [];

  /** `postgresDatabase` gives a fresh database URL per `withServers` call when the bench runs on PostgreSQL. */
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
  withServer<T>(body: (server: ServerProcess, client: Client) => Promise<T>): Promise<T> {
    return this.withServers(1, (servers) => {
      const { server, client } = servers[0]!;
      return body(server, client);
    });
  }

  /**
   * Runs `body` against `count` fresh server children, each with its own data directory and,
   * on PostgreSQL, all on one fresh database; stopped and cleaned up afterwards.
   */
  async withServers<T>(count: number, body: (servers: RunningServer[]) => Promise<T>): Promise<T> {
    if (count > 1 && !this.postgresDatabase) throw new Error("several servers share jobs only on one PostgreSQL database (--store postgres)");
    if (this.options.cpuProfileDir) await mkdir(this.options.cpuProfileDir, { recursive: true });
    const store = this.postgresDatabase ? await this.postgresDatabase() : undefined;
    const servers: RunningServer[] = [];
    try {
      while (servers.length < count) servers.push(await this.startServer(store));
      return await body(servers);
    } catch (error) {
      for (const { server } of servers) this.noteServerOutput(server);
      throw error;
    } finally {
      for (const running of servers) await this.stopServer(running);
    }
  }

  private async startServer(store: string | undefined): Promise<RunningServer> {
    const cpuProfileDir = this.options.cpuProfileDir;
    const server = await ServerProcess.start({
      durability: this.options.durability,
      ...(store ? { store } : {}),
      ...(cpuProfileDir ? { cpuProfileDir } : {}),
    });
    return { server, client: connect(server.url, { format: "msgpack", maxSockets: BENCH_SOCKETS }) };
  }

  private noteServerOutput(server: ServerProcess): void {
    const output = server.recentOutput.trim();
    if (output) this.note(`server output (pid ${server.pid}): ${output.slice(-500)}`);
  }

  private async stopServer({ server, client }: RunningServer): Promise<void> {
    await client.close();
    await server.stop();
    if (this.options.cpuProfileDir) await this.collectProfile(this.options.cpuProfileDir, server.pid);
  }

  private async collectProfile(directory: string, pid: number): Promise<void> {
    const path = await profileOfProcess(directory, pid);
    if (path) this.profiles.push(await summarizeProfile(path));
    else this.note(`no CPU profile found for server pid ${pid}`);
  }

  /** Runs `body` with a worker child taking from `queues`, warmed up (its stream is open and has acked jobs). */
  withWorker<T>(server: ServerProcess, client: Client, queues: string[], body: (worker: WorkerProcess) => Promise<T>): Promise<T> {
    return this.withWorkers([{ server, client }], queues, (workers) => body(workers.members[0]!));
  }

  /** Runs `body` with one worker child per server, all taking from `queues` with the same settings, warmed up together. */
  async withWorkers<T>(servers: readonly RunningServer[], queues: string[], body: (workers: WorkerGroup) => Promise<T>): Promise<T> {
    const members: WorkerProcess[] = [];
    try {
      for (const { server } of servers) members.push(await this.startWorker(server, queues));
      const workers = new WorkerGroup(members);
      await warmUpWorkers(servers, workers, queues[0] ?? "warmup");
      const offsets = members.map((worker) => worker.clockOffsetMs.toFixed(3)).join(", ");
      this.note(`worker clock offset ${offsets} ms (latencies are corrected for it)`);
      return await body(workers);
    } finally {
      for (const worker of members) await worker.stop();
    }
  }

  private startWorker(server: ServerProcess, queues: string[]): Promise<WorkerProcess> {
    return WorkerProcess.start({
      url: server.url,
      queues,
      concurrency: this.options.workerConcurrency,
      prefetch: this.options.workerPrefetch,
    });
  }
}

/**
 * Enqueues jobs to `queue` through every server, in bulk and one by one, and waits until
 * the workers have acked them all: their streams are open and both sides' code is compiled.
 */
async function warmUpWorkers(servers: readonly RunningServer[], workers: WorkerGroup, queue: string): Promise<void> {
  const before = workers.acked;
  const deadline = new Deadline(30);
  await Promise.all(servers.map(({ client }) => enqueueWarmUpJobs(client, queue, deadline)));
  const expected = servers.length * (WORKER_WARMUP_BULK_JOBS + WORKER_WARMUP_SINGLE_JOBS);
  const warm = await workers.waitUntil(() => workers.acked - before >= expected, deadline);
  if (!warm) throw new Error(`workers acked ${workers.acked - before} of ${expected} warm-up jobs within 30 s`);
}

async function enqueueWarmUpJobs(client: Client, queue: string, deadline: Deadline): Promise<void> {
  await enqueueInBulk(client, { queue, total: WORKER_WARMUP_BULK_JOBS, batchSize: 100, concurrency: 2, deadline });
  await runPool(WORKER_WARMUP_SINGLE_JOBS, 1, deadline, async (index) => {
    await client.enqueue(noopJob(queue, index));
  });
}

/** A few hundred requests of each kind so the server's code is compiled before it is measured. */
export async function warmUpServer(client: Client): Promise<void> {
  const deadline = new Deadline(30);
  await runPool(256, 32, deadline, async (index) => {
    await client.enqueue(noopJob("warmup", index));
  });
  await enqueueInBulk(client, { queue: "warmup", total: 4000, batchSize: 1000, concurrency: 2, deadline });
}
