/**
 * Enqueueing inside the caller's own PostgreSQL transaction: the job exists
 * if and only if the caller commits, and a server's workers get it at once.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import pg from "pg";
import { BadRequestError, connect } from "../../src/index.js";
import { enqueueWithin } from "../../src/postgres.js";
import { createDatabase } from "../helpers/postgres.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { postgresClusterUrl } from "../store/stores.js";

async function inTransaction<T>(client: pg.Client, outcome: "COMMIT" | "ROLLBACK", work: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    return await work();
  } finally {
    await client.query(outcome);
  }
}

/** A fresh database, a client of it and a server on it, closed after the test. */
async function databaseAndServer(t: TestContext): Promise<{ db: pg.Client; server: TestServer }> {
  const url = await createDatabase(await postgresClusterUrl());
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.after(() => db.end());
  const server = await startTestServer({ store: url });
  t.after(() => server.close());
  return { db, server };
}

test("enqueueWithin: a rolled-back transaction leaves no job, a committed one wakes a waiting worker", async (t) => {
  const url = await createDatabase(await postgresClusterUrl());
  const server = await startTestServer({ store: url });
  t.after(() => server.close());
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.after(() => db.end());
  const wharf = connect(server.url);
  t.after(() => wharf.close());
  const queue = uniqueName();

  const [discarded] = await inTransaction(db, "ROLLBACK", () => enqueueWithin(db, [{ queue, type: "receipt", payload: { order: 1 } }]));
  assert.equal((await api(server.url, "GET", `/jobs/${discarded!.id}`)).status, 404, "rolled back: the job never existed");

  const stream = wharf.take({ queues: [queue] });
  t.after(() => stream.close());
  const [kept] = await inTransaction(db, "COMMIT", () => enqueueWithin(db, [{ queue, type: "receipt", payload: { order: 2 } }]));
  const delivered = await stream[Symbol.asyncIterator]().next();
  assert.equal(delivered.value?.id, kept!.id, "the commit's notification woke the server, which pushed the job");
  assert.deepEqual(delivered.value?.payload, { order: 2 });
});

test("enqueueWithin keeps unique keys and validates input like the API", async (t) => {
  const { db, server } = await databaseAndServer(t);
  const queue = uniqueName();
  const job = { queue, type: "t", payload: {}, unique_key: uniqueName("key") };
  const [first, second] = await inTransaction(db, "COMMIT", () => enqueueWithin(db, [job, job]));
  assert.deepEqual([first!.duplicate, second!.duplicate, second!.id], [false, true, first!.id]);
  await assert.rejects(
    inTransaction(db, "ROLLBACK", () => enqueueWithin(db, [{ queue: "bad,name", type: "t", payload: {} }])),
    BadRequestError,
  );
  assert.equal((await api(server.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1);
});

test("enqueueWithin takes its queues' settings as a server's enqueue does: defaults, keys and max_entries; and waits for dependencies", async (t) => {
  const { db, server } = await databaseAndServer(t);
  const queue = uniqueName();
  assert.equal((await api(server.url, "PATCH", `/queues/${queue}`, { body: { retry_limit: 7, concurrency_key: { limit: 1, key: ".tenant" }, max_entries: 3 } })).status, 200);

  const [keyed] = await inTransaction(db, "COMMIT", () => enqueueWithin(db, [{ queue, type: "t", payload: { tenant: "acme" } }]));
  assert.deepEqual([keyed!.retry_limit, keyed!.concurrency_key], [7, "acme"], "its queue's default and key expression");

  const [waiting] = await inTransaction(db, "COMMIT", () => enqueueWithin(db, [{ queue: uniqueName(), type: "t", payload: {}, dependencies: [keyed!.id] }, { queue: uniqueName(), type: "t", payload: {}, dependencies: [0] }]));
  assert.equal(waiting!.status, "blocked", "a dependency that has not completed holds it, as through the server");

  await db.query("BEGIN");
  await db.query("SELECT 1");
  await assert.rejects(enqueueWithin(db, [{ queue, type: "t", payload: {} }, { queue, type: "t", payload: {} }, { queue, type: "t", payload: {} }]), /queue .* is full: max_entries 3/);
  const [inTheSameTransaction] = await enqueueWithin(db, [{ queue: uniqueName(), type: "t", payload: {} }]);
  await db.query("COMMIT");
  assert.equal((await api(server.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1, "the refused insert left nothing, yet the caller's transaction went on");
  assert.equal((await api(server.url, "GET", `/jobs/${inTheSameTransaction!.id}`)).status, 200);
});
