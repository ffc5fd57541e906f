import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, countJobs, enqueue, enqueueBulk, getJob, jobInput, serverForFile, takeAndAck } from "../helpers/jobs.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;

async function setQueue(queue: string, settings: Record<string, unknown>): Promise<void> {
  assertStatus(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: settings }), 200, `PATCH ${JSON.stringify(settings)}`);
}

async function errorsOf(id: string): Promise<Array<{ message: string; error_type?: string }>> {
  const result = await api(suite.h.url, "GET", `/jobs/${id}/errors`);
  assertStatus(result, 200, `GET /jobs/${id}/errors`);
  return result.body.errors;
}

describe("queue controls: max_entries", () => {
  test("reject: an enqueue past max_entries is 429 with Retry-After and nothing of it is written; a job taken frees a slot", async () => {
    const queue = uniqueName();
    await setQueue(queue, { max_entries: 3 });
    const waiting = await enqueueBulk(suite.h.url, [jobInput(queue), jobInput(queue, { ready_at: suite.h.clock.now() + 60_000 })]);
    await enqueue(suite.h.url, queue, { dependencies: [waiting[1]!.id] });
    const full = await api(suite.h.url, "POST", "/jobs", { body: jobInput(queue) });
    assertError(full, 429);
    assert.equal(full.body.error, `queue ${queue} is full: max_entries 3`);
    assert.equal(full.headers.get("retry-after"), "1");
    const bulk = await api(suite.h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(uniqueName("elsewhere")), jobInput(queue)] } });
    assertError(bulk, 429, "a bulk with one job too many");
    assert.equal(await countJobs(suite.h.url, `queue=${queue}`), 3, "ready, scheduled and blocked count; the refused ones are not there");
    const stream = await streams.take({ queue });
    assert.equal((await stream.nextJob()).id, waiting[0]!.id);
    const next = await enqueue(suite.h.url, queue);
    assert.equal(next.status, "ready", "a job in flight is not waiting: its slot is free");
    assertError(await api(suite.h.url, "POST", "/jobs", { body: jobInput(queue) }), 429, "full again");
    streams.close(stream);
  });

  test("reject: a bulk that fits goes in whole; a duplicate takes no slot; a bulk bigger than max_entries is 422", async () => {
    const queue = uniqueName();
    await setQueue(queue, { max_entries: 2, on_full: "reject" });
    const [first] = await enqueueBulk(suite.h.url, [jobInput(queue, { unique_key: `${queue}-k` }), jobInput(queue)]);
    const duplicate = await api(suite.h.url, "POST", "/jobs", { body: jobInput(queue, { unique_key: `${queue}-k` }) });
    assertStatus(duplicate, 200);
    assert.equal(duplicate.body.id, first!.id);
    assert.equal(duplicate.body.duplicate, true);
    const tooBig = await api(suite.h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue), jobInput(queue), jobInput(queue)] } });
    assertError(tooBig, 422);
    assert.match(tooBig.body.error, /brings 3 jobs to queue .* more than its max_entries 2/);
    assert.equal(await countJobs(suite.h.url, `queue=${queue}`), 2);
  });

  test("discard_oldest: the enqueue goes in and the oldest waiting jobs die with a Discarded error; the new ones are kept", async () => {
    const queue = uniqueName();
    await setQueue(queue, { max_entries: 3, on_full: "discard_oldest" });
    const [oldest, second, third] = await enqueueBulk(suite.h.url, [jobInput(queue), jobInput(queue, { ready_at: suite.h.clock.now() + 60_000 }), jobInput(queue)]);
    const stream = await streams.take({ queue });
    const running = await stream.nextJob();
    assert.equal(running.id, oldest!.id, "in flight: not waiting, never discarded");
    const fourth = await enqueue(suite.h.url, queue);
    assert.equal(fourth.status, "ready");
    const newer = await enqueueBulk(suite.h.url, [jobInput(queue), jobInput(queue)]);
    const discarded = [await getJob(suite.h.url, second!.id), await getJob(suite.h.url, third!.id)];
    assert.deepEqual(discarded.map((job) => job.status), ["dead", "dead"]);
    const errors = await errorsOf(second!.id);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.message, `Discarded: queue ${queue} is over max_entries 3`);
    assert.equal(errors[0]!.error_type, "Discarded");
    assert.equal((await getJob(suite.h.url, fourth.id)).status, "ready");
    for (const job of newer) assert.equal((await getJob(suite.h.url, job.id)).status, "ready");
    assert.equal((await getJob(suite.h.url, oldest!.id)).status, "in_flight");
    const counts = (await api(suite.h.url, "GET", `/queues/${queue}`)).body.counts;
    assert.deepEqual({ ready: counts.ready, scheduled: counts.scheduled, dead: counts.dead, in_flight: counts.in_flight }, { ready: 3, scheduled: 0, dead: 2, in_flight: 1 });
    assertStatus(await ack(suite.h.url, running.id), 204);
    const taken = await takeAndAck(suite.h.url, stream, 3);
    assert.deepEqual(taken.sort(), [fourth.id, ...newer.map(({ id }) => id)].sort(), "the discarded jobs are never handed out");
    await assertNoJob(stream, 100, "nothing else is left");
    streams.close(stream);
  });

  test("discard_oldest: a workflow's jobs count, and a discarded job's dependents die with it", async () => {
    const queue = uniqueName();
    await setQueue(queue, { max_entries: 2, on_full: "discard_oldest" });
    const parent = await enqueue(suite.h.url, queue, { ready_at: suite.h.clock.now() + 60_000 });
    const child = await enqueue(suite.h.url, uniqueName("other"), { dependencies: [parent.id] });
    const workflow = await api(suite.h.url, "POST", "/workflows", { body: { chain: [jobInput(queue), jobInput(queue)] } });
    assertStatus(workflow, 201);
    assert.equal((await getJob(suite.h.url, parent.id)).status, "dead");
    assert.equal((await getJob(suite.h.url, child.id)).status, "dead", "its dependent died with it");
    assert.equal(await countJobs(suite.h.url, `queue=${queue}&status=ready,blocked`), 2);
  });

  test("a batched enqueue that opens a batch and a dead job requeued count as enqueues; one folded into its open job takes no slot", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    const dead = await enqueue(suite.h.url, queue, { retry_limit: 0 });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await api(suite.h.url, "POST", `/jobs/${dead.id}/failure`, { body: { message: "boom" } }), 200);
    streams.close(stream);
    await setQueue(queue, { max_entries: 1 });
    const open = await enqueue(suite.h.url, queue, { payload: [1], batch });
    const folded = await api(suite.h.url, "POST", "/jobs", { body: jobInput(queue, { payload: [2], batch }) });
    assertStatus(folded, 200);
    assert.equal(folded.body.folded, true);
    assertError(await api(suite.h.url, "POST", "/jobs", { body: jobInput(queue, { payload: [3], batch: { ...batch, key: uniqueName("key") } }) }), 429, "a batched enqueue that opens a batch");
    assertError(await api(suite.h.url, "POST", `/jobs/${dead.id}/requeue`), 429, "a requeue");
    assert.equal((await getJob(suite.h.url, dead.id)).status, "dead", "the refused requeue left the dead job as it was");
    await setQueue(queue, { on_full: "discard_oldest" });
    assertStatus(await api(suite.h.url, "POST", `/jobs/${dead.id}/requeue`), 201, "a requeue");
    assert.equal((await getJob(suite.h.url, open.id)).status, "dead", "the open batch's job made room");
  });

  test("max_entries and on_full: bad values 400, null resets", async () => {
    const queue = uniqueName();
    for (const bad of [0, -1, 1.5, "3", 10_000_001, true]) assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_entries: bad } }), 400, `max_entries ${String(bad)}`);
    for (const bad of ["drop", "", 1, "REJECT"]) assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { on_full: bad } }), 400, `on_full ${String(bad)}`);
    const set = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_entries: 10_000_000, on_full: "discard_oldest" } });
    assert.deepEqual(set.body.settings, { paused: false, max_entries: 10_000_000, on_full: "discard_oldest" });
    const reset = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_entries: null, on_full: null } });
    assert.deepEqual(reset.body.settings, { paused: false });
  });
});

