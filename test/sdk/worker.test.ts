/**
 * The Worker on every transport: dispatch by type, batched acks, bounded
 * concurrency, middleware, failures, RetryAtError and KillJobError, graceful
 * stop, and (over HTTP) reconnecting after the server restarts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connect, KillJobError, NotFoundError, RetryAtError, Worker, WorkerUsageError, type Client, type Job, type JobError, type WorkerOptions } from "../../src/index.js";
import { eventually, startTestServer, uniqueName } from "../helpers/server.js";
import { cleanups, collect, gate, harness, recordingClient, turns, TRANSPORTS, type Gate, type RecordedRequest } from "../helpers/transports.js";

/** Waits (bounded) until no job of `queue` is left: completed jobs are purged at once by default. */
async function drained(client: Client, queue: string, timeoutMs = 3000): Promise<void> {
  await eventually(async () => (await client.countJobs({ queue })) === 0, timeoutMs, `queue ${queue} to drain`);
}

async function jobWhen(client: Client, id: string, check: (job: Job) => boolean, what: string): Promise<Job> {
  return eventually(async () => {
    const job = await client.getJob(id);
    return check(job) ? job : undefined;
  }, 3000, what);
}

async function gone(client: Client, id: string): Promise<boolean> {
  try {
    await client.getJob(id);
    return false;
  } catch (error) {
    if (error instanceof NotFoundError) return true;
    throw error;
  }
}

/** Handlers that block until the test lets them go; every gate is opened when the test ends. */
class Holds {
  readonly started: Job[] = [];
  readonly gates: Gate[] = [];
  running = 0;
  maxRunning = 0;
  finished = 0;

  readonly handler = async (job: Job): Promise<void> => {
    this.started.push(job);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const hold = gate();
    this.gates.push(hold);
    try {
      await hold.promise;
    } finally {
      this.running--;
      this.finished++;
    }
  };

  /** Lets every handler waiting now finish. */
  releaseAll(): void {
    for (const hold of this.gates.splice(0)) hold.open();
  }
}

