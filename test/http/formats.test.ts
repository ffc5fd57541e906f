import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { packr } from "../../src/http/codec.js";
import { api, startTestServer, uniqueName, type ApiCall, type ApiResult, type TestServer } from "../helpers/server.js";
import { ack, assertError, assertStatus, countJobs, enqueue, jobInput, Streams, takeOne } from "../helpers/jobs.js";

let h: TestServer;
/** A server that takes request bodies of at most 1 KiB. */
let small: TestServer;
const streams = new Streams(() => h.url);
const MSGPACK = "application/msgpack";

before(async () => {
  h = await startTestServer();
  small = await startTestServer({ maxBodyBytes: 1024 });
});

after(async () => {
  streams.closeAll();
  await Promise.all([h.close(), small.close()]);
});

/** A MessagePack request that must come back as MessagePack. */
async function mp(method: string, path: string, body?: unknown, url = h.url): Promise<ApiResult> {
  const call: ApiCall = { format: "msgpack" };
  if (body !== undefined) call.body = body;
  const result = await api(url, method, path, call);
  if (result.status !== 204) assert.match(result.headers.get("content-type") ?? "", /^application\/msgpack/, `${method} ${path}`);
  return result;
}

describe("MessagePack request and response bodies", () => {
  test("enqueue, read, count and list", async () => {
    const queue = uniqueName();
    const readyAt = h.clock.now() + 90_000;
    const created = await mp("POST", "/jobs", { queue, type: "mp", payload: { greet: "World", list: [1, 2.5, "x", null, true] }, priority: 7 });
    assertStatus(created, 201);
    assert.equal(created.body.queue, queue);
    assert.equal(created.body.priority, 7);
    assert.equal(created.body.status, "ready");
    assert.equal(created.body.duplicate, false);

    const bulk = await mp("POST", "/jobs/bulk", { jobs: [jobInput(queue, { ready_at: readyAt }), jobInput(queue, { unique_key: uniqueName("k") })] });
    assertStatus(bulk, 201);
    assert.deepEqual(bulk.body.jobs.map((job: { status: string }) => job.status), ["scheduled", "ready"]);
    assert.equal(bulk.body.jobs[0].ready_at, readyAt, "64-bit timestamps survive MessagePack both ways");

    const one = await mp("GET", `/jobs/${created.body.id}`);
    assertStatus(one, 200);
    assert.deepEqual(one.body.payload, { greet: "World", list: [1, 2.5, "x", null, true] });

    const list = await mp("GET", `/jobs?queue=${queue}&order=desc&limit=2`);
    assertStatus(list, 200);
    assert.equal(list.body.jobs.length, 2);
    assert.equal(typeof list.body.pages.next, "string");

    const count = await mp("GET", `/jobs/count?queue=${queue}`);
    assertStatus(count, 200);
    assert.deepEqual(count.body, { count: 3 });

    const queues = await mp("GET", "/queues");
    assertStatus(queues, 200);
    assert.ok(queues.body.queues.includes(queue));
  });

  test("health and version", async () => {
    assert.deepEqual((await mp("GET", "/health")).body, { status: "ok" });
    assert.match((await mp("GET", "/version")).body.version, /^\d+\.\d+\.\d+/);
  });

  test("patch, fail, errors, ack and delete", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue, { backoff: { base_ms: 0, exponent: 1, jitter_ms: 0 } });
    const patched = await mp("PATCH", `/jobs/${job.id}`, { priority: 3, retention: { completed_ms: 60_000 } });
    assertStatus(patched, 200);
    assert.equal(patched.body.priority, 3);

    const failed = await mp("POST", `/jobs/${job.id}/failure`, { message: "mp failure", error_type: "MpError" });
    assertStatus(failed, 200);
    assert.equal(failed.body.status, "scheduled");
    assert.equal(failed.body.attempts, 1);

    const errors = await mp("GET", `/jobs/${job.id}/errors`);
    assertStatus(errors, 200);
    assert.equal(errors.body.errors[0].message, "mp failure");
    const error = await mp("GET", `/jobs/${job.id}/errors/1`);
    assert.equal(error.body.error_type, "MpError");

    await h.clock.advance(1000);
    assert.equal((await stream.nextJob(2000)).id, job.id);
    const acked = await mp("POST", `/jobs/${job.id}/success`);
    assertStatus(acked, 204);
    assert.equal((await mp("GET", `/jobs/${job.id}`)).body.status, "completed");

    const other = await enqueue(h.url, queue);
    assert.equal((await stream.nextJob(2000)).id, other.id);
    const bulkPatch = await mp("PATCH", `/jobs?queue=${queue}`, { priority: 9 });
    assert.deepEqual(bulkPatch.body, { patched: 1 });
    const partial = await mp("POST", "/jobs/success", { ids: [other.id, "03zzzzzzzzzzzzzzzzzzzzzzz"] });
    assertError(partial, 422);
    assert.deepEqual(partial.body.not_found, ["03zzzzzzzzzzzzzzzzzzzzzzz"]);

    assertStatus(await mp("DELETE", `/jobs/${job.id}`), 204);
    await enqueue(h.url, queue, { ready_at: h.clock.now() + 60_000 });
    const deleted = await mp("DELETE", `/jobs?queue=${queue}`);
    assert.deepEqual(deleted.body, { deleted: 1 });
    streams.close(stream);
  });

  test("errors come back as MessagePack with a string error", async () => {
    assertError(await mp("GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz"), 404);
    assertError(await mp("POST", "/jobs", { queue: "q", type: "t" }), 400);
    assertError(await mp("GET", "/jobs?limit=0"), 400);
  });

  test("reset", async () => {
    const r = await startTestServer();
    try {
      await enqueue(r.url, uniqueName());
      assertStatus(await mp("POST", "/reset", undefined, r.url), 204);
      assert.equal(await countJobs(r.url), 0);
    } finally {
      await r.close();
    }
  });

  test("JSON in, MessagePack out and the other way round", async () => {
    const queue = uniqueName();
    const jsonIn = await api(h.url, "POST", "/jobs", { body: jobInput(queue), headers: { accept: MSGPACK, "content-type": "application/json" } });
    assertStatus(jsonIn, 201);
    assert.match(jsonIn.headers.get("content-type") ?? "", /^application\/msgpack/);
    assert.equal(jsonIn.body.queue, queue);

    const mpIn = await api(h.url, "POST", "/jobs", { raw: packr.pack(jobInput(queue)), headers: { accept: "application/json", "content-type": MSGPACK } });
    assertStatus(mpIn, 201);
    assert.match(mpIn.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(mpIn.body.queue, queue);
  });
});

