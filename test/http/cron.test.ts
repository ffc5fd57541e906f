/**
 * Cron groups through the HTTP API (Zizq's /crons), on a ManualClock: the routes and their answers,
 * validation, ticks and what they enqueue, pausing, idempotent PUTs, daylight saving, downtime and
 * the grace window. Runs on SQLite and again on PostgreSQL (test/run-all.sh).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../../src/engine/clock.js";
import type { Job } from "../../src/job/types.js";
import { assertError, assertStatus, listJobs } from "../helpers/jobs.js";
import { msgpackBytes, wire } from "../helpers/msgpack-bytes.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Maintenance rounds once an hour of clock time, so advancing the clock by days stays quick: the cron service keeps its own timer. */
const SLOW_MAINTENANCE = { maintenanceIntervalMs: HOUR };

let h: TestServer;

before(async () => {
  h = await startTestServer(SLOW_MAINTENANCE);
});

after(async () => {
  await h.close();
});

type Entry = Record<string, unknown>;

function entry(name: string, expression: string, queue: string, extra: Entry = {}): Entry {
  return { name, expression, job: { queue, type: "cron.job", payload: { from: name } }, ...extra };
}

async function putGroup(url: string, group: string, entries: Entry[], extra: Entry = {}) {
  const result = await api(url, "PUT", `/crons/${group}`, { body: { entries, ...extra } });
  assertStatus(result, 200, `PUT /crons/${group}`);
  return result.body;
}

async function jobsOf(url: string, queue: string): Promise<Job[]> {
  return (await listJobs(url, `queue=${queue}&limit=2000`)).sort((a, b) => a.ready_at - b.ready_at);
}

/** A server whose clock starts at `start`, on a store of its own. */
async function serverAt(start: number): Promise<TestServer> {
  return startTestServer({ ...SLOW_MAINTENANCE, clock: new ManualClock(start) });
}

