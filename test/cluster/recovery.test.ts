/**
 * Prompt recovery on PostgreSQL: the jobs a SIGKILLed `wharf serve` had leased are ready again within
 * seconds (its liveness lock went with its session), not after their lease (300 s by default), and
 * without counting an attempt; whether the dead server led or not, and when it is the only server
 * and comes back. Real processes and PostgreSQL; each test gets a database of its own.
 *
 * Runs inside test/postgres-env.ts (WHARF_TEST_POSTGRES_URL); standalone it starts a cluster of its own.
 */
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import pg from "pg";
import type { Job } from "../../src/index.js";
import { LEADER_LOCK } from "../../src/store/postgres/sql.js";
import { cleanupsKillingChildren, killAllChildren, spawnServer, type Defer, type SpawnedServer } from "../helpers/cli.js";
import { postgresClusterUrl } from "../store/stores.js";
import { enqueueBulk } from "../helpers/jobs.js";
import { createDatabase } from "../helpers/postgres.js";
import { eventually, tempDir, uniqueName } from "../helpers/server.js";
import { openTake, type RawTakeStream } from "../helpers/take.js";

/** What the issue asks for: a dead server's jobs are ready again within this long. */
const RECOVERY_LIMIT_MS = 5000;
const JOBS = 20;
/** liveness.ts: nobody counts as gone while PostgreSQL itself has just started (every server reconnecting). */
const RESTART_GRACE_MS = 5000;

after(() => killAllChildren());

async function query<R extends Record<string, unknown>>(database: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh database on a cluster that has been up long enough for a gone server to count as gone. */
async function freshDatabase(): Promise<string> {
  const database = await createDatabase(await postgresClusterUrl());
  const [row] = await query<{ uptime_ms: number }>(database, "SELECT (extract(epoch FROM now() - pg_postmaster_start_time()) * 1000)::float8 AS uptime_ms");
  const wait = RESTART_GRACE_MS + 200 - row!.uptime_ms;
  if (wait > 0) await sleep(wait);
  return database;
}

/** `wharf serve --store DATABASE`, with the default lease (300 s): an expired lease cannot be what brings the jobs back. */
async function childServer(database: string, defer: Defer): Promise<SpawnedServer> {
  const dataDir = tempDir("wharf-recovery-");
  defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir, extraArgs: ["--store", database] });
  defer(() => server.stop());
  return server;
}

/** Whether some server holds the leader lock. */
async function leaderLockHeld(database: string): Promise<boolean> {
  const key = BigInt(LEADER_LOCK);
  const rows = await query(
    database,
    `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
    [String(key >> 32n), String(key & 0xffffffffn)],
  );
  return rows.length > 0;
}

function take(defer: Defer, url: string, queue: string): RawTakeStream {
  const stream = openTake(url, { queue, prefetch: JOBS });
  defer(() => stream.close());
  return stream;
}

/** Waits for `count` jobs on the stream. */
async function receive(stream: RawTakeStream, count: number, timeoutMs: number): Promise<Job[]> {
  await eventually(() => stream.received.length >= count, timeoutMs, `${count} jobs on the take stream`, { progress: () => `${stream.received.length} received` });
  return stream.received.slice(0, count);
}

/** Enqueues JOBS jobs through `url` and takes every one of them on a stream there; returns them as leased. */
async function leaseAll(defer: Defer, url: string, queue: string): Promise<{ stream: RawTakeStream; leased: Job[] }> {
  await enqueueBulk(url, Array.from({ length: JOBS }, (_, n) => ({ queue, type: "recovery", payload: { n } })));
  const stream = take(defer, url, queue);
  const leased = await receive(stream, JOBS, 10_000);
  return { stream, leased };
}

/** The jobs came back whole: same ids, a new run each, and no attempt counted. */
function assertGivenBack(leased: Job[], again: Job[]): void {
  const before = new Map(leased.map((job) => [job.id, job]));
  assert.deepEqual(again.map((job) => job.id).sort(), [...before.keys()].sort());
  for (const job of again) {
    const earlier = before.get(job.id)!;
    assert.equal(job.attempts, earlier.attempts, `job ${job.id}: a rescue gives the job back without counting an attempt`);
    assert.notEqual(job.run_id, earlier.run_id, `job ${job.id} is leased in a new run`);
  }
}

async function killHard(server: SpawnedServer): Promise<number> {
  server.kill("SIGKILL");
  assert.deepEqual(await server.waitExit(5000), { code: null, signal: "SIGKILL" });
  return Date.now();
}

for (const victimLeads of [false, true]) {
  test(`a SIGKILLed server's leased jobs are taken from another server within 5 s, attempts unchanged (the dead server ${victimLeads ? "led" : "did not lead"})`, async (t) => {
    const defer = cleanupsKillingChildren(t);
    const database = await freshDatabase();
    // The first server takes the leader lock before the second starts.
    const first = await childServer(database, defer);
    await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
    const second = await childServer(database, defer);
    const [victim, survivor] = victimLeads ? [first, second] : [second, first];
    const queue = uniqueName("recover");
    const { leased } = await leaseAll(defer, victim.url, queue);
    const onSurvivor = take(defer, survivor.url, queue);
    await onSurvivor.opened;
    assert.equal(onSurvivor.received.length, 0, "every job is leased to the victim's stream");

    const killedAt = await killHard(victim);
    const again = await receive(onSurvivor, JOBS, RECOVERY_LIMIT_MS + 5000);
    const recoveredMs = Date.now() - killedAt;
    t.diagnostic(`jobs of the killed server taken from the survivor ${recoveredMs} ms after the kill`);
    assert.ok(recoveredMs < RECOVERY_LIMIT_MS, `recovery took ${recoveredMs} ms`);
    assertGivenBack(leased, again);
    const [row] = await query<{ in_flight: number }>(database, "SELECT count(*)::int AS in_flight FROM jobs WHERE status = 'in_flight' AND owner LIKE '%:' || $1::text || ':%'", [String(victim.child.pid)]);
    assert.equal(row!.in_flight, 0, "nothing is left leased to the dead server");
  });
}

