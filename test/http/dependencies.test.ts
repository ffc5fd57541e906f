import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, countJobs, enqueue, enqueueBulk, failJob, getJob, jobInput, Streams } from "../helpers/jobs.js";
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

async function statusOf(id: string): Promise<string> {
  return (await getJob(h.url, id)).status;
}

async function errorsOf(id: string): Promise<Array<{ message: string; error_type?: string }>> {
  return (await api(h.url, "GET", `/jobs/${id}/errors`)).body.errors;
}

describe("dependencies", () => {
  test("a chain in one bulk, by position: each job is blocked until the one before it completes", async () => {
    const queue = uniqueName();
    const [first, second, third] = await enqueueBulk(h.url, [
      jobInput(queue, { payload: 1 }),
      jobInput(queue, { payload: 2, dependencies: [0] }),
      jobInput(queue, { payload: 3, dependencies: [1] }),
    ]);
    assert.deepEqual([first!.status, second!.status, third!.status], ["ready", "blocked", "blocked"]);
    assert.deepEqual(second!.dependencies, [first!.id], "positions come back as the ids they named");
    assert.equal(await countJobs(h.url, `queue=${queue}&status=blocked`), 2);
    const stream = await streams.take({ queue, prefetch: 5 });
    assert.equal((await stream.nextJob()).id, first!.id);
    await assertNoJob(stream, 150, "blocked jobs are not handed out");
    assertStatus(await ack(h.url, first!.id), 204);
    assert.equal((await stream.nextJob()).id, second!.id, "the dependent is ready the moment its dependency completes");
    assert.equal(await statusOf(third!.id), "blocked");
    assertStatus(await ack(h.url, second!.id), 204);
    assert.equal((await stream.nextJob()).id, third!.id);
    streams.close(stream);
  });

  test("fan-in: a job waits for every dependency, acked one by one or together", async () => {
    const queue = uniqueName();
    const [a, b, c, d] = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue), jobInput(queue), jobInput(queue)]);
    const one = await enqueue(h.url, queue, { dependencies: [a!.id, b!.id] });
    const both = await enqueue(h.url, queue, { dependencies: [c!.id, d!.id, c!.id] });
    assert.deepEqual(both.dependencies, [c!.id, d!.id], "a dependency named twice counts once");
    const stream = await streams.take({ queue, prefetch: 4 });
    const taken = new Set<string>();
    for (let n = 0; n < 4; n++) taken.add((await stream.nextJob()).id);
    assertStatus(await ack(h.url, a!.id), 204);
    assert.equal(await statusOf(one.id), "blocked", "one of two dependencies is not enough");
    assertStatus(await ack(h.url, b!.id), 204);
    assert.notEqual(await statusOf(one.id), "blocked", "released (and maybe taken already: the stream has room)");
    assertStatus(await api(h.url, "POST", "/jobs/success", { body: { ids: [c!.id, d!.id] } }), 204);
    assert.notEqual(await statusOf(both.id), "blocked", "two dependencies completing in one commit release the job");
    const released = new Set([(await stream.nextJob()).id, (await stream.nextJob()).id]);
    assert.deepEqual(released, new Set([one.id, both.id]));
    streams.close(stream);
  });

  test("a dependency that has completed already is met; a job whose dependencies are all met goes in ready or scheduled", async () => {
    const queue = uniqueName();
    const done = await enqueue(h.url, queue, { retention: { completed_ms: 60_000 } });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await ack(h.url, done.id), 204);
    streams.close(stream);
    const now = await enqueue(h.url, queue, { dependencies: [done.id] });
    assert.equal(now.status, "ready");
    const later = await enqueue(h.url, queue, { dependencies: [done.id], ready_at: h.clock.now() + 60_000 });
    assert.equal(later.status, "scheduled");
  });

  test("a blocked job with a future ready_at is scheduled when unblocked, and a PATCH does not unblock it", async () => {
    const queue = uniqueName();
    const parent = await enqueue(h.url, queue);
    const child = await enqueue(h.url, queue, { dependencies: [parent.id], ready_at: h.clock.now() + 5_000 });
    const patched = await api(h.url, "PATCH", `/jobs/${child.id}`, { body: { ready_at: null, priority: 3 } });
    assertStatus(patched, 200);
    assert.equal(patched.body.status, "blocked", "a PATCH moves no job out of blocked");
    assert.equal(patched.body.priority, 3);
    await api(h.url, "PATCH", `/jobs/${child.id}`, { body: { ready_at: h.clock.now() + 5_000 } });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await ack(h.url, parent.id), 204);
    assert.equal(await statusOf(child.id), "scheduled");
    await h.clock.advance(5_000);
    assert.equal((await stream.nextJob()).id, child.id);
    streams.close(stream);
  });

  test("a PATCH that removes a blocked job's dependencies releases it; a PATCH cannot add any", async () => {
    const queue = uniqueName();
    const parent = await enqueue(h.url, queue);
    const child = await enqueue(h.url, queue, { dependencies: [parent.id] });
    const refused = await api(h.url, "PATCH", `/jobs/${child.id}`, { body: { dependencies: [parent.id] } });
    assertError(refused, 422);
    assert.match(refused.body.error, /can only be removed/);
    const released = await api(h.url, "PATCH", `/jobs/${child.id}`, { body: { dependencies: null } });
    assertStatus(released, 200);
    assert.equal(released.body.status, "ready");
    assert.equal(released.body.dependencies, undefined);
    assert.equal((await getJob(h.url, child.id)).dependencies, undefined);
    const other = await enqueue(h.url, queue, { dependencies: [parent.id], ready_at: h.clock.now() + 60_000 });
    assertStatus(await api(h.url, "PATCH", `/jobs?queue=${queue}&status=blocked`, { body: { dependencies: [] } }), 200);
    assert.equal(await statusOf(other.id), "scheduled", "released by a bulk PATCH, to its ready_at");
    const stream = await streams.take({ queue, prefetch: 5 });
    const taken = new Set([(await stream.nextJob()).id, (await stream.nextJob()).id]);
    assert.deepEqual(taken, new Set([parent.id, child.id]));
    assertStatus(await ack(h.url, parent.id), 204);
    assert.equal(await statusOf(other.id), "scheduled", "the removed edge does not settle it again");
    streams.close(stream);
  });

  test("a dependency that dies kills its dependents down the graph, each error naming the one before", async () => {
    const queue = uniqueName();
    const [root, middle, leaf] = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue, { dependencies: [0] }), jobInput(queue, { dependencies: [1] })]);
    const stream = await streams.take({ queue });
    assert.equal((await stream.nextJob()).id, root!.id);
    assertStatus(await failJob(h.url, root!.id, { message: "broken", kill: true }), 200);
    assert.equal(await statusOf(middle!.id), "dead");
    assert.equal(await statusOf(leaf!.id), "dead");
    const [middleError] = await errorsOf(middle!.id);
    assert.equal(middleError!.error_type, "DependencyFailed");
    assert.match(middleError!.message, new RegExp(`dependency ${root!.id} is dead`));
    assert.match((await errorsOf(leaf!.id))[0]!.message, new RegExp(`dependency ${middle!.id} is dead`));
    await assertNoJob(stream, 150);
    streams.close(stream);
  });

  test("deleting a dependency before it completes kills its dependents; deleting a dependent leaves the rest alone", async () => {
    const queue = uniqueName();
    const parent = await enqueue(h.url, queue);
    const child = await enqueue(h.url, queue, { dependencies: [parent.id] });
    const sibling = await enqueue(h.url, queue, { dependencies: [parent.id] });
    assertStatus(await api(h.url, "DELETE", `/jobs/${sibling.id}`), 204);
    assertStatus(await api(h.url, "DELETE", `/jobs/${parent.id}`), 204);
    assert.equal(await statusOf(child.id), "dead");
    assert.match((await errorsOf(child.id))[0]!.message, /was deleted before it completed/);

    const other = await enqueue(h.url, queue, { payload: "other" });
    const waiting = await enqueue(h.url, queue, { dependencies: [other.id] });
    const deleted = await api(h.url, "DELETE", `/jobs?queue=${queue}&status=ready`);
    assertStatus(deleted, 200);
    assert.equal(await statusOf(waiting.id), "dead", "a delete by filter settles dependents too");
  });

  test("refusals: unknown or dead dependencies 422, malformed 400, positions forward or on a unique job 422", async () => {
    const queue = uniqueName();
    const missing = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: ["0000000000000000000000000"] }) });
    assertError(missing, 422);
    assert.match(missing.body.error, /does not exist/);
    const doomed = await enqueue(h.url, queue, { retention: { dead_ms: 60_000 } });
    const stream = await streams.take({ queue });
    await stream.nextJob();
    await failJob(h.url, doomed.id, { message: "x", kill: true });
    streams.close(stream);
    const onDead = await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: [doomed.id] }) });
    assertError(onDead, 422);
    assert.match(onDead.body.error, /is dead/);
    for (const dependencies of ["abc", ["not-an-id"], [-1], [1.5], [null]]) {
      assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies }) }), 400, JSON.stringify(dependencies));
    }
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: Array.from({ length: 1001 }, () => doomed.id) }) }), 400);
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: [doomed.id], unique_key: "k" }) }), 400);
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: [0] }) }), 422, "a position in a single enqueue");
    const forward = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue, { dependencies: [1] }), jobInput(queue)] } });
    assertError(forward, 422);
    assert.match(forward.body.error, /jobs\[0\]\.dependencies\[0\].*cycle/);
    assertError(await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue, { dependencies: [0] })] } }), 422, "a job waiting for itself");
    const onUnique = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue, { unique_key: uniqueName("k") }), jobInput(queue, { dependencies: [0] })] } });
    assertError(onUnique, 422);
    assert.equal(await countJobs(h.url, `queue=${queue}&status=blocked`), 0, "no refused request left a job behind");
  });

  test("blocked shows in /queues counts and the status filter; a parent completed with the default retention unblocks and stays until its dependent ends", async () => {
    const queue = uniqueName();
    const parent = await enqueue(h.url, queue);
    const child = await enqueue(h.url, queue, { dependencies: [parent.id] });
    const queues = await api(h.url, "GET", "/queues");
    assertStatus(queues, 200);
    const listed = await api(h.url, "GET", `/jobs?status=blocked&queue=${queue}`);
    assert.deepEqual(listed.body.jobs.map((job: Job) => job.id), [child.id]);
    const metrics = await api(h.url, "GET", "/metrics");
    assert.match(String(metrics.body), new RegExp(`status="blocked"`));
    const stream = await streams.take({ queue });
    await stream.nextJob();
    assertStatus(await ack(h.url, parent.id, { result: { rows: 3 } }), 204);
    assert.equal((await stream.nextJob()).id, child.id);
    await h.clock.advance(5000);
    assert.deepEqual((await api(h.url, "GET", `/jobs/${parent.id}/result`)).body, { result: { rows: 3 } }, "kept while its dependent runs, purges notwithstanding");
    assertStatus(await ack(h.url, child.id), 204);
    assert.equal((await api(h.url, "GET", `/jobs/${child.id}`)).status, 404, "the dependent, depended on by nothing, goes as it completes");
    await h.clock.advance(1500);
    await eventually(async () => (await api(h.url, "GET", `/jobs/${parent.id}`)).status === 404, 3000, "the parent purged once its dependent ended");
    streams.close(stream);
  });

  test("load_dependencies: a dependent is taken with its dependencies' results; others are taken without", async () => {
    const queue = uniqueName();
    const [left, right, both, plain] = await enqueueBulk(h.url, [
      jobInput(queue, { payload: "left" }),
      jobInput(queue, { payload: "right" }),
      jobInput(queue, { payload: "both", dependencies: [0, 1], load_dependencies: true }),
      jobInput(queue, { payload: "plain", dependencies: [0] }),
    ]);
    assert.equal(both!.load_dependencies, true);
    const stream = await streams.take({ queue, prefetch: 10 });
    const firsts = [await stream.nextJob(), await stream.nextJob()];
    assert.deepEqual(firsts.map((job) => job.dependency_results), [undefined, undefined]);
    assertStatus(await ack(h.url, left!.id, { result: { n: 2 } }), 204);
    assertStatus(await ack(h.url, right!.id), 204);
    const taken = new Map([await stream.nextJob(), await stream.nextJob()].map((job) => [job.id, job]));
    assert.deepEqual(taken.get(both!.id)!.dependency_results, { [left!.id]: { n: 2 }, [right!.id]: null }, "a dependency without a result gives null");
    assert.equal(taken.get(plain!.id)!.dependency_results, undefined, "not asked for, not loaded");
    // A retried attempt gets them again: the results stay until the dependent ends.
    assertStatus(await failJob(h.url, both!.id, { message: "try again", retry_at: 0 }), 200);
    const retried = await stream.nextJob();
    assert.equal(retried.id, both!.id);
    assert.deepEqual(Object.keys(retried.dependency_results!).sort(), [left!.id, right!.id].sort());
    streams.close(stream);
  });

  test("runs_on failure: a job runs once when a dependency dies, and is discarded unrun when all complete", async () => {
    const queue = uniqueName();
    const [good, bad, onError, notNeeded] = await enqueueBulk(h.url, [
      jobInput(queue, { payload: "good", retry_limit: 0 }),
      jobInput(queue, { payload: "bad", retry_limit: 0 }),
      jobInput(queue, { payload: "on error", dependencies: [0, 1], runs_on: "failure" }),
      jobInput(queue, { payload: "not needed", dependencies: [0], runs_on: "failure" }),
    ]);
    assert.deepEqual([onError!.status, onError!.runs_on, notNeeded!.status], ["blocked", "failure", "blocked"]);
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { runs_on: "failure" }) }), 400);
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: [good!.id], runs_on: "always" }) }), 400);
    const stream = await streams.take({ queue, prefetch: 10 });
    const firsts = new Set([(await stream.nextJob()).id, (await stream.nextJob()).id]);
    assert.deepEqual(firsts, new Set([good!.id, bad!.id]));
    assertStatus(await failJob(h.url, bad!.id, { message: "broken" }), 200);
    assert.equal((await stream.nextJob()).id, onError!.id, "a dependency died: the failure job runs");
    assertStatus(await ack(h.url, good!.id), 204);
    assert.equal((await api(h.url, "GET", `/jobs/${notNeeded!.id}`)).status, 404, "its one dependency completed: discarded");
    await assertNoJob(stream, 150, "nothing else runs");
    assertStatus(await ack(h.url, onError!.id), 204);
    streams.close(stream);
  });

  test("load_dependencies needs dependencies and a boolean (400); a dependency completed before the dependent was enqueued is kept for it too", async () => {
    const queue = uniqueName();
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { load_dependencies: true }) }), 400);
    const parent = await enqueue(h.url, queue);
    assertError(await api(h.url, "POST", "/jobs", { body: jobInput(queue, { dependencies: [parent.id], load_dependencies: "yes" }) }), 400);
    const stream = await streams.take({ queue });
    await stream.nextJob();
    // Kept by a dependent still blocked on another job, a completed parent is there when a new dependent names it.
    const other = await enqueue(h.url, uniqueName("other"));
    await enqueue(h.url, queue, { dependencies: [parent.id, other.id] });
    assertStatus(await ack(h.url, parent.id, { result: "done" }), 204);
    const late = await enqueue(h.url, queue, { dependencies: [parent.id], load_dependencies: true });
    assert.equal(late.status, "ready", "every dependency completed already");
    const taken = await stream.nextJob();
    assert.equal(taken.id, late.id);
    assert.deepEqual(taken.dependency_results, { [parent.id]: "done" });
    streams.close(stream);
  });

  test("a 2,000-job DAG in one bulk runs every job after all its dependencies", async () => {
    const queue = uniqueName();
    const size = 2000;
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const wanted = Array.from({ length: size }, (_, position) => {
      const count = position === 0 ? 0 : Math.floor(random() * 4);
      return [...new Set(Array.from({ length: count }, () => Math.floor(random() * position)))];
    });
    const jobs = await enqueueBulk(h.url, wanted.map((dependencies, position) => jobInput(queue, { payload: position, ...(dependencies.length > 0 ? { dependencies } : {}) })));
    const positionOf = new Map(jobs.map((job, position) => [job.id, position]));
    const stream = await streams.take({ queue, prefetch: 50 });
    const completed = new Set<number>();
    while (completed.size < size) {
      const job = await stream.nextJob(5000);
      const position = positionOf.get(job.id)!;
      for (const dependency of wanted[position]!) assert.ok(completed.has(dependency), `job ${position} started before its dependency ${dependency} completed`);
      assertStatus(await ack(h.url, job.id), 204);
      completed.add(position);
    }
    // Completed jobs wait for their dependents to end, then for the next purge.
    await h.clock.advance(1500);
    await eventually(async () => (await countJobs(h.url, `queue=${queue}`)) === 0, 3000, "every job done");
    streams.close(stream);
  });
});
