/**
 * Group commit for PostgreSQL inserts: the inserts that arrive in one event-loop turn go to the
 * database as one statement (and one notification), instead of one round trip and one commit
 * each. Many single-job enqueues at once are the common case; each would otherwise take a pool
 * connection, and every commit that notifies takes PostgreSQL's notification lock in turn.
 */
import type { Job } from "../../job/types.js";
import { TurnBatcher } from "../../turn-batcher.js";

/** Rows per merged statement, at most; a larger turn's worth goes out as several statements at once. */
const MAX_ROWS_PER_STATEMENT = 5000;

/**
 * `insert` writes jobs atomically in one statement. `add` resolves once a call's jobs are committed,
 * all of them or none; when a merged statement fails, each call is tried by itself, so one call's bad
 * row (or an id inserted twice) fails that call only.
 */
export function insertBatcher(insert: (jobs: Job[]) => Promise<void>): TurnBatcher<Job[], void> {
  return new TurnBatcher<Job[], void>({
    merged: async (calls) => {
      await insert(calls.flat());
      return calls.map(() => undefined);
    },
    alone: insert,
    groups,
    retryAlone: () => true,
  });
}

/** Consecutive calls, up to MAX_ROWS_PER_STATEMENT rows a group; a call is never split. */
function groups(calls: Job[][]): Job[][][] {
  const result: Job[][][] = [];
  let rows = 0;
  for (const jobs of calls) {
    if (result.length === 0 || rows + jobs.length > MAX_ROWS_PER_STATEMENT) {
      result.push([]);
      rows = 0;
    }
    result.at(-1)!.push(jobs);
    rows += jobs.length;
  }
  return result;
}
