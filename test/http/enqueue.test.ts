import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import {
  ack,
  assertError,
  assertStatus,
  countJobs,
  enqueue,
  enqueueBulk,
  failJob,
  findJob,
  getJob,
  jobInput,
  Streams,
  takeOne,
} from "../helpers/jobs.js";

let h: TestServer;
const streams = new Streams(() => h.url);

before(async () => {
  h = await startTestServer();
});

after(async () => {
  streams.closeAll();
  await h.close();
});

describe("POST /jobs", () => {
  test("creates a ready job with the documented defaults", async () => {
    const queue = uniqueName();
    const result = await api(h.url, "POST", "/jobs", { body: { queue, type: "greet", payload: { greet: "World" } } });
    assertStatus(result, 201);
    assert.match(result.headers.get("content-type") ?? "", /^application\/json/);
    const job = result.body;
    assert.equal(typeof job.id, "string");
    assert.ok(job.id.length > 0);
    assert.equal(job.queue, queue);
    assert.equal(job.type, "greet");
    assert.equal(job.priority, 32768);
    assert.equal(job.status, "ready");
    assert.equal(job.attempts, 0);
    assert.equal(job.ready_at, h.clock.now());
    assert.equal(job.duplicate, false);
    assert.equal("payload" in job, false, "the enqueue response leaves the payload out");

    const stored = await getJob(h.url, job.id);
    assert.deepEqual(stored.payload, { greet: "World" });
    assert.equal(stored.status, "ready");
    assert.equal(stored.priority, 32768);
  });

  test("a future ready_at makes the job scheduled; a past one keeps it ready", async () => {
    const queue = uniqueName();
    const later = h.clock.now() + 60_000;
    const scheduled = await enqueue(h.url, queue, { ready_at: later, priority: 500 });
    assert.equal(scheduled.status, "scheduled");
    assert.equal(scheduled.ready_at, later);
    assert.equal(scheduled.priority, 500);

    const earlier = h.clock.now() - 60_000;
    const ready = await enqueue(h.url, queue, { ready_at: earlier });
    assert.equal(ready.status, "ready");
    assert.equal(ready.ready_at, earlier);

    const now = await enqueue(h.url, queue, { ready_at: h.clock.now() });
    assert.equal(now.status, "ready");
  });

  test("echoes the optional policies it was given", async () => {
    const queue = uniqueName();
    const backoff = { base_ms: 1000, exponent: 1.5, jitter_ms: 10_000 };
    const retention = { completed_ms: 86_400_000, dead_ms: 604_800_000 };
    const job = await enqueue(h.url, queue, { backoff, retention, retry_limit: 3, priority: 0 });
    assert.deepEqual(job.backoff, backoff);
    assert.deepEqual(job.retention, retention);
    assert.equal(job.retry_limit, 3);
    assert.equal(job.priority, 0);
    const stored = await getJob(h.url, job.id);
    assert.deepEqual(stored.backoff, backoff);
    assert.deepEqual(stored.retention, retention);
    assert.equal(stored.retry_limit, 3);
  });

  test("accepts any JSON value as the payload and stores it unchanged", async () => {
    const queue = uniqueName();
    for (const payload of [null, 42, "text", [1, "two", { three: 3 }], { nested: { deep: [true, false, null] } }]) {
      const job = await enqueue(h.url, queue, { payload });
      assert.deepEqual((await getJob(h.url, job.id)).payload, payload);
    }
  });

  test("priority bounds 0 and 65535 are accepted", async () => {
    const queue = uniqueName();
    assert.equal((await enqueue(h.url, queue, { priority: 0 })).priority, 0);
    assert.equal((await enqueue(h.url, queue, { priority: 65535 })).priority, 65535);
  });

  test("missing queue, type or payload is a 400 and stores nothing", async () => {
    const queue = uniqueName();
    for (const field of ["queue", "type", "payload"]) {
      const body = jobInput(queue);
      delete body[field];
      assertError(await api(h.url, "POST", "/jobs", { body }), 400, `without ${field}`);
    }
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
  });

  test("an error names a bad value without echoing all of it (a value may be a secret or megabytes long)", async () => {
    const secret = `s3cr3t-${"x".repeat(100_000)}`;
    for (const field of ["priority", "ready_at", "unique_while", "retry_limit"]) {
      const refused = await api(h.url, "POST", "/jobs", { body: jobInput(uniqueName(), { [field]: secret }) });
      assertError(refused, 400, field);
      assert.ok(refused.body.error.length < 300, `${field}: ${refused.body.error.length} characters`);
      assert.ok(!refused.body.error.includes("x".repeat(100)), `${field}: ${refused.body.error}`);
    }
  });
});

