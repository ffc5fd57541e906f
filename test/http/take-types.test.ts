/**
 * GET /jobs/take?types=: a Wharf extension that limits a stream to some job types. Jobs of other
 * types stay ready, untouched, and never hold up the ones a stream takes, whatever their number or
 * priority. Runs on either store (WHARF_TEST_STORE=postgres for the PostgreSQL claim).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { assertError, assertNoJob, assertStatus, enqueueBulk, getJob, jobInput, Streams, takeAndAck } from "../helpers/jobs.js";
import type { RawTakeStream } from "../helpers/take.js";

let h: TestServer;
const streams = new Streams(() => h.url);

before(async () => {
  h = await startTestServer({ heartbeatMs: 50 });
});

after(async () => {
  streams.closeAll();
  await h.close();
});

/** The next `count` jobs of a stream, by id. */
async function nextIds(stream: RawTakeStream, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) ids.push((await stream.nextJob(3000)).id);
  return ids;
}

describe("GET /jobs/take?types=", () => {
  test("a stream with types gets only jobs of those types; the others stay ready, unattempted, for other streams", async () => {
    const queue = uniqueName();
    const stream = await streams.take({ queue, types: "a,c", prefetch: 10 });
    const [b, a, c] = await enqueueBulk(h.url, ["b", "a", "c"].map((type) => jobInput(queue, { type })));
    assert.deepEqual(await nextIds(stream, 2), [a!.id, c!.id]);
    await assertNoJob(stream, 250, "a job of a type the stream does not take");
    const waiting = await getJob(h.url, b!.id);
    assert.deepEqual([waiting.status, waiting.attempts], ["ready", 0]);

    const everyType = await streams.take({ queue });
    assert.equal((await everyType.nextJob(3000)).id, b!.id, "a stream without types takes every type, as in Zizq");
    streams.closeAll();
  });

  test("no head-of-line blocking: a thousand ready jobs of another type ahead, at a better priority, do not delay one of the stream's type", async () => {
    const queue = uniqueName();
    await enqueueBulk(h.url, Array.from({ length: 1000 }, (_, n) => jobInput(queue, { type: "b", priority: 0, payload: { n } })));
    const [wanted] = await enqueueBulk(h.url, [jobInput(queue, { type: "a", priority: 100 })]);
    const stream = await streams.take({ queue, types: "a" });
    assert.equal((await stream.nextJob(2000)).id, wanted!.id);
    assert.equal(await countReady(queue), 1000, "every job of the other type is still ready");
    streams.close(stream);
  });

  test("within the types it takes, a stream gets jobs in priority order, then FIFO, across queues", async () => {
    const [qa, qb] = [uniqueName(), uniqueName()];
    const specs: Array<[string, string, number]> = [
      [qa, "a", 5], [qa, "b", 0], [qb, "c", 5], [qa, "c", 1], [qb, "b", 1], [qb, "a", 1], [qa, "a", 0], [qb, "c", 5],
    ];
    const jobs = await enqueueBulk(h.url, specs.map(([queue, type, priority]) => jobInput(queue, { type, priority })));
    const expected = jobs.filter((job) => job.type !== "b").sort((x, y) => x.priority - y.priority || (x.id < y.id ? -1 : 1)).map((job) => job.id);
    const stream = await streams.take({ queue: `${qa},${qb}`, types: "c,a", prefetch: 1 });
    assert.deepEqual(await takeAndAck(h.url, stream, expected.length), expected);
    await assertNoJob(stream, 250, "only type b is left");
    streams.close(stream);
  });

  test("jobs repatched or deleted while ready keep the take order, with types and without", async () => {
    const queue = uniqueName();
    const [a1, a2, b1, c1, c2, a3] = await enqueueBulk(h.url, [
      jobInput(queue, { type: "a", priority: 5 }), jobInput(queue, { type: "a", priority: 5 }), jobInput(queue, { type: "b", priority: 2 }),
      jobInput(queue, { type: "c", priority: 1 }), jobInput(queue, { type: "c", priority: 3 }), jobInput(queue, { type: "a", priority: 5 }),
    ]);
    assertStatus(await api(h.url, "PATCH", `/jobs/${a2!.id}`, { body: { priority: 0 } }), 200, "a2 to the front");
    assertStatus(await api(h.url, "DELETE", `/jobs/${c1!.id}`), 204, "c1, the first of its type");
    assertStatus(await api(h.url, "PATCH", `/jobs/${b1!.id}`, { body: { priority: 9 } }), 200, "b1 to the back");
    const typed = await streams.take({ queue, types: "a,c", prefetch: 1 });
    assert.deepEqual(await takeAndAck(h.url, typed, 2), [a2!.id, c2!.id], "types a and c: a2 (now 0), then c2 (3), as c1 is gone");
    streams.close(typed);
    // The closed stream may have taken a1 meanwhile; it is ready again once the server saw the stream go.
    await eventually(async () => (await getJob(h.url, a1!.id)).status === "ready", 3000, "a1 to be ready");
    const everyType = await streams.take({ queue, prefetch: 1 });
    assert.deepEqual(await takeAndAck(h.url, everyType, 3), [a1!.id, a3!.id, b1!.id], "every type: a1 and a3 (5), then b1 (now 9)");
    streams.close(everyType);
  });

  test("types without a queue takes those types from every queue", async () => {
    const [qa, qb] = [uniqueName(), uniqueName()];
    const type = uniqueName("type");
    const stream = await streams.take({ types: type, prefetch: 10 });
    const [other, first, second] = await enqueueBulk(h.url, [jobInput(qa), jobInput(qa, { type }), jobInput(qb, { type })]);
    assert.deepEqual((await nextIds(stream, 2)).sort(), [first!.id, second!.id].sort());
    await assertNoJob(stream, 250, "a job of another type");
    assert.equal((await getJob(h.url, other!.id)).status, "ready");
    streams.close(stream);
  });

  test("streams with different types share a queue without taking each other's jobs", async () => {
    const queue = uniqueName();
    const forA = await streams.take({ queue, types: "a", prefetch: 0 });
    const forB = await streams.take({ queue, types: "b", prefetch: 0 });
    const jobs = await enqueueBulk(h.url, Array.from({ length: 40 }, (_, n) => jobInput(queue, { type: n % 3 === 0 ? "a" : "b", priority: n % 5 })));
    const idsOf = (type: string): string[] => jobs.filter((job) => job.type === type).map((job) => job.id).sort();
    assert.deepEqual((await nextIds(forA, idsOf("a").length)).sort(), idsOf("a"));
    assert.deepEqual((await nextIds(forB, idsOf("b").length)).sort(), idsOf("b"));
    assert.ok([...forA.received, ...forB.received].every((job) => job.attempts === 0));
    streams.closeAll();
  });

  test("empty, repeated and reserved types are 400", async () => {
    for (const query of ["types=", "types=a,,b", "types=a,", "types=,a", "types=a&types=b", "types=a*", "types=a%00b", `types=${"x".repeat(300)}`]) {
      assertError(await api(h.url, "GET", `/jobs/take?${query}`), 400, query);
    }
  });
});

async function countReady(queue: string): Promise<number> {
  const result = await api(h.url, "GET", `/jobs/count?queue=${queue}&status=ready`);
  assertStatus(result, 200, "counting ready jobs");
  return result.body.count as number;
}
