/**
 * Dependencies between jobs, as every store keeps them: an edge (job, dependency) per dependency, met
 * once the dependency has completed. A job is blocked while it has unmet edges. Its edges stay until it
 * ends (completes, dies or is deleted): a completed job with edges is not purged, so a dependent reads
 * its results (load_dependencies) however short the retention. The state machine decides what becomes
 * of a dependent (src/job/state.ts unblock, unreachable); the store runs that decision inside the
 * transaction that ends the dependency, so the two commit together. The steps are written once, here, as
 * a generator each store drives with its own statements (synchronously on SQLite, awaiting them on
 * PostgreSQL).
 */
import { UnprocessableError } from "../errors.js";
import type { SettledDependency } from "../job/state.js";
import type { Job, JobError, JobStatus } from "../job/types.js";
import { changedColumns } from "./rows.js";
import type { JobDelete, JobUpdate } from "./store.js";

/** The state machine's rules for dependents, bound to the engine's clock and retention. */
export interface DependencyRules {
  /** A blocked job with nothing left to wait for. */
  unblocked(job: Job): Job;
  /** A blocked job whose dependency died or was deleted. */
  unreachable(job: Job, dependency: SettledDependency): { job: Job; error: JobError };
}

export interface DependencyEdge {
  jobId: string;
  dependsOn: string;
  /** The dependency had completed already. */
  met: boolean;
}

/**
 * A status change of a dependent, decided by the rules, written fenced on its being blocked still;
 * without `after`, the dependent was discarded (deleted unrun: one that runs on failure, all of whose
 * dependencies completed).
 */
export interface SettledChange {
  before: Job;
  after?: Job;
  error?: JobError;
}

/** An enqueue's job (by the id it was to have) refused for a dependency that is not there. */
export function dependencyNotFound(jobId: string, dependsOn: string): UnprocessableError {
  return new UnprocessableError(`job ${jobId} depends on ${dependsOn}, which does not exist (or has completed and been purged)`);
}

/** The rules, which a store given none needs as soon as there is a dependent to settle or a dependency to plan. */
export function requireRules(rules: DependencyRules | undefined): DependencyRules {
  if (!rules) throw new Error("jobs that wait for others need the state machine's rules");
  return rules;
}

/** The dependencies of `jobs` that are not among them: the store reads (and, where shared, locks) these. */
export function outsideDependencies(jobs: readonly Job[]): string[] {
  const inside = new Set(jobs.map((job) => job.id));
  const outside = new Set<string>();
  for (const job of jobs) for (const id of job.dependencies ?? []) if (!inside.has(id)) outside.add(id);
  return [...outside];
}

/**
 * What inserting `jobs` writes: the edges of their unmet dependencies, and each job as it goes in (one
 * whose dependencies have all completed is unblocked at once). `stored` holds the status of every
 * outside dependency that exists; a missing or dead one refuses the whole insert (422). Dependencies
 * on jobs of the same insert are unmet: those jobs are new.
 */
export function planDependencies(jobs: Job[], stored: ReadonlyMap<string, JobStatus>, given: DependencyRules | undefined): { jobs: Job[]; edges: DependencyEdge[] } {
  const rules = requireRules(given);
  const inside = new Set(jobs.map((job) => job.id));
  const edges: DependencyEdge[] = [];
  const planned = jobs.map((job) => {
    if (job.dependencies === undefined) return job;
    let waiting = false;
    for (const dependsOn of job.dependencies) {
      const status = inside.has(dependsOn) ? "ready" : stored.get(dependsOn);
      if (status === undefined) throw dependencyNotFound(job.id, dependsOn);
      if (status === "dead") throw new UnprocessableError(`job ${job.id} depends on ${dependsOn}, which is dead`);
      edges.push({ jobId: job.id, dependsOn, met: status === "completed" });
      if (status !== "completed") waiting = true;
    }
    return waiting ? job : rules.unblocked(job);
  });
  return { jobs: planned, edges };
}

