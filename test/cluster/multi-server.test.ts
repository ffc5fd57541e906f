/**
 * Several `wharf serve` processes on one PostgreSQL database: claims never hand
 * one job to two servers, acks and failures fenced by run id, leases of a dead
 * server rescued by the leader, leadership moving on when the leader dies, and
 * servers riding out a PostgreSQL restart. Real processes, sockets and
 * PostgreSQL throughout; each test gets a database of its own.
 *
 * Runs inside test/postgres-env.ts (WHARF_TEST_POSTGRES_URL); standalone it
 * starts a cluster of its own.
 */
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test, type TestContext } from "node:test";
import pg from "pg";
import { Client, connect, ManualClock, systemClock, type Clock, UnprocessableError, WharfError, Worker, type EnqueueInput, type Job } from "../../src/index.js";
import { LEADER_LOCK } from "../../src/store/postgres/sql.js";
import { cleanupsKillingChildren, killAllChildren, spawnServer, type Defer, type SpawnedServer } from "../helpers/cli.js";
import { postgresClusterUrl } from "../store/stores.js";
import { createDatabase, startPostgres } from "../helpers/postgres.js";
import { api, eventually, startTestServer, tempDir, uniqueName, type TestServer } from "../helpers/server.js";
import { openTake, type RawTakeStream } from "../helpers/take.js";
import { countJobs } from "../helpers/jobs.js";
import { runsUntilAborted } from "../helpers/handlers.js";

const JOB_TYPE = "cluster-noop";
const BULK_SIZE = 1000;
/** A retry one second after a failure, whatever the attempt (attempts^0 * 1000 ms). */
const ONE_SECOND_RETRY = { base_ms: 0, exponent: 0, jitter_ms: 0 };

// ---- cluster and per-test cleanup ----

after(() => killAllChildren());

async function freshDatabase(): Promise<string> {
  return createDatabase(await postgresClusterUrl());
}

// ---- servers ----

/** An in-process server on the shared database, on real time, with fast maintenance (leases, rescue, promotion). */
async function inProcessServer(database: string, defer: Defer, maintenanceIntervalMs = 200, clock: Clock = systemClock): Promise<TestServer> {
  const server = await startTestServer({ store: database, clock, maintenanceIntervalMs });
  defer(() => server.close());
  return server;
}

/** `wharf serve --store DATABASE --port 0 [ARGS]` as a child process (maintenance every second, the CLI default). */
async function childServer(database: string, defer: Defer, args: string[] = []): Promise<SpawnedServer> {
  const dataDir = tempDir("wharf-cluster-");
  defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir, extraArgs: ["--store", database, ...args] });
  defer(() => server.stop());
  return server;
}

// ---- HTTP ----

interface Reply<T> {
  status: number;
  body: T;
}

interface ErrorBody {
  error?: string;
  not_found?: string[];
}

interface EnqueuedBody extends Omit<Job, "payload"> {
  duplicate: boolean;
}

/** One JSON request, bounded in time; a connection failure rejects. */
function call<T = ErrorBody>(baseUrl: string, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Reply<T>> {
  return api(baseUrl, method, path, { body, timeoutMs });
}

async function enqueueOne(baseUrl: string, input: EnqueueInput): Promise<Job> {
  const reply = await call<Job>(baseUrl, "POST", "/jobs", input);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.body;
}

// ---- workers and what they handled ----

interface Tally {
  /** Handler calls per job id, over every worker. */
  counts: Map<string, number>;
  /** Per worker: handler calls per job id. */
  perWorker: Array<Map<string, number>>;
  /** Per worker: ids its acks were refused for (422 not_found); the Worker itself drops these silently. */
  refusedAcks: string[][];
  /** Per worker: what its onError heard. */
  errors: unknown[][];
}

function tally(workers: number): Tally {
  return {
    counts: new Map(),
    perWorker: Array.from({ length: workers }, () => new Map<string, number>()),
    refusedAcks: Array.from({ length: workers }, () => []),
    errors: Array.from({ length: workers }, () => []),
  };
}

function bump(counts: Map<string, number>, id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

/** A MessagePack client whose bulk acks that come back 422 are written down before the Worker sees them. */
function watchedClient(url: string, refused: string[]): Client {
  const inner = connect(url, { format: "msgpack" }).transport;
  return new Client({
    async request(method, path, query, body) {
      try {
        return await inner.request(method, path, query, body);
      } catch (error) {
        if (path === "/jobs/success" && error instanceof UnprocessableError && Array.isArray(error.details?.not_found)) {
          refused.push(...(error.details.not_found as string[]));
        }
        throw error;
      }
    },
    take: (request) => inner.take(request),
    events: (request) => inner.events(request),
    close: () => inner.close(),
  });
}

interface WorkerSetup {
  queue: string;
  concurrency?: number;
  /** Called with each job after it is counted. */
  onJob?: (job: Job, worker: number) => void;
}

/** A Worker in this process on `url`, counting every job its handler gets; stopped (and its client closed) when the test ends. */
function startWorker(defer: Defer, url: string, counts: Tally, index: number, setup: WorkerSetup): Worker {
  const client = watchedClient(url, counts.refusedAcks[index]!);
  const worker = new Worker(client, {
    queues: [setup.queue],
    concurrency: setup.concurrency ?? 50,
    shutdownTimeoutMs: 2000,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
    workerId: `cluster-test-${index}`,
    handlers: {
      [JOB_TYPE]: (job) => {
        bump(counts.counts, job.id);
        bump(counts.perWorker[index]!, job.id);
        setup.onJob?.(job, index);
      },
    },
    onError: (error) => counts.errors[index]!.push(error),
  });
  worker.start();
  defer(async () => {
    await worker.stop();
    await client.close();
  });
  return worker;
}

/** Enqueues `total` jobs in bulks of 1000, round-robin over the servers, one bulk in flight per server; returns their ids. */
async function enqueueSpread(defer: Defer, urls: string[], queue: string, total: number, extra: Partial<EnqueueInput> = {}): Promise<string[]> {
  const clients = urls.map((url) => connect(url, { format: "msgpack" }));
  defer(() => Promise.all(clients.map((client) => client.close())));
  const bulks = Math.ceil(total / BULK_SIZE);
  const ids: string[][] = new Array<string[]>(bulks);
  await Promise.all(
    clients.map(async (client, server) => {
      for (let bulk = server; bulk < bulks; bulk += clients.length) {
        const size = Math.min(BULK_SIZE, total - bulk * BULK_SIZE);
        const jobs = Array.from({ length: size }, (_job, n): EnqueueInput => ({ ...extra, queue, type: JOB_TYPE, payload: { n: bulk * BULK_SIZE + n } }));
        const enqueued = await client.enqueueBulk(jobs);
        assert.equal(enqueued.length, size);
        assert.ok(enqueued.every((job) => !job.duplicate));
        ids[bulk] = enqueued.map((job) => job.id);
      }
    }),
  );
  const all = ids.flat();
  assert.equal(new Set(all).size, total, "bulk enqueue returned duplicate ids");
  return all;
}

function sample<T>(items: T[], count = 10): string {
  return `${items.length}${items.length > 0 ? `: ${JSON.stringify(items.slice(0, count))}` : ""}`;
}

function describeError(error: unknown): string {
  if (error instanceof WharfError) return `${error.name}(${error.status}): ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// ---- the leader ----

/** Whether some session holds the leader's advisory lock in `database`. */
async function leaderLockHeld(database: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const key = BigInt(LEADER_LOCK);
    const result = await client.query<{ held: boolean }>(
      `SELECT count(*) > 0 AS held FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
      [String(key >> 32n), String(key & 0xffffffffn)],
    );
    return result.rows[0]?.held === true;
  } finally {
    await client.end();
  }
}

