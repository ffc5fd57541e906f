import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Job, JobError, JobStatus, JsonValue } from "../../job/types.js";
import { limitsPerKey, logsAfterClaim, queueRoom, type ClaimLimits, type RateLog } from "../../job/queue-limits.js";
import { chunks, mapInSlices } from "../../slices.js";
import { storeFailure } from "../failure.js";
import { pendingMigrations } from "../migrations.js";
import {
  ERROR_COLUMN_NAMES,
  errorCursor,
  errorToParams,
  jobToUpdateParams,
  rowToError,
  rowToJob,
  UPDATABLE_JOB_COLUMNS,
  type ErrorRow,
  type JobRow,
  queueSettingsValues,
  rowToQueueSettings,
  type QueueSettingsRow,
  resultSizesFrom,
  resultsFrom,
  type ResultRow,
  type ResultSizeRow,
} from "../rows.js";
import type {
  LimitedClaim,
  AbandonedLeaseQuery,
  BatchSession,
  CappedInsert,
  BatchWrite,
  ChangeResult,
  ChangeSet,
  ClaimRequest,
  CronGroupWrite,
  CronWriteOutcome,
  DeletedJob,
  DeleteResult,
  EndedLease,
  InsertOutcome,
  JobDelete,
  JobQuery,
  JobUpdate,
  PageRequest,
  ReadyEntry,
  SortOrder,
  StatusCount,
  Store,
  StoredCronGroup,
  StoredPayload,
  WorkflowRecord,
  QueueSettings,
  QueueCaps,
} from "../store.js";
import { cappedQueues, discardsFor, discardUpdates, roomChecks } from "../caps.js";
import { cronWriteStatement, rowToCronGroup, type CronGroupRow } from "../cron-rows.js";
import { countJobsQuery, listJobsQuery, WhereBuilder } from "../where.js";
import { insertBatcher } from "./insert-batcher.js";
import type { TurnBatcher } from "../../turn-batcher.js";
import { insertJobsWith, insertNeedsTransaction } from "./insert.js";
import { insertWithDependencies, settleOn, type SettlingStatements } from "./dependencies.js";
import { endedBy, keepable, keepDependedOn, leavesBlocked, releasedFromBlocked, type DependencyRules, type SettledChange } from "../dependencies.js";
import type { SettledDependency } from "../../job/state.js";
import type { Notifier, Peer, WorkerDirectory } from "../sharing.js";
import { Leadership } from "./leader.js";
import { Listener } from "./listener.js";
import { Liveness } from "./liveness.js";
import { columnArrays, ROW_TYPES, runOn, type Row, type Run, type Statement } from "./run.js";
import { decodeLeases, encodeLeases } from "./lease-payload.js";
import { EVENTS_CHANNEL, LEASES_ENDED_CHANNEL, POSTGRES_DIALECT, QUERY_SQL, QUEUE_SETTINGS_CHANNEL, READY_CHANNEL, SQL, writtenMask } from "./sql.js";

export interface PostgresStoreOptions {
  /** A postgres:// or postgresql:// connection URL. */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long a call waits for a free or new connection before failing with 503 (default 10 s). */
  connectTimeoutMs?: number;
  /** How long a server must be seen without its liveness lock before its leases are given back (default 1 s; see liveness.ts). */
  livenessGraceMs?: number;
  /** How long after PostgreSQL starts no server counts as gone, while all of them reconnect (default 5 s). */
  livenessRestartGraceMs?: number;
}

/** Jobs per statement of a big bulk: building one statement's parameters for 50,000 jobs holds the event loop. */
const BULK_INSERT_SLICE = 1000;

/**
 * A big bulk as statements of BULK_INSERT_SLICE jobs in one transaction: all or nothing, invisible
 * to other connections until it commits, and the event loop is free while each statement runs. A
 * unique key taken earlier in the bulk is held when a later slice comes to it, as in one statement.
 */
async function insertInSlices(run: Run, jobs: Job[]): Promise<InsertOutcome[]> {
  const outcomes: InsertOutcome[] = [];
  for (const slice of chunks(jobs, BULK_INSERT_SLICE)) outcomes.push(...(await insertJobsWith(run, slice)));
  return outcomes;
}

/** Tries of a commit that lost a race for a unique key (see retryKeyRaces); each loss needs a new competing insert. */
const KEY_RACE_ATTEMPTS = 3;

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

/**
 * PostgreSQL through a pg.Pool, for several servers sharing one database.
 * Every write is one transaction (or one statement); batches are single
 * statements over array parameters. Database and connection errors reach
 * callers as UnavailableError (503, retryable). Besides the pool, a store
 * opens up to three connections of its own: one that LISTENs for ready jobs
 * (once someone subscribes), one that holds the leader lock (once lead() is called)
 * and one that holds the liveness locks of the owners it claims for (at the first claim).
 */
