import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Job } from "../../src/job/types.js";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertNoJob, assertStatus, enqueue, enqueueBulk, serverForFile } from "../helpers/jobs.js";
import type { RawTakeStream } from "../helpers/take.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;

async function setQueue(queue: string, settings: Record<string, unknown>): Promise<void> {
  assertStatus(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: settings }), 200, `PATCH ${JSON.stringify(settings)}`);
}

/**
 * Every job the stream delivers, waiting up to `firstMs` for the first and then until it has been
 * quiet for `quietMs` (generous: a loaded machine's claim rounds can be far apart). Where none is
 * expected, assertNoJob says so instead.
 */
async function drain(stream: RawTakeStream, { quietMs = 200, firstMs = 3000 } = {}): Promise<Job[]> {
  const jobs: Job[] = [];
  for (let job = await stream.next(firstMs); job !== undefined; job = await stream.next(quietMs)) jobs.push(job);
  return jobs;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** The most starts within any window of `windowMs`, from the jobs' dequeued_at. */
function mostStartsInAWindow(jobs: readonly Job[], windowMs: number): number {
  const starts = jobs.map((job) => job.dequeued_at!).sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < starts.length; last++) {
    while (starts[last]! - starts[first]! >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

const KEYS = Array.from({ length: 50 }, (_, n) => `tenant-${n}`);

describe("queue controls: per-key concurrency and rate limits", () => {
  test("concurrency_key: 50 keys at 2 each hand out exactly 2 per key; an ack frees its key's slot only", async () => {
    const queue = uniqueName();
    await setQueue(queue, { concurrency_key: { limit: 2 } });
    await enqueueBulk(suite.h.url, KEYS.flatMap((key) => Array.from({ length: 4 }, (_, n) => ({ queue, type: "t", payload: n, concurrency_key: key }))));
    const stream = await streams.take({ queue, prefetch: 1000 });
    const first = await drain(stream);
    assert.equal(first.length, 100);
    assert.deepEqual([...countBy(first, (job) => job.concurrency_key!).values()], KEYS.map(() => 2));
    const freed = first.find((job) => job.concurrency_key === "tenant-7")!;
    assertStatus(await ack(suite.h.url, freed.id), 204);
    const next = await stream.nextJob(2000);
    assert.equal(next.concurrency_key, "tenant-7", "the freed slot goes to its own key");
    await assertNoJob(stream, 100, "every other key is still at its limit");
    streams.close(stream);
  });

  test("concurrency_key: four streams acking as they go never hold more than the limit of one key (sampled on every delivery)", async () => {
    const queue = uniqueName();
    await setQueue(queue, { concurrency_key: { limit: 2 } });
    const total = 400;
    await enqueueBulk(suite.h.url, Array.from({ length: total }, (_, n) => ({ queue, type: "t", payload: n, concurrency_key: KEYS[Math.floor(n / 8)] })));
    const running = new Map<string, number>();
    let most = 0;
    let done = 0;
    const deadline = Date.now() + 60_000;
    const work = async (stream: RawTakeStream): Promise<void> => {
      while (done < total && Date.now() < deadline) {
        const job = await stream.next(200);
        if (job === undefined) continue;
        const key = job.concurrency_key!;
        running.set(key, (running.get(key) ?? 0) + 1);
        most = Math.max(most, running.get(key)!);
        void new Promise((resolve) => setTimeout(resolve, done % 3)).then(async () => {
          running.set(key, running.get(key)! - 1);
          assertStatus(await ack(suite.h.url, job.id), 204);
          done++;
        });
      }
    };
    const takers = await Promise.all([0, 1, 2, 3].map(() => streams.take({ queue, prefetch: 10 })));
    await Promise.all(takers.map(work));
    for (const taker of takers) streams.close(taker);
    assert.equal(done, total);
    assert.equal(most, 2, "the limit of 2 was reached and never passed");
  });

  test("concurrency_key with a key expression: jobs are keyed from their payload at enqueue, a job's own key wins, no key shares one lane", async () => {
    const queue = uniqueName();
    await setQueue(queue, { concurrency_key: { limit: 1, key: ".tenant" } });
    const keyed = await enqueue(suite.h.url, queue, { payload: { tenant: "a" } });
    assert.equal(keyed.concurrency_key, "a");
    const numbered = await enqueue(suite.h.url, queue, { payload: { tenant: 42 } });
    assert.equal(numbered.concurrency_key, "42", "a number keys as its text");
    const own = await enqueue(suite.h.url, queue, { payload: { tenant: "a" }, concurrency_key: "b" });
    assert.equal(own.concurrency_key, "b");
    await enqueue(suite.h.url, queue, { payload: { tenant: "a" } });
    const unkeyed = await enqueue(suite.h.url, queue, { payload: { other: 1 } });
    assert.equal(unkeyed.concurrency_key, undefined);
    const stream = await streams.take({ queue, prefetch: 100 });
    const delivered = await drain(stream);
    assert.deepEqual(delivered.map((job) => job.concurrency_key ?? null).sort(), ["42", "a", "b", null]);
    streams.close(stream);
  });

  test("a field-path key expression keys as jq would: a string, nothing for a missing field or a null on the way, a number's text; indexing a non-object is 422", async () => {
    const queue = uniqueName();
    await setQueue(queue, { concurrency_key: { limit: 5, key: ".customer.id" } });
    const cases: Array<[unknown, string | undefined]> = [
      [{ customer: { id: "c1" } }, "c1"],
      [{ customer: null }, undefined],
      [{}, undefined],
      [{ customer: { id: null } }, undefined],
      [{ customer: { id: 7 } }, "7"],
      [{ customer: { id: 1.5 } }, "1.5"],
      [null, undefined],
    ];
    for (const [payload, key] of cases) assert.equal((await enqueue(suite.h.url, queue, { payload })).concurrency_key, key, JSON.stringify(payload));
    for (const payload of [{ customer: "c1" }, { customer: [1] }, { customer: { id: true } }, 3]) {
      assertError(await api(suite.h.url, "POST", "/jobs", { body: { queue, type: "t", payload } }), 422, JSON.stringify(payload));
    }
  });

  test("rate_limit 100 per second: over 10 s of clock, 950 to 1000 start and no 1 s window holds more than 100", async () => {
    const queue = uniqueName();
    await setQueue(queue, { rate_limit: { limit: 100, interval_ms: 1000 } });
    for (let n = 0; n < 1200; n += 400) await enqueueBulk(suite.h.url, Array.from({ length: 400 }, (_, k) => ({ queue, type: "t", payload: n + k })));
    const stream = await streams.take({ queue, prefetch: 1000 });
    const started = suite.h.clock.now();
    const delivered = await drain(stream);
    assert.equal(delivered.length, 100, "the first window's 100 at once");
    while (suite.h.clock.now() - started < 9_750) {
      await suite.h.clock.advance(250);
      delivered.push(...(await drain(stream, { quietMs: 40, firstMs: 40 })));
    }
    delivered.push(...(await drain(stream, { firstMs: 500 })));
    assert.ok(delivered.length >= 950 && delivered.length <= 1000, `${delivered.length} started in 10 s`);
    assert.ok(mostStartsInAWindow(delivered, 1000) <= 100, `${mostStartsInAWindow(delivered, 1000)} started within one second`);
    const counts = (await api(suite.h.url, "GET", `/queues/${queue}`)).body.counts;
    assert.equal(counts.ready, 1200 - delivered.length, "the jobs over the limit wait ready");
    streams.close(stream);
  });

  test("rate_limit per key: each tenant starts 5 per second, whatever the others do", async () => {
    const queue = uniqueName();
    await setQueue(queue, { rate_limit: { limit: 5, interval_ms: 1000, key: ".tenant" } });
    await enqueueBulk(suite.h.url, ["a", "b", "c"].flatMap((tenant) => Array.from({ length: 12 }, () => ({ queue, type: "t", payload: { tenant } }))));
    const stream = await streams.take({ queue, prefetch: 100 });
    const first = await drain(stream);
    assert.deepEqual([...countBy(first, (job) => job.concurrency_key!)].sort(), [["a", 5], ["b", 5], ["c", 5]]);
    await suite.h.clock.advance(999);
    await assertNoJob(stream, 100, "the window has not moved past the first starts");
    await suite.h.clock.advance(1);
    assert.equal((await drain(stream)).length, 15);
    await suite.h.clock.advance(1000);
    assert.equal((await drain(stream)).length, 6, "the last 2 of each");
    streams.close(stream);
  });

  test("max_in_flight, concurrency_key and rate_limit together: each holds", async () => {
    const queue = uniqueName();
    await setQueue(queue, { max_in_flight: 5, concurrency_key: { limit: 2 }, rate_limit: { limit: 4, interval_ms: 1000 } });
    await enqueueBulk(suite.h.url, ["a", "b", "c", "d"].flatMap((key) => Array.from({ length: 5 }, () => ({ queue, type: "t", payload: 0, concurrency_key: key }))));
    const stream = await streams.take({ queue, prefetch: 100 });
    const first = await drain(stream);
    assert.equal(first.length, 4, "the rate allows 4");
    assert.ok([...countBy(first, (job) => job.concurrency_key!).values()].every((count) => count <= 2));
    await suite.h.clock.advance(1000);
    assert.equal((await drain(stream)).length, 1, "max_in_flight 5 leaves one more");
    for (const job of first) assertStatus(await ack(suite.h.url, job.id), 204);
    const after = await drain(stream);
    assert.equal(after.length, 3, "the rate's 4 for this second, less the one started");
    streams.close(stream);
  });

  test("removing a limit hands out at once what it held back", async () => {
    const queue = uniqueName();
    await setQueue(queue, { concurrency_key: { limit: 1 } });
    await enqueueBulk(suite.h.url, Array.from({ length: 3 }, () => ({ queue, type: "t", payload: 0, concurrency_key: "k" })));
    const stream = await streams.take({ queue, prefetch: 10 });
    assert.equal((await drain(stream)).length, 1);
    await setQueue(queue, { concurrency_key: null });
    assert.equal((await drain(stream)).length, 2);
    streams.close(stream);
  });

  test("bad settings are 400, key expressions that differ 422, a payload the expression cannot key 422 with nothing enqueued", async () => {
    const queue = uniqueName();
    for (const bad of [
      { concurrency_key: 2 },
      { concurrency_key: { limit: 0 } },
      { concurrency_key: { limit: 1, key: 7 } },
      { concurrency_key: { limit: 1, key: ".tenant |" } },
      { concurrency_key: { limit: 1, colour: "red" } },
      { rate_limit: { limit: 10 } },
      { rate_limit: { limit: 10, interval_ms: 0 } },
      { rate_limit: { limit: 10, interval_ms: 86_400_001 } },
      { rate_limit: { limit: 10_001, interval_ms: 1000 } },
      { rate_limit: { limit: 1.5, interval_ms: 1000 } },
    ]) assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: bad }), 400, JSON.stringify(bad));
    const differing = await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { concurrency_key: { limit: 1, key: ".a" }, rate_limit: { limit: 1, interval_ms: 1000, key: ".b" } } });
    assertError(differing, 422);
    assert.match(differing.body.error, /same expression/);
    await setQueue(queue, { concurrency_key: { limit: 1, key: ".tenant" } });
    assertError(await api(suite.h.url, "PATCH", `/queues/${queue}`, { body: { rate_limit: { limit: 1, interval_ms: 1000, key: ".other" } } }), 422, "differs from the one set");
    const unkeyable = await api(suite.h.url, "POST", "/jobs/bulk", { body: { jobs: [{ queue, type: "t", payload: { tenant: "a" } }, { queue, type: "t", payload: { tenant: { nested: true } } }] } });
    assertError(unkeyable, 422);
    assert.match(unkeyable.body.error, /jobs\[1\]/);
    assertError(await api(suite.h.url, "POST", "/jobs", { body: { queue, type: "t", payload: "text" } }), 422, "jq cannot index a string");
    assert.equal((await api(suite.h.url, "GET", `/queues/${queue}`)).body.counts.ready, 0, "all or nothing");
    for (const bad of [7, "", "x".repeat(1025)]) assertError(await api(suite.h.url, "POST", "/jobs", { body: { queue, type: "t", payload: 0, concurrency_key: bad } }), 400, JSON.stringify(bad));
  });
});
