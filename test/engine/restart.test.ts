import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import { connect } from "../../src/index.js";
import { api, startTestServer, tempDir, uniqueName } from "../helpers/server.js";

const dataDir = tempDir();
after(() => rmSync(dataDir, { recursive: true, force: true }));

test("a restart keeps every job: in-flight jobs are ready again, scheduled jobs keep ready_at", async () => {
  const queue = uniqueName();
  const first = await startTestServer({ dataDir });
  const readyAt = first.clock.now() + 3_600_000;
  const scheduled = (await api(first.url, "POST", "/jobs", { body: { queue, type: "later", payload: {}, ready_at: readyAt } })).body;
  const taken = (await api(first.url, "POST", "/jobs", { body: { queue, type: "now", payload: { n: 1 } } })).body;
  const waiting = (await api(first.url, "POST", "/jobs", { body: { queue, type: "now", payload: { n: 2 } } })).body;
  const client = connect(first.url);
  const stream = client.take({ queues: [queue], prefetch: 1 });
  const iterator = stream[Symbol.asyncIterator]();
  const leased = (await iterator.next()).value;
  assert.equal(leased.id, taken.id);
  assert.equal((await api(first.url, "GET", `/jobs/${taken.id}`)).body.status, "in_flight");
  await first.stop();
  stream.close();
  await client.close();

  const second = await startTestServer({ dataDir });
  try {
    const after = async (id: string) => (await api(second.url, "GET", `/jobs/${id}`)).body;
    assert.equal((await after(taken.id)).status, "ready");
    assert.equal((await after(waiting.id)).status, "ready");
    assert.deepEqual([(await after(scheduled.id)).status, (await after(scheduled.id)).ready_at], ["scheduled", readyAt]);
    assert.equal((await api(second.url, "GET", `/jobs/count?queue=${queue}&status=in_flight`)).body.count, 0);
    const again = connect(second.url);
    const retake = again.take({ queues: [queue], prefetch: 2 })[Symbol.asyncIterator]();
    const ids = [(await retake.next()).value.id, (await retake.next()).value.id];
    assert.deepEqual(ids.sort(), [taken.id, waiting.id].sort());
    await again.close();
  } finally {
    await second.stop();
  }
});
