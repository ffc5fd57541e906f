/** What each command does, once program.ts has parsed and checked its arguments. */
import { connect, type Client, type ClientOptions, type Job, type JobFilter, type TlsClientOptions } from "../index.js";
import { InsecureListenError, InvalidStoreError, UnprocessableError, WharfError } from "../errors.js";
import { startServer, type ServerOptions, type WharfServer } from "../http/server.js";
import { InvalidTlsError, type TlsOptions } from "../http/tls.js";
import { InvalidOriginError } from "../http/guard.js";
import { AuthFile } from "../http/auth-file.js";
import { AuthFileError } from "../http/auth-entries.js";
import type { IdentityLimits } from "../http/identity.js";
import { JOB_STATUSES, TERMINAL_STATUSES, type Backoff, type EnqueueInput, type JobPatch, type JobStatus, type RetryPolicy, type UniqueWhile } from "../job/types.js";
import type { LogLevel } from "../log-level.js";
import { storeSpecOf } from "../store/open.js";
import { loadPemFiles, type PemRole } from "../tls/pem.js";
import { confirm, type ConfirmOptions } from "./confirm.js";
import { signatureRulesOf, signingKeyFile } from "./signing-commands.js";
import { ERROR_COLUMNS, JOB_COLUMNS, Output, QUEUE_COLUMNS, type QueueCounts } from "./output.js";
import { UsageError, WIRE_FLAGS, withFlagNames, type FieldNames } from "./usage.js";
import { cleared, type Clearable } from "./values.js";

