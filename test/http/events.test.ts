/**
 * GET /events: the job lifecycle as server-sent events (id and event lines) or NDJSON or MessagePack
 * frames of one schema, filtered by queue, type and kind, resumable from an event's id within a
 * bounded window, made only while someone watches (or watched within the keep time), and limited to
 * a token's queues. The SDK's client.events() reads them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuthFile } from "../../src/http/auth-file.js";
import { connect, Worker, type Client, type EventStream, type WharfEvent } from "../../src/index.js";
import { ack, assertError, assertStatus, enqueue, enqueueBulk, failJob, jobInput, Streams } from "../helpers/jobs.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";

/** Reads events until `until` holds of what was read (bounded by time); what was read. */
async function readUntil(stream: EventStream, until: (events: WharfEvent[]) => boolean, timeoutMs = 3000): Promise<WharfEvent[]> {
  const read: WharfEvent[] = [];
  const iterator = stream[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (!until(read)) {
    const left = deadline - Date.now();
    if (left <= 0) assert.fail(`events so far: ${read.map((event) => event.kind).join(", ")}`);
    const next = await Promise.race([iterator.next(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), left))]);
    if (next === undefined || next.done) continue;
    read.push(next.value);
  }
  return read;
}

/** Reads a streamed response until its text matches `until` (bounded by time); the text. */
async function readText(response: Response, until: RegExp, timeoutMs = 5000): Promise<string> {
  const reader = response.body!.getReader();
  const deadline = Date.now() + timeoutMs;
  let text = "";
  while (!until.test(text)) {
    const left = deadline - Date.now();
    const chunk = left > 0 ? await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), left))]) : undefined;
    if (chunk === undefined || chunk.done) assert.fail(`the stream so far: ${text}`);
    text += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  return text;
}

const kinds = (events: WharfEvent[]): string[] => events.map((event) => event.kind);
const ofJob = (id: string) => (events: WharfEvent[]): WharfEvent[] => events.filter((event) => event.job?.id === id);

