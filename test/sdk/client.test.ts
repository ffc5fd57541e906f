/**
 * Every Client method, on every transport: HTTP with JSON, HTTP with
 * MessagePack, and the in-process engine. The cases are written once.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test, type TestContext } from "node:test";
import {
  BadRequestError,
  connect,
  NotFoundError,
  UnprocessableError,
  WharfError,
  type Client,
  type EnqueueInput,
  type Job,
  type JobStatus,
  type JsonValue,
  type TakeStream,
} from "../../src/index.js";
import { eventually, uniqueName } from "../helpers/server.js";
import { collect, harness, nextJob, recordingClient, turns, TRANSPORTS, type Harness } from "../helpers/transports.js";

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const UNKNOWN_ID = "0000000000000000000000000";

type ErrorClass = abstract new (...args: never[]) => WharfError;

/** Asserts that `promise` rejects with an instance of `type` carrying `status`, and returns the error. */
async function rejectsWith(promise: Promise<unknown>, type: ErrorClass, status: number, message?: RegExp): Promise<WharfError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  assert.ok(caught instanceof WharfError);
  assert.equal(caught.status, status);
  // Not compared by name: in-process, a 422 may be a subclass (IllegalTransitionError) that HTTP cannot carry.
  assert.equal(caught.name, caught.constructor.name);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Opens a take stream on `queue`, closed when the test ends, and returns its iterator. */
function openTake(h: Harness & { defer: (cleanup: () => unknown) => void }, queue: string, prefetch = 1): { stream: TakeStream; jobs: AsyncIterator<Job> } {
  const stream = h.client.take({ queues: [queue], prefetch });
  h.defer(() => stream.close());
  return { stream, jobs: stream[Symbol.asyncIterator]() };
}

/** Takes one job from `queue` (which must hold only it as its first ready job), fails it with kill, and closes the stream. */
async function makeDead(h: Harness & { defer: (cleanup: () => unknown) => void }, queue: string): Promise<Job> {
  const { stream, jobs } = openTake(h, queue);
  const job = await nextJob(jobs);
  await h.client.fail(job.id, { message: "give up", kill: true });
  stream.close();
  return job;
}

async function statusOf(client: Client, id: string): Promise<JobStatus> {
  return (await client.getJob(id)).status;
}

