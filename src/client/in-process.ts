import type { JobStatus } from "../job/types.js";
import { Client, type JobFilter } from "./client.js";
import type { AnyJobs, Job, JobType } from "./jobs.js";

/** A job filter whose `type` narrows the jobs answered to those types. */
export interface EnqueuedFilter<Jobs = AnyJobs, K extends JobType<Jobs> = JobType<Jobs>> extends Omit<JobFilter, "type"> {
  type?: K | K[];
}

const WAITING: JobStatus[] = ["scheduled", "ready"];

/** Helpers for tests of code that enqueues jobs (in the spirit of Oban.Testing and rivertest). */
export class Testing<Jobs extends object = AnyJobs> {
  constructor(private readonly client: Client<Jobs>) {}

  /** Jobs waiting to run (scheduled or ready, unless `status` says otherwise) that match the filter, oldest first. */
  async enqueued<K extends JobType<Jobs> = JobType<Jobs>>(filter: EnqueuedFilter<Jobs, K> = {}): Promise<Array<Job<Jobs, K>>> {
    const jobs: Array<Job<Jobs, K>> = [];
    // The filter's type keeps other types out, so every job answered is of one of its types.
    for await (const job of this.client.listJobs({ status: WAITING, ...filter })) jobs.push(job as Job<Jobs, K>);
    return jobs;
  }
}

/** A Client on an engine in this process, from `open()`. Run jobs in tests with `worker.drain()`. */
export class InProcessClient<Jobs extends object = AnyJobs> extends Client<Jobs> {
  readonly testing = new Testing<Jobs>(this);
}