test("a single server SIGKILLed and started again on PostgreSQL: its old leases are taken at once, attempts unchanged", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const before = await childServer(database, defer);
  const queue = uniqueName("restart");
  const { leased } = await leaseAll(defer, before.url, queue);
  await killHard(before);

  const after = await childServer(database, defer);
  const startedAt = Date.now();
  const again = await receive(take(defer, after.url, queue), JOBS, RECOVERY_LIMIT_MS + 5000);
  const recoveredMs = Date.now() - startedAt;
  t.diagnostic(`old leases taken ${recoveredMs} ms after the new server was listening`);
  assert.ok(recoveredMs < RECOVERY_LIMIT_MS, `recovery took ${recoveredMs} ms`);
  assertGivenBack(leased, again);
});

test("servers whose liveness sessions PostgreSQL ends take their locks again at once and keep their leases", async (t) => {
  const defer = cleanupsKillingChildren(t);
  const database = await freshDatabase();
  const leader = await childServer(database, defer);
  await eventually(() => leaderLockHeld(database), 10_000, "the first server to take the leader lock", { intervalMs: 50 });
  const holder = await childServer(database, defer);
  const queue = uniqueName("blip");
  const { stream, leased } = await leaseAll(defer, holder.url, queue);
  const livenessSessions = async (): Promise<number[]> =>
    (await query<{ pid: number }>(database, "SELECT pid FROM pg_stat_activity WHERE application_name = 'wharf-liveness' AND datname = current_database()"))
      .map(({ pid }) => pid);
  const ended = await livenessSessions();
  assert.ok(ended.length >= 1, "the holder has a liveness session");
  await query(database, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [ended]);
  await eventually(async () => (await livenessSessions()).filter((pid) => !ended.includes(pid)).length >= ended.length, 5000, "new liveness sessions", { intervalMs: 20 });
  // Well past the grace, over several of the leader's maintenance ticks: it must not have given them back.
  await sleep(3000);
  const rows = await query<{ id: string; run_id: string }>(database, "SELECT id, run_id FROM jobs WHERE status = 'in_flight'");
  assert.deepEqual(new Map(rows.map((row) => [row.id, row.run_id])), new Map(leased.map((job) => [job.id, job.run_id!])), "every lease is still the first one");
  assert.equal(stream.received.length, JOBS, "no job was handed out again");
  assert.equal(leader.child.exitCode, null);
});
