/**
 * Wharf's public API: the Client and Worker, the in-process engine, the server, and the error classes.
 * Nothing here may reach pg's types (see src/postgres.ts, the `wharf-queue/postgres` entry point).
 */
import { Client, type ClientOptions } from "./client/client.js";
import { HttpTransport, type HttpTransportOptions } from "./client/http-transport.js";
import { InProcessClient } from "./client/in-process.js";
import type { AnyJobs } from "./client/jobs.js";
import { LocalTransport } from "./client/local-transport.js";
import { openEngine, type OpenEngineOptions } from "./compose.js";
import type { LogLevel } from "./log-level.js";
import { createLogger, type Logger } from "./log.js";

export { Client } from "./client/client.js";
export { CronClient } from "./client/crons.js";
export { WorkflowClient } from "./client/workflows.js";
export type { StepShape, WorkflowDefinition, WorkflowJob, WorkflowStatus, WorkflowStep, WorkflowView } from "./client/workflows.js";
export type { CronEntry, CronEntryDefinition, CronGroup, CronGroupDefinition, CronJobTemplate } from "./cron/types.js";
export type { OnFull, QueuePatch, QueueSettings } from "./engine/queue-settings.js";
export type { EventOptions, QueueInfo, ClientOptions, JobFilter, ListOptions, JobPageResult, PageLinks, RangeFilter, TakeOptions, JobSummary } from "./client/client.js";
export { InProcessClient, Testing } from "./client/in-process.js";
export type { EnqueuedFilter } from "./client/in-process.js";
export type { AnyJobs, EnqueueInput, Job, JobType, PayloadOf } from "./client/jobs.js";
export { Worker, RetryAtError, KillJobError, SignatureError } from "./client/worker.js";
export type { SigningKey } from "./client/signing.js";
export type { SignatureRules } from "./engine/signatures.js";
export type { WorkerOptions, JobHandler, JobHandlers, JobContext, Middleware, WorkerEvents, DrainOptions, DrainResult } from "./client/worker.js";
export type { HttpTransportOptions, TlsClientOptions } from "./client/http-transport.js";
export type { EventStream, TakeStream } from "./client/transport.js";
export type { EventKind, EventJob, WharfEvent } from "./engine/events.js";
export { EVENT_KINDS, EVENT_SCHEMA } from "./engine/events.js";
export type { WorkerReport, WorkerStatus, WorkerView } from "./engine/worker-registry.js";
export type { StreamView } from "./engine/dispatch.js";
export { startServer } from "./http/server.js";
export type { ServerOptions, WharfServer } from "./http/server.js";
export { InvalidTlsError, peerIdentity } from "./http/tls.js";
export { InvalidOriginError } from "./http/guard.js";
export type { PeerIdentity, TlsOptions } from "./http/tls.js";
export { AuthFile } from "./http/auth-file.js";
export { AuthFileError } from "./http/auth-entries.js";
export type { IdentityEntry } from "./http/auth-entries.js";
export { BearerTokens, hashedToken, newToken } from "./http/tokens.js";
export type { TokenFileEntry } from "./http/tokens.js";
export { ClientCertificates } from "./http/client-certificates.js";
export type { CertificateFileEntry } from "./http/client-certificates.js";
export { firstOf, QueuePatterns, SCOPES } from "./http/identity.js";
export type { Identity, IdentityLimits, IdentitySource, IncomingRequest, RequestRate, Scope } from "./http/identity.js";
export { ManualClock, systemClock } from "./engine/clock.js";
export type { Clock } from "./engine/clock.js";
export type { Logger, LogFields } from "./log.js";
export type { LogLevel } from "./log-level.js";
export * from "./errors.js";
export type { JobStatus, EnqueuedJob, JobPatch, FailureInput, JobError, Backoff, Retention, UniqueWhile, JsonValue } from "./job/types.js";

/** How `connect` talks to the server (HttpTransportOptions) and what the Client does (ClientOptions). */
export type ConnectOptions = HttpTransportOptions & ClientOptions;

/** Connects to a Wharf server over HTTP. `Jobs` maps job types to their payload types (see Job). */
export function connect<Jobs extends object = AnyJobs>(url: string, options?: ConnectOptions): Client<Jobs> {
  return new Client<Jobs>(new HttpTransport(url, options), options);
}

export interface OpenOptions extends Omit<OpenEngineOptions, "logger">, ClientOptions {
  /** Least severe level logged to standard error; default "error" (background failures only). Not used when `logger` is given. */
  logLevel?: LogLevel;
  /** Where the engine logs instead, at the logger's own level: a pino logger, say, or a child of one. */
  logger?: Logger;
}

/**
 * Runs the engine in this process on a store (`sqlite:./wharf.db` by default) and returns a Client for it,
 * with helpers for tests (`client.testing`). Rejects with InvalidStoreError for a store that is not
 * `sqlite:PATH`, `sqlite::memory:` or a `postgres://` / `postgresql://` URL, and with StoreInUseError for
 * a SQLite file another process (a `wharf serve`, say) or another open() holds.
 */
export async function open<Jobs extends object = AnyJobs>(options: OpenOptions = {}): Promise<InProcessClient<Jobs>> {
  const { store, dataDir, durability, logLevel, logger: given, coalesceEnqueues, signingKey, ...engineOptions } = options;
  const logger = given ?? createLogger({ level: logLevel ?? "error", destination: "stderr" });
  const engine = await openEngine({ ...engineOptions, logger, store: store ?? (dataDir === undefined ? "sqlite:./wharf.db" : undefined), dataDir, durability });
  return new InProcessClient<Jobs>(new LocalTransport(engine, true), { coalesceEnqueues, signingKey });
}
