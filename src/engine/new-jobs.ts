/**
 * Jobs from enqueue inputs, as every enqueue makes them (the engine's, and one inside a caller's
 * PostgreSQL transaction): keyed and given defaults by their queues' settings, with dependencies as
 * job ids, and the caps their insert checks.
 */
import { UnprocessableError } from "../errors.js";
import { newJobId } from "../job/ids.js";
import { createJob, discard, unblock, unreachable, type RetentionDefaults } from "../job/state.js";
import type { EnqueueInput, Job } from "../job/types.js";
import { mapInSlices } from "../slices.js";
import type { DependencyRules } from "../store/dependencies.js";
import type { QueueCap, QueueCaps, QueueSettings } from "../store/store.js";
import type { JqLimits } from "./jq/runtime.js";
import { withQueueDefaults, withQueueKeys } from "./queue-settings.js";

export interface QueueSettingsView {
  /** No queue has settings: nothing to key or default. */
  readonly empty: boolean;
  get(queue: string): QueueSettings | undefined;
}

/** How a request names its jobs in errors: `job` alone, `jobs[3]` in a bulk. */
export function requestPositions(count: number): (position: number) => string {
  return (position) => (count === 1 ? "job" : `jobs[${position}]`);
}

export interface NewJobsOptions {
  /** How errors name the job at a position; requestPositions by default. */
  where?: (position: number) => string;
  /** The jobs' ids, by position; fresh ones by default. */
  ids?: readonly string[];
  /** What a job carries beyond its input (a workflow's metadata). */
  withMetadata?: (input: EnqueueInput, position: number) => EnqueueInput;
}

export async function newJobs(inputs: EnqueueInput[], now: number, settings: QueueSettingsView, budget: JqLimits, options: NewJobsOptions = {}): Promise<Job[]> {
  const { where = requestPositions(inputs.length), ids = inputs.map((input) => input.id ?? newJobId()), withMetadata } = options;
  const keyed = settings.empty ? inputs : await withQueueKeys(inputs, (queue) => settings.get(queue), where, budget);
  return mapInSlices(keyed, (input, position) => {
    const dependencies = input.dependencies && dependencyIds(input.dependencies, position, ids, inputs, where(position));
    const carried = withMetadata ? withMetadata(input, position) : input;
    return createJob(ids[position]!, withQueueDefaults(carried, settings.get(input.queue)), now, dependencies);
  });
}

/** The caps of the capped queues `jobs` go to, for their insert to check; none when none of them has one. */
export function capsFor(jobs: readonly Job[], capped: ReadonlyMap<string, QueueCap>, now: () => number, retention: RetentionDefaults): QueueCaps | undefined {
  if (capped.size === 0) return undefined;
  const byQueue = new Map<string, QueueCap>();
  for (const { queue } of jobs) {
    const cap = capped.get(queue);
    if (cap) byQueue.set(queue, cap);
  }
  if (byQueue.size === 0) return undefined;
  return { byQueue, discarded: (job, max) => discard(job, max, now(), retention) };
}

/** How dependents settle (src/job/state.ts), on a clock and retention. */
export function dependencyRules(now: () => number, retention: RetentionDefaults): DependencyRules {
  return {
    unblocked: (job) => unblock(job, now()),
    unreachable: (job, dependency) => unreachable(job, dependency, now(), retention),
  };
}

/** The caps of the queues with max_entries, by queue. */
export function queueCaps(settings: ReadonlyMap<string, QueueSettings>): Map<string, QueueCap> {
  return new Map([...settings].flatMap(([queue, { max_entries: max, on_full: onFull = "reject" }]) => (max === undefined ? [] : [[queue, { max, onFull }] as const])));
}

/**
 * A job's dependencies as job ids: positions in the request name earlier jobs of it (so no job can wait
 * in a cycle), and not one with a unique key, which may not go in at all (a duplicate).
 */
function dependencyIds(dependencies: ReadonlyArray<string | number>, position: number, ids: readonly string[], inputs: readonly EnqueueInput[], where: string): string[] {
  const resolved = new Set<string>();
  dependencies.forEach((dependency, index) => {
    if (typeof dependency === "string") {
      resolved.add(dependency);
      return;
    }
    const field = `${where}.dependencies[${index}]`;
    if (dependency >= position) throw new UnprocessableError(`${field} is ${dependency}: a job waits only for jobs before it in the request, so none can wait in a cycle`);
    if (inputs[dependency]!.unique_key !== undefined) {
      throw new UnprocessableError(`${field} names jobs[${dependency}], which has a unique_key and may not go in (a duplicate): wait for the job by id instead`);
    }
    resolved.add(ids[dependency]!);
  });
  return [...resolved];
}
