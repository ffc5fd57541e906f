import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Job } from "../../src/job/types.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import {
  ack,
  assertError,
  assertNoJob,
  assertStatus,
  countJobs,
  enqueue,
  enqueueBulk,
  failJob,
  findJob,
  getJob,
  jobInput,
  listIds,
  Streams,
  takeOne,
} from "../helpers/jobs.js";

const MINUTE_MS = 60_000;
const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;

let h: TestServer;
/** Maintenance once a minute of clock time, so advancing the clock by days stays quick. */
let slow: TestServer;
const streams = new Streams(() => h.url);

before(async () => {
  h = await startTestServer();
  slow = await startTestServer({ maintenanceIntervalMs: MINUTE_MS });
});

after(async () => {
  streams.closeAll();
  await Promise.all([h.close(), slow.close()]);
});

async function patch(url: string, id: string, body: unknown) {
  return api(url, "PATCH", `/jobs/${id}`, { body });
}

/** A job that reached `dead` through a killing failure. */
async function deadJob(url: string, queue: string, extra: Record<string, unknown> = {}): Promise<Job> {
  const local = new Streams(() => url);
  const { job } = await takeOne(local, url, queue, extra);
  const result = await failJob(url, job.id, { message: "fatal", kill: true });
  assertStatus(result, 200);
  assert.equal(result.body.status, "dead");
  local.closeAll();
  return result.body as Job;
}

/** A job retained in `completed` for a minute. */
async function completedJob(url: string, queue: string): Promise<Job> {
  const local = new Streams(() => url);
  const { job } = await takeOne(local, url, queue, { retention: { completed_ms: MINUTE_MS } });
  assertStatus(await ack(url, job.id), 204);
  local.closeAll();
  return getJob(url, job.id);
}

