/**
 * Inserting jobs into PostgreSQL, on any connection: the store's own (pool or transaction) and a
 * caller's transaction (transactional.ts) run exactly this code.
 */
import { UnavailableError } from "../../errors.js";
import type { Job } from "../../job/types.js";
import { debounced } from "../../job/state.js";
import { JOB_COLUMN_NAMES, jobToValues, keyHoldOf, presentColumnNames, presentColumns, rowToJob, type JobRow } from "../rows.js";
import type { InsertOutcome } from "../store.js";
import type { Run } from "./run.js";
import { SQL } from "./sql.js";

/**
 * How often a batch is retried when a job's key was held at insert time but its holder had let go
 * of it by the time we looked the holder up. Each retry needs another server to free the key in
 * that gap, so a handful of tries settles any real contention.
 */
const HOLDER_LOOKUP_ATTEMPTS = 5;

/** The jobs as the column-wise parameters of the insert statements: the columns some job of them has (sql.ts byColumnsPresent). */
function jobColumns(jobs: readonly Job[]): { present: number; arrays: unknown[][] } {
  const rows = jobs.map(jobToValues);
  const present = rows.reduce((mask, values) => mask | presentColumns(values), 0);
  const positions = presentColumnNames(present).map((column) => JOB_COLUMN_NAMES.indexOf(column));
  return { present, arrays: positions.map((position) => rows.map((values) => values[position])) };
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
    const { present, arrays } = jobColumns(jobs);
    await run((jobs.some(isReady) ? SQL.insertJobsAndNotify : SQL.insertJobs)(present), arrays);
    return jobs.map((job) => ({ job, duplicate: false }));
  }
  const outcomes = await insertUnlessHeld(run, jobs);
  const ordered = jobs.map((job) => outcomes.get(job.id)!);
  if (ordered.some(({ job, duplicate }) => !duplicate && isReady(job))) await run(SQL.notifyReady);
  return ordered;
}

/**
 * The unique indexes decide, in the database, which job gets a key (or a key's window): racing
 * inserts from any number of servers let exactly one in. Each skipped job's outcome is the job
 * holding its key, read in a fresh snapshot after the insert; a skipped debounced job first tries
 * the next window (state.ts debounced).
 */
async function insertUnlessHeld(run: Run, jobs: Job[]): Promise<Map<string, InsertOutcome>> {
  const outcomes = new Map<string, InsertOutcome>();
  let pending = jobs;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > HOLDER_LOOKUP_ATTEMPTS) throw new UnavailableError("unique keys kept changing hands while enqueueing; try again");
    const inserted = await insertSkippingHeld(run, pending);
    const skipped = pending.filter((job) => !inserted.has(job.id));
    for (const job of pending) {
      if (inserted.has(job.id)) outcomes.set(job.id, { job, duplicate: false });
    }
    const moved = new Map(skipped.flatMap((job) => {
      const later = debounced(job);
      return later ? [[job.id, later] as const] : [];
    }));
    const holders = await holdersOf(run, skipped.filter((job) => !moved.has(job.id)));
    for (const job of skipped) {
      const holder = holders.get(holdName(job));
      if (holder) outcomes.set(job.id, { job: holder, duplicate: true });
    }
    pending = skipped.filter((job) => !outcomes.has(job.id)).map((job) => moved.get(job.id) ?? job);
  }
  return outcomes;
}

/**
 * Inserts `jobs`, each skipped when its key (or its key's window) is held; answers the ids that went
 * in. Jobs without a key go with those held by status: they conflict with nothing there.
 */
async function insertSkippingHeld(run: Run, jobs: Job[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (const hold of ["status", "window"] as const) {
    const group = jobs.filter((job) => (keyHoldOf(job) === "window") === (hold === "window"));
    if (group.length === 0) continue;
    const { present, arrays } = jobColumns(group);
    for (const { id } of await run<{ id: string }>(SQL.insertJobsUnlessHeld[hold](present), arrays)) inserted.add(id);
  }
  return inserted;
}

/** What names the hold of a job with a key: the key, or the key and its window's end. */
function holdName(job: Job): string {
  return job.throttled_until === undefined ? `status:${job.unique_key!}` : `window:${job.throttled_until}:${job.unique_key!}`;
}

async function holdersOf(run: Run, jobs: Job[]): Promise<Map<string, Job>> {
  const byStatus = [...new Set(jobs.filter((job) => keyHoldOf(job) === "status").map((job) => job.unique_key!))];
  const byWindow = jobs.filter((job) => keyHoldOf(job) === "window");
  const holders = [
    ...(byStatus.length === 0 ? [] : await run<JobRow>(SQL.jobsHoldingKeys, [byStatus])),
    ...(byWindow.length === 0 ? [] : await run<JobRow>(SQL.jobsHoldingWindows, [byWindow.map((job) => job.unique_key!), byWindow.map((job) => job.throttled_until!)])),
  ].map(rowToJob);
  return new Map(holders.map((holder) => [holdName(holder), holder]));
}

function isReady(job: Job): boolean {
  return job.status === "ready";
}
