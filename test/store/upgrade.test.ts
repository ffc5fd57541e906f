/**
 * Upgrading a database an earlier Wharf version wrote: each store's migrations bring old rows
 * under the current schema's rules. The old schema is built from the migration files themselves.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { newJobId } from "../../src/job/ids.js";
import { readMigrations } from "../../src/store/migrations.js";
import { openStore } from "../../src/store/open.js";
import { createDatabase } from "../helpers/postgres.js";
import { uniqueName } from "../helpers/server.js";
import { postgresClusterUrl } from "./stores.js";

/** Versions 1 and 2: before unique keys were a constraint. */
const OLD_VERSION = 2;
const MIGRATIONS_TABLE = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)";

function oldMigrations(store: "sqlite" | "postgres", upTo = OLD_VERSION): string[] {
  const dir = fileURLToPath(new URL(`../../src/store/${store}/migrations/`, import.meta.url));
  return readMigrations(dir).filter(({ version }) => version <= upTo).map(({ sql }) => sql);
}

/** Two ready jobs holding one key: what the old code let a retried job and a newer one with its key become. */
function twoHoldersOfOneKey(queue: string, key: string): { older: string; newer: string; rows: string } {
  const [older, newer] = [newJobId(), newJobId()];
  const row = (id: string): string => `('${id}', '${queue}', 't', 5, 'ready', '{}', 0, 0, '${key}', 'queued')`;
  return { older, newer, rows: `INSERT INTO jobs (id, queue, type, priority, status, payload, ready_at, attempts, unique_key, unique_while)
    VALUES ${row(older)}, ${row(newer)}` };
}

const OLD_DATABASES: Record<"sqlite" | "postgres", (setUp: string[]) => Promise<string>> = {
  async sqlite(setUp) {
    const dir = mkdtempSync(join(tmpdir(), "wharf-upgrade-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "old.db");
    const db = new Database(path);
    for (const sql of setUp) db.exec(sql);
    db.close();
    return `sqlite:${path}`;
  },
  async postgres(setUp) {
    const url = await createDatabase(await postgresClusterUrl());
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const sql of setUp) await client.query(sql);
    } finally {
      await client.end();
    }
    return url;
  },
};

for (const kind of ["sqlite", "postgres"] as const) {
  describe(`upgrading a ${kind} database`, () => {
    test("two jobs an earlier version let hold one unique key: the older keeps it, the newer stays, without it", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const { older, newer, rows } = twoHoldersOfOneKey(queue, key);
      const versions = Array.from({ length: OLD_VERSION }, (_, index) => `INSERT INTO schema_migrations VALUES (${index + 1}, 0)`);
      const location = await OLD_DATABASES[kind]([...oldMigrations(kind), MIGRATIONS_TABLE, ...versions, rows]);
      const { store } = await openStore({ store: location });
      try {
        assert.deepEqual((await store.listJobs({ queues: [queue] }, { order: "asc", limit: 10 })).map((job) => job.id), [older, newer]);
        const [outcome] = await store.insertJobs([{ id: newJobId(), queue, type: "t", priority: 5, status: "ready", payload: {}, ready_at: 0, attempts: 0, unique_key: key, unique_while: "queued" }]);
        assert.equal(outcome!.duplicate, true);
        assert.equal(outcome!.job.id, older);
      } finally {
        await store.close();
      }
    });
  });
}

describe("upgrading a postgres database whose payloads were JSONB", () => {
  /** Version 4: the last with payload as JSONB. */
  const JSONB_VERSION = 4;

  test("old payloads read back as they were stored; new ones keep their key order and every digit", async () => {
    const queue = uniqueName();
    const old = newJobId();
    const versions = Array.from({ length: JSONB_VERSION }, (_, index) => `INSERT INTO schema_migrations VALUES (${index + 1}, 0)`);
    const row = `INSERT INTO jobs (id, queue, type, priority, status, payload, ready_at, attempts)
      VALUES ('${old}', '${queue}', 't', 5, 'ready', '{"b": [1, 2.5, "x"], "a": {"n": null}}', 0, 0)`;
    const location = await OLD_DATABASES.postgres([...oldMigrations("postgres", JSONB_VERSION), MIGRATIONS_TABLE, ...versions, row]);
    const { store } = await openStore({ store: location });
    try {
      // JSONB had already put the keys in its own order (shorter first); that much is all there is to read.
      assert.deepEqual((await store.getJob(old))!.payload, { a: { n: null }, b: [1, 2.5, "x"] });
      const fresh = newJobId();
      const payload = { zeta: 12345678901234567890n, alpha: 1, mid: { y: 2, x: 1 } };
      await store.insertJobs([{ id: fresh, queue, type: "t", priority: 5, status: "ready", payload, ready_at: 0, attempts: 0 }]);
      const read = (await store.getJob(fresh))!.payload as Record<string, unknown>;
      assert.deepEqual(read, payload);
      assert.deepEqual(Object.keys(read), ["zeta", "alpha", "mid"]);
      assert.deepEqual(Object.keys(read.mid as object), ["y", "x"]);
    } finally {
      await store.close();
    }
  });
});