/** Jobs in flight under leases the server process `pid` made (the store records `host:pid:random` as the owner). */
async function leasesOwnedBy(database: string, pid: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const result = await client.query<{ id: string }>(
      "SELECT id FROM jobs WHERE status = 'in_flight' AND owner LIKE '%:' || $1::text || ':%'",
      [String(pid)],
    );
    return result.rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

/** Sessions on `database` whose last statement was a LISTEN (each server's listener connection). */
async function listeners(database: string): Promise<number> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'",
    );
    return result.rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

// ---- the tests ----

const TOTAL = 20_000;

test("three servers on one database hand each of 20,000 jobs to exactly one of their workers", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = await Promise.all([0, 1, 2].map(() => inProcessServer(database, defer)));
  const queue = uniqueName("spread");
  const seen = tally(3);
  servers.forEach((server, index) => startWorker(defer, server.url, seen, index, { queue }));

  const started = Date.now();
  const ids = await enqueueSpread(defer, servers.map((server) => server.url), queue, TOTAL);
  const enqueuedMs = Date.now() - started;
  await eventually(async () => seen.counts.size >= TOTAL && (await countJobs(servers[0]!.url)) === 0, 60_000, "every job handled and the database empty", { intervalMs: 100, progress: () => `${seen.counts.size} distinct ids handled` });
  t.diagnostic(`enqueued in ${enqueuedMs} ms, all handled in ${Date.now() - started} ms; per worker ${seen.perWorker.map((handled) => handled.size).join("/")}`);
  // Anything still on its way (a second delivery) gets a moment to show up.
  await sleep(300);

  const expected = new Set(ids);
  const missing = ids.filter((id) => !seen.counts.has(id));
  const unexpected = [...seen.counts.keys()].filter((id) => !expected.has(id));
  const repeated = [...seen.counts].filter(([, times]) => times > 1);
  assert.deepEqual(
    { missing: missing.length, unexpected: unexpected.length, repeated: repeated.length },
    { missing: 0, unexpected: 0, repeated: 0 },
    `missing ${sample(missing)}; unexpected ${sample(unexpected)}; handled more than once ${sample(repeated)}`,
  );
  seen.perWorker.forEach((handled, index) => assert.ok(handled.size > 0, `worker ${index} (server ${servers[index]!.url}) handled no job`));
  assert.deepEqual(seen.refusedAcks.map((refused) => refused.length), [0, 0, 0], `acks refused: ${seen.refusedAcks.map((refused) => sample(refused)).join("; ")}`);
  assert.deepEqual(seen.errors.flat().map(describeError), []);
  assert.equal(await countJobs(servers[1]!.url), 0);
});

test("the leader SIGKILLed mid-run: a new leader rescues its leases and the other servers' workers finish every job", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  // The first server becomes the leader before the others start, so the kill below also takes the leader away:
  // a new leader has to take over before anyone can rescue the dead server's leases.
  const first = await childServer(database, defer, ["--lease-timeout", "2"]);
  await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
  const servers = [first, ...(await Promise.all([1, 2].map(() => childServer(database, defer, ["--lease-timeout", "2"]))))];
  const urls = servers.map((server) => server.url);
  const queue = uniqueName("crash");
  const seen = tally(3);

  const started = Date.now();
  const ids = await enqueueSpread(defer, urls, queue, TOTAL);
  const workers = servers.map((server, index) => startWorker(defer, server.url, seen, index, { queue }));
  await eventually(() => seen.counts.size >= TOTAL / 4, 30_000, "a quarter of the jobs handled", { intervalMs: 10, progress: () => `${seen.counts.size} handled` });
  const victim = 0;
  // On a loaded machine the victim's worker may still be connecting; kill it only once it holds leases.
  const heldBeforeKill = await eventually(async () => {
    const held = await leasesOwnedBy(database, servers[victim]!.child.pid!);
    return held.length > 0 && held;
  }, 30_000, "the victim to hold leases", { intervalMs: 10 });

  servers[victim]!.kill("SIGKILL");
  assert.deepEqual(await servers[victim]!.waitExit(5000), { code: null, signal: "SIGKILL" });
  const killedAt = Date.now();
  const handledAtKill = seen.counts.size;
  // The leader may rescue a dead server's leases within milliseconds of its liveness lock going, before the query
  // after the kill runs; so the orphans are the leases held just before it as well as just after. Any of them the
  // dead server acked before dying were handled by its worker; see below.
  const orphaned = [...new Set([...heldBeforeKill, ...(await leasesOwnedBy(database, servers[victim]!.child.pid!))])];
  await workers[victim]!.stop();
  const victimHandled = seen.perWorker[victim]!;

  const survivors = urls.filter((_url, index) => index !== victim);
  await eventually(async () => seen.counts.size >= TOTAL && (await countJobs(survivors[0]!)) === 0, 60_000, "every job handled and the database empty", { intervalMs: 100, progress: () => `${seen.counts.size} distinct ids handled` });
  const finishedAt = Date.now();
  await sleep(300);

  const expected = new Set(ids);
  const missing = ids.filter((id) => !seen.counts.has(id));
  const unexpected = [...seen.counts.keys()].filter((id) => !expected.has(id));
  const repeated = [...seen.counts].filter(([, times]) => times > 1);
  const repeatedNotFromVictim = repeated.filter(([id]) => !victimHandled.has(id));
  // A lease whose job the killed server's worker ran may have been acked (late); the others must have been rescued.
  // (An un-acked one would still be in the database, which the wait above found empty.)
  const orphansNotRescued = orphaned.filter((id) => !victimHandled.has(id) && seen.perWorker.every((handled, index) => index === victim || !handled.has(id)));
  const twiceBySurvivors = ids.filter((id) => seen.perWorker.reduce((sum, handled, index) => sum + (index === victim ? 0 : handled.get(id) ?? 0), 0) > 1);
  t.diagnostic(
    `killed server ${victim} at ${handledAtKill} handled (${killedAt - started} ms in); its worker had started ${victimHandled.size}; ` +
    `${orphaned.length} leases orphaned; done ${finishedAt - killedAt} ms after the kill; ${repeated.length} jobs handled twice (at-least-once across the crash)`,
  );
  assert.deepEqual(
    {
      missing: missing.length,
      unexpected: unexpected.length,
      repeatedNotFromVictim: repeatedNotFromVictim.length,
      twiceBySurvivors: twiceBySurvivors.length,
      orphansNotRescued: orphansNotRescued.length,
    },
    { missing: 0, unexpected: 0, repeatedNotFromVictim: 0, twiceBySurvivors: 0, orphansNotRescued: 0 },
    `missing ${sample(missing)}; unexpected ${sample(unexpected)}; handled more than once but never by the killed server's worker ` +
      `${sample(repeatedNotFromVictim)}; handled twice by surviving workers ${sample(twiceBySurvivors)}; ` +
      `leases of the killed server never handled by a surviving worker ${sample(orphansNotRescued)}`,
  );
  for (const [index, url] of urls.entries()) {
    if (index === victim) continue;
    assert.equal(await countJobs(url), 0);
    assert.ok(seen.perWorker[index]!.size > 0, `surviving worker ${index} handled no job`);
    assert.deepEqual(seen.refusedAcks[index], [], `surviving worker ${index} had acks refused`);
    assert.deepEqual(seen.errors[index]!.map(describeError), [], `surviving worker ${index} reported errors`);
  }
});

