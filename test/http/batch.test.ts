/**
 * Batched (folded) jobs through the HTTP API (Zizq's `batch` on enqueue): folds, seals, the 422s and
 * 400s, scheduling opt-out, first config wins, sealing by a take, bulks, MessagePack bodies built byte
 * by byte, and concurrent folds on one key. Runs on SQLite and again on PostgreSQL (test/run-all.sh).
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import type { Job } from "../../src/job/types.js";
import { assertError, assertStatus, getJob, listJobs, Streams } from "../helpers/jobs.js";
import { msgpackBytes, wire } from "../helpers/msgpack-bytes.js";
import { api, startTestServer, uniqueName, type Format, type TestServer } from "../helpers/server.js";

let h: TestServer;
const streams = new Streams(() => h.url);

before(async () => {
  h = await startTestServer();
});

afterEach(() => streams.closeAll());

after(async () => {
  await h.close();
});

/** Zizq's example: device ids collected up to `max` per job. */
function pushBatch(key: string, max = 100): Record<string, string> {
  return {
    key,
    when: `(($existing | .device_ids) + ($new | .device_ids)) | length <= ${max}`,
    fold: "$existing | .device_ids += ($new | .device_ids)",
  };
}

function pushJob(queue: string, ids: string[], batch: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { queue, type: "push.notifications", payload: { device_ids: ids, platform: "apple" }, batch, ...extra };
}

async function post(body: unknown, format: Format = "json") {
  return api(h.url, "POST", "/jobs", { body, format });
}

async function payloadsOf(queue: string): Promise<unknown[]> {
  return (await listJobs(h.url, `queue=${queue}&limit=2000`)).map((job: Job) => job.payload);
}