/** An edge a store marked met or removed because its dependency settled, with the dependent still blocked. */
export interface ReleasedEdge {
  dependsOn: string;
  /** The dependent as stored now (locked until the transaction ends, where servers share the store). */
  job: Job;
  /** The dependent's unmet edges left after this step. */
  remaining: number;
}

export type SettleStep =
  /**
   * Mark met the edges on the `completed` dependencies and remove those on the `failed` ones (dead or
   * deleted); answer the ReleasedEdges of dependents still blocked.
   */
  | { kind: "release"; completed: string[]; failed: string[] }
  /**
   * Write `changes` (fenced on blocked; one without `after` deletes its job) and remove every edge of
   * the jobs in `dropEdgesOf` (they ended, or wait no more).
   */
  | { kind: "write"; changes: SettledChange[]; dropEdgesOf: string[] };

/**
 * Settles jobs that completed, died or were deleted: their own edges go (what they waited for may be
 * purged now), and their dependents settle, down the graph: a dependent with no unmet edge left is
 * unblocked; one whose dependency died or was deleted dies too, and its own dependents after it.
 * Answers every change written.
 */
export function* settleDependents(ended: SettledDependency[], given: DependencyRules | undefined): Generator<SettleStep, SettledChange[], ReleasedEdge[] | undefined> {
  const settled: SettledChange[] = [];
  if (ended.length > 0) yield { kind: "write", changes: [], dropEdgesOf: ended.map(({ id }) => id) };
  let frontier = ended;
  while (frontier.length > 0) {
    const how = new Map(frontier.map((dependency) => [dependency.id, dependency]));
    const completed = frontier.filter((dependency) => dependency.how === "completed").map(({ id }) => id);
    const failed = frontier.filter((dependency) => dependency.how !== "completed").map(({ id }) => id);
    const released = (yield { kind: "release", completed, failed }) ?? [];
    if (released.length === 0) break;
    const rules = requireRules(given);
    const byJob = new Map<string, ReleasedEdge[]>();
    for (const edge of released) byJob.set(edge.job.id, [...(byJob.get(edge.job.id) ?? []), edge]);
    const changes: SettledChange[] = [];
    const next: SettledDependency[] = [];
    const dropEdgesOf: string[] = [];
    for (const [id, edges] of byJob) {
      const failed = edges.map((edge) => how.get(edge.dependsOn)!).find((dependency) => dependency.how !== "completed");
      const job = edges[0]!.job;
      const waitedFor = edges[0]!.remaining === 0;
      if (job.runs_on === "failure") {
        if (failed) changes.push({ before: job, after: rules.unblocked(job) });
        else if (waitedFor) {
          changes.push({ before: job });
          next.push({ id, how: "deleted" });
        }
        if (failed || waitedFor) dropEdgesOf.push(id);
      } else if (failed) {
        const { job: after, error } = rules.unreachable(job, failed);
        changes.push({ before: job, after, error });
        next.push({ id, how: "dead" });
        dropEdgesOf.push(id);
      } else if (waitedFor) {
        changes.push({ before: job, after: rules.unblocked(job) });
      }
    }
    if (changes.length > 0) yield { kind: "write", changes, dropEdgesOf };
    settled.push(...changes);
    frontier = next;
  }
  return settled;
}

/** Runs the steps with `step` answering each one at once (a store whose statements are synchronous). */
export function driveSync<R>(steps: Generator<SettleStep, R, ReleasedEdge[] | undefined>, step: (next: SettleStep) => ReleasedEdge[] | undefined): R {
  let answer: ReleasedEdge[] | undefined;
  for (;;) {
    const next = steps.next(answer);
    if (next.done) return next.value;
    answer = step(next.value);
  }
}

/** Runs the steps awaiting `step` for each. */
export async function drive<R>(steps: Generator<SettleStep, R, ReleasedEdge[] | undefined>, step: (next: SettleStep) => Promise<ReleasedEdge[] | undefined>): Promise<R> {
  let answer: ReleasedEdge[] | undefined;
  for (;;) {
    const next = steps.next(answer);
    if (next.done) return next.value;
    answer = await step(next.value);
  }
}