export class PostgresStore implements Store, Notifier, Peer, WorkerDirectory {
  private closing: Promise<void> | undefined;
  private readonly listener: Listener;
  private readonly leadership: Leadership;
  private readonly liveness: Liveness;
  private readonly runOnPool: Run;
  private readonly batcher: TurnBatcher<Job[], void>;

  private constructor(private readonly pool: pg.Pool, options: PostgresStoreOptions) {
    // An idle connection that breaks (server restart, network) is dropped by
    // the pool; the next call opens a new one. Without a listener it would crash the process.
    pool.on("error", () => {});
    this.runOnPool = async <R extends Row>(text: string, values: unknown[] = []) => (await pool.query<R>(text, values)).rows;
    this.batcher = insertBatcher(async (jobs) => {
      await insertJobsWith(this.runOnPool, jobs);
    });
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const dedicated = (role: string) => (): pg.Client => new pg.Client({
      connectionString: options.url,
      application_name: `wharf-${role}`,
      connectionTimeoutMillis: timeoutMs,
      // A hung query or a silently dead peer must not stall the listener or the leader forever.
      query_timeout: timeoutMs,
      keepAlive: true,
    });
    this.listener = new Listener({ newClient: dedicated("listener"), channels: [READY_CHANNEL, LEASES_ENDED_CHANNEL, QUEUE_SETTINGS_CHANNEL, EVENTS_CHANNEL] });
    this.leadership = new Leadership({ newClient: dedicated("leader"), tryLock: SQL.tryLead, ping: SQL.ping });
    this.liveness = new Liveness({
      newClient: dedicated("liveness"),
      read: this.runOnPool,
      graceMs: options.livenessGraceMs,
      restartGraceMs: options.livenessRestartGraceMs,
    });
  }

  /** Connects and brings the schema up to date; several servers may do this at once. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: "wharf",
      types: ROW_TYPES,
    });
    const store = new PostgresStore(pool, options);
    try {
      await store.migrate();
    } catch (error) {
      await store.close();
      throw storeFailure(error, "opening the PostgreSQL store");
    }
    return store;
  }

  /** All pending migrations in one transaction, under an advisory lock: concurrent starters wait, then find nothing to do. */
  private migrate(): Promise<void> {
    return this.transaction(async (run) => {
      await run(SQL.lockMigrations);
      await run(SQL.createMigrationsTable);
      const applied = (await run<{ version: number }>(SQL.appliedMigrations)).map((row) => row.version);
      for (const { version, sql } of pendingMigrations(MIGRATIONS_DIR, applied)) {
        await run(sql);
        await run(SQL.recordMigration, [version, Date.now()]);
      }
    });
  }

  // ---- plumbing ----

  /** Runs `work` in one transaction on one pooled connection; a broken connection is discarded, not reused. */
  private async transaction<T>(work: (run: Run) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const noteBroken = (error: Error): void => {
      broken = error;
    };
    client.on("error", noteBroken);
    const run = runOn(client);
    try {
      await run("BEGIN");
      const result = await work(run);
      await run("COMMIT");
      return result;
    } catch (error) {
      await run("ROLLBACK").catch((rollbackError: Error) => noteBroken(rollbackError));
      throw error;
    } finally {
      client.removeListener("error", noteBroken);
      client.release(broken);
    }
  }

  /** Runs statements in order, all or none; a single statement is atomic by itself and needs no transaction. */
  private async execute(statements: Statement[]): Promise<Row[][]> {
    const [only] = statements;
    if (statements.length === 0) return [];
    if (statements.length === 1 && only) return [await this.runOnPool(only.text, only.values)];
    return this.transaction((run) => runAll(run, statements));
  }