describe("events", () => {
  let h: TestServer;
  let client: Client;
  const streams = new Streams(() => h.url);
  const opened: EventStream[] = [];
  const watch = async (options: Parameters<Client["events"]>[0]): Promise<EventStream> => {
    const stream = client.events(options);
    opened.push(stream);
    await stream.opened;
    return stream;
  };

  before(async () => {
    h = await startTestServer({ heartbeatMs: 50, maxResultBytes: 65_536, events: { windowSize: 50, keepMs: 60_000 } });
    client = connect(h.url);
  });
  after(async () => {
    for (const stream of opened) await stream.close();
    streams.closeAll();
    await client.close();
    await h.close();
  });

  test("a job's life in order, of one schema: enqueued, taken, failed and retried, taken, completed", async () => {
    const queue = uniqueName("life");
    const events = await watch({ queues: [queue] });
    const job = await enqueue(h.url, queue, { type: "mail", backoff: { base_ms: 0, exponent: 0, jitter_ms: 0 } });
    const take = await streams.take({ queue });
    const first = await take.nextJob();
    // Retried a second later: a retry due at once may be taken again before its failure's events are made.
    assertStatus(await failJob(h.url, first.id, { message: "boom", error_type: "Boom", retry_at: h.clock.now() + 1000 }), 200);
    await h.clock.advance(1000);
    await take.nextJob();
    assertStatus(await ack(h.url, job.id), 204);
    const seen = ofJob(job.id)(await readUntil(events, (read) => read.some((event) => event.kind === "job.completed")));
    assert.deepEqual(kinds(seen), ["job.enqueued", "job.taken", "job.failed", "job.retried", "job.taken", "job.completed"]);
    for (const event of seen) {
      assert.equal(event.schema, "wharf.event.v1");
      assert.match(event.id, /^[0-9a-z]{25}$/);
      assert.equal(event.queue, queue);
      assert.equal(typeof event.time, "number");
      assert.equal(typeof event.server, "string");
      assert.deepEqual(Object.keys(event.job!).sort(), ["attempts", "id", "queue", "status", "type"]);
    }
    assert.deepEqual(seen.map((event) => event.job!.status), ["ready", "in_flight", "scheduled", "scheduled", "in_flight", "completed"]);
    assert.deepEqual(seen[2]!.error, { message: "boom", error_type: "Boom" });
    assert.ok([...seen].sort((a, b) => (a.id < b.id ? -1 : 1)).every((event, index) => event === seen[index]), "ids sort in the order events happened");
  });

  test("progress: a heartbeat's progress is shown on the job and sent as job.progress; an SDK handler reports it with context.progress", async () => {
    const queue = uniqueName("progress");
    const events = await watch({ queues: [queue], kinds: ["job.progress"] });
    const job = await enqueue(h.url, queue, { type: "report" });
    const take = await streams.take({ queue });
    const taken = await take.nextJob();
    const beat = await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { run_id: taken.run_id, progress: { done: 3, of: 10 } } });
    assertStatus(beat, 200);
    assert.deepEqual((await api(h.url, "GET", `/jobs/${job.id}`)).body.progress, { done: 3, of: 10 });
    assertError(await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { body: { progress: "x".repeat(70_000) } }), 413);
    assertError(await api(h.url, "POST", `/jobs/${job.id}/success`, { body: { progress: 1 } }), 400);
    const [event] = await readUntil(events, (read) => read.length === 1);
    assert.deepEqual([event!.job!.id, event!.progress], [job.id, { done: 3, of: 10 }]);
    streams.close(take);
    const sdkJob = await enqueue(h.url, queue, { type: "report", retention: { completed_ms: 60_000 } });
    const worker = new Worker(client, { queues: [queue], handlers: { report: async (_job, context) => { await context.progress(0.5); await context.progress(1); } } });
    await worker.drain();
    const sdkEvents = await readUntil(events, (read) => read.filter((seen) => seen.job?.id === sdkJob.id).length === 2);
    assert.deepEqual(sdkEvents.filter((seen) => seen.job?.id === sdkJob.id).map((seen) => seen.progress), [0.5, 1]);
    assert.equal((await api(h.url, "GET", `/jobs/${sdkJob.id}`)).body.progress, 1, "kept once it completed");
  });

  test("server-sent events carry id and event lines; NDJSON is one object per line", async () => {
    const queue = uniqueName("wire");
    const controller = new AbortController();
    const sse = await fetch(`${h.url}/events?queue=${queue}`, { headers: { accept: "text/event-stream" }, signal: controller.signal });
    const ndjson = await fetch(`${h.url}/events?queue=${queue}`, { headers: { accept: "application/x-ndjson" }, signal: controller.signal });
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    assert.equal(ndjson.headers.get("content-type"), "application/x-ndjson");
    const job = await enqueue(h.url, queue);
    const sseText = await readText(sse, /data: .*\n\n/);
    const block = /id: (\w+)\nevent: job\.enqueued\ndata: (.*)\n\n/.exec(sseText);
    assert.ok(block, sseText);
    const data = JSON.parse(block[2]!) as WharfEvent;
    assert.equal(data.id, block[1]);
    assert.equal(data.job!.id, job.id);
    const line = (await readText(ndjson, /\{.*\}\n/)).split("\n").find((text) => text.startsWith("{"))!;
    assert.equal((JSON.parse(line) as WharfEvent).job!.id, job.id);
    controller.abort();
  });

  test("server-sent events keep every digit of a progress past 2^53", async () => {
    const queue = uniqueName("big-progress");
    const controller = new AbortController();
    const sse = await fetch(`${h.url}/events?queue=${queue}&kind=job.progress`, { headers: { accept: "text/event-stream" }, signal: controller.signal });
    const job = await enqueue(h.url, queue);
    const take = await streams.take({ queue });
    const taken = await take.nextJob();
    const beat = await api(h.url, "POST", `/jobs/${job.id}/heartbeat`, { raw: `{"run_id":"${taken.run_id}","progress":{"rows":12345678901234567890}}`, headers: { "content-type": "application/json" } });
    assertStatus(beat, 200);
    const text = await readText(sse, /data: .*\n\n/);
    assert.match(text, /event: job\.progress\ndata: .*"progress":\{"rows":12345678901234567890\}/);
    controller.abort();
    streams.close(take);
  });

  test("filters by queue, type and kind; an unknown kind or a malformed cursor is 400", async () => {
    const queue = uniqueName("filtered");
    const events = await watch({ queues: [queue], types: ["wanted"], kinds: ["job.enqueued", "job.deleted"] });
    const [wanted, otherType] = await enqueueBulk(h.url, [jobInput(queue, { type: "wanted" }), jobInput(queue, { type: "other" })]);
    await enqueue(h.url, uniqueName("elsewhere"), { type: "wanted" });
    assertStatus(await api(h.url, "DELETE", `/jobs/${otherType!.id}`), 204);
    assertStatus(await api(h.url, "DELETE", `/jobs/${wanted!.id}`), 204);
    const seen = await readUntil(events, (read) => read.some((event) => event.kind === "job.deleted"));
    assert.deepEqual(seen.map((event) => [event.kind, event.job!.id]), [["job.enqueued", wanted!.id], ["job.deleted", wanted!.id]]);
    assertError(await api(h.url, "GET", "/events?kind=job.exploded"), 400);
    assertError(await api(h.url, "GET", "/events", { headers: { "last-event-id": "../../x" } }), 400);
  });

  test("dead, cancelled, unblocked, paused and resumed", async () => {
    const queue = uniqueName("kinds");
    const events = await watch({ queues: [queue] });
    const [first, blocked] = await enqueueBulk(h.url, [jobInput(queue, { retry_limit: 0 }), jobInput(queue, { dependencies: [0], runs_on: "failure" })]);
    const doomed = await enqueue(h.url, queue, { ready_at: h.clock.now() + 60_000 });
    assertStatus(await api(h.url, "POST", `/queues/${queue}/pause`), 200);
    assertStatus(await api(h.url, "POST", `/queues/${queue}/resume`), 200);
    const take = await streams.take({ queue });
    assert.equal((await take.nextJob()).id, first!.id);
    assertStatus(await failJob(h.url, first!.id, { message: "broken" }), 200);
    assertStatus(await api(h.url, "POST", `/jobs/${doomed.id}/cancel`), 200);
    const seen = await readUntil(events, (read) => read.filter((event) => event.kind === "job.dead").length === 2 && read.some((event) => event.kind === "job.unblocked"));
    const kindsOf = (id: string): string[] => kinds(ofJob(id)(seen));
    assert.deepEqual(kindsOf(first!.id), ["job.enqueued", "job.taken", "job.failed", "job.dead"]);
    assert.deepEqual(kindsOf(blocked!.id).slice(0, 2), ["job.enqueued", "job.unblocked"]);
    assert.deepEqual(kindsOf(doomed.id), ["job.enqueued", "job.failed", "job.cancelled", "job.dead"]);
    assert.deepEqual(seen.filter((event) => event.job === undefined).map((event) => [event.kind, event.queue]), [["queue.paused", queue], ["queue.resumed", queue]]);
  });

  test("resuming after an event's id gives what came after it; a cursor the window no longer holds gets events.missed first", async () => {
    const queue = uniqueName("resume");
    const events = await watch({ queues: [queue] });
    const jobs = await enqueueBulk(h.url, [jobInput(queue), jobInput(queue), jobInput(queue)]);
    const seen = await readUntil(events, (read) => read.length === 3);
    const resumed = await watch({ queues: [queue], after: seen[0]!.id });
    assert.deepEqual((await readUntil(resumed, (read) => read.length === 2)).map((event) => event.job!.id), jobs.slice(1).map(({ id }) => id));
    await enqueueBulk(h.url, Array.from({ length: 60 }, () => jobInput(uniqueName("flood"))));
    const late = await watch({ queues: [queue], after: seen[0]!.id });
    const [missed] = await readUntil(late, (read) => read.length === 1);
    assert.equal(missed!.kind, "events.missed");
    assert.equal(missed!.missed_after, seen[0]!.id);
  });
});

