/**
 * The SDK's types, checked by `tsc --noEmit` (which type-checks test/): a job map types payloads per job
 * type in enqueue, handlers, events and reads, and without one payloads are `unknown`. Every
 * `@ts-expect-error` line must fail to compile, or tsc fails with "Unused '@ts-expect-error' directive".
 * The calls run too, on identity functions or an unstarted worker, so the file is also a (cheap) test.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { expectTypeOf } from "expect-type";
import { connect, open, Worker, type Client, type EnqueueInput, type EnqueuedJob, type InProcessClient, type Job, type TakeStream } from "../../src/index.js";

/** An interface, so it has no index signature: what `payload: JsonValue` used to refuse. */
interface Welcome {
  to: string;
  name?: string;
}

interface ReportPayload {
  month: number;
  recipients: string[];
}

interface Jobs {
  welcome: Welcome;
  report: ReportPayload;
}

/** Stands in for a call: takes exactly what `client.enqueue` takes, and does nothing. */
const enqueueInput = (input: Parameters<Client<Jobs>["enqueue"]>[0]): unknown => input;
const bulkInput = (inputs: Parameters<Client<Jobs>["enqueueBulk"]>[0]): unknown => inputs;
const untypedInput = (input: Parameters<Client["enqueue"]>[0]): unknown => input;