  private async write<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw storeFailure(error, "store write");
    }
  }

  private async read<R extends Row>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (error) {
      throw storeFailure(error, "store read");
    }
  }

  /** Rows decoded a slice at a time: a page of big payloads is a lot of JSON to parse. */
  private async readJobs(text: string, values: unknown[]): Promise<Job[]> {
    return mapInSlices(await this.read<JobRow>(text, values), rowToJob, 1);
  }

  // ---- writes ----

  /** Jobs without unique keys go through the batcher: one statement for every such insert of an event-loop turn. */
  insertJobs(jobs: Job[], rules?: DependencyRules, workflow?: WorkflowRecord): Promise<InsertOutcome[]> {
    if (jobs.length === 0) return Promise.resolve([]);
    const waiting = jobs.some((job) => job.dependencies !== undefined);
    if (workflow || waiting || jobs.length > BULK_INSERT_SLICE || insertNeedsTransaction(jobs)) {
      return this.write(() => this.transaction((run) => insertWithin(run, jobs, rules, workflow)));
    }
    return this.write(async () => {
      await this.batcher.add(jobs);
      return jobs.map((job) => ({ job, duplicate: false }));
    });
  }

  /**
   * The capped queues' locks first, held to the commit: the inserts into one capped queue, from every
   * server, take turns, and each counts what the ones before it committed.
   */
  insertCapped(jobs: Job[], caps: QueueCaps, rules?: DependencyRules, workflow?: WorkflowRecord): Promise<CappedInsert> {
    return this.write(() => this.transaction((run) => insertCappedWith(run, jobs, caps, rules, workflow)));
  }

  /**
   * One statement per round of updates (with their error records and the notification that a job is
   * ready), one for the deletes, then the inserts; several statements share a transaction. A change
   * that ends a job others wait for is left out of those statements (has_dependents) and applied again
   * in a transaction that settles the dependents too; a change set with inserts settles in its own.
   */
  commit(changes: ChangeSet): Promise<ChangeResult> {
    const updates = changes.updates ?? [];
    const deletes = changes.deletes ?? [];
    const inserts = changes.inserts ?? [];
    const releases = updates.some(leavesBlocked);
    const apply = async (): Promise<ChangeResult> => {
      if (inserts.length === 0 && !releases) {
        const applied = await applyChanges((statements) => this.execute(statements), updates, deletes, false);
        return this.settleLeftOut(updates, deletes, applied, changes.rules);
      }
      return this.transaction(async (run) => {
        const caps = changes.caps;
        if (caps) await lockCapped(run, inserts, caps);
        const result = await applySettling(run, updates, deletes, inserts, changes.rules);
        if (caps) result.settled.push(...(await makeRoom(run, result.inserted, caps, changes.rules)));
        return result;
      });
    };
    return this.write(() => retryKeyRaces(apply, updates.some((update) => update.entersUniqueScope)));
  }

  /** The ends the single statements left out because others wait for their jobs, applied with their dependents' settling in one transaction. */
  private async settleLeftOut(updates: JobUpdate[], deletes: JobDelete[], applied: AppliedChanges, rules: DependencyRules | undefined): Promise<ChangeResult> {
    const deletedIds = new Set(applied.deleted.map(({ id }) => id));
    const leftOut = [
      ...updates.filter(({ job }, position) => !applied.updated[position] && (job.status === "completed" || job.status === "dead")).map(({ job }) => job.id),
      ...deletes.filter(({ id }) => !deletedIds.has(id)).map(({ id }) => id),
    ];
    const nothing = { ...applied, inserted: [], settled: [], kept: [] };
    if (leftOut.length === 0) return nothing;
    const dependedOn = new Set((await this.runOnPool<{ id: string }>(SQL.dependedOn, [leftOut])).map(({ id }) => id));
    if (dependedOn.size === 0) return nothing;
    const again = updates.map((update, position) => ({ update, position })).filter(({ update, position }) => !applied.updated[position] && dependedOn.has(update.job.id));
    const deletesAgain = deletes.filter(({ id }) => !deletedIds.has(id) && dependedOn.has(id));
    const { settled, kept } = await this.transaction(async (run) => {
      const redone = await applyKeeping(run, again.map(({ update }) => update), deletesAgain);
      redone.applied.updated.forEach((done, index) => {
        if (done) applied.updated[again[index]!.position] = true;
      });
      applied.deleted.push(...redone.applied.deleted);
      return { settled: await settleOn(run, redone.ended, rules, SETTLING), kept: redone.kept };
    });
    return { updated: applied.updated, deleted: inInputOrder(applied.deleted, deletes.map(({ id }) => id)), inserted: [], settled, kept };
  }

  deleteMatching(query: JobQuery | undefined, rules?: DependencyRules): Promise<DeleteResult> {
    const where = new WhereBuilder(POSTGRES_DIALECT).matching(query);
    return this.write(() => this.transaction(async (run) => {
      const deleted = await run<DeletedJob>(QUERY_SQL.deleteMatching(where.sql), where.params);
      if (where.sql !== "") return { deleted, settled: await settleOn(run, endedBy([], [], deleted), rules, SETTLING) };
      await run(SQL.deleteOpenBatches);
      await run(SQL.deleteAllEdges);
      await run(SQL.deleteAllWorkflows);
      await run(SQL.deleteAllQueueSettings);
      return { deleted, settled: [] };
    }));
  }

  async listQueueSettings(): Promise<Array<{ queue: string; settings: QueueSettings }>> {
    return (await this.read<QueueSettingsRow & Row>(SQL.queueSettings, [])).map(rowToQueueSettings);
  }

  async getQueueSettings(queue: string): Promise<QueueSettings | undefined> {
    const [row] = await this.read<QueueSettingsRow & Row>(SQL.queueSettingsOf, [queue]);
    return row && rowToQueueSettings(row).settings;
  }

  putQueueSettings(queue: string, settings: QueueSettings | undefined): Promise<void> {
    return this.write(async () => {
      if (settings === undefined) await this.runOnPool(SQL.deleteQueueSettings, [queue]);
      else await this.runOnPool(SQL.putQueueSettings, [queue, ...queueSettingsValues(settings)]);
    });
  }

  async getWorkflow(id: string): Promise<WorkflowRecord | undefined> {
    const [row] = await this.read<WorkflowRecord & Row>(SQL.workflowById, [id]);
    return row;
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return this.write(async () => (await this.runOnPool(SQL.deleteWorkflow, [id])).length === 1);
  }

  purgeWorkflows(limit: number): Promise<number> {
    return this.write(async () => (await this.runOnPool(SQL.purgeWorkflows, [limit])).length);
  }

  purgeDue(now: number, limit: number): Promise<DeletedJob[]> {
    return this.write(async () => {
      const [deleted] = await this.execute([{ text: SQL.purgeDue, values: [now, limit] }]);
      return deleted as DeletedJob[];
    });
  }

  // ---- reads ----

  async getJob(id: string): Promise<Job | undefined> {
    const [job] = await this.readJobs(SQL.jobById, [id]);
    return job;
  }

  async getJobs(ids: readonly string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    return this.readJobs(SQL.jobsByIds, [ids]);
  }

  async resultSizes(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    return resultSizesFrom(await this.read<ResultSizeRow & Row>(SQL.resultSizesOf, [ids]));
  }

  async getResults(ids: readonly string[]): Promise<Map<string, JsonValue>> {
    if (ids.length === 0) return new Map();
    return resultsFrom(await this.read<ResultRow & Row>(SQL.resultsOf, [ids]));
  }

  async listJobs(query: JobQuery, page: PageRequest): Promise<Job[]> {
    const { sql, params } = listJobsQuery(POSTGRES_DIALECT, query, page);
    return this.readJobs(sql, params);
  }

  listPayloads(query: JobQuery, page: PageRequest): Promise<StoredPayload[]> {
    const { sql, params } = listJobsQuery(POSTGRES_DIALECT, query, page, "id, payload");
    return this.read<StoredPayload & Row>(sql, params);
  }

  async countJobs(query: JobQuery): Promise<number> {
    const { sql, params } = countJobsQuery(POSTGRES_DIALECT, query);
    const [row] = await this.read<{ count: number }>(sql, params);
    return row?.count ?? 0;
  }

  countByQueueAndStatus(): Promise<StatusCount[]> {
    return this.read<StatusCount>(SQL.countByQueueAndStatus);
  }

  readyEntries(): Promise<ReadyEntry[]> {
    return this.read<ReadyEntry>(SQL.readyEntries);
  }

  jobsWithStatus(status: JobStatus, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.jobsWithStatus, [status, limit]);
  }

  dueScheduled(now: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.dueScheduled, [now, limit]);
  }

  async nextScheduledAt(): Promise<number | undefined> {
    const [row] = await this.read<{ at: number | null }>(SQL.nextScheduledAt);
    return row?.at ?? undefined;
  }

  missedDeadlines(now: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.missedDeadlines, [now, limit]);
  }

  agedJobs(queue: string, enqueuedBefore: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.agedJobs, [queue, enqueuedBefore, limit]);
  }

  async nextDeadline(): Promise<number | undefined> {
    const [row] = await this.read<{ at: number | null }>(SQL.nextDeadline);
    return row?.at ?? undefined;
  }

  async listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<JobError[]> {
    const { ascending, after } = errorCursor(page);
    return (await this.read<ErrorRow>(ascending ? SQL.errorsAsc : SQL.errorsDesc, [jobId, after, page.limit])).map(rowToError);
  }

  async getError(jobId: string, attempt: number): Promise<JobError | undefined> {
    const [row] = await this.read<ErrorRow>(SQL.errorByAttempt, [jobId, attempt]);
    return row ? rowToError(row) : undefined;
  }

  // ---- cron groups ----

  async listCronGroups(): Promise<string[]> {
    return (await this.read<{ name: string }>(SQL.cronGroupNames)).map(({ name }) => name);
  }

  async getCronGroup(name: string): Promise<StoredCronGroup | undefined> {
    const [row] = await this.read<CronGroupRow>(SQL.cronGroupByName, [name]);
    return row ? rowToCronGroup(row) : undefined;
  }

  async dueCronGroups(now: number, limit: number): Promise<StoredCronGroup[]> {
    return (await this.read<CronGroupRow>(SQL.dueCronGroups, [now, limit])).map(rowToCronGroup);
  }

  async nextCronDueAt(): Promise<number | undefined> {
    const [row] = await this.read<{ at: number | null }>(SQL.nextCronDueAt);
    return row?.at ?? undefined;
  }

  /** The group's fenced write and its jobs share one transaction: both or neither. */
  writeCronGroup(write: CronGroupWrite): Promise<CronWriteOutcome> {
    return this.write(() => this.transaction(async (run) => {
      const fenced = cronWriteStatement(write);
      if (fenced && (await run(SQL[fenced.statement], fenced.values)).length !== 1) return { applied: false, inserted: [], discarded: [] };
      return { applied: true, ...(await insertCappedWith(run, write.jobs, write.caps, write.rules)) };
    }));
  }

  deleteCronGroups(): Promise<number> {
    return this.write(async () => (await this.runOnPool(SQL.deleteCronGroups, [])).length);
  }

  /**
   * One transaction: the keys' advisory locks (in key order, so two sessions cannot deadlock), then
   * the open jobs read FOR UPDATE (claims skip them), then the write; all released at COMMIT.
   */
  batchSession<T>(keys: readonly string[], work: (session: BatchSession) => Promise<T>): Promise<T> {
    return this.write(() => this.transaction(async (run) => {
      for (const key of [...keys].sort()) await run(SQL.lockBatchKey, [key]);
      return work({
        openJobs: async () => {
          const rows = await run<JobRow & { batch_key: string }>(SQL.openBatchJobs, [keys]);
          return new Map(rows.map((row) => [row.batch_key, rowToJob(row)]));
        },
        write: (batch) => writeBatch(run, batch),
      });
    }));
  }

  // ---- several servers ----

  /** One statement: concurrent claimers, here or on other servers, skip each other's rows instead of waiting. */
  claimReady(request: ClaimRequest): Promise<Job[]> {
    if (request.limit <= 0) return Promise.resolve([]);
    const [claim, values] = claimStatementFor(request);
    return this.write(async () => {
      // Alive before the lease is recorded: the leader must never take a fresh lease for a dead server's.
      await this.liveness.hold(request.owner);
      const claimed = (await this.runOnPool<JobRow>(claim, values)).map(rowToJob);
      return claimed.sort(takeOrder);
    });
  }

  claimLimited(request: ClaimRequest & { queues: readonly string[] }): Promise<LimitedClaim> {
    if (request.limit <= 0 || request.queues.length === 0) return Promise.resolve({ jobs: [] });
    return this.write(async () => {
      await this.liveness.hold(request.owner);
      const claim = await this.transaction(async (run) => {
        // Each statement sees what committed before it began: counted after the lock, the counts are current.
        const locked = await run<QueueSettingsRow & Row>(SQL.lockQueueLimits, [[...request.queues]]);
        const claim: { jobs: Job[]; opensAt?: number } = { jobs: [] };
        for (const { queue, settings } of locked.map(rowToQueueSettings)) {
          const limit = request.limit - claim.jobs.length;
          if (limit <= 0) break;
          const { jobs, opensAt } = await claimWithin(run, { ...request, queues: [queue], limit }, settings);
          claim.jobs.push(...jobs);
          if (opensAt !== undefined) claim.opensAt = Math.min(opensAt, claim.opensAt ?? opensAt);
        }
        return claim;
      });
      claim.jobs.sort(takeOrder);
      return claim;
    });
  }

  extendLease(id: string, runId: string, expiresAt: number, state?: string, progress?: string): Promise<boolean> {
    return this.write(async () => (await this.runOnPool(SQL.extendLease, [id, runId, expiresAt, state ?? null, progress ?? null])).length === 1);
  }

  async abandonedLeases(query: AbandonedLeaseQuery): Promise<Job[]> {
    let gone: string[];
    try {
      gone = await this.liveness.goneOwners(query.now);
    } catch (error) {
      throw storeFailure(error, "store read");
    }
    return this.readJobs(SQL.abandonedLeases, [gone, query.expiredBefore, query.limit]);
  }

  /** Every subscription, to either channel, shares one LISTEN connection, opened with the first and closed with the last. */
  onReady(listener: () => void): () => void {
    return this.listener.subscribe(READY_CHANNEL, () => listener());
  }

  /** Ids are base36 and run ids uuids or hex, so neither contains the payload's separators. */
  announceLeasesEnded(leases: readonly EndedLease[]): Promise<void> {
    return this.write(async () => {
      for (const payload of encodeLeases(leases)) await this.runOnPool(SQL.notifyLeasesEnded, [payload]);
    });
  }

  /** Also called when listening (re)starts: changes may have been missed meanwhile. */
  onQueueSettingsChanged(listener: () => void): () => void {
    return this.listener.subscribe(QUEUE_SETTINGS_CHANNEL, () => listener());
  }

  announceEvents(messages: readonly string[]): Promise<void> {
    return this.write(async () => {
      for (const message of messages) await this.runOnPool(SQL.notifyEvents, [message]);
    });
  }

  publishWorkers(server: string, workers: string, now: number): Promise<void> {
    return this.write(async () => void (await this.runOnPool(SQL.publishWorkers, [server, workers, now])));
  }

  publishedWorkers(since: number): Promise<Array<{ server: string; workers: string }>> {
    return this.read<{ server: string; workers: string }>(SQL.publishedWorkers, [since]);
  }

  withdrawWorkers(server: string): Promise<void> {
    return this.write(async () => void (await this.runOnPool(SQL.withdrawWorkers, [server])));
  }

  onEvents(listener: (message: string | undefined) => void): () => void {
    return this.listener.subscribe(EVENTS_CHANNEL, listener);
  }

  onLeasesEnded(listener: (leases: EndedLease[] | undefined) => void): () => void {
    return this.listener.subscribe(LEASES_ENDED_CHANNEL, (payload) => listener(payload === undefined ? undefined : decodeLeases(payload)));
  }

  lead(): Promise<boolean> {
    return this.leadership.lead();
  }

  /** Ends the pool (waiting for checked-out connections to come back), stops listening, gives up leadership and liveness. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.pool.end(), this.listener.close(), this.leadership.close(), this.liveness.close()]).then(() => undefined);
    return this.closing;
  }
}

/**
 * A job taking back its unique key checks for a holder in its statement's snapshot; another
 * server's insert of that key committing just after the check makes the update violate the unique
 * index. Run again, the check sees that holder and the job gives the key up.
 */
