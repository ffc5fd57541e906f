import type { Job, JobError } from "../job/types.js";
import { errorMessage, type Logger } from "../log.js";
import type { EngineObserver } from "./observer.js";

/** Background work (dispatch, promotion, maintenance) has no caller to throw to: it logs its failures. */
export function logFailure(logger: Logger, what: string, error: unknown): void {
  logger.error({ error: errorMessage(error) }, `${what} failed`);
}

function jobFields(job: Job): Record<string, unknown> {
  return { job: job.id, queue: job.queue, type: job.type, attempt: job.attempts };
}

/** Where a failed attempt left the job: when it runs again, unless it is dead. */
function outcome(job: Job): Record<string, unknown> {
  return job.status === "dead" ? { status: job.status } : { status: job.status, retry_at: new Date(job.ready_at).toISOString() };
}

/** The job lifecycle at info: failed attempts, dead jobs, expired leases, and on a shared store rescued leases and leadership. */
export function lifecycleLog(logger: Logger): EngineObserver {
  return {
    failed: (job: Job, error: JobError) => logger.info({ ...jobFields(job), error: error.message, ...outcome(job) }, "job failed"),
    died: (job: Job) => logger.info(jobFields(job), "job dead"),
    leaseExpired: (job: Job) => logger.info({ ...jobFields(job), ...outcome(job) }, "lease expired"),
    rescued: (jobs: Job[]) => logger.info({ count: jobs.length, queues: [...new Set(jobs.map((job) => job.queue))].sort() }, "leases rescued"),
    leadershipChanged: (leading: boolean) => logger.info({}, leading ? "became leader" : "lost leadership"),
  };
}