describe("POST /jobs/bulk", () => {
  test("creates every job and answers in input order", async () => {
    const queue = uniqueName();
    const later = h.clock.now() + 60_000;
    const inputs = [
      jobInput(queue, { type: "first", payload: { i: 0 }, priority: 900 }),
      jobInput(queue, { type: "second", payload: { i: 1 }, ready_at: later }),
      jobInput(queue, { type: "third", payload: { i: 2 } }),
    ];
    const result = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: inputs } });
    assertStatus(result, 201);
    const jobs = result.body.jobs;
    assert.equal(jobs.length, 3);
    assert.deepEqual(jobs.map((job: { type: string }) => job.type), ["first", "second", "third"]);
    assert.deepEqual(jobs.map((job: { status: string }) => job.status), ["ready", "scheduled", "ready"]);
    assert.deepEqual(jobs.map((job: { priority: number }) => job.priority), [900, 32768, 32768]);
    for (const job of jobs) {
      assert.equal(job.attempts, 0);
      assert.equal(job.duplicate, false);
    }
    assert.equal(new Set(jobs.map((job: { id: string }) => job.id)).size, 3, "ids are distinct");
    for (const [index, job] of jobs.entries()) assert.deepEqual((await getJob(h.url, job.id)).payload, { i: index });
    assert.equal(await countJobs(h.url, `queue=${queue}`), 3);
  });

  test("is atomic: one invalid job is a 400 and nothing is stored", async () => {
    const queue = uniqueName();
    const total = await countJobs(h.url);
    const invalids: Array<[string, Record<string, unknown>]> = [
      ["missing type", { queue, payload: {} }],
      ["priority too large", jobInput(queue, { priority: 70_000 })],
      ["reserved queue character", jobInput(`${queue}*`)],
      ["unknown field", jobInput(queue, { bogus: true })],
    ];
    for (const [what, invalid] of invalids) {
      for (const position of [0, 1, 2]) {
        const jobs = [jobInput(queue), jobInput(queue)];
        jobs.splice(position, 0, invalid);
        assertError(await api(h.url, "POST", "/jobs/bulk", { body: { jobs } }), 400, `${what} at ${position}`);
      }
    }
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
    assert.equal(await countJobs(h.url), total, "no job was stored anywhere");
  });

  test("a body without a jobs array is a 400", async () => {
    assertError(await api(h.url, "POST", "/jobs/bulk", { body: { jobs: "nope" } }), 400);
    assertError(await api(h.url, "POST", "/jobs/bulk", { body: [jobInput(uniqueName())] }), 400);
    assertError(await api(h.url, "POST", "/jobs/bulk", { body: {} }), 400);
  });
});

function enqueueAnswer(queue: string, extra: Record<string, unknown>): ReturnType<typeof api> {
  return api(h.url, "POST", "/jobs", { body: jobInput(queue, extra) });
}