describe("queue controls: max_age_ms", () => {
  const MAX_AGE_MS = 60_000;

  test("a job waiting longer than max_age_ms since it was enqueued is dead with an Expired error; a younger one, one in flight and a blocked one are not", async () => {
    const queue = uniqueName();
    const stream = await streams.take({ queue });
    const running = await enqueue(suite.h.url, queue);
    assert.equal((await stream.nextJob()).id, running.id);
    await setQueue(queue, { max_age_ms: MAX_AGE_MS });
    const old = await enqueue(suite.h.url, queue);
    assert.equal(old.created_at, suite.h.clock.now(), "the job says when it was enqueued");
    const scheduled = await enqueue(suite.h.url, queue, { ready_at: suite.h.clock.now() + 10 * MAX_AGE_MS });
    const blocked = await enqueue(suite.h.url, queue, { dependencies: [running.id] });
    await suite.h.clock.advance(MAX_AGE_MS / 2);
    const young = await enqueue(suite.h.url, queue);
    await suite.h.clock.advance(MAX_AGE_MS / 2);
    assert.equal((await getJob(suite.h.url, old.id)).status, "ready", "exactly max_age_ms is not longer than it");
    await suite.h.clock.advance(1000);
    for (const id of [old.id, scheduled.id]) {
      assert.equal((await getJob(suite.h.url, id)).status, "dead");
      const errors = await errorsOf(id);
      assert.deepEqual(errors.map(({ message, error_type: type }) => [message, type]), [[`Expired: waited longer than the queue's max_age_ms ${MAX_AGE_MS}`, "Expired"]]);
    }
    assert.equal((await getJob(suite.h.url, young.id)).status, "ready");
    assert.equal((await getJob(suite.h.url, running.id)).status, "in_flight");
    assert.equal((await getJob(suite.h.url, blocked.id)).status, "blocked", "not in line yet");
    await setQueue(queue, { paused: true });
    assertStatus(await ack(suite.h.url, running.id), 204);
    await suite.h.clock.advance(1000);
    assert.equal((await getJob(suite.h.url, blocked.id)).status, "dead", "once in line, its age counts from its enqueue");
    assert.equal((await getJob(suite.h.url, young.id)).status, "ready");
    await suite.h.clock.advance(MAX_AGE_MS / 2);
    assert.equal((await getJob(suite.h.url, young.id)).status, "dead");
    streams.close(stream);
  });

  test("max_age_ms: bad values 400, null resets (and its jobs wait again as long as they like)", async () => {
    const queue = uniqueName();
    for (const bad of [0, -1, 1.5, "3", 365 * 86_400_000 + 1, false]) assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_age_ms: bad } }), 400, `max_age_ms ${String(bad)}`);
    await setQueue(queue, { max_age_ms: 365 * 86_400_000 });
    await setQueue(queue, { max_age_ms: MAX_AGE_MS });
    const job = await enqueue(suite.h.url, queue);
    const reset = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { max_age_ms: null } });
    assert.deepEqual(reset.body.settings, { paused: false });
    await suite.h.clock.advance(2 * MAX_AGE_MS);
    assert.equal((await getJob(suite.h.url, job.id)).status, "ready");
  });
});