describe("cron routes", () => {
  test("PUT defines a group; GET lists and reads it and its entries; next_enqueue_at is the next tick", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const now = h.clock.now();
    const body = await putGroup(h.url, group, [
      entry("often", "*/15 * * * * *", queue),
      { ...entry("daily", "0 6 * * *", queue, { timezone: "Europe/Rome" }), job: { queue, type: "report", priority: 1000, payload: { incremental: true }, unique_key: "daily-report" } },
    ]);
    assert.equal(body.name, group);
    assert.equal(body.paused, false);
    assert.deepEqual(body.entries.map((e: Entry) => e.name), ["often", "daily"]);
    const [often, daily] = body.entries;
    assert.equal(often.paused, false);
    assert.equal(often.job.priority, 32768, "the default priority is shown");
    assert.ok(often.next_enqueue_at > now && often.next_enqueue_at <= now + 15 * SECOND && often.next_enqueue_at % (15 * SECOND) === 0);
    assert.equal(often.last_enqueue_at, undefined);
    assert.deepEqual(daily.job, { queue, type: "report", priority: 1000, payload: { incremental: true }, unique_key: "daily-report", unique_while: "queued" });
    assert.equal(daily.timezone, "Europe/Rome");
    const hourInRome = Number(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Rome", hour: "numeric", hourCycle: "h23" }).format(daily.next_enqueue_at));
    assert.equal(hourInRome, 6);

    const list = await api(h.url, "GET", "/crons");
    assertStatus(list, 200);
    assert.ok(list.body.crons.includes(group));
    assert.deepEqual([...list.body.crons].sort(), list.body.crons, "names are sorted");
    const read = await api(h.url, "GET", `/crons/${group}`);
    assertStatus(read, 200);
    assert.deepEqual(read.body, body);
    const one = await api(h.url, "GET", `/crons/${group}/entries/daily`);
    assertStatus(one, 200);
    assert.deepEqual(one.body, daily);
  });

  test("unknown groups and entries are 404; DELETE of an entry, a group and all groups", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    assertError(await api(h.url, "GET", `/crons/${group}`), 404);
    assertError(await api(h.url, "PATCH", `/crons/${group}`, { body: { paused: true } }), 404);
    assertError(await api(h.url, "DELETE", `/crons/${group}`), 404);
    assertError(await api(h.url, "GET", `/crons/${group}/entries/x`), 404);
    assertError(await api(h.url, "PATCH", `/crons/${group}/entries/x`, { body: { paused: true } }), 404);
    assertError(await api(h.url, "DELETE", `/crons/${group}/entries/x`), 404);
    await putGroup(h.url, group, [entry("a", "* * * * *", queue), entry("b", "* * * * *", queue)]);
    assertError(await api(h.url, "GET", `/crons/${group}/entries/x`), 404);
    assertStatus(await api(h.url, "DELETE", `/crons/${group}/entries/a`), 204);
    assertError(await api(h.url, "DELETE", `/crons/${group}/entries/a`), 404);
    assert.deepEqual((await api(h.url, "GET", `/crons/${group}`)).body.entries.map((e: Entry) => e.name), ["b"]);
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
    assertError(await api(h.url, "GET", `/crons/${group}`), 404);
    assert.ok(!(await api(h.url, "GET", "/crons")).body.crons.includes(group));
  });

  test("DELETE /crons removes every group and says how many; POST /reset clears groups too", async () => {
    const server = await startTestServer(SLOW_MAINTENANCE);
    try {
      const queue = uniqueName();
      await putGroup(server.url, "one", [entry("a", "* * * * *", queue)]);
      await putGroup(server.url, "two", [entry("a", "* * * * *", queue)]);
      const deleted = await api(server.url, "DELETE", "/crons");
      assertStatus(deleted, 200);
      assert.deepEqual(deleted.body, { deleted: 2 });
      assert.deepEqual((await api(server.url, "GET", "/crons")).body, { crons: [] });
      await putGroup(server.url, "three", [entry("a", "* * * * * *", queue)]);
      assertStatus(await api(server.url, "POST", "/reset"), 204);
      assert.deepEqual((await api(server.url, "GET", "/crons")).body, { crons: [] });
      await server.clock.advance(5 * SECOND);
      assert.equal((await jobsOf(server.url, queue)).length, 0, "a reset group no longer fires");
    } finally {
      await server.close();
    }
  });

  test("PUT of one entry creates its group; POST adds an entry and is 409 when it exists", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const put = await api(h.url, "PUT", `/crons/${group}/entries/first`, { body: entry("first", "0 * * * *", queue) });
    assertStatus(put, 200);
    assert.equal(put.body.name, "first");
    assert.equal(put.body.expression, "0 * * * *");
    const added = await api(h.url, "POST", `/crons/${group}/entries`, { body: entry("second", "30 * * * *", queue) });
    assertStatus(added, 201);
    assert.equal(added.body.name, "second");
    assertError(await api(h.url, "POST", `/crons/${group}/entries`, { body: entry("second", "45 * * * *", queue) }), 409);
    assert.equal((await api(h.url, "GET", `/crons/${group}/entries/second`)).body.expression, "30 * * * *", "the 409 changed nothing");
    assertError(await api(h.url, "PUT", `/crons/${group}/entries/other`, { body: entry("first", "0 * * * *", queue) }), 400);
    assert.deepEqual((await api(h.url, "GET", `/crons/${group}`)).body.entries.map((e: Entry) => e.name), ["first", "second"]);
  });

  test("bad definitions are 400 with an error naming the field, and store nothing", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const job = { queue, type: "t", payload: {} };
    const bad: Array<[string, unknown]> = [
      ["expression not cron", { entries: [{ name: "a", expression: "every day", job }] }],
      ["seven fields", { entries: [{ name: "a", expression: "0 0 0 * * * 2027", job }] }],
      ["out of range", { entries: [{ name: "a", expression: "61 * * * *", job }] }],
      ["never fires", { entries: [{ name: "a", expression: "0 0 30 2 *", job }] }],
      ["unknown time zone", { entries: [{ name: "a", expression: "* * * * *", timezone: "Mars/Olympus", job }] }],
      ["no job", { entries: [{ name: "a", expression: "* * * * *" }] }],
      ["job without queue", { entries: [{ name: "a", expression: "* * * * *", job: { type: "t", payload: {} } }] }],
      ["job with ready_at", { entries: [{ name: "a", expression: "* * * * *", job: { ...job, ready_at: 5 } }] }],
      ["job with batch", { entries: [{ name: "a", expression: "* * * * *", job: { ...job, batch: { key: "k", when: "true", fold: "." } } }] }],
      ["bad job priority", { entries: [{ name: "a", expression: "* * * * *", job: { ...job, priority: 70000 } }] }],
      ["no name", { entries: [{ expression: "* * * * *", job }] }],
      ["empty name", { entries: [{ name: "", expression: "* * * * *", job }] }],
      ["name twice", { entries: [{ name: "a", expression: "* * * * *", job }, { name: "a", expression: "0 * * * *", job }] }],
      ["unknown entry field", { entries: [{ name: "a", expression: "* * * * *", job, color: "red" }] }],
      ["unknown group field", { entries: [], color: "red" }],
      ["paused not boolean", { entries: [], paused: "yes" }],
      ["negative grace", { entries: [{ name: "a", expression: "* * * * *", job, grace_ms: -1 }] }],
      ["entries not an array", { entries: {} }],
    ];
    for (const [what, body] of bad) assertError(await api(h.url, "PUT", `/crons/${group}`, { body }), 400, what);
    assertError(await api(h.url, "PUT", `/crons/${group}`, { raw: "{not json", headers: { "content-type": "application/json" } }), 400, "malformed JSON");
    assertError(await api(h.url, "GET", `/crons/${group}`), 404, "nothing was stored");
    await putGroup(h.url, group, [entry("a", "* * * * *", queue)]);
    assertError(await api(h.url, "PATCH", `/crons/${group}`, { body: { paused: 1 } }), 400, "PATCH paused: 1");
    assertError(await api(h.url, "PATCH", `/crons/${group}`, { body: {} }), 400, "PATCH without paused");
    assertError(await api(h.url, "PATCH", `/crons/${group}/entries/a`, { body: { paused: true, expression: "0 * * * *" } }), 400, "PATCH of an expression");
    assertError(await api(h.url, "POST", `/crons/${group}`), 405, "POST on a group");
    for (const path of ["/crons/%00", "/crons/a%00b/entries/x", `/crons/${group}/entries/%00`, `/crons/${"n".repeat(300)}`]) {
      assertError(await api(h.url, "GET", path), 404, `GET ${path.slice(0, 40)}`);
      assertError(await api(h.url, "DELETE", path), 404, `DELETE ${path.slice(0, 40)}`);
    }
    assertError(await api(h.url, "PUT", "/crons/a%00b", { body: { entries: [] } }), 400, "PUT of a group named with NUL");
    const many = Array.from({ length: 1001 }, (_, n) => ({ name: `e${n}`, expression: "0 0 * * *", job }));
    assertError(await api(h.url, "PUT", `/crons/${group}`, { body: { entries: many } }), 400, "1001 entries");
  });
});