describe("unique_key", () => {
  test("defaults to unique_while queued and answers a duplicate with 200 and the existing job", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const first = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { unique_key: key, payload: { v: 1 } }) });
    assertStatus(first, 201);
    assert.equal(first.body.duplicate, false);
    assert.equal(first.body.unique_key, key);
    assert.equal(first.body.unique_while, "queued");

    const second = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { unique_key: key, payload: { v: 2 } }) });
    assertStatus(second, 200);
    assert.equal(second.body.duplicate, true);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.body.status, "ready");
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
    assert.deepEqual((await getJob(h.url, first.body.id)).payload, { v: 1 }, "the duplicate does not overwrite the job");
  });

  test("the key is global across queues and types", async () => {
    const key = uniqueName("key");
    const first = await enqueue(h.url, uniqueName(), { unique_key: key, type: "a" });
    const other = await api(h.url, "POST", "/jobs", { body: jobInput(uniqueName(), { unique_key: key, type: "b" }) });
    assertStatus(other, 200);
    assert.equal(other.body.duplicate, true);
    assert.equal(other.body.id, first.id);
  });

  test("a scheduled job blocks duplicates under every scope", async () => {
    for (const scope of ["queued", "active", "exists"]) {
      const queue = uniqueName();
      const key = uniqueName("key");
      const first = await enqueue(h.url, queue, { unique_key: key, unique_while: scope, ready_at: h.clock.now() + 60_000 });
      assert.equal(first.status, "scheduled");
      const again = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { unique_key: key, unique_while: scope }) });
      assertStatus(again, 200, scope);
      assert.equal(again.body.id, first.id);
    }
  });

  test("queued: an in-flight job no longer blocks a new one", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const { job, stream } = await takeOne(streams, h.url, queue, { unique_key: key, unique_while: "queued" });
    const fresh = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { unique_key: key, unique_while: "queued" }) });
    assertStatus(fresh, 201);
    assert.equal(fresh.body.duplicate, false);
    assert.notEqual(fresh.body.id, job.id);
    streams.close(stream);
  });

  test("queued: a retried job takes its key back when it is free, and gives it up for good when another job holds it", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const extra = { unique_key: key, unique_while: "queued", backoff: { base_ms: 60_000, exponent: 1, jitter_ms: 0 } };
    const { job, stream } = await takeOne(streams, h.url, queue, extra);
    assertStatus(await failJob(h.url, job.id), 200);
    assert.equal((await getJob(h.url, job.id)).status, "scheduled");
    assert.equal((await enqueueAnswer(queue, extra)).body.id, job.id, "retried with its key free, it holds the key again");

    await h.clock.advance(61_000);
    assert.equal((await stream.nextJob()).id, job.id, "due after 60 s + 1 s (attempt 1 to the power of the exponent)");
    // On a queue nobody takes from: the key is global, and this job must stay queued.
    const meanwhile = await enqueue(h.url, uniqueName(), extra);
    assertStatus(await failJob(h.url, job.id), 200, "a failure report never fails over a unique key");
    assert.equal((await getJob(h.url, job.id)).status, "scheduled");
    assert.equal((await enqueueAnswer(queue, extra)).body.id, meanwhile.id, "the job enqueued meanwhile keeps the key");
    assertStatus(await api(h.url, "DELETE", `/jobs/${meanwhile.id}`), 204);
    assertStatus(await enqueueAnswer(queue, extra), 201, "the retried job gave its key up when it came back");
    streams.close(stream);
  });

  test("active: an in-flight job blocks; once completed it does not", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const input = jobInput(queue, { unique_key: key, unique_while: "active" });
    const { job, stream } = await takeOne(streams, h.url, queue, { unique_key: key, unique_while: "active" });
    const blocked = await api(h.url, "POST", "/jobs", { body: input });
    assertStatus(blocked, 200);
    assert.equal(blocked.body.duplicate, true);
    assert.equal(blocked.body.id, job.id);
    assert.equal(blocked.body.status, "in_flight");

    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
    const fresh = await api(h.url, "POST", "/jobs", { body: input });
    assertStatus(fresh, 201);
    assert.notEqual(fresh.body.id, job.id);
  });

  test("exists: a retained completed job blocks until it is purged", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const extra = { unique_key: key, unique_while: "exists", retention: { completed_ms: 60_000 } };
    const { job, stream } = await takeOne(streams, h.url, queue, extra);
    assertStatus(await ack(h.url, job.id), 204);
    streams.close(stream);
    assert.equal((await getJob(h.url, job.id)).status, "completed");

    const blocked = await api(h.url, "POST", "/jobs", { body: jobInput(queue, extra) });
    assertStatus(blocked, 200);
    assert.equal(blocked.body.duplicate, true);
    assert.equal(blocked.body.id, job.id);
    assert.equal(blocked.body.status, "completed");

    await h.clock.advance(61_000);
    assert.equal(await findJob(h.url, job.id), undefined, "the completed job was purged");
    const fresh = await api(h.url, "POST", "/jobs", { body: jobInput(queue, extra) });
    assertStatus(fresh, 201);
    assert.notEqual(fresh.body.id, job.id);
  });

  test("bulk: all duplicates is a 200; some duplicates is a 201 with per-job flags", async () => {
    const queue = uniqueName();
    const keyA = uniqueName("key");
    const keyB = uniqueName("key");
    const [a, b] = await enqueueBulk(h.url, [jobInput(queue, { unique_key: keyA }), jobInput(queue, { unique_key: keyB })]);

    const allDuplicates = await api(h.url, "POST", "/jobs/bulk", {
      body: { jobs: [jobInput(queue, { unique_key: keyB }), jobInput(queue, { unique_key: keyA })] },
    });
    assertStatus(allDuplicates, 200);
    assert.deepEqual(allDuplicates.body.jobs.map((job: { id: string }) => job.id), [b!.id, a!.id]);
    assert.deepEqual(allDuplicates.body.jobs.map((job: { duplicate: boolean }) => job.duplicate), [true, true]);

    const mixed = await api(h.url, "POST", "/jobs/bulk", {
      body: { jobs: [jobInput(queue, { unique_key: keyA }), jobInput(queue), jobInput(queue, { unique_key: uniqueName("key") })] },
    });
    assertStatus(mixed, 201);
    assert.deepEqual(mixed.body.jobs.map((job: { duplicate: boolean }) => job.duplicate), [true, false, false]);
    assert.equal(mixed.body.jobs[0].id, a!.id);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 4);
  });

  test("bulk: a key repeated within one request creates one job", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const result = await api(h.url, "POST", "/jobs/bulk", {
      body: { jobs: [jobInput(queue, { unique_key: key }), jobInput(queue, { unique_key: key })] },
    });
    assertStatus(result, 201);
    const [first, second] = result.body.jobs;
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.id, first.id);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
  });
});
