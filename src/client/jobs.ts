/**
 * The SDK's view of jobs, typed by a job map: an object type from job type names to payload types,
 *
 *   interface Jobs { welcome: { to: string }; report: ReportPayload }
 *
 * given once to `connect<Jobs>()` or `open<Jobs>()`. Interfaces are fine as payload types. Without a job
 * map every type name goes and payloads are `unknown`. The engine and the wire keep their own `Job`
 * (src/job/types.ts); these are views of it, so a map is a claim about what is stored, not a check.
 */
import type { EnqueueInput as StoredEnqueueInput, Job as StoredJob } from "../job/types.js";

/** The job map used without one: any type name, any payload. */
export type AnyJobs = Record<string, unknown>;

/** The job type names of a job map. */
export type JobType<Jobs> = Extract<keyof Jobs, string>;

/** The payload of job type `K`. (The one place to change when a map entry also names a result type.) */
export type PayloadOf<Jobs, K extends JobType<Jobs>> = Jobs[K];

/** A job of type `K` (by default, of any type of the map: a union narrowed by `job.type`). */
export type Job<Jobs = AnyJobs, K extends JobType<Jobs> = JobType<Jobs>> = K extends unknown
  ? Omit<StoredJob, "type" | "payload"> & { type: K; payload: PayloadOf<Jobs, K> }
  : never;

/** What a caller may send to enqueue a job: the payload must match its type's. */
export type EnqueueInput<Jobs = AnyJobs, K extends JobType<Jobs> = JobType<Jobs>> = K extends unknown
  ? Omit<StoredEnqueueInput, "type" | "payload"> & { type: K; payload: PayloadOf<Jobs, K> }
  : never;