describe("cron ticks", () => {
  test("each tick enqueues its entry's job once, ready at the tick, carrying the whole job template", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const template = {
      queue, type: "tick", priority: 7, payload: { z: 1, a: [true, null, "ünï"] }, retry_limit: 3,
      backoff: { base_ms: 100, exponent: 2, jitter_ms: 0 }, retention: { completed_ms: 5000 }, timeout: 12,
    };
    const body = await putGroup(h.url, group, [{ name: "tick", expression: "* * * * * *", job: template }]);
    const first = body.entries[0].next_enqueue_at as number;
    await h.clock.advance(first - h.clock.now() + 2 * SECOND);
    const jobs = await jobsOf(h.url, queue);
    assert.deepEqual(jobs.map((job) => job.ready_at), [first, first + SECOND, first + 2 * SECOND]);
    for (const job of jobs) {
      assert.equal(job.status, "ready");
      assert.deepEqual(
        { queue: job.queue, type: job.type, priority: job.priority, payload: job.payload, retry_limit: job.retry_limit, backoff: job.backoff, retention: job.retention, timeout: job.timeout },
        template,
      );
    }
    const state = (await api(h.url, "GET", `/crons/${group}/entries/tick`)).body;
    assert.equal(state.last_enqueue_at, first + 2 * SECOND);
    assert.equal(state.next_enqueue_at, first + 3 * SECOND);
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });

  test("a tick's job takes its queue's defaults and key expression as an enqueue does; one the expression cannot key goes in unkeyed", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    assertStatus(await api(h.url, "PATCH", `/queues/${queue}`, { body: { retry_limit: 9, concurrency_key: { limit: 1, key: ".tenant" } } }), 200);
    const body = await putGroup(h.url, group, [
      { name: "keyed", expression: "* * * * * *", job: { queue, type: "t", payload: { tenant: "acme" } } },
      { name: "unkeyable", expression: "* * * * * *", job: { queue, type: "t", payload: "text" } },
    ]);
    await h.clock.advance(body.entries[0].next_enqueue_at - h.clock.now());
    const jobs = await jobsOf(h.url, queue);
    const byPayload = new Map(jobs.map((job) => [JSON.stringify(job.payload), [job.concurrency_key ?? null, job.retry_limit]]));
    assert.deepEqual(Object.fromEntries(byPayload), { '{"tenant":"acme"}': ["acme", 9], '"text"': [null, 9] });
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
    assertStatus(await api(h.url, "PATCH", `/queues/${queue}`, { body: { retry_limit: null, concurrency_key: null } }), 200);
  });

  test("max_entries holds for ticks: a full reject queue skips the tick (other queues' jobs go in, the group moves on); discard_oldest makes room", async () => {
    const group = uniqueName();
    const [rejecting, discarding, open] = [uniqueName("reject"), uniqueName("discard"), uniqueName("open")];
    assertStatus(await api(h.url, "PATCH", `/queues/${rejecting}`, { body: { max_entries: 2 } }), 200);
    assertStatus(await api(h.url, "PATCH", `/queues/${discarding}`, { body: { max_entries: 2, on_full: "discard_oldest" } }), 200);
    const body = await putGroup(h.url, group, [entry("r", "* * * * * *", rejecting), entry("d", "* * * * * *", discarding), entry("o", "* * * * * *", open)]);
    await h.clock.advance(body.entries[0].next_enqueue_at - h.clock.now() + 4 * SECOND);
    const statuses = async (queue: string): Promise<string[]> => (await jobsOf(h.url, queue)).map(({ status }) => status).sort();
    assert.deepEqual(await statuses(rejecting), ["ready", "ready"], "ticks past the cap were skipped");
    assert.deepEqual(await statuses(discarding), ["dead", "dead", "dead", "ready", "ready"], "the oldest died for the newest");
    assert.equal((await jobsOf(h.url, open)).length, 5, "the full queue's refusal kept no other queue's job out");
    assert.ok((await api(h.url, "GET", `/crons/${group}/entries/r`)).body.next_enqueue_at > h.clock.now(), "the group moved on");
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
    for (const queue of [rejecting, discarding]) assertStatus(await api(h.url, "PATCH", `/queues/${queue}`, { body: { max_entries: null, on_full: null } }), 200);
  });

  test("a unique_key in the template lets one job in while the last one is queued", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const body = await putGroup(h.url, group, [{ name: "u", expression: "* * * * * *", job: { queue, type: "t", payload: {}, unique_key: uniqueName() } }]);
    await h.clock.advance(body.entries[0].next_enqueue_at - h.clock.now() + 3 * SECOND);
    assert.equal((await jobsOf(h.url, queue)).length, 1);
    assert.ok((await api(h.url, "GET", `/crons/${group}/entries/u`)).body.next_enqueue_at > h.clock.now(), "ticks still move on");
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });

  test("a paused group or entry enqueues nothing while time moves on; resuming fires the next tick", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    await putGroup(h.url, group, [entry("a", "* * * * * *", queue), entry("b", "* * * * * *", queue, { paused: true })]);
    const pausedAt = h.clock.now();
    const paused = await api(h.url, "PATCH", `/crons/${group}`, { body: { paused: true } });
    assertStatus(paused, 200);
    assert.equal(paused.body.paused, true);
    assert.equal(paused.body.paused_at, pausedAt);
    assert.equal(paused.body.entries[1].paused, true);
    await h.clock.advance(5 * SECOND);
    assert.equal((await jobsOf(h.url, queue)).length, 0);
    const moved = (await api(h.url, "GET", `/crons/${group}`)).body;
    assert.ok(moved.entries[0].next_enqueue_at > h.clock.now(), "a paused group's ticks still advance");
    const resumedAt = h.clock.now();
    const resumed = await api(h.url, "PATCH", `/crons/${group}`, { body: { paused: false } });
    assert.equal(resumed.body.paused, false);
    assert.equal(resumed.body.paused_at, pausedAt);
    assert.equal(resumed.body.resumed_at, resumedAt);
    await h.clock.advance(2 * SECOND);
    const jobs = await jobsOf(h.url, queue);
    assert.equal(jobs.length, 2, "entry a fired twice after the resume; entry b stays paused");
    assert.ok(jobs.every((job) => (job.payload as { from: string }).from === "a" && job.ready_at > resumedAt));
    const entryResumed = await api(h.url, "PATCH", `/crons/${group}/entries/b`, { body: { paused: false } });
    assertStatus(entryResumed, 200);
    assert.equal(entryResumed.body.paused, false);
    assert.equal(entryResumed.body.resumed_at, h.clock.now());
    await h.clock.advance(SECOND);
    assert.ok((await jobsOf(h.url, queue)).some((job) => (job.payload as { from: string }).from === "b"));
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });

  test("an idempotent PUT keeps the schedule state of unchanged entries; a changed entry starts over", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const entries = [entry("keep", "*/10 * * * * *", queue), entry("change", "*/10 * * * * *", queue)];
    const body = await putGroup(h.url, group, entries);
    await h.clock.advance(body.entries[0].next_enqueue_at - h.clock.now() + SECOND);
    const fired = (await api(h.url, "GET", `/crons/${group}`)).body;
    assert.ok(fired.entries.every((e: Entry) => e.last_enqueue_at !== undefined));
    const again = await putGroup(h.url, group, entries);
    assert.deepEqual(again, fired, "the same PUT changes nothing");
    const changed = await putGroup(h.url, group, [entries[0]!, entry("change", "*/20 * * * * *", queue), entry("new", "0 0 * * *", queue)]);
    assert.deepEqual(changed.entries[0], fired.entries[0]);
    assert.equal(changed.entries[1].expression, "*/20 * * * * *");
    assert.equal(changed.entries[1].last_enqueue_at, undefined, "a replaced entry has no history");
    assert.equal(changed.entries[2].name, "new");
    const removed = await putGroup(h.url, group, [entries[0]!]);
    assert.deepEqual(removed.entries.map((e: Entry) => e.name), ["keep"]);
    assert.equal((await jobsOf(h.url, queue)).length, 2, "no PUT enqueued anything");
    const pausedByPatch = await api(h.url, "PATCH", `/crons/${group}/entries/keep`, { body: { paused: true } });
    assert.equal(pausedByPatch.body.paused, true);
    assert.equal((await putGroup(h.url, group, [entries[0]!])).entries[0].paused, true, "a PUT without `paused` keeps an operator's pause");
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });

  test("MessagePack: a body built byte by byte (uint64 grace_ms, uint16 priority, int64 payload) defines an entry; its jobs keep the payload", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const bytes = msgpackBytes({
      entries: [{
        name: "mp", expression: "* * * * * *", grace_ms: wire("uint64", 60_000),
        job: { queue, type: "mp", priority: wire("uint16", 300), payload: { big: wire("uint64", 2n ** 63n + 5n), neg: wire("int64", -(2n ** 40n)), f: wire("float64", 0.5) } },
      }],
    });
    const put = await api(h.url, "PUT", `/crons/${group}`, { format: "msgpack", raw: bytes });
    assertStatus(put, 200);
    assert.equal(put.headers.get("content-type"), "application/msgpack");
    assert.equal(put.body.entries[0].grace_ms, 60_000);
    assert.equal(put.body.entries[0].job.priority, 300);
    await h.clock.advance(put.body.entries[0].next_enqueue_at - h.clock.now());
    const [job] = await jobsOf(h.url, queue);
    const read = await api(h.url, "GET", `/jobs/${job!.id}`, { format: "msgpack" });
    assert.deepEqual(read.body.payload, { big: 2n ** 63n + 5n, neg: -(2 ** 40), f: 0.5 });
    const entryRead = await api(h.url, "GET", `/crons/${group}/entries/mp`, { format: "msgpack" });
    assert.deepEqual(entryRead.body.job.payload, { big: 2n ** 63n + 5n, neg: -(2 ** 40), f: 0.5 });
    assertError(await api(h.url, "PUT", `/crons/${group}`, { format: "msgpack", raw: msgpackBytes({ entries: [{ name: "x", expression: "* * * * *", job: { queue, type: "t", payload: {}, priority: wire("uint64", 2n ** 40n) } }] }) }), 400);
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });

  test("/metrics counts cron fires per queue", async () => {
    const group = uniqueName();
    const queue = uniqueName();
    const body = await putGroup(h.url, group, [entry("m", "* * * * * *", queue)]);
    await h.clock.advance(body.entries[0].next_enqueue_at - h.clock.now() + SECOND);
    const metrics = await api(h.url, "GET", "/metrics");
    assert.match(metrics.body, new RegExp(`wharf_cron_fires_total\\{queue="${queue}"\\} 2`));
    assertStatus(await api(h.url, "DELETE", `/crons/${group}`), 204);
  });
});

