import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, enqueue, getJob, serverForFile } from "../helpers/jobs.js";
import { openTake, STREAM_MEDIA } from "../helpers/take.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;

async function errorsOf(id: string): Promise<Array<{ message: string; error_type?: string }>> {
  return (await api(suite.h.url, "GET", `/jobs/${id}/errors`)).body.errors;
}

describe("cancellation", () => {
  test("a ready, scheduled or blocked job is dead at once with a Cancelled error; its dependents die with it; an ended one is 422", async () => {
    const queue = uniqueName();
    const ready = await enqueue(suite.h.url, queue);
    const scheduled = await enqueue(suite.h.url, queue, { ready_at: suite.h.clock.now() + 60_000 });
    const blocked = await enqueue(suite.h.url, queue, { dependencies: [scheduled.id] });
    const dependent = await enqueue(suite.h.url, queue, { dependencies: [blocked.id] });
    for (const job of [ready, blocked, scheduled]) {
      const cancelled = await api(suite.h.url, "POST", `/jobs/${job.id}/cancel`);
      assertStatus(cancelled, 200);
      assert.equal(cancelled.body.status, "dead");
      assert.equal(cancelled.body.payload, undefined, "answered without the payload, as a failure is");
      assert.deepEqual((await errorsOf(job.id)).map(({ error_type }) => error_type), ["Cancelled"]);
    }
    assert.equal((await getJob(suite.h.url, dependent.id)).status, "dead", "unreachable once its dependency was cancelled");
    const stream = await streams.take({ queue });
    await assertNoJob(stream, 100, "nothing cancelled is handed out");
    streams.close(stream);
    const again = await api(suite.h.url, "POST", `/jobs/${ready.id}/cancel`);
    assertError(again, 422);
    assert.match(again.body.error, /has not ended/);
    assertError(await api(suite.h.url, "POST", "/jobs/0000000000000000000000000/cancel"), 404);
    assertError(await api(suite.h.url, "POST", `/jobs/${ready.id}/cancel`, { body: {} }), 400);
  });

  test("an in-flight job is dead at once; a stream that asked for controls gets a cancel frame, and the worker's late ack is refused", async () => {
    for (const accept of [STREAM_MEDIA.ndjson, STREAM_MEDIA.msgpack]) {
      const queue = uniqueName();
      const job = await enqueue(suite.h.url, queue);
      const stream = openTake(suite.h.url, { queue, controls: true, accept, prefetch: 5 });
      try {
        const taken = await stream.nextJob(3000);
        assert.equal(taken.id, job.id);
        const cancelled = await api(suite.h.url, "POST", `/jobs/${job.id}/cancel`);
        assertStatus(cancelled, 200);
        assert.equal(cancelled.body.status, "dead");
        assert.deepEqual(await stream.nextJob(3000), { control: "cancel", id: job.id, run_id: taken.run_id }, accept);
        assertError(await api(suite.h.url, "POST", `/jobs/${job.id}/success`, { body: { run_id: taken.run_id } }), 404);
        assert.equal((await getJob(suite.h.url, job.id)).status, "dead", "whatever the worker answers later");
        assert.deepEqual((await errorsOf(job.id)).map(({ error_type }) => error_type), ["Cancelled"]);
      } finally {
        stream.close();
      }
    }
  });

  test("a stream that did not ask for controls gets jobs only; controls must be true or false", async () => {
    const queue = uniqueName();
    const [first, second] = [await enqueue(suite.h.url, queue), await enqueue(suite.h.url, queue)];
    const stream = await streams.take({ queue, prefetch: 1 });
    assert.equal((await stream.nextJob()).id, first.id);
    assertStatus(await api(suite.h.url, "POST", `/jobs/${first.id}/cancel`), 200);
    const next = await stream.nextJob();
    assert.equal(next.id, second.id, "the slot the cancel freed went to the next job, and no control frame came first");
    assertStatus(await ack(suite.h.url, second.id), 204);
    streams.close(stream);
    assertError(await api(suite.h.url, "GET", `/jobs/take?queue=${queue}&controls=yes`), 400);
  });
});
