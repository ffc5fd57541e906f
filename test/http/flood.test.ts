/**
 * One client cannot take the server down with a flood: enqueues at full speed from several keep-alive
 * connections for 30 s against `wharf serve` in a process of its own, whose resident memory
 * (/proc/PID/status VmRSS) stays within a budget while /health keeps answering. Every enqueue is
 * answered (201): nothing is queued up in memory ahead of the store, nothing refused.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { after, before, test } from "node:test";
import { HealthWatch, spawnWatchedServer, type WatchedServer } from "../helpers/health-watch.js";
import { uniqueName } from "../helpers/server.js";

const FLOOD_MS = 30_000;
/** Bounds the run by count as well as by time, on a machine far faster than this one. */
const MAX_ENQUEUES = 2_000_000;
const CONNECTIONS = 8;
/** Each job's payload: a kilobyte, so that keeping every request (or job) in memory shows at once. */
const PAYLOAD = { text: "x".repeat(1000) };
const MIB = 1024 * 1024;
/**
 * What the server may grow by, whatever the run's length: the SQLite page cache it fills as the file
 * grows (cache_size 64 MiB, src/store/sqlite/sqlite-store.ts), plus heap and allocator slack.
 */
const FIXED_BUDGET_BYTES = (64 + 64) * MIB;
/**
 * And per job enqueued: the in-memory ready index holds an entry per ready job (tens of bytes). Keeping
 * each request's body, or each job, would cost more than a kilobyte a job and blow the budget.
 */
const BUDGET_PER_JOB_BYTES = 256;
/** /health answers within this even while the flood runs. */
const HEALTH_BUDGET_MS = 1000;

let watched: WatchedServer;

before(async () => {
  watched = await spawnWatchedServer("wharf-flood-", []);
});

after(() => watched.stop());

function residentBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  assert.ok(kib !== undefined, `no VmRSS in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

/** One enqueue on the agent's keep-alive connections: its status. */
function enqueue(agent: http.Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: "/jobs", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    request.on("error", reject);
    request.end(body);
  });
}

test(`a flood of enqueues for ${FLOOD_MS / 1000} s from ${CONNECTIONS} keep-alive connections: memory stays within its budget and /health answers`, { timeout: FLOOD_MS + 30_000 }, async (t) => {
  const server = watched.server;
  const pid = server.child.pid!;
  const url = new URL(server.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  t.after(() => agent.destroy());
  const body = JSON.stringify({ queue: uniqueName("flood"), type: "flood", payload: PAYLOAD });
  const statuses = new Map<number, number>();
  let sent = 0;

  const before = residentBytes(pid);
  const samples: Array<{ at: number; bytes: number; sent: number }> = [];
  const started = Date.now();
  const sampler = setInterval(() => samples.push({ at: Date.now() - started, bytes: residentBytes(pid), sent }), 250);
  const health = new HealthWatch(server.url);
  const end = started + FLOOD_MS;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < end && sent < MAX_ENQUEUES) {
      sent++;
      const status = await enqueue(agent, url, body);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }));
  clearInterval(sampler);
  const { max: slowestHealthMs, failures } = await health.stop();
  samples.push({ at: Date.now() - started, bytes: residentBytes(pid), sent });

  const peak = Math.max(...samples.map((sample) => sample.bytes));
  const budget = FIXED_BUDGET_BYTES + sent * BUDGET_PER_JOB_BYTES;
  const half = samples.filter((sample) => sample.at <= FLOOD_MS / 2).at(-1)!;
  const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
  t.diagnostic(`${sent} enqueues in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS ${mib(before)} before, ${mib(half.bytes)} at half time (${half.sent} sent), ${mib(peak)} at most; budget for growth ${mib(budget)}`);
  t.diagnostic(`slowest /health ${slowestHealthMs.toFixed(1)} ms (idle ${watched.idleMaxMs.toFixed(1)} ms), ${failures} failures`);

  assert.deepEqual([...statuses.keys()], [201], `every enqueue is answered 201: ${JSON.stringify([...statuses])}`);
  assert.ok(sent > 10_000, `only ${sent} enqueues in ${FLOOD_MS} ms: not a flood`);
  assert.ok(peak - before <= budget, `RSS grew by ${mib(peak - before)}, over the ${mib(budget)} budget for ${sent} enqueues`);
  assert.equal(failures, 0, "/health failed during the flood");
  assert.ok(slowestHealthMs <= HEALTH_BUDGET_MS, `slowest /health took ${slowestHealthMs.toFixed(1)} ms`);
});
