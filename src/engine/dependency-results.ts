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
 * through at once, so ordinary takes pay nothing. Should the read fail, the jobs go out without the
 * results rather than stay leased to nobody, and `failed` hears of it.
 */
export function withDependencyResults(sink: JobSink, store: Pick<Store, "getJobs">, failed: (error: unknown) => void): JobSink {
  return (jobs) => {
    if (!jobs.some(loadsDependencies)) return sink(jobs);
    const plain = jobs.filter((job) => !loadsDependencies(job));
    if (plain.length > 0) sink(plain);
    const loading = jobs.filter(loadsDependencies);
    void withResults(loading, store).then(sink, (error: unknown) => {
      failed(error);
      sink(loading);
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