describe("cron and daylight saving", () => {
  test("Europe/Rome spring forward: a 02:30 entry fires once that day, just after the gap", async () => {
    const server = await serverAt(Date.UTC(2026, 2, 28, 12));
    try {
      const queue = uniqueName();
      await putGroup(server.url, "dst", [entry("half-past-two", "30 2 * * *", queue, { timezone: "Europe/Rome" })]);
      await server.clock.advance(48 * HOUR);
      const ticks = (await jobsOf(server.url, queue)).map((job) => new Date(job.ready_at).toISOString());
      // 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist; the run falls at 03:00 CEST.
      assert.deepEqual(ticks, ["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    } finally {
      await server.close();
    }
  });

  test("Europe/Rome fall back: an hourly entry fires once per real hour, a fixed-time entry once", async () => {
    const server = await serverAt(Date.UTC(2026, 9, 24, 22, 30));
    try {
      const queue = uniqueName();
      await putGroup(server.url, "dst", [entry("hourly", "0 * * * *", queue), entry("at-0230", "30 2 * * *", queue)].map((e) => ({ ...e, timezone: "Europe/Rome" })));
      await server.clock.advance(5 * HOUR);
      const ticks = (await jobsOf(server.url, queue)).map((job) => `${(job.payload as { from: string }).from} ${new Date(job.ready_at).toISOString()}`);
      // 25 October 2026: 03:00 CEST falls back to 02:00 CET, so 02:00-02:59 comes twice.
      assert.deepEqual(ticks, [
        "hourly 2026-10-24T23:00:00.000Z",
        "hourly 2026-10-25T00:00:00.000Z",
        "at-0230 2026-10-25T00:30:00.000Z",
        "hourly 2026-10-25T01:00:00.000Z",
        "hourly 2026-10-25T02:00:00.000Z",
        "hourly 2026-10-25T03:00:00.000Z",
      ]);
    } finally {
      await server.close();
    }
  });

  test("America/New_York: 02:30 on spring-forward day runs once; 01:30 on fall-back day runs once; hourly keeps real hours", async () => {
    const server = await serverAt(Date.UTC(2026, 2, 7, 12));
    try {
      const spring = uniqueName();
      await putGroup(server.url, "spring", [entry("at-0230", "30 2 * * *", spring, { timezone: "America/New_York" })]);
      await server.clock.advance(48 * HOUR);
      assert.deepEqual((await jobsOf(server.url, spring)).map((job) => new Date(job.ready_at).toISOString()), [
        "2026-03-08T07:00:00.000Z", // 03:00 EDT, just after the gap
        "2026-03-09T06:30:00.000Z",
      ]);
    } finally {
      await server.close();
    }
    const fall = await serverAt(Date.UTC(2026, 10, 1, 3, 30));
    try {
      const queue = uniqueName();
      await putGroup(fall.url, "fall", [entry("at-0130", "30 1 * * *", queue), entry("hourly", "0 * * * *", queue)].map((e) => ({ ...e, timezone: "America/New_York" })));
      await fall.clock.advance(4 * HOUR);
      assert.deepEqual((await jobsOf(fall.url, queue)).map((job) => `${(job.payload as { from: string }).from} ${new Date(job.ready_at).toISOString()}`), [
        "hourly 2026-11-01T04:00:00.000Z",
        "hourly 2026-11-01T05:00:00.000Z",
        "at-0130 2026-11-01T05:30:00.000Z",
        "hourly 2026-11-01T06:00:00.000Z",
        "hourly 2026-11-01T07:00:00.000Z",
      ]);
    } finally {
      await fall.close();
    }
  });
});

describe("cron across restarts", () => {
  test("ticks enqueued before a restart are not enqueued again; the ticks missed while down yield one job", async () => {
    const start = Date.UTC(2026, 5, 1, 12, 0, 30);
    const first = await serverAt(start);
    const queue = uniqueName();
    await putGroup(first.url, "restart", [entry("minutely", "* * * * *", queue)]);
    await first.clock.advance(2 * MINUTE);
    assert.deepEqual((await jobsOf(first.url, queue)).map((job) => job.ready_at), [Date.UTC(2026, 5, 1, 12, 1), Date.UTC(2026, 5, 1, 12, 2)]);
    await first.stop();
    const second = await startTestServer({ ...SLOW_MAINTENANCE, dataDir: first.dataDir, clock: new ManualClock(start + 2 * MINUTE + 10 * MINUTE) });
    try {
      await second.clock.advance(SECOND);
      const ready = (await jobsOf(second.url, queue)).map((job) => job.ready_at);
      assert.deepEqual(ready, [Date.UTC(2026, 5, 1, 12, 1), Date.UTC(2026, 5, 1, 12, 2), Date.UTC(2026, 5, 1, 12, 12)], "one job, for the latest missed tick");
      const state = (await api(second.url, "GET", "/crons/restart/entries/minutely")).body;
      assert.equal(state.next_enqueue_at, Date.UTC(2026, 5, 1, 12, 13));
      await second.clock.advance(MINUTE);
      assert.equal((await jobsOf(second.url, queue)).length, 4);
    } finally {
      await second.close();
    }
  });

  test("missed ticks older than the entry's grace window are skipped, not enqueued", async () => {
    const start = Date.UTC(2026, 5, 1, 12, 0, 30);
    const first = await serverAt(start);
    const queue = uniqueName();
    await putGroup(first.url, "grace", [entry("graced", "0 * * * *", queue, { grace_ms: 5 * MINUTE }), entry("ungraced", "0 * * * *", queue)]);
    await first.stop();
    const second = await startTestServer({ ...SLOW_MAINTENANCE, dataDir: first.dataDir, clock: new ManualClock(Date.UTC(2026, 5, 1, 13, 20)) });
    try {
      await second.clock.advance(SECOND);
      assert.deepEqual((await jobsOf(second.url, queue)).map((job) => (job.payload as { from: string }).from), ["ungraced"], "13:00 is 20 minutes old: past the 5-minute grace");
      const graced = (await api(second.url, "GET", "/crons/grace/entries/graced")).body;
      assert.equal(graced.next_enqueue_at, Date.UTC(2026, 5, 1, 14));
      assert.equal(graced.last_enqueue_at, undefined);
      await second.stop();
      const third = await startTestServer({ ...SLOW_MAINTENANCE, dataDir: first.dataDir, clock: new ManualClock(Date.UTC(2026, 5, 1, 14, 3)) });
      try {
        await third.clock.advance(SECOND);
        assert.equal((await jobsOf(third.url, queue)).filter((job) => (job.payload as { from: string }).from === "graced").length, 1, "14:00 is 3 minutes old: within grace");
      } finally {
        await third.close();
      }
    } finally {
      await second.close();
    }
  });
});
