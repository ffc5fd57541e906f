/**
 * What the PostgreSQL store must do beyond the conformance suite: several
 * servers migrating one database at once, and outages that reach callers as
 * 503s rather than crashes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pg from "pg";
import { UnavailableError } from "../../src/errors.js";
import { newJobId } from "../../src/job/ids.js";
import { blocksDuplicate, createJob } from "../../src/job/state.js";
import type { Job } from "../../src/job/types.js";
import { openStore } from "../../src/store/open.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import type { Store } from "../../src/store/store.js";
import { assertError, jobInput } from "../helpers/jobs.js";
import { createDatabase } from "../helpers/postgres.js";
import { api, startTestServer, uniqueName } from "../helpers/server.js";
import { postgresClusterUrl } from "./stores.js";

function job(queue: string): Job {
  return createJob(newJobId(), { queue, type: "t", payload: { n: 1 } }, Date.now());
}

/** Runs `work` on a superuser connection to the cluster's `postgres` database. */
async function asAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: await postgresClusterUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function databaseName(url: string): string {
  return new URL(url).pathname.slice(1);
}

/** Refuses new connections to the database and cuts the ones it has, as an outage would. */
async function takeDown(url: string): Promise<void> {
  const name = databaseName(url);
  await asAdmin(async (admin) => {
    await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS false`);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
  });
}

async function bringUp(url: string): Promise<void> {
  await asAdmin((admin) => admin.query(`ALTER DATABASE ${pg.escapeIdentifier(databaseName(url))} ALLOW_CONNECTIONS true`));
}

function isUnavailable(error: unknown): boolean {
  return error instanceof UnavailableError && error.status === 503 && error.retryable;
}

async function freshStore(): Promise<{ url: string; store: Store }> {
  const url = await createDatabase(await postgresClusterUrl());
  return { url, store: await PostgresStore.open({ url, poolSize: 4 }) };
}

describe("postgres store", () => {
  test("servers starting at once on a new database all succeed and apply each migration once", async () => {
    for (let round = 0; round < 3; round++) {
      const url = await createDatabase(await postgresClusterUrl());
      const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url, poolSize: 2 })));
      await stores[0]!.insertJobs([job("q")], blocksDuplicate);
      assert.equal(await stores[2]!.countJobs({}), 1, "all three see one schema");
      await Promise.all(stores.map((store) => store.close()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const versions = (await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows;
      await client.end();
      assert.deepEqual(versions, [{ version: 1 }]);
    }
  });

  test("while the database is unreachable, reads and writes fail with a retryable 503, and then recover", async () => {
    const { url, store } = await freshStore();
    const kept = job(uniqueName());
    await store.insertJobs([kept], blocksDuplicate);
    await takeDown(url);
    try {
      await assert.rejects(store.insertJobs([job("q")], blocksDuplicate), isUnavailable);
      await assert.rejects(store.commit({ deletes: [kept.id] }), isUnavailable);
      await assert.rejects(store.getJob(kept.id), isUnavailable);
    } finally {
      await bringUp(url);
    }
    await store.insertJobs([job("q")], blocksDuplicate);
    assert.deepEqual(await store.getJob(kept.id), kept);
    await store.close();
  });

  test("opening a store on a server that is not there fails with a 503", async () => {
    await assert.rejects(PostgresStore.open({ url: "postgres://postgres@127.0.0.1:1/nowhere", connectTimeoutMs: 2000 }), isUnavailable);
  });

  test("openStore opens postgres:// and postgresql:// URLs", async () => {
    const url = await createDatabase(await postgresClusterUrl());
    for (const spec of [url, url.replace(/^postgres:/, "postgresql:")]) {
      const store = await openStore({ store: spec });
      assert.ok(store instanceof PostgresStore);
      assert.equal(await store.countJobs({}), 0);
      await store.close();
    }
  });

  test("the HTTP server answers 503 while its database is down, and carries on after", async () => {
    const url = await createDatabase(await postgresClusterUrl());
    const server = await startTestServer({ store: url });
    try {
      const queue = uniqueName();
      assert.equal((await api(server.url, "POST", "/jobs", { body: jobInput(queue) })).status, 201);
      await takeDown(url);
      try {
        assertError(await api(server.url, "POST", "/jobs", { body: jobInput(queue) }), 503, "enqueue during the outage");
      } finally {
        await bringUp(url);
      }
      assert.equal((await api(server.url, "POST", "/jobs", { body: jobInput(queue) })).status, 201);
    } finally {
      await server.close();
    }
  });

  test("a second server on the same database refuses to start until the first one stops", async () => {
    const url = await createDatabase(await postgresClusterUrl());
    const first = await startTestServer({ store: url });
    try {
      await assert.rejects(startTestServer({ store: url }), (error: Error) => {
        assert.match(error.message, /another Wharf server is already using this PostgreSQL database/);
        return true;
      });
    } finally {
      await first.close();
    }
    const next = await startTestServer({ store: url });
    assert.equal((await api(next.url, "GET", "/health")).status, 200);
    await next.close();
  });
});
