/**
 * The `wharf-queue/postgres` entry point: what needs pg's types, kept out of the main entry so that
 * users who never touch PostgreSQL need no `@types/pg` (`open({ store: "postgres://..." })` is in the main one).
 */
import type pg from "pg";
import { DEFAULT_RETENTION } from "./job/state.js";
import { capsFor, dependencyRules, newJobs, queueCaps } from "./engine/new-jobs.js";
import { DEFAULT_FILTER_BUDGET } from "./engine/payload-filter.js";
import type { AnyJobs, EnqueueInput } from "./client/jobs.js";
import type { EnqueuedJob } from "./job/types.js";
import { BadRequestError } from "./errors.js";
import { parseEnqueueInput } from "./job/validate.js";
import { enqueuedView } from "./job/views.js";
import { insertJobsWithin, queueSettingsWithin, requireTransaction } from "./store/postgres/transactional.js";

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
  const parsed = inputs.map((input, index) => {
    const job = parseEnqueueInput(input, `jobs[${index}]`);
    if (job.batch) throw new BadRequestError(`jobs[${index}].batch cannot be enqueued inside a caller's transaction; enqueue it through the server`);
    return job;
  });
  if (parsed.length === 0) return [];
  requireTransaction(client);
  const settings = await queueSettingsWithin(client, [...new Set(parsed.map(({ queue }) => queue))]);
  const now = Date.now();
  const jobs = await newJobs(parsed, now, { empty: settings.size === 0, get: (queue) => settings.get(queue) }, DEFAULT_FILTER_BUDGET);
  const caps = capsFor(jobs, queueCaps(settings), Date.now, DEFAULT_RETENTION);
  return (await insertJobsWithin(client, jobs, { caps, rules: dependencyRules(Date.now, DEFAULT_RETENTION) })).map(enqueuedView);
}
