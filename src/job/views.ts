/** The shapes a job takes in answers: Zizq answers enqueues, patches and failures without the payload. */
import type { EnqueuedJob, Job } from "./types.js";

export function withoutPayload(job: Job): Omit<Job, "payload"> {
  const { payload: _payload, ...rest } = job;
  return rest;
}

export function enqueuedView(outcome: { job: Job; duplicate: boolean; folded?: boolean }): EnqueuedJob {
  return { ...withoutPayload(outcome.job), duplicate: outcome.duplicate, folded: outcome.folded === true };
}
