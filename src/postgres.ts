/**
 * The `wharf-queue/postgres` entry point: what needs pg's types, kept out of the main entry so that
 * users who never touch PostgreSQL need no `@types/pg` (`open({ store: "postgres://..." })` is in the main one).
 */
import type pg from "pg";
import { newJobId } from "./job/ids.js";
import { createJob } from "./job/state.js";
import type { AnyJobs, EnqueueInput } from "./client/jobs.js";
import type { EnqueuedJob } from "./job/types.js";
import { BadRequestError } from "./errors.js";
import { parseEnqueueInput } from "./job/validate.js";
import { enqueuedView } from "./job/views.js";
import { insertJobsWithin } from "./store/postgres/transactional.js";

/**
 * Enqueues jobs inside the caller's own PostgreSQL transaction: `client` is a
 * pg client on which the caller has run BEGIN. The jobs exist if and only if
 * the caller commits, and servers are woken when it does. Input is validated
 * exactly as the HTTP API validates it (BadRequestError on bad input). Batched jobs fold under the
 * server's lock on their key, which a caller's transaction does not take: `batch` is refused here.
 *
 *   await db.query("BEGIN");
 *   await db.query("INSERT INTO orders ...");
 *   await enqueueWithin(db, [{ queue: "emails", type: "receipt", payload: { order: 42 } }]);
 *   await db.query("COMMIT");
 */
export async function enqueueWithin<Jobs extends object = AnyJobs>(client: pg.ClientBase, inputs: Array<EnqueueInput<Jobs>>): Promise<EnqueuedJob[]> {
  const now = Date.now();
  const jobs = inputs.map((input, index) => {
    const parsed = parseEnqueueInput(input, `jobs[${index}]`);
    if (parsed.batch) throw new BadRequestError(`jobs[${index}].batch cannot be enqueued inside a caller's transaction; enqueue it through the server`);
    return createJob(newJobId(), parsed, now);
  });
  return (await insertJobsWithin(client, jobs)).map(enqueuedView);
}