/**
 * The stale run (`stale`) is refused everywhere: through the server that holds the current lease
 * and through one that does not; the job stays in flight in the current run (`current`).
 */
async function assertStaleRunRefused(holder: string, other: string, id: string, stale: string, current: string, attempts: number): Promise<void> {
  for (const url of [holder, other]) {
    const ack = await call(url, "POST", `/jobs/${id}/success`, { run_id: stale });
    assert.equal(ack.status, 404, `stale ack through ${url}: ${JSON.stringify(ack.body)}`);
    const failure = await call(url, "POST", `/jobs/${id}/failure`, { message: "a late failure from the old run", run_id: stale });
    assert.equal(failure.status, 404, `stale failure through ${url}: ${JSON.stringify(failure.body)}`);
    const heartbeat = await call(url, "POST", `/jobs/${id}/heartbeat`, { run_id: stale });
    assert.equal(heartbeat.status, 404, `stale heartbeat through ${url}: ${JSON.stringify(heartbeat.body)}`);
    const bulk = await call(url, "POST", "/jobs/success", { ids: [id], run_ids: [stale] });
    assert.equal(bulk.status, 422, `stale bulk ack through ${url}: ${JSON.stringify(bulk.body)}`);
    assert.deepEqual(bulk.body.not_found, [id]);
  }
  for (const url of [holder, other]) {
    const job = await call<Job>(url, "GET", `/jobs/${id}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.status, "in_flight", `through ${url}`);
    assert.equal(job.body.run_id, current, `through ${url}`);
    assert.equal(job.body.attempts, attempts, `through ${url}`);
  }
}

/** Keeps a lease alive the way a working worker would, until the returned function is called. */
function keepAlive(url: string, id: string, runId: string): () => Promise<void> {
  let running = true;
  const errors: string[] = [];
  const loop = (async () => {
    for (let beat = 0; running && beat < 200; beat++) {
      const reply = await call(url, "POST", `/jobs/${id}/heartbeat`, { run_id: runId });
      if (reply.status !== 200) errors.push(`${reply.status} ${JSON.stringify(reply.body)}`);
      await sleep(250);
    }
  })();
  return async () => {
    running = false;
    await loop;
    assert.deepEqual(errors, [], `heartbeats of the current run through ${url} failed`);
  };
}

function take(defer: Defer, url: string, queue: string, prefetch = 1): RawTakeStream {
  const stream = openTake(url, { queue, prefetch });
  defer(() => stream.close());
  return stream;
}

test("fencing: after a dead server's lease is rescued, the old run can neither ack, fail nor heartbeat", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const doomed = await childServer(database, defer);
  await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
  const [holder, other] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("fence");
  const job = await enqueueOne(doomed.url, { queue, type: JOB_TYPE, payload: {}, timeout: 1 });

  const first = await take(defer, doomed.url, queue).nextJob(5000);
  assert.equal(first.id, job.id);
  const r1 = first.run_id;
  assert.equal(typeof r1, "string", "a taken job carries a run_id");
  doomed.kill("SIGKILL");
  await doomed.waitExit(5000);

  // The stored lease runs out after 1 s; the leader (a surviving server) gives the job back.
  const stream = take(defer, holder.url, queue);
  const again = await stream.nextJob(15_000);
  assert.equal(again.id, job.id);
  const r2 = again.run_id!;
  assert.equal(typeof r2, "string");
  assert.notEqual(r2, r1, "the rescued job is leased in a new run");
  assert.equal(again.attempts, first.attempts, "a rescue gives the job back without counting an attempt");

  const stopBeating = keepAlive(holder.url, job.id, r2);
  try {
    await assertStaleRunRefused(holder.url, other.url, job.id, r1!, r2, first.attempts);
  } finally {
    await stopBeating();
  }
  const ack = await call(holder.url, "POST", `/jobs/${job.id}/success`, { run_id: r2 });
  assert.equal(ack.status, 204, JSON.stringify(ack.body));
  assert.equal((await call(other.url, "GET", `/jobs/${job.id}`)).status, 404);
  assert.equal(await countJobs(other.url), 0);
});

test("fencing: a lease that lapses on a live server is failed, and the late worker's run is refused", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("lapse");
  const job = await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: {}, timeout: 1, backoff: ONE_SECOND_RETRY });

  const streamA = take(defer, a.url, queue);
  const first = await streamA.nextJob(5000);
  assert.equal(first.id, job.id);
  const r1 = first.run_id!;
  assert.equal(typeof r1, "string");
  const streamB = take(defer, b.url, queue);

  // No ack: server A fails the lapsed lease itself (attempt 1), and the retry a second later goes to either stream.
  let redelivered: { job: Job; url: string } | undefined;
  await eventually(async () => {
    const fromA = streamA.received.find((received) => received.run_id !== r1);
    const fromB = streamB.received[0];
    if (fromA) redelivered = { job: fromA, url: a.url };
    else if (fromB) redelivered = { job: fromB, url: b.url };
    return redelivered !== undefined;
  }, 15_000, "the job delivered again after its lease lapsed", { intervalMs: 100 });
  const { job: again, url: holderUrl } = redelivered!;
  assert.equal(again.id, job.id);
  const r2 = again.run_id!;
  assert.notEqual(r2, r1);
  assert.equal(again.attempts, 1, "the lapsed lease counted as a failed attempt");
  const otherUrl = holderUrl === a.url ? b.url : a.url;

  const stopBeating = keepAlive(holderUrl, job.id, r2);
  try {
    await assertStaleRunRefused(holderUrl, otherUrl, job.id, r1, r2, 1);
  } finally {
    await stopBeating();
  }
  const ack = await call(otherUrl, "POST", `/jobs/${job.id}/success`, { run_id: r2 });
  assert.equal(ack.status, 204, JSON.stringify(ack.body));
  assert.equal(await countJobs(holderUrl), 0);
  assert.equal(streamA.received.length + streamB.received.length, 2, "delivered exactly twice: the lapsed run and the retry");
});

test("cross-server ack: a job taken through server A is acked through server B", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("cross");
  const job = await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: {} });
  const taken = await take(defer, a.url, queue).nextJob(5000);
  assert.equal(taken.id, job.id);

  const ack = await call(b.url, "POST", `/jobs/${job.id}/success`, { run_id: taken.run_id });
  assert.equal(ack.status, 204, JSON.stringify(ack.body));
  assert.equal(await countJobs(b.url), 0);
  assert.equal(await countJobs(a.url), 0);
  const viaB = await call<Job>(b.url, "GET", `/jobs/${job.id}`);
  assert.equal(viaB.status, 404, `GET through B: ${JSON.stringify(viaB.body)}`);
  const viaA = await call<Job>(a.url, "GET", `/jobs/${job.id}`);
  assert.equal(viaA.status, 404, `GET through A (the server whose stream took it): ${JSON.stringify(viaA.body)}`);
  const again = await call(a.url, "POST", `/jobs/${job.id}/success`, { run_id: taken.run_id });
  assert.equal(again.status, 404, `a second ack through A: ${JSON.stringify(again.body)}`);
});

test("an ack or a failure through server B frees the slot on A's take stream at once, not at A's next maintenance pass", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  // A syncs its leases with the database only every 10 minutes: only B's announcement can free the slot in time.
  const [a, b] = await Promise.all([inProcessServer(database, defer, 600_000), inProcessServer(database, defer)]);
  const queue = uniqueName("slot");
  const stream = take(defer, a.url, queue);
  const endThroughB = [
    (job: Job) => call(b.url, "POST", `/jobs/${job.id}/success`, { run_id: job.run_id }),
    (job: Job) => call(b.url, "POST", `/jobs/${job.id}/failure`, { message: "boom", retry_at: Date.now() + 600_000, run_id: job.run_id }),
  ];
  const first = await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: { n: 0 } });
  let held = await stream.nextJob(5000);
  assert.equal(held.id, first.id);
  for (const [index, end] of endThroughB.entries()) {
    const ended = await end(held);
    assert.ok(ended.status === 200 || ended.status === 204, JSON.stringify(ended.body));
    // The stream (prefetch 1) holds nothing now; the next job must reach it long before A's next pass.
    const next = await enqueueOne(b.url, { queue, type: JOB_TYPE, payload: { n: index + 1 } });
    held = await stream.nextJob(5000);
    assert.equal(held.id, next.id);
  }
});

test("cross-server heartbeat: heartbeats through server B keep alive a lease server A made", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("beat");
  const job = await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: {}, timeout: 1, backoff: ONE_SECOND_RETRY });
  const stream = take(defer, a.url, queue);
  const taken = await stream.nextJob(5000);
  const takenAt = Date.now();

  // A worker behind a load balancer: its stream is on A, its heartbeats land on B. Ten beats over 2.5 s, 2.5 lease lengths.
  const beats: string[] = [];
  for (let beat = 0; beat < 10; beat++) {
    const reply = await call<{ lease_expires_at?: number }>(b.url, "POST", `/jobs/${job.id}/heartbeat`, { run_id: taken.run_id });
    beats.push(`+${Date.now() - takenAt}ms ${reply.status}${reply.status === 200 ? "" : ` ${JSON.stringify(reply.body)}`}`);
    await sleep(250);
  }
  const current = await call<Job>(b.url, "GET", `/jobs/${job.id}`);
  const errors = await call<{ errors: Array<{ error_type?: string; message: string }> }>(b.url, "GET", `/jobs/${job.id}/errors`);
  assert.deepEqual(
    {
      refusedBeats: beats.filter((beat) => !beat.endsWith(" 200")),
      status: current.body.status,
      run_id: current.body.run_id,
      attempts: current.body.attempts,
      errors: errors.body.errors.map((error) => `${error.error_type ?? ""}: ${error.message}`),
    },
    { refusedBeats: [], status: "in_flight", run_id: taken.run_id, attempts: 0, errors: [] },
    `a lease kept alive by heartbeats through B lapsed anyway; beats: ${beats.join(", ")}`,
  );
  const ack = await call(b.url, "POST", `/jobs/${job.id}/success`, { run_id: taken.run_id });
  assert.equal(ack.status, 204, JSON.stringify(ack.body));
});

/**
 * Two in-process servers on `database`, both listening. Maintenance (which also wakes every stream) only
 * every 30 s: within a test only a notification can wake one. A server starts listening in the background
 * after it starts; a notification sent before its LISTEN is in place is missed until the next
 * maintenance (see the report), so this waits for the steady state: both servers listening.
 */
async function twoListeningServers(defer: Defer, database: string): Promise<[TestServer, TestServer]> {
  const servers = await Promise.all([0, 1].map(async () => {
    const server = await startTestServer({ store: database, clock: systemClock, maintenanceIntervalMs: 30_000 });
    defer(() => server.close());
    return server;
  }));
  await eventually(async () => (await listeners(database)) >= 2, 5000, "both servers to LISTEN", { intervalMs: 20 });
  return servers as [TestServer, TestServer];
}

test("an idle server wakes at once (LISTEN/NOTIFY) when another server makes a job ready", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await twoListeningServers(defer, database);
  const queue = uniqueName("wake");
  const stream = take(defer, b.url, queue);
  await stream.opened;
  const latencies: number[] = [];
  for (let n = 0; n < 5; n++) {
    const sent = Date.now();
    const job = await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: { n } });
    const received = await stream.next(3000);
    if (received?.id !== job.id) {
      const stored = await call<Job>(a.url, "GET", `/jobs/${job.id}`);
      assert.fail(`job ${n} enqueued through A did not reach the idle stream on B within 3 s (stored as ${stored.body.status}; ` +
        `stream ${stream.ended ? `ended: ${stream.error?.message ?? ""}` : "open"}; earlier latencies ${latencies.join(", ")} ms)`);
    }
    latencies.push(Date.now() - sent);
    const ack = await call(b.url, "POST", `/jobs/${job.id}/success`, { run_id: received.run_id });
    assert.equal(ack.status, 204, JSON.stringify(ack.body));
  }
  t.diagnostic(`enqueue-to-delivery latencies ${latencies.join(", ")} ms`);
});

test("a pause through server A holds on server B; resuming through A delivers at once to B's open stream", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await twoListeningServers(defer, database);
  const queue = uniqueName("paused");
  assert.equal((await call<{ settings: { paused: boolean } }>(a.url, "POST", `/queues/${queue}/pause`)).body.settings.paused, true);
  assert.equal((await call<{ settings: { paused: boolean } }>(b.url, "GET", `/queues/${queue}`)).body.settings.paused, true, "B reads the same settings");
  const stream = take(defer, b.url, queue);
  await stream.opened;
  const jobs = [await enqueueOne(b.url, { queue, type: JOB_TYPE, payload: 1 }), await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: 2 })];
  assert.equal(await stream.next(300), undefined, "nothing handed out by B while paused through A");
  const resumed = Date.now();
  await call(a.url, "POST", `/queues/${queue}/resume`);
  const first = await stream.next(3000);
  assert.ok(first && jobs.some(({ id }) => id === first.id), "a job of the resumed queue reached B's stream");
  t.diagnostic(`resume through A to delivery on B: ${Date.now() - resumed} ms`);
});

test("a cancel through server A of a job B's worker is running aborts the handler there, told through the lease notification", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await twoListeningServers(defer, database);
  const queue = uniqueName("cancel");
  const slow = runsUntilAborted();
  const worker = new Worker(connect(b.url), { queues: [queue], handlers: { slow: slow.handler } }).start();
  defer(() => worker.stop());
  const job = await enqueueOne(a.url, { queue, type: "slow", payload: null });
  await slow.started;
  const cancelled = await call<Job>(a.url, "POST", `/jobs/${job.id}/cancel`);
  assert.equal(cancelled.body.status, "dead", JSON.stringify(cancelled.body));
  await eventually(() => slow.aborted.length === 1, 3000, "B's worker to see its handler's signal abort");
  assert.deepEqual(slow.aborted, [job.id]);
});

/** What a sampled run saw at most: jobs in flight at once in one group (the queue, or one key), and handlers running at once in one. */
interface SampledRun {
  done: number;
  samples: number;
  mostInFlight: number;
  mostRunning: number;
}

/**
 * Four SDK workers with prefetch 10, two on each of two servers, run `total` jobs of a queue with
 * `settings` (each handler a few ms), while the jobs in flight are counted from the database
 * throughout: per group, as `groupColumn` groups them (a constant for the whole queue).
 */
async function sampledRun(t: TestContext, settings: Record<string, unknown>, total: number, groupOf: (n: number) => string, groupColumn: string): Promise<SampledRun> {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = await Promise.all([0, 1].map(() => inProcessServer(database, defer)));
  const queue = uniqueName("limited");
  await call(servers[0]!.url, "PATCH", `/queues/${queue}`, settings);
  const running = new Map<string, number>();
  const run: SampledRun = { done: 0, samples: 0, mostInFlight: 0, mostRunning: 0 };
  const workers = [0, 1, 2, 3].map((index) => new Worker(connect(servers[index % 2]!.url), {
    queues: [queue],
    concurrency: 10,
    prefetch: 10,
    handlers: {
      step: async (job) => {
        const group = (job.payload as { group: string }).group;
        running.set(group, (running.get(group) ?? 0) + 1);
        run.mostRunning = Math.max(run.mostRunning, running.get(group)!);
        await sleep(3);
        running.set(group, running.get(group)! - 1);
        run.done++;
      },
    },
  }).start());
  for (const worker of workers) defer(() => worker.stop());
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  defer(() => client.end());
  for (let n = 0; n < total; n += 50) {
    const jobs = Array.from({ length: 50 }, (_, k) => ({ queue, type: "step", payload: { group: groupOf(n + k) }, ...(groupColumn === "queue" ? {} : { concurrency_key: groupOf(n + k) }) }));
    const bulk = await call(servers[(n / 50) % 2]!.url, "POST", "/jobs/bulk", { jobs });
    assert.equal(bulk.status, 201, JSON.stringify(bulk.body));
  }
  const deadline = Date.now() + 60_000;
  while (run.done < total && Date.now() < deadline) {
    const { rows } = await client.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM jobs WHERE queue = $1 AND status = 'in_flight' GROUP BY ${groupColumn} ORDER BY 1 DESC LIMIT 1`, [queue]);
    run.mostInFlight = Math.max(run.mostInFlight, rows[0]?.count ?? 0);
    run.samples++;
  }
  t.diagnostic(`${run.done} of ${total} done; ${run.samples} samples; most in flight at once ${run.mostInFlight}, most handlers running ${run.mostRunning}`);
  assert.equal(run.done, total);
  return run;
}

