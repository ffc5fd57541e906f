/** Cron groups as they are stored and as they travel on the wire (Zizq field names). */
import type { EnqueueInput } from "../job/types.js";

/** What each tick of an entry enqueues: an enqueue without `ready_at` (a tick's job is ready at its tick) or `batch`. */
export type CronJobTemplate = Omit<EnqueueInput, "ready_at" | "batch">;

/** What a client defines of an entry; the rest of CronEntry is schedule state the server keeps. */
export interface CronEntryDefinition {
  name: string;
  /** 5 fields, or 6 with seconds first. */
  expression: string;
  /** IANA time zone the expression is read in; the server's own when absent. */
  timezone?: string;
  /** Absent on a definition: an existing entry keeps its paused state, a new one runs. */
  paused?: boolean;
  /** Missed ticks older than this when they are found are skipped rather than enqueued (Wharf's addition). */
  grace_ms?: number;
  job: CronJobTemplate;
}

export interface CronEntry extends CronEntryDefinition {
  paused: boolean;
  paused_at?: number;
  resumed_at?: number;
  /** The next tick; absent only for an expression with no tick left. */
  next_enqueue_at?: number;
  last_enqueue_at?: number;
}

export interface CronGroupDefinition {
  /** Absent: an existing group keeps its paused state, a new one runs. */
  paused?: boolean;
  entries: CronEntryDefinition[];
}

export interface CronGroup {
  name: string;
  paused: boolean;
  paused_at?: number;
  resumed_at?: number;
  entries: CronEntry[];
}