export interface RemoteOptions {
  url: string;
  token?: string;
  json?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export interface FilterOptions {
  id?: string[];
  queue?: string[];
  type?: string[];
  status?: JobStatus[];
  correlationId?: string[];
  priority?: string;
  readyAt?: string;
  attempts?: string;
  filter?: string;
}

export interface BulkOptions extends FilterOptions, RemoteOptions, ConfirmOptions {
  all?: boolean;
  dryRun?: boolean;
}

/** The server's most jobs per page. */
const MAX_PAGE = 2000;

/** The object without its undefined fields. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

function filterOf(options: FilterOptions): JobFilter {
  return defined<JobFilter>({
    id: options.id,
    queue: options.queue,
    type: options.type,
    status: options.status,
    correlation_id: options.correlationId,
    priority: options.priority,
    ready_at: options.readyAt,
    attempts: options.attempts,
    filter: options.filter,
  });
}

/** The filter as flags, for a confirmation question: `--queue a --status ready`. */
function describeFilter(filter: JobFilter): string {
  const flags = Object.entries(filter).map(([key, value]) => `--${key.replace("_", "-")} ${Array.isArray(value) ? value.join(",") : String(value)}`);
  return flags.length === 0 ? "in every queue" : `matching ${flags.join(" ")}`;
}

function jobs(count: number): string {
  return `${count} job${count === 1 ? "" : "s"}`;
}

/** Flags that come in pairs: both, or neither. */
function together(first: [string, string | undefined], second: [string, string | undefined]): void {
  if ((first[1] === undefined) !== (second[1] === undefined)) throw new UsageError(`${first[0]} and ${second[0]} go together: give both`);
}

/** The CA and client certificate files of --tls-ca, --tls-cert and --tls-key (or their variables), checked. */
const CLIENT_TLS_FLAGS: Record<PemRole, string> = { cert: "--tls-cert", key: "--tls-key", ca: "--tls-ca" };

function clientTlsOf({ tlsCa, tlsCert, tlsKey }: RemoteOptions): TlsClientOptions | undefined {
  together(["--tls-cert", tlsCert], ["--tls-key", tlsKey]);
  const { pair, ca } = loadPemFiles({ cert: tlsCert, key: tlsKey, ca: tlsCa }, (role, message) => new UsageError(`${CLIENT_TLS_FLAGS[role]}: ${message}`));
  if (pair === undefined && ca === undefined) return undefined;
  return { ...(ca === undefined ? {} : { ca }), ...(pair === undefined ? {} : { cert: pair.cert, key: pair.key }) };
}

export async function remote(options: RemoteOptions, run: (wharf: Client, out: Output) => Promise<void>, clientOptions: ClientOptions = {}): Promise<void> {
  const tls = clientTlsOf(options);
  let wharf: Client;
  try {
    wharf = connect(options.url, { ...clientOptions, ...(tls === undefined ? {} : { tls }), ...(options.token === undefined ? {} : { token: options.token }) });
  } catch (error) {
    throw new UsageError(`--url: ${(error as Error).message}`);
  }
  try {
    await run(wharf, Output.choose(options));
  } finally {
    await wharf.close();
  }
}

export interface ServeOptions {
  host: string;
  port: number;
  dataDir?: string;
  store?: string;
  durability: "fsync" | "buffered";
  maxBodyBytes?: number;
  maxResultBytes?: number;
  maxDependencyResultsBytes?: number;
  maxInFlight?: number;
  maxTakeStreams?: number;
  maxConnections?: number;
  headerTimeoutMs?: number;
  bodyTimeoutMs?: number;
  leaseTimeout?: number;
  retryLimit?: number;
  completedRetentionMs?: number;
  deadRetentionMs?: number;
  filterTimeoutMs?: number;
  filterMemoryMb?: number;
  logLevel: LogLevel;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  authFile?: string;
  insecureNoAuth?: boolean;
  maxRequestsPerToken?: number;
  maxTakeStreamsPerToken?: number;
  maxConnectionsPerToken?: number;
  allowedOrigin?: string[];
  trustedKeyFile?: string[];
  requireSigned?: boolean;
}

/** The tokens and certificates of --auth-file: a file that cannot be used stops the server before it starts (exit 2). */
function authFileOf(options: ServeOptions): AuthFile | undefined {
  if (options.authFile === undefined) return undefined;
  if (options.insecureNoAuth) throw new UsageError("--auth-file and --insecure-no-auth contradict each other: give one");
  let file: AuthFile;
  try {
    file = AuthFile.load(options.authFile);
  } catch (error) {
    if (error instanceof AuthFileError) throw new UsageError(`--auth-file: ${error.message}`);
    throw error;
  }
  if (file.certificateCount > 0 && options.tlsClientCa === undefined) {
    throw new UsageError(`--auth-file: ${options.authFile} lists certificates, which only a server with --tls-client-ca verifies: give it, or remove them`);
  }
  return file;
}

/** The limits of an identity whose auth-file entry sets none: only a server that tells callers apart has any. */
function identityLimitsOf({ maxRequestsPerToken, maxTakeStreamsPerToken, maxConnectionsPerToken, authFile, tlsClientCa }: ServeOptions): IdentityLimits {
  const flags = [["--max-requests-per-token", maxRequestsPerToken], ["--max-take-streams-per-token", maxTakeStreamsPerToken], ["--max-connections-per-token", maxConnectionsPerToken]] as const;
  const given = flags.find(([, value]) => value !== undefined);
  if (given !== undefined && authFile === undefined && tlsClientCa === undefined) {
    throw new UsageError(`${given[0]} limits each token or client certificate, and this server has neither: give --auth-file or --tls-client-ca`);
  }
  return {
    ...(maxRequestsPerToken === undefined ? {} : { rate: { requests: maxRequestsPerToken, perMs: 1000 } }),
    ...(maxTakeStreamsPerToken === undefined ? {} : { maxTakeStreams: maxTakeStreamsPerToken }),
    ...(maxConnectionsPerToken === undefined ? {} : { maxConnections: maxConnectionsPerToken }),
  };
}

/** The server's TLS files: --tls-cert with --tls-key, and --tls-client-ca only with them. */
function serverTlsOf({ tlsCert, tlsKey, tlsClientCa }: ServeOptions): TlsOptions | undefined {
  together(["--tls-cert", tlsCert], ["--tls-key", tlsKey]);
  if (tlsCert === undefined || tlsKey === undefined) {
    if (tlsClientCa !== undefined) throw new UsageError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is on top of TLS");
    return undefined;
  }
  return tlsClientCa === undefined ? { cert: tlsCert, key: tlsKey } : { cert: tlsCert, key: tlsKey, clientCa: tlsClientCa };
}

const TLS_FLAGS: Record<keyof TlsOptions, string> = { cert: "--tls-cert", key: "--tls-key", clientCa: "--tls-client-ca" };

async function startServing(options: ServerOptions): Promise<WharfServer> {
  try {
    return await startServer(options);
  } catch (error) {
    if (error instanceof InvalidTlsError) throw new UsageError(`${TLS_FLAGS[error.option]}: ${error.message}`);
    if (error instanceof InsecureListenError) throw new UsageError(`--host: ${error.message}`);
    if (error instanceof InvalidOriginError) throw new UsageError(`--allowed-origin: ${error.message}`);
    throw error;
  }
}

export async function serve(options: ServeOptions): Promise<void> {
  try {
    storeSpecOf({ store: options.store, dataDir: options.dataDir });
  } catch (error) {
    if (error instanceof InvalidStoreError) throw new UsageError(`--store: ${error.message}`);
    throw error;
  }
  const serverOptions: ServerOptions = {
    auth: authFileOf(options),
    identityLimits: identityLimitsOf(options),
    insecureNoAuth: options.insecureNoAuth,
    allowedOrigins: options.allowedOrigin,
    signatures: signatureRulesOf(options.trustedKeyFile, options.requireSigned),
    host: options.host,
    port: options.port,
    dataDir: options.dataDir,
    store: options.store,
    durability: options.durability,
    maxBodyBytes: options.maxBodyBytes,
    maxResultBytes: options.maxResultBytes,
    maxDependencyResultsBytes: options.maxDependencyResultsBytes,
    maxInFlight: options.maxInFlight,
    maxTakeStreams: options.maxTakeStreams,
    maxConnections: options.maxConnections,
    headerTimeoutMs: options.headerTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs,
    defaultTimeoutSeconds: options.leaseTimeout,
    defaultRetryLimit: options.retryLimit,
    retention: defined({ completed_ms: options.completedRetentionMs, dead_ms: options.deadRetentionMs }),
    filterBudget: defined({ timeoutMs: options.filterTimeoutMs, memoryMb: options.filterMemoryMb }),
    logLevel: options.logLevel,
    tls: serverTlsOf(options),
  };
  const server = await startServing(serverOptions);
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    server.logger.info({ signal }, "shutting down");
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  // Renewed certificates are taken without a restart, as other daemons do on SIGHUP; without TLS, SIGHUP still stops the server.
  if (serverOptions.tls !== undefined) process.on("SIGHUP", () => server.reloadTls());
}

export interface EnqueueOptions extends RemoteOptions {
  signingKeyFile?: string;
  priority?: number;
  readyAt?: number;
  uniqueKey?: string;
  uniqueWhile?: UniqueWhile;
  throttleMs?: number;
  debounceMs?: number;
  retryLimit?: number;
  retryPolicy?: RetryPolicy;
  timeout?: number;
  batchKey?: string;
  batchWhen?: string;
  batchFold?: string;
  dependsOn?: string[];
  deadline?: number;
  concurrencyKey?: string;
  correlationId?: string;
  parentJobId?: string;
}

/** The three batch flags together, or none. */
function batchOf({ batchKey, batchWhen, batchFold }: EnqueueOptions): EnqueueInput["batch"] {
  if (batchKey === undefined && batchWhen === undefined && batchFold === undefined) return undefined;
  if (batchKey === undefined || batchWhen === undefined || batchFold === undefined) {
    throw new UsageError("--batch-key, --batch-when and --batch-fold go together: give all three");
  }
  return { key: batchKey, when: batchWhen, fold: batchFold };
}

export function enqueue(queue: string, type: string, payload: EnqueueInput["payload"], options: EnqueueOptions): Promise<void> {
  const input: EnqueueInput = {
    queue,
    type,
    payload,
    ...defined({
      priority: options.priority,
      ready_at: options.readyAt,
      unique_key: options.uniqueKey,
      unique_while: options.uniqueWhile,
      throttle_ms: options.throttleMs,
      debounce_ms: options.debounceMs,
      retry_limit: options.retryLimit,
      retry_policy: options.retryPolicy,
      timeout: options.timeout,
      batch: batchOf(options),
      dependencies: options.dependsOn,
      deadline: options.deadline,
      concurrency_key: options.concurrencyKey,
      correlation_id: options.correlationId,
      parent_job_id: options.parentJobId,
    }),
  };
  return remote(options, async (wharf, out) => {
    try {
      out.record(await wharf.enqueue(input));
    } catch (error) {
      // An enqueue is unprocessable only for what it was given (a batch expression): bad usage, as a 400 is.
      if (error instanceof UnprocessableError) throw new UsageError(withFlagNames(error.message, WIRE_FLAGS));
      throw error;
    }
  }, options.signingKeyFile === undefined ? {} : { signingKey: signingKeyFile(options.signingKeyFile) });
}

export interface ListOptions extends FilterOptions, RemoteOptions {
  order?: "asc" | "desc";
  limit: number;
  from?: string;
}

/** Up to `--limit` jobs, and whether more match; JSON lines go out as each page arrives. */
async function listUpTo(wharf: Client, out: Output, options: ListOptions): Promise<{ shown: Job[]; more: boolean }> {
  const shown: Job[] = [];
  let from = options.from;
  for (;;) {
    const remaining = options.limit - shown.length;
    const page = await wharf.listPage({ ...filterOf(options), order: options.order, pageSize: Math.min(remaining + 1, MAX_PAGE), from });
    const taken = page.jobs.slice(0, remaining);
    if (out.json) out.rows(taken, JOB_COLUMNS);
    shown.push(...taken);
    if (page.jobs.length > remaining) return { shown, more: true };
    if (taken.length === 0 || !page.pages.next) return { shown, more: false };
    if (shown.length === options.limit) return { shown, more: true };
    from = taken.at(-1)!.id;
  }
}

export function list(options: ListOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    const { shown, more } = await listUpTo(wharf, out, options);
    if (!out.json) out.rows(shown, JOB_COLUMNS);
    if (more) out.notice(`more jobs match; raise --limit (now ${options.limit}) or continue with --from ${shown.at(-1)!.id}`);
  });
}