test("max_in_flight 3 holds across two servers: four workers with prefetch 10 never have a fourth job in flight (sampled throughout)", async (t) => {
  const run = await sampledRun(t, { max_in_flight: 3 }, 150, () => "all", "queue");
  assert.ok(run.mostInFlight <= 3, `${run.mostInFlight} jobs in flight at once`);
  assert.ok(run.mostRunning <= 3, `${run.mostRunning} handlers running at once`);
  assert.equal(run.mostInFlight, 3, "the limit was reached, so the test could have seen a fourth");
});

test("concurrency_key 2 holds per key across two servers: four workers over 10 keys never run a third job of one key (sampled throughout)", async (t) => {
  const run = await sampledRun(t, { concurrency_key: { limit: 2 } }, 200, (n) => `t${Math.floor(n / 20)}`, "concurrency_key");
  assert.ok(run.mostInFlight <= 2, `${run.mostInFlight} jobs of one key in flight at once`);
  assert.ok(run.mostRunning <= 2, `${run.mostRunning} handlers of one key running at once`);
  assert.equal(run.mostInFlight, 2, "the limit was reached, so the test could have seen a third");
});

test("a slot of a limited queue freed through server A goes at once to B's waiting stream (a notification, not B's next maintenance tick)", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await twoListeningServers(defer, database);
  const queue = uniqueName("slot");
  await call(a.url, "PATCH", `/queues/${queue}`, { max_in_flight: 1 });
  await eventually(async () => (await call<{ settings: { max_in_flight?: number } }>(b.url, "GET", `/queues/${queue}`)).body.settings.max_in_flight === 1, 5000, "B to read the setting");
  const jobs = [await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: 1 }), await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: 2 })];
  const stream = take(defer, b.url, queue, 10);
  await stream.opened;
  const first = await stream.next(3000);
  assert.ok(first, "B's stream got the first job");
  assert.equal(await stream.next(300), undefined, "one in flight under max_in_flight 1");
  const acked = Date.now();
  assert.equal((await call(a.url, "POST", `/jobs/${first.id}/success`, { run_id: first.run_id })).status, 204);
  const second = await stream.next(3000);
  assert.equal(second?.id, jobs.find(({ id }) => id !== first.id)!.id, "the second job reached B well before its 30 s maintenance tick");
  t.diagnostic(`ack through A to delivery on B: ${Date.now() - acked} ms`);
});

