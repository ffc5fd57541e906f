/**
 * Inserting jobs into PostgreSQL, on any connection: the store's own (pool or transaction) and a
 * caller's transaction (transactional.ts) run exactly this code.
 */
import type { Job } from "../../job/types.js";
import { JOB_COLUMN_NAMES, jobToParams, rowToJob, type JobRow } from "../rows.js";
import type { DuplicateRule, InsertOutcome } from "../store.js";
import { columnArrays, type Run, type Statement } from "./run.js";
import { SQL } from "./sql.js";

function uniqueKeys(jobs: readonly Job[]): string[] {
  return [...new Set(jobs.flatMap((job) => (job.unique_key === undefined ? [] : [job.unique_key])))];
}

/** Whether inserting `jobs` takes several statements, which must then share one transaction. */
export function insertNeedsTransaction(jobs: readonly Job[]): boolean {
  return uniqueKeys(jobs).length > 0;
}

/**
 * Inserts jobs in order, skipping each whose unique key an existing job (stored or earlier in the
 * batch) holds by `isDuplicate`, and notifies listeners on commit when a ready job went in. When
 * insertNeedsTransaction(jobs), `run` must run inside a transaction; otherwise this is one statement.
 */
export async function insertJobsWith(run: Run, jobs: Job[], isDuplicate: DuplicateRule): Promise<InsertOutcome[]> {
  if (jobs.length === 0) return [];
  const keys = uniqueKeys(jobs);
  if (keys.length === 0) {
    await runStatement(run, insertStatement(jobs));
    return jobs.map((job) => ({ job, duplicate: false }));
  }
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
  if (fresh.length > 0) await runStatement(run, insertStatement(fresh));
  return outcomes;
}

async function runStatement(run: Run, { text, values }: Statement): Promise<void> {
  await run(text, values);
}

/** One statement for the whole batch; it also notifies when one of the jobs is ready. */
function insertStatement(jobs: Job[]): Statement {
  const wakes = jobs.some((job) => job.status === "ready");
  return { text: wakes ? SQL.insertJobsAndNotify : SQL.insertJobs, values: columnArrays(jobs.map(jobToParams), JOB_COLUMN_NAMES) };
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