for (const transport of TRANSPORTS) {
  describe(`Client over ${transport.name}`, () => {
    test("batched enqueues fold (folded: true, the open job's id), also when coalesced into one bulk; a bad expression is UnprocessableError", async (t: TestContext) => {
      const h = await harness(t, transport);
      const queue = uniqueName("batch");
      const batch = { key: uniqueName("key"), when: "true", fold: "$existing + $new" };
      const first = await h.client.enqueue({ queue, type: "t", payload: [1], batch });
      assert.equal(first.folded, false);
      const [second, third] = await Promise.all([
        h.client.enqueue({ queue, type: "t", payload: [2], batch }),
        h.client.enqueue({ queue, type: "t", payload: [3], batch }),
      ]);
      assert.deepEqual([second.folded, third.folded, second.id, third.id], [true, true, first.id, first.id]);
      const stored = await h.client.getJob(first.id);
      assert.deepEqual(stored.payload, [1, 2, 3]);
      assert.deepEqual(stored.batch, batch);
      await rejectsWith(h.client.enqueue({ queue, type: "t", payload: [4], batch: { ...batch, when: "(" } }), UnprocessableError, 422, /batch\.when/);
    });

    test("health, version and queues", async (t: TestContext) => {
      const h = await harness(t, transport);
      assert.deepEqual(await h.client.health(), { status: "ok" });
      assert.equal(await h.client.version(), PACKAGE_VERSION);
      const [first, second] = [uniqueName("queues-b"), uniqueName("queues-a")];
      await h.client.enqueue({ queue: first, type: "t", payload: null });
      await h.client.enqueue({ queue: second, type: "t", payload: null });
      const ours = (queues: string[]): string[] => queues.filter((queue) => queue === first || queue === second);
      assert.deepEqual(ours(await h.client.queues()), [first, second].sort());
      await h.client.deleteJobs({ queue: first });
      assert.deepEqual(ours(await h.client.queues()), [second]);
    });

    test("enqueue applies the defaults and answers without the payload", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("enqueue");
      const job = await h.client.enqueue({ queue, type: "send", payload: { to: "ada", tags: ["x"] } });
      assert.match(job.id, /^[0-9a-z]{25}$/);
      assert.equal(job.queue, queue);
      assert.equal(job.type, "send");
      assert.equal(job.priority, 32768);
      assert.equal(job.status, "ready");
      assert.equal(job.attempts, 0);
      assert.equal(job.ready_at, h.clock.now());
      assert.equal(job.duplicate, false);
      assert.equal("payload" in job, false);
      assert.equal(job.unique_key, undefined);
      const stored = await h.client.getJob(job.id);
      assert.deepEqual(stored.payload, { to: "ada", tags: ["x"] });
      assert.equal(stored.status, "ready");

      const later = await h.client.enqueue({ queue, type: "send", payload: 1, ready_at: h.clock.now() + 60_000, priority: 5 });
      assert.equal(later.status, "scheduled");
      assert.equal(later.priority, 5);
      await h.clock.advance(59_999);
      assert.equal(await statusOf(h.client, later.id), "scheduled");
      await h.clock.advance(1);
      await eventually(async () => (await statusOf(h.client, later.id)) === "ready", 2000, "promotion");
    });

    test("enqueue with a unique_key answers duplicate: true with the existing job", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("unique");
      const key = uniqueName("key");
      const first = await h.client.enqueue({ queue, type: "t", payload: { n: 1 }, unique_key: key });
      assert.equal(first.duplicate, false);
      assert.equal(first.unique_key, key);
      assert.equal(first.unique_while, "queued");
      const second = await h.client.enqueue({ queue, type: "t", payload: { n: 2 }, unique_key: key });
      assert.equal(second.duplicate, true);
      assert.equal(second.id, first.id);
      assert.equal(await h.client.countJobs({ queue }), 1);
      assert.deepEqual((await h.client.getJob(first.id)).payload, { n: 1 });
      const other = await h.client.enqueue({ queue, type: "t", payload: { n: 3 }, unique_key: uniqueName("key") });
      assert.equal(other.duplicate, false);
      assert.notEqual(other.id, first.id);
    });

    test("enqueueBulk answers in input order", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("bulk");
      const inputs: EnqueueInput[] = [7, 3, 9, 1, 5].map((priority, n) => ({ queue, type: `t${n}`, payload: { n }, priority }));
      const jobs = await h.client.enqueueBulk(inputs);
      assert.deepEqual(jobs.map((job) => [job.type, job.priority, job.duplicate]), inputs.map((input) => [input.type, input.priority, false]));
      assert.equal(new Set(jobs.map((job) => job.id)).size, 5);
      for (const [n, job] of jobs.entries()) assert.deepEqual((await h.client.getJob(job.id)).payload, { n });
      assert.equal(await h.client.countJobs({ queue }), 5);
    });

    test("enqueueBulk is atomic: one bad job is a BadRequestError and nothing is stored", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("atomic");
      const good = (n: number): EnqueueInput => ({ queue, type: "t", payload: { n } });
      await rejectsWith(h.client.enqueueBulk([good(1), { ...good(2), priority: 70_000 }, good(3)]), BadRequestError, 400, /jobs\[1\]\.priority/);
      await rejectsWith(h.client.enqueueBulk([good(1), { ...good(2), queue: "bad,name" }]), BadRequestError, 400, /jobs\[1\]\.queue/);
      await rejectsWith(h.client.enqueueBulk([]), BadRequestError, 400);
      assert.equal(await h.client.countJobs({ queue }), 0);
      assert.equal((await collect(h.client.listJobs({ queue }))).length, 0);
    });

    test("enqueue calls made in one turn share one bulk request, and each gets its own job", async (t) => {
      const h = await harness(t, transport);
      const recorder = recordingClient(h.client);
      const queue = uniqueName("coalesce");
      const jobs = await Promise.all([0, 1, 2, 3, 4].map((n) => recorder.client.enqueue({ queue, type: `t${n}`, payload: { n } })));
      assert.deepEqual(jobs.map((job) => job.type), ["t0", "t1", "t2", "t3", "t4"]);
      assert.equal(new Set(jobs.map((job) => job.id)).size, 5);
      for (const [n, job] of jobs.entries()) assert.deepEqual((await h.client.getJob(job.id)).payload, { n });
      assert.deepEqual(recorder.requests.map(({ method, path }) => `${method} ${path}`), ["POST /jobs/bulk"]);
      // A call made alone is a plain single enqueue.
      await recorder.client.enqueue({ queue, type: "alone", payload: null });
      assert.equal(recorder.requests.at(-1)?.path, "/jobs");
      assert.equal(await h.client.countJobs({ queue }), 6);
    });

    test("one bad job among enqueues made together fails only its own call", async (t) => {
      const h = await harness(t, transport);
      const recorder = recordingClient(h.client);
      const queue = uniqueName("coalesce-bad");
      const good = (n: number): EnqueueInput => ({ queue, type: "t", payload: { n } });
      const settled = await Promise.allSettled([good(1), { ...good(2), priority: 70_000 }, good(3)].map((job) => recorder.client.enqueue(job)));
      assert.deepEqual(settled.map(({ status }) => status), ["fulfilled", "rejected", "fulfilled"]);
      await rejectsWith(Promise.reject((settled[1] as PromiseRejectedResult).reason), BadRequestError, 400, /priority/);
      assert.deepEqual((await collect(h.client.listJobs({ queue }))).map((job) => job.payload), [{ n: 1 }, { n: 3 }]);
    });

    test("enqueues made together with one unique_key: the first holds it, the others answer duplicate with it", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("coalesce-unique");
      const jobs = await Promise.all([1, 2, 3].map((n) => h.client.enqueue({ queue, type: "t", payload: { n }, unique_key: `${queue}-key` })));
      assert.deepEqual(jobs.map((job) => job.duplicate), [false, true, true]);
      assert.deepEqual(new Set(jobs.map((job) => job.id)).size, 1);
      assert.equal(await h.client.countJobs({ queue }), 1);
    });

    test("coalesceEnqueues: false sends every enqueue on its own", async (t) => {
      const h = await harness(t, transport);
      const recorder = recordingClient(h.client, { coalesceEnqueues: false });
      const queue = uniqueName("one-by-one");
      await Promise.all([1, 2, 3].map((n) => recorder.client.enqueue({ queue, type: "t", payload: { n } })));
      assert.deepEqual(recorder.requests.map(({ method, path }) => `${method} ${path}`), ["POST /jobs", "POST /jobs", "POST /jobs"]);
      assert.equal(await h.client.countJobs({ queue }), 3);
    });

    test("getJob of an unknown or deleted id is a NotFoundError", async (t) => {
      const h = await harness(t, transport);
      await rejectsWith(h.client.getJob(UNKNOWN_ID), NotFoundError, 404);
      await rejectsWith(h.client.getJob("no such/job"), NotFoundError, 404);
      const job = await h.client.enqueue({ queue: uniqueName("get"), type: "t", payload: null });
      await h.client.deleteJob(job.id);
      const error = await rejectsWith(h.client.getJob(job.id), NotFoundError, 404);
      assert.equal(error.retryable, false);
    });

    test("listJobs iterates over every page and yields each job once, in order", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("pages");
      const ids = (await h.client.enqueueBulk(Array.from({ length: 23 }, (_, n) => ({ queue, type: "t", payload: { n } })))).map((job) => job.id);
      // Noise in another queue must not show up.
      await h.client.enqueueBulk(Array.from({ length: 4 }, () => ({ queue: uniqueName("noise"), type: "t", payload: null })));
      const ascending = [...ids].sort();
      const recorder = recordingClient(h.client);
      const listed = await collect(recorder.client.listJobs({ queue, pageSize: 5 }));
      assert.deepEqual(listed.map((job) => job.id), ascending);
      assert.deepEqual(listed.map((job) => (job.payload as { n: number }).n), ascending.map((id) => ids.indexOf(id)));
      assert.equal(recorder.requests.filter((request) => request.method === "GET" && request.path === "/jobs").length, 5);
      const descending = await collect(h.client.listJobs({ queue, pageSize: 4, order: "desc" }));
      assert.deepEqual(descending.map((job) => job.id), [...ascending].reverse());
      const single = await collect(h.client.listJobs({ queue, pageSize: 1 }));
      assert.deepEqual(single.map((job) => job.id), ascending);
      // A page size the server refuses is a BadRequestError, not an empty list.
      await rejectsWith(collect(h.client.listJobs({ queue, pageSize: 0 })), BadRequestError, 400);
    });

    test("listJobs and countJobs filter by status, queue, type and id lists across pages", async (t) => {
      const h = await harness(t, transport);
      const [qa, qb, qc] = [uniqueName("fa"), uniqueName("fb"), uniqueName("fc")];
      const all: Array<{ id: string; queue: string; type: string; status: JobStatus }> = [];
      const add = async (input: EnqueueInput, status: JobStatus): Promise<string> => {
        const job = await h.client.enqueue(input);
        all.push({ id: job.id, queue: input.queue, type: input.type, status });
        return job.id;
      };
      // A dead job and an in-flight job in qa; each is alone in its queue's ready set when taken.
      const deadId = await add({ queue: qa, type: "alpha", payload: null }, "dead");
      assert.equal((await makeDead(h, qa)).id, deadId);
      const inFlightId = await add({ queue: qa, type: "beta", payload: null }, "in_flight");
      const holder = openTake(h, qa);
      assert.equal((await nextJob(holder.jobs)).id, inFlightId);
      for (const [queue, type, future] of [
        [qa, "alpha", false], [qb, "beta", true], [qc, "gamma", false], [qa, "gamma", true],
        [qb, "alpha", false], [qc, "alpha", true], [qa, "beta", false], [qb, "gamma", false],
      ] as const) {
        await add({ queue, type, payload: null, ...(future ? { ready_at: h.clock.now() + 3_600_000 } : {}) }, future ? "scheduled" : "ready");
      }
      const mine = [qa, qb, qc];
      const cases: Array<{ filter: Parameters<Client["countJobs"]>[0]; expect: (job: (typeof all)[number]) => boolean }> = [
        { filter: { queue: mine, status: ["scheduled", "dead"] }, expect: (job) => job.status === "scheduled" || job.status === "dead" },
        { filter: { queue: mine, status: "in_flight" }, expect: (job) => job.status === "in_flight" },
        { filter: { queue: [qa, qb] }, expect: (job) => job.queue === qa || job.queue === qb },
        { filter: { queue: qc }, expect: (job) => job.queue === qc },
        { filter: { queue: mine, type: ["alpha", "gamma"] }, expect: (job) => job.type === "alpha" || job.type === "gamma" },
        { filter: { queue: mine, type: "beta", status: ["ready", "in_flight"] }, expect: (job) => job.type === "beta" && (job.status === "ready" || job.status === "in_flight") },
        { filter: { id: [all[2]!.id, all[5]!.id, UNKNOWN_ID] }, expect: (job) => job.id === all[2]!.id || job.id === all[5]!.id },
      ];
      for (const { filter, expect } of cases) {
        const expected = all.filter(expect).map((job) => job.id);
        assert.ok(expected.length > 0);
        const listed = await collect(h.client.listJobs({ ...filter, pageSize: 2 }));
        assert.deepEqual(listed.map((job) => job.id), expected, `listJobs ${JSON.stringify(filter)}`);
        for (const job of listed) assert.equal(job.status, all.find((entry) => entry.id === job.id)!.status);
        assert.equal(await h.client.countJobs(filter), expected.length, `countJobs ${JSON.stringify(filter)}`);
      }
      await rejectsWith(h.client.countJobs({ status: "lost" as JobStatus }), BadRequestError, 400, /status/);
    });

    test("listJobs and countJobs filter by priority: a number, {min,max}, one bound, and \"A..B\"", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("priority");
      const priorities = [30, 1, 20, 5, 10, 0];
      await h.client.enqueueBulk(priorities.map((priority) => ({ queue, type: "t", payload: null, priority })));
      const cases: Array<[Parameters<Client["countJobs"]>[0] & object, number[]]> = [
        [{ priority: 10 }, [10]],
        [{ priority: 0 }, [0]],
        [{ priority: { min: 5, max: 20 } }, [20, 5, 10]],
        [{ priority: { min: 20 } }, [30, 20]],
        [{ priority: { max: 5 } }, [1, 5, 0]],
        [{ priority: { min: 0, max: 0 } }, [0]],
        [{ priority: "10..30" }, [30, 20, 10]],
        [{ priority: "..1" }, [1, 0]],
        [{ priority: 11 }, []],
      ];
      for (const [filter, expected] of cases) {
        const listed = await collect(h.client.listJobs({ ...filter, queue, pageSize: 1 }));
        assert.deepEqual(listed.map((job) => job.priority), expected, `priority ${JSON.stringify(filter.priority)}`);
        assert.equal(await h.client.countJobs({ ...filter, queue }), expected.length);
      }
      await rejectsWith(h.client.countJobs({ queue, priority: "20..10" }), BadRequestError, 400);
      await rejectsWith(h.client.countJobs({ queue, priority: "x..y" }), BadRequestError, 400);
    });

    test("listJobs and countJobs filter by ready_at and attempts ranges", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("ranges");
      const now = h.clock.now();
      const jobs = await h.client.enqueueBulk([0, 1000, 2000, 3000].map((offset) => ({ queue, type: "t", payload: null, ready_at: now + offset })));
      const listedIds = async (filter: Parameters<Client["listJobs"]>[0]): Promise<string[]> =>
        (await collect(h.client.listJobs({ ...filter, queue, pageSize: 2 }))).map((job) => job.id);
      assert.deepEqual(await listedIds({ ready_at: { min: now + 1000, max: now + 2000 } }), [jobs[1]!.id, jobs[2]!.id]);
      assert.deepEqual(await listedIds({ ready_at: `${now + 2000}..` }), [jobs[2]!.id, jobs[3]!.id]);
      const { jobs: stream } = openTake(h, queue);
      const taken = await nextJob(stream);
      assert.equal(taken.id, jobs[0]!.id);
      await h.client.fail(taken.id, { message: "again", retry_at: now + 10_000 });
      assert.deepEqual(await listedIds({ attempts: 1 }), [jobs[0]!.id]);
      assert.deepEqual(await listedIds({ attempts: { max: 0 } }), jobs.slice(1).map((job) => job.id));
      assert.equal(await h.client.countJobs({ queue, attempts: "1.." }), 1);
    });

    test("listJobs and countJobs filter payloads with a jq expression", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("jq");
      const jobs = await h.client.enqueueBulk(
        Array.from({ length: 10 }, (_, n) => ({ queue, type: "t", payload: { n, tag: n % 2 === 0 ? "even" : "odd", user: { id: n * 10 } } })),
      );
      await h.client.enqueue({ queue, type: "t", payload: "not an object" });
      const numbers = async (filter: string, pageSize: number): Promise<number[]> =>
        (await collect(h.client.listJobs({ queue, filter, pageSize }))).map((job) => (job.payload as { n: number }).n);
      assert.deepEqual(await numbers(".n >= 6", 50), [6, 7, 8, 9]);
      assert.deepEqual(await numbers('.tag == "odd"', 2), [1, 3, 5, 7, 9]);
      assert.deepEqual(await numbers(".user.id == 30 or .user.id == 70", 1), [3, 7]);
      assert.equal(await h.client.countJobs({ queue, filter: '.tag == "even"' }), 5);
      assert.equal(await h.client.countJobs({ queue, filter: '.tag == "even"', id: [jobs[0]!.id, jobs[1]!.id] }), 1);
      assert.equal(await h.client.countJobs({ queue, filter: ".missing" }), 0);
      await rejectsWith(h.client.countJobs({ queue, filter: ".n >=" }), BadRequestError, 400, /jq/);
    });

    test("listPage returns one page with next and prev links", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("page");
      const ids = (await h.client.enqueueBulk(Array.from({ length: 5 }, () => ({ queue, type: "t", payload: null })))).map((job) => job.id).sort();
      const first = await h.client.listPage({ queue, pageSize: 2 });
      assert.deepEqual(first.jobs.map((job) => job.id), ids.slice(0, 2));
      assert.equal(first.pages.prev, null);
      assert.ok(first.pages.next);
      assert.match(first.pages.next, new RegExp(`queue=${queue}`));
      const second = await h.client.listPage({ queue, pageSize: 2, from: ids[1] });
      assert.deepEqual(second.jobs.map((job) => job.id), ids.slice(2, 4));
      assert.ok(second.pages.prev);
      const last = await h.client.listPage({ queue, pageSize: 2, from: ids[3] });
      assert.deepEqual(last.jobs.map((job) => job.id), ids.slice(4));
      assert.equal(last.pages.next, null);
      const backwards = await h.client.listPage({ queue, pageSize: 3, order: "desc", from: ids[3] });
      assert.deepEqual(backwards.jobs.map((job) => job.id), [ids[2], ids[1], ids[0]]);
      const empty = await h.client.listPage({ queue: uniqueName("empty") });
      assert.deepEqual(empty.jobs, []);
      assert.equal(empty.pages.next, null);
    });

    test("countJobs with no filter counts every job", async (t) => {
      const h = await harness(t, transport);
      assert.equal(await h.client.countJobs(), 0);
      await h.client.enqueueBulk(Array.from({ length: 3 }, () => ({ queue: uniqueName("count"), type: "t", payload: null })));
      assert.equal(await h.client.countJobs(), 3);
      assert.equal(await h.client.countJobs({}), 3);
    });

    test("patchJob changes a job and answers without the payload", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("patch");
      const job = await h.client.enqueue({ queue, type: "t", payload: { keep: true } });
      const readyAt = h.clock.now() + 60_000;
      const patched = await h.client.patchJob(job.id, { priority: 7, ready_at: readyAt, retry_limit: 3, timeout: 12 });
      assert.equal("payload" in patched, false);
      assert.deepEqual(
        [patched.id, patched.priority, patched.status, patched.ready_at, patched.retry_limit, patched.timeout],
        [job.id, 7, "scheduled", readyAt, 3, 12],
      );
      const stored = await h.client.getJob(job.id);
      assert.deepEqual([stored.priority, stored.status, stored.ready_at, stored.retry_limit, stored.timeout], [7, "scheduled", readyAt, 3, 12]);
      assert.deepEqual(stored.payload, { keep: true });
      const moved = uniqueName("patch-moved");
      const cleared = await h.client.patchJob(job.id, { ready_at: null, retry_limit: null, queue: moved });
      assert.deepEqual([cleared.status, cleared.ready_at, cleared.retry_limit, cleared.queue], ["ready", h.clock.now(), undefined, moved]);
      assert.equal(await h.client.countJobs({ queue: moved }), 1);
      await rejectsWith(h.client.patchJob(job.id, { priority: 70_000 }), UnprocessableError, 422, /priority/);
      await rejectsWith(h.client.patchJob(UNKNOWN_ID, { priority: 1 }), NotFoundError, 404);
      const dead = await h.client.enqueue({ queue, type: "t", payload: null });
      await makeDead(h, queue);
      await rejectsWith(h.client.patchJob(dead.id, { priority: 1 }), UnprocessableError, 422);
      assert.equal((await h.client.getJob(dead.id)).priority, 32768);
    });

    test("patchJobs patches every matching job that is not completed or dead", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("patch-many");
      const dead = await h.client.enqueue({ queue, type: "a", payload: null });
      await makeDead(h, queue);
      await h.client.enqueueBulk([
        { queue, type: "a", payload: null }, { queue, type: "a", payload: null }, { queue, type: "a", payload: null, ready_at: h.clock.now() + 5000 },
        { queue, type: "b", payload: null }, { queue, type: "b", payload: null },
      ]);
      assert.equal(await h.client.patchJobs({ queue, type: "a" }, { priority: 1 }), 3);
      assert.equal(await h.client.countJobs({ queue, priority: 1 }), 3);
      assert.equal(await h.client.countJobs({ queue, type: "b", priority: 32768 }), 2);
      assert.equal((await h.client.getJob(dead.id)).priority, 32768);
      assert.equal(await h.client.patchJobs({ queue, type: "nothing" }, { priority: 2 }), 0);
      await rejectsWith(h.client.patchJobs({ queue, status: "dead" }, { priority: 2 }), UnprocessableError, 422);
      await rejectsWith(h.client.patchJobs({ queue }, { priority: -1 }), UnprocessableError, 422);
      assert.equal(await h.client.countJobs({ queue, priority: 1 }), 3);
    });

    test("deleteJob and deleteJobs remove jobs", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("delete");
      const jobs = await h.client.enqueueBulk(Array.from({ length: 8 }, (_, n) => ({ queue, type: n < 2 ? "b" : "a", payload: { n } })));
      const other = await h.client.enqueue({ queue: uniqueName("delete-other"), type: "a", payload: { n: 100 } });
      await h.client.deleteJob(jobs[7]!.id);
      await rejectsWith(h.client.getJob(jobs[7]!.id), NotFoundError, 404);
      await rejectsWith(h.client.deleteJob(jobs[7]!.id), NotFoundError, 404);
      assert.equal(await h.client.deleteJobs({ queue, type: "b" }), 2);
      assert.equal(await h.client.deleteJobs({ queue, filter: ".n >= 5" }), 2);
      assert.deepEqual((await collect(h.client.listJobs({ queue }))).map((job) => (job.payload as { n: number }).n), [2, 3, 4]);
      assert.equal(await h.client.deleteJobs({ queue: uniqueName("nothing") }), 0);
      assert.equal(await h.client.deleteJobs(), 4);
      await rejectsWith(h.client.getJob(other.id), NotFoundError, 404);
      assert.equal(await h.client.countJobs(), 0);
    });

    test("take leases jobs up to prefetch and ack completes them", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("take");
      const first = await h.client.enqueue({ queue, type: "t", payload: { n: 1 } });
      const second = await h.client.enqueue({ queue, type: "t", payload: { n: 2 }, retention: { completed_ms: 60_000 } });
      const { jobs } = openTake(h, queue, 1);
      const taken = await nextJob(jobs);
      assert.equal(taken.id, first.id);
      assert.equal(taken.status, "in_flight");
      assert.equal(taken.dequeued_at, h.clock.now());
      assert.deepEqual(taken.payload, { n: 1 });
      assert.equal(await statusOf(h.client, first.id), "in_flight");
      await turns(10);
      assert.equal(await h.client.countJobs({ queue, status: "in_flight" }), 1, "prefetch 1 holds one job at a time");
      await h.client.ack(first.id);
      // Completed jobs are purged at once by default.
      await rejectsWith(h.client.getJob(first.id), NotFoundError, 404);
      await rejectsWith(h.client.ack(first.id), NotFoundError, 404);
      const next = await nextJob(jobs);
      assert.equal(next.id, second.id);
      await h.client.ack(second.id);
      const kept = await h.client.getJob(second.id);
      assert.deepEqual([kept.status, kept.completed_at, kept.purge_at], ["completed", h.clock.now(), h.clock.now() + 60_000]);
      await rejectsWith(h.client.ack(UNKNOWN_ID), NotFoundError, 404);
    });

    test("take delivers large jobs whole, next to small ones, in order", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("large");
      // Megabyte payloads reach an HTTP client in many socket chunks; frames must be put back together.
      const payloads: JsonValue[] = [{ blob: "a".repeat(3_000_000) }, { n: 2 }, { blob: "b".repeat(1_500_000) }, { n: 4 }];
      const enqueued = [];
      for (const payload of payloads) enqueued.push(await h.client.enqueue({ queue, type: "t", payload }));
      const { jobs } = openTake(h, queue, 4);
      for (const [index, job] of enqueued.entries()) {
        const taken = await nextJob(jobs);
        assert.equal(taken.id, job.id);
        assert.deepEqual(taken.payload, payloads[index]);
      }
    });

    test("closing a take stream gives its jobs back at once", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("give-back");
      const job = await h.client.enqueue({ queue, type: "t", payload: null });
      const { stream, jobs } = openTake(h, queue);
      assert.equal((await nextJob(jobs)).id, job.id);
      stream.close();
      assert.deepEqual(await jobs.next(), { value: undefined, done: true });
      await eventually(async () => (await statusOf(h.client, job.id)) === "ready", 2000, "release");
      const again = openTake(h, queue);
      const retaken = await nextJob(again.jobs);
      assert.deepEqual([retaken.id, retaken.attempts], [job.id, 0]);
    });

    test("ackMany acknowledges the jobs in flight and returns the others as notFound", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("ack-many");
      const jobs = await h.client.enqueueBulk(Array.from({ length: 4 }, (_, n) => ({ queue, type: "t", payload: { n } })));
      const { jobs: stream } = openTake(h, queue, 3);
      const taken = [await nextJob(stream), await nextJob(stream), await nextJob(stream)];
      assert.deepEqual(taken.map((job) => job.id), jobs.slice(0, 3).map((job) => job.id));
      const [a, b, c, d] = jobs.map((job) => job.id) as [string, string, string, string];
      const result = await h.client.ackMany([a, d, UNKNOWN_ID, b]);
      assert.deepEqual([...result.notFound].sort(), [d, UNKNOWN_ID].sort());
      await rejectsWith(h.client.getJob(a), NotFoundError, 404);
      await rejectsWith(h.client.getJob(b), NotFoundError, 404);
      assert.equal(await statusOf(h.client, c), "in_flight");
      // d was not in flight when acked; it is delivered now that the window has room, and stays unacknowledged.
      const delivered = await nextJob(stream);
      assert.equal(delivered.id, d);
      assert.equal(await statusOf(h.client, d), "in_flight");
      assert.deepEqual(await h.client.ackMany([c, d]), { notFound: [] });
      assert.equal(await h.client.countJobs({ queue }), 0);
      assert.deepEqual(await h.client.ackMany([]), { notFound: [] });
    });

    test("fail with retry_at schedules the retry then; with kill the job is dead", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("fail");
      const retried = await h.client.enqueue({ queue, type: "t", payload: null, priority: 1 });
      const killed = await h.client.enqueue({ queue, type: "t", payload: null, priority: 2 });
      const { jobs } = openTake(h, queue, 2);
      const [one, two] = [await nextJob(jobs), await nextJob(jobs)];
      assert.deepEqual([one.id, two.id], [retried.id, killed.id]);
      const retryAt = h.clock.now() + 5000;
      const failed = await h.client.fail(retried.id, { message: "try later", error_type: "Busy", retry_at: retryAt });
      assert.equal("payload" in failed, false);
      assert.deepEqual([failed.status, failed.ready_at, failed.attempts, failed.failed_at], ["scheduled", retryAt, 1, h.clock.now()]);
      const dead = await h.client.fail(killed.id, { message: "hopeless", kill: true });
      assert.deepEqual([dead.status, dead.attempts], ["dead", 1]);
      assert.equal(dead.purge_at, h.clock.now() + 7 * 24 * 3600 * 1000);
      assert.equal((await h.client.getJob(killed.id)).status, "dead");
      await rejectsWith(h.client.fail(killed.id, { message: "again" }), NotFoundError, 404);
      await rejectsWith(h.client.fail(UNKNOWN_ID, { message: "x" }), NotFoundError, 404);
      await h.clock.advance(4999);
      assert.equal(await statusOf(h.client, retried.id), "scheduled");
      await h.clock.advance(1);
      const again = await nextJob(jobs);
      assert.deepEqual([again.id, again.attempts, again.status], [retried.id, 1, "in_flight"]);
    });

    test("fail without retry_at backs off by the job's policy; past retry_limit the job is dead", async (t) => {
      const h = await harness(t, transport, { random: () => 0.5 });
      const queue = uniqueName("backoff");
      const policy = await h.client.enqueue({ queue, type: "t", payload: null, priority: 1, backoff: { base_ms: 1000, exponent: 2, jitter_ms: 400 }, retry_limit: 1 });
      const defaults = await h.client.enqueue({ queue, type: "t", payload: null, priority: 2 });
      const { jobs } = openTake(h, queue, 2);
      await nextJob(jobs);
      await nextJob(jobs);
      const start = h.clock.now();
      // base + attempts^exponent * 1000 + random * jitter * attempts
      assert.equal((await h.client.fail(policy.id, { message: "1" })).ready_at, start + 1000 + 1000 + 200);
      assert.equal((await h.client.fail(defaults.id, { message: "1" })).ready_at, start + 15_000 + 1000 + 15_000);
      await h.clock.advance(2200);
      const again = await nextJob(jobs);
      assert.equal(again.id, policy.id);
      const last = await h.client.fail(policy.id, { message: "2" });
      assert.deepEqual([last.status, last.attempts], ["dead", 2]);
    });

    test("heartbeat extends the lease of a job in flight", async (t) => {
      const h = await harness(t, transport, { maintenanceIntervalMs: 1000 });
      const queue = uniqueName("heartbeat");
      const job = await h.client.enqueue({ queue, type: "t", payload: null, timeout: 10 });
      const { jobs } = openTake(h, queue);
      const taken = await nextJob(jobs);
      assert.equal(typeof taken.run_id, "string", "a taken job carries its lease token");
      const start = h.clock.now();
      await h.clock.advance(6000);
      const beat = await h.client.heartbeat(job.id);
      assert.deepEqual(beat, { id: job.id, run_id: taken.run_id, lease_expires_at: start + 16_000 });
      await assert.rejects(h.client.heartbeat(job.id, "stale-run"), NotFoundError, "a stale run id is refused");
      // Past the first lease (10 s) but inside the extended one (16 s).
      for (let step = 0; step < 8; step++) await h.clock.advance(1000);
      assert.equal(await statusOf(h.client, job.id), "in_flight");
      for (let step = 0; step < 3; step++) await h.clock.advance(1000);
      const expired = await eventually(async () => {
        const current = await h.client.getJob(job.id);
        return current.status === "in_flight" ? undefined : current;
      }, 2000, "lease expiry");
      assert.equal(expired.attempts, 1);
      const [error] = await collect(h.client.errors(job.id));
      assert.equal(error?.error_type, "LeaseExpired");
      await rejectsWith(h.client.heartbeat(job.id), NotFoundError, 404);
      await rejectsWith(h.client.heartbeat(UNKNOWN_ID), NotFoundError, 404);
    });

    test("errors() iterates every failure across pages; error(id, attempt) reads one", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("errors");
      const job = await h.client.enqueue({ queue, type: "t", payload: null, retry_limit: 1000 });
      const { jobs } = openTake(h, queue);
      const failures = 57;
      for (let attempt = 1; attempt <= failures; attempt++) {
        const taken = await nextJob(jobs);
        assert.equal(taken.attempts, attempt - 1);
        await h.clock.advance(10);
        await h.client.fail(job.id, { message: `failure ${attempt}`, error_type: "Flaky", backtrace: `at line ${attempt}`, retry_at: h.clock.now() });
      }
      const recorder = recordingClient(h.client);
      const errors = await collect(recorder.client.errors(job.id));
      assert.ok(recorder.requests.length >= 2, "more failures than one page holds");
      assert.deepEqual(errors.map((error) => error.attempt), Array.from({ length: failures }, (_, n) => n + 1));
      assert.deepEqual(errors.map((error) => error.message), Array.from({ length: failures }, (_, n) => `failure ${n + 1}`));
      for (const error of errors) {
        assert.equal(error.error_type, "Flaky");
        assert.equal(error.backtrace, `at line ${error.attempt}`);
        assert.ok(error.failed_at >= error.dequeued_at);
      }
      const third = await h.client.error(job.id, 3);
      assert.deepEqual(third, errors[2]);
      await rejectsWith(h.client.error(job.id, failures + 1), NotFoundError, 404);
      await rejectsWith(h.client.error(UNKNOWN_ID, 1), NotFoundError, 404);
      await rejectsWith(collect(h.client.errors(UNKNOWN_ID)), NotFoundError, 404);
      const fresh = await h.client.enqueue({ queue: uniqueName("no-errors"), type: "t", payload: null });
      assert.deepEqual(await collect(h.client.errors(fresh.id)), []);
    });

    test("reset deletes every job", async (t) => {
      const h = await harness(t, transport);
      const queues = [uniqueName("reset"), uniqueName("reset")];
      for (const queue of queues) await h.client.enqueueBulk([{ queue, type: "t", payload: null }, { queue, type: "t", payload: null, ready_at: h.clock.now() + 1000 }]);
      assert.equal(await h.client.countJobs(), 4);
      await h.client.reset();
      assert.equal(await h.client.countJobs(), 0);
      assert.deepEqual((await h.client.queues()).filter((queue) => queues.includes(queue)), []);
      // The engine keeps working after a reset.
      const job = await h.client.enqueue({ queue: queues[0]!, type: "t", payload: null });
      assert.equal(await statusOf(h.client, job.id), "ready");
    });

    test("errors are typed WharfErrors carrying the HTTP status", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("typed");
      const bad = await rejectsWith(h.client.enqueue({ queue: "a,b", type: "t", payload: null }), BadRequestError, 400, /queue/);
      assert.equal(bad.retryable, false);
      await rejectsWith(h.client.enqueue({ queue, type: "t", payload: null, unique_while: "active" }), BadRequestError, 400, /unique_key/);
      await rejectsWith(h.client.enqueue({ queue, type: "t", payload: null, timeout: 0 }), BadRequestError, 400, /timeout/);
      await rejectsWith(h.client.fail(UNKNOWN_ID, { message: "" }), NotFoundError, 404);
      const job = await h.client.enqueue({ queue, type: "t", payload: null });
      await rejectsWith(h.client.patchJob(job.id, { retry_limit: -1 }), UnprocessableError, 422, /retry_limit/);
      await rejectsWith(h.client.patchJob(job.id, { queue: "x*" }), UnprocessableError, 422);
      await rejectsWith(h.client.patchJobs({ queue, status: "completed" }, { priority: 1 }), UnprocessableError, 422, /completed/);
      assert.equal((await h.client.getJob(job.id)).priority, 32768);
    });

    test("a take with a prefetch that is not a whole number of 0 or more is a BadRequestError", async (t) => {
      const h = await harness(t, transport);
      for (const prefetch of [-1, 1.5]) {
        const stream = (): AsyncIterator<Job> => h.client.take({ queues: [uniqueName("bad")], prefetch })[Symbol.asyncIterator]();
        // In-process the engine refuses at once; over HTTP the refusal arrives on the stream.
        await rejectsWith((async () => stream().next())(), BadRequestError, 400, /prefetch/);
      }
    });

    test("a take with types gets only jobs of those types; an empty or reserved type is a BadRequestError", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("take-types");
      const [other, wanted] = await h.client.enqueueBulk([{ queue, type: "other", payload: null }, { queue, type: "wanted", payload: null }]);
      const stream = h.client.take({ queues: [queue], types: ["wanted"] });
      h.defer(() => stream.close());
      assert.equal((await nextJob(stream[Symbol.asyncIterator]())).id, wanted!.id);
      assert.equal((await h.client.getJob(other!.id)).status, "ready");
      for (const types of [[], ["a*"], [""]]) {
        const refused = (): AsyncIterator<Job> => h.client.take({ queues: [queue], types })[Symbol.asyncIterator]();
        await rejectsWith((async () => refused().next())(), BadRequestError, 400, /type/);
      }
    });

    test("returned jobs are copies: mutating them changes nothing in the queue", async (t) => {
      const h = await harness(t, transport);
      const queue = uniqueName("copies");
      const payload = { user: { name: "ada" }, list: [1, 2] };
      const input: EnqueueInput = { queue, type: "t", payload };
      const enqueued = await h.client.enqueue(input);
      payload.user.name = "changed after enqueue";
      payload.list.push(3);
      input.queue = "changed";
      enqueued.priority = 1;
      enqueued.status = "dead";

      const read = await h.client.getJob(enqueued.id);
      assert.deepEqual(read.payload, { user: { name: "ada" }, list: [1, 2] });
      (read.payload as { user: { name: string } }).user.name = "mutated";
      read.status = "completed";
      read.priority = 3;
      const [listed] = await collect(h.client.listJobs({ queue }));
      (listed!.payload as { list: number[] }).list.length = 0;
      listed!.queue = "elsewhere";
      const page = await h.client.listPage({ queue });
      page.jobs[0]!.attempts = 99;

      const stored = await h.client.getJob(enqueued.id);
      assert.deepEqual([stored.status, stored.priority, stored.queue, stored.attempts], ["ready", 32768, queue, 0]);
      assert.deepEqual(stored.payload, { user: { name: "ada" }, list: [1, 2] });

      const { jobs } = openTake(h, queue);
      const taken = await nextJob(jobs);
      (taken.payload as { user: { name: string } }).user.name = "taken and mutated";
      taken.status = "ready";
      taken.attempts = 7;
      const inFlight = await h.client.getJob(enqueued.id);
      assert.deepEqual([inFlight.status, inFlight.attempts], ["in_flight", 0]);
      assert.deepEqual(inFlight.payload, { user: { name: "ada" }, list: [1, 2] });
      inFlight.payload = null;
      const failure = { message: "once", retry_at: h.clock.now() + 1000 };
      const failed = await h.client.fail(enqueued.id, failure);
      failure.message = "changed";
      failed.status = "ready";
      const [error] = await collect(h.client.errors(enqueued.id));
      assert.equal(error?.message, "once");
      error!.message = "mutated";
      assert.equal((await h.client.error(enqueued.id, 1)).message, "once");
      const after = await h.client.getJob(enqueued.id);
      assert.deepEqual([after.status, after.attempts], ["scheduled", 1]);
      assert.deepEqual(after.payload, { user: { name: "ada" }, list: [1, 2] });
    });
  });
}

describe("Client over HTTP, against something that is not a Wharf server", () => {
  test("an error answered as HTML (a proxy's 502 page) is a typed error, on requests and on take streams", async (t) => {
    const proxy = createServer((_request, response) => {
      response.writeHead(502, { "content-type": "text/html" });
      response.end("<html><body>Bad Gateway</body></html>");
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const client = connect(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    t.after(() => client.close());
    await rejectsWith(client.getJob(UNKNOWN_ID), WharfError, 502, /Bad Gateway/);
    const jobs = client.take({ queues: ["q"] })[Symbol.asyncIterator]();
    await rejectsWith(jobs.next(), WharfError, 502, /Bad Gateway/);
  });
});
