import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { connectH2, h2Request, h2Take as openH2Take, type H2Result, type H2TakeStream } from "../helpers/h2.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { STREAM_MEDIA } from "../helpers/take.js";
import { assertStatus, jobInput } from "../helpers/jobs.js";

let h: TestServer;
let session: http2.ClientHttp2Session;

before(async () => {
  h = await startTestServer();
  // Cleartext HTTP/2 with prior knowledge: no TLS, no Upgrade, straight to the connection preface.
  session = await connectH2(h.url);
});

after(async () => {
  // destroy, not close: close would wait for any take stream a failed test left open.
  session.destroy();
  await h.close();
});

/** One request on the shared HTTP/2 session; JSON unless `msgpack`. */
function h2(method: string, path: string, body?: unknown, msgpack = false): Promise<H2Result> {
  return h2Request(session, method, path, body, msgpack);
}

/** A take stream over the shared HTTP/2 session. */
function h2Take(queue: string, accept: string): Promise<H2TakeStream> {
  return openH2Take(session, queue, accept);
}

describe("cleartext HTTP/2 with prior knowledge", () => {
  test("enqueues and reads a job back", async () => {
    const queue = uniqueName();
    const created = await h2("POST", "/jobs", jobInput(queue, { payload: { via: "h2" }, priority: 3 }));
    assert.equal(created.status, 201);
    assert.match(created.contentType, /^application\/json/);
    assert.equal(created.body.queue, queue);

    const read = await h2("GET", `/jobs/${created.body.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.payload, { via: "h2" });
    assert.equal(read.body.priority, 3);

    const overHttp1 = await api(h.url, "GET", `/jobs/${created.body.id}`);
    assertStatus(overHttp1, 200, "the same port also answers HTTP/1.1");
    assert.deepEqual(overHttp1.body.payload, { via: "h2" });
  });

  test("MessagePack and errors over HTTP/2", async () => {
    const created = await h2("POST", "/jobs", jobInput(uniqueName()), true);
    assert.equal(created.status, 201);
    assert.match(created.contentType, /^application\/msgpack/);
    const missing = await h2("GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz");
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.error, "string");
    assert.deepEqual((await h2("GET", "/health")).body, { status: "ok" });
  });

  test("takes over a stream while other requests share the connection", async () => {
    for (const accept of [STREAM_MEDIA.ndjson, STREAM_MEDIA.msgpack]) {
      const queue = uniqueName();
      const take = await h2Take(queue, accept);
      const created = await h2("POST", "/jobs", jobInput(queue, { payload: { accept } }));
      assert.equal(created.status, 201);
      const job = await take.next(2000);
      assert.equal(job.id, created.body.id);
      assert.equal(job.status, "in_flight");
      assert.deepEqual(job.payload, { accept });

      const second = await h2("POST", "/jobs", jobInput(queue));
      assert.equal((await h2("POST", `/jobs/${job.id}/success`)).status, 204, "acked over the same connection");
      assert.equal((await take.next(2000)).id, second.body.id, "the ack freed the stream's slot");
      assert.equal((await h2("POST", `/jobs/${second.body.id}/success`)).status, 204);
      take.close();
    }
  });

  test("cancelling an HTTP/2 take stream returns its job to ready", async () => {
    const queue = uniqueName();
    const take = await h2Take(queue, STREAM_MEDIA.ndjson);
    const created = await h2("POST", "/jobs", jobInput(queue));
    assert.equal((await take.next(2000)).id, created.body.id);
    take.close();
    const again = await h2Take(queue, STREAM_MEDIA.ndjson);
    assert.equal((await again.next(2000)).id, created.body.id, "a new stream gets the released job");
    again.close();
  });
});

describe("HTTP/2 without Nagle stalls", () => {
  // Nagle's algorithm holds a response's second write until the client acknowledges the first, and
  // clients delay acknowledgements by about 40 ms: every answer would wait that long. HTTP/1 sockets
  // get noDelay from Node's HTTP server; HTTP/2 sessions run on the raw socket, which must set it too.
  test("sequential enqueues on one session are each answered in well under a delayed acknowledgement", async () => {
    const queue = uniqueName("h2-nodelay");
    const elapsed: number[] = [];
    for (let index = 0; index < 21; index++) {
      const started = performance.now();
      const answer = await h2("POST", "/jobs", jobInput(queue));
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      elapsed.push(performance.now() - started);
    }
    elapsed.sort((a, b) => a - b);
    const median = elapsed[10]!;
    assert.ok(median < 20, `median answer took ${median.toFixed(1)} ms: a Nagle stall is about 40 ms`);
  });
});
