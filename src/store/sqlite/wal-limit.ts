/**
 * Keeps the WAL file from growing without bound. The Checkpointer's passive checkpoints copy frames
 * back into the database without blocking anyone, but SQLite starts the WAL over only once every
 * frame is copied, and under steady writes new frames land while each checkpoint runs: the file
 * grew by 1 KB per job for as long as the load lasted (64 MiB for 60,000 inserts). Past `limitBytes`,
 * the writing connection itself runs a TRUNCATE checkpoint between transactions: it copies what the
 * passive ones have not (a few hundred ms of writes at most) and empties the file. It never waits:
 * with a checkpoint or a bulk transaction under way elsewhere it gives up and tries again later.
 */
import { statSync } from "node:fs";
import type Database from "better-sqlite3";

/** A WAL past this size is emptied (see WalLimit). */
export const DEFAULT_WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** How long after an attempt that could not empty the file the next one waits, in ms. */
const RETRY_MS = 100;

export class WalLimit {
  private nextCheckAt = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly walPath: string,
    private readonly limitBytes: number,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Called between transactions on the writing connection. */
  check(): void {
    const now = Date.now();
    if (now < this.nextCheckAt || this.walBytes() <= this.limitBytes) return;
    this.db.pragma("busy_timeout = 0");
    try {
      const [result] = this.db.pragma("wal_checkpoint(TRUNCATE)") as Array<{ busy: number }>;
      if (result?.busy !== 0) this.nextCheckAt = now + RETRY_MS;
    } catch {
      // A checkpoint that fails leaves the file as it was: the writes it follows are committed either way.
      this.nextCheckAt = now + RETRY_MS;
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  private walBytes(): number {
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }
}
