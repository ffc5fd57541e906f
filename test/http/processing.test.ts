import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Job } from "../../src/job/types.js";
import { packr } from "../../src/http/codec.js";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { STREAM_MEDIA } from "../helpers/take.js";
import {
  ack,
  assertError,
  assertNoJob,
  assertStatus,
  enqueue,
  enqueueBulk,
  failJob,
  findJob,
  getJob,
  jobInput,
  Streams,
  takeAndAck,
  takeOne,
} from "../helpers/jobs.js";

let h: TestServer;
const streams = new Streams(() => h.url);
const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;
/** Deterministic backoff: delay = base_ms + attempts^exponent * 1000. */
const BACKOFF = { base_ms: 2000, exponent: 2, jitter_ms: 0 };

before(async () => {
  h = await startTestServer({ heartbeatMs: 50 });
});

after(async () => {
  streams.closeAll();
  await h.close();
});

describe("GET /jobs/take", () => {
  test("pushes each job to an open stream as it is enqueued", async () => {
    const queue = uniqueName();
    const stream = await streams.take({ queue });
    const first = await enqueue(h.url, queue, { payload: { greet: "World" } });
    const delivered = await stream.nextJob(2000);
    assert.equal(delivered.id, first.id);
    assert.equal(delivered.status, "in_flight");
    assert.equal(delivered.attempts, 0);
    assert.equal(delivered.queue, queue);
    assert.equal(delivered.dequeued_at, h.clock.now());
    assert.deepEqual(delivered.payload, { greet: "World" }, "streamed jobs carry their payload");
    assert.equal((await getJob(h.url, first.id)).status, "in_flight");

    assertStatus(await ack(h.url, first.id), 204);
    const second = await enqueue(h.url, queue);
    assert.equal((await stream.nextJob(2000)).id, second.id, "the next enqueue is pushed too, with no clock movement");
    streams.close(stream);
  });

  test("delivers lower priority values first, then in FIFO order", async () => {
    const queue = uniqueName();
    const priorities = [500, 100, 500, 300, 100, 65535, 0];
    const jobs = await enqueueBulk(h.url, priorities.map((priority, n) => jobInput(queue, { priority, payload: { n } })));
    const expected = jobs
      .map((job, position) => ({ job, position }))
      .sort((a, b) => a.job.priority - b.job.priority || a.position - b.position)
      .map(({ job }) => job.id);

    const stream = await streams.take({ queue, prefetch: 1 });
    assert.deepEqual(await takeAndAck(h.url, stream, jobs.length, 2000), expected);
    streams.close(stream);
  });

  test("a job of higher priority enqueued later goes ahead of waiting jobs", async () => {
    const queue = uniqueName();
    const waiting = await enqueueBulk(h.url, [jobInput(queue, { priority: 900 }), jobInput(queue, { priority: 900 })]);
    const urgent = await enqueue(h.url, queue, { priority: 500 });
    const stream = await streams.take({ queue });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await stream.nextJob(2000);
      order.push(job.id);
      assertStatus(await ack(h.url, job.id), 204);
    }
    assert.deepEqual(order, [urgent.id, waiting[0]!.id, waiting[1]!.id]);
    streams.close(stream);
  });

  test("a batch taken with prefetch arrives in priority order", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, [30, 10, 20, 10, 40].map((priority) => jobInput(queue, { priority })));
    const expected = jobs
      .map((job, position) => ({ job, position }))
      .sort((a, b) => a.job.priority - b.job.priority || a.position - b.position)
      .map(({ job }) => job.id);
    const stream = await streams.take({ queue, prefetch: 10 });
    const order: string[] = [];
    for (let i = 0; i < jobs.length; i++) order.push((await stream.nextJob(2000)).id);
    assert.deepEqual(order, expected);
    assertStatus(await api(h.url, "POST", "/jobs/success", { body: { ids: order } }), 204);
    streams.close(stream);
  });

  test("prefetch=1 withholds the next job until the first is acked", async () => {
    const queue = uniqueName();
    const [a, b] = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue)]);
    const stream = await streams.take({ queue, prefetch: 1 });
    assert.equal((await stream.nextJob(2000)).id, a!.id);
    await assertNoJob(stream, 250, "prefetch=1 with one job unacknowledged");
    assert.equal((await getJob(h.url, b!.id)).status, "ready");
    assertStatus(await ack(h.url, a!.id), 204);
    assert.equal((await stream.nextJob(2000)).id, b!.id);
    streams.close(stream);
  });

  test("prefetch=3 holds at most three unacknowledged jobs", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, Array.from({ length: 5 }, () => jobInput(queue)));
    const stream = await streams.take({ queue, prefetch: 3 });
    const held = [await stream.nextJob(2000), await stream.nextJob(2000), await stream.nextJob(2000)];
    assert.deepEqual(held.map((job) => job.id), jobs.slice(0, 3).map((job) => job.id));
    await assertNoJob(stream, 250, "prefetch=3 with three unacknowledged");
    assertStatus(await failJob(h.url, held[1]!.id, { message: "nope", retry_at: h.clock.now() + 60_000 }), 200);
    assert.equal((await stream.nextJob(2000)).id, jobs[3]!.id, "a failure frees a slot as an ack does");
    await assertNoJob(stream, 250, "prefetch=3 full again");
    assertStatus(await api(h.url, "POST", "/jobs/success", { body: { ids: [held[0]!.id, held[2]!.id] } }), 204);
    assert.equal((await stream.nextJob(2000)).id, jobs[4]!.id);
    streams.close(stream);
  });

  test("the queue parameter limits a stream to the listed queues", async () => {
    const [qa, qb, qc] = [uniqueName(), uniqueName(), uniqueName()];
    const stream = await streams.take({ queue: `${qa},${qc}`, prefetch: 10 });
    const other = await enqueue(h.url, qb);
    const wanted = await enqueue(h.url, qa);
    assert.equal((await stream.nextJob(2000)).id, wanted.id);
    const third = await enqueue(h.url, qc);
    assert.equal((await stream.nextJob(2000)).id, third.id);
    await assertNoJob(stream, 250, "a job on an unlisted queue");
    assert.equal((await getJob(h.url, other.id)).status, "ready");

    const all = await streams.take({ prefetch: 10 });
    const delivered = await eventually(() => all.received.find((job) => job.id === other.id), 2000, "the other queue's job on an all-queues stream");
    assert.equal(delivered.queue, qb);
    streams.closeAll();
  });

  test("invalid take parameters are 400", async () => {
    for (const query of ["prefetch=-1", "prefetch=lots", "queue=", "bogus=1"]) {
      assertError(await api(h.url, "GET", `/jobs/take?${query}`), 400, query);
    }
  });

  test("all three stream formats deliver jobs", async () => {
    for (const [accept, media] of [
      [STREAM_MEDIA.ndjson, STREAM_MEDIA.ndjson],
      [STREAM_MEDIA.msgpack, STREAM_MEDIA.msgpack],
      [STREAM_MEDIA.sse, STREAM_MEDIA.sse],
    ] as const) {
      const queue = uniqueName();
      const stream = await streams.take({ queue, accept });
      assert.ok(stream.contentType?.startsWith(media), `${accept}: content-type ${stream.contentType}`);
      const job = await enqueue(h.url, queue, { payload: { format: accept, list: [1, 2, 3], nested: { ok: true } } });
      const delivered = await stream.nextJob(2000);
      assert.equal(delivered.id, job.id, accept);
      assert.equal(delivered.status, "in_flight", accept);
      assert.deepEqual(delivered.payload, { format: accept, list: [1, 2, 3], nested: { ok: true } }, accept);
      assertStatus(await ack(h.url, job.id), 204);
      streams.close(stream);
    }
  });

  test("heartbeat frames arrive periodically in NDJSON, msgpack-stream and SSE", async () => {
    for (const accept of [STREAM_MEDIA.ndjson, STREAM_MEDIA.msgpack, STREAM_MEDIA.sse]) {
      const stream = await streams.take({ queue: uniqueName(), accept });
      await stream.waitForHeartbeats(4, 3000);
      assert.equal(stream.received.length, 0, `${accept}: heartbeats are not jobs`);
      streams.close(stream);
    }
  });

  test("the msgpack stream is length-prefixed MessagePack with empty heartbeat frames", async () => {
    const queue = uniqueName();
    const controller = new AbortController();
    const response = await fetch(`${h.url}/jobs/take?queue=${queue}`, { headers: { accept: STREAM_MEDIA.msgpack }, signal: controller.signal });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const job = await enqueue(h.url, queue, { payload: { raw: true } });
    let bytes = Buffer.alloc(0);
    const frames: Buffer[] = [];
    const deadline = Date.now() + 3000;
    try {
      while (!frames.some((frame) => frame.length > 0) || frames.filter((frame) => frame.length === 0).length < 2) {
        assert.ok(Date.now() < deadline, "frames did not arrive in time");
        const { value, done } = await reader.read();
        assert.equal(done, false);
        bytes = Buffer.concat([bytes, value!]);
        while (bytes.length >= 4 && bytes.length >= 4 + bytes.readUInt32BE(0)) {
          const length = bytes.readUInt32BE(0);
          frames.push(bytes.subarray(4, 4 + length));
          bytes = bytes.subarray(4 + length);
        }
      }
    } finally {
      controller.abort();
    }
    const decoded = packr.unpack(frames.find((frame) => frame.length > 0)!) as Job;
    assert.equal(decoded.id, job.id);
    assert.deepEqual(decoded.payload, { raw: true });
    assertStatus(await eventually(async () => {
      const result = await api(h.url, "GET", `/jobs/${job.id}`);
      return result.body.status === "ready" ? result : undefined;
    }, 2000, "the aborted stream's job back to ready"), 200);
  });

  test("a Worker-Id header is accepted", async () => {
    const queue = uniqueName();
    const stream = await streams.take({ queue, workerId: "worker-7@host" });
    assert.equal(stream.status, 200);
    const job = await enqueue(h.url, queue);
    assert.equal((await stream.nextJob(2000)).id, job.id);
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });

  test("closing a stream returns its in-flight jobs to ready, unattempted, and another stream gets them", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue)]);
    const first = await streams.take({ queue, prefetch: 2 });
    const held = [await first.nextJob(2000), await first.nextJob(2000)];
    assert.deepEqual(held.map((job) => job.id).sort(), jobs.map((job) => job.id).sort());

    streams.close(first);
    for (const job of jobs) {
      await eventually(async () => (await getJob(h.url, job.id)).status === "ready", 2000, `${job.id} ready again`);
      const stored = await getJob(h.url, job.id);
      assert.equal(stored.attempts, 0, "a dropped stream is not a failed attempt");
    }

    const second = await streams.take({ queue, prefetch: 2 });
    const again = [await second.nextJob(2000), await second.nextJob(2000)];
    assert.deepEqual(again.map((job) => job.id).sort(), jobs.map((job) => job.id).sort());
    assertStatus(await ack(h.url, held[0]!.id), 204, "the ack is for the job, whichever stream holds it");
    streams.close(second);
  });

  test("a stream already waiting gets the jobs of a stream that closes", async () => {
    const queue = uniqueName();
    const { job, stream: holder } = await takeOne(streams, h.url, queue);
    const waiter = await streams.take({ queue });
    await assertNoJob(waiter, 100, "nothing ready yet");
    streams.close(holder);
    const redelivered = await waiter.nextJob(2000);
    assert.equal(redelivered.id, job.id);
    assert.equal(redelivered.attempts, 0);
    streams.close(waiter);
  });
});

