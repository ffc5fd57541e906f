import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { Job, JobError, JobStatus, JsonValue } from "../../job/types.js";
import type {
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
  InsertOutcome,
  LimitedClaim,
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
import { discardsFor, discardUpdates, roomChecks } from "../caps.js";
import { cronWriteStatement, rowToCronGroup, type CronGroupRow } from "../cron-rows.js";
import { storeFailure } from "../failure.js";
import { pendingMigrations } from "../migrations.js";
import { limitsPerKey, logsAfterClaim, queueRoom, type ClaimLimits, type RateLog } from "../../job/queue-limits.js";
import {
  driveSync,
  endedBy,
  outsideDependencies,
  planDependencies,
  keepable,
  keepDependedOn,
  releasedEdges,
  releasedFromBlocked,
  settleDependents,
  settledDeletes,
  settledUpdates,
  type DependencyEdge,
  type DependencyRules,
  type ReleasedEdge,
  type SettledChange,
} from "../dependencies.js";
import { debounced, type SettledDependency } from "../../job/state.js";
import { columnValue, DELETED_COLUMNS, presentColumns, errorCursor, JOB_COLUMNS, errorToParams, jobToValues, keyHoldOf, rowToError, UPDATABLE_JOB_COLUMNS, rowToJob, valuesToJob, queueSettingsValues, rowToQueueSettings, resultSizesFrom, resultsFrom, type ErrorRow, type JobRow, type QueueSettingsRow, type ResultRow, type ResultSizeRow } from "../rows.js";
import { countJobsQuery, listJobsQuery, WhereBuilder } from "../where.js";
import { StoreFileLock } from "./file-lock.js";
import { createPrivateDirectory, createPrivateFile } from "./private-files.js";
import { chunks, mapInSlices, Slicer, SLICE_MS } from "../../slices.js";
import { Checkpointer } from "./checkpointer.js";
import { WalSync } from "./wal-sync.js";
import { DEFAULT_WAL_LIMIT_BYTES, WalLimit } from "./wal-limit.js";
import { deleteExpectedText, deleteJobText, insertJobText, presentValues, READ_JOB_WIDTH, SQL, unpackJobRow, SQLITE_DIALECT, updateJobText, type Fence, type UpdateShape } from "./sql.js";

/**
 * Inserts beyond this many go through the sliced bulk path (see insertInSlices). Fewer are one
 * synchronous statement batch of a few tens of ms: slicing them would hold every other write behind
 * a transaction spread over many turns (the end-to-end bench's enqueue rate fell from 20k to 8.5k/s).
 */
const BULK_INSERT_SLICE = 2000;
/** Rows a sliced bulk insert writes between checks of the clock (see Slicer). */
const INSERTS_BETWEEN_PAUSES = 64;
/**
 * SQLite's page cache for the main connection, in KiB. Claims and acks work at the head of the
 * queue, so a small cache holds what they touch and the OS page cache the rest: against 64 MiB,
 * 8 MiB drained a 100,000-job backlog faster (23,300 against 21,500 jobs/s) with 36 MB less server
 * memory, and held a 300,000-job backlog in 171 MB of RSS instead of 241 at the same take latency.
 */
const PAGE_CACHE_KIB = 8192;
const BUSY_TIMEOUT_MS = 5000;
/** Rows a sliced delete removes per transaction. */
const DELETE_SLICE = 500;
/** Rows a page read starts with, and reads at most, per chunk (see listJobs). */
const FIRST_LIST_CHUNK = 8;
const LARGEST_LIST_CHUNK = 1024;

export type Durability = "buffered" | "fsync";

export interface SqliteStoreOptions {
  /** File path, or ":memory:". A file is taken for this store alone (see file-lock.ts): StoreInUseError if another has it. */
  path: string;
  /** Past this many bytes the WAL file is emptied between transactions (see wal-limit.ts); default 64 MiB. */
  walLimitBytes?: number;
  /** buffered: a commit survives a process crash (synchronous=NORMAL); fsync: it survives power loss too (the WAL synced before a write is acknowledged, see wal-sync.ts). */
  durability?: Durability;
}

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type WriteOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Thrown inside a batch write's savepoint to roll it back: a fold's job was taken or changed meanwhile. */
const FOLD_FENCED = new Error("a fold's job no longer takes folds");

/** A ready job a claim picked: its id, and its timeout for the lease. */
type PickedJob = { id: string; timeout: number | null };

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

/**
 * better-sqlite3 in WAL mode. Writes that arrive in the same event-loop turn
 * are committed in one transaction (group commit); each write runs inside its
 * own savepoint so one failing write does not undo the others.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly statements = new Map<string, Database.Statement>();
  /** Statements that read job rows as arrays (sql.ts READ_JOB_COLUMNS): cheaper for the driver to build than objects. */
  private readonly rowStatements = new Map<string, Database.Statement>();
  /** Fenced updates and deletes by a number that encodes their shape (see shapeKey, fenceKey). */
  private readonly updateStatements = new Map<number, Database.Statement>();
  private readonly deleteStatements = new Map<number, Database.Statement>();
  private readonly atomically: (work: () => unknown) => unknown;
  private readonly options: SqliteStoreOptions;
  /** Held from before the file is opened until after it is closed; none for ":memory:", which no one else can open. */
  private readonly lock: StoreFileLock | undefined;
  /** A second connection for big bulk inserts, opened on first use (see insertInSlices). */
  private bulkDb: Database.Database | undefined;
  private readonly bulkStatements = new Map<string, Database.Statement>();
  /** The bulk insert under way, if any: group commits wait for it. */
  private bulk: Promise<unknown> | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  /** With fsync durability on a file: acknowledges writes once the WAL is on disk. */
  private readonly walSync: WalSync | undefined;
  private readonly walLimit: WalLimit | undefined;

  constructor(options: SqliteStoreOptions) {
    this.options = options;
    if (options.path !== ":memory:") {
      createPrivateDirectory(dirname(options.path));
      this.lock = StoreFileLock.acquire(options.path);
      createPrivateFile(options.path);
    }
    try {
      this.db = this.open();
    } catch (error) {
      this.lock?.release();
      throw error;
    }
    this.atomically = this.db.transaction((work: () => unknown) => work());
    try {
      this.migrate();
    } catch (error) {
      this.db.close();
      this.lock?.release();
      throw error;
    }
    if (options.path !== ":memory:") {
      this.checkpointer = new Checkpointer(options.path);
      this.walLimit = new WalLimit(this.db, `${options.path}-wal`, options.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES, BUSY_TIMEOUT_MS);
      if (options.durability !== "buffered") this.walSync = new WalSync(`${options.path}-wal`);
    }
  }

  private open(): Database.Database {
    const db = new Database(this.options.path);
    try {
      db.pragma("journal_mode = WAL");
      // On a file, fsync durability syncs the WAL off the event loop (wal-sync.ts); ":memory:" has no disk to sync.
      db.pragma(`synchronous = ${this.options.path === ":memory:" && this.options.durability !== "buffered" ? "FULL" : "NORMAL"}`);
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      // A write's savepoint copies the pages it changes to a statement journal, which SQLite spills to a temporary
      // file past 64 KiB: an open, writes and a close per group commit. In memory it costs a copy.
      db.pragma("temp_store = MEMORY");
      // Checkpoints run on the Checkpointer's thread; the last one at close.
      if (this.options.path !== ":memory:") db.pragma("wal_autocheckpoint = 0");
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  }

  private migrate(): void {
    this.db.exec(SQL.createMigrationsTable);
    const applied = this.db.prepare(SQL.appliedMigrations).pluck().all() as number[];
    for (const { version, sql } of pendingMigrations(MIGRATIONS_DIR, applied)) {
      this.atomically(() => {
        this.db.exec(sql);
        this.db.prepare(SQL.recordMigration).run(version, Date.now());
      });
    }
  }

  private statement(sql: string): Database.Statement {
    return prepared(this.statements, sql, () => this.db.prepare(sql));
  }

  /** Jobs read with `sql`, which selects READ_JOB_COLUMNS. */
  private readJobs(sql: string, ...params: unknown[]): Job[] {
    return (this.jobRows(sql).all(...params) as unknown[][]).map(readJob);
  }

  private jobRows(sql: string): Database.Statement {
    return prepared(this.rowStatements, sql, () => this.db.prepare(sql).raw());
  }

  private write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.bulk !== undefined || this.pending.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.bulk !== undefined) return;
    const batch = this.pending;
    this.pending = [];
    const outcomes: WriteOutcome[] = [];
    try {
      if (batch.length === 1) outcomes.push(this.runAtomically(batch[0]!));
      else {
        this.atomically(() => {
          for (const write of batch) outcomes.push(this.runAtomically(write));
        });
      }
    } catch (error) {
      const failure = storeFailure(error, "store commit");
      for (const write of batch) write.reject(failure);
      return;
    }
    this.walLimit?.check();
    void this.durable().then(
      () => batch.forEach((write, index) => {
        const outcome = outcomes[index]!;
        if (outcome.ok) write.resolve(outcome.value);
        else write.reject(storeFailure(outcome.error, "store write"));
      }),
      (failure: unknown) => {
        for (const write of batch) write.reject(failure);
      },
    );
  }

  /**
   * Runs a write atomically: in a savepoint inside a batch's transaction, so one that fails undoes only
   * itself, or, alone in its group commit, as the transaction itself (a savepoint copies every page it
   * changes, to undo them). A failed COMMIT of a write alone is that write's failure.
   */
  private runAtomically(write: PendingWrite): WriteOutcome {
    try {
      return { ok: true, value: this.atomically(write.run) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /** Resolves once what was committed is as durable as the store promises (see wal-sync.ts). */
  private durable(): Promise<void> {
    const walSync = this.walSync;
    if (!walSync) return Promise.resolve();
    return new Promise((resolve, reject) => walSync.afterCommit((error) => (error ? reject(storeFailure(error, "store sync")) : resolve())));
  }

  insertJobs(jobs: Job[], rules?: DependencyRules, workflow?: WorkflowRecord): Promise<InsertOutcome[]> {
    if (jobs.length > BULK_INSERT_SLICE && this.options.path !== ":memory:") return this.insertInSlices(jobs, rules, workflow);
    return this.write(() => this.insertNow(jobs, rules, workflow));
  }

  /** Never in slices: the discards go through the main connection, in the insert's transaction. */
  insertCapped(jobs: Job[], caps: QueueCaps, rules?: DependencyRules, workflow?: WorkflowRecord): Promise<CappedInsert> {
    return this.write(() => {
      const inserted = this.insertNow(jobs, rules, workflow);
      return { inserted, discarded: this.makeRoom(inserted, caps, rules) };
    });
  }

  private insertNow(jobs: Job[], rules: DependencyRules | undefined, workflow: WorkflowRecord | undefined): InsertOutcome[] {
    const statement = (sql: string): Database.Statement => this.statement(sql);
    const planned = this.planned(jobs, rules, statement);
    const outcomes = planned.jobs.map((job) => this.insertOne(job));
    this.insertEdges(planned.edges, statement);
    if (workflow) statement(SQL.insertWorkflow).run(workflow.id, workflow.created_at, workflow.document);
    return outcomes;
  }

  /** One writer: the waiting jobs counted are all there are. */
  private makeRoom(inserted: InsertOutcome[], caps: QueueCaps, rules: DependencyRules | undefined): SettledChange[] {
    const discards = roomChecks(inserted, caps).flatMap((check) =>
      discardsFor(check, this.readJobs(SQL.waitingBeyond, check.queue, JSON.stringify(check.added), check.limit ?? -1, check.room), caps));
    if (discards.length === 0) return [];
    const { updated, settled } = this.applyChanges({ updates: discardUpdates(discards), rules });
    return [...discards.filter((_discard, position) => updated[position]), ...settled];
  }

  listQueueSettings(): Promise<Array<{ queue: string; settings: QueueSettings }>> {
    return Promise.resolve((this.statement(SQL.queueSettings).all() as QueueSettingsRow[]).map(rowToQueueSettings));
  }

  getQueueSettings(queue: string): Promise<QueueSettings | undefined> {
    const row = this.statement(SQL.queueSettingsOf).get(queue) as QueueSettingsRow | undefined;
    return Promise.resolve(row && rowToQueueSettings(row).settings);
  }

  putQueueSettings(queue: string, settings: QueueSettings | undefined): Promise<void> {
    return this.write(() => {
      if (settings === undefined) this.statement(SQL.deleteQueueSettings).run(queue);
      else {
        const [paused, maxInFlight, limited, others] = queueSettingsValues(settings);
        this.statement(SQL.putQueueSettings).run(queue, paused ? 1 : 0, maxInFlight, limited ? 1 : 0, others);
      }
    });
  }

  getWorkflow(id: string): Promise<WorkflowRecord | undefined> {
    return Promise.resolve(this.statement(SQL.workflowById).get(id) as WorkflowRecord | undefined);
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return this.write(() => this.statement(SQL.deleteWorkflow).run(id).changes === 1);
  }

  purgeWorkflows(limit: number): Promise<number> {
    return this.write(() => this.statement(SQL.purgeWorkflows).run(limit).changes);
  }

  /** The jobs as they go in, and the edges of their dependencies (none for jobs without): read in the insert's transaction. */
  private planned(jobs: Job[], rules: DependencyRules | undefined, statement: (sql: string) => Database.Statement): { jobs: Job[]; edges: DependencyEdge[] } {
    if (!jobs.some((job) => job.dependencies !== undefined)) return { jobs, edges: [] };
    const rows = statement(SQL.statusesOf).all(JSON.stringify(outsideDependencies(jobs))) as Array<{ id: string; status: JobStatus }>;
    return planDependencies(jobs, new Map(rows.map(({ id, status }) => [id, status])), rules);
  }

  private insertEdges(edges: DependencyEdge[], statement: (sql: string) => Database.Statement): void {
    if (edges.length === 0) return;
    const insert = statement(SQL.insertEdge);
    for (const { jobId, dependsOn, met } of edges) insert.run(jobId, dependsOn, met ? 1 : 0);
  }

  /** Settles the dependents of the jobs a write ended, in that write (see src/store/dependencies.ts). */
  private settle(ended: SettledDependency[], rules: DependencyRules | undefined): SettledChange[] {
    return driveSync(settleDependents(ended, rules), (step) => {
      if (step.kind === "release") return this.releaseEdges(step.completed, step.failed);
      for (const update of settledUpdates(step.changes)) this.updateOne(update);
      this.deleteErrorsOf(settledDeletes(step.changes).flatMap((deletion) => this.deleteOne(deletion)));
      this.dropEdgesOf(step.dropEdgesOf);
      return undefined;
    });
  }

  /** Which of `ids` other jobs depend on (an edge names them). */
  private dependedOn(ids: string[]): Set<string> {
    if (ids.length === 0) return new Set();
    return new Set((this.statement(SQL.dependedOn).all(JSON.stringify(ids)) as Array<{ id: string }>).map(({ id }) => id));
  }

  private dropEdgesOf(ids: string[]): void {
    if (ids.length > 0) this.statement(SQL.dropEdgesOf).run(JSON.stringify(ids));
  }

  private releaseEdges(completed: string[], failed: string[]): ReleasedEdge[] {
    type Edge = { job_id: string; depends_on: string };
    const met = completed.length === 0 ? [] : (this.statement(SQL.meetEdges).all(JSON.stringify(completed)) as Edge[]);
    const edges = failed.length === 0 ? met : [...met, ...(this.statement(SQL.releaseEdges).all(JSON.stringify(failed)) as Edge[])];
    if (edges.length === 0) return [];
    const ids = JSON.stringify([...new Set(edges.map(({ job_id: jobId }) => jobId))]);
    const blocked = new Map(this.readJobs(SQL.blockedJobs, ids).map((job) => [job.id, job]));
    const left = new Map((this.statement(SQL.edgesLeft).all(ids) as Array<{ job_id: string; count: number }>).map(({ job_id: jobId, count }) => [jobId, count]));
    return releasedEdges(edges, blocked, left);
  }

  /**
   * One writer: a skipped insert's holder is still there when we look it up. A debounced job whose
   * window is held tries the next window (state.ts debounced) before it is a duplicate.
   */
  private insertOne(job: Job, statement = (sql: string) => this.statement(sql)): InsertOutcome {
    const values = jobToValues(job);
    const present = presentColumns(values);
    const hold = keyHoldOf(job);
    if (statement(insertJobText(present, hold)).run(presentValues(values)).changes === 1) return { job, duplicate: false };
    if (hold === "status") return { job: readJob(statement(SQL.jobHoldingKey).raw().get(job.unique_key) as unknown[]), duplicate: true };
    const later = debounced(job);
    if (later) return this.insertOne(later, statement);
    return { job: readJob(statement(SQL.jobHoldingWindow).raw().get(job.unique_key, job.throttled_until) as unknown[]), duplicate: true };
  }

  /**
   * A big bulk, all or nothing, without holding the event loop: one transaction on a second
   * connection, filled a slice at a time across event-loop turns. Readers on the main connection
   * see the last commit (WAL snapshots), never half a bulk; the main connection's writes wait in
   * the group-commit queue (rather than on the file lock) until the bulk commits or rolls back.
   */
  private insertInSlices(jobs: Job[], rules: DependencyRules | undefined, workflow: WorkflowRecord | undefined): Promise<InsertOutcome[]> {
    const previous = this.bulk ?? Promise.resolve();
    const run = previous.then(async () => {
      // Writes queued before this bulk commit before it.
      if (this.pending.length > 0) this.flushNow();
      // A small cache spills the bulk's pages into the WAL while it is filled (uncommitted frames no
      // reader sees), so the COMMIT has little left to write.
      const db = (this.bulkDb ??= this.open());
      db.pragma("cache_size = -2048");
      const statement = (sql: string): Database.Statement => prepared(this.bulkStatements, sql, () => db.prepare(sql));
      const slicer = new Slicer();
      const outcomes: InsertOutcome[] = [];
      try {
        db.exec("BEGIN IMMEDIATE");
        const planned = this.planned(jobs, rules, statement);
        for (const slice of chunks(planned.jobs, INSERTS_BETWEEN_PAUSES)) {
          for (const job of slice) outcomes.push(this.insertOne(job, statement));
          await slicer.pause();
        }
        this.insertEdges(planned.edges, statement);
        if (workflow) statement(SQL.insertWorkflow).run(workflow.id, workflow.created_at, workflow.document);
        db.exec("COMMIT");
      } catch (error) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw storeFailure(error, "store bulk insert");
      }
      await this.durable();
      return outcomes;
    });
    const settled = run.catch(() => undefined).finally(() => {
      if (this.bulk === settled) {
        this.bulk = undefined;
        this.scheduleFlush();
      }
    });
    this.bulk = settled;
    return run;
  }

  /** Flushes queued writes now, even with a bulk about to start. */
  private flushNow(): void {
    const bulk = this.bulk;
    this.bulk = undefined;
    try {
      this.flush();
    } finally {
      this.bulk = bulk;
    }
  }

  /** A deleted job's errors go with it, all of the commit's in one statement. */
  commit(changes: ChangeSet): Promise<ChangeResult> {
    return this.write(() => this.applyChanges(changes));
  }

  private applyChanges(changes: ChangeSet): ChangeResult {
    const given = changes.updates ?? [];
    // A commit inserts no edges: with none stored, as for most users, it pays this one probe for them.
    const edges = this.statement(SQL.anyEdge).get() !== undefined;
    const { updates, deletes, kept } = edges ? keepDependedOn(given, changes.deletes ?? [], this.dependedOn(keepable(changes.deletes ?? []))) : { updates: given, deletes: changes.deletes ?? [], kept: [] };
    const applied = updates.map((update) => this.updateOne(update));
    if (edges) this.dropEdgesOf(releasedFromBlocked(updates, applied));
    const deleted = deletes.flatMap((deletion) => this.deleteOne(deletion));
    this.deleteErrorsOf(deleted);
    const inserted = (changes.inserts ?? []).map((job) => this.insertOne(job));
    const settled = edges ? this.settle(endedBy(updates, applied, deleted, deletes), changes.rules) : [];
    if (changes.caps) settled.push(...this.makeRoom(inserted, changes.caps, changes.rules));
    return { updated: applied.slice(0, given.length), deleted, inserted, settled, kept: kept.filter((_id, index) => applied[given.length + index]) };
  }

  /** The update's error record goes in only if the update applied. */
  private updateOne({ job, from, fromRunId, leaseExpiredBy, entersUniqueScope = false, columns = UPDATABLE_JOB_COLUMNS, error }: JobUpdate): boolean {
    const { fence, values } = fenceOf(from, fromRunId, leaseExpiredBy);
    const shape: UpdateShape = { columns, entersUniqueScope, clearsOwner: job.status !== "in_flight" || job.run_id === undefined, fence };
    const update = prepared(this.updateStatements, shapeKey(shape), () => this.db.prepare(updateJobText(shape)));
    const params: Array<string | number | null> = columns.map((column) => columnValue(job, column));
    params.push(job.id, ...values);
    const applied = update.run(params).changes === 1;
    if (applied && error) this.statement(SQL.insertError).run(errorToParams(job.id, error));
    return applied;
  }

  /** The caller deletes the job's errors (deleteErrorsOf). */
  private deleteOne({ id, from, fromRunId, leaseExpiredBy, expected }: JobDelete): DeletedJob[] {
    const { fence, values } = fenceOf(from, fromRunId, leaseExpiredBy);
    values.unshift(id);
    if (expected && this.deleteExpected(fence, values, expected)) return [deletedCopy(expected)];
    const deletion = prepared(this.deleteStatements, fenceKey(fence), () => this.db.prepare(deleteJobText(fence)));
    const row = deletion.get(values) as DeletedJob | undefined;
    return row ? [row] : [];
  }

  /** Whether the job was deleted as `expected` (see deleteExpectedText). */
  private deleteExpected(fence: Fence, values: Array<string | number>, expected: DeletedJob): boolean {
    const deletion = prepared(this.deleteStatements, fenceKey(fence) | EXPECTED_BIT, () => this.db.prepare(deleteExpectedText(fence)));
    const { queue, type, status, priority, attempts, concurrency_key: key } = expected;
    return deletion.run(...values, queue, type, status, priority, attempts, key ?? null).changes === 1;
  }

  /**
   * Deleting every job clears every error too, orphans left by earlier versions included. A slice
   * of DELETE_SLICE jobs per transaction, each a group commit of its own, so 100,000 deletions do
   * not hold the event loop; each slice is consistent (jobs go with their errors).
   */
  async deleteMatching(query: JobQuery | undefined, rules?: DependencyRules): Promise<DeleteResult> {
    const where = new WhereBuilder(SQLITE_DIALECT).matching(query);
    const sliceSql = `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs ${where.sql} LIMIT ${DELETE_SLICE}) RETURNING ${DELETED_COLUMNS}`;
    const result: DeleteResult = { deleted: [], settled: [] };
    for (;;) {
      const slice = await this.write(() => {
        const rows = this.statement(sliceSql).all(...where.params) as DeletedJob[];
        this.deleteErrorsOf(rows);
        const settles = where.sql !== "" && this.statement(SQL.anyEdge).get() !== undefined;
        return { rows, settled: settles ? this.settle(endedBy([], [], rows), rules) : [] };
      });
      for (const row of slice.rows) result.deleted.push(row);
      for (const change of slice.settled) result.settled.push(change);
      if (slice.rows.length < DELETE_SLICE) break;
    }
    if (where.sql === "") {
      await this.write(() => {
        this.statement(SQL.deleteAllErrors).run();
        this.statement(SQL.deleteOpenBatches).run();
        this.statement(SQL.deleteAllEdges).run();
        this.statement(SQL.deleteAllWorkflows).run();
        this.statement(SQL.deleteAllQueueSettings).run();
      });
    }
    return result;
  }

  purgeDue(now: number, limit: number): Promise<DeletedJob[]> {
    return this.write(() => {
      const deleted = this.statement(SQL.purgeDue).all(now, limit) as DeletedJob[];
      this.deleteErrorsOf(deleted);
      return deleted;
    });
  }

  private deleteErrorsOf(deleted: DeletedJob[]): void {
    if (deleted.length > 0) this.statement(SQL.deleteErrorsOfJobs).run(JSON.stringify(deleted.map(({ id }) => id)));
  }

  claimReady(request: ClaimRequest): Promise<Job[]> {
    if (request.limit <= 0) return Promise.resolve([]);
    return this.write(() => this.claimPicked(request, false));
  }

  /** One writer: the room counted is the room there is. */
  claimLimited(request: ClaimRequest & { queues: readonly string[] }): Promise<LimitedClaim> {
    if (request.limit <= 0 || request.queues.length === 0) return Promise.resolve({ jobs: [] });
    return this.write(() => {
      const claim: LimitedClaim = { jobs: [] };
      for (const row of this.statement(SQL.limitedQueues).all(JSON.stringify(request.queues)) as QueueSettingsRow[]) {
        const limit = request.limit - claim.jobs.length;
        if (limit <= 0) break;
        const { queue, settings } = rowToQueueSettings(row);
        const { jobs, opensAt } = this.claimWithin({ ...request, queues: [queue], limit }, settings);
        claim.jobs.push(...jobs);
        if (opensAt !== undefined) claim.opensAt = Math.min(opensAt, claim.opensAt ?? opensAt);
      }
      return claim;
    });
  }

  /** What one limited queue's limits leave room for, claimed, its starts recorded (src/job/queue-limits.ts). */
  private claimWithin(request: ClaimRequest, limits: ClaimLimits): LimitedClaim {
    const [queue] = request.queues!;
    const lanes = this.statement(SQL.inFlightByLane).all(queue) as Array<{ lane: string; count: number }>;
    const inFlightByLane = new Map(lanes.map(({ lane, count }) => [lane, count]));
    const logRows = limits.rate_limit ? (this.statement(SQL.rateLogsOf).all(queue) as Array<{ lane: string; starts: string }>) : [];
    const rateLogs = new Map(logRows.map(({ lane, starts }) => [lane, JSON.parse(starts) as RateLog]));
    const room = queueRoom(limits, { inFlight: lanes.reduce((sum, { count }) => sum + count, 0), inFlightByLane, rateLogs }, request.now);
    const limit = Math.min(request.limit, room.total);
    let jobs: Job[] = [];
    if (limit > 0 && limitsPerKey(limits)) {
      const picked = this.statement(SQL.readyPerKey).all({
        queue,
        types: jsonListOrNull(request.types),
        now: request.now,
        rooms: JSON.stringify(Object.fromEntries(room.lanes)),
        other: Math.min(room.otherLanes, limit),
        limit,
      }) as PickedJob[];
      jobs = this.claimEach(request, picked);
    } else if (limit > 0) jobs = this.claimPicked({ ...request, limit }, true);
    if (limits.rate_limit) {
      for (const [lane, log] of logsAfterClaim(limits.rate_limit, rateLogs, jobs, request.now)) {
        if (log.length > 0) this.statement(SQL.putRateLog).run(queue, lane, JSON.stringify(log));
        else this.statement(SQL.deleteRateLog).run(queue, lane);
      }
    }
    return room.opensAt === undefined ? { jobs } : { jobs, opensAt: room.opensAt };
  }

  private claimPicked(request: ClaimRequest, limited: boolean): Job[] {
    const picked = this.statement(SQL.readyToClaim).all({
      queues: jsonListOrNull(request.queues),
      types: jsonListOrNull(request.types),
      limit: request.limit,
      now: request.now,
      limited: limited ? 1 : 0,
    }) as PickedJob[];
    return this.claimEach(request, picked);
  }

  private claimEach(request: ClaimRequest, picked: readonly PickedJob[]): Job[] {
    return picked.flatMap(({ id, timeout }) => {
      const row = this.jobRows(SQL.claimJob).get({
        id,
        now: request.now,
        run_id: randomBytes(12).toString("hex"),
        owner: request.owner,
        lease_expires_at: request.now + Math.round(timeout === null ? request.defaultLeaseMs : timeout * 1000),
      }) as unknown[] | undefined;
      return row ? [readJob(row)] : [];
    });
  }

  extendLease(id: string, runId: string, expiresAt: number, state?: string, progress?: string): Promise<boolean> {
    // Whole ms, as the PostgreSQL store keeps them: a lease from a fractional timeout can be fractional.
    return this.write(() => this.statement(SQL.extendLease).run(Math.round(expiresAt), state ?? null, progress ?? null, id, runId).changes === 1);
  }

  /** One process per file, and its recovery at start gave back every lease an earlier one left: only expired leases. */
  async abandonedLeases(query: AbandonedLeaseQuery): Promise<Job[]> {
    return this.readJobs(SQL.expiredLeases, query.expiredBefore, query.limit);
  }

  async getJob(id: string): Promise<Job | undefined> {
    const row = this.jobRows(SQL.jobById).get(id) as unknown[] | undefined;
    return row ? readJob(row) : undefined;
  }

  async getJobs(ids: readonly string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    return mapInSlices(this.jobRows(SQL.jobsByIds).all(JSON.stringify(ids)) as unknown[][], readJob, 1);
  }

  async resultSizes(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    return resultSizesFrom(this.statement(SQL.resultSizesOf).all(JSON.stringify(ids)) as ResultSizeRow[]);
  }

  async getResults(ids: readonly string[]): Promise<Map<string, JsonValue>> {
    if (ids.length === 0) return new Map();
    return resultsFrom(this.statement(SQL.resultsOf).all(JSON.stringify(ids)) as ResultRow[]);
  }

  /**
   * A page of big payloads is a lot to read and parse (40 MB for 40 jobs of 1 MB), so the page is
   * read in chunks that yield to the event loop between them: a chunk starts at a few rows and doubles
   * while chunks are quick, and halves when one is slow, so small payloads go a thousand at a time.
   */
  listJobs(query: JobQuery, page: PageRequest): Promise<Job[]> {
    return this.readInChunks(query, page, JOB_COLUMNS, (row: JobRow) => rowToJob(row));
  }

  listPayloads(query: JobQuery, page: PageRequest): Promise<StoredPayload[]> {
    return this.readInChunks(query, page, "id, payload", (row: StoredPayload) => row);
  }

  private async readInChunks<R extends { id: string }, T>(query: JobQuery, page: PageRequest, columns: string, convert: (row: R) => T): Promise<T[]> {
    const read: T[] = [];
    let after = page.after;
    let chunk = FIRST_LIST_CHUNK;
    while (read.length < page.limit) {
      const started = performance.now();
      const limit = Math.min(chunk, page.limit - read.length);
      const { sql, params } = listJobsQuery(SQLITE_DIALECT, query, { order: page.order, limit, ...(after === undefined ? {} : { after }) }, columns);
      const rows = this.statement(sql).all(...params) as R[];
      for (const row of rows) read.push(convert(row));
      if (rows.length < limit) break;
      after = rows[rows.length - 1]!.id;
      const elapsed = performance.now() - started;
      chunk = elapsed < SLICE_MS / 4 ? Math.min(chunk * 2, LARGEST_LIST_CHUNK) : elapsed > SLICE_MS ? Math.max(chunk >> 1, 1) : chunk;
      await nextTurn();
    }
    return read;
  }

  async countJobs(query: JobQuery): Promise<number> {
    const { sql, params } = countJobsQuery(SQLITE_DIALECT, query);
    return (this.statement(sql).get(...params) as { count: number }).count;
  }

  async countByQueueAndStatus(): Promise<StatusCount[]> {
    return this.statement(SQL.countByQueueAndStatus).all() as StatusCount[];
  }

  async readyEntries(): Promise<ReadyEntry[]> {
    return this.statement(SQL.readyEntries).all() as ReadyEntry[];
  }

  async jobsWithStatus(status: JobStatus, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.jobsWithStatus, status, limit);
  }

  async dueScheduled(now: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.dueScheduled, now, limit);
  }

  async nextScheduledAt(): Promise<number | undefined> {
    const at = this.statement(SQL.nextScheduledAt).pluck().get() as number | null;
    return at ?? undefined;
  }

  async missedDeadlines(now: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.missedDeadlines, now, limit);
  }

  async agedJobs(queue: string, enqueuedBefore: number, limit: number): Promise<Job[]> {
    return this.readJobs(SQL.agedJobs, queue, enqueuedBefore, limit);
  }

  async nextDeadline(): Promise<number | undefined> {
    const at = this.statement(SQL.nextDeadline).pluck().get() as number | null;
    return at ?? undefined;
  }

  async listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<JobError[]> {
    const { ascending, after } = errorCursor(page);
    const rows = this.statement(ascending ? SQL.errorsAsc : SQL.errorsDesc).all(jobId, after, page.limit) as ErrorRow[];
    return rows.map(rowToError);
  }

  async getError(jobId: string, attempt: number): Promise<JobError | undefined> {
    const row = this.statement(SQL.errorByAttempt).get(jobId, attempt) as ErrorRow | undefined;
    return row ? rowToError(row) : undefined;
  }

  async listCronGroups(): Promise<string[]> {
    return this.statement(SQL.cronGroupNames).pluck().all() as string[];
  }

  async getCronGroup(name: string): Promise<StoredCronGroup | undefined> {
    const row = this.statement(SQL.cronGroupByName).get(name) as CronGroupRow | undefined;
    return row ? rowToCronGroup(row) : undefined;
  }

  async dueCronGroups(now: number, limit: number): Promise<StoredCronGroup[]> {
    return (this.statement(SQL.dueCronGroups).all(now, limit) as CronGroupRow[]).map(rowToCronGroup);
  }

  async nextCronDueAt(): Promise<number | undefined> {
    return (this.statement(SQL.nextCronDueAt).pluck().get() as number | null) ?? undefined;
  }

  /** The group's fenced write and its jobs share the write's savepoint: both or neither. */
  writeCronGroup(write: CronGroupWrite): Promise<CronWriteOutcome> {
    return this.write(() => {
      const fenced = cronWriteStatement(write);
      if (fenced && this.statement(SQL[fenced.statement]).run(fenced.values).changes !== 1) return { applied: false, inserted: [], discarded: [] };
      const inserted = write.jobs.map((job) => this.insertOne(job));
      return { applied: true, inserted, discarded: write.caps ? this.makeRoom(inserted, write.caps, write.rules) : [] };
    });
  }

  deleteCronGroups(): Promise<number> {
    return this.write(() => this.statement(SQL.deleteCronGroups).run().changes);
  }

  /** One process per file, and the engine runs one session per key at a time: no lock to take. */
  batchSession<T>(keys: readonly string[], work: (session: BatchSession) => Promise<T>): Promise<T> {
    return work({
      openJobs: async () => {
        const rows = this.jobRows(SQL.openBatchJobs).all(JSON.stringify(keys)) as unknown[][];
        return new Map(rows.map((row) => [row[READ_JOB_WIDTH] as string, readJob(row)]));
      },
      write: (batch) => this.write(() => {
        try {
          return this.atomically(() => this.writeBatch(batch)) as CappedInsert;
        } catch (error) {
          if (error === FOLD_FENCED) return undefined;
          throw error;
        }
      }),
    });
  }

  private writeBatch({ folds, opens, inserts, caps, rules }: BatchWrite): CappedInsert {
    for (const { id, payload } of folds) {
      if (this.statement(SQL.foldPayload).run(payload, id).changes !== 1) throw FOLD_FENCED;
    }
    const inserted = inserts.map((job) => this.insertOne(job));
    for (const { key, id } of opens) this.statement(SQL.openBatch).run(key, id);
    return { inserted, discarded: caps ? this.makeRoom(inserted, caps, rules) : [] };
  }

  async close(): Promise<void> {
    await this.bulk;
    if (this.pending.length > 0) this.flush();
    await this.walSync?.close();
    this.bulkDb?.close();
    await this.checkpointer?.close();
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // Another process holding the file: its own close checkpoints.
    }
    this.db.close();
    this.lock?.release();
  }
}

