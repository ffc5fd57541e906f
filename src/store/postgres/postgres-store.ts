import { fileURLToPath } from "node:url";
import pg from "pg";
import { ConflictError } from "../../errors.js";
import type { Job, JobError, JobStatus } from "../../job/types.js";
import { storeFailure } from "../failure.js";
import { readMigrations } from "../migrations.js";
import {
  ERROR_COLUMN_NAMES,
  errorToParams,
  JOB_COLUMN_NAMES,
  jobToParams,
  jobToUpdateParams,
  rowToError,
  rowToJob,
  UPDATABLE_JOB_COLUMNS,
  type ColumnValue,
  type ErrorRow,
  type JobRow,
} from "../rows.js";
import type {
  ChangeResult,
  ChangeSet,
  DeletedJob,
  DuplicateRule,
  FailureRecord,
  InsertOutcome,
  JobQuery,
  JobUpdate,
  PageRequest,
  ReadyEntry,
  SortOrder,
  StatusCount,
  Store,
} from "../store.js";
import { WhereBuilder } from "../where.js";
import { POSTGRES_DIALECT, QUERY_SQL, SQL } from "./sql.js";

export interface PostgresStoreOptions {
  /** A postgres:// or postgresql:// connection URL. */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long a call waits for a free or new connection before failing with 503 (default 10 s). */
  connectTimeoutMs?: number;
  /** Hold the server lock: opening fails while another exclusive store uses the database. */
  exclusive?: boolean;
}

interface Statement {
  text: string;
  values: unknown[];
}

type Row = pg.QueryResultRow;
/** Runs one statement on the connection of the current transaction. */
type Run = <R extends Row>(text: string, values?: unknown[]) => Promise<R[]>;

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

/** Rows come back in the shape src/store/rows.ts maps: int8 as numbers (epoch ms fit), JSONB as JSON text. */
const ROW_TYPES = new pg.TypeOverrides();
ROW_TYPES.setTypeParser(pg.types.builtins.INT8, Number);
ROW_TYPES.setTypeParser(pg.types.builtins.JSONB, (text: string) => text);

/**
 * PostgreSQL through a pg.Pool, for several servers sharing one database.
 * Every write is one transaction (or one statement); batches are single
 * statements over array parameters. Database and connection errors reach
 * callers as UnavailableError (503, retryable).
 */
export class PostgresStore implements Store {
  private closing: Promise<void> | undefined;
  /** The connection that holds the server lock, when this store is exclusive. */
  private lockHolder: pg.Client | undefined;

  private constructor(private readonly pool: pg.Pool) {
    // An idle connection that breaks (server restart, network) is dropped by
    // the pool; the next call opens a new one. Without a listener it would crash the process.
    pool.on("error", () => {});
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
    const store = new PostgresStore(pool);
    try {
      if (options.exclusive) await store.lockServer(options.url);
      await store.migrate();
    } catch (error) {
      await store.close();
      throw error instanceof ConflictError ? error : storeFailure(error, "opening the PostgreSQL store");
    }
    return store;
  }

  private async lockServer(url: string): Promise<void> {
    const client = new pg.Client({ connectionString: url, application_name: "wharf-server-lock" });
    client.on("error", () => {});
    await client.connect();
    this.lockHolder = client;
    const [row] = (await client.query<{ locked: boolean }>(SQL.tryLockServer)).rows;
    if (!row?.locked) {
      throw new ConflictError(
        "another Wharf server is already using this PostgreSQL database; several servers on one database are not supported yet",
      );
    }
  }