export function get(id: string, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record(await wharf.getJob(id)));
}

export function result(id: string, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record({ result: await wharf.getResult(id) }));
}

export function cancel(ids: string[], options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    for (const id of ids) out.record(await wharf.cancel(id));
  });
}

export function count(options: FilterOptions & RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record({ count: await wharf.countJobs(filterOf(options)) }));
}

export function errors(id: string, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    const records = [];
    for await (const record of wharf.errors(id, { pageSize: MAX_PAGE })) records.push(record);
    out.rows(records, ERROR_COLUMNS);
  });
}

/** Job ids, or filters with --all: one or the other. */
function selection(ids: string[], options: BulkOptions): JobFilter | undefined {
  const filter = filterOf(options);
  if (ids.length > 0 && (Object.keys(filter).length > 0 || options.all)) throw new UsageError("give job ids or filters with --all, not both");
  if (ids.length === 0 && !options.all) throw new UsageError("give job ids, or filters with --all to act on every match");
  return ids.length > 0 ? undefined : filter;
}

/**
 * A change to many jobs: counted through the same filter, then (unless --dry-run, which only prints
 * the count) confirmed and done. With ids, --dry-run counts the ones that exist.
 */
async function bulk(
  wharf: Client,
  out: Output,
  verb: string,
  ids: string[],
  options: BulkOptions,
  run: (filter: JobFilter | undefined) => Promise<void>,
  countFilter: (filter: JobFilter) => JobFilter = (filter) => filter,
): Promise<void> {
  const filter = selection(ids, options);
  if (options.dryRun) {
    out.record({ [`would_${verb}`]: await wharf.countJobs(filter ? countFilter(filter) : { id: ids }) });
    return;
  }
  if (filter) {
    const matching = await wharf.countJobs(countFilter(filter));
    await confirm(`${verb} ${jobs(matching)} ${describeFilter(filter)}`, options);
  }
  await run(filter);
}

