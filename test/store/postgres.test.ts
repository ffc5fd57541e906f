/**
 * What the PostgreSQL store must do beyond the conformance suite: several
 * servers migrating one database at once, outages that reach callers as 503s
 * rather than crashes, notifications and leadership among servers, and
 * enqueueing inside a caller's transaction.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import pg from "pg";
import { UnavailableError } from "../../src/errors.js";
import { newJobId } from "../../src/job/ids.js";
import { createJob, promote, release } from "../../src/job/state.js";
import type { EnqueueInput, Job } from "../../src/job/types.js";
import { readMigrations } from "../../src/store/migrations.js";
import { openStore } from "../../src/store/open.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { insertJobsWithin } from "../../src/store/postgres/transactional.js";
import type { EndedLease, Store } from "../../src/store/store.js";
import { assertError, jobInput } from "../helpers/jobs.js";
import { createDatabase } from "../helpers/postgres.js";
import { api, eventually, startTestServer, uniqueName } from "../helpers/server.js";
import { postgresClusterUrl } from "./stores.js";

function job(queue: string, input: Partial<EnqueueInput> = {}): Job {
  return createJob(newJobId(), { queue, type: "t", payload: { n: 1 }, ...input }, Date.now());
}

const MIGRATIONS_DIR = new URL("../../src/store/postgres/migrations/", import.meta.url).pathname;

/** Counts onReady calls on `store`. */
function readyCounter(store: PostgresStore): { calls: () => number; reset: () => void; stop: () => void } {
  let calls = 0;
  const stop = store.onReady(() => calls++);
  return { calls: () => calls, reset: () => (calls = 0), stop };
}

/**
 * Waits until `counter`'s store hears what `writer` does (LISTEN runs on its own connection, in the
 * background): inserts ready jobs until one is heard, lets stragglers arrive, then resets the count.
 */
