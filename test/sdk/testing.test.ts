/**
 * The testing helpers, as a user's test would use them: an in-memory engine on a ManualClock,
 * `worker.drain()` to run what was enqueued through the real handlers, and `client.testing.enqueued()`
 * to see what the code under test enqueued.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { BadRequestError, KillJobError, ManualClock, open, RetryAtError, Worker, type Client, type InProcessClient } from "../../src/index.js";

interface Jobs {
  welcome: { to: string };
  report: { month: number };
  charge: { cents: number };
}

/** The code under test: signs a user up, enqueueing a welcome email now and a report for later. */
async function signUp(client: Client<Jobs>, email: string, now: number): Promise<void> {
  await client.enqueue({ queue: "emails", type: "welcome", payload: { to: email } });
  await client.enqueue({ queue: "reports", type: "report", payload: { month: 3 }, ready_at: now + 60_000 });
}

async function inMemory(t: TestContext): Promise<{ client: InProcessClient<Jobs>; clock: ManualClock }> {
  const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
  const client = await open<Jobs>({ store: "sqlite::memory:", clock });
  t.after(() => client.close());
  return { client, clock };
}

describe("testing helpers", () => {
  test("client.testing.enqueued lists the jobs waiting to run, by type or any filter", async (t) => {
    const { client, clock } = await inMemory(t);
    assert.deepEqual(await client.testing.enqueued(), []);
    await signUp(client, "ada@example.com", clock.now());
    const welcomes = await client.testing.enqueued({ type: "welcome" });
    assert.deepEqual(welcomes.map((job) => [job.queue, job.status, job.payload.to]), [["emails", "ready", "ada@example.com"]]);
    const reports = await client.testing.enqueued({ type: "report" });
    assert.deepEqual(reports.map((job) => [job.status, job.ready_at, job.payload.month]), [["scheduled", clock.now() + 60_000, 3]]);
    assert.deepEqual((await client.testing.enqueued({ queue: "reports" })).map((job) => job.type), ["report"]);
    assert.deepEqual((await client.testing.enqueued()).map((job) => job.type), ["welcome", "report"]);
    assert.deepEqual(await client.testing.enqueued({ type: "charge" }), []);
  });

  test("worker.drain() runs the ready jobs through the handlers and middleware, and counts how they ended", async (t) => {
    const { client } = await inMemory(t);
    const ran: string[] = [];
    const worker = new Worker(client, {
      queues: ["emails", "payments"],
      handlers: {
        welcome: (job) => void ran.push(`welcome ${job.payload.to}`),
        charge: (job) => {
          ran.push(`charge ${job.payload.cents}`);
          if (job.payload.cents > 1000) throw new KillJobError("too much");
          if (job.payload.cents < 0) throw new Error("negative");
        },
      },
      middleware: [async (job, _context, next) => {
        ran.push(`before ${job.type}`);
        await next();
      }],
      onError: () => {},
    });
    await client.enqueueBulk([
      { queue: "emails", type: "welcome", payload: { to: "ada@example.com" } },
      { queue: "payments", type: "charge", payload: { cents: 500 } },
      { queue: "payments", type: "charge", payload: { cents: 5000 } },
      { queue: "payments", type: "charge", payload: { cents: -1 } },
      { queue: "elsewhere", type: "welcome", payload: { to: "not taken" } },
    ]);
    assert.deepEqual(await worker.drain(), { completed: 2, retried: 1, dead: 1 });
    assert.deepEqual(ran.filter((line) => !line.startsWith("before")).sort(), ["charge -1", "charge 500", "charge 5000", "welcome ada@example.com"]);
    assert.equal(ran.filter((line) => line.startsWith("before")).length, 4);
    assert.deepEqual((await client.testing.enqueued()).map((job) => [job.queue, job.attempts]), [["payments", 1], ["elsewhere", 0]]);
    assert.deepEqual(await worker.drain(), { completed: 0, retried: 0, dead: 0 }, "the retry waits for its backoff");
  });

  test("drain() runs the jobs handlers enqueue, and jobs the clock has made due", async (t) => {
    const { client, clock } = await inMemory(t);
    const ran: string[] = [];
    const worker = new Worker(client, {
      queues: ["emails", "reports", "payments"],
      handlers: {
        welcome: async (job) => {
          ran.push(`welcome ${job.payload.to}`);
          await client.enqueue({ queue: "payments", type: "charge", payload: { cents: 100 } });
        },
        report: (job) => void ran.push(`report ${job.payload.month}`),
        charge: (job) => {
          ran.push(`charge attempt ${job.attempts}`);
          if (job.attempts === 0) throw new RetryAtError(clock.now() + 5_000, "busy");
        },
      },
      onError: () => {},
    });
    await signUp(client, "ada@example.com", clock.now());
    assert.deepEqual(await worker.drain(), { completed: 1, retried: 1, dead: 0 });
    assert.deepEqual(ran, ["welcome ada@example.com", "charge attempt 0"]);
    await clock.advance(5_000);
    assert.deepEqual(await worker.drain(), { completed: 1, retried: 0, dead: 0 });
    await clock.advance(55_000);
    assert.deepEqual(await worker.drain(), { completed: 1, retried: 0, dead: 0 });
    assert.deepEqual(ran.slice(2), ["charge attempt 1", "report 3"]);
    assert.deepEqual(await client.testing.enqueued(), []);
  });

  test("drain() stops at its limit when handlers enqueue jobs without end", async (t) => {
    const { client } = await inMemory(t);
    let runs = 0;
    const worker = new Worker(client, {
      queues: ["emails"],
      handlers: {
        welcome: async (job) => {
          runs++;
          await client.enqueue({ queue: "emails", type: "welcome", payload: job.payload });
        },
      },
    });
    await client.enqueue({ queue: "emails", type: "welcome", payload: { to: "echo@example.com" } });
    await assert.rejects(worker.drain({ limit: 5 }), (error: unknown) => error instanceof BadRequestError && /ran 5 jobs/.test(error.message));
    assert.equal(runs, 5);
    assert.equal((await client.testing.enqueued()).length, 1, "the job enqueued last is left, ready");
  });

  test("drain() refuses a started worker, which takes jobs on its own", async (t) => {
    const { client } = await inMemory(t);
    const worker = new Worker(client, { queues: ["emails"], handlers: { welcome: () => {} } }).start();
    t.after(() => worker.stop());
    await assert.rejects(worker.drain(), (error: unknown) => error instanceof BadRequestError && /not started/.test(error.message));
  });
});
