/** The shapes a job takes in answers: Zizq answers enqueues, patches and failures without the payload. */
import type { EnqueuedJob, Job } from "./types.js";

export function withoutPayload(job: Job): Omit<Job, "payload"> {
  const { payload: _payload, ...rest } = job;
  return rest;
}

export function enqueuedView(outcome: { job: Job; duplicate: boolean; folded?: boolean }): EnqueuedJob {
  // Set on the copy rather than spread again: a second object spread per job cost a bulk's answer several times this.
  const view = withoutPayload(outcome.job) as EnqueuedJob;
  view.duplicate = outcome.duplicate;
  view.folded = outcome.folded === true;
  return view;
}

/** 201 when the enqueue made at least one job; 200 when every job was a duplicate or folded into a batch. */
export function enqueueStatus(outcomes: ReadonlyArray<{ duplicate: boolean; folded?: boolean }>): 200 | 201 {
  return outcomes.every((outcome) => outcome.duplicate || outcome.folded === true) ? 200 : 201;
}
