/**
 * The WAL sync behind fsync durability on SQLite: a write is acknowledged only after a sync that
 * started once it had committed, commits that land during a sync share the next one, and a sync that
 * fails reaches every write waiting on it.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { WalSync } from "../../src/store/sqlite/wal-sync.js";
import { tempDir } from "../helpers/server.js";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Where a WAL file would be, in a directory of its own. */
function walPath(): string {
  const dir = tempDir("wharf-wal-sync-");
  dirs.push(dir);
  return join(dir, "jobs.db-wal");
}

function walFile(): string {
  const path = walPath();
  writeFileSync(path, "frames");
  return path;
}

/** Registers a commit; resolves with the order in which it was acknowledged. */
function acknowledged(sync: WalSync, order: string[], name: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => sync.afterCommit((error) => {
    order.push(name);
    resolve(error);
  }));
}

describe("WAL sync (fsync durability on SQLite)", () => {
  it("acknowledges a commit made during a sync only after the next sync, and those that waited together at once", async () => {
    const sync = new WalSync(walFile());
    const order: string[] = [];
    const first = acknowledged(sync, order, "first");
    // The first sync is under way: these two committed after it started, so it does not cover them.
    const second = acknowledged(sync, order, "second");
    const third = acknowledged(sync, order, "third");
    assert.deepEqual(order, [], "nothing is acknowledged before its sync finishes");
    assert.equal(await first, null);
    assert.deepEqual(order, ["first"], "the later commits wait for a sync of their own");
    assert.equal(await second, null);
    assert.deepEqual(order, ["first", "second", "third"], "commits waiting on the same sync are acknowledged together");
    assert.equal(await third, null);
    await sync.close();
  });

  it("hands a failed sync's error to every commit waiting on it, and syncs again for the next", async () => {
    const path = walPath();
    const sync = new WalSync(path);
    const order: string[] = [];
    const failed = await acknowledged(sync, order, "before the file exists");
    assert.equal(failed?.code, "ENOENT");
    writeFileSync(path, "frames");
    assert.equal(await acknowledged(sync, order, "after"), null);
    await sync.close();
  });

  it("waits at close for the sync under way", async () => {
    const sync = new WalSync(walFile());
    const order: string[] = [];
    const pending = acknowledged(sync, order, "commit");
    await sync.close();
    assert.deepEqual(order, ["commit"], "close returned before the sync it had to wait for");
    assert.equal(await pending, null);
  });
});
