/**
 * What a store several processes share offers besides persistence: telling each other what changed
 * (compare Oban's Notifier) and choosing one of them to lead (Oban's Peer). A store of one process
 * (SQLite) has neither; the engine then coordinates alone (src/engine/coordination/).
 */
import type { EndedLease } from "./store.js";

export interface Notifier {
  /**
   * Calls `listener` when jobs may have become ready through another process (the store notifies
   * on every write that leaves a job ready). Returns a function that stops listening.
   */
  onReady(listener: () => void): () => void;
  /** Tells the other processes that these leases ended here, so the one that made them frees their slots at once. */
  announceLeasesEnded(leases: readonly EndedLease[]): Promise<void>;
  /**
   * Calls `listener` with the leases other processes announce as ended, and with undefined when
   * announcements may have been missed (listening (re)started). Returns a function that stops listening.
   */
  onLeasesEnded(listener: (leases: EndedLease[] | undefined) => void): () => void;
  /**
   * Calls `listener` when a queue's settings changed through any process, and when changes may have
   * been missed (listening (re)started). Returns a function that stops listening.
   */
  onQueueSettingsChanged(listener: () => void): () => void;
  /** Sends each message (JSON text of at most 7000 characters) to every process listening for events, this one included. */
  announceEvents(messages: readonly string[]): Promise<void>;
  /** Calls `listener` with each events message, and with undefined when some may have been missed (listening (re)started). */
  onEvents(listener: (message: string | undefined) => void): () => void;
}

export interface Peer {
  /** Becomes or stays the one leader among the processes sharing the store; true while leading. */
  lead(): Promise<boolean>;
}

/** Who works on each of the processes sharing the store (GET /workers), as each publishes it. */
export interface WorkerDirectory {
  /** Replaces what `server` published (JSON text) with `workers`, as of `now`. */
  publishWorkers(server: string, workers: string, now: number): Promise<void>;
  /** What every process published at or after `since`, by server. */
  publishedWorkers(since: number): Promise<Array<{ server: string; workers: string }>>;
  /** Drops what `server` published (it stops). */
  withdrawWorkers(server: string): Promise<void>;
}

/** All three, as a shared store offers them. */
export type Sharing = Notifier & Peer & WorkerDirectory;
