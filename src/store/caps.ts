/**
 * Queue caps (max_entries) as every store applies them inside an insert's transaction (store.ts
 * QueueCaps): after the insert, each capped queue it added to is checked by one read, of the waiting
 * jobs it brought no room for. The rules are here; each store runs that read with its own statement.
 */
import { QueueFullError, UnprocessableError } from "../errors.js";
import type { Job } from "../job/types.js";
import type { SettledChange } from "./dependencies.js";
import { changedColumns } from "./rows.js";
import type { InsertOutcome, JobUpdate, QueueCap, QueueCaps } from "./store.js";

/** The capped queues of `jobs`, sorted: a shared store locks them in this order, so two inserts cannot deadlock. */
export function cappedQueues(jobs: readonly Job[], caps: QueueCaps): string[] {
  return [...new Set(jobs.map((job) => job.queue).filter((queue) => caps.byQueue.has(queue)))].sort();
}

/**
 * A capped queue an insert added to. The waiting jobs it did not bring, newest first, past the first
 * `room` of them, are what the queue cannot hold: at most `limit` of them are read (null: all).
 */
export interface RoomCheck {
  queue: string;
  cap: QueueCap;
  /** The ids the insert added to the queue. */
  added: string[];
  room: number;
  limit: number | null;
}

/**
 * The checks an insert's outcomes need, one per capped queue it added jobs to (duplicates add none). A
 * queue "reject" refuses needs only to know whether one job is past its room. An insert that alone
 * brings more than a cap can never go in: 422, whatever the queue holds.
 */
export function roomChecks(inserted: readonly InsertOutcome[], caps: QueueCaps): RoomCheck[] {
  const added = new Map<string, string[]>();
  for (const { job, duplicate } of inserted) {
    if (duplicate || !caps.byQueue.has(job.queue)) continue;
    const ids = added.get(job.queue);
    if (ids) ids.push(job.id);
    else added.set(job.queue, [job.id]);
  }
  return [...added].map(([queue, ids]) => {
    const cap = caps.byQueue.get(queue)!;
    if (ids.length > cap.max) throw new UnprocessableError(`the request brings ${ids.length} jobs to queue ${queue}, more than its max_entries ${cap.max}`);
    return { queue, cap, added: ids, room: cap.max - ids.length, limit: cap.onFull === "reject" ? 1 : null };
  });
}

/** What a check found past the queue's room, as the state machine discards it; a queue that refuses throws instead. */
export function discardsFor(check: RoomCheck, beyond: readonly Job[], caps: QueueCaps): SettledChange[] {
  if (beyond.length === 0) return [];
  if (check.cap.onFull === "reject") throw new QueueFullError(check.queue, check.cap.max);
  return beyond.map((before) => {
    const { job: after, error } = caps.discarded(before, check.cap.max);
    return { before, after, error };
  });
}

/** Discards as the store's updates, each fenced on the status its job was read with. */
export function discardUpdates(discards: readonly SettledChange[]): JobUpdate[] {
  return discards.map(({ before, after, error }) => ({ job: after!, from: before.status, columns: changedColumns(before, after!), ...(error ? { error } : {}) }));
}