describe("content negotiation", () => {
  test("JSON is the default and */* and charset parameters are accepted", async () => {
    const plain = await fetch(`${h.url}/health`);
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get("content-type") ?? "", /^application\/json/);
    const any = await api(h.url, "GET", "/health", { headers: { accept: "*/*" } });
    assert.deepEqual(any.body, { status: "ok" });
    const charset = await api(h.url, "POST", "/jobs", {
      raw: JSON.stringify(jobInput(uniqueName())),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    assertStatus(charset, 201);
  });

  test("an Accept the server cannot produce is 406 with a JSON error", async () => {
    const total = await countJobs(h.url);
    for (const [method, path] of [["GET", "/health"], ["GET", "/jobs"], ["POST", "/jobs"], ["GET", "/jobs/take"]] as const) {
      const call: ApiCall = { headers: { accept: "text/html" } };
      if (method === "POST") call.body = jobInput(uniqueName());
      const result = await api(h.url, method, path, call);
      assertError(result, 406, `${method} ${path}`);
      assert.match(result.headers.get("content-type") ?? "", /^application\/json/);
    }
    assert.equal(await countJobs(h.url), total, "a refused enqueue stores nothing");
  });

  test("an unsupported Content-Type is 415", async () => {
    const total = await countJobs(h.url);
    for (const type of ["text/plain", "application/xml", "application/x-www-form-urlencoded"]) {
      const result = await api(h.url, "POST", "/jobs", { raw: JSON.stringify(jobInput(uniqueName())), headers: { "content-type": type } });
      assertError(result, 415, type);
    }
    assert.equal(await countJobs(h.url), total);
  });
});

describe("bad requests", () => {
  /** Sends a bad request, checks the error, and that the server is healthy and stored nothing. */
  async function refused(status: number, method: string, path: string, call: ApiCall, what: string, url = h.url): Promise<void> {
    const total = await countJobs(url);
    assertError(await api(url, method, path, call), status, what);
    assertStatus(await api(url, "GET", "/health"), 200, `health after ${what}`);
    assert.equal(await countJobs(url), total, `no job stored by ${what}`);
  }

  test("malformed bodies are 400", async () => {
    for (const raw of ["{", "{\"queue\": }", "not json", "[1, 2", "\u0000"]) {
      await refused(400, "POST", "/jobs", { raw, headers: { "content-type": "application/json" } }, `JSON ${JSON.stringify(raw)}`);
    }
    await refused(400, "POST", "/jobs", { raw: Buffer.from([0xc1]), format: "msgpack" }, "MessagePack 0xc1");
    await refused(400, "POST", "/jobs/bulk", { raw: Buffer.from([0x92, 0x01]), format: "msgpack" }, "truncated MessagePack");
    await refused(400, "POST", "/jobs/bulk", { raw: "{\"jobs\": [", headers: { "content-type": "application/json" } }, "truncated bulk");
  });

  test("a body that is not an object is 400", async () => {
    for (const body of [[], "job", 42, null]) {
      await refused(400, "POST", "/jobs", { body }, `body ${JSON.stringify(body)}`);
    }
  });

  test("wrong field types are 400", async () => {
    const queue = uniqueName();
    const cases: Array<[string, Record<string, unknown>]> = [
      ["priority string", jobInput(queue, { priority: "high" })],
      ["priority fraction", jobInput(queue, { priority: 1.5 })],
      ["queue number", { queue: 5, type: "t", payload: {} }],
      ["type boolean", { queue, type: true, payload: {} }],
      ["payload missing", { queue, type: "t" }],
      ["ready_at string", jobInput(queue, { ready_at: "tomorrow" })],
      ["retry_limit negative", jobInput(queue, { retry_limit: -1 })],
      ["backoff incomplete", jobInput(queue, { backoff: { base_ms: 1 } })],
      ["retention not an object", jobInput(queue, { retention: 5 })],
      ["unique_while unknown", jobInput(queue, { unique_key: "k", unique_while: "forever" })],
      ["empty queue", jobInput("")],
      ["unknown field", jobInput(queue, { colour: "red" })],
    ];
    for (const [what, body] of cases) {
      await refused(400, "POST", "/jobs", { body }, what);
      await refused(400, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue), body] } }, `bulk ${what}`);
    }
    await refused(400, "POST", "/jobs", { body: jobInput(queue, { payload: new Uint8Array([1, 2]) }), format: "msgpack" }, "binary payload");
  });

  test("priority out of range is 400", async () => {
    for (const priority of [65536, -1, 1e9]) {
      await refused(400, "POST", "/jobs", { body: jobInput(uniqueName(), { priority }) }, `priority ${priority}`);
    }
  });

  test("reserved characters in queue and type are 400", async () => {
    for (const char of [",", "*", "?", "[", "]", "{", "}", "\\"]) {
      await refused(400, "POST", "/jobs", { body: jobInput(`q${char}x`) }, `queue with ${char}`);
      await refused(400, "POST", "/jobs", { body: jobInput(uniqueName(), { type: `t${char}x` }) }, `type with ${char}`);
    }
    const fine = await enqueue(h.url, `billing.payments-${uniqueName()} é/ü:1`, { type: "Émail::Send" });
    assert.equal(fine.type, "Émail::Send", "other punctuation and non-ASCII are allowed");
  });

  test("NUL characters are 400 wherever text goes, since not every store can hold them", async () => {
    const queue = uniqueName();
    await refused(400, "POST", "/jobs", { body: jobInput(`${queue}\u0000`) }, "NUL in queue");
    await refused(400, "POST", "/jobs", { body: jobInput(queue, { payload: { note: "a\u0000b" } }) }, "NUL in a payload string");
    await refused(400, "POST", "/jobs", { body: jobInput(queue, { payload: { "k\u0000": 1 } }) }, "NUL in a payload key");
    await refused(400, "POST", "/jobs", { body: jobInput(queue, { unique_key: "u\u0000" }) }, "NUL in unique_key");
  });

  test("a body over the size limit is 413", async () => {
    const big = jobInput(uniqueName(), { payload: { blob: "x".repeat(4096) } });
    await refused(413, "POST", "/jobs", { body: big }, "oversize body with content-length", small.url);
    await refused(413, "POST", "/jobs/bulk", { body: { jobs: [big] } }, "oversize bulk", small.url);

    const total = await countJobs(small.url);
    const bytes = Buffer.from(JSON.stringify(big));
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += 512) controller.enqueue(bytes.subarray(offset, offset + 512));
        controller.close();
      },
    });
    const response = await fetch(`${small.url}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: chunked,
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 413, "oversize chunked body");
    assert.equal(typeof ((await response.json()) as { error?: unknown }).error, "string");
    assertStatus(await api(small.url, "GET", "/health"), 200);
    assert.equal(await countJobs(small.url), total);

    assertStatus(await api(small.url, "POST", "/jobs", { body: jobInput(uniqueName()) }), 201, "a small body still fits");
  });

  test("an unknown route is 404", async () => {
    for (const path of ["/nope", "/jobs/a/b/c", "/job", "/queues/x/y", "/"]) {
      await refused(404, "GET", path, {}, `GET ${path}`);
    }
  });

  test("a wrong method is 405", async () => {
    const cases: Array<[string, string]> = [
      ["PUT", "/jobs"],
      ["DELETE", "/health"],
      ["POST", "/queues"],
      ["GET", "/reset"],
      ["POST", "/jobs/count"],
      ["PUT", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz"],
      ["GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz/success"],
      ["DELETE", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz/errors"],
    ];
    for (const [method, path] of cases) await refused(405, method, path, {}, `${method} ${path}`);
  });

  test("a body on a bodiless bulk delete is 400", async () => {
    const queue = uniqueName();
    await enqueue(h.url, queue);
    await refused(400, "DELETE", `/jobs?queue=${queue}`, { body: { ids: [] } }, "DELETE /jobs with a body");
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
  });

  test("the server keeps serving a take stream through bad requests", async () => {
    const queue = uniqueName();
    const { job, stream } = await takeOne(streams, h.url, queue);
    await refused(400, "POST", "/jobs", { raw: "{", headers: { "content-type": "application/json" } }, "bad JSON");
    assertStatus(await ack(h.url, job.id), 204);
    const next = await enqueue(h.url, queue);
    assert.equal((await stream.nextJob(2000)).id, next.id);
    streams.close(stream);
  });
});
