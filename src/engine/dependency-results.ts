import type { Job, JsonValue } from "../job/types.js";
import type { Store } from "../store/store.js";
import type { JobSink } from "./dispatch.js";

/** Whether a taken job is to carry its dependencies' results. */
function loadsDependencies(job: Job): boolean {
  return job.load_dependencies === true && job.dependencies !== undefined;
}

/**
 * A take stream's sink that hands each job taken with load_dependencies the results of the jobs it
 * waited for (kept until it ends: src/store/dependencies.ts), read in one go per batch; other jobs pass
 * through at once, so ordinary takes pay nothing. Jobs whose lease ended meanwhile (their stream closed
 * and handed them back: `stillLeased` says no) are not sent. Should the read fail, the jobs go out
 * without the results rather than stay leased to nobody, and `failed` hears of it.
 */
export function withDependencyResults(sink: JobSink, store: Pick<Store, "getJobs">, stillLeased: (job: Job) => boolean, failed: (error: unknown) => void): JobSink {
  const send = (jobs: Job[]): void => {
    const leased = jobs.filter(stillLeased);
    if (leased.length > 0) sink(leased);
  };
  return (jobs) => {
    if (!jobs.some(loadsDependencies)) return sink(jobs);
    const plain = jobs.filter((job) => !loadsDependencies(job));
    if (plain.length > 0) sink(plain);
    const loading = jobs.filter(loadsDependencies);
    void withResults(loading, store).then(send, (error: unknown) => {
      failed(error);
      send(loading);
    });
  };
}

async function withResults(jobs: Job[], store: Pick<Store, "getJobs">): Promise<Job[]> {
  const ids = [...new Set(jobs.flatMap((job) => job.dependencies!))];
  const results = new Map((await store.getJobs(ids)).map((dependency) => [dependency.id, dependency.result ?? null]));
  return jobs.map((job) => {
    const dependencyResults: Record<string, JsonValue> = {};
    for (const id of job.dependencies!) dependencyResults[id] = results.get(id) ?? null;
    return { ...job, dependency_results: dependencyResults };
  });
}