function prepared<K>(cache: Map<K, Database.Statement>, key: K, prepare: () => Database.Statement): Database.Statement {
  let statement = cache.get(key);
  if (!statement) {
    statement = prepare();
    cache.set(key, statement);
  }
  return statement;
}

const COLUMN_BITS = new Map(UPDATABLE_JOB_COLUMNS.map((column, position) => [column, 1 << position]));

/** The checks a fenced write makes, and their values in the order fenceText binds them (after the id). */
function fenceOf(from: JobStatus | undefined, fromRunId: string | undefined, leaseExpiredBy: number | undefined): { fence: Fence; values: Array<string | number> } {
  const values: Array<string | number> = [];
  if (from !== undefined) values.push(from);
  if (fromRunId !== undefined) values.push(fromRunId);
  if (leaseExpiredBy !== undefined) values.push(leaseExpiredBy);
  return { fence: { byStatus: from !== undefined, byRun: fromRunId !== undefined, byExpiry: leaseExpiredBy !== undefined }, values };
}

/** A job from a row of READ_JOB_COLUMNS (and whatever the statement selects after them). */
function readJob(row: readonly unknown[]): Job {
  return valuesToJob(unpackJobRow(row));
}

/** What a delete answers of a job it removed, in the shape its RETURNING gives. */
function deletedCopy({ id, queue, type, status, priority, attempts, concurrency_key: key }: DeletedJob): DeletedJob {
  return { id, queue, type, status, priority, attempts, concurrency_key: key ?? null };
}

/** Set in a delete statement's key when it checks the expected row (deleteExpectedText) rather than returning it. */
const EXPECTED_BIT = 8;

/** A number per fence: a bit per check. */
function fenceKey({ byStatus, byRun, byExpiry }: Fence): number {
  return +byStatus << 2 | +byRun << 1 | +byExpiry;
}

/** A number per update shape: a bit per column written, then its flags and fence. Cheaper per update than a text key. */
function shapeKey({ columns, entersUniqueScope, clearsOwner, fence }: UpdateShape): number {
  let mask = 0;
  for (const column of columns) mask |= COLUMN_BITS.get(column)!;
  return mask * 32 + (+entersUniqueScope << 4 | +clearsOwner << 3 | fenceKey(fence));
}

function jsonListOrNull(list: readonly string[] | null): string | null {
  return list === null ? null : JSON.stringify(list);
}
