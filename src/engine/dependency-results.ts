import type { FailureInput, Job, JsonValue } from "../job/types.js";
import type { Store } from "../store/store.js";
import type { JobSink } from "./dispatch.js";

/** A job's dependencies' results, in bytes of JSON, at most, by default: what the server takes in one request (16 MiB). */
export const DEFAULT_MAX_DEPENDENCY_RESULTS_BYTES = 16 * 1024 * 1024;

/** How a job whose dependencies' results are too many to send fails: dead, with no retry (they will not shrink). */
export function tooManyResults(bytes: number, maxBytes: number): FailureInput {
  return {
    error_type: "DependencyResultsTooLarge",
    message: `the results of the jobs it waited for take ${bytes} bytes of JSON, more than one job may carry (${maxBytes}, --max-dependency-results-bytes)`,
    kill: true,
  };
}

export interface DependencyResultsOptions {
  store: Pick<Store, "resultSizes" | "getResults">;
  /** Whether a job taken is still leased to the stream (its stream may have closed and handed it back). */
  stillLeased(job: Job): boolean;
  /** The read failed: the jobs went out without their results. */
  failed(error: unknown): void;
  /** Most bytes of JSON one job's dependency results may take, in its frame and in the server's memory. */
  maxBytes: number;
  /** A job whose dependencies' results take more than maxBytes (`bytes`): it is not sent, and is to be ended. */
  tooLarge(job: Job, bytes: number): void;
}

/** Whether a taken job is to carry its dependencies' results. */
function loadsDependencies(job: Job): boolean {
  return job.load_dependencies === true && job.dependencies !== undefined;
}

/**
 * A take stream's sink that hands each job taken with load_dependencies the results of the jobs it
 * waited for (kept until it ends: src/store/dependencies.ts); other jobs pass through at once, so
 * ordinary takes pay nothing. The results' sizes are read first, so that a job whose results pass
 * maxBytes is ended without loading them, and the others are loaded in rounds of at most maxBytes of
 * results each: a frame, and the memory it takes to build, stay bounded whatever the workflow. Jobs
 * whose lease ended meanwhile are not sent. Should a read fail, the jobs go out without the results
 * rather than stay leased to nobody, and `failed` hears of it.
 */
export function withDependencyResults(sink: JobSink, options: DependencyResultsOptions): JobSink {
  const send = (jobs: Job[]): void => {
    const leased = jobs.filter(options.stillLeased);
    if (leased.length > 0) sink(leased);
  };
  return (jobs) => {
    if (!jobs.some(loadsDependencies)) return sink(jobs);
    const plain = jobs.filter((job) => !loadsDependencies(job));
    if (plain.length > 0) sink(plain);
    const loading = jobs.filter(loadsDependencies);
    const handled = new Set<string>();
    void sendWithResults(loading, options, handled, send).catch((error: unknown) => {
      options.failed(error);
      send(loading.filter((job) => !handled.has(job.id)));
    });
  };
}

/** Sends or ends each of `jobs`, adding the id of each it has to `handled`. */
async function sendWithResults(jobs: Job[], options: DependencyResultsOptions, handled: Set<string>, send: (jobs: Job[]) => void): Promise<void> {
  const sizes = await options.store.resultSizes(uniqueDependencies(jobs));
  const bytesOf = (ids: Iterable<string>): number => {
    let bytes = 0;
    for (const id of ids) bytes += sizes.get(id) ?? 0;
    return bytes;
  };
  const fitting: Job[] = [];
  for (const job of jobs) {
    const bytes = bytesOf(new Set(job.dependencies));
    if (bytes > options.maxBytes) {
      handled.add(job.id);
      options.tooLarge(job, bytes);
    } else fitting.push(job);
  }
  for (const round of rounds(fitting, options.maxBytes, bytesOf)) {
    const results = await options.store.getResults(uniqueDependencies(round));
    for (const job of round) handled.add(job.id);
    send(round.map((job) => withResults(job, results)));
  }
}

/** Jobs in order, grouped so that the results one group loads take at most maxBytes (a job alone always fits). */
function rounds(jobs: Job[], maxBytes: number, bytesOf: (ids: Iterable<string>) => number): Job[][] {
  const grouped: Job[][] = [];
  let round: Job[] = [];
  let ids = new Set<string>();
  for (const job of jobs) {
    const joined = new Set([...ids, ...job.dependencies!]);
    if (round.length > 0 && bytesOf(joined) > maxBytes) {
      grouped.push(round);
      round = [];
      ids = new Set(job.dependencies);
    } else ids = joined;
    round.push(job);
  }
  if (round.length > 0) grouped.push(round);
  return grouped;
}

function uniqueDependencies(jobs: readonly Job[]): string[] {
  return [...new Set(jobs.flatMap((job) => job.dependencies!))];
}

function withResults(job: Job, results: ReadonlyMap<string, JsonValue>): Job {
  const dependencyResults: Record<string, JsonValue> = {};
  for (const id of job.dependencies!) dependencyResults[id] = results.get(id) ?? null;
  return { ...job, dependency_results: dependencyResults };
}