describe("PATCH /jobs/{id}", () => {
  test("changes queue and priority and answers the job without payload", async () => {
    const from = uniqueName();
    const to = uniqueName();
    const job = await enqueue(h.url, from, { priority: 500 });
    const result = await patch(h.url, job.id, { queue: to, priority: 100 });
    assertStatus(result, 200);
    assert.equal(result.body.id, job.id);
    assert.equal(result.body.queue, to);
    assert.equal(result.body.priority, 100);
    assert.equal(result.body.status, "ready");
    assert.equal("payload" in result.body, false);
    const stored = await getJob(h.url, job.id);
    assert.equal(stored.queue, to);
    assert.equal(stored.priority, 100);
    assert.deepEqual(await listIds(h.url, `queue=${to}`), [job.id]);
    assert.deepEqual(await listIds(h.url, `queue=${from}`), []);
  });

  test("a job moved to another queue is delivered from there", async () => {
    const from = uniqueName();
    const to = uniqueName();
    const stream = await streams.take({ queue: to });
    const job = await enqueue(h.url, from);
    assertStatus(await patch(h.url, job.id, { queue: to }), 200);
    assert.equal((await stream.nextJob(2000)).id, job.id);
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });

  test("a changed priority changes the delivery order", async () => {
    const queue = uniqueName();
    const [first, second] = await enqueueBulk(h.url, [jobInput(queue, { priority: 10 }), jobInput(queue, { priority: 20 })]);
    assertStatus(await patch(h.url, second!.id, { priority: 5 }), 200);
    const stream = await streams.take({ queue });
    assert.equal((await stream.nextJob(2000)).id, second!.id);
    assertStatus(await ack(h.url, second!.id), 204);
    assert.equal((await stream.nextJob(2000)).id, first!.id);
    assertStatus(await ack(h.url, first!.id), 204);
    streams.close(stream);
  });

  test("a future ready_at makes a ready job scheduled; the clock makes it ready again", async () => {
    const queue = uniqueName();
    const job = await enqueue(h.url, queue);
    const later = h.clock.now() + 10_000;
    const result = await patch(h.url, job.id, { ready_at: later });
    assertStatus(result, 200);
    assert.equal(result.body.status, "scheduled");
    assert.equal(result.body.ready_at, later);

    const stream = await streams.take({ queue });
    await assertNoJob(stream, 150, "a job patched into the future is not delivered");
    await h.clock.advance(10_000);
    assert.equal((await stream.nextJob(2000)).id, job.id);
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });

  test("ready_at null makes a scheduled job ready now", async () => {
    const job = await enqueue(h.url, uniqueName(), { ready_at: h.clock.now() + 3_600_000 });
    assert.equal(job.status, "scheduled");
    const result = await patch(h.url, job.id, { ready_at: null });
    assertStatus(result, 200);
    assert.equal(result.body.status, "ready");
    assert.equal(result.body.ready_at, h.clock.now());
    assert.equal((await getJob(h.url, job.id)).status, "ready");
  });

  test("a past ready_at on a scheduled job makes it ready", async () => {
    const job = await enqueue(h.url, uniqueName(), { ready_at: h.clock.now() + 3_600_000 });
    const result = await patch(h.url, job.id, { ready_at: h.clock.now() - 1 });
    assertStatus(result, 200);
    assert.equal(result.body.status, "ready");
  });

  test("retry_limit and backoff are set, and null clears them", async () => {
    const job = await enqueue(h.url, uniqueName());
    const backoff = { base_ms: 100, exponent: 2, jitter_ms: 0 };
    const set = await patch(h.url, job.id, { retry_limit: 3, backoff });
    assertStatus(set, 200);
    assert.equal(set.body.retry_limit, 3);
    assert.deepEqual(set.body.backoff, backoff);
    assert.equal((await getJob(h.url, job.id)).retry_limit, 3);

    const cleared = await patch(h.url, job.id, { retry_limit: null, backoff: null });
    assertStatus(cleared, 200);
    assert.equal(cleared.body.retry_limit ?? null, null);
    assert.equal(cleared.body.backoff ?? null, null);
    const stored = await getJob(h.url, job.id);
    assert.equal(stored.retry_limit ?? null, null);
    assert.equal(stored.backoff ?? null, null);
  });

  test("a cleared retry_limit falls back to the server default", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retry_limit: 0 });
    assertStatus(await patch(h.url, job.id, { retry_limit: null }), 200);
    const failed = await failJob(h.url, job.id, { message: "retry me" });
    assertStatus(failed, 200);
    assert.equal(failed.body.status, "scheduled", "the default limit allows retries; the cleared 0 would not");
    streams.close(stream);
  });

  test("retention is merge-patched", async () => {
    const job = await enqueue(h.url, uniqueName(), { retention: { completed_ms: 1000, dead_ms: 2000 } });
    const merged = await patch(h.url, job.id, { retention: { completed_ms: 5000 } });
    assertStatus(merged, 200);
    assert.deepEqual(merged.body.retention, { completed_ms: 5000, dead_ms: 2000 }, "an omitted sub-field is unchanged");

    const partlyCleared = await patch(h.url, job.id, { retention: { dead_ms: null } });
    assertStatus(partlyCleared, 200);
    assert.deepEqual(partlyCleared.body.retention, { completed_ms: 5000 }, "a null sub-field is cleared");

    const added = await patch(h.url, job.id, { retention: { dead_ms: 7 } });
    assert.deepEqual(added.body.retention, { completed_ms: 5000, dead_ms: 7 });

    const cleared = await patch(h.url, job.id, { retention: null });
    assertStatus(cleared, 200);
    assert.equal(cleared.body.retention ?? null, null);
    assert.equal((await getJob(h.url, job.id)).retention ?? null, null);
  });

  test("an empty body changes nothing", async () => {
    const job = await enqueue(h.url, uniqueName(), { priority: 77 });
    const result = await patch(h.url, job.id, {});
    assertStatus(result, 200);
    assert.equal(result.body.priority, 77);
    assert.equal(result.body.status, "ready");
  });

  test("an in-flight job can be patched and stays in flight", async () => {
    const { job, stream } = await takeOne(streams, h.url, uniqueName());
    const result = await patch(h.url, job.id, { priority: 1, retry_limit: 9 });
    assertStatus(result, 200);
    assert.equal(result.body.status, "in_flight");
    assert.equal(result.body.priority, 1);
    assert.equal((await getJob(h.url, job.id)).retry_limit, 9);
    assertStatus(await ack(h.url, job.id), 204, "the patched job can still be acked");
    streams.close(stream);
  });

  test("a job that a waiting stream is claiming can still be patched", async () => {
    // The patch arrives while the job goes from ready to in_flight; either state may be patched, so it must succeed.
    for (let round = 0; round < 5; round++) {
      const queue = uniqueName();
      const stream = await streams.take({ queue });
      const job = await enqueue(h.url, queue);
      const result = await patch(h.url, job.id, { priority: 9 });
      assertStatus(result, 200, `round ${round}: PATCH of an existing, non-terminal job`);
      assert.equal((await stream.nextJob(2000)).id, job.id);
      assert.equal((await getJob(h.url, job.id)).priority, 9);
      assertStatus(await ack(h.url, job.id), 204);
      streams.close(stream);
    }
  });

  test("terminal jobs cannot be patched: 422", async () => {
    const dead = await deadJob(h.url, uniqueName());
    assertError(await patch(h.url, dead.id, { priority: 1 }), 422, "dead");
    assert.equal((await getJob(h.url, dead.id)).priority, 32768);
    const completed = await completedJob(h.url, uniqueName());
    assert.equal(completed.status, "completed");
    assertError(await patch(h.url, completed.id, { queue: "elsewhere" }), 422, "completed");
  });

  test("an unknown field is 400", async () => {
    const job = await enqueue(h.url, uniqueName());
    for (const body of [{ payload: {} }, { status: "dead" }, { type: "other" }, { priority: 1, colour: "red" }]) {
      assertError(await patch(h.url, job.id, body), 400, JSON.stringify(body));
    }
    assert.equal((await getJob(h.url, job.id)).priority, 32768, "a refused patch changes nothing");
  });

  test("an invalid value is 422", async () => {
    const job = await enqueue(h.url, uniqueName());
    for (const body of [
      { priority: 65536 },
      { priority: -1 },
      { priority: "high" },
      { priority: null },
      { queue: null },
      { queue: "a,b" },
      { queue: "" },
      { ready_at: "tomorrow" },
      { retry_limit: -1 },
      { backoff: { base_ms: 1 } },
      { retention: { completed_ms: -5 } },
    ]) {
      assertError(await patch(h.url, job.id, body), 422, JSON.stringify(body));
    }
    const stored = await getJob(h.url, job.id);
    assert.equal(stored.priority, 32768);
    assert.equal(stored.status, "ready");
  });

  test("an unknown job is 404", async () => {
    assertError(await patch(h.url, "03zzzzzzzzzzzzzzzzzzzzzzz", { priority: 1 }), 404);
  });
});