export function remove(ids: string[], options: BulkOptions): Promise<void> {
  return remote(options, (wharf, out) =>
    bulk(wharf, out, "delete", ids, options, async (filter) => {
      if (filter) return out.record({ deleted: await wharf.deleteJobs(filter) });
      for (const id of ids) {
        await wharf.deleteJob(id);
        out.record({ deleted: id });
      }
    }),
  );
}

/** Runs a scheduled or ready job now; a dead job is enqueued afresh (same queue, type, payload and options) and the dead copy removed. What `jobs retry` and `top` do. */
export async function retryJob(wharf: Client, job: Job): Promise<object> {
  if (job.status === "dead") return { retried: job.id, as: await wharf.requeueDead(job.id) };
  if (job.status === "scheduled" || job.status === "ready") return wharf.patchJob(job.id, { ready_at: null });
  throw new WharfError(422, `job ${job.id} is ${job.status}; only scheduled, ready and dead jobs can be retried`);
}

export function retry(ids: string[], options: BulkOptions): Promise<void> {
  return remote(options, (wharf, out) =>
    bulk(wharf, out, "retry", ids, options, async (filter) => {
      const targets = filter ? wharf.listJobs({ ...filter, pageSize: 500 }) : ids.map((id) => wharf.getJob(id));
      for await (const job of targets) out.record(await retryJob(wharf, job));
    }),
  );
}