async function retryKeyRaces<T>(work: () => Promise<T>, mayRace: boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!mayRace || attempt >= KEY_RACE_ATTEMPTS || !violatesUniqueHold(error)) throw error;
    }
  }
}

function violatesUniqueHold(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === "23505" && error.constraint === "jobs_unique_hold";
}

/** A change set in a transaction that settles the dependents of the jobs it ends (commit). */
async function applySettling(run: Run, updates: JobUpdate[], deletes: JobDelete[], inserts: Job[], rules: DependencyRules | undefined): Promise<ChangeResult> {
  const { applied, kept, ended } = await applyKeeping(run, updates, deletes);
  const released = releasedFromBlocked(updates, applied.updated);
  if (released.length > 0) await run(SQL.dropEdgesOf, [released]);
  const inserted = await insertJobsWith(run, inserts);
  const settled = await settleOn(run, ended, rules, SETTLING);
  return { ...applied, inserted, settled, kept };
}

/**
 * Inserts jobs (with their dependencies' edges, and the workflow they make up) in a transaction on
 * `run`, under the queue caps when given (insertCapped): the store's own, or a caller's (transactional.ts).
 */
export async function insertCappedWith(run: Run, jobs: Job[], caps: QueueCaps | undefined, rules: DependencyRules | undefined, workflow?: WorkflowRecord): Promise<CappedInsert> {
  if (caps) await lockCapped(run, jobs, caps);
  const inserted = await insertWithin(run, jobs, rules, workflow);
  return { inserted, discarded: caps ? await makeRoom(run, inserted, caps, rules) : [] };
}

