/**
 * Coalesces the single enqueues a program makes in one event-loop turn into one bulk request. Fifty
 * callers each awaiting `enqueue()` cost the server fifty requests (each parsed, committed and
 * answered on its own); sent as one `POST /jobs/bulk` they cost one, and each caller still gets its
 * own job back once the bulk has committed. A call made alone is sent as a plain `POST /jobs`.
 */
import { WharfError } from "../errors.js";
import { chunks } from "../slices.js";
import { TurnBatcher } from "../turn-batcher.js";

/** Jobs per bulk request, at most; more calls in one turn become several bulks. */
const MAX_BATCH = 1000;

/** Answers that mean a bulk, which is all or nothing, enqueued nothing because of what was sent. */
const REFUSED = new Set([400, 413, 422]);

export function enqueueBatcher<I, O>(alone: (job: I) => Promise<O>, bulk: (jobs: I[]) => Promise<O[]>): TurnBatcher<I, O> {
  return new TurnBatcher<I, O>({
    merged: bulk,
    alone,
    groups: (jobs) => chunks(jobs, MAX_BATCH),
    retryAlone: (error) => error instanceof WharfError && REFUSED.has(error.status),
  });
}
