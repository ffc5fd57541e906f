/**
 * The SQLite WAL stays bounded under steady writes: passive checkpoints alone never let SQLite start
 * the file over while commits keep landing, so past its limit the store empties it between
 * transactions, losing nothing.
 */
import assert from "node:assert/strict";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { newJobId } from "../../src/job/ids.js";
import { createJob } from "../../src/job/state.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../helpers/server.js";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const LIMIT_BYTES = 1024 * 1024;
const BATCHES = 600;
const JOBS_PER_BATCH = 20;
const IN_FLIGHT = 4;

function walBytes(path: string): number {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

test("under writes that never pause, the WAL file stays near its limit and every write is kept", async () => {
  const dir = tempDir("wharf-wal-limit-");
  dirs.push(dir);
  const path = join(dir, "jobs.db");
  const store = new SqliteStore({ path, durability: "fsync", walLimitBytes: LIMIT_BYTES });
  const payload = { body: "x".repeat(100) };
  const writing = new Set<Promise<unknown>>();
  let largest = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    const jobs = Array.from({ length: JOBS_PER_BATCH }, () => createJob(newJobId(), { queue: "steady", type: "t", payload }, Date.now()));
    const write = store.insertJobs(jobs);
    writing.add(write);
    void write.finally(() => writing.delete(write));
    if (writing.size >= IN_FLIGHT) await Promise.race(writing);
    largest = Math.max(largest, walBytes(path));
  }
  await Promise.all(writing);
  // About 13 MiB of frames go through the WAL; what one group commit adds can land on top of the limit.
  assert.ok(largest < 2 * LIMIT_BYTES, `the WAL reached ${largest} bytes against a limit of ${LIMIT_BYTES}`);
  assert.equal(await store.countJobs({ queues: ["steady"] }), BATCHES * JOBS_PER_BATCH);
  await store.close();
  const reopened = new SqliteStore({ path });
  assert.equal(await reopened.countJobs({ queues: ["steady"] }), BATCHES * JOBS_PER_BATCH, "and all of it is in the file");
  await reopened.close();
});