describe("events when nobody watches, and for a token limited to some queues", () => {
  test("nothing is made while nobody watches; for keepMs after the last watcher leaves, events are still kept for it to resume", async () => {
    const h = await startTestServer({ events: { keepMs: 10_000 } });
    const client = connect(h.url);
    try {
      const queue = uniqueName("unwatched");
      const before = await enqueue(h.url, queue);
      const first = client.events({ queues: [queue] });
      await first.opened;
      const marker = await enqueue(h.url, queue);
      const [seen] = await readUntil(first, (read) => read.length === 1);
      assert.equal(seen!.job!.id, marker.id, `the job enqueued before anyone watched (${before.id}) made no event`);
      await first.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const whileAway = await enqueue(h.url, queue);
      await h.clock.advance(10_001);
      await enqueue(h.url, queue, { payload: "past the keep time" });
      const back = client.events({ queues: [queue], after: seen!.id });
      await back.opened;
      const resumed = await readUntil(back, (read) => read.length === 1);
      assert.equal(resumed[0]!.job!.id, whileAway.id);
      const next = await enqueue(h.url, queue);
      const more = await readUntil(back, (read) => read.length === 1);
      assert.equal(more[0]!.job!.id, next.id, "the job enqueued past the keep time made no event");
      await back.close();
    } finally {
      await client.close();
      await h.close();
    }
  });

  test("a token limited to some queues gets their events only; read scope is needed", async () => {
    const auth = AuthFile.parse(JSON.stringify({ tokens: [
      { name: "emails", token: "emails-token", scopes: ["read"], queues: ["emails.*"] },
      { name: "writer", token: "writer-token", scopes: ["enqueue"] },
    ] }));
    const h = await startTestServer({ auth });
    const limited = connect(h.url, { token: "emails-token" });
    const writer = connect(h.url, { token: "writer-token" });
    try {
      const events = limited.events();
      await events.opened;
      await writer.enqueue({ queue: "billing", type: "t", payload: 1 });
      const mine = await writer.enqueue({ queue: "emails.welcome", type: "t", payload: 1 });
      const seen = await readUntil(events, (read) => read.length === 1);
      assert.deepEqual(seen.map((event) => event.job!.id), [mine.id]);
      await events.close();
      const denied = await api(h.url, "GET", "/events", { headers: { authorization: "Bearer writer-token" } });
      assertError(denied, 403);
    } finally {
      await limited.close();
      await writer.close();
      await h.close();
    }
  });
});