/**
 * Which jobs a change ended, and how: completed and dead updates, and deletions, each as the end it
 * stands for (`ends`: a job its retention purges as it ends) or else as its stored status says.
 */
export function endedBy(
  updates: ReadonlyArray<{ job: Job }>,
  applied: readonly boolean[],
  deleted: ReadonlyArray<{ id: string; status: JobStatus }>,
  deletes: ReadonlyArray<{ id: string; ends?: "completed" | "dead" }> = [],
): SettledDependency[] {
  const ended: SettledDependency[] = [];
  updates.forEach(({ job }, position) => {
    if (applied[position] && (job.status === "completed" || job.status === "dead")) ended.push({ id: job.id, how: job.status });
  });
  const endOf = new Map(deletes.flatMap(({ id, ends }) => (ends === undefined ? [] : [[id, ends] as const])));
  for (const { id, status } of deleted) {
    const how = endOf.get(id) ?? (status === "completed" ? "completed" : status === "dead" ? "dead" : "deleted");
    ended.push({ id, how });
  }
  return ended;
}

/** Whether an update moves its job out of blocked by hand (its dependencies removed): its edges must go in the same write. */
export function leavesBlocked({ from, job }: { job: Job; from: JobStatus }): boolean {
  return from === "blocked" && job.status !== "blocked";
}

/** The jobs whose applied update left blocked (leavesBlocked). */
export function releasedFromBlocked(updates: ReadonlyArray<{ job: Job; from: JobStatus }>, applied: readonly boolean[]): string[] {
  return updates.filter((update, position) => applied[position] && leavesBlocked(update)).map(({ job }) => job.id);
}

/** A write step's changes as the store's fenced updates: each applies only while its job is still blocked. */
export function settledUpdates(changes: readonly SettledChange[]): JobUpdate[] {
  return changes.flatMap(({ before, after, error }) => (after ? [{ job: after, from: "blocked" as const, columns: changedColumns(before, after), ...(error ? { error } : {}) }] : []));
}

/** A write step's discards as the store's fenced deletes: each applies only while its job is still blocked. */
export function settledDeletes(changes: readonly SettledChange[]): JobDelete[] {
  return changes.flatMap(({ before, after }) => (after ? [] : [{ id: before.id, from: "blocked" as const }]));
}

/**
 * A release step's answer from what the store read: the edges it marked or removed, the dependents
 * among them still blocked (by id), and the unmet edges each of those has left.
 */
export function releasedEdges(edges: ReadonlyArray<{ job_id: string; depends_on: string }>, blocked: ReadonlyMap<string, Job>, left: ReadonlyMap<string, number>): ReleasedEdge[] {
  return edges.flatMap(({ job_id: jobId, depends_on: dependsOn }) => {
    const job = blocked.get(jobId);
    return job ? [{ dependsOn, job, remaining: left.get(jobId) ?? 0 }] : [];
  });
}

/**
 * The ends a commit writes as updates instead of deletes: a completed job its retention would purge at
 * once, kept (`keptAs`) because jobs that depend on it (`dependedOn`) are still to read its result.
 * Answers the updates to apply (the commit's own, then the kept ones), the deletes left, and the ids kept.
 */
export function keepDependedOn(updates: JobUpdate[], deletes: JobDelete[], dependedOn: ReadonlySet<string>): { updates: JobUpdate[]; deletes: JobDelete[]; kept: string[] } {
  if (dependedOn.size === 0) return { updates, deletes, kept: [] };
  const kept = deletes.filter((deletion) => deletion.keptAs !== undefined && dependedOn.has(deletion.id));
  if (kept.length === 0) return { updates, deletes, kept: [] };
  return {
    updates: [...updates, ...kept.map(({ keptAs }) => keptAs!())],
    deletes: deletes.filter((deletion) => !kept.includes(deletion)),
    kept: kept.map(({ id }) => id),
  };
}

/** The ids of deletes that have a keptAs: the store asks which of them others depend on. */
export function keepable(deletes: readonly JobDelete[]): string[] {
  return deletes.filter(({ keptAs }) => keptAs !== undefined).map(({ id }) => id);
}
