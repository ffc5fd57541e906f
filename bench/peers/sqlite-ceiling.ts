/**
 * The raw SQLite write ceiling on the disk the bench uses, for the in-process engine to be compared with:
 * better-sqlite3 with Wharf's durable settings (WAL, synchronous FULL), one table of id and payload,
 * the same payloads, no engine. Two figures: a commit per row, and rows in transactions of a bulk's size.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { benchPayload } from "./workloads.js";

export interface SqliteCeiling {
  /** Rows per second when every row is its own transaction (a commit, an fsync, each). */
  singleRowCommitsPerSecond: number;
  /** Rows per second inserted in transactions of `batchSize` rows. */
  batchedRowsPerSecond: number;
  batchSize: number;
}

const MAX_SECONDS = 60;

function rowsPerSecond(rows: number, started: bigint): number {
  return rows / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Inserts `rows` rows (stopping early after MAX_SECONDS) in transactions of `perTransaction` rows; answers rows/s. */
function insertRate(path: string, rows: number, perTransaction: number): number {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO jobs (payload) VALUES (?)");
    const insertMany = db.transaction((from: number, count: number) => {
      for (let row = from; row < from + count; row++) insert.run(JSON.stringify(benchPayload(row)));
    });
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(MAX_SECONDS * 1e9);
    let written = 0;
    while (written < rows && process.hrtime.bigint() < deadline) {
      const count = Math.min(perTransaction, rows - written);
      insertMany(written, count);
      written += count;
    }
    return rowsPerSecond(written, started);
  } finally {
    db.close();
  }
}

export function measureSqliteCeiling(dir: string, singleRows: number, batchedRows: number, batchSize: number): SqliteCeiling {
  return {
    singleRowCommitsPerSecond: insertRate(join(dir, "ceiling-single.db"), singleRows, 1),
    batchedRowsPerSecond: insertRate(join(dir, "ceiling-batched.db"), batchedRows, batchSize),
    batchSize,
  };
}