test("rate_limit 10 per second holds across two servers on one clock: each second starts 10 in all, whichever server's stream takes them", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const clock = new ManualClock(Date.now());
  // No maintenance tick within the test: B learns of the rate A set through the settings notification.
  const servers = await Promise.all([0, 1].map(() => inProcessServer(database, defer, 60_000, clock)));
  const queue = uniqueName("rated");
  await call(servers[0]!.url, "PATCH", `/queues/${queue}`, { rate_limit: { limit: 10, interval_ms: 1000 } });
  const bulk = await call(servers[1]!.url, "POST", "/jobs/bulk", { jobs: Array.from({ length: 45 }, (_, n) => ({ queue, type: JOB_TYPE, payload: n })) });
  assert.equal(bulk.status, 201, JSON.stringify(bulk.body));
  // A's stream has room for two seconds' starts; B's then take the rest.
  const streams = servers.map((server, index) => take(defer, server.url, queue, index === 0 ? 20 : 100));
  await Promise.all(streams.map((stream) => stream.opened));
  const byServer = [0, 0];
  const startedInSecond = async (): Promise<number> => {
    let started = 0;
    for (;;) {
      const arrivals = await Promise.all(streams.map((stream) => stream.next(150)));
      if (arrivals.every((job) => job === undefined)) return started;
      arrivals.forEach((job, index) => {
        if (job) byServer[index]!++;
      });
      started += arrivals.filter(Boolean).length;
    }
  };
  const perSecond = [await startedInSecond()];
  for (let second = 1; second < 5; second++) {
    await clock.advance(1000);
    perSecond.push(await startedInSecond());
  }
  t.diagnostic(`started per second ${perSecond.join(", ")}; by server ${byServer.join(", ")}`);
  assert.deepEqual(perSecond, [10, 10, 10, 10, 5], "two open streams on two servers share one rate, not one each");
  assert.ok(byServer[1]! >= 25, "B took the starts once A's stream was full");
});

