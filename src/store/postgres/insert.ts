/**
 * Inserting jobs into PostgreSQL, on any connection: the store's own (pool or transaction) and a
 * caller's transaction (transactional.ts) run exactly this code.
 */
import { UnavailableError } from "../../errors.js";
import type { Job } from "../../job/types.js";
import { JOB_COLUMN_NAMES, jobToValues, rowToJob, type JobRow } from "../rows.js";
import type { InsertOutcome } from "../store.js";
import { valueArrays, type Run } from "./run.js";
import { SQL } from "./sql.js";

/**
 * How often a batch is retried when a job's key was held at insert time but its holder had let go
 * of it by the time we looked the holder up. Each retry needs another server to free the key in
 * that gap, so a handful of tries settles any real contention.
 */
const HOLDER_LOOKUP_ATTEMPTS = 5;

/** The jobs as the column-wise parameters of the insert statements. */
function jobColumns(jobs: readonly Job[]): unknown[] {
  return valueArrays(jobs.map(jobToValues), JOB_COLUMN_NAMES.length);
}

/** Whether inserting `jobs` takes several statements, which must then share one transaction. */
export function insertNeedsTransaction(jobs: readonly Job[]): boolean {
  return jobs.some((job) => job.unique_key !== undefined);
}

/**
 * Inserts jobs in order, skipping each whose unique key another job holds (stored or earlier in the
 * batch), and notifies listeners on commit when a ready job went in. When insertNeedsTransaction(jobs),
 * `run` must run inside a transaction; otherwise this is one statement.
 */
export async function insertJobsWith(run: Run, jobs: Job[]): Promise<InsertOutcome[]> {
  if (jobs.length === 0) return [];
  if (!insertNeedsTransaction(jobs)) {
    await run(jobs.some(isReady) ? SQL.insertJobsAndNotify : SQL.insertJobs, jobColumns(jobs));
    return jobs.map((job) => ({ job, duplicate: false }));
  }
  const outcomes = await insertUnlessHeld(run, jobs);
  const ordered = jobs.map((job) => outcomes.get(job.id)!);
  if (ordered.some(({ job, duplicate }) => !duplicate && isReady(job))) await run(SQL.notifyReady);
  return ordered;
}

/**
 * The unique index on unique_hold decides, in the database, which job gets a key: racing inserts
 * from any number of servers let exactly one in. Each skipped job's outcome is the job holding its
 * key, read in a fresh snapshot after the insert.
 */
async function insertUnlessHeld(run: Run, jobs: Job[]): Promise<Map<string, InsertOutcome>> {
  const outcomes = new Map<string, InsertOutcome>();
  let pending = jobs;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > HOLDER_LOOKUP_ATTEMPTS) throw new UnavailableError("unique keys kept changing hands while enqueueing; try again");
    const inserted = new Set((await run<{ id: string }>(SQL.insertJobsUnlessHeld, jobColumns(pending))).map(({ id }) => id));
    const skipped = pending.filter((job) => !inserted.has(job.id));
    const holders = await holdersOf(run, skipped);
    for (const job of pending) {
      if (inserted.has(job.id)) outcomes.set(job.id, { job, duplicate: false });
    }
    for (const job of skipped) {
      const holder = holders.get(job.unique_key!);
      if (holder) outcomes.set(job.id, { job: holder, duplicate: true });
    }
    pending = skipped.filter((job) => !outcomes.has(job.id));
  }
  return outcomes;
}

async function holdersOf(run: Run, jobs: Job[]): Promise<Map<string, Job>> {
  if (jobs.length === 0) return new Map();
  const keys = [...new Set(jobs.map((job) => job.unique_key!))];
  const holders = (await run<JobRow>(SQL.jobsHoldingKeys, [keys])).map(rowToJob);
  return new Map(holders.map((holder) => [holder.unique_key!, holder]));
}

function isReady(job: Job): boolean {
  return job.status === "ready";
}