async function untilListening(writer: Store, counter: ReturnType<typeof readyCounter>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (counter.calls() === 0) {
    if (Date.now() > deadline) assert.fail("the store never started listening");
    await writer.insertJobs([job(uniqueName())]);
    await sleep(100);
  }
  await sleep(150);
  counter.reset();
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

async function freshStore(): Promise<{ url: string; store: PostgresStore }> {
  const url = await createDatabase(await postgresClusterUrl());
  return { url, store: await PostgresStore.open({ url, poolSize: 4 }) };
}

/** Two stores on one new database, as two servers would open it. */
async function twoServers(): Promise<{ url: string; a: PostgresStore; b: PostgresStore; close: () => Promise<void> }> {
  const { url, store: a } = await freshStore();
  const b = await PostgresStore.open({ url, poolSize: 4 });
  return { url, a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

/** Ends the connection that holds an advisory lock in the database at `url` (the leader's), as a network cut would. */
async function terminateLockHolder(url: string): Promise<number> {
  return asAdmin(async (admin) => (await admin.query(
    `SELECT pg_terminate_backend(locks.pid) FROM pg_locks AS locks JOIN pg_database AS db ON db.oid = locks.database
      WHERE locks.locktype = 'advisory' AND locks.granted AND db.datname = $1`,
    [databaseName(url)],
  )).rowCount ?? 0);
}

/** Ends every connection of `applicationName` to the database at `url`, as a crash or a network cut would. */
async function terminate(url: string, applicationName: string): Promise<number> {
  return asAdmin(async (admin) => (await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    [databaseName(url), applicationName],
  )).rowCount ?? 0);
}

/** A fresh store and a separate pg client on its database, both closed after `work`. */
async function withStoreAndClient(work: (store: PostgresStore, client: pg.Client) => Promise<void>): Promise<void> {
  const { url, store } = await freshStore();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(store, client);
  } finally {
    await client.end();
    await store.close();
  }
}

describe("postgres store", () => {
  test("servers starting at once on a new database all succeed and apply each migration once", async () => {
    for (let round = 0; round < 3; round++) {
      const url = await createDatabase(await postgresClusterUrl());
      const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url, poolSize: 2 })));
      await stores[0]!.insertJobs([job("q")]);
      assert.equal(await stores[2]!.countJobs({}), 1, "all three see one schema");
      await Promise.all(stores.map((store) => store.close()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const versions = (await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows;
      await client.end();
      assert.deepEqual(versions.map(({ version }) => version), readMigrations(MIGRATIONS_DIR).map(({ version }) => version));
    }
  });

  test("upgrading a database: jobs an earlier version left in flight get a lease that has run out", async () => {
    const url = await createDatabase(await postgresClusterUrl());
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    // A job as the first version stored it: no created_at.
    const { created_at: _createdAt, ...earlier } = job(uniqueName());
    const stranded = { ...earlier, status: "in_flight" as const, dequeued_at: 1000 };
    try {
      const first = readFileSync(new URL("../../src/store/postgres/migrations/001_jobs.sql", import.meta.url), "utf8");
      await client.query(first);
      await client.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      await client.query("INSERT INTO schema_migrations VALUES (1, 0)");
      await client.query(
        `INSERT INTO jobs (id, queue, type, priority, status, payload, ready_at, attempts, dequeued_at)
          VALUES ($1, $2, 't', $3, 'in_flight', '{"n": 1}', $4, 0, 1000)`,
        [stranded.id, stranded.queue, stranded.priority, stranded.ready_at],
      );
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open({ url, poolSize: 2 });
    try {
      assert.deepEqual(await store.abandonedLeases({ now: Date.now(), expiredBefore: Date.now(), limit: 10 }), [{ ...stranded, lease_expires_at: 1000 }]);
    } finally {
      await store.close();
    }
  });

  test("while the database is unreachable, reads and writes fail with a retryable 503, and then recover", async () => {
    const { url, store } = await freshStore();
    const kept = job(uniqueName());
    await store.insertJobs([kept]);
    await takeDown(url);
    try {
      await assert.rejects(store.insertJobs([job("q")]), isUnavailable);
      await assert.rejects(store.commit({ deletes: [{ id: kept.id }] }), isUnavailable);
      await assert.rejects(store.getJob(kept.id), isUnavailable);
    } finally {
      await bringUp(url);
    }
    await store.insertJobs([job("q")]);
    assert.deepEqual(await store.getJob(kept.id), kept);
    await store.close();
  });

  test("opening a store on a server that is not there fails with a 503", async () => {
    await assert.rejects(PostgresStore.open({ url: "postgres://postgres@127.0.0.1:1/nowhere", connectTimeoutMs: 2000 }), isUnavailable);
  });

  test("openStore opens postgres:// and postgresql:// URLs", async () => {
    const url = await createDatabase(await postgresClusterUrl());
    for (const spec of [url, url.replace(/^postgres:/, "postgresql:")]) {
      const { store, sharing } = await openStore({ store: spec });
      assert.ok(store instanceof PostgresStore);
      assert.ok(sharing, "a PostgreSQL store is shared");
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

  test("leases one server announces as ended reach the others whole, however many, and a (re)connect says some may be missed", async () => {
    const { a, b, close } = await twoServers();
    try {
      const heard: Array<EndedLease[] | undefined> = [];
      const stop = a.onLeasesEnded((leases) => heard.push(leases));
      await eventually(() => heard.length > 0, 5000, "listening starts with a call that says announcements may have been missed");
      assert.equal(heard[0], undefined);
      const leases = Array.from({ length: 400 }, () => ({ id: newJobId(), runId: randomUUID() }));
      await b.announceLeasesEnded(leases);
      const received = (): EndedLease[] => heard.flatMap((batch) => batch ?? []);
      await eventually(() => received().length >= leases.length, 5000, "every announced lease", { progress: () => `heard ${received().length} of ${leases.length}` });
      assert.deepEqual(received(), leases, "in order, none lost, none twice, over several notifications");
      assert.ok(heard.length > 2, "400 leases do not fit one notification");
      stop();
    } finally {
      await close();
    }
  });

  test("onReady hears another server's writes that leave a job ready, and not the ones that do not", async () => {
    const { a, b, close } = await twoServers();
    try {
      const heard = readyCounter(a);
      await untilListening(b, heard);
      const queue = uniqueName();
      const later = job(queue, { ready_at: Date.now() + 3_600_000 });
      await b.insertJobs([later]);
      await sleep(300);
      assert.equal(heard.calls(), 0, "a scheduled job wakes nobody");
      await b.commit({ updates: [{ job: promote(later), from: "scheduled" }] });
      await eventually(() => heard.calls() > 0, 5000, "a job promoted to ready wakes the others");
      heard.reset();
      await b.insertJobs([job(queue)]);
      await eventually(() => heard.calls() > 0, 5000, "so does a ready job inserted");
      heard.stop();
      await b.insertJobs([job(queue)]);
      await sleep(300);
      assert.equal(heard.calls(), 1, "an unsubscribed listener hears nothing more");
    } finally {
      await close();
    }
  });

  test("onReady survives its connection being cut: it reconnects, calls once, and hears later writes", async () => {
    const { url, a, b, close } = await twoServers();
    try {
      const heard = readyCounter(a);
      await untilListening(b, heard);
      assert.equal(await terminate(url, "wharf-listener"), 1);
      await eventually(() => heard.calls() > 0, 5000, "a reconnect calls the listener (notifications may have been missed)");
      heard.reset();
      await b.insertJobs([job(uniqueName())]);
      await eventually(() => heard.calls() > 0, 5000, "and notifications arrive again");
    } finally {
      await close();
    }
  });

  test("through an outage the listener and the leader fail quietly, and both come back with the database", async () => {
    const { url, a, b, close } = await twoServers();
    try {
      const heard = readyCounter(a);
      await untilListening(b, heard);
      assert.equal(await a.lead(), true);
      await takeDown(url);
      try {
        await sleep(700); // reconnects fail meanwhile, with backoff
        assert.equal(await a.lead(), false, "leadership went with the connection");
        assert.equal(await a.lead(), false, "no leading while the database refuses connections");
      } finally {
        await bringUp(url);
      }
      await eventually(() => heard.calls() > 0, 10_000, "the listener reconnects and calls once");
      heard.reset();
      await b.insertJobs([job(uniqueName())]);
      await eventually(() => heard.calls() > 0, 5000, "and hears notifications again");
      assert.equal(await a.lead(), true, "the leader takes the lock again");
      assert.equal(await b.lead(), false);
    } finally {
      await close();
    }
  });

  test("exactly one of two servers leads; when the leader goes, the other takes over on its next call", async () => {
    const { url, a, b, close } = await twoServers();
    try {
      const first = await Promise.all([a.lead(), b.lead()]);
      assert.equal(first.filter(Boolean).length, 1, `exactly one leads: ${JSON.stringify(first)}`);
      const [leader, follower] = first[0] ? [a, b] : [b, a];
      assert.equal(await leader.lead(), true, "the leader stays leader");
      assert.equal(await follower.lead(), false, "the follower stays follower");
      await leader.close();
      assert.equal(await follower.lead(), true, "the follower takes over once the leader is gone");
      assert.equal(await leader.lead(), false, "a closed store leads nothing");

      const third = await PostgresStore.open({ url, poolSize: 2 });
      try {
        assert.equal(await third.lead(), false);
        assert.equal(await terminateLockHolder(url), 1, "cut the leader's connection");
        const afterCut = await follower.lead();
        assert.equal(afterCut, false, "a leader whose connection broke has lost leadership");
        const contenders = await Promise.all([follower.lead(), third.lead()]);
        assert.equal(contenders.filter(Boolean).length, 1, `exactly one leads again: ${JSON.stringify(contenders)}`);
      } finally {
        await third.close();
      }
    } finally {
      await close();
    }
  });

  test("insertJobsWithin enqueues inside the caller's transaction: the jobs exist if and only if it commits", async () => {
    await withStoreAndClient(async (store, client) => {
    const heard = readyCounter(store);
    await untilListening(store, heard);
    const queue = uniqueName();
    const rolledBack = job(queue);
    await client.query("BEGIN");
    const [outcome] = await insertJobsWithin(client, [rolledBack]);
    assert.deepEqual(outcome, { job: rolledBack, duplicate: false });
    assert.equal(await store.getJob(rolledBack.id), undefined, "not visible before the caller commits");
    await client.query("ROLLBACK");
    await sleep(300);
    assert.equal(await store.getJob(rolledBack.id), undefined, "gone with the rollback");
    assert.equal(heard.calls(), 0, "a rolled-back insert wakes nobody");

    const committed = job(queue);
    await client.query("BEGIN");
    await insertJobsWithin(client, [committed]);
    await client.query("COMMIT");
    assert.deepEqual(await store.getJob(committed.id), committed);
    await eventually(() => heard.calls() > 0, 5000, "the commit wakes the servers");

    await assert.rejects(insertJobsWithin(client, [job(queue)]), /inside a transaction/);
    });
  });

  test("insertJobsWithin holds unique keys against the store until the caller's transaction ends", async () => {
    await withStoreAndClient(async (store, client) => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const mine = job(queue, { unique_key: key });
    await client.query("BEGIN");
    await insertJobsWithin(client, [mine]);
    let settled = false;
    const racing = store.insertJobs([job(queue, { unique_key: key })]).finally(() => (settled = true));
    await sleep(300);
    assert.equal(settled, false, "a competing insert of the key waits for the caller's transaction");
    await client.query("COMMIT");
    const [outcome] = await racing;
    assert.equal(outcome!.duplicate, true, "and then sees the committed job");
    assert.equal(outcome!.job.id, mine.id);

    await client.query("BEGIN");
    const [again] = await insertJobsWithin(client, [job(queue, { unique_key: key })]);
    await client.query("COMMIT");
    assert.equal(again!.duplicate, true, "inside a transaction the key holds too");
    assert.equal(again!.job.id, mine.id);
    assert.equal(await store.countJobs({ queues: [queue] }), 1);
    });
  });

  test("a job taking its key back loses cleanly to another server's insert of that key that commits first", async () => {
    await withStoreAndClient(async (store, client) => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const retried = job(queue, { unique_key: key });
    await store.insertJobs([retried]);
    const [leased] = (await store.claimReady({ queues: [queue], types: null, limit: 1, now: Date.now(), owner: "a", defaultLeaseMs: 30_000 })) as [Job];
    const competitor = job(uniqueName(), { unique_key: key });
    await client.query("BEGIN");
    await insertJobsWithin(client, [competitor]);
    // The update checks for a holder before the competitor commits, then waits on its index entry.
    const back = store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id!, entersUniqueScope: true }] });
    await sleep(300);
    await client.query("COMMIT");
    assert.deepEqual((await back).updated, [true], "the retried job is ready again, without its key");
    assert.equal((await store.getJob(retried.id))!.status, "ready");
    const [dup] = await store.insertJobs([job(queue, { unique_key: key })]);
    assert.equal(dup!.job.id, competitor.id, "the committed competitor holds the key");
    });
  });
});