describe("PATCH /jobs", () => {
  test("patches every matching live job and skips terminal ones", async () => {
    const queue = uniqueName();
    const dead = await deadJob(h.url, queue);
    const completed = await completedJob(h.url, queue);
    const live = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue, { ready_at: h.clock.now() + MINUTE_MS })]);
    const untouched = await enqueue(h.url, uniqueName());

    const result = await api(h.url, "PATCH", `/jobs?queue=${queue}`, { body: { priority: 7 } });
    assertStatus(result, 200);
    assert.deepEqual(result.body, { patched: 2 });
    for (const job of live) assert.equal((await getJob(h.url, job.id)).priority, 7);
    assert.equal((await getJob(h.url, dead.id)).priority, 32768);
    assert.equal((await getJob(h.url, completed.id)).priority, 32768);
    assert.equal((await getJob(h.url, untouched.id)).priority, 32768);
  });

  test("moves all jobs of one queue to another", async () => {
    const from = uniqueName();
    const to = uniqueName();
    await enqueueBulk(h.url, Array.from({ length: 4 }, () => jobInput(from)));
    const result = await api(h.url, "PATCH", `/jobs?queue=${from}`, { body: { queue: to } });
    assert.deepEqual(result.body, { patched: 4 });
    assert.equal(await countJobs(h.url, `queue=${from}`), 0);
    assert.equal(await countJobs(h.url, `queue=${to}`), 4);
  });

  test("honours status, range and jq filters", async () => {
    const queue = uniqueName();
    await enqueueBulk(h.url, [
      jobInput(queue, { payload: { n: 1 }, priority: 1 }),
      jobInput(queue, { payload: { n: 2 }, priority: 2 }),
      jobInput(queue, { payload: { n: 3 }, priority: 3, ready_at: h.clock.now() + MINUTE_MS }),
    ]);
    const byStatus = await api(h.url, "PATCH", `/jobs?queue=${queue}&status=scheduled`, { body: { retry_limit: 1 } });
    assert.deepEqual(byStatus.body, { patched: 1 });
    const byJq = await api(h.url, "PATCH", `/jobs?queue=${queue}&filter=${encodeURIComponent(".n >= 2")}`, { body: { retry_limit: 2 } });
    assert.deepEqual(byJq.body, { patched: 2 });
    const byRange = await api(h.url, "PATCH", `/jobs?queue=${queue}&priority=..1`, { body: { retry_limit: 3 } });
    assert.deepEqual(byRange.body, { patched: 1 });
    const jobs = (await api(h.url, "GET", `/jobs?queue=${queue}`)).body.jobs as Job[];
    assert.deepEqual(jobs.map((job) => job.retry_limit), [3, 2, 2]);
  });

  test("counts a job that a waiting stream is claiming at the same moment", async () => {
    for (let round = 0; round < 5; round++) {
      const queue = uniqueName();
      const stream = await streams.take({ queue });
      const job = await enqueue(h.url, queue);
      const result = await api(h.url, "PATCH", `/jobs?queue=${queue}`, { body: { priority: 9 } });
      assertStatus(result, 200);
      assert.deepEqual(result.body, { patched: 1 }, `round ${round}: the one matching live job is patched`);
      assert.equal((await stream.nextJob(2000)).id, job.id);
      assert.equal((await getJob(h.url, job.id)).priority, 9);
      assertStatus(await ack(h.url, job.id), 204);
      streams.close(stream);
    }
  });

  test("naming a terminal status is 422", async () => {
    const queue = uniqueName();
    await enqueue(h.url, queue);
    for (const status of ["completed", "dead", "ready,dead"]) {
      assertError(await api(h.url, "PATCH", `/jobs?queue=${queue}&status=${status}`, { body: { priority: 1 } }), 422, status);
    }
    assert.equal((await listIds(h.url, `queue=${queue}&priority=1`)).length, 0);
  });

  test("bad bodies and filters are refused without patching", async () => {
    const queue = uniqueName();
    await enqueue(h.url, queue);
    assertError(await api(h.url, "PATCH", `/jobs?queue=${queue}`, { body: { bogus: 1 } }), 400, "unknown field");
    assertError(await api(h.url, "PATCH", `/jobs?queue=${queue}`, { body: { priority: 70_000 } }), 422, "invalid value");
    assertError(await api(h.url, "PATCH", `/jobs?queue=${queue}&priority=9..1`, { body: { priority: 1 } }), 400, "bad range");
    assertError(await api(h.url, "PATCH", `/jobs?queue=${queue}&limit=1`, { body: { priority: 1 } }), 400, "unknown parameter");
    assert.equal(await countJobs(h.url, `queue=${queue}&priority=1`), 0);
  });
});