test("workers for different types on different servers each take only their own type, past a backlog of the other", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("types");
  const handled = new Map<string, string[]>([["a", []], ["b", []]]);
  const attempted: number[] = [];
  const errors: unknown[] = [];
  // 600 jobs of type b (at a better priority) ahead of 300 of type a, one type through each server.
  const enqueued = await Promise.all(servers.map(async (server, index) => {
    const client = connect(server.url, { format: "msgpack" });
    defer(() => client.close());
    const [type, count, priority] = index === 0 ? ["b", 600, 0] : ["a", 300, 10];
    const jobs = await client.enqueueBulk(Array.from({ length: count }, (_, n) => ({ queue, type, priority, payload: { n } })));
    return jobs.map((job) => job.id);
  }));
  const [bIds, aIds] = enqueued as [string[], string[]];
  const workers = servers.map((server, index) => {
    const type = index === 0 ? "a" : "b";
    const client = connect(server.url, { format: "msgpack" });
    const worker = new Worker(client, {
      queues: [queue],
      concurrency: 20,
      handlers: { [type]: (job) => {
        handled.get(type)!.push(job.id);
        attempted.push(job.attempts);
      } },
      onError: (error) => errors.push(error),
    });
    defer(async () => {
      await worker.stop();
      await client.close();
    });
    return worker;
  });
  workers[0]!.start();
  // Handled counts a job as its handler starts; its ack may still be on the way, so wait for the a jobs to be gone too.
  await eventually(async () => handled.get("a")!.length === 300 && (await countJobs(servers[1]!.url, "type=a")) === 0, 15_000, "server A's worker to run every a job past the b backlog");
  assert.equal(await countJobs(servers[1]!.url), 600, "every b job is still there");
  workers[1]!.start();
  await eventually(async () => (await countJobs(servers[1]!.url)) === 0, 15_000, "server B's worker to run every b job");
  assert.deepEqual([...handled.get("a")!].sort(), [...aIds].sort());
  assert.deepEqual([...handled.get("b")!].sort(), [...bIds].sort());
  assert.ok(attempted.every((attempts) => attempts === 0), "no job lost an attempt");
  assert.deepEqual(errors, []);
});

/** Long enough that a race does not straddle two windows. */
const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;

test("unique keys across servers: 30 concurrent enqueues with one key make exactly one job; throttled, one per window; debounced, one and one waiting ahead", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = await Promise.all([0, 1, 2].map(() => inProcessServer(database, defer)));
  const variants: Array<[string, Partial<EnqueueInput>, number]> = [
    ["by status", {}, 1],
    ["throttled", { throttle_ms: THIRTY_DAYS_MS }, 1],
    ["debounced", { debounce_ms: THIRTY_DAYS_MS }, 2],
  ];
  for (const [how, extra, jobs] of variants) {
    const queue = uniqueName("unique");
    const key = uniqueName("key");
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_call, n) =>
        call<EnqueuedBody>(servers[n % servers.length]!.url, "POST", "/jobs", { queue, type: JOB_TYPE, payload: { n }, unique_key: key, ...extra }),
      ),
    );
    const statuses = `${how}: ${replies.map((reply) => reply.status).join(",")}`;
    const created = replies.filter((reply) => reply.status === 201);
    const duplicates = replies.filter((reply) => reply.status === 200);
    assert.equal(created.length, jobs, statuses);
    assert.equal(duplicates.length, 30 - jobs, statuses);
    const ids = new Set(created.map((reply) => reply.body.id));
    for (const reply of duplicates) {
      assert.equal(reply.body.duplicate, true);
      assert.ok(ids.has(reply.body.id), `${how}: a duplicate answers a job that went in`);
    }
    for (const server of servers) assert.equal(await countJobs(server.url, `queue=${queue}`), jobs);
  }
});

test("leader failover: scheduled jobs are promoted after the leader is SIGKILLed", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const leader = await childServer(database, defer);
  // Let the first server become the leader before the second exists, so the kill below takes the leader away.
  await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
  const survivor = await childServer(database, defer);
  const queue = uniqueName("failover");
  const seen = tally(1);
  const lateness: number[] = [];
  const early: string[] = [];
  startWorker(defer, survivor.url, seen, 0, {
    queue,
    onJob: (job) => {
      const late = Date.now() - job.ready_at;
      if (late < 0) early.push(`${job.id} ${-late} ms early`);
      lateness.push(late);
    },
  });

  // Enqueued through the leader, so only the survivor's leader ticks (not a timer of its own) can promote them.
  const readyAt = Date.now() + 1500;
  const jobs = await Promise.all(Array.from({ length: 20 }, (_job, n) => enqueueOne(leader.url, { queue, type: JOB_TYPE, payload: { n }, ready_at: readyAt })));
  assert.ok(jobs.every((job) => job.status === "scheduled"), JSON.stringify(jobs.map((job) => job.status)));
  assert.ok(Date.now() < readyAt, "enqueueing took longer than the schedule allows; the kill would come too late");
  leader.kill("SIGKILL");
  assert.deepEqual(await leader.waitExit(5000), { code: null, signal: "SIGKILL" });

  await eventually(() => seen.counts.size >= jobs.length, 10_000, "every scheduled job delivered on the survivor", { intervalMs: 100, progress: () => `${seen.counts.size} of ${jobs.length}` });
  await eventually(async () => (await countJobs(survivor.url)) === 0, 5000, "the database empty", { intervalMs: 100 });
  t.diagnostic(`delivered ${Math.min(...lateness)}..${Math.max(...lateness)} ms after ready_at`);
  assert.deepEqual(early, [], "scheduled jobs delivered before their ready_at");
  assert.deepEqual([...seen.counts.keys()].sort(), jobs.map((job) => job.id).sort());
  assert.ok([...seen.counts.values()].every((times) => times === 1), "a scheduled job was delivered more than once");
  assert.ok(await leaderLockHeld(database), "the survivor holds the leader lock");
});