/** Inserts jobs (with their dependencies' edges, and the workflow they make up) in a transaction. */
async function insertWithin(run: Run, jobs: Job[], rules: DependencyRules | undefined, workflow: WorkflowRecord | undefined): Promise<InsertOutcome[]> {
  const insert = jobs.length > BULK_INSERT_SLICE ? insertInSlices : insertJobsWith;
  const outcomes = await (jobs.some((job) => job.dependencies !== undefined) ? insertWithDependencies(run, jobs, rules, insert) : insert(run, jobs));
  if (workflow) await run(SQL.insertWorkflow, [workflow.id, workflow.created_at, workflow.document]);
  return outcomes;
}

/** Locks the capped queues `jobs` go to until the transaction ends (insertCapped). */
async function lockCapped(run: Run, jobs: readonly Job[], caps: QueueCaps): Promise<void> {
  for (const queue of cappedQueues(jobs, caps)) await run(SQL.lockQueueEntries, [queue]);
}

/** The waiting jobs the inserted ones leave no room for, discarded (or the insert refused) under the queues' locks (src/store/caps.ts). */
async function makeRoom(run: Run, inserted: InsertOutcome[], caps: QueueCaps, rules: DependencyRules | undefined): Promise<SettledChange[]> {
  const discards: SettledChange[] = [];
  for (const check of roomChecks(inserted, caps)) {
    const beyond = (await run<JobRow>(SQL.waitingBeyond, [check.queue, check.added, check.limit, check.room])).map(rowToJob);
    discards.push(...discardsFor(check, beyond, caps));
  }
  if (discards.length === 0) return [];
  const { updated, settled } = await applySettling(run, discardUpdates(discards), [], [], rules);
  return [...discards.filter((_discard, position) => updated[position]), ...settled];
}

