/**
 * Dependencies on PostgreSQL, inside a caller's transaction. Several servers may insert dependents and
 * end their dependencies at once, so row locks order them: inserting a dependent marks each unfinished
 * dependency `has_dependents` (an UPDATE, which locks the row until the insert commits, and which an
 * end waits for and a purge skips: a completed dependency is marked too, so no purge takes it meanwhile), and settling locks each dependent before counting the edges it has left, so of two
 * dependencies ending together, the second to get the lock sees the first one's edge gone.
 */
import type { SettledDependency } from "../../job/state.js";
import type { Job, JobStatus } from "../../job/types.js";
import { drive, outsideDependencies, planDependencies, releasedEdges, settleDependents, settledDeletes, settledUpdates, type DependencyRules, type ReleasedEdge, type SettledChange } from "../dependencies.js";
import { rowToJob, type JobRow } from "../rows.js";
import type { InsertOutcome, JobDelete, JobUpdate } from "../store.js";
import type { Run, Statement } from "./run.js";
import { SQL } from "./sql.js";

/** Inserts `jobs` with `insert`, blocked on their unmet dependencies, with their edges (see planDependencies). */
export async function insertWithDependencies(
  run: Run,
  jobs: Job[],
  rules: DependencyRules | undefined,
  insert: (run: Run, jobs: Job[]) => Promise<InsertOutcome[]>,
): Promise<InsertOutcome[]> {
  const outside = outsideDependencies(jobs);
  let statuses: Array<{ id: string; status: JobStatus }> = [];
  if (outside.length > 0) {
    await run(SQL.markDependedOn, [outside]);
    statuses = await run<{ id: string; status: JobStatus }>(SQL.statusesOf, [outside]);
  }
  const planned = planDependencies(jobs, new Map(statuses.map(({ id, status }) => [id, status])), rules);
  const outcomes = await insert(run, planned.jobs);
  const inside = new Set(jobs.map(({ id }) => id));
  const insideParents = [...new Set(planned.edges.map(({ dependsOn }) => dependsOn))].filter((id) => inside.has(id));
  if (insideParents.length > 0) await run(SQL.markDependedOn, [insideParents]);
  if (planned.edges.length > 0) {
    await run(SQL.insertEdges, [planned.edges.map(({ jobId }) => jobId), planned.edges.map(({ dependsOn }) => dependsOn), planned.edges.map(({ met }) => met)]);
  }
  return outcomes;
}

/** The statements that write settled dependents: their updates, and the deletes of those discarded. */
export interface SettlingStatements {
  updates(changes: JobUpdate[]): Statement;
  deletes(discards: JobDelete[]): Statement;
}

/** Settles the dependents of `ended` (src/store/dependencies.ts) with `statements`. */
export function settleOn(run: Run, ended: SettledDependency[], rules: DependencyRules | undefined, statements: SettlingStatements): Promise<SettledChange[]> {
  if (ended.length === 0) return Promise.resolve([]);
  return drive(settleDependents(ended, rules), async (step) => {
    if (step.kind === "release") return releaseEdges(run, step.completed, step.failed);
    const updates = settledUpdates(step.changes);
    const discards = settledDeletes(step.changes);
    for (const statement of [...(updates.length > 0 ? [statements.updates(updates)] : []), ...(discards.length > 0 ? [statements.deletes(discards)] : [])]) {
      await run(statement.text, statement.values);
    }
    if (step.dropEdgesOf.length > 0) await run(SQL.dropEdgesOf, [step.dropEdgesOf]);
    return undefined;
  });
}

async function releaseEdges(run: Run, completed: string[], failed: string[]): Promise<ReleasedEdge[]> {
  type Edge = { job_id: string; depends_on: string };
  const met = completed.length === 0 ? [] : await run<Edge>(SQL.meetEdges, [completed]);
  const edges = failed.length === 0 ? met : [...met, ...(await run<Edge>(SQL.releaseEdges, [failed]))];
  if (edges.length === 0) return [];
  const ids = [...new Set(edges.map(({ job_id: jobId }) => jobId))];
  const blocked = new Map((await run<JobRow>(SQL.lockBlocked, [ids])).map((row) => [row.id, rowToJob(row)]));
  const left = new Map((await run<{ job_id: string; count: number }>(SQL.edgesLeft, [ids])).map(({ job_id: jobId, count }) => [jobId, count]));
  return releasedEdges(edges, blocked, left);
}
