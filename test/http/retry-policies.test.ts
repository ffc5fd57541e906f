import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { assertError, assertStatus, enqueue, failJob, serverForFile } from "../helpers/jobs.js";

// Jitter draws 0.5: a linear policy's delay is then 1 - jitter / 2 of its step.
const suite = serverForFile({ heartbeatMs: 50, random: () => 0.5 });
const { streams } = suite;

/** Fails the job `times` times, each time taking it again once due; answers each retry's delay in ms. */
async function delaysOf(queue: string, id: string, times: number): Promise<number[]> {
  const stream = await streams.take({ queue });
  const delays: number[] = [];
  try {
    for (let n = 0; n < times; n++) {
      assert.equal((await stream.nextJob()).id, id);
      const now = suite.h.clock.now();
      const failed = await failJob(suite.h.url, id, { message: `failure ${n + 1}` });
      assertStatus(failed, 200);
      delays.push(failed.body.ready_at - now);
      await suite.h.clock.advance(failed.body.ready_at - now);
    }
  } finally {
    streams.close(stream);
  }
  return delays;
}

describe("retry policies and queue defaults", () => {
  test("each named policy's delays: linear curves with jitter, constant, exponential capped", async () => {
    const cases: Array<[unknown, number[]]> = [
      ["linear_1m", [750, 3079, 5408]],
      [{ name: "linear_10m" }, [33_000, 39_061, 45_122]],
      ["linear_1h", [330_000, 416_842, 503_684]],
      [{ name: "constant", delay_ms: 2500 }, [2500, 2500, 2500]],
      [{ name: "exponential", base_ms: 1000, max_ms: 3000 }, [1000, 2000, 3000]],
      ["exponential", [1000, 2000, 4000]],
    ];
    for (const [policy, expected] of cases) {
      const queue = uniqueName();
      const job = await enqueue(suite.h.url, queue, { retry_policy: policy, retry_limit: 10 });
      assert.deepEqual(await delaysOf(queue, job.id, 3), expected, JSON.stringify(policy));
    }
  });

  test("a bad policy, or a policy with a backoff, is 400", async () => {
    const queue = uniqueName();
    for (const policy of ["linear_2m", { name: "constant" }, { name: "constant", delay_ms: -1 }, { name: "exponential", base_ms: 10, max_ms: 5 }, { name: "linear_1m", extra: 1 }, 7]) {
      assertError(await api(suite.h.url, "POST", "/jobs", { body: { queue, type: "t", payload: null, retry_policy: policy } }), 400, JSON.stringify(policy));
    }
    const both = { queue, type: "t", payload: null, retry_policy: "linear_1m", backoff: { base_ms: 1, exponent: 1, jitter_ms: 0 } };
    assertError(await api(suite.h.url, "POST", "/jobs", { body: both }), 400);
  });

  test("a queue's retry_limit, timeout, retention and retry_policy are the defaults of jobs enqueued after; a job's own win", async () => {
    const queue = uniqueName();
    const settings = { retry_limit: 1, timeout: 9, retention: { completed_ms: 60_000 }, retry_policy: { name: "constant", delay_ms: 100 } };
    const patched = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: settings });
    assertStatus(patched, 200);
    assert.deepEqual(patched.body.settings, { paused: false, ...settings });
    const plain = await enqueue(suite.h.url, queue);
    assert.deepEqual([plain.retry_limit, plain.timeout, plain.retention, plain.retry_policy], [1, 9, { completed_ms: 60_000 }, { name: "constant", delay_ms: 100 }]);
    const own = await enqueue(suite.h.url, queue, { retry_limit: 5, timeout: 2, retention: { dead_ms: 10 }, backoff: { base_ms: 1, exponent: 1, jitter_ms: 0 } });
    assert.deepEqual([own.retry_limit, own.timeout, own.retention, own.retry_policy], [5, 2, { completed_ms: 60_000, dead_ms: 10 }, undefined], "a job's backoff keeps the queue's policy off");
    assert.deepEqual(await delaysOf(queue, plain.id, 1), [100]);
    const stream = await streams.take({ queue, prefetch: 2 });
    const taken = [await stream.nextJob(), await stream.nextJob()];
    const second = taken.find(({ id }) => id === plain.id)!;
    assert.equal((await failJob(suite.h.url, second.id, { message: "again" })).body.status, "dead", "retry_limit 1 from the queue");
    streams.close(stream);
    await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { retry_limit: null, timeout: null, retention: null, retry_policy: null } });
    assert.deepEqual((await api(suite.h.url, "GET", `/queues/${queue}`)).body.settings, { paused: false });
    const later = await enqueue(suite.h.url, queue);
    assert.deepEqual([later.retry_limit, later.timeout, later.retry_policy], [undefined, undefined, undefined]);
    for (const bad of [{ retry_limit: -1 }, { timeout: 0 }, { retention: { forever: true } }, { retry_policy: "soon" }]) {
      assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: bad }), 400, JSON.stringify(bad));
    }
  });
});
