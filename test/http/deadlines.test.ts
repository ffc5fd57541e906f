import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, enqueue, failJob, getJob, jobInput, Streams, takeOne } from "../helpers/jobs.js";
import type { Job } from "../../src/job/types.js";

let h: TestServer;
const streams = new Streams(() => h.url);

before(async () => {
  h = await startTestServer({ heartbeatMs: 50 });
});

after(async () => {
  streams.closeAll();
  await h.close();
});

async function deadOnce(id: string): Promise<Job> {
  return eventually(async () => {
    const job = await getJob(h.url, id);
    return job.status === "dead" ? job : undefined;
  }, 3000, `job ${id} to be dead`);
}

describe("deadlines", () => {
  test("a ready job whose deadline passes before it starts is dead, with an error saying so, and is never handed out", async () => {
    const queue = uniqueName();
    const deadline = h.clock.now() + 10_000;
    const job = await enqueue(h.url, queue, { deadline });
    assert.equal(job.deadline, deadline, "the enqueue answer shows the deadline");
    await h.clock.advance(9_999);
    assert.equal((await getJob(h.url, job.id)).status, "ready", "not dead a millisecond early");
    await h.clock.advance(1);
    const dead = await deadOnce(job.id);
    assert.equal(dead.failed_at, deadline);
    assert.equal(dead.attempts, 0, "no attempt ran");
    const errors = await api(h.url, "GET", `/jobs/${job.id}/errors`);
    assert.equal(errors.body.errors.length, 1);
    assert.equal(errors.body.errors[0].error_type, "DeadlineExceeded");
    assert.match(errors.body.errors[0].message, /deadline .* passed before the job started/);
    const stream = await streams.take({ queue });
    await assertNoJob(stream, 200, "a job past its deadline is not taken");
    streams.close(stream);
  });

  test("a scheduled job due after its deadline dies at the deadline; one due before it runs", async () => {
    const queue = uniqueName();
    const now = h.clock.now();
    const late = await enqueue(h.url, queue, { ready_at: now + 5_000, deadline: now + 2_000 });
    const early = await enqueue(h.url, queue, { ready_at: now + 1_000, deadline: now + 2_000 });
    const stream = await streams.take({ queue });
    await h.clock.advance(1_000);
    const taken = await stream.nextJob(3000);
    assert.equal(taken.id, early.id, "the job due before its deadline starts");
    await h.clock.advance(1_000);
    assert.equal((await deadOnce(late.id)).failed_at, now + 2_000);
    await h.clock.advance(5_000);
    await assertNoJob(stream, 200, "the dead job is not promoted later");
    assert.equal((await getJob(h.url, early.id)).status, "in_flight", "a running job may run past its deadline");
    assertStatus(await ack(h.url, early.id), 204);
    streams.close(stream);
  });

  test("a retry that would start after the deadline does not: the job dies at the deadline", async () => {
    const queue = uniqueName();
    const deadline = h.clock.now() + 3_000;
    const { job, stream } = await takeOne(streams, h.url, queue, { deadline, backoff: { base_ms: 10_000, exponent: 1, jitter_ms: 0 } });
    assertStatus(await failJob(h.url, job.id, { message: "try later" }), 200);
    assert.equal((await getJob(h.url, job.id)).status, "scheduled");
    await h.clock.advance(3_000);
    const dead = await deadOnce(job.id);
    assert.equal(dead.attempts, 1);
    const errors = await api(h.url, "GET", `/jobs/${job.id}/errors`);
    assert.deepEqual(errors.body.errors.map((error: { attempt: number; error_type?: string }) => [error.attempt, error.error_type ?? null]), [[1, null], [2, "DeadlineExceeded"]]);
    await h.clock.advance(20_000);
    await assertNoJob(stream, 200);
    streams.close(stream);
  });

  test("deadlines kept with a dead job's retention; a retried dead job has none", async () => {
    const queue = uniqueName();
    const job = await enqueue(h.url, queue, { deadline: h.clock.now() + 1 });
    await h.clock.advance(1);
    await deadOnce(job.id);
    const copy = await api(h.url, "POST", `/jobs/${job.id}/requeue`);
    assertStatus(copy, 201);
    assert.equal(copy.body.deadline, undefined);
    assert.equal(copy.body.status, "ready");
  });

  test("a malformed deadline is 400, and a cron template cannot carry one", async () => {
    const queue = uniqueName();
    for (const deadline of ["tomorrow", -1, 1.5]) {
      const refused = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { deadline }) });
      assertError(refused, 400, String(deadline));
      assert.match(refused.body.error, /deadline/);
    }
    const cron = await api(h.url, "PUT", `/crons/${uniqueName("g")}`, {
      body: { entries: [{ name: "e", expression: "* * * * *", job: { queue, type: "t", payload: null, deadline: h.clock.now() + 60_000 } }] },
    });
    assertError(cron, 400);
    assert.match(cron.body.error, /deadline/);
  });
});
