/**
 * One process per SQLite store file. The engine keeps a SQLite store's ready index in memory and, at
 * start, gives every in-flight job back: a second process on the same file would hand the first
 * one's jobs out again. So a store takes its file first, and a second taker is refused.
 *
 * The lock is SQLite's own (POSIX advisory locks, released by the kernel when the holder's process
 * ends, even by SIGKILL: there is no stale lock to clean up), taken on a sidecar database
 * `<file>-lock`, not on the store itself, so readers such as `sqlite3 wharf.db ".backup ..."` are
 * never in its way. The holder keeps a write transaction open on the sidecar for as long as it runs;
 * that transaction writes nothing, so a crash leaves no journal behind. Readers may still read the
 * sidecar, which is where the holder recorded its pid, host and start time for the refusal's message.
 */
import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { createPrivateFile } from "./private-files.js";
import { StoreInUseError, type StoreHolder } from "../../errors.js";

/** How long a statement on the sidecar waits for another process's brief lock (its record being written). */
const WAIT_MS = 2000;
/** A taker that finds the lock held looks again a few times: one starting at the same moment may be about to let go. */
const BUSY_RETRIES = 4;
const BUSY_RETRY_MS = 50;
/** Rounds of record-then-take lost to a racing taker before giving up (each loss means someone else got in). */
const TAKE_ROUNDS = 5;

const SCHEMA = `CREATE TABLE IF NOT EXISTS holder (
  id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, since INTEGER NOT NULL, token TEXT NOT NULL)`;

interface HolderRow extends StoreHolder {
  token: string;
}

/** The sidecar of a store file: next to the file the name leads to, so every name of one file shares one lock. */
export function lockPathOf(storePath: string): string {
  const real = existsSync(storePath) ? realpathSync(storePath) : join(realpathSync(dirname(storePath)), basename(storePath));
  return `${real}-lock`;
}

export class StoreFileLock {
  private released = false;

  private constructor(private readonly db: Database.Database) {}

  /**
   * Takes the store file at `storePath` (whose directory exists) for this process, or throws
   * StoreInUseError naming the holder.
   */
  static acquire(storePath: string): StoreFileLock {
    const lockPath = lockPathOf(storePath);
    createPrivateFile(lockPath);
    const db = new Database(lockPath, { timeout: WAIT_MS });
    try {
      db.exec(SCHEMA);
      const me: HolderRow = { pid: process.pid, host: hostname(), since: Date.now(), token: randomBytes(8).toString("hex") };
      const record = db.prepare("INSERT OR REPLACE INTO holder (id, pid, host, since, token) VALUES (1, @pid, @host, @since, @token)");
      for (let round = 0; round < TAKE_ROUNDS; round++) {
        if (!tryHold(db)) throw new StoreInUseError(storePath, publicPart(readHolder(db)));
        // Record who we are where others can read it, then hold again. Whoever holds at the end was the
        // last to record (recording needs the hold), so a taker that finds itself recorded holds.
        record.run(me);
        db.exec("COMMIT");
        if (!tryHold(db)) continue;
        if (readHolder(db)?.token === me.token) return new StoreFileLock(db);
        db.exec("ROLLBACK");
      }
      throw new StoreInUseError(storePath, publicPart(readHolder(db)));
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      db.close();
      throw error;
    }
  }

  /** Lets go of the file (closing the sidecar ends the transaction that holds it). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.db.close();
  }
}

/** Opens the holding transaction without waiting; false when another process (or store) holds it. */
function tryHold(db: Database.Database): boolean {
  db.pragma("busy_timeout = 0");
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        db.exec("BEGIN IMMEDIATE");
        return true;
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
        if (attempt >= BUSY_RETRIES) return false;
        sleepSync(BUSY_RETRY_MS);
      }
    }
  } finally {
    db.pragma(`busy_timeout = ${WAIT_MS}`);
  }
}

function readHolder(db: Database.Database): HolderRow | undefined {
  try {
    return db.prepare("SELECT pid, host, since, token FROM holder WHERE id = 1").get() as HolderRow | undefined;
  } catch {
    return undefined;
  }
}

function publicPart(row: HolderRow | undefined): StoreHolder | undefined {
  return row && { pid: row.pid, host: row.host, since: row.since };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
