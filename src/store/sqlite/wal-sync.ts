/**
 * Durable commits without blocking the event loop. With `synchronous = FULL` SQLite syncs the WAL
 * inside every COMMIT, so the one thread that also parses requests and encodes answers stops for
 * the disk (about a millisecond) at every group commit. Instead the connections run with
 * `synchronous = NORMAL`, which appends a commit to the WAL without syncing it (still atomic and
 * consistent), and this syncs the WAL file on libuv's thread pool: a write is acknowledged only once
 * a sync that started after its COMMIT has finished, so what was acknowledged survives power loss
 * as with FULL. Commits that land while a sync runs share the next one (group commit on the disk).
 */
import { closeSync, fdatasync, openSync } from "node:fs";

type Waiter = (error: NodeJS.ErrnoException | null) => void;

export class WalSync {
  private fd: number | undefined;
  /** Waiting for the sync after the one under way. */
  private waiting: Waiter[] = [];
  private syncing = false;
  private idle: (() => void) | undefined;

  constructor(private readonly walPath: string) {}

  /** Calls `done` once everything committed before this call is on disk (or with the sync's error). */
  afterCommit(done: Waiter): void {
    this.waiting.push(done);
    if (!this.syncing) this.sync();
  }

  private sync(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.syncing = true;
    let fd: number;
    try {
      // Opened on first use: SQLite creates the WAL file with the first write in WAL mode.
      fd = this.fd ??= openSync(this.walPath, "r");
    } catch (error) {
      this.settle(batch, error as NodeJS.ErrnoException);
      return;
    }
    fdatasync(fd, (error) => this.settle(batch, error));
  }

  private settle(batch: Waiter[], error: NodeJS.ErrnoException | null): void {
    this.syncing = false;
    for (const done of batch) done(error);
    if (this.waiting.length > 0) this.sync();
    else this.idle?.();
  }

  /** Waits for the syncs under way, then lets the file go. */
  async close(): Promise<void> {
    if (this.syncing) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
