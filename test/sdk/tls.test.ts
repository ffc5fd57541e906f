/**
 * The SDK over HTTPS: `connect(url, { tls })` trusts the CA it is given, presents a client certificate
 * to a server with mutual TLS, and a Worker's take stream runs over the same TLS settings.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, ServerUnreachableError, WharfError, Worker, type Job, type TlsClientOptions } from "../../src/index.js";
import { eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { tlsFixture, type TlsFixture } from "../helpers/tls.js";

let fixture: TlsFixture;

before(async () => {
  fixture = await tlsFixture();
});

after(() => fixture.remove());

/** Enqueues a job through a client with `tls` and has a Worker on the same settings run it. */
async function roundTrip(url: string, tls: TlsClientOptions): Promise<void> {
  const client = connect(url, { tls });
  const queue = uniqueName("sdk-tls");
  const done: Job[] = [];
  const worker = new Worker(client, { queues: [queue], handlers: { greet: async (job) => void done.push(job) } }).start();
  try {
    assert.deepEqual(await client.health(), { status: "ok" });
    const enqueued = await client.enqueue({ queue, type: "greet", payload: { over: "https" } });
    await eventually(() => done.length === 1, 5000, "the worker to run the job over HTTPS");
    assert.equal(done[0]!.id, enqueued.id);
    assert.deepEqual(done[0]!.payload, { over: "https" });
  } finally {
    await worker.stop();
    await client.close();
  }
}

describe("connect over HTTPS", () => {
  let h: TestServer;

  before(async () => {
    h = await startTestServer({ tls: fixture.serverOnly });
  });

  after(() => h.close());

  test("with the server's CA: requests and a Worker's take stream", async () => {
    await roundTrip(h.url, { ca: fixture.ca });
  });

  test("without the CA the server is not trusted: ServerUnreachableError saying why", async () => {
    const client = connect(h.url);
    await assert.rejects(client.health(), (error: unknown) => error instanceof ServerUnreachableError && /unable to verify the first certificate/.test(error.message));
    await client.close();
  });

  test("tls options with an http:// URL, a certificate that is no PEM, or one without its key are refused at connect", () => {
    assert.throws(() => connect("http://127.0.0.1:7890", { tls: { ca: fixture.ca } }), (error: unknown) => error instanceof WharfError && /need an https:\/\/ URL/.test(error.message));
    assert.throws(() => connect(h.url, { tls: { cert: "not a certificate", key: fixture.client.key } }), /invalid tls options/);
    assert.throws(() => connect(h.url, { tls: { cert: fixture.client.cert } }), /cert and key go together/);
  });
});

describe("connect with mutual TLS", () => {
  let h: TestServer;

  before(async () => {
    h = await startTestServer({ tls: fixture.mutual });
  });

  after(() => h.close());

  test("a client certificate from the client CA: requests and a Worker's take stream", async () => {
    await roundTrip(h.url, { ca: fixture.ca, ...fixture.client });
  });

  test("no client certificate: the server refuses the connection", async () => {
    const client = connect(h.url, { tls: { ca: fixture.ca } });
    await assert.rejects(client.health(), (error: unknown) => error instanceof ServerUnreachableError && /certificate required/.test(error.message));
    await client.close();
  });
});
