import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, enqueue, serverForFile } from "../helpers/jobs.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;

describe("queue settings: pause and resume", () => {
  test("GET /queues/{queue} answers its settings and its jobs by status", async () => {
    const queue = uniqueName();
    await enqueue(suite.h.url, queue);
    await enqueue(suite.h.url, queue, { ready_at: suite.h.clock.now() + 60_000 });
    const read = await api(suite.h.url, "GET", `/queues/${queue}`);
    assertStatus(read, 200);
    assert.deepEqual(read.body, { queue, settings: { paused: false }, counts: { blocked: 0, scheduled: 1, ready: 1, in_flight: 0, completed: 0, dead: 0 } });
    const empty = await api(suite.h.url, "GET", `/queues/${uniqueName("never-used")}`);
    assert.equal(empty.body.settings.paused, false, "any queue name has settings, the defaults until set");
  });

  test("a paused queue accepts enqueues and hands out nothing, the job in flight finishes; resuming delivers at once to an open stream", async () => {
    const queue = uniqueName();
    const other = uniqueName("other");
    const running = await enqueue(suite.h.url, queue);
    const stream = await streams.take({ queue: `${queue},${other}`, prefetch: 10 });
    assert.equal((await stream.nextJob()).id, running.id);
    const paused = await api(suite.h.url, "POST", `/queues/${queue}/pause`);
    assertStatus(paused, 200);
    assert.equal(paused.body.settings.paused, true);
    const waiting = await enqueue(suite.h.url, queue);
    assert.equal(waiting.status, "ready");
    const elsewhere = await enqueue(suite.h.url, other);
    assert.equal((await stream.nextJob()).id, elsewhere.id, "other queues of the same stream go on");
    await assertNoJob(stream, 150, "a paused queue hands out nothing");
    assertStatus(await ack(suite.h.url, running.id), 204);
    assert.equal((await api(suite.h.url, "GET", "/queues")).body.queues.includes(queue), true, "still listed");
    const resumed = await api(suite.h.url, "POST", `/queues/${queue}/resume`);
    assert.equal(resumed.body.settings.paused, false);
    assert.equal((await stream.nextJob(1000)).id, waiting.id, "delivered on resume, no poll");
    streams.close(stream);
  });

  test("max_in_flight: a stream with room for 10 holds 3 of a limited queue at once; each end frees one slot; raising it delivers at once", async () => {
    const queue = uniqueName();
    const patched = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_in_flight: 3 } });
    assert.deepEqual(patched.body.settings, { paused: false, max_in_flight: 3 });
    const jobs = await Promise.all(Array.from({ length: 7 }, (_, n) => enqueue(suite.h.url, queue, { payload: n })));
    const stream = await streams.take({ queue, prefetch: 10 });
    const first = [await stream.nextJob(), await stream.nextJob(), await stream.nextJob()];
    await assertNoJob(stream, 150, "a fourth job while three are in flight");
    assertStatus(await ack(suite.h.url, first[0]!.id), 204);
    const fourth = await stream.nextJob(1000);
    await assertNoJob(stream, 100, "still three in flight");
    assertStatus(await api(suite.h.url, "POST", `/jobs/${first[1]!.id}/failure`, { body: { message: "x", kill: true } }), 200);
    await stream.nextJob(1000);
    await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_in_flight: 4 } });
    await stream.nextJob(1000);
    await assertNoJob(stream, 100, "four in flight under a limit of four");
    assert.equal((await api(suite.h.url, "GET", `/queues/${queue}`)).body.counts.in_flight, 4);
    await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_in_flight: null } });
    await stream.nextJob(1000);
    assert.ok(jobs.some(({ id }) => id === fourth.id));
    streams.close(stream);
  });

  test("PATCH sets and resets (null); unknown settings 400, a bad name 404", async () => {
    const queue = uniqueName();
    assert.equal((await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { paused: true } })).body.settings.paused, true);
    assert.equal((await api(suite.h.url, "GET", `/queues/${queue}`)).body.settings.paused, true);
    assert.equal((await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { paused: null } })).body.settings.paused, false);
    assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { paused: "yes" } }), 400);
    assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { colour: "red" } }), 400);
    for (const bad of [0, -1, 1.5, "3", 2_000_000]) assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_in_flight: bad } }), 400, String(bad));
    assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: [] }), 400);
    assertError(await api(suite.h.url, "GET", `/queues/${encodeURIComponent("a*b")}`), 404);
    assertError(await api(suite.h.url, "POST", `/queues/${queue}/pause`, { body: { paused: true } }), 400);
  });

  test("POST /reset resumes every queue", async () => {
    const queue = uniqueName();
    await api(suite.h.url, "POST", `/queues/${queue}/pause`);
    assertStatus(await api(suite.h.url, "POST", "/reset"), 204);
    assert.equal((await api(suite.h.url, "GET", `/queues/${queue}`)).body.settings.paused, false);
    const job = await enqueue(suite.h.url, queue);
    const stream = await streams.take({ queue });
    assert.equal((await stream.nextJob()).id, job.id);
    streams.close(stream);
  });
});