for (const transport of TRANSPORTS) {
  describe(`Worker over ${transport.name}`, () => {
    test("runs handlers by type and acknowledges successes in one POST /jobs/success batch", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-types");
      const recorder = recordingClient(h.client);
      const holds = new Holds();
      const seen: Array<[string, Job]> = [];
      const errors: unknown[] = [];
      const worker = new Worker(recorder.client, {
        queues: [queue],
        concurrency: 12,
        handlers: {
          resize: async (job) => {
            seen.push(["resize", job]);
            await holds.handler(job);
          },
          email: async (job) => {
            seen.push(["email", job]);
            await holds.handler(job);
          },
        },
        onError: (error) => errors.push(error),
        shutdownTimeoutMs: 2000,
      });
      h.defer(() => worker.stop());
      h.defer(() => holds.releaseAll());
      const jobs = await h.client.enqueueBulk(Array.from({ length: 12 }, (_, n) => ({ queue, type: n % 3 === 0 ? "email" : "resize", payload: { n } })));
      assert.equal(worker.start(), worker);
      await eventually(() => holds.running === 12, 3000, "12 handlers to run");
      for (const [type, job] of seen) {
        assert.equal(type, job.type);
        assert.equal(job.status, "in_flight");
        assert.deepEqual(job.payload, { n: jobs.findIndex((enqueued) => enqueued.id === job.id) });
      }
      assert.deepEqual(seen.map(([, job]) => job.id).sort(), jobs.map((job) => job.id).sort());
      holds.releaseAll();
      await drained(h.client, queue);
      for (const job of jobs) assert.equal(await gone(h.client, job.id), true);
      const acks = recorder.requests.filter((request) => request.method === "POST" && request.path.endsWith("/success"));
      assert.deepEqual(acks.map((request) => request.path), ["/jobs/success"], "one batched ack for handlers finishing together");
      assert.deepEqual([...(acks[0]!.body as { ids: string[] }).ids].sort(), jobs.map((job) => job.id).sort());
      assert.equal(worker.processedCount, 12);
      assert.deepEqual(errors, []);
    });

    test("ackBatchSize caps the ids sent in one ack request", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-batch");
      const recorder = recordingClient(h.client);
      const holds = new Holds();
      const worker = new Worker(recorder.client, { queues: [queue], concurrency: 7, ackBatchSize: 3, handlers: { t: holds.handler }, shutdownTimeoutMs: 2000 });
      h.defer(() => worker.stop());
      h.defer(() => holds.releaseAll());
      await h.client.enqueueBulk(Array.from({ length: 7 }, () => ({ queue, type: "t", payload: null })));
      worker.start();
      await eventually(() => holds.running === 7, 3000, "7 handlers to run");
      holds.releaseAll();
      await drained(h.client, queue);
      const acks = recorder.requests.filter((request) => request.path === "/jobs/success");
      assert.deepEqual(acks.map((request) => (request.body as { ids: string[] }).ids.length), [3, 3, 1]);
    });

    test("a second ack request goes out while the first waits for its answer, and no third", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-ack-pipeline");
      const answers: Gate[] = [];
      let holding = true;
      const recorder = recordingClient(h.client, undefined, ({ path }) => {
        if (path !== "/jobs/success" || !holding) return Promise.resolve();
        const answer = gate();
        answers.push(answer);
        return answer.promise;
      });
      const holds = new Holds();
      const worker = new Worker(recorder.client, { queues: [queue], concurrency: 3, handlers: { t: holds.handler }, shutdownTimeoutMs: 2000 });
      h.defer(() => worker.stop());
      h.defer(() => holds.releaseAll());
      h.defer(() => {
        holding = false;
        answers.forEach((answer) => answer.open());
      });
      await h.client.enqueueBulk(Array.from({ length: 3 }, () => ({ queue, type: "t", payload: null })));
      worker.start();
      await eventually(() => holds.running === 3, 3000, "3 handlers to run");
      const acks = () => recorder.requests.filter((request) => request.path === "/jobs/success");
      const finish = async (position: number, expectedAcks: number) => {
        holds.gates[position]!.open();
        await eventually(() => holds.finished === position + 1, 3000, `handler ${position} to finish`);
        await turns();
        assert.equal(acks().length, expectedAcks);
      };
      await finish(0, 1);
      await finish(1, 2);
      await finish(2, 2);
      answers[0]!.open();
      await eventually(() => acks().length === 3, 3000, "the third ack once the first is answered");
      holding = false;
      answers.forEach((answer) => answer.open());
      await drained(h.client, queue);
      assert.deepEqual(acks().map((request) => (request.body as { ids: string[] }).ids), holds.started.map((job) => [job.id]));
    });

    test("concurrency bounds the handlers running at once, even with a larger prefetch", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-concurrency");
      const holds = new Holds();
      const worker = new Worker(h.client, { queues: [queue], concurrency: 3, prefetch: 10, handlers: { slow: holds.handler }, shutdownTimeoutMs: 2000 });
      h.defer(() => worker.stop());
      h.defer(() => holds.releaseAll());
      const total = 20;
      await h.client.enqueueBulk(Array.from({ length: total }, (_, n) => ({ queue, type: "slow", payload: { n } })));
      worker.start();
      // The worker holds 10 jobs leased but runs only 3 of them.
      await eventually(async () => holds.running === 3 && (await h.client.countJobs({ queue, status: "in_flight" })) === 10, 3000, "3 running of 10 leased");
      while (holds.finished < total) {
        const expected = Math.min(3, total - holds.finished);
        await eventually(() => holds.running === expected && holds.gates.length === expected, 3000, `${expected} handlers running`);
        await turns(5);
        assert.ok(holds.running <= 3, `${holds.running} handlers at once`);
        const finished = holds.finished;
        holds.releaseAll();
        await eventually(() => holds.finished === finished + expected, 3000, "handlers to finish");
      }
      assert.equal(holds.maxRunning, 3);
      assert.equal(holds.started.length, total);
      assert.equal(new Set(holds.started.map((job) => job.id)).size, total);
      await drained(h.client, queue);
    });

    test("middleware wraps the handler in the order given", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-middleware");
      const log: string[] = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          t: async (job) => {
            log.push(`handler ${(job.payload as { n: number }).n}`);
          },
        },
        middleware: [
          async (job, context, next) => {
            assert.ok(context.signal instanceof AbortSignal);
            log.push(`outer in ${job.type}`);
            await next();
            log.push("outer out");
          },
          async (_job, _context, next) => {
            log.push("inner in");
            await next();
            log.push("inner out");
          },
        ],
      });
      worker.use(async (_job, _context, next) => {
        log.push("used in");
        await next();
        log.push("used out");
      });
      h.defer(() => worker.stop());
      await h.client.enqueue({ queue, type: "t", payload: { n: 1 } });
      worker.start();
      await drained(h.client, queue);
      assert.deepEqual(log, ["outer in t", "inner in", "used in", "handler 1", "used out", "inner out", "outer out"]);
    });

    test("a thrown error becomes a failure with message, error_type and backtrace", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-throw");
      class PaymentDeclined extends Error {
        override name = "PaymentDeclined";
      }
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          charge: () => {
            throw new PaymentDeclined("card declined");
          },
        },
        onError: () => {},
      });
      h.defer(() => worker.stop());
      const job = await h.client.enqueue({ queue, type: "charge", payload: null });
      worker.start();
      const failed = await jobWhen(h.client, job.id, (current) => current.attempts === 1, "the failure");
      assert.equal(failed.status, "scheduled");
      assert.ok(failed.ready_at > h.clock.now(), "retried later, by backoff");
      const errors = await collect(h.client.errors(job.id));
      assert.equal(errors.length, 1);
      const error = errors[0]!;
      assert.deepEqual([error.attempt, error.message, error.error_type], [1, "card declined", "PaymentDeclined"]);
      assert.match(error.backtrace ?? "", /PaymentDeclined: card declined/);
      assert.match(error.backtrace ?? "", /worker\.test\.ts/);
      assert.deepEqual(await h.client.error(job.id, 1), error);
    });

    test("onError hears about handler failures, with the job", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-onerror");
      const reported: Array<[unknown, Job | undefined]> = [];
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          t: () => {
            throw new Error("boom");
          },
        },
        onError: (error, job) => reported.push([error, job]),
      });
      h.defer(() => worker.stop());
      const job = await h.client.enqueue({ queue, type: "t", payload: null });
      worker.start();
      await jobWhen(h.client, job.id, (current) => current.attempts === 1, "the failure");
      await eventually(() => reported.length > 0, 2000, "onError");
      const [error, about] = reported[0]!;
      assert.match(String(error), /boom/);
      assert.equal(about?.id, job.id);
    });

    test("RetryAtError retries the job at the given time", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-retry-at");
      const attempts = new Map<string, number>();
      const retryAt = h.clock.now() + 30_000;
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          byDate: (job) => {
            attempts.set(job.id, (attempts.get(job.id) ?? 0) + 1);
            if (job.attempts === 0) throw new RetryAtError(new Date(retryAt), "rate limited");
          },
          byNumber: (job) => {
            attempts.set(job.id, (attempts.get(job.id) ?? 0) + 1);
            if (job.attempts === 0) throw new RetryAtError(retryAt + 1000);
          },
        },
        onError: () => {},
      });
      h.defer(() => worker.stop());
      const byDate = await h.client.enqueue({ queue, type: "byDate", payload: null });
      const byNumber = await h.client.enqueue({ queue, type: "byNumber", payload: null });
      worker.start();
      const first = await jobWhen(h.client, byDate.id, (job) => job.attempts === 1, "the RetryAtError failure");
      assert.deepEqual([first.status, first.ready_at], ["scheduled", retryAt]);
      const second = await jobWhen(h.client, byNumber.id, (job) => job.attempts === 1, "the RetryAtError failure");
      assert.deepEqual([second.status, second.ready_at], ["scheduled", retryAt + 1000]);
      const [error] = await collect(h.client.errors(byDate.id));
      assert.deepEqual([error?.message, error?.error_type], ["rate limited", "RetryAtError"]);
      await h.clock.advance(29_999);
      assert.equal((await h.client.getJob(byDate.id)).status, "scheduled");
      await h.clock.advance(1);
      await eventually(async () => await gone(h.client, byDate.id), 3000, "the retry to run");
      assert.equal(attempts.get(byDate.id), 2);
      assert.equal((await h.client.getJob(byNumber.id)).status, "scheduled");
      await h.clock.advance(1000);
      await drained(h.client, queue);
      assert.equal(attempts.get(byNumber.id), 2);
    });

    test("KillJobError makes the job dead at once", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-kill");
      let calls = 0;
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          t: () => {
            calls++;
            throw new KillJobError("bad input");
          },
        },
        onError: () => {},
      });
      h.defer(() => worker.stop());
      const job = await h.client.enqueue({ queue, type: "t", payload: null, retry_limit: 10 });
      worker.start();
      const dead = await jobWhen(h.client, job.id, (current) => current.status === "dead", "the job to die");
      assert.equal(dead.attempts, 1);
      const errors: JobError[] = await collect(h.client.errors(job.id));
      assert.deepEqual(errors.map((error) => [error.message, error.error_type]), [["bad input", "KillJobError"]]);
      await h.clock.advance(3_600_000);
      assert.equal(calls, 1);
    });

    test("a job of a type with no handler stays ready, and the jobs behind it still run", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-unknown");
      const done: string[] = [];
      const errors: unknown[] = [];
      const worker = new Worker(h.client, { queues: [queue], handlers: { known: (job) => void done.push(job.id) }, onError: (error) => errors.push(error) });
      h.defer(() => worker.stop());
      const mystery = await h.client.enqueue({ queue, type: "mystery", payload: null });
      const known = await h.client.enqueue({ queue, type: "known", payload: null });
      worker.start();
      await eventually(async () => await gone(h.client, known.id), 3000, "the known job");
      assert.deepEqual(done, [known.id]);
      const untouched = await h.client.getJob(mystery.id);
      assert.deepEqual([untouched.status, untouched.attempts], ["ready", 0], "left for a worker that handles it");
      assert.deepEqual(errors, []);
    });

    test("two workers on one queue each take only the types they have handlers for", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-split");
      const handled = { a: [] as Job[], b: [] as Job[] };
      const errors: unknown[] = [];
      const workerFor = (type: "a" | "b"): Worker => {
        const worker = new Worker(h.client, { queues: [queue], concurrency: 3, handlers: { [type]: (job: Job) => void handled[type].push(job) }, onError: (error) => errors.push(error) });
        h.defer(() => worker.stop());
        return worker;
      };
      const workerA = workerFor("a");
      const workerB = workerFor("b");
      const jobs = await h.client.enqueueBulk(Array.from({ length: 20 }, (_, n) => ({ queue, type: n % 2 === 0 ? "a" : "b", payload: { n } })));
      const idsOf = (type: string): string[] => jobs.filter((job) => job.type === type).map((job) => job.id).sort();
      workerA.start();
      await eventually(() => handled.a.length === 10, 3000, "worker a to run the a jobs");
      const waiting = await Promise.all(idsOf("b").map((id) => h.client.getJob(id)));
      assert.ok(waiting.every((job) => job.status === "ready" && job.attempts === 0), "worker a left every b job ready, attempts untouched");
      workerB.start();
      await drained(h.client, queue);
      assert.deepEqual(handled.a.map((job) => job.id).sort(), idsOf("a"));
      assert.deepEqual(handled.b.map((job) => job.id).sort(), idsOf("b"));
      assert.ok([...handled.a, ...handled.b].every((job) => job.attempts === 0), "no job lost an attempt");
      assert.deepEqual(errors, [], "no failures");
    });

    test("context.heartbeat extends the lease of a running job", async (t) => {
      const h = await harness(t, transport, { maintenanceIntervalMs: 1000 });
      const queue = uniqueName("worker-heartbeat");
      const recorder = recordingClient(h.client);
      const beat = gate();
      const finish = gate();
      let started = false;
      let beaten = false;
      const worker = new Worker(recorder.client, {
        queues: [queue],
        handlers: {
          long: async (_job, context) => {
            started = true;
            await beat.promise;
            await context.heartbeat();
            beaten = true;
            await finish.promise;
          },
        },
        shutdownTimeoutMs: 2000,
      });
      h.defer(() => worker.stop());
      h.defer(() => {
        beat.open();
        finish.open();
      });
      const job = await h.client.enqueue({ queue, type: "long", payload: null, timeout: 10 });
      worker.start();
      await eventually(() => started, 3000, "the handler to start");
      for (let step = 0; step < 6; step++) await h.clock.advance(1000);
      beat.open();
      await eventually(() => beaten, 3000, "the handler's heartbeat");
      assert.deepEqual(recorder.requests.filter((request) => request.path.endsWith("/heartbeat")).map((request) => request.path), [`/jobs/${job.id}/heartbeat`]);
      // 14 s after the job was taken: past its 10 s lease, but inside the one the heartbeat extended to 16 s.
      for (let step = 0; step < 8; step++) await h.clock.advance(1000);
      const current = await h.client.getJob(job.id);
      assert.deepEqual([current.status, current.attempts], ["in_flight", 0]);
      finish.open();
      await drained(h.client, queue);
    });

    test("without heartbeats a running job's lease expires and the job is retried", async (t) => {
      const h = await harness(t, transport, { maintenanceIntervalMs: 1000 });
      const queue = uniqueName("worker-lease");
      const finish = gate();
      let started = false;
      const worker = new Worker(h.client, {
        queues: [queue],
        handlers: {
          long: async () => {
            started = true;
            await finish.promise;
          },
        },
        onError: () => {},
        shutdownTimeoutMs: 2000,
      });
      h.defer(() => worker.stop());
      h.defer(() => finish.open());
      const job = await h.client.enqueue({ queue, type: "long", payload: null, timeout: 10 });
      worker.start();
      await eventually(() => started, 3000, "the handler to start");
      for (let step = 0; step < 11; step++) await h.clock.advance(1000);
      const expired = await jobWhen(h.client, job.id, (current) => current.status !== "in_flight", "the lease to expire");
      assert.deepEqual([expired.status, expired.attempts], ["scheduled", 1]);
      const [error] = await collect(h.client.errors(job.id));
      assert.equal(error?.error_type, "LeaseExpired");
    });

    test("stop() lets running handlers finish, acks them and gives unstarted jobs back at once", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-stop");
      const holds = new Holds();
      const errors: unknown[] = [];
      const worker = new Worker(h.client, { queues: [queue], concurrency: 2, prefetch: 6, handlers: { t: holds.handler }, onError: (error) => errors.push(error), shutdownTimeoutMs: 5000 });
      h.defer(() => worker.stop());
      h.defer(() => holds.releaseAll());
      const jobs = await h.client.enqueueBulk(Array.from({ length: 8 }, (_, n) => ({ queue, type: "t", payload: { n } })));
      worker.start();
      await eventually(async () => holds.running === 2 && (await h.client.countJobs({ queue, status: "in_flight" })) === 6, 3000, "2 running of 6 leased");
      let stopped = false;
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      await turns(10);
      assert.equal(stopped, false, "stop() waits for the running handlers");
      holds.releaseAll();
      await stopping;
      // Read right after stop() resolves (asserted last, so the other checks still run if this one fails).
      const inFlight = await h.client.countJobs({ queue, status: "in_flight" });
      const ready = await h.client.countJobs({ queue, status: "ready" });
      assert.equal(holds.started.length, 2, "no job started after stop()");
      for (const job of holds.started) assert.equal(await gone(h.client, job.id), true, "the running jobs were acknowledged");
      const left = (await collect(h.client.listJobs({ queue }))).map((job) => [job.id, job.attempts]);
      assert.deepEqual(left, jobs.filter((job) => !holds.started.some((started) => started.id === job.id)).map((job) => [job.id, 0]));
      assert.deepEqual(errors, []);
      assert.deepEqual({ inFlight, ready }, { inFlight: 0, ready: 6 }, "unstarted jobs are ready again as soon as stop() resolves");
    });

    test("stop() resolves promptly, whatever the reconnect delay", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-stop-idle");
      const never = new Worker(h.client, { queues: [queue] });
      await never.stop();
      const worker = new Worker(h.client, { queues: [queue], reconnectMinMs: 60_000, reconnectMaxMs: 60_000, handlers: { t: () => {} } });
      h.defer(() => worker.stop());
      worker.start();
      await h.client.enqueue({ queue, type: "t", payload: null });
      await drained(h.client, queue);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        worker.stop().then(() => "stopped"),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve("still stopping after 2 s"), 2000);
        }),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "stopped");
    });

    test("a handler still running at shutdownTimeoutMs sees its signal abort, and its job goes back to ready", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("worker-deadline");
      const recorder = recordingClient(h.client);
      const finish = gate();
      let signal: AbortSignal | undefined;
      let abortedWhileRunning = false;
      const worker = new Worker(recorder.client, {
        queues: [queue],
        shutdownTimeoutMs: 50,
        handlers: {
          stuck: async (_job, context) => {
            signal = context.signal;
            assert.equal(context.signal.aborted, false);
            context.signal.addEventListener("abort", () => {
              abortedWhileRunning = true;
            });
            await finish.promise;
          },
        },
        onError: () => {},
      });
      h.defer(() => worker.stop());
      h.defer(() => finish.open());
      const job = await h.client.enqueue({ queue, type: "stuck", payload: null });
      worker.start();
      await eventually(() => signal, 3000, "the handler to start");
      await worker.stop();
      assert.equal(abortedWhileRunning, true);
      assert.equal(signal?.aborted, true);
      // Read right after stop() resolves; asserted last, so the other checks still run if this one fails.
      const back = await h.client.getJob(job.id);
      // The handler ends late; its ack must not complete a job that was handed back.
      await eventually(async () => (await h.client.getJob(job.id)).status === "ready", 2000, "the job to be handed back");
      const before = recorder.requests.length;
      finish.open();
      await eventually(() => worker.processedCount === 1, 2000, "the late handler to end");
      await eventually(() => recorder.requests.length > before, 2000, "the late ack");
      await Promise.all(recorder.requests.map((request: RecordedRequest) => request.done));
      const after = await h.client.getJob(job.id);
      assert.deepEqual([after.status, after.attempts], ["ready", 0], "a late ack does not complete a handed-back job");
      assert.deepEqual([back.status, back.attempts], ["ready", 0], "handed back (not failed) as soon as stop() resolves");
    });

    if (transport.kind === "http") {
      test("the worker reconnects after the server restarts and takes jobs enqueued since", async (t) => {
        const defer = cleanups(t);
        const first = await startTestServer();
        defer(() => first.close());
        const client = connect(first.url, { format: transport.format ?? "json" });
        defer(() => client.close());
        const queue = uniqueName("worker-reconnect");
        const handled: string[] = [];
        const troubles: unknown[] = [];
        const worker = new Worker(client, {
          queues: [queue],
          reconnectMinMs: 10,
          reconnectMaxMs: 40,
          handlers: { t: (job) => void handled.push(job.id) },
          onError: (error) => troubles.push(error),
        });
        defer(() => worker.stop());
        worker.start();
        const before = await client.enqueue({ queue, type: "t", payload: null });
        await drained(client, queue);
        assert.deepEqual(handled, [before.id]);

        await first.stop();
        await eventually(() => troubles.length > 0, 3000, "the worker to notice");
        const second = await startTestServer({ dataDir: first.dataDir, port: first.server.port });
        defer(() => second.stop());
        const after = await client.enqueueBulk([{ queue, type: "t", payload: { n: 1 } }, { queue, type: "t", payload: { n: 2 } }]);
        await drained(client, queue, 5000);
        assert.deepEqual(handled.slice(1).sort(), after.map((job) => job.id).sort());
      });
    }
  });
}

describe("Worker usage errors", () => {
  test("a Worker needs queues, a handler to start and its handlers registered before start", async (t) => {
    const h = await harness(t, TRANSPORTS[TRANSPORTS.length - 1]!);
    const queue = uniqueName("worker-usage");
    const noQueues = {} as WorkerOptions; // what a JavaScript caller can pass
    assert.throws(() => new Worker(h.client, noQueues), (error) => error instanceof WorkerUsageError && /queues/.test(error.message));
    assert.throws(() => new Worker(h.client, { queues: [] }), WorkerUsageError);
    assert.throws(() => new Worker(h.client, { queues: [queue] }).start(), (error) => error instanceof WorkerUsageError && /no handlers/.test(error.message));
    const worker = new Worker(h.client, { queues: [queue], handlers: { a: () => {} } });
    h.defer(() => worker.stop());
    worker.register("b", () => {}).start();
    assert.throws(() => worker.register("c", () => {}), (error) => error instanceof WorkerUsageError && /register\("c"\) after start/.test(error.message));
    const job = await h.client.enqueue({ queue, type: "b", payload: null });
    await eventually(async () => await gone(h.client, job.id), 3000, "a handler registered before start to run");
  });
});
