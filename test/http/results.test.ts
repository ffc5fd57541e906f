import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, startTestServer, uniqueName, type Format, type TestServer } from "../helpers/server.js";
import { bin, msgpackBytes, wire } from "../helpers/msgpack-bytes.js";
import { assertError, assertStatus, enqueue, enqueueBulk, failJob, getJob, jobInput, listIds, Streams, takeOne } from "../helpers/jobs.js";

let h: TestServer;
const streams = new Streams(() => h.url);
const KEEP_COMPLETED = { retention: { completed_ms: 60_000 } };
const MAX_RESULT_BYTES = 4096;

before(async () => {
  h = await startTestServer({ heartbeatMs: 50, maxResultBytes: MAX_RESULT_BYTES });
});

after(async () => {
  streams.closeAll();
  await h.close();
});

describe("results", () => {
  for (const format of ["json", "msgpack"] as const satisfies readonly Format[]) {
    test(`a success's result is kept with the job and served by GET /jobs/{id}/result (${format})`, async () => {
      const { job } = await takeOne(streams, h.url, uniqueName(), KEEP_COMPLETED);
      const result = { rows: 3, names: ["a", "b"], nested: { ok: true, ratio: 0.5 }, empty: null };
      assertStatus(await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { result }, format }), 204);
      const stored = await api(h.url, "GET", `/jobs/${job.id}/result`, { format });
      assertStatus(stored, 200);
      assert.deepEqual(stored.body, { result });
      assert.deepEqual((await getJob(h.url, job.id)).result, result, "GET /jobs/{id} shows the result");
    });
  }

  test("a result keeps integers past 2^53 digit for digit, sent as a MessagePack uint64", async () => {
    const { job } = await takeOne(streams, h.url, uniqueName(), KEEP_COMPLETED);
    const big = 18446744073709551615n;
    const body = msgpackBytes({ result: { count: wire("uint64", big), small: wire("uint8", 7) } });
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/success`, { raw: body, format: "msgpack" }), 204);
    const text = await rawJson(`/jobs/${job.id}/result`);
    assert.match(text, /"count":18446744073709551615\b/);
    assert.match(text, /"small":7\b/);
  });

  test("a bulk ack carries results beside ids, null for none", async () => {
    const queue = uniqueName();
    const jobs = await enqueueBulk(h.url, [jobInput(queue, KEEP_COMPLETED), jobInput(queue, KEEP_COMPLETED)]);
    const stream = await streams.take({ queue, prefetch: 2 });
    const taken = [await stream.nextJob(), await stream.nextJob()];
    assert.deepEqual(new Set(taken.map((job) => job.id)), new Set(jobs.map((job) => job.id)));
    assertStatus(await api(h.url, "POST", "/jobs/success", { body: { ids: [jobs[0]!.id, jobs[1]!.id], results: [{ n: 1 }, null] } }), 204);
    assert.deepEqual((await api(h.url, "GET", `/jobs/${jobs[0]!.id}/result`)).body, { result: { n: 1 } });
    assert.deepEqual((await api(h.url, "GET", `/jobs/${jobs[1]!.id}/result`)).body, { result: null }, "a success without a result has null");
    streams.close(stream);
  });

  test("GET /jobs/{id}/result is 404 for no job and 422 before the job completes", async () => {
    assertError(await api(h.url, "GET", "/jobs/0000000000000000nosuchjob/result"), 404);
    const waiting = await enqueue(h.url, uniqueName());
    const early = await api(h.url, "GET", `/jobs/${waiting.id}/result`);
    assertError(early, 422);
    assert.match(early.body.error, /ready/);
  });

  test("a result larger than the limit is 413 and the job stays in flight; a malformed one is 400", async () => {
    const { job } = await takeOne(streams, h.url, uniqueName(), KEEP_COMPLETED);
    const tooBig = await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { result: "x".repeat(MAX_RESULT_BYTES) } });
    assertError(tooBig, 413);
    assert.match(tooBig.body.error, /result/);
    const bulkTooBig = await api(h.url, "POST", "/jobs/success", { body: { ids: [job.id], results: ["x".repeat(MAX_RESULT_BYTES)] } });
    assertError(bulkTooBig, 413);
    assertError(await api(h.url, "POST", "/jobs/success", { body: { ids: [job.id], results: [] } }), 400);
    const binary = msgpackBytes({ result: bin([0x00]) });
    assertError(await api(h.url, "POST", `/jobs/${job.id}/success`, { raw: binary, format: "msgpack" }), 400);
    assert.equal((await getJob(h.url, job.id)).status, "in_flight", "no refused ack ended the job");
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { result: "fits" } }), 204);
    assert.deepEqual((await api(h.url, "GET", `/jobs/${job.id}/result`)).body, { result: "fits" });
  });

  test("a job completed with the default retention leaves nothing behind, result included", async () => {
    const { job } = await takeOne(streams, h.url, uniqueName());
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { result: 1 } }), 204);
    assertError(await api(h.url, "GET", `/jobs/${job.id}/result`), 404);
  });
});

describe("saved progress (heartbeat state)", () => {
  test("a heartbeat's state is kept, shown, and handed to the next attempt after a failure", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { backoff: { base_ms: 1000, exponent: 1, jitter_ms: 0 } });
    assert.equal(job.state, undefined, "a first attempt has no state");
    const beat = await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { run_id: job.run_id, state: { done: 40, cursor: "page-4" } } });
    assertStatus(beat, 200);
    assert.deepEqual((await getJob(h.url, job.id)).state, { done: 40, cursor: "page-4" }, "the running job shows its saved state");
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { run_id: job.run_id } }), 200);
    assert.deepEqual((await getJob(h.url, job.id)).state, { done: 40, cursor: "page-4" }, "a heartbeat without state keeps the saved one");
    assertStatus(await failJob(h.url, job.id, { message: "interrupted", run_id: job.run_id }), 200);
    await h.clock.advance(5000);
    const retried = await stream.nextJob(3000);
    assert.equal(retried.id, job.id);
    assert.equal(retried.attempts, 1);
    assert.deepEqual(retried.state, { done: 40, cursor: "page-4" }, "the retry resumes from the saved state");
    streams.close(stream);
  });

  test("a state sent as MessagePack with smallest-width integers comes back as sent", async () => {
    const { job } = await takeOne(streams, h.url, uniqueName());
    const body = msgpackBytes({ run_id: job.run_id, state: { offset: wire("uint32", 70000), at: wire("uint64", 1767225600000), ratio: wire("float64", 0.25) } });
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { raw: body, format: "msgpack" }), 200);
    assert.deepEqual((await getJob(h.url, job.id)).state, { offset: 70000, at: 1767225600000, ratio: 0.25 });
  });

  test("a state larger than the limit is 413 and the lease is not extended; unknown fields are 400", async () => {
    const { job } = await takeOne(streams, h.url, uniqueName());
    const before = (await getJob(h.url, job.id)).lease_expires_at;
    await h.clock.advance(1000);
    const tooBig = await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { state: "y".repeat(MAX_RESULT_BYTES) } });
    assertError(tooBig, 413);
    assert.match(tooBig.body.error, /state/);
    assert.equal((await getJob(h.url, job.id)).lease_expires_at, before, "the refused heartbeat did not extend the lease");
    assertError(await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { result: 1 } }), 400);
    assertError(await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { state: 1 } }), 400);
  });
});

describe("correlation metadata", () => {
  test("correlation_id and parent_job_id are kept, shown, and correlation_id filters", async () => {
    const queue = uniqueName();
    const correlation = uniqueName("order");
    const parent = await enqueue(h.url, queue, { correlation_id: correlation });
    const child = await enqueue(h.url, queue, { correlation_id: correlation, parent_job_id: parent.id });
    await enqueue(h.url, queue, { correlation_id: uniqueName("other") });
    await enqueue(h.url, queue);
    assert.equal(child.correlation_id, correlation, "the enqueue answer shows the metadata");
    assert.equal(child.parent_job_id, parent.id);
    const stored = await getJob(h.url, child.id);
    assert.equal(stored.correlation_id, correlation);
    assert.equal(stored.parent_job_id, parent.id);
    assert.deepEqual(await listIds(h.url, `queue=${queue}&correlation_id=${correlation}`), [parent.id, child.id]);
    const counted = await api(h.url, "GET", `/jobs/count?queue=${queue}&correlation_id=${correlation}`);
    assert.equal(counted.body.count, 2);
  });

  test("a bad correlation_id or parent_job_id is 400", async () => {
    const queue = uniqueName();
    for (const bad of [{ correlation_id: "" }, { correlation_id: 7 }, { parent_job_id: "z".repeat(1025) }, { parent_job_id: ["a"] }]) {
      const refused = await api(h.url, "POST", "/jobs", { body: jobInput(queue, bad) });
      assertError(refused, 400, JSON.stringify(bad));
      assert.match(refused.body.error, /correlation_id|parent_job_id/);
    }
  });
});

/** A response body as the JSON text the server sent, digits and all. */
async function rawJson(path: string): Promise<string> {
  const response = await fetch(h.url + path, { headers: { accept: "application/json" } });
  return response.text();
}