describe("POST /jobs/{id}/success and /jobs/success", () => {
  test("acks an in-flight job with 204; a repeat is 404", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue);
    const first = await ack(h.url, job.id);
    assertStatus(first, 204);
    assert.equal(first.body, undefined, "204 has no body");
    assertError(await ack(h.url, job.id), 404, "repeated ack");
    assert.equal(await findJob(h.url, job.id), undefined, "completed jobs are dropped at once by default");
    streams.close(stream);
  });

  test("acking a job that is not in flight, or unknown, is 404", async () => {
    const ready = await enqueue(h.url, uniqueName());
    assertError(await ack(h.url, ready.id), 404, "ready job");
    assert.equal((await getJob(h.url, ready.id)).status, "ready", "a refused ack leaves the job alone");
    assertError(await ack(h.url, "03zzzzzzzzzzzzzzzzzzzzzzz"), 404, "unknown job");
  });

  test("bulk ack completes every listed job with 204", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, Array.from({ length: 3 }, () => jobInput(queue, { retention: { completed_ms: 60_000 } })));
    const stream = await streams.take({ queue, prefetch: 3 });
    for (let i = 0; i < 3; i++) await stream.nextJob(2000);
    const result = await api(h.url, "POST", "/jobs/success", { body: { ids: jobs.map((job) => job.id) } });
    assertStatus(result, 204);
    for (const job of jobs) {
      const stored = await getJob(h.url, job.id);
      assert.equal(stored.status, "completed");
      assert.equal(stored.completed_at, h.clock.now());
    }
    streams.close(stream);
  });

  test("bulk ack with unknown ids is 422 listing them, while the good ones are acked", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, Array.from({ length: 3 }, () => jobInput(queue, { retention: { completed_ms: 60_000 } })));
    const stream = await streams.take({ queue, prefetch: 2 });
    const [a, b] = [await stream.nextJob(2000), await stream.nextJob(2000)];
    const notInFlight = jobs[2]!.id;
    const bogus = "03zzzzzzzzzzzzzzzzzzzzzzz";
    const result = await api(h.url, "POST", "/jobs/success", { body: { ids: [a.id, bogus, b.id, notInFlight] } });
    assertError(result, 422);
    assert.ok(Array.isArray(result.body.not_found));
    assert.deepEqual([...result.body.not_found].sort(), [bogus, notInFlight].sort());
    assert.equal((await getJob(h.url, a.id)).status, "completed");
    assert.equal((await getJob(h.url, b.id)).status, "completed");
    assert.equal((await getJob(h.url, notInFlight)).status, "in_flight", "freed slots let the third job through");
    streams.close(stream);
  });

  test("bulk ack needs an ids array", async () => {
    assertError(await api(h.url, "POST", "/jobs/success", { body: {} }), 400);
    assertError(await api(h.url, "POST", "/jobs/success", { body: { ids: "abc" } }), 400);
    assertError(await api(h.url, "POST", "/jobs/success", { body: { ids: [1, 2] } }), 400);
  });
});