describe("batched jobs", () => {
  for (const format of ["json", "msgpack"] as const) {
    test(`${format}: the first enqueue opens a batch (201, folded false), the next folds into it (200, folded true, same id)`, async () => {
      const queue = uniqueName();
      const batch = pushBatch(uniqueName("key"));
      const first = await post(pushJob(queue, ["abc"], batch), format);
      assertStatus(first, 201);
      assert.equal(first.body.folded, false);
      assert.equal(first.body.duplicate, false);
      assert.deepEqual(first.body.batch, batch);
      const second = await post(pushJob(queue, ["def", "ghi"], batch), format);
      assertStatus(second, 200);
      assert.equal(second.body.folded, true);
      assert.equal(second.body.id, first.body.id);
      assert.equal(second.body.status, "ready");
      const stored = await getJob(h.url, first.body.id);
      assert.deepEqual(stored.payload, { device_ids: ["abc", "def", "ghi"], platform: "apple" });
      assert.deepEqual(stored.batch, batch);
    });
  }

  test("every enqueue response carries folded, batched or not", async () => {
    const plain = await post({ queue: uniqueName(), type: "t", payload: {} });
    assertStatus(plain, 201);
    assert.equal(plain.body.folded, false);
    const bulk = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [{ queue: uniqueName(), type: "t", payload: 1 }] } });
    assert.equal(bulk.body.jobs[0].folded, false);
  });

  test("when false seals the open job and starts a new batch from the incoming payload", async () => {
    const queue = uniqueName();
    const batch = pushBatch(uniqueName("key"), 3);
    const a = await post(pushJob(queue, ["a", "b"], batch));
    const b = await post(pushJob(queue, ["c"], batch));
    assert.equal(b.body.id, a.body.id);
    const c = await post(pushJob(queue, ["d"], batch));
    assertStatus(c, 201);
    assert.notEqual(c.body.id, a.body.id);
    const d = await post(pushJob(queue, ["e"], batch));
    assert.equal(d.body.id, c.body.id, "folds go to the new batch, not the sealed one");
    assert.deepEqual((await getJob(h.url, a.body.id)).payload, { device_ids: ["a", "b", "c"], platform: "apple" });
    assert.deepEqual((await getJob(h.url, c.body.id)).payload, { device_ids: ["d", "e"], platform: "apple" });
  });

  test("the first enqueue's configuration applies for the life of its batch", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const first = await post({ queue, type: "t", payload: [1], batch: { key, when: "true", fold: "$existing + $new" } });
    const other = await post({ queue, type: "t", payload: [2], batch: { key, when: "false", fold: "$new" } });
    assertStatus(other, 200, "the stored when (true) decides, not the incoming false");
    assert.equal(other.body.id, first.body.id);
    assert.deepEqual(other.body.batch.when, "true");
    assert.deepEqual((await getJob(h.url, first.body.id)).payload, [1, 2]);
  });

  test("a job taken by a worker is sealed: the next enqueue starts a new batch, and the worker got every folded payload", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    const first = await post({ queue, type: "t", payload: [1], batch });
    await post({ queue, type: "t", payload: [2], batch });
    const stream = await streams.take({ queue });
    const taken = await stream.nextJob();
    assert.equal(taken.id, first.body.id);
    assert.deepEqual(taken.payload, [1, 2]);
    const next = await post({ queue, type: "t", payload: [3], batch });
    assertStatus(next, 201);
    assert.notEqual(next.body.id, first.body.id);
    assert.equal(next.body.folded, false);
  });

  test("scheduling opt-out: a batched enqueue with a future ready_at is a scheduled job that folds with nothing, either way", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    const later = h.clock.now() + 60_000;
    const scheduled = await post({ queue, type: "t", payload: [1], batch, ready_at: later });
    assertStatus(scheduled, 201);
    assert.equal(scheduled.body.status, "scheduled");
    assert.deepEqual(scheduled.body.batch, batch);
    const ready = await post({ queue, type: "t", payload: [2], batch });
    assertStatus(ready, 201, "does not fold into the scheduled job");
    const laterToo = await post({ queue, type: "t", payload: [3], batch, ready_at: later });
    assertStatus(laterToo, 201, "a scheduled enqueue does not fold into the open ready job");
    const folds = await post({ queue, type: "t", payload: [4], batch });
    assert.equal(folds.body.id, ready.body.id);
    assert.deepEqual((await getJob(h.url, ready.body.id)).payload, [2, 4]);
    assert.deepEqual((await getJob(h.url, scheduled.body.id)).payload, [1]);
  });

  test("a bulk folds in order, into stored open jobs and into batches it opens itself, and answers 201 with each job's folded", async () => {
    const queue = uniqueName();
    const keyA = uniqueName("key");
    const keyB = uniqueName("key");
    const sum = (key: string) => ({ key, when: "($existing + $new | length) <= 3", fold: "$existing + $new" });
    const opened = await post({ queue, type: "t", payload: [1], batch: sum(keyA) });
    const bulk = await api(h.url, "POST", "/jobs/bulk", {
      body: {
        jobs: [
          { queue, type: "t", payload: [2], batch: sum(keyA) },
          { queue, type: "t", payload: ["b1"], batch: sum(keyB) },
          { queue, type: "plain", payload: "plain" },
          { queue, type: "t", payload: [3], batch: sum(keyA) },
          { queue, type: "t", payload: [4], batch: sum(keyA) },
          { queue, type: "t", payload: ["b2"], batch: sum(keyB) },
        ],
      },
    });
    assertStatus(bulk, 201);
    const [a2, b1, plain, a3, a4, b2] = bulk.body.jobs;
    assert.deepEqual([a2.folded, b1.folded, plain.folded, a3.folded, a4.folded, b2.folded], [true, false, false, true, false, true]);
    assert.equal(a2.id, opened.body.id);
    assert.equal(a3.id, opened.body.id);
    assert.equal(b2.id, b1.id);
    assert.deepEqual((await getJob(h.url, opened.body.id)).payload, [1, 2, 3]);
    assert.deepEqual((await getJob(h.url, a4.id)).payload, [4]);
    assert.deepEqual((await getJob(h.url, b1.id)).payload, ["b1", "b2"]);
    const next = await post({ queue, type: "t", payload: [5], batch: sum(keyA) });
    assert.equal(next.body.id, a4.id, "the bulk's last batch of a key is its open one");
  });

  test("a bulk that only folds answers 200; a bulk with one bad expression writes nothing", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    const opened = await post({ queue, type: "t", payload: [1], batch });
    const folds = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [{ queue, type: "t", payload: [2], batch }, { queue, type: "t", payload: [3], batch }] } });
    assertStatus(folds, 200);
    const bad = await api(h.url, "POST", "/jobs/bulk", {
      body: { jobs: [{ queue, type: "t", payload: [4], batch }, { queue, type: "plain", payload: 0 }, { queue, type: "t", payload: [5], batch: { ...batch, key: uniqueName(), fold: "$existing +" } }] },
    });
    assertError(bad, 422);
    assert.match(bad.body.error, /jobs\[2\]\.batch\.fold/);
    assert.deepEqual(await payloadsOf(queue), [[1, 2, 3]], "nothing of the refused bulk was written");
    assert.deepEqual((await getJob(h.url, opened.body.id)).payload, [1, 2, 3]);
  });

  test("a fold that fails on the stored payload is 422 and changes nothing", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    const opened = await post({ queue, type: "t", payload: { n: 1 }, batch: { key, when: "true", fold: "{n: ($existing.n + $new.n)}" } });
    const refused = await post({ queue, type: "t", payload: { n: "x" }, batch: { key, when: "true", fold: "{n: ($existing.n + $new.n)}" } });
    assertError(refused, 422);
    assert.match(refused.body.error, /batch\.fold failed/);
    assert.deepEqual((await getJob(h.url, opened.body.id)).payload, { n: 1 });
  });

  describe("bad batches", () => {
    const queue = uniqueName();
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ["when does not compile", { when: "(", fold: "." }, 422, /job\.batch\.when is not a valid jq expression/],
      ["fold does not compile", { when: "true", fold: ".a |" }, 422, /job\.batch\.fold is not a valid jq expression/],
      ["an undefined variable", { when: "$nope", fold: "." }, 422, /job\.batch\.when is not a valid jq expression.*\$nope/],
      ["several outputs", { when: "true, false", fold: "." }, 422, /batch\.when must produce exactly one output/],
      ["no output", { when: "true", fold: "empty" }, 422, /batch\.fold must produce exactly one output, got none/],
      ["a shape error on the incoming payload (dry run)", { when: "true", fold: ".a + 1" }, 422, /batch\.fold failed.*on its own payload/],
      ["a refused builtin", { when: "true", fold: "input" }, 422, /batch\.fold uses input/],
      ["a missing key", { when: "true", fold: "." , key: undefined }, 400, /job\.batch\.key is required/],
      ["a missing fold", { when: "true", fold: undefined }, 400, /job\.batch\.fold is required/],
      ["an unknown field", { when: "true", fold: ".", extra: 1 }, 400, /unknown field "extra"/],
      ["a key that is not a string", { when: "true", fold: ".", key: 5 }, 400, /job\.batch\.key must be a string/],
    ];
    for (const format of ["json", "msgpack"] as const) {
      for (const [name, fields, status, message] of cases) {
        test(`${format}: ${name}: ${status}`, async () => {
          const batch = JSON.parse(JSON.stringify({ key: uniqueName("key"), ...fields })) as Record<string, unknown>;
          const result = await post({ queue, type: "t", payload: { a: "text" }, batch }, format);
          assertError(result, status);
          assert.match(result.body.error, message);
        });
      }
    }

    test("batch with unique_key is 400", async () => {
      const result = await post({ queue, type: "t", payload: {}, unique_key: "u", batch: { key: "k", when: "true", fold: "." } });
      assertError(result, 400);
      assert.match(result.body.error, /batch and job\.unique_key cannot be given together/);
    });

    test("nothing of a refused batched enqueue is stored", async () => {
      assert.deepEqual(await payloadsOf(queue), []);
    });
  });

  test("MessagePack: a body built byte by byte (uint64 ready_at, uint16 priority, int64 payload values) folds and keeps every digit", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    const body = (value: unknown) => msgpackBytes({ queue, type: "t", priority: wire("uint16", 300), ready_at: wire("uint64", h.clock.now()), payload: [value], batch });
    const first = await api(h.url, "POST", "/jobs", { format: "msgpack", raw: body(wire("uint64", 2n ** 63n + 5n)) });
    assertStatus(first, 201);
    const second = await api(h.url, "POST", "/jobs", { format: "msgpack", raw: body(wire("int64", -(2n ** 40n))) });
    assertStatus(second, 200);
    assert.equal(second.body.folded, true);
    const third = await api(h.url, "POST", "/jobs", { format: "msgpack", raw: body(wire("float64", 0.5)) });
    assertStatus(third, 200);
    const read = await api(h.url, "GET", `/jobs/${first.body.id}`, { format: "msgpack" });
    assert.deepEqual(read.body.payload, [2n ** 63n + 5n, -(2 ** 40), 0.5]);
  });

  test("200 concurrent folded enqueues on one key lose no payload and leave one open job", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "($existing.ids | length) < 50", fold: "$existing | .ids += $new.ids" };
    const results = await Promise.all(Array.from({ length: 200 }, (_value, n) => post({ queue, type: "t", payload: { ids: [n] }, batch })));
    for (const result of results) assert.ok(result.status === 200 || result.status === 201, JSON.stringify(result.body));
    const payloads = (await payloadsOf(queue)) as Array<{ ids: number[] }>;
    const ids = payloads.flatMap((payload) => payload.ids).sort((a, b) => a - b);
    assert.deepEqual(ids, Array.from({ length: 200 }, (_value, n) => n));
    assert.equal(results.filter((result) => result.status === 201).length, payloads.length, "one 201 per job");
    assert.ok(payloads.every((payload) => payload.ids.length <= 50));
  });

  test("/metrics counts folds per queue", async () => {
    const queue = uniqueName();
    const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
    for (let n = 0; n < 3; n++) await post({ queue, type: "t", payload: [n], batch });
    const metrics = await api(h.url, "GET", "/metrics");
    assert.match(metrics.body, new RegExp(`wharf_batch_folds_total\\{queue="${queue}"\\} 2`));
  });

  test("POST /reset forgets open batches: the next enqueue opens a new one", async () => {
    const server = await startTestServer();
    try {
      const batch = { key: "k", when: "true", fold: "$existing + $new" };
      await api(server.url, "POST", "/jobs", { body: { queue: "q", type: "t", payload: [1], batch } });
      assertStatus(await api(server.url, "POST", "/reset"), 204);
      const after = await api(server.url, "POST", "/jobs", { body: { queue: "q", type: "t", payload: [2], batch } });
      assertStatus(after, 201);
    } finally {
      await server.close();
    }
  });

  test("a fold that would build a payload past the server's --max-body-bytes is 413, and the open job keeps what it had", async () => {
    const server = await startTestServer({ maxBodyBytes: 4096 });
    try {
      const queue = uniqueName();
      const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
      const piece = ["x".repeat(1000)];
      const first = await api(server.url, "POST", "/jobs", { body: { queue, type: "t", payload: piece, batch } });
      assertStatus(first, 201);
      for (let n = 0; n < 2; n++) assertStatus(await api(server.url, "POST", "/jobs", { body: { queue, type: "t", payload: piece, batch } }), 200);
      const tooBig = await api(server.url, "POST", "/jobs", { body: { queue, type: "t", payload: [...piece, ...piece], batch } });
      assertError(tooBig, 413);
      assert.match(tooBig.body.error, /^job\.batch\.fold's result is \d+ bytes of JSON; a folded payload is at most 4096: seal the batch sooner/);
      const open = await api(server.url, "GET", `/jobs/${first.body.id}`);
      assert.equal(open.body.payload.length, 3, "the three folded pieces, nothing of the refused one");
    } finally {
      await server.close();
    }
  });
});