  /** All pending migrations in one transaction, under an advisory lock: concurrent starters wait, then find nothing to do. */
  private migrate(): Promise<void> {
    return this.transaction(async (run) => {
      await run(SQL.lockMigrations);
      await run(SQL.createMigrationsTable);
      const applied = new Set((await run<{ version: number }>(SQL.appliedMigrations)).map((row) => row.version));
      for (const { version, sql } of readMigrations(MIGRATIONS_DIR)) {
        if (applied.has(version)) continue;
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
    const run: Run = async <R extends Row>(text: string, values: unknown[] = []) => (await client.query<R>(text, values)).rows;
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
    if (statements.length === 1 && only) return [(await this.pool.query(only.text, only.values)).rows];
    return this.transaction(async (run) => {
      const results: Row[][] = [];
      for (const { text, values } of statements) results.push(await run(text, values));
      return results;
    });
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

  private async readJobs(text: string, values: unknown[]): Promise<Job[]> {
    return (await this.read<JobRow>(text, values)).map(rowToJob);
  }

  // ---- writes ----

  insertJobs(jobs: Job[], isDuplicate: DuplicateRule): Promise<InsertOutcome[]> {
    if (jobs.length === 0) return Promise.resolve([]);
    const keys = [...new Set(jobs.flatMap((job) => (job.unique_key === undefined ? [] : [job.unique_key])))];
    if (keys.length === 0) {
      return this.write(async () => {
        await this.execute([insertStatement(jobs)]);
        return jobs.map((job) => ({ job, duplicate: false }));
      });
    }
    return this.write(() => this.transaction(async (run) => {
      // A plain unique index cannot say "at most one job per key while in
      // scope": scopes depend on status, and a failed job can re-enter a
      // scope another job with its key already occupies. So check in code,
      // and make the check race-free across servers by holding each key's
      // advisory lock until commit. The lock comes first, in its own
      // statement: under READ COMMITTED the SELECT after it takes a fresh
      // snapshot, so it sees whatever a competitor committed while we waited.
      await run(SQL.lockUniqueKeys, [keys]);
      const holders = (await run<JobRow>(SQL.jobsByUniqueKeys, [keys])).map(rowToJob);
      const outcomes = decideInserts(jobs, holders, isDuplicate);
      const fresh = outcomes.filter((outcome) => !outcome.duplicate).map((outcome) => outcome.job);
      if (fresh.length > 0) {
        const insert = insertStatement(fresh);
        await run(insert.text, insert.values);
      }
      return outcomes;
    }));
  }

  commit(changes: ChangeSet): Promise<ChangeResult> {
    const rounds = updateRounds(changes.updates ?? []);
    const statements = rounds.map((round) => updateStatement(round.map(({ update }) => update)));
    if (changes.errors?.length) statements.push(upsertErrorsStatement(changes.errors));
    const deletes = changes.deletes ?? [];
    if (deletes.length > 0) statements.push({ text: SQL.deleteJobs, values: [deletes] });
    return this.write(async () => {
      const results = statements.length > 0 ? await this.execute(statements) : [];
      const updated: boolean[] = new Array<boolean>(changes.updates?.length ?? 0).fill(false);
      rounds.forEach((round, index) => {
        const changed = new Set((results[index] as Array<{ id: string }>).map((row) => row.id));
        for (const { update, position } of round) updated[position] = changed.has(update.job.id);
      });
      const deleted = deletes.length > 0 ? inInputOrder(results.at(-1) as DeletedJob[], deletes) : [];
      return { updated, deleted };
    });
  }

  deleteMatching(query: JobQuery | undefined): Promise<DeletedJob[]> {
    const where = new WhereBuilder(POSTGRES_DIALECT).matching(query);
    return this.write(async () => {
      const [deleted] = await this.execute([{ text: QUERY_SQL.deleteMatching(where.sql), values: where.params }]);
      return deleted as DeletedJob[];
    });
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

  async listJobs(query: JobQuery, page: PageRequest): Promise<Job[]> {
    const where = new WhereBuilder(POSTGRES_DIALECT).matching(query);
    if (page.after !== undefined) where.compare("id", page.order === "asc" ? ">" : "<", page.after);
    const limit = where.param(page.limit, "integer");
    return this.readJobs(QUERY_SQL.listJobs(where.sql, page.order, limit), where.params);
  }

  async countJobs(query: JobQuery): Promise<number> {
    const where = new WhereBuilder(POSTGRES_DIALECT).matching(query);
    const [row] = await this.read<{ count: number }>(QUERY_SQL.countJobs(where.sql), where.params);
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

  async listErrors(jobId: string, page: { afterAttempt?: number; order: SortOrder; limit: number }): Promise<JobError[]> {
    const rows = page.order === "asc"
      ? await this.read<ErrorRow>(SQL.errorsAsc, [jobId, page.afterAttempt ?? 0, page.limit])
      : await this.read<ErrorRow>(SQL.errorsDesc, [jobId, page.afterAttempt ?? Number.MAX_SAFE_INTEGER, page.limit]);
    return rows.map(rowToError);
  }

  async getError(jobId: string, attempt: number): Promise<JobError | undefined> {
    const [row] = await this.read<ErrorRow>(SQL.errorByAttempt, [jobId, attempt]);
    return row ? rowToError(row) : undefined;
  }

  /** Ends the pool: waits for checked-out connections to come back, then closes them all. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.pool.end(), this.lockHolder?.end().catch(() => undefined)]).then(() => undefined);
    return this.closing;
  }
}

/** One array per column: `rows` as the column-wise parameters of an unnest statement. */
function columnArrays<C extends string>(rows: ReadonlyArray<Record<C, ColumnValue>>, columns: readonly C[]): ColumnValue[][] {
  return columns.map((column) => rows.map((row) => row[column]));
}

function insertStatement(jobs: Job[]): Statement {
  return { text: SQL.insertJobs, values: columnArrays(jobs.map(jobToParams), JOB_COLUMN_NAMES) };
}

function updateStatement(updates: JobUpdate[]): Statement {
  const params = updates.map(({ job }) => jobToUpdateParams(job));
  return {
    text: SQL.updateJobs,
    values: [params.map((row) => row.id), updates.map(({ from }) => from), ...columnArrays(params, UPDATABLE_JOB_COLUMNS)],
  };
}

/** Insert-or-replace: the last record for an attempt wins, as if they were written one by one. */
function upsertErrorsStatement(records: FailureRecord[]): Statement {
  const byAttempt = new Map(records.map((record) => [`${record.error.attempt}:${record.jobId}`, errorToParams(record)]));
  return { text: SQL.upsertErrors, values: columnArrays([...byAttempt.values()], ERROR_COLUMN_NAMES) };
}

interface PlacedUpdate {
  update: JobUpdate;
  /** Index in the ChangeSet's updates, where its result goes. */
  position: number;
}

/**
 * Splits updates into runs without a repeated job id. One UPDATE statement
 * changes a row at most once, so a job updated twice in one ChangeSet needs a
 * second statement that sees the first one's result, as sequential updates would.
 */
function updateRounds(updates: JobUpdate[]): PlacedUpdate[][] {
  const rounds: PlacedUpdate[][] = [];
  let ids = new Set<string>();
  updates.forEach((update, position) => {
    if (rounds.length === 0 || ids.has(update.job.id)) {
      rounds.push([]);
      ids = new Set();
    }
    rounds.at(-1)!.push({ update, position });
    ids.add(update.job.id);
  });
  return rounds;
}

/** Decides which jobs to insert: a job is a duplicate when a job with its key, stored or earlier in the batch, blocks it. */
function decideInserts(jobs: Job[], holders: Job[], isDuplicate: DuplicateRule): InsertOutcome[] {
  const byKey = new Map<string, Job[]>();
  const hold = (job: Job, key: string): void => {
    byKey.set(key, [...(byKey.get(key) ?? []), job]);
  };
  for (const holder of holders) hold(holder, holder.unique_key!);
  return jobs.map((job) => {
    if (job.unique_key === undefined) return { job, duplicate: false };
    const blocking = byKey.get(job.unique_key)?.find(isDuplicate);
    if (blocking) return { job: blocking, duplicate: true };
    hold(job, job.unique_key);
    return { job, duplicate: false };
  });
}

function inInputOrder(deleted: DeletedJob[], ids: readonly string[]): DeletedJob[] {
  const rank = new Map(ids.map((id, index) => [id, index] as const).reverse());
  return [...deleted].sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
}