async function runAll(run: Run, statements: Statement[]): Promise<Row[][]> {
  const results: Row[][] = [];
  for (const { text, values } of statements) results.push(await run(text, values));
  return results;
}

interface AppliedChanges {
  updated: boolean[];
  deleted: DeletedJob[];
}

/**
 * applyChanges in a transaction that settles: a delete with a keptAs whose job others depend on is
 * written as that update instead (keepDependedOn). Answers what applied of the given updates and
 * deletes, the ids kept, and the ends to settle.
 */
async function applyKeeping(run: Run, updates: JobUpdate[], deletes: JobDelete[]): Promise<{ applied: AppliedChanges; kept: string[]; ended: SettledDependency[] }> {
  const keep = keepable(deletes);
  const dependedOn = keep.length === 0 ? new Set<string>() : new Set((await run<{ id: string }>(SQL.dependedOnByEdges, [keep])).map(({ id }) => id));
  const plan = keepDependedOn(updates, deletes, dependedOn);
  const applied = await applyChanges((statements) => runAll(run, statements), plan.updates, plan.deletes, true);
  const ended = endedBy(plan.updates, applied.updated, applied.deleted, plan.deletes);
  const kept = plan.kept.filter((_id, index) => applied.updated[updates.length + index]);
  return { applied: { updated: applied.updated.slice(0, updates.length), deleted: applied.deleted }, kept, ended };
}

