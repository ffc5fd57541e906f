/** Enqueueing inside a caller's own PostgreSQL transaction: the jobs exist if and only if the caller commits. */
import type pg from "pg";
import type { Job } from "../../job/types.js";
import type { DependencyRules } from "../dependencies.js";
import { rowToQueueSettings, type QueueSettingsRow } from "../rows.js";
import type { InsertOutcome, QueueCaps, QueueSettings } from "../store.js";
import { insertCappedWith } from "./postgres-store.js";
import { runOn } from "./run.js";
import { SQL } from "./sql.js";

/** Outside a transaction each statement would commit by itself: a batch could be half inserted, and the jobs would not depend on the caller's commit. */
export function requireTransaction(client: pg.ClientBase): void {
  if (typeof client.getTransactionStatus === "function" && client.getTransactionStatus() === "I") {
    throw new Error("enqueueing inside a transaction needs a client inside one: run BEGIN on it first");
  }
}

/** The settings of `queues` that have any, read in the caller's transaction. */
export async function queueSettingsWithin(client: pg.ClientBase, queues: readonly string[]): Promise<Map<string, QueueSettings>> {
  const rows = await runOn(client)<QueueSettingsRow>(SQL.queueSettingsOfAny, [queues]);
  return new Map(rows.map(rowToQueueSettings).map(({ queue, settings }) => [queue, settings]));
}

/**
 * Inserts `jobs` exactly as PostgresStore.insertCapped does (same statements, unique keys held by
 * the caller's uncommitted rows, so a racing insert of one of them waits for the caller's
 * transaction to end, dependency edges, the queues' caps under their locks, and a notification to
 * the servers' listeners that is delivered when it commits) on `client`, which must be inside a
 * transaction: BEGIN has run and completed. All or nothing within it, under a savepoint: when the
 * insert fails (a database error, a full queue, a missing dependency), nothing of it is left in the
 * caller's transaction, which stays usable, and the error reaches the caller as it is.
 */
export async function insertJobsWithin(client: pg.ClientBase, jobs: Job[], options: { caps?: QueueCaps; rules?: DependencyRules } = {}): Promise<InsertOutcome[]> {
  if (jobs.length === 0) return [];
  requireTransaction(client);
  await client.query(`SAVEPOINT ${SAVEPOINT}`);
  try {
    const { inserted } = await insertCappedWith(runOn(client), jobs, options.caps, options.rules);
    await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    return inserted;
  } catch (error) {
    // The insert's error is the one to report; a failed rollback leaves the transaction aborted, as the caller would see on its next statement.
    await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`).catch(() => undefined);
    throw error;
  }
}

const SAVEPOINT = "wharf_enqueue";
