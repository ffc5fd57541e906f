/** Enqueueing inside a caller's own PostgreSQL transaction: the jobs exist if and only if the caller commits. */
import type pg from "pg";
import type { Job } from "../../job/types.js";
import type { InsertOutcome } from "../store.js";
import { insertJobsWith } from "./insert.js";
import { runOn } from "./run.js";

/**
 * Inserts `jobs` exactly as PostgresStore.insertJobs does (same statements, unique keys held by
 * the caller's uncommitted rows, so a racing insert of one of them waits for the caller's
 * transaction to end, and a notification to the servers' listeners that is delivered when it commits) on `client`, which must be inside a transaction: BEGIN has run and
 * completed. Database errors reach the caller as they are; the caller's transaction is then
 * aborted and must be rolled back.
 */
export async function insertJobsWithin(client: pg.ClientBase, jobs: Job[]): Promise<InsertOutcome[]> {
  if (jobs.length === 0) return [];
  // Outside a transaction each statement would commit by itself: a batch could be half inserted,
  // and the jobs would not depend on the caller's commit.
  if (typeof client.getTransactionStatus === "function" && client.getTransactionStatus() === "I") {
    throw new Error("insertJobsWithin needs a client inside a transaction: run BEGIN on it first");
  }
  return insertJobsWith(runOn(client), jobs);
}