/**
 * Runs the updates (in rounds) and the deletes with `execute`; `settling` lets them end jobs others wait
 * for (the caller then settles the dependents in the same transaction). Per update, whether it applied.
 */
async function applyChanges(execute: (statements: Statement[]) => Promise<Row[][]>, updates: JobUpdate[], deletes: JobDelete[], settling: boolean): Promise<AppliedChanges> {
  const rounds = updateRounds(updates);
  const statements = rounds.map((round) => updateStatement(round.map(({ update }) => update), settling));
  if (deletes.length > 0) statements.push(deleteStatement(deletes, settling));
  const results = await execute(statements);
  const updated: boolean[] = new Array<boolean>(updates.length).fill(false);
  rounds.forEach((round, index) => {
    const changed = new Set((results[index] as Array<{ id: string }>).map((row) => row.id));
    for (const { update, position } of round) updated[position] = changed.has(update.job.id);
  });
  const deleted = deletes.length > 0 ? inInputOrder(results.at(-1) as DeletedJob[], deletes.map(({ id }) => id)) : [];
  return { updated, deleted };
}

/** The statements that write settled dependents' changes: they may end jobs others wait for. */
const SETTLING: SettlingStatements = {
  updates: (updates) => updateStatement(updates, true),
  deletes: (discards) => deleteStatement(discards, true),
};

/** One round of updates; no job comes twice in a round, so each brings at most one error record. */
function updateStatement(updates: JobUpdate[], settling = false): Statement {
  const params = updates.map(({ job }) => jobToUpdateParams(job));
  const errors = updates.flatMap(({ job, error }) => (error ? [errorToParams(job.id, error)] : []));
  return {
    text: settling ? SQL.updateJobsSettling : SQL.updateJobs,
    values: [
      params.map((row) => row.id),
      updates.map(({ from }) => from),
      updates.map(({ fromRunId }) => fromRunId ?? null),
      updates.map(({ leaseExpiredBy }) => leaseExpiredBy ?? null),
      updates.map(({ entersUniqueScope }) => entersUniqueScope ?? false),
      updates.map(({ columns }) => writtenMask(columns ?? UPDATABLE_JOB_COLUMNS)),
      ...columnArrays(params, UPDATABLE_JOB_COLUMNS),
      ...columnArrays(errors, ERROR_COLUMN_NAMES),
    ],
  };
}

function deleteStatement(deletes: JobDelete[], settling: boolean): Statement {
  return {
    text: settling ? SQL.deleteJobsSettling : SQL.deleteJobs,
    values: [
      deletes.map(({ id }) => id),
      deletes.map(({ from }) => from ?? null),
      deletes.map(({ fromRunId }) => fromRunId ?? null),
      deletes.map(({ leaseExpiredBy }) => leaseExpiredBy ?? null),
    ],
  };
}

interface PlacedUpdate {
  update: JobUpdate;
  /** Index in the ChangeSet's updates, where its result goes. */
  position: number;
}

/**
 * Splits updates into runs in which no job, and no unique key entering its scope, comes twice. One
 * UPDATE statement changes a row at most once and sees the table as it was before it began, so a
 * job updated twice, or a second job taking back a key, needs a later statement that sees the
 * earlier result, as sequential updates would.
 */
function updateRounds(updates: JobUpdate[]): PlacedUpdate[][] {
  const rounds: PlacedUpdate[][] = [];
  let seen = new Set<string>();
  updates.forEach((update, position) => {
    const marks = roundMarks(update);
    if (rounds.length === 0 || marks.some((mark) => seen.has(mark))) {
      rounds.push([]);
      seen = new Set();
    }
    rounds.at(-1)!.push({ update, position });
    for (const mark of marks) seen.add(mark);
  });
  return rounds;
}