test("PostgreSQL restarts mid-run: servers answer 503 meanwhile, stay up, and lose no acknowledged enqueue", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const cluster = await startPostgres();
  defer(() => cluster.stop());
  const database = await createDatabase(cluster.url);
  const servers = await Promise.all([0, 1].map(() => childServer(database, defer, ["--lease-timeout", "2"])));
  const queue = uniqueName("restart");
  const seen = tally(2);
  servers.forEach((server, index) => startWorker(defer, server.url, seen, index, { queue, concurrency: 20 }));
  // A third, idle server whose maintenance never runs within the test: after the restart only a notification
  // (its LISTEN connection reopened) can bring it a job.
  const idle = await startTestServer({ store: database, clock: systemClock, maintenanceIntervalMs: 60_000 });
  defer(() => idle.close());
  const probeQueue = uniqueName("probe");
  const probe = take(defer, idle.url, probeQueue);
  await probe.opened;

  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  const broken: string[] = [];
  let acceptedSinceRestart = 0;
  let restarted = false;
  let producing = true;
  const producer = async (offset: number): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (let n = 0; producing && Date.now() < deadline; n++) {
      const server = servers[(n + offset) % servers.length]!;
      try {
        const reply = await call<Job>(server.url, "POST", "/jobs", { queue, type: JOB_TYPE, payload: { n }, backoff: ONE_SECOND_RETRY }, 20_000);
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        if (reply.status === 201) {
          accepted.push(reply.body.id);
          if (restarted) acceptedSinceRestart++;
        } else {
          await sleep(20);
        }
      } catch (error) {
        broken.push(`${server.url}: ${describeError(error)}`);
        await sleep(50);
      }
    }
  };
  const producers = [0, 1, 2].map((offset) => producer(offset));
  try {
    await eventually(() => accepted.length >= 300, 15_000, "enqueues before the restart", { intervalMs: 100, progress: () => `${accepted.length} accepted` });
    const before = accepted.length;
    await cluster.restart(1500);
    restarted = true;
    await eventually(() => acceptedSinceRestart >= 300, 20_000, "enqueues after the restart", { intervalMs: 100, progress: () => `${acceptedSinceRestart} accepted since` });
    t.diagnostic(`accepted ${before} before the restart, ${accepted.length} in all; statuses ${JSON.stringify([...statuses])}`);
  } finally {
    producing = false;
    await Promise.all(producers);
  }

  for (const server of servers) {
    assert.equal(server.child.exitCode, null, `server ${server.url} exited: ${JSON.stringify(server.output())}`);
    assert.equal(server.child.signalCode, null, `server ${server.url} was killed`);
    assert.equal((await call(server.url, "GET", "/health")).status, 200);
  }
  assert.deepEqual(broken, [], "requests failed without an HTTP answer (connection refused or reset)");
  assert.ok((statuses.get(503) ?? 0) > 0, `no 503 during the outage: ${JSON.stringify([...statuses])}`);
  assert.deepEqual([...statuses.keys()].filter((status) => status !== 201 && status !== 503), [], `statuses other than 201 and 503: ${JSON.stringify([...statuses])}`);

  await eventually(async () => accepted.every((id) => seen.counts.has(id)) && (await countJobs(servers[0]!.url)) === 0, 30_000, "every accepted job handled and the database empty", { intervalMs: 100, progress: () => `${accepted.filter((id) => !seen.counts.has(id)).length} of ${accepted.length} accepted jobs not handled yet` });
  await eventually(() => leaderLockHeld(database), 10_000, "a leader again after the restart", { intervalMs: 200 });
  const probeJob = await enqueueOne(servers[0]!.url, { queue: probeQueue, type: JOB_TYPE, payload: {} });
  const probed = await probe.next(5000);
  assert.equal(probed?.id, probeJob.id, "after the restart, a job enqueued through one server did not wake the idle server's stream");

  const workerErrors = seen.errors.flat().filter((error) => !(error instanceof WharfError && error.status === 503)).map(describeError);
  assert.deepEqual(workerErrors, [], "workers saw errors other than 503");
});

test("cron across a leader SIGKILL: every tick enqueued exactly once, none lost and none doubled", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const leader = await childServer(database, defer);
  await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
  const survivor = await childServer(database, defer);
  const queue = uniqueName("cron-failover");
  const everyTwoSeconds = { name: "tick", expression: "*/2 * * * * *", job: { queue, type: JOB_TYPE, payload: {} } };
  // Defined through both servers, as every replica of an application would at start: the same PUT twice changes nothing.
  for (const server of [survivor, leader]) assert.equal((await call(server.url, "PUT", "/crons/failover", { entries: [everyTwoSeconds] })).status, 200);
  const fired = (): Promise<number> => countJobs(survivor.url, `queue=${queue}`);
  await eventually(async () => (await fired()) >= 2, 10_000, "two ticks fired by the leader", { intervalMs: 50 });
  // Kill just after a tick, with the next one due within two seconds: the survivor must take over and fire it.
  const before = await fired();
  await eventually(async () => (await fired()) > before, 5000, "the next tick", { intervalMs: 20 });
  leader.kill("SIGKILL");
  assert.deepEqual(await leader.waitExit(5000), { code: null, signal: "SIGKILL" });
  const atKill = await fired();
  await eventually(async () => (await fired()) >= atKill + 3, 15_000, "three ticks fired by the survivor", { intervalMs: 100 });
  assert.equal((await call(survivor.url, "PATCH", "/crons/failover", { paused: true })).status, 200);
  await sleep(300); // a tick under way when the pause landed commits before or is fenced out
  const reply = await call<{ jobs: Job[] }>(survivor.url, "GET", `/jobs?queue=${queue}&limit=2000`);
  const ticks = reply.body.jobs.map((job) => job.ready_at).sort((a, b) => a - b);
  assert.equal(new Set(ticks).size, ticks.length, `a tick was enqueued twice: ${ticks.join(", ")}`);
  const gaps = ticks.slice(1).map((tick, index) => tick - ticks[index]!);
  assert.ok(gaps.every((gap) => gap === 2000), `ticks two seconds apart, none lost: ${gaps.join(", ")}`);
  assert.ok(await leaderLockHeld(database), "the survivor holds the leader lock");
});