describe("POST /jobs/{id}/failure", () => {
  test("reschedules with the job's backoff: base_ms + attempts^exponent * 1000", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { backoff: BACKOFF });
    const failedAt = h.clock.now();
    const result = await failJob(h.url, job.id, { message: "first failure", error_type: "RuntimeError", backtrace: "at line 1" });
    assertStatus(result, 200);
    assert.equal(result.body.id, job.id);
    assert.equal(result.body.status, "scheduled");
    assert.equal(result.body.attempts, 1);
    assert.equal(result.body.failed_at, failedAt);
    assert.equal(result.body.ready_at, failedAt + 2000 + 1000);
    assert.equal("payload" in result.body, false);

    await h.clock.advance(2999);
    assert.equal((await getJob(h.url, job.id)).status, "scheduled", "not before its ready_at");
    await h.clock.advance(1);
    const retried = await stream.nextJob(2000);
    assert.equal(retried.id, job.id);
    assert.equal(retried.attempts, 1);

    const second = await failJob(h.url, job.id, { message: "second failure" });
    assertStatus(second, 200);
    assert.equal(second.body.attempts, 2);
    assert.equal(second.body.ready_at, h.clock.now() + 2000 + 4000);

    const errors = await api(h.url, "GET", `/jobs/${job.id}/errors`);
    assertStatus(errors, 200);
    assert.equal(errors.body.errors.length, 2);
    const [e1, e2] = errors.body.errors;
    assert.equal(e1.attempt, 1);
    assert.equal(e1.message, "first failure");
    assert.equal(e1.error_type, "RuntimeError");
    assert.equal(e1.backtrace, "at line 1");
    assert.equal(e1.dequeued_at, job.dequeued_at);
    assert.equal(e1.failed_at, failedAt);
    assert.equal(e2.attempt, 2);
    assert.equal(e2.message, "second failure");
    assert.equal(e2.dequeued_at, retried.dequeued_at);
    assert.equal(typeof errors.body.pages.self, "string");
    assert.equal(errors.body.pages.next, null);

    const one = await api(h.url, "GET", `/jobs/${job.id}/errors/2`);
    assertStatus(one, 200);
    assert.equal(one.body.attempt, 2);
    assert.equal(one.body.message, "second failure");
    assertError(await api(h.url, "GET", `/jobs/${job.id}/errors/3`), 404, "unknown attempt");
    assertError(await api(h.url, "GET", `/jobs/${job.id}/errors/0`), 404, "attempt 0");
    assertError(await api(h.url, "GET", `/jobs/${job.id}/errors/first`), 400, "non-numeric attempt");
    assertError(await api(h.url, "GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz/errors"), 404, "errors of an unknown job");
    assertError(await api(h.url, "GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz/errors/1"), 404, "error of an unknown job");
    streams.close(stream);
  });

  test("errors page by attempt", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue);
    for (let attempt = 1; attempt <= 3; attempt++) {
      assertStatus(await failJob(h.url, job.id, { message: `failure ${attempt}`, retry_at: h.clock.now() }), 200);
      assert.equal((await stream.nextJob(2000)).attempts, attempt);
    }
    const first = await api(h.url, "GET", `/jobs/${job.id}/errors?limit=2`);
    assertStatus(first, 200);
    assert.deepEqual(first.body.errors.map((error: { attempt: number }) => error.attempt), [1, 2]);
    const second = await api(h.url, "GET", first.body.pages.next);
    assertStatus(second, 200);
    assert.deepEqual(second.body.errors.map((error: { attempt: number }) => error.attempt), [3]);
    assert.equal(second.body.pages.next, null);
    const desc = await api(h.url, "GET", `/jobs/${job.id}/errors?order=desc`);
    assert.deepEqual(desc.body.errors.map((error: { attempt: number }) => error.attempt), [3, 2, 1]);
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });

  test("retry_at overrides the backoff", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { backoff: BACKOFF });
    const retryAt = h.clock.now() + 12_345;
    const result = await failJob(h.url, job.id, { message: "later", retry_at: retryAt });
    assertStatus(result, 200);
    assert.equal(result.body.status, "scheduled");
    assert.equal(result.body.ready_at, retryAt);
    assert.equal(result.body.attempts, 1);
    streams.close(stream);
  });

  test("kill: true makes the job dead at once, kept for the default 7 days", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retry_limit: 10 });
    const result = await failJob(h.url, job.id, { message: "fatal", kill: true });
    assertStatus(result, 200);
    assert.equal(result.body.status, "dead");
    assert.equal(result.body.attempts, 1);
    assert.equal(result.body.purge_at, h.clock.now() + SEVEN_DAYS_MS);
    const stored = await getJob(h.url, job.id);
    assert.equal(stored.status, "dead");
    assert.equal((await api(h.url, "GET", `/jobs/${job.id}/errors/1`)).body.message, "fatal");
    assertError(await failJob(h.url, job.id), 404, "a dead job is not in flight");
    streams.close(stream);
  });

  test("kill: false does not prevent death at the retry limit", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retry_limit: 0 });
    const result = await failJob(h.url, job.id, { message: "x", kill: false });
    assertStatus(result, 200);
    assert.equal(result.body.status, "dead");
    streams.close(stream);
  });

  test("retry_limit 0 dies on the first failure", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retry_limit: 0, backoff: BACKOFF });
    const result = await failJob(h.url, job.id, { message: "once" });
    assertStatus(result, 200);
    assert.equal(result.body.status, "dead");
    assert.equal(result.body.attempts, 1);
    streams.close(stream);
  });

  test("retry_limit 1 is scheduled once, then dead", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { retry_limit: 1, backoff: BACKOFF });
    const first = await failJob(h.url, job.id, { message: "one" });
    assertStatus(first, 200);
    assert.equal(first.body.status, "scheduled");
    assert.equal(first.body.attempts, 1);
    await h.clock.advance(3000);
    assert.equal((await stream.nextJob(2000)).id, job.id);
    const second = await failJob(h.url, job.id, { message: "two" });
    assertStatus(second, 200);
    assert.equal(second.body.status, "dead");
    assert.equal(second.body.attempts, 2);
    assert.equal((await getJob(h.url, job.id)).status, "dead");
    streams.close(stream);
  });

  test("failing a job that is not in flight is 404; a body without message is 400", async () => {
    const queue = uniqueName();
    const ready = await enqueue(h.url, queue);
    assertError(await failJob(h.url, ready.id), 404, "ready job");
    assertError(await failJob(h.url, "03zzzzzzzzzzzzzzzzzzzzzzz"), 404, "unknown job");
    const { job, stream } = await takeOne(streams, h.url, uniqueName());
    assertError(await failJob(h.url, job.id, { error_type: "NoMessage" }), 400, "no message");
    assertError(await failJob(h.url, job.id, { message: "x", kill: "yes" }), 400, "kill not a boolean");
    assertError(await failJob(h.url, job.id, { message: "x", retry_at: "soon" }), 400, "retry_at not a timestamp");
    assert.equal((await getJob(h.url, job.id)).status, "in_flight", "a refused failure leaves the job in flight");
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });
});