describe("DELETE /jobs/{id} and DELETE /jobs", () => {
  test("deletes one job: 204, then 404", async () => {
    const job = await enqueue(h.url, uniqueName());
    const result = await api(h.url, "DELETE", `/jobs/${job.id}`);
    assertStatus(result, 204);
    assert.equal(result.body, undefined);
    assert.equal(await findJob(h.url, job.id), undefined);
    assertError(await api(h.url, "DELETE", `/jobs/${job.id}`), 404);
  });

  test("terminal and in-flight jobs can be deleted; a deleted in-flight job cannot be acked", async () => {
    const dead = await deadJob(h.url, uniqueName());
    assertStatus(await api(h.url, "DELETE", `/jobs/${dead.id}`), 204);
    assert.equal(await findJob(h.url, dead.id), undefined);

    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue);
    assertStatus(await api(h.url, "DELETE", `/jobs/${job.id}`), 204);
    assert.equal(await findJob(h.url, job.id), undefined);
    assertError(await ack(h.url, job.id), 404);
    const next = await enqueue(h.url, queue);
    assert.equal((await stream.nextJob(2000)).id, next.id, "deleting the held job freed the stream's slot");
    streams.close(stream);
  });

  test("deletes by filter and answers the count", async () => {
    const queue = uniqueName();
    const other = uniqueName();
    await enqueueBulk(h.url, [
      jobInput(queue, { payload: { keep: false } }),
      jobInput(queue, { payload: { keep: false }, ready_at: h.clock.now() + MINUTE_MS }),
      jobInput(queue, { payload: { keep: true }, ready_at: h.clock.now() + MINUTE_MS }),
      jobInput(other),
    ]);
    const scheduled = await api(h.url, "DELETE", `/jobs?queue=${queue}&status=scheduled&filter=${encodeURIComponent(".keep | not")}`);
    assertStatus(scheduled, 200);
    assert.deepEqual(scheduled.body, { deleted: 1 });
    assert.equal(await countJobs(h.url, `queue=${queue}`), 2);

    const rest = await api(h.url, "DELETE", `/jobs?queue=${queue}`);
    assert.deepEqual(rest.body, { deleted: 2 });
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
    assert.equal(await countJobs(h.url, `queue=${other}`), 1, "other queues untouched");

    const none = await api(h.url, "DELETE", `/jobs?queue=${queue}`);
    assert.deepEqual(none.body, { deleted: 0 });
  });

  test("deletes by id list", async () => {
    const queue = uniqueName();
    const [a, b, c] = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue), jobInput(queue)]);
    const result = await api(h.url, "DELETE", `/jobs?id=${a!.id},${c!.id}`);
    assert.deepEqual(result.body, { deleted: 2 });
    assert.deepEqual(await listIds(h.url, `queue=${queue}`), [b!.id]);
  });

  test("a bad filter deletes nothing", async () => {
    const queue = uniqueName();
    await enqueue(h.url, queue);
    assertError(await api(h.url, "DELETE", `/jobs?queue=${queue}&status=gone`), 400);
    assertError(await api(h.url, "DELETE", `/jobs?queue=${queue}&filter=${encodeURIComponent(".[")}`), 400);
    assertError(await api(h.url, "DELETE", `/jobs?queue=${queue}&attempts=3..1`), 400);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
  });
});