export interface PatchOptions extends BulkOptions {
  setQueue?: string;
  setPriority?: number;
  setReadyAt?: Clearable<number>;
  setRetryLimit?: Clearable<number>;
  setTimeout?: Clearable<number>;
  setBackoff?: Clearable<Backoff>;
  setCompletedRetentionMs?: Clearable<number>;
  setDeadRetentionMs?: Clearable<number>;
}

/** How a PATCH's 422 names a field, and the flag that set it. */
const PATCH_FLAGS: FieldNames = {
  queue: "--set-queue",
  priority: "--set-priority",
  ready_at: "--set-ready-at",
  retry_limit: "--set-retry-limit",
  timeout: "--set-timeout",
  backoff: "--set-backoff",
  "retention.completed_ms": "--set-completed-retention-ms",
  "retention.dead_ms": "--set-dead-retention-ms",
};

/** A 422 that names a patched field refuses a value the user gave: a usage error; other 422s are the jobs' state. */
function patchUsageError(error: UnprocessableError): Error {
  const renamed = withFlagNames(error.message, PATCH_FLAGS);
  return renamed === error.message ? error : new UsageError(renamed);
}

function patchOf(options: PatchOptions): JobPatch {
  const retention = defined({ completed_ms: cleared(options.setCompletedRetentionMs), dead_ms: cleared(options.setDeadRetentionMs) });
  const patch: JobPatch = defined({
    queue: options.setQueue,
    priority: options.setPriority,
    ready_at: cleared(options.setReadyAt),
    retry_limit: cleared(options.setRetryLimit),
    timeout: cleared(options.setTimeout),
    backoff: cleared(options.setBackoff),
    ...(Object.keys(retention).length > 0 ? { retention } : {}),
  });
  if (Object.keys(patch).length === 0) throw new UsageError("say what to change: --set-queue, --set-priority, --set-ready-at, ... (see --help)");
  return patch;
}

const PATCHABLE = JOB_STATUSES.filter((status) => !TERMINAL_STATUSES.includes(status));

/** PATCH leaves completed and dead jobs alone, so they are not counted either. */
function patchable(filter: JobFilter): JobFilter {
  return { ...filter, status: filter.status === undefined ? PATCHABLE : filter.status };
}

export function patch(ids: string[], options: PatchOptions): Promise<void> {
  const changes = patchOf(options);
  const terminal = options.status?.filter((status) => TERMINAL_STATUSES.includes(status)) ?? [];
  if (terminal.length > 0) throw new UsageError(`--status: ${terminal.join(", ")} jobs cannot be patched`);
  return remote(options, (wharf, out) =>
    bulk(wharf, out, "patch", ids, options, async (filter) => {
      try {
        if (filter) return out.record({ patched: await wharf.patchJobs(filter, changes) });
        for (const id of ids) out.record(await wharf.patchJob(id, changes));
      } catch (error) {
        throw error instanceof UnprocessableError ? patchUsageError(error) : error;
      }
    }, patchable),
  );
}

export function queues(options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => {
    const rows: QueueCounts[] = [];
    for (const queue of await wharf.queues()) {
      const counts = await Promise.all(JOB_STATUSES.map((status) => wharf.countJobs({ queue, status })));
      rows.push({ queue, ...(Object.fromEntries(JOB_STATUSES.map((status, index) => [status, counts[index]!])) as Record<JobStatus, number>) });
    }
    out.rows(rows, QUEUE_COLUMNS);
  });
}

export function health(options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record(await wharf.health()));
}

export function reset(options: RemoteOptions & ConfirmOptions & { dryRun?: boolean }): Promise<void> {
  return remote(options, async (wharf, out) => {
    const every = await wharf.countJobs();
    if (options.dryRun) return out.record({ would_delete: every });
    await confirm(`delete every job (${jobs(every)}) with reset`, options);
    await wharf.reset();
    out.record({ reset: true });
  });
}