test("batched jobs across servers: 1,000 concurrent folded enqueues on one key, with a worker taking meanwhile, lose no payload and fold none twice", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = [await childServer(database, defer), await childServer(database, defer)];
  const queue = uniqueName("batch");
  const batch = { key: uniqueName("key"), when: "($existing.ids | length) < 40", fold: "$existing | .ids += $new.ids" };
  const total = 1000;
  const stream = openTake(servers[0]!.url, { queue, prefetch: 1 });
  defer(() => stream.close());
  await stream.opened;
  const taken: number[][] = [];
  let enqueuing = true;
  const worker = (async () => {
    // Takes while the folds go on: each job as handed out must already hold every id folded into it.
    while (enqueuing) {
      const job = await stream.next(200);
      if (!job) continue;
      taken.push((job.payload as { ids: number[] }).ids);
      assert.equal((await call(servers[1]!.url, "POST", `/jobs/${job.id}/success`)).status, 204);
    }
  })();
  const replies = await Promise.all(
    Array.from({ length: total }, (_call, n) =>
      call<EnqueuedBody & { folded: boolean }>(servers[n % 2]!.url, "POST", "/jobs", { queue, type: JOB_TYPE, payload: { ids: [n] }, batch }, 60_000),
    ),
  );
  enqueuing = false;
  await worker;
  for (const reply of replies) assert.ok(reply.status === 200 || reply.status === 201, JSON.stringify(reply.body));
  const left = await api(servers[0]!.url, "GET", `/jobs?queue=${queue}&limit=2000`);
  const stored = (left.body.jobs as Job[]).map((job) => (job.payload as { ids: number[] }).ids);
  const ids = [...taken, ...stored].flat().sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: total }, (_value, n) => n), "every id exactly once, in a taken job or a stored one");
  assert.equal(replies.filter((reply) => reply.status === 201).length, taken.length + stored.length, "one 201 per job");
  assert.ok(taken.length > 0, "the worker took jobs while folds went on");
});

test("a 10,000-job DAG enqueued in one request runs in dependency order on two servers, each job once", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const servers = await Promise.all([0, 1].map(() => inProcessServer(database, defer)));
  const queue = uniqueName("dag");
  const size = 10_000;
  let seed = 3;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  // Random fan-in (0-3 dependencies on any earlier job) and so random fan-out.
  const wanted = Array.from({ length: size }, (_, position) =>
    position === 0 ? [] : [...new Set(Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * position)))]);
  const created = await call<{ jobs: Job[] }>(servers[0]!.url, "POST", "/jobs/bulk", {
    jobs: wanted.map((dependencies, position) => ({ queue, type: JOB_TYPE, payload: position, ...(dependencies.length > 0 ? { dependencies } : {}) })),
  }, 120_000);
  assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 500));
  const positionOf = new Map(created.body.jobs.map((job, position) => [job.id, position]));
  const completed = new Set<number>();
  const early: string[] = [];
  const runs = new Map<number, number>();
  for (const server of servers) {
    const worker = new Worker(connect(server.url), {
      queues: [queue],
      concurrency: 20,
      handlers: {
        [JOB_TYPE]: (job) => {
          const position = positionOf.get(job.id)!;
          runs.set(position, (runs.get(position) ?? 0) + 1);
          for (const dependency of wanted[position]!) if (!completed.has(dependency)) early.push(`${position} before ${dependency}`);
        },
      },
    });
    // A job counts as completed once its ack is in; the handler marks it after returning, as the worker acks in batches.
    worker.on("completed", (job) => void completed.add(positionOf.get(job.id)!));
    defer(() => worker.stop());
    worker.start();
  }
  await eventually(async () => (await countJobs(servers[1]!.url, `queue=${queue}`)) === 0, 120_000, "every job of the DAG done", { intervalMs: 200, progress: () => `${runs.size} of ${size} ran` });
  assert.equal(runs.size, size);
  assert.deepEqual([...runs].filter(([, times]) => times > 1), [], "each job ran once");
  assert.deepEqual(early.slice(0, 10), [], "no job started before its dependencies completed");
});

test("events: a stream on server B carries what happens through server A, once A hears that B watches", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("events");
  const watcher = connect(b.url);
  defer(() => watcher.close());
  const events = watcher.events({ queues: [queue] });
  defer(() => events.close());
  await events.opened;
  const kinds: string[] = [];
  const servers = new Set<string>();
  const progress: unknown[] = [];
  const reading = (async () => {
    for await (const event of events) {
      kinds.push(event.kind);
      servers.add(event.server);
      if (event.kind === "job.progress") progress.push(event.progress);
      if (event.kind === "job.completed") return;
    }
  })();
  // A learns that B watches from B's announcement, sent as the stream opens and every maintenance tick.
  await eventually(async () => {
    await enqueueOne(a.url, { queue, type: JOB_TYPE, payload: {} });
    return kinds.includes("job.enqueued");
  }, 5000, "an enqueue through A to reach B's stream");
  const taken = await take(defer, a.url, queue).nextJob(5000);
  // A progress past 2^53 crosses between servers with every digit.
  const beat = await api(a.url, "POST", `/jobs/${taken.id}/heartbeat`, { raw: `{"run_id":"${taken.run_id}","progress":12345678901234567890}`, headers: { "content-type": "application/json" } });
  assert.equal(beat.status, 200, JSON.stringify(beat.body));
  const acked = await call(a.url, "POST", `/jobs/${taken.id}/success`, { run_id: taken.run_id });
  assert.equal(acked.status, 204, JSON.stringify(acked.body));
  await reading;
  assert.deepEqual(progress, [12345678901234567890n]);
  assert.ok(kinds.includes("job.taken"), kinds.join(", "));
  assert.equal(kinds.at(-1), "job.completed");
  assert.equal(servers.size, 1, "every event was made on A");
});

test("workers: GET /workers on server B lists the take streams open on server A, until they close", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const [a, b] = await Promise.all([inProcessServer(database, defer), inProcessServer(database, defer)]);
  const queue = uniqueName("registry");
  const stream = openTake(a.url, { queue, workerId: `on-a-${queue}`, prefetch: 3 });
  defer(() => stream.close());
  await stream.opened;
  const listed = await eventually(async () => {
    const { body } = await call<{ workers: Array<{ worker_id: string; queues: string[]; prefetch: number; server: string }> }>(b.url, "GET", "/workers");
    return body.workers.find((worker) => worker.worker_id === `on-a-${queue}`);
  }, 5000, "A's stream in B's list");
  assert.deepEqual([listed.queues, listed.prefetch], [[queue], 3]);
  const { body: fromA } = await call<{ workers: Array<{ worker_id: string; server: string }> }>(a.url, "GET", "/workers");
  assert.equal(fromA.workers.filter((worker) => worker.worker_id === `on-a-${queue}`).length, 1, "listed once on A, not also from its own published copy");
  assert.equal(fromA.workers.find((worker) => worker.worker_id === `on-a-${queue}`)!.server, listed.server);
  stream.close();
  await eventually(async () => {
    const { body } = await call<{ workers: Array<{ worker_id: string }> }>(b.url, "GET", "/workers");
    return !body.workers.some((worker) => worker.worker_id === `on-a-${queue}`);
  }, 5000, "the closed stream to leave B's list");
});