describe("POST /jobs/{id}/requeue", () => {
  /** A job of `queue` (with `extra` fields) taken and killed: dead, kept by the default retention. */
  async function deadJob(queue: string, extra: Record<string, unknown> = {}): Promise<Job> {
    const { job, stream } = await takeOne(streams, h.url, queue, extra);
    assertStatus(await failJob(h.url, job.id, { message: "boom", kill: true }), 200);
    streams.close(stream);
    return getJob(h.url, job.id);
  }

  test("enqueues a fresh copy of a dead job and removes the dead one, in one step", async () => {
    const queue = uniqueName();
    const dead = await deadJob(queue, { payload: { n: 7 }, priority: 3, retry_limit: 6, timeout: 30 });
    const answer = await api(h.url, "POST", `/jobs/${dead.id}/requeue`);
    assertStatus(answer, 201);
    assert.notEqual(answer.body.id, dead.id);
    assert.equal(answer.body.duplicate, false);
    assert.equal(await findJob(h.url, dead.id), undefined, "the dead job is gone");
    const copy = await getJob(h.url, answer.body.id);
    assert.deepEqual(
      { status: copy.status, queue: copy.queue, payload: copy.payload, priority: copy.priority, retry_limit: copy.retry_limit, timeout: copy.timeout, attempts: copy.attempts },
      { status: "ready", queue, payload: { n: 7 }, priority: 3, retry_limit: 6, timeout: 30, attempts: 0 },
    );
  });

  test("the dead job's own unique key (unique_while exists) passes to its copy", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const dead = await deadJob(queue, { unique_key: key, unique_while: "exists" });
    const answer = await api(h.url, "POST", `/jobs/${dead.id}/requeue`);
    assertStatus(answer, 201);
    assert.deepEqual(await listIds(h.url, `queue=${queue}`), [answer.body.id]);
    const again = await api(h.url, "POST", "/jobs", { body: jobInput(uniqueName(), { unique_key: key }) });
    assert.equal(again.body.id, answer.body.id, "the copy holds the key now");
  });

  test("a job that is not dead is a 422 and stays as it is; an unknown one is a 404", async () => {
    const queue = uniqueName();
    const ready = await enqueue(h.url, queue);
    assertError(await api(h.url, "POST", `/jobs/${ready.id}/requeue`), 422);
    assert.equal((await getJob(h.url, ready.id)).status, "ready");
    assertError(await api(h.url, "POST", "/jobs/0000000000000000000000000/requeue"), 404);
  });
});