describe("SDK types", () => {
  let client: InProcessClient<Jobs>;
  before(async () => {
    client = await open<Jobs>({ store: "sqlite::memory:" });
  });
  after(() => client.close());

  test("open<Jobs>() and connect<Jobs>() give clients typed by the job map", async () => {
    expectTypeOf(client).toExtend<Client<Jobs>>();
    const remote = connect<Jobs>("http://127.0.0.1:1");
    expectTypeOf(remote).toEqualTypeOf<Client<Jobs>>();
    await remote.close();
    expectTypeOf(connect("http://127.0.0.1:1")).toEqualTypeOf<Client>();
  });

  test("enqueue checks the payload against its type; interfaces are accepted", () => {
    enqueueInput({ queue: "emails", type: "welcome", payload: { to: "ada@example.com" } });
    enqueueInput({ queue: "reports", type: "report", payload: { month: 3, recipients: [] }, priority: 10 });
    const welcome: Welcome = { to: "ada@example.com" };
    enqueueInput({ queue: "emails", type: "welcome", payload: welcome });
    // @ts-expect-error a welcome payload needs `to` as a string
    enqueueInput({ queue: "emails", type: "welcome", payload: { to: 42 } });
    // @ts-expect-error a report payload given to a welcome job
    enqueueInput({ queue: "emails", type: "welcome", payload: { month: 3, recipients: [] } });
    // @ts-expect-error a welcome payload needs `to`
    enqueueInput({ queue: "emails", type: "welcome", payload: {} });
    // @ts-expect-error no job type "farewell" in the map
    enqueueInput({ queue: "emails", type: "farewell", payload: { to: "ada@example.com" } });
    bulkInput([
      { queue: "emails", type: "welcome", payload: { to: "ada@example.com" } },
      { queue: "reports", type: "report", payload: { month: 3, recipients: ["ada@example.com"] } },
    ]);
    bulkInput([
      { queue: "emails", type: "welcome", payload: { to: "ada@example.com" } },
      // @ts-expect-error one element of a bulk enqueue with a payload of the wrong type
      { queue: "reports", type: "report", payload: { to: "ada@example.com" } },
    ]);
    expectTypeOf<EnqueueInput<Jobs, "welcome">["payload"]>().toEqualTypeOf<Welcome>();
    assert.ok(true);
  });

  test("without a job map any type goes and payloads are unknown", () => {
    untypedInput({ queue: "q", type: "anything", payload: { deep: { list: [1, "two", null] } } });
    untypedInput({ queue: "q", type: "anything", payload: { to: "ada@example.com" } satisfies Welcome });
    expectTypeOf<Parameters<Client["enqueue"]>[0]["payload"]>().toBeUnknown();
    expectTypeOf<Job["payload"]>().toBeUnknown();
    expectTypeOf<Job["type"]>().toEqualTypeOf<string>();
    const job = {} as Job;
    // @ts-expect-error an unknown payload must be narrowed before use
    assert.equal(typeof job.payload?.to, "undefined");
  });

  test("reads answer the union of the map's jobs, narrowed by job.type", () => {
    expectTypeOf(client.getJob).returns.resolves.toEqualTypeOf<Job<Jobs>>();
    expectTypeOf(client.listJobs).returns.toEqualTypeOf<AsyncGenerator<Job<Jobs>>>();
    expectTypeOf(client.take).returns.toEqualTypeOf<TakeStream<Jobs>>();
    expectTypeOf<Job<Jobs>["type"]>().toEqualTypeOf<"welcome" | "report">();
    expectTypeOf<Job<Jobs>["payload"]>().toEqualTypeOf<Welcome | ReportPayload>();
    expectTypeOf(client.enqueue).returns.resolves.toEqualTypeOf<EnqueuedJob>();
    const read = (job: Job<Jobs>): string => {
      if (job.type === "welcome") return job.payload.to;
      expectTypeOf(job.payload).toEqualTypeOf<ReportPayload>();
      return String(job.payload.month);
    };
    assert.equal(typeof read, "function");
  });

  test("each handler's job.payload is typed by its type, with no casts", () => {
    const worker = new Worker(client, {
      queues: ["emails"],
      handlers: {
        welcome: async (job) => {
          expectTypeOf(job.type).toEqualTypeOf<"welcome">();
          expectTypeOf(job.payload).toEqualTypeOf<Welcome>();
          // @ts-expect-error a welcome payload has no `month`
          return job.payload.to + String(job.payload.month);
        },
        report(job) {
          expectTypeOf(job.payload.recipients).toEqualTypeOf<string[]>();
        },
      },
      middleware: [async (job, _context, next) => {
        expectTypeOf(job).toEqualTypeOf<Job<Jobs>>();
        await next();
      }],
    });
    new Worker(client, {
      queues: ["emails"],
      handlers: {
        // @ts-expect-error no job type "farewell" in the map
        farewell: () => {},
      },
    });
    new Worker<Jobs>(client, {
      queues: ["emails"],
      handlers: {
        // @ts-expect-error the handler of a welcome job is not given a report
        welcome: (job: Job<Jobs, "report">) => job.payload.month,
      },
    });
    worker.register("report", (job) => job.payload.month);
    // @ts-expect-error a handler registered for a type outside the map
    worker.register("farewell", () => {});
    const untyped = new Worker(client as unknown as Client, { queues: ["q"], handlers: { anything: (job) => expectTypeOf(job.payload).toBeUnknown() } });
    assert.ok(untyped instanceof Worker);
  });

  test("worker events are typed", () => {
    const worker = new Worker(client, { queues: ["emails"] });
    worker.on("active", (job) => expectTypeOf(job).toEqualTypeOf<Job<Jobs>>());
    worker.on("completed", (job, { result, durationMs }) => {
      expectTypeOf(job).toEqualTypeOf<Job<Jobs>>();
      expectTypeOf(result).toBeUnknown();
      expectTypeOf(durationMs).toBeNumber();
    });
    worker.on("failed", (_job, error, { willRetry }) => {
      expectTypeOf(error).toBeUnknown();
      expectTypeOf(willRetry).toEqualTypeOf<boolean | undefined>();
    });
    worker.once("drained", () => {});
    worker.on("error", (error, job) => expectTypeOf(job).toEqualTypeOf<Job<Jobs> | undefined>());
    // @ts-expect-error no such event
    worker.on("finished", () => {});
    // @ts-expect-error drained listeners are given nothing
    worker.on("drained", (job: Job<Jobs>) => job);
    expectTypeOf(worker.waitUntilIdle).returns.resolves.toBeVoid();
    expectTypeOf(worker.drain).returns.resolves.toEqualTypeOf<{ completed: number; retried: number; dead: number }>();
    assert.ok(worker instanceof Worker);
  });

  test("client.testing.enqueued narrows to the types asked for", async () => {
    await client.enqueue({ queue: "emails", type: "welcome", payload: { to: "ada@example.com" } });
    await client.enqueue({ queue: "reports", type: "report", payload: { month: 3, recipients: [] } });
    const welcomes = await client.testing.enqueued({ type: "welcome" });
    expectTypeOf(welcomes).toEqualTypeOf<Array<Job<Jobs, "welcome">>>();
    assert.deepEqual(welcomes.map((job) => job.payload.to), ["ada@example.com"]);
    expectTypeOf(await client.testing.enqueued()).toEqualTypeOf<Array<Job<Jobs>>>();
    // @ts-expect-error no job type "farewell" in the map
    await client.testing.enqueued({ type: "farewell" });
  });
});
