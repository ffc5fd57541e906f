/**
 * Results, saved progress and correlation metadata through the SDK, over every transport: a handler's
 * return value is the job's result, context.saveState hands the next attempt `job.state`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError, KillJobError, NotFoundError, RetryAtError, UnprocessableError, Worker, type JsonValue } from "../../src/index.js";
import { uniqueName } from "../helpers/server.js";
import { harness, recordingClient, TRANSPORTS } from "../helpers/transports.js";

const KEEP_COMPLETED = { retention: { completed_ms: 60_000 } };

for (const transport of TRANSPORTS) {
  describe(`results and saved state over ${transport.name}`, () => {
    test("a handler's return value is the job's result; client.getResult reads it", async (t) => {
      const h = await harness(t, transport, KEEP_COMPLETED);
      const queue = uniqueName("results");
      const recorder = recordingClient(h.client);
      const errors: unknown[] = [];
      const worker = new Worker(recorder.client, {
        queues: [queue],
        handlers: {
          sum: (job) => ({ sum: (job.payload as number[]).reduce((total, n) => total + n, 0), at: new Date(0) }),
          silent: () => undefined,
          odd: () => () => "a function is no JSON",
        },
        onError: (error) => errors.push(error),
      });
      const [sum, silent, odd] = await h.client.enqueueBulk([
        { queue, type: "sum", payload: [1, 2, 3] },
        { queue, type: "silent", payload: null },
        { queue, type: "odd", payload: null },
      ]);
      assert.deepEqual(await worker.drain(), { completed: 3, retried: 0, dead: 0 });
      assert.deepEqual(await h.client.getResult(sum!.id), { sum: 6, at: "1970-01-01T00:00:00.000Z" }, "kept as JSON makes it");
      assert.equal(await h.client.getResult(silent!.id), null, "undefined is no result");
      assert.equal(await h.client.getResult(odd!.id), null, "a value JSON cannot hold is left out");
      assert.equal((await h.client.getJob(sum!.id)).status, "completed");
      assert.equal(errors.length, 1, "the unstorable result was told as an error");
      assert.match(String(errors[0]), /JSON cannot hold/);
    });

    test("results travel in the worker's batched ack, and a refused result still acks the job", async (t) => {
      const h = await harness(t, transport, { ...KEEP_COMPLETED });
      const queue = uniqueName("results-batch");
      const recorder = recordingClient(h.client);
      const errors: unknown[] = [];
      const worker = new Worker(recorder.client, {
        queues: [queue],
        concurrency: 4,
        handlers: { t: (job) => ((job.payload as { big: boolean }).big ? "z".repeat(2 * 1024 * 1024) : { ok: job.id }) },
        onError: (error) => errors.push(error),
        shutdownTimeoutMs: 2000,
      });
      t.after(() => worker.stop());
      const jobs = await h.client.enqueueBulk([{ queue, type: "t", payload: { big: false } }, { queue, type: "t", payload: { big: true } }]);
      worker.start();
      for (const job of jobs) {
        for (let polls = 0; (await h.client.getJob(job.id)).status !== "completed"; polls++) {
          assert.ok(polls < 300, `job ${job.id} never completed`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      assert.deepEqual(await h.client.getResult(jobs[0]!.id), { ok: jobs[0]!.id });
      assert.equal(await h.client.getResult(jobs[1]!.id), null, "the 2 MiB result was refused and the job acked without it");
      assert.ok(errors.some((error) => /at most/.test(String(error))), `the refusal was told: ${errors.map(String).join("; ")}`);
      const acks = recorder.requests.filter((request) => request.path === "/jobs/success");
      assert.ok(acks.some((request) => Array.isArray((request.body as { results?: unknown[] }).results)), "results went with a batched ack");
    });

    test("getResult before completion is a typed 422", async (t) => {
      const h = await harness(t, transport);
      const job = await h.client.enqueue({ queue: uniqueName("early"), type: "t", payload: null });
      await assert.rejects(h.client.getResult(job.id), UnprocessableError);
    });

    test("context.saveState hands the next attempt job.state", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("state");
      const seen: Array<JsonValue | undefined> = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          long: async (job, context) => {
            seen.push(job.state);
            if (job.attempts === 0) {
              await context.saveState({ page: 3 });
              assert.deepEqual(job.state, { page: 3 }, "the running job sees what it saved");
              throw new RetryAtError(h.clock.now(), "interrupted");
            }
          },
        },
      });
      const job = await h.client.enqueue({ queue, type: "long", payload: null });
      assert.deepEqual(await worker.drain(), { completed: 1, retried: 1, dead: 0 });
      assert.deepEqual(seen, [undefined, { page: 3 }]);
      assert.equal(await h.client.getJob(job.id).then(() => "kept", () => "gone"), "gone", "completed with the default retention");
    });

    test("dependencies: a worker runs each job only after the jobs it waits for, and a refused dependency is a typed 422", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("deps");
      const order: string[] = [];
      const worker = new Worker(h.client, { queues: [queue], handlers: { step: (job) => void order.push(String(job.payload)) } });
      const [extract, transform, load] = await h.client.enqueueBulk([
        { queue, type: "step", payload: "extract", priority: 9 },
        { queue, type: "step", payload: "transform", dependencies: [0], priority: 0 },
        { queue, type: "step", payload: "load", dependencies: [1], priority: 0 },
      ]);
      assert.deepEqual([extract!.status, transform!.status, load!.status], ["ready", "blocked", "blocked"]);
      assert.deepEqual(load!.dependencies, [transform!.id]);
      assert.equal(await h.client.countJobs({ queue, status: "blocked" }), 2);
      assert.deepEqual(await worker.drain(), { completed: 3, retried: 0, dead: 0 });
      assert.deepEqual(order, ["extract", "transform", "load"], "priorities do not jump dependencies");
      // Each completed job stayed until its dependent ended; the next purge takes it.
      await h.clock.advance(1500);
      await assert.rejects(h.client.enqueue({ queue, type: "step", payload: null, dependencies: [extract!.id] }), UnprocessableError, "a completed and purged dependency is unknown");
    });

    test("workflows: a chain's handlers get the results before them, a group runs in parallel, on_error runs once; a refused one is a typed 400", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("flow");
      const seen: Array<{ type: string; before: JsonValue[] }> = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          add: (job) => {
            const before = Object.values(job.dependency_results ?? {}) as number[];
            seen.push({ type: job.type, before });
            return before.reduce((total, n) => total + n, 0) + (job.payload as number);
          },
          broken: () => {
            throw new KillJobError("no");
          },
          alert: (job) => void seen.push({ type: job.type, before: [] }),
        },
        onError: () => {},
      });
      const add = (payload: number) => ({ queue, type: "add", payload });
      const chain = await h.client.workflows.create({ chain: [add(1), add(10), { group: [add(100), add(1000)] }] });
      assert.deepEqual(await worker.drain(), { completed: 4, retried: 0, dead: 0 });
      const done = await h.client.workflows.get(chain.id);
      assert.equal(done.status, "completed");
      assert.deepEqual(chain.jobs.map((id) => done.results[id]), [1, 11, 111, 1011], "results passed three steps down");
      seen.length = 0;
      const group = await h.client.workflows.create({ group: [add(1), { queue, type: "broken", payload: null }], on_error: { queue, type: "alert", payload: null } });
      assert.deepEqual(await worker.drain(), { completed: 2, retried: 0, dead: 1 });
      assert.deepEqual(seen.filter(({ type }) => type === "alert").length, 1, "on_error ran once");
      assert.equal((await h.client.workflows.get(group.id)).status, "failed");
      assert.equal(await h.client.workflows.delete(group.id), 0, "nothing unfinished left");
      await assert.rejects(h.client.workflows.get(group.id), NotFoundError);
      await assert.rejects(h.client.workflows.create({ chain: [] }), BadRequestError);
    });

    test("correlation_id and parent_job_id go in with the enqueue and correlation_id filters", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("correlated");
      const correlation = uniqueName("order");
      const parent = await h.client.enqueue({ queue, type: "t", payload: null, correlation_id: correlation });
      const child = await h.client.enqueue({ queue, type: "t", payload: null, correlation_id: correlation, parent_job_id: parent.id });
      await h.client.enqueue({ queue, type: "t", payload: null });
      assert.equal((await h.client.getJob(child.id)).parent_job_id, parent.id);
      const listed = [];
      for await (const job of h.client.listJobs({ queue, correlation_id: correlation })) listed.push(job.id);
      assert.deepEqual(listed, [parent.id, child.id]);
      assert.equal(await h.client.countJobs({ queue, correlation_id: correlation }), 2);
    });
  });
}
