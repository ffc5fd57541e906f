/**
 * GET /workers: the open take streams with their Worker-Id, queues, types, prefetch, jobs in flight,
 * done and failed, and what the worker last reported about itself (PUT /workers/{id}/report, which
 * the SDK Worker sends); `wharf workers` prints it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, Worker, type Client, type WorkerView } from "../../src/index.js";
import { ack, assertError, assertStatus, enqueue, failJob, Streams } from "../helpers/jobs.js";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { cliCommandLine, ok, runShell } from "../helpers/cli.js";

describe("workers", () => {
  let h: TestServer;
  let client: Client;
  const streams = new Streams(() => h.url);
  before(async () => {
    h = await startTestServer({ heartbeatMs: 50 });
    client = connect(h.url);
  });
  after(async () => {
    streams.closeAll();
    await client.close();
    await h.close();
  });

  const workersOf = async (queue: string): Promise<WorkerView[]> => (await client.workers()).filter((worker) => worker.queues?.includes(queue));

  test("a take stream is listed with its options and counts; its worker's report joins it by Worker-Id; it goes when the stream closes", async () => {
    const queue = uniqueName("listed");
    const workerId = uniqueName("worker");
    const stream = await streams.take({ queue, prefetch: 5, workerId, types: "a,b" });
    const [first, second] = [await enqueue(h.url, queue, { type: "a" }), await enqueue(h.url, queue, { type: "a" })];
    await stream.nextJob();
    await stream.nextJob();
    await h.clock.advance(1000);
    assertStatus(await ack(h.url, first.id), 204);
    assertStatus(await failJob(h.url, second.id, { message: "no", retry_at: h.clock.now() + 60_000 }), 200);
    assertStatus(await api(h.url, "PUT", `/workers/${encodeURIComponent(workerId)}/report`, { body: { status: "running", language: "ruby 3.3", version: "1.2.0", concurrency: 5, memory_mb: 80, uptime_s: 12 } }), 204);
    const [listed] = await workersOf(queue);
    assert.ok(listed, "listed");
    assert.deepEqual({ ...listed, connected_at: 0, server: "" }, {
      worker_id: workerId, queues: [queue], types: ["a", "b"], prefetch: 5, in_flight: 0, connected_at: 0, completed: 1, failed: 1, last_seen_at: h.clock.now(), server: "",
      report: { status: "running", language: "ruby 3.3", version: "1.2.0", concurrency: 5, memory_mb: 80, uptime_s: 12, reported_at: h.clock.now() },
    });
    assert.equal(listed.connected_at, h.clock.now() - 1000, "connected a second before its last ack");
    streams.close(stream);
    await eventually(async () => (await workersOf(queue)).length === 0, 3000, "the closed stream to leave the list");
  });

  test("a bad report is 400; GET /workers takes no parameters", async () => {
    for (const body of [{}, { status: "sleeping" }, { status: "running", memory_mb: -1 }, { status: "running", language: 7 }, { status: "running", shoe_size: 9 }]) {
      assertError(await api(h.url, "PUT", "/workers/w/report", { body }), 400, JSON.stringify(body));
    }
    assertError(await api(h.url, "GET", "/workers?queue=x"), 400);
  });

  test("the SDK Worker reports itself as running and, when it stops, as stopping; wharf workers prints it", async () => {
    const queue = uniqueName("sdk");
    const worker = new Worker(client, { queues: [queue], workerId: `sdk-${queue}`, concurrency: 3, handlers: { t: () => undefined } });
    worker.start();
    const [listed] = await eventually(async () => {
      const found = await workersOf(queue);
      return found.length === 1 && found[0]!.report ? found : undefined;
    }, 3000, "the worker and its report");
    assert.equal(listed!.worker_id, `sdk-${queue}`);
    assert.equal(listed!.report!.status, "running");
    assert.equal(listed!.report!.concurrency, 3);
    assert.match(listed!.report!.language!, /^typescript \(node /);
    const printed = ok(await runShell(`${cliCommandLine(["workers", "--url", h.url])} | cat`));
    assert.ok(printed.some((line) => line.worker_id === `sdk-${queue}`), JSON.stringify(printed));
    await worker.stop();
  });
});
