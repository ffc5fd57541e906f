/**
 * Wharf's public API: the Client and Worker, the in-process engine, the server, and the error classes.
 * Nothing here may reach pg's types (see src/postgres.ts, the `wharf-queue/postgres` entry point).
 */
import { Client } from "./client/client.js";
import { HttpTransport, type HttpTransportOptions } from "./client/http-transport.js";
import { LocalTransport } from "./client/local-transport.js";
import { openEngine, type OpenEngineOptions } from "./compose.js";

export { Client } from "./client/client.js";
export type { JobFilter, ListOptions, JobPageResult, PageLinks, RangeFilter, TakeOptions, JobSummary } from "./client/client.js";
export { Worker, RetryAtError, KillJobError } from "./client/worker.js";
export type { WorkerOptions, JobHandler, JobContext, Middleware } from "./client/worker.js";
export type { TakeStream } from "./client/transport.js";
export { startServer } from "./http/server.js";
export type { ServerOptions, WharfServer } from "./http/server.js";
export { ManualClock, systemClock } from "./engine/clock.js";
export type { Clock } from "./engine/clock.js";
export * from "./errors.js";
export type {
  Job, JobStatus, EnqueueInput, EnqueuedJob, JobPatch, FailureInput, JobError, Backoff, Retention, UniqueWhile, JsonValue,
} from "./job/types.js";

/** Connects to a Wharf server over HTTP. */
export function connect(url: string, options?: HttpTransportOptions): Client {
  return new Client(new HttpTransport(url, options));
}

export type OpenOptions = OpenEngineOptions;

/**
 * Runs the engine in this process on a store (`sqlite:./wharf.db` by default) and returns a Client for it.
 * Rejects with InvalidStoreError for a store that is not `sqlite:PATH`, `sqlite::memory:` or a
 * `postgres://` / `postgresql://` URL, and with StoreInUseError for a SQLite file another process (a
 * `wharf serve`, say) or another open() holds.
 */
export async function open(options: OpenOptions = {}): Promise<Client> {
  const { store, dataDir, durability, ...engineOptions } = options;
  const engine = await openEngine({ ...engineOptions, store: store ?? (dataDir === undefined ? "sqlite:./wharf.db" : undefined), dataDir, durability });
  return new Client(new LocalTransport(engine, true));
}
