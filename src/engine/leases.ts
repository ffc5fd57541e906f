import type { Job } from "../job/types.js";
import { NotFoundError } from "../errors.js";

/** In flight, and (when a run id is asked for) in that run: the check every ack, failure, heartbeat and sync makes. */
export function inRun(job: Job, runId: string | undefined): boolean {
  return job.status === "in_flight" && (runId === undefined || job.run_id === runId);
}

export function notInFlight(id: string, runId: string | undefined): NotFoundError {
  return new NotFoundError(`job ${id} is not in flight${runId === undefined ? "" : ` in run ${runId}`}`);
}
