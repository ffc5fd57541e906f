import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, countJobs, enqueue, failJob, getJob, serverForFile } from "../helpers/jobs.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;

const step = (queue: string, payload: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ queue, type: "step", payload, retry_limit: 0, ...extra });

async function createWorkflow(body: unknown): Promise<{ id: string; status: string; jobs: string[] }> {
  const created = await api(suite.h.url, "POST", "/workflows", { body });
  assertStatus(created, 201);
  return created.body;
}

async function workflow(id: string): Promise<{ status: string; steps: Array<{ id: string; status: string }>; callbacks: Array<{ id: string; on: string; status: string }>; results: Record<string, unknown> }> {
  const read = await api(suite.h.url, "GET", `/workflows/${id}`);
  assertStatus(read, 200);
  return read.body;
}

describe("workflows", () => {
  test("a chain passes each step's result to the next, three steps down; the workflow completes with every result", async () => {
    const queue = uniqueName();
    const created = await createWorkflow({ chain: [step(queue, "extract"), step(queue, "transform"), step(queue, "load")] });
    assert.equal(created.status, "running");
    assert.equal(created.jobs.length, 3);
    const [extract, transform, load] = created.jobs as [string, string, string];
    const stream = await streams.take({ queue, prefetch: 5 });
    const first = await stream.nextJob();
    assert.equal(first.id, extract);
    assert.equal(first.correlation_id, created.id, "every job carries the workflow's id");
    assert.equal(first.dependency_results, undefined);
    await assertNoJob(stream, 100, "the next step waits");
    assertStatus(await ack(suite.h.url, extract, { result: { rows: 10 } }), 204);
    const second = await stream.nextJob();
    assert.equal(second.id, transform);
    assert.equal(second.parent_job_id, extract);
    assert.deepEqual(second.dependency_results, { [extract]: { rows: 10 } });
    assert.equal((await workflow(created.id)).status, "running");
    assertStatus(await ack(suite.h.url, transform, { result: { rows: 9 } }), 204);
    const third = await stream.nextJob();
    assert.deepEqual(third.dependency_results, { [transform]: { rows: 9 } });
    assertStatus(await ack(suite.h.url, load, { result: "loaded" }), 204);
    const done = await workflow(created.id);
    assert.equal(done.status, "completed");
    assert.deepEqual(done.steps.map(({ status }) => status), ["completed", "completed", "completed"]);
    assert.deepEqual(done.results, { [extract]: { rows: 10 }, [transform]: { rows: 9 }, [load]: "loaded" });
    streams.close(stream);
  });

  test("a group whose one member dies fails; its on_error runs once, its on_success dies unrun as any dependent of a dead job", async () => {
    const queue = uniqueName();
    const created = await createWorkflow({
      group: [step(queue, "a"), step(queue, "b"), step(queue, "c")],
      on_success: step(queue, "all good"),
      on_error: step(queue, "alert"),
    });
    const stream = await streams.take({ queue, prefetch: 10 });
    const members = [await stream.nextJob(), await stream.nextJob(), await stream.nextJob()];
    assert.deepEqual(new Set(members.map(({ id }) => id)), new Set(created.jobs), "group members run in parallel");
    const [a, b, c] = created.jobs as [string, string, string];
    assertStatus(await failJob(suite.h.url, a, { message: "broken" }), 200);
    const alert = await stream.nextJob();
    assert.equal(alert.payload, "alert");
    assertStatus(await failJob(suite.h.url, b, { message: "broken too" }), 200);
    assertStatus(await ack(suite.h.url, c), 204);
    await assertNoJob(stream, 150, "on_error runs once, on_success never");
    assertStatus(await ack(suite.h.url, alert.id), 204);
    const failed = await workflow(created.id);
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.steps.map(({ status }) => status), ["dead", "dead", "completed"]);
    const byKind = new Map(failed.callbacks.map((callback) => [callback.on, callback]));
    assert.equal(byKind.get("error")!.status, "completed");
    assert.equal(byKind.get("success")!.status, "dead", "unreachable, never run");
    streams.close(stream);
  });

  test("nested steps: a chain of a group and a job, with step callbacks; a dead step kills what follows it", async () => {
    const queue = uniqueName();
    const created = await createWorkflow({
      chain: [{ group: [step(queue, "x"), step(queue, "y")], on_success: step(queue, "group done") }, step(queue, "z", { on_error: step(queue, "z failed") })],
      on_success: step(queue, "workflow done"),
    });
    const [x, y, z] = created.jobs as [string, string, string];
    const stream = await streams.take({ queue, prefetch: 10 });
    await stream.nextJob();
    await stream.nextJob();
    assertStatus(await ack(suite.h.url, x, { result: 1 }), 204);
    await assertNoJob(stream, 100, "z waits for the whole group");
    assertStatus(await ack(suite.h.url, y, { result: 2 }), 204);
    const next = [await stream.nextJob(), await stream.nextJob()];
    const zJob = next.find(({ id }) => id === z)!;
    assert.deepEqual(zJob.dependency_results, { [x]: 1, [y]: 2 }, "z gets the results of the group's exits");
    const groupDone = next.find(({ id }) => id !== z)!;
    assert.equal(groupDone.payload, "group done");
    assertStatus(await ack(suite.h.url, groupDone.id), 204);
    assertStatus(await failJob(suite.h.url, z, { message: "nope" }), 200);
    assert.equal((await stream.nextJob()).payload, "z failed");
    const view = await workflow(created.id);
    assert.equal(view.status, "failed");
    assert.deepEqual(view.callbacks.map(({ on, status }) => [on, status]), [["success", "completed"], ["error", "in_flight"], ["success", "dead"]], "inner callbacks first");
    streams.close(stream);
  });

  test("DELETE /workflows/{id} deletes its unfinished jobs and the workflow; finished ones stay to their retention", async () => {
    const queue = uniqueName();
    const created = await createWorkflow({ chain: [step(queue, 1), step(queue, 2), step(queue, 3)], retention: { completed_ms: 60_000 } });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await ack(suite.h.url, created.jobs[0]!), 204);
    await stream.nextJob();
    streams.close(stream);
    const deleted = await api(suite.h.url, "DELETE", `/workflows/${created.id}`);
    assertStatus(deleted, 200);
    assert.deepEqual(deleted.body, { deleted: 2 });
    assert.equal((await getJob(suite.h.url, created.jobs[0]!)).status, "completed");
    assert.equal(await countJobs(suite.h.url, `queue=${queue}`), 1);
    assertError(await api(suite.h.url, "GET", `/workflows/${created.id}`), 404);
    assertError(await api(suite.h.url, "DELETE", `/workflows/${created.id}`), 404);
  });

  test("a workflow is purged with its last job; an unknown one is 404", async () => {
    const queue = uniqueName();
    const created = await createWorkflow({ group: [step(queue, "only")], retention: { completed_ms: 0 } });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await ack(suite.h.url, created.jobs[0]!), 204);
    streams.close(stream);
    assert.equal((await workflow(created.id)).status, "completed", "a step gone after completing counts as completed");
    await suite.h.clock.advance(1500);
    assertError(await api(suite.h.url, "GET", `/workflows/${created.id}`), 404);
    assertError(await api(suite.h.url, "GET", "/workflows/not-a-workflow"), 404);
  });

  test("refusals: not a chain or group, empty steps, unknown fields, fields the workflow sets (400); an unknown outside dependency (422), nothing enqueued", async () => {
    const queue = uniqueName();
    const refused: Array<[unknown, RegExp]> = [
      [{}, /chain or a group/],
      [{ chain: [] }, /chain must be a non-empty array/],
      [{ chain: [step(queue, 1)], group: [step(queue, 2)] }, /both chain and group/],
      [{ chain: [step(queue, 1)], extra: 1 }, /extra/],
      [{ chain: [step(queue, 1, { correlation_id: "mine" })] }, /chain\[0\]\.correlation_id is set by the workflow/],
      [{ chain: [step(queue, 1, { dependencies: [0] })] }, /job ids only/],
      [{ chain: [{ group: [step(queue, 1)], extra: true }] }, /extra/],
      [{ chain: [{ queue, type: "t" }] }, /chain\[0\]\.payload is required/],
      [{ group: [step(queue, 1)], on_error: { chain: [step(queue, 2)] } }, /on_error is one job/],
    ];
    for (const [body, message] of refused) {
      const answer = await api(suite.h.url, "POST", "/workflows", { body });
      assertError(answer, 400, JSON.stringify(body));
      assert.match(answer.body.error, message);
    }
    const missing = await enqueue(suite.h.url, queue);
    await api(suite.h.url, "DELETE", `/jobs/${missing.id}`);
    assertError(await api(suite.h.url, "POST", "/workflows", { body: { chain: [step(queue, 1), step(queue, 2, { dependencies: [missing.id] })] } }), 422);
    assert.equal(await countJobs(suite.h.url, `queue=${queue}`), 0, "no refused workflow left a job behind");
  });
});