/** What may come only once per update statement: the job's id, and the key it takes back. */
function roundMarks({ job, entersUniqueScope }: JobUpdate): string[] {
  return entersUniqueScope && job.unique_key !== undefined ? [`id:${job.id}`, `key:${job.unique_key}`] : [`id:${job.id}`];
}

function inInputOrder(deleted: DeletedJob[], ids: readonly string[]): DeletedJob[] {
  const rank = new Map(ids.map((id, index) => [id, index] as const).reverse());
  return [...deleted].sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
}

/** The claim statement that walks an index in take order for what `request` asks, and its parameters. */
/** In a savepoint, so a fold that no longer applies undoes the round and leaves the session usable. */
async function writeBatch(run: Run, { folds, opens, inserts, caps, rules }: BatchWrite): Promise<CappedInsert | undefined> {
  if (caps) await lockCapped(run, inserts, caps);
  await run("SAVEPOINT batch_write");
  if (folds.length > 0) {
    const folded = await run(SQL.foldPayloads, [folds.map(({ id }) => id), folds.map(({ payload }) => payload)]);
    if (folded.length !== folds.length) {
      await run("ROLLBACK TO SAVEPOINT batch_write");
      return undefined;
    }
    // A claim that skipped a locked job may have found nothing else: wake the claimers once this commits.
    await run(SQL.notifyReady);
  }
  const inserted = await insertJobsWith(run, inserts);
  if (opens.length > 0) await run(SQL.openBatches, [opens.map(({ key }) => key), opens.map(({ id }) => id)]);
  const discarded = caps ? await makeRoom(run, inserted, caps, rules) : [];
  await run("RELEASE SAVEPOINT batch_write");
  return { inserted, discarded };
}

/** RETURNING comes in no guaranteed order; ids compare bytewise, as the C collation of the column does. */
function takeOrder(a: Job, b: Job): number {
  return a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What one limited queue's limits leave room for, claimed, its starts recorded (src/job/queue-limits.ts). */
async function claimWithin(run: Run, request: ClaimRequest, limits: ClaimLimits): Promise<LimitedClaim> {
  const [queue] = request.queues!;
  const inFlightByLane = new Map((await run<{ lane: string; count: number }>(SQL.inFlightByLane, [queue])).map(({ lane, count }) => [lane, count]));
  const rateLogs = limits.rate_limit ? new Map((await run<{ lane: string; starts: string }>(SQL.rateLogsOf, [queue])).map(({ lane, starts }) => [lane, JSON.parse(starts) as RateLog])) : new Map<string, RateLog>();
  let inFlight = 0;
  for (const count of inFlightByLane.values()) inFlight += count;
  const room = queueRoom(limits, { inFlight, inFlightByLane, rateLogs }, request.now);
  const limit = Math.min(request.limit, room.total);
  let jobs: Job[] = [];
  if (limit > 0) {
    const [claim, values] = claimStatementFor({ ...request, limit }, true);
    const perKey = limitsPerKey(limits) ? [request.types === null ? null : [...request.types], [...room.lanes.keys()], [...room.lanes.values()], Math.min(room.otherLanes, limit)] : undefined;
    jobs = (await run<JobRow>(perKey ? SQL.claimPerKey : claim, perKey ? [...values.slice(0, 5), ...perKey] : values)).map(rowToJob);
  }
  if (limits.rate_limit) await writeRateLogs(run, queue!, logsAfterClaim(limits.rate_limit, rateLogs, jobs, request.now));
  return room.opensAt === undefined ? { jobs } : { jobs, opensAt: room.opensAt };
}

async function writeRateLogs(run: Run, queue: string, logs: ReadonlyMap<string, RateLog>): Promise<void> {
  const kept = [...logs].filter(([, log]) => log.length > 0);
  const emptied = [...logs].filter(([, log]) => log.length === 0).map(([lane]) => lane);
  if (kept.length > 0) await run(SQL.putRateLogs, [queue, kept.map(([lane]) => lane), kept.map(([, log]) => JSON.stringify(log))]);
  if (emptied.length > 0) await run(SQL.deleteRateLogs, [queue, emptied]);
}

/** The claim statement for a request; `limited`: of one limited queue, its room counted under its lock (claimLimited). */
function claimStatementFor(request: ClaimRequest, limited = false): [string, unknown[]] {
  const values = [request.queues === null ? null : [...request.queues], request.limit, request.now, request.owner, request.defaultLeaseMs];
  if (request.types !== null) return [limited ? SQL.claimLimitedOfTypes : SQL.claimReadyOfTypes, [...values, [...request.types]]];
  if (limited) return [SQL.claimLimitedFromQueues, values];
  return [request.queues === null ? SQL.claimReady : SQL.claimReadyFromQueues, values];
}
