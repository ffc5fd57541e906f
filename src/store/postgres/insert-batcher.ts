/**
 * Group commit for PostgreSQL inserts: the inserts that arrive in one event-loop turn go to the
 * database as one statement (and one notification), instead of one round trip and one commit
 * each. Many single-job enqueues at once are the common case; each would otherwise take a pool
 * connection, and every commit that notifies takes PostgreSQL's notification lock in turn.
 */
import type { Job } from "../../job/types.js";

/** Rows per merged statement, at most; a larger turn's worth goes out as several statements at once. */
const MAX_ROWS_PER_STATEMENT = 5000;

interface PendingInsert {
  jobs: Job[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class InsertBatcher {
  private pending: PendingInsert[] = [];
  private scheduled = false;

  /** `insert` writes jobs atomically in one statement. */
  constructor(private readonly insert: (jobs: Job[]) => Promise<void>) {}

  /** Resolves once `jobs` are committed, all of them or none. */
  add(jobs: Job[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    this.scheduled = false;
    for (const group of groups(pending)) void this.write(group);
  }

  /**
   * One statement for the group. If it fails, each call is tried by itself, so that one call's bad
   * row (or an id inserted twice) fails that call only, as if the calls had never been merged.
   */
  private async write(group: PendingInsert[]): Promise<void> {
    try {
      await this.insert(group.flatMap(({ jobs }) => jobs));
      for (const call of group) call.resolve();
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
      await Promise.all(group.map((call) => this.insert(call.jobs).then(call.resolve, call.reject)));
    }
  }
}

/** Consecutive calls, up to MAX_ROWS_PER_STATEMENT rows a group; a call is never split. */
function groups(pending: PendingInsert[]): PendingInsert[][] {
  const result: PendingInsert[][] = [];
  let rows = 0;
  for (const call of pending) {
    if (result.length === 0 || rows + call.jobs.length > MAX_ROWS_PER_STATEMENT) {
      result.push([]);
      rows = 0;
    }
    result.at(-1)!.push(call);
    rows += call.jobs.length;
  }
  return result;
}