describe("time: promotion and leases", () => {
  test("a scheduled job becomes ready when the clock passes ready_at and goes to an open stream", async () => {
    const queue = uniqueName();
    const stream = await streams.take({ queue });
    const job = await enqueue(h.url, queue, { ready_at: h.clock.now() + 5000 });
    assert.equal(job.status, "scheduled");
    await assertNoJob(stream, 150, "a scheduled job is not delivered");
    await h.clock.advance(4999);
    assert.equal((await getJob(h.url, job.id)).status, "scheduled");
    await h.clock.advance(1);
    const delivered = await stream.nextJob(2000);
    assert.equal(delivered.id, job.id);
    assert.equal(delivered.status, "in_flight");
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
  });

  test("a promoted job with no stream open is ready", async () => {
    const job = await enqueue(h.url, uniqueName(), { ready_at: h.clock.now() + 1000 });
    await h.clock.advance(1000);
    assert.equal((await getJob(h.url, job.id)).status, "ready");
  });

  test("an unacknowledged job whose lease expires becomes a failed attempt", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { timeout: 2 });
    await h.clock.advance(1000);
    assert.equal((await getJob(h.url, job.id)).status, "in_flight", "still leased before the timeout");
    await h.clock.advance(2000);
    const expired = await getJob(h.url, job.id);
    assert.equal(expired.attempts, 1);
    assert.equal(expired.status, "scheduled", "retried after the default backoff");
    const errors = await api(h.url, "GET", `/jobs/${job.id}/errors`);
    assertStatus(errors, 200);
    assert.equal(errors.body.errors.length, 1);
    assert.equal(errors.body.errors[0].error_type, "LeaseExpired");
    assert.equal(errors.body.errors[0].attempt, 1);
    assertError(await ack(h.url, job.id), 404, "an expired lease cannot be acked");
    streams.close(stream);
  });

  test("POST /jobs/{id}/heartbeat extends the lease", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { timeout: 2 });
    await h.clock.advance(1500);
    const beat = await api(h.url, "POST", `/jobs/${job.id}/heartbeat`);
    assertStatus(beat, 200);
    assert.equal(beat.body.id, job.id);
    assert.equal(beat.body.lease_expires_at, h.clock.now() + 2000);
    await h.clock.advance(1500);
    const stored = await getJob(h.url, job.id);
    assert.equal(stored.status, "in_flight", "the heartbeat moved the expiry past now");
    assert.equal(stored.attempts, 0);
    await h.clock.advance(1000);
    assert.equal((await getJob(h.url, job.id)).attempts, 1, "without another heartbeat the lease runs out");
    streams.close(stream);
  });

  test("heartbeat for a job not in flight is 404", async () => {
    const ready = await enqueue(h.url, uniqueName());
    assertError(await api(h.url, "POST", `/jobs/${ready.id}/heartbeat`), 404);
    assertError(await api(h.url, "POST", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz/heartbeat"), 404);
  });
});
