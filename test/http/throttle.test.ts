import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, uniqueName } from "../helpers/server.js";
import { ack, assertError, assertStatus, enqueue, findJob, getJob, jobInput, serverForFile, takeAndAck, takeOne } from "../helpers/jobs.js";

const suite = serverForFile({ heartbeatMs: 50 });
const { streams } = suite;
const WINDOW_MS = 60_000;
/** How often the server purges (its default maintenance interval). */
const MAINTENANCE_MS = 1000;

/** The end of the aligned window the server's clock is in. */
function windowEnd(windowMs = WINDOW_MS): number {
  return (Math.floor(suite.h.clock.now() / windowMs) + 1) * windowMs;
}

async function post(body: Record<string, unknown>) {
  return api(suite.h.url, "POST", "/jobs", { body });
}

describe("throttle_ms: at most one job of a key per window", () => {
  test("a second enqueue in the window is a duplicate, even after the first completed; the next window takes a new job", async () => {
    const queue = uniqueName();
    const throttled = { unique_key: uniqueName("key"), throttle_ms: WINDOW_MS };
    const { job: first, stream } = await takeOne(streams, suite.h.url, queue, throttled);
    assert.equal(first.throttle_ms, WINDOW_MS);
    assert.equal(first.throttled_until, windowEnd());
    assert.equal(first.unique_while, undefined, "a throttled job holds its key by its window, not by a status scope");
    assertStatus(await ack(suite.h.url, first.id), 204);
    streams.close(stream);

    const completed = await getJob(suite.h.url, first.id);
    assert.equal(completed.status, "completed", "kept until its window ends, though completed jobs are purged at once by default");
    assert.equal(completed.purge_at, first.throttled_until);
    const again = await post(jobInput(queue, throttled));
    assertStatus(again, 200, "the window is held");
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, first.id);

    await suite.h.clock.advance(windowEnd() - suite.h.clock.now() + MAINTENANCE_MS);
    assert.equal(await findJob(suite.h.url, first.id), undefined, "purged once its window ended");
    const next = await post(jobInput(queue, throttled));
    assertStatus(next, 201, "a new window");
    assert.equal(next.body.throttled_until, first.throttled_until! + WINDOW_MS);
  });

  test("the window holds the key in every status: a job still waiting from the last window does not hold this one", async () => {
    const queue = uniqueName();
    const throttled = { unique_key: uniqueName("key"), throttle_ms: WINDOW_MS };
    const waiting = await enqueue(suite.h.url, queue, throttled);
    await suite.h.clock.advance(windowEnd() - suite.h.clock.now());
    const next = await post(jobInput(queue, throttled));
    assertStatus(next, 201, "unlike unique_while queued, the ready job of the last window does not block");
    assert.equal((await getJob(suite.h.url, waiting.id)).status, "ready");
  });

  test("throttled and unthrottled jobs of one key do not hold each other's key", async () => {
    const queue = uniqueName();
    const key = uniqueName("key");
    await enqueue(suite.h.url, queue, { unique_key: key });
    assertStatus(await post(jobInput(queue, { unique_key: key, throttle_ms: WINDOW_MS })), 201);
    assertStatus(await post(jobInput(queue, { unique_key: key })), 200, "the plain job still holds the key by its status");
  });

  test("in one bulk, the second job of a key's window is a duplicate of the first", async () => {
    const queue = uniqueName();
    const throttled = { unique_key: uniqueName("key"), throttle_ms: WINDOW_MS };
    const bulk = await api(suite.h.url, "POST", "/jobs/bulk", { body: { jobs: [jobInput(queue, throttled), jobInput(queue, throttled), jobInput(queue)] } });
    assertStatus(bulk, 201);
    const [first, second, plain] = bulk.body.jobs;
    assert.deepEqual([first.duplicate, second.duplicate, plain.duplicate], [false, true, false]);
    assert.equal(second.id, first.id);
  });

  test("enqueues racing for one window let exactly one job in", async () => {
    const queue = uniqueName();
    const throttled = { unique_key: uniqueName("key"), throttle_ms: WINDOW_MS };
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(jobInput(queue, throttled))));
    assert.deepEqual(answers.map(({ status }) => status).sort(), [...Array<number>(19).fill(200), 201]);
    assert.equal(new Set(answers.map(({ body }) => body.id)).size, 1);
  });
});

describe("debounce_ms: an enqueue into a held window goes into the next one", () => {
  test("the second is scheduled for the next window, the third is its duplicate; the next window runs it", async () => {
    const queue = uniqueName();
    const debounced = { unique_key: uniqueName("key"), debounce_ms: WINDOW_MS };
    const end = windowEnd();
    const first = await enqueue(suite.h.url, queue, debounced);
    assert.equal(first.status, "ready");
    const second = await post(jobInput(queue, debounced));
    assertStatus(second, 201);
    assert.equal(second.body.status, "scheduled");
    assert.equal(second.body.ready_at, end, "ready when the next window opens");
    assert.equal(second.body.throttled_until, end + WINDOW_MS);
    const third = await post(jobInput(queue, { ...debounced, payload: { late: true } }));
    assertStatus(third, 200);
    assert.equal(third.body.duplicate, true);
    assert.equal(third.body.id, second.body.id, "one job at most waits ahead");

    const stream = await streams.take({ queue });
    assert.deepEqual(await takeAndAck(suite.h.url, stream, 1), [first.id]);
    await suite.h.clock.advance(end - suite.h.clock.now());
    assert.deepEqual(await takeAndAck(suite.h.url, stream, 1), [second.body.id], "promoted as its window opened");
    const fourth = await post(jobInput(queue, debounced));
    assertStatus(fourth, 201);
    assert.equal(fourth.body.ready_at, end + WINDOW_MS, "the second holds this window now: the fourth waits for the one after");
    streams.close(stream);
  });

  test("a debounced job scheduled past the next window keeps its own ready_at", async () => {
    const queue = uniqueName();
    const debounced = { unique_key: uniqueName("key"), debounce_ms: 1000 };
    await enqueue(suite.h.url, queue, debounced);
    const later = suite.h.clock.now() + 3_600_000;
    const second = await post(jobInput(queue, { ...debounced, ready_at: later }));
    assertStatus(second, 201);
    assert.equal(second.body.ready_at, later);
  });
});

describe("throttle_ms and debounce_ms: refusals", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["without a unique_key", { throttle_ms: 1000 }, /job\.throttle_ms needs a unique_key/],
    ["with unique_while", { unique_key: "k", unique_while: "exists", debounce_ms: 1000 }, /debounce_ms and job\.unique_while cannot be given together/],
    ["both", { unique_key: "k", throttle_ms: 1000, debounce_ms: 1000 }, /throttle_ms and job\.debounce_ms cannot be given together/],
    ["zero", { unique_key: "k", throttle_ms: 0 }, /job\.throttle_ms/],
    ["a fraction", { unique_key: "k", throttle_ms: 1.5 }, /job\.throttle_ms/],
    ["past a year", { unique_key: "k", debounce_ms: 400 * 24 * 3600 * 1000 }, /job\.debounce_ms/],
    ["a string", { unique_key: "k", throttle_ms: "1000" }, /job\.throttle_ms/],
  ];
  for (const [what, extra, message] of cases) {
    test(`${what}: 400`, async () => {
      const refused = await post(jobInput(uniqueName(), extra));
      assertError(refused, 400, what);
      assert.match(refused.body.error, message);
    });
  }
});
