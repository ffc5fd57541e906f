/**
 * Wharf over HTTP in the peer benchmark: `wharf serve` as a child process (fsync durability) on SQLite
 * or on the harness's PostgreSQL database, and the SDK Worker in a process of its own.
 */
import { fileURLToPath } from "node:url";
import { connect, type Client } from "../../src/index.js";
import { VERSION } from "../../src/version.js";
import { ServerProcess } from "../server-process.js";
import { printProfile, profileOfProcess, summarizeProfile } from "../profile.js";
import { postgresPids } from "./postgres-pids.js";
import type { BenchPayload, BenchSystem, RunningSystem, SystemContext } from "./system.js";
import { forkWorker } from "./worker-host.js";
import { UNFINISHED, WHARF_PREFETCH, WHARF_QUEUE, wharfJob, type BenchJobs, type WharfWorkerConfig } from "./wharf-worker.js";

const WORKER_MODULE = fileURLToPath(new URL("./wharf-worker.ts", import.meta.url));

class RunningWharfServer implements RunningSystem {
  private readonly client: Client<BenchJobs>;

  constructor(private readonly server: ServerProcess, private readonly context: SystemContext, private readonly storePids: () => Promise<number[]>) {
    this.client = connect<BenchJobs>(server.url);
  }

  async serverPids(): Promise<number[]> {
    return [this.server.pid, ...(await this.storePids())];
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.client.enqueue(wharfJob(payload));
  }

  async enqueueBulk(payloads: BenchPayload[]): Promise<void> {
    await this.client.enqueueBulk(payloads.map(wharfJob));
  }

  startWorker() {
    const config: WharfWorkerConfig = { url: this.server.url, concurrency: this.context.concurrency, prefetch: WHARF_PREFETCH };
    return forkWorker(WORKER_MODULE, config);
  }

  remaining(): Promise<number> {
    return this.client.countJobs({ queue: WHARF_QUEUE, status: [...UNFINISHED] });
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server.stop();
    if (this.context.cpuProfileDir) await printServerProfile(this.context.cpuProfileDir, this.server.pid);
  }
}

/** The server of one workload, profiled when the bench was asked to (`--cpu-prof`). */
function startServer(context: SystemContext, store?: string): Promise<ServerProcess> {
  return ServerProcess.start({ durability: "fsync", ...(store ? { store } : {}), ...(context.cpuProfileDir ? { cpuProfileDir: context.cpuProfileDir } : {}) });
}

async function printServerProfile(directory: string, pid: number): Promise<void> {
  const path = await profileOfProcess(directory, pid);
  if (path) printProfile(await summarizeProfile(path));
  else process.stdout.write(`   no CPU profile found for server pid ${pid}\n`);
}

const HTTP_NOTES = `\`wharf serve\` child, durability fsync; SDK Worker over HTTP in its own process, prefetch ${WHARF_PREFETCH}; (a) through the SDK's \`enqueue()\`, which sends the calls of one event-loop turn as one bulk request (its default, \`coalesceEnqueues\`)`;

export const wharfHttpSqlite: BenchSystem = {
  name: "Wharf, HTTP on SQLite",
  notes: HTTP_NOTES,
  versions: async () => ({ "wharf-queue": VERSION }),
  async start(context) {
    const server = await startServer(context);
    return new RunningWharfServer(server, context, async () => []);
  },
};

export const wharfHttpPostgres: BenchSystem = {
  name: "Wharf, HTTP on PostgreSQL",
  notes: `${HTTP_NOTES}; server memory and CPU include the postgres processes`,
  versions: async () => ({ "wharf-queue": VERSION }),
  async start(context) {
    const server = await startServer(context, context.postgresUrl);
    return new RunningWharfServer(server, context, () => postgresPids(context.postgresUrl));
  },
};
