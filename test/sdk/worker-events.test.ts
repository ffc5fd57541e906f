/**
 * Worker events (active, completed, failed, drained, error) and waitUntilIdle(), on every transport;
 * and, in a child process, that trouble nobody listens to is reported on stderr instead of crashing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { KillJobError, Worker } from "../../src/index.js";
import { childEnv, ROOT, track } from "../helpers/children.js";
import { eventually, uniqueName } from "../helpers/server.js";
import { harness, TRANSPORTS } from "../helpers/transports.js";

type Told = [event: string, type: string, detail?: unknown];

for (const transport of TRANSPORTS) {
  describe(`Worker events over ${transport.name}`, () => {
    test("active, completed and failed tell each job's start and end, with its result, duration and whether it runs again", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("events");
      const told: Told[] = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        concurrency: 1,
        handlers: {
          send: (job) => ({ sent: (job.payload as { n: number }).n }),
          flaky: () => {
            throw new Error("mail server down");
          },
          doomed: () => {
            throw new KillJobError("bad address");
          },
        },
      });
      worker.on("active", (job) => told.push(["active", job.type]));
      worker.on("completed", (job, { result, durationMs }) => {
        assert.ok(durationMs >= 0 && durationMs < 5000, `duration ${durationMs}`);
        told.push(["completed", job.type, result]);
      });
      worker.on("failed", (job, error, { willRetry }) => told.push(["failed", job.type, [String(error), willRetry]]));
      h.defer(() => worker.stop());
      for (const type of ["send", "flaky", "doomed"]) await h.client.enqueue({ queue, type, payload: { n: 7 } });
      worker.start();
      await worker.waitUntilIdle();
      assert.deepEqual(told, [
        ["active", "send"],
        ["completed", "send", { sent: 7 }],
        ["active", "flaky"],
        ["failed", "flaky", ["Error: mail server down", true]],
        ["active", "doomed"],
        ["failed", "doomed", ["KillJobError: bad address", false]],
      ]);
    });

    test("drained is told once the queue is empty after jobs ran, not between batches", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("drained");
      const done: string[] = [];
      const drainedAfter: number[] = [];
      // One job at a time: between two jobs the worker holds nothing while the next is on its way.
      const worker = new Worker(h.client, { queues: [queue], concurrency: 1, prefetch: 1, handlers: { t: (job) => void done.push(job.id) } });
      worker.on("drained", () => drainedAfter.push(done.length));
      h.defer(() => worker.stop());
      await h.client.enqueueBulk(Array.from({ length: 8 }, () => ({ queue, type: "t", payload: null })));
      worker.start();
      await eventually(() => drainedAfter.length > 0, 5000, "drained");
      await h.client.enqueueBulk(Array.from({ length: 3 }, () => ({ queue, type: "t", payload: null })));
      await eventually(() => drainedAfter.length > 1, 5000, "drained again");
      await worker.waitUntilIdle();
      assert.deepEqual(drainedAfter, [8, 11]);
    });

    test("error tells trouble outside handlers, with the job; onError still hears failures and trouble alike", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("error-event");
      const troubles: Array<[string, string | undefined]> = [];
      const heard: string[] = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          // The job is gone by the time its failure is reported: the report cannot get through.
          vanish: async (job) => {
            await h.client.deleteJob(job.id);
            throw new Error("after deleting myself");
          },
        },
        onError: (error) => heard.push(String(error)),
      });
      worker.on("error", (error, job) => troubles.push([String(error), job?.id]));
      const failed: Array<boolean | undefined> = [];
      worker.on("failed", (_job, _error, { willRetry }) => failed.push(willRetry));
      h.defer(() => worker.stop());
      const job = await h.client.enqueue({ queue, type: "vanish", payload: null });
      worker.start();
      await eventually(() => failed.length === 1, 3000, "the failure");
      assert.equal(troubles.length, 1);
      assert.match(troubles[0]![0], /NotFoundError/);
      assert.equal(troubles[0]![1], job.id);
      assert.deepEqual(failed, [undefined], "whether it runs again is not known when the report failed");
      assert.equal(heard.length, 2);
      assert.match(heard.join("\n"), /NotFoundError[\s\S]*after deleting myself/);
    });

    test("a listener that throws is told as an error event, and the job still completes", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("throwing-listener");
      const troubles: string[] = [];
      const worker = new Worker(h.client, { queues: [queue], handlers: { t: () => "done" } });
      worker.on("completed", () => {
        throw new Error("listener bug");
      });
      worker.on("error", (error) => troubles.push(String(error)));
      h.defer(() => worker.stop());
      await h.client.enqueue({ queue, type: "t", payload: null });
      worker.start();
      await worker.waitUntilIdle();
      assert.deepEqual(troubles, ["Error: listener bug"]);
      assert.equal(await h.client.countJobs({ queue }), 0);
    });

    test("waitUntilIdle resolves once every job is done and acknowledged, not between batches", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("idle");
      let handled = 0;
      const worker = new Worker(h.client, { queues: [queue], concurrency: 2, prefetch: 2, handlers: { t: () => void handled++ } });
      h.defer(() => worker.stop());
      await worker.waitUntilIdle();
      const total = 40;
      await h.client.enqueueBulk(Array.from({ length: total }, () => ({ queue, type: "t", payload: null })));
      worker.start();
      await worker.waitUntilIdle();
      // Completed jobs are deleted when acknowledged: none is left once the acks are in.
      assert.equal(await h.client.countJobs({ queue }), 0);
      assert.equal(handled, total);
      const late = await h.client.enqueue({ queue, type: "t", payload: null, ready_at: h.clock.now() + 60_000 });
      await worker.waitUntilIdle();
      assert.equal((await h.client.getJob(late.id)).status, "scheduled", "jobs scheduled for later do not keep a worker busy");
    });

    test("waitUntilIdle waits for jobs another worker runs on the same queue, and resolves once the worker stops", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("idle-other");
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let started = false;
      const busy = new Worker(h.client, {
        queues: [queue],
        handlers: {
          t: async () => {
            started = true;
            await held;
          },
        },
      });
      h.defer(() => busy.stop());
      h.defer(release);
      const idle = new Worker(h.client, { queues: [queue], handlers: { t: () => {} } });
      h.defer(() => idle.stop());
      await h.client.enqueue({ queue, type: "t", payload: null });
      busy.start();
      await eventually(() => started, 3000, "the busy worker's handler");
      idle.start();
      let resolved = false;
      const waiting = idle.waitUntilIdle().then(() => {
        resolved = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(resolved, false, "a job of the queue is still running");
      release();
      await waiting;
      await idle.stop();
      await idle.waitUntilIdle();
    });
  });
}

describe("Worker trouble nobody listens to", () => {
  test("is reported on stderr, and the process goes on (an unheard error event is no crash)", async () => {
    const script = fileURLToPath(new URL("fixtures/unheard-trouble.ts", import.meta.url));
    const child = track(spawn(process.execPath, ["--import", "tsx", script], { cwd: ROOT, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] }));
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.match(stdout, /^still running after the trouble$/m);
    const lines = stderr.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as { msg: string; error: string; error_type: string });
    const reported = lines.map((line) => `${line.msg}: ${line.error_type}${line.error_type === "Error" ? `: ${line.error}` : ""}`).sort();
    assert.deepEqual(reported, ["worker error: Error: after deleting myself", "worker error: NotFoundError"]);
  });
});