describe("retention", () => {
  test("a completed job with completed_ms is kept, then purged after the clock passes purge_at", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retention: { completed_ms: MINUTE_MS } });
    const completedAt = h.clock.now();
    assertStatus(await ack(h.url, job.id), 204);
    const kept = await getJob(h.url, job.id);
    assert.equal(kept.status, "completed");
    assert.equal(kept.completed_at, completedAt);
    assert.equal(kept.purge_at, completedAt + MINUTE_MS);
    assert.deepEqual(await listIds(h.url, `queue=${queue}&status=completed`), [job.id]);

    await h.clock.advance(MINUTE_MS - 1000);
    assert.equal((await getJob(h.url, job.id)).status, "completed", "kept until purge_at");
    await h.clock.advance(2000);
    assert.equal(await findJob(h.url, job.id), undefined, "purged after purge_at");
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
    streams.close(stream);
  });

  test("by default a completed job is gone at once", async () => {
    const { job, stream } = await takeOne(streams, h.url, uniqueName());
    assertStatus(await ack(h.url, job.id), 204);
    assert.equal(await findJob(h.url, job.id), undefined);
    streams.close(stream);
  });

  test("retention set by PATCH applies on completion", async () => {
    const { job, stream } = await takeOne(streams, h.url, uniqueName());
    assertStatus(await patch(h.url, job.id, { retention: { completed_ms: MINUTE_MS } }), 200);
    assertStatus(await ack(h.url, job.id), 204);
    assert.equal((await getJob(h.url, job.id)).status, "completed");
    streams.close(stream);
  });

  test("dead_ms 0 drops a dead job at once", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retention: { dead_ms: 0 } });
    const result = await failJob(h.url, job.id, { message: "gone", kill: true });
    assertStatus(result, 200);
    assert.equal(result.body.status, "dead");
    assert.equal(await findJob(h.url, job.id), undefined);
    streams.close(stream);
  });

  test("a job-level dead_ms purges the dead job after that long", async () => {
    const dead = await deadJob(h.url, uniqueName(), { retention: { dead_ms: 5000 } });
    assert.equal(dead.purge_at, h.clock.now() + 5000);
    await h.clock.advance(4000);
    assert.equal((await getJob(h.url, dead.id)).status, "dead");
    await h.clock.advance(2000);
    assert.equal(await findJob(h.url, dead.id), undefined);
  });

  test("dead jobs are kept for 7 days by default, with their errors, then purged", async () => {
    const dead = await deadJob(slow.url, uniqueName());
    const diedAt = slow.clock.now();
    assert.equal(dead.purge_at, diedAt + SEVEN_DAYS_MS);

    await slow.clock.advance(SEVEN_DAYS_MS - 2 * MINUTE_MS);
    assert.equal((await getJob(slow.url, dead.id)).status, "dead", "kept for almost 7 days");
    assertStatus(await api(slow.url, "GET", `/jobs/${dead.id}/errors/1`), 200);

    await slow.clock.advance(3 * MINUTE_MS);
    assert.equal(await findJob(slow.url, dead.id), undefined, "purged after 7 days");
    assertError(await api(slow.url, "GET", `/jobs/${dead.id}/errors`), 404);
  });
});

describe("POST /reset", () => {
  let r: TestServer;
  const resetStreams = new Streams(() => r.url);

  before(async () => {
    r = await startTestServer();
  });

  after(async () => {
    resetStreams.closeAll();
    await r.close();
  });

  test("wipes every job, in flight included; a later ack is 404", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(resetStreams, r.url, queue);
    await enqueueBulk(r.url, [jobInput(uniqueName()), jobInput(uniqueName(), { ready_at: r.clock.now() + MINUTE_MS })]);
    await deadJob(r.url, uniqueName());
    assert.equal(await countJobs(r.url), 4);

    const result = await api(r.url, "POST", "/reset");
    assertStatus(result, 204);
    assert.equal(result.body, undefined);
    assert.equal(await countJobs(r.url), 0);
    assert.deepEqual((await api(r.url, "GET", "/jobs")).body.jobs, []);
    assert.equal(await findJob(r.url, job.id), undefined);
    assertError(await ack(r.url, job.id), 404, "ack after reset");

    const next = await enqueue(r.url, queue);
    assert.equal((await stream.nextJob(2000)).id, next.id, "open streams keep working after a reset");
    resetStreams.close(stream);
  });

  test("DELETE /jobs with no filter deletes every job", async () => {
    await enqueueBulk(r.url, [jobInput(uniqueName()), jobInput(uniqueName(), { ready_at: r.clock.now() + MINUTE_MS })]);
    await deadJob(r.url, uniqueName());
    const total = await countJobs(r.url);
    assert.ok(total >= 3);
    const result = await api(r.url, "DELETE", "/jobs");
    assertStatus(result, 200);
    assert.deepEqual(result.body, { deleted: total });
    assert.equal(await countJobs(r.url), 0);
  });

  test("takes no query parameters", async () => {
    await enqueue(r.url, uniqueName());
    const total = await countJobs(r.url);
    assertError(await api(r.url, "POST", "/reset?queue=x"), 400);
    assert.equal(await countJobs(r.url), total);
  });
});
