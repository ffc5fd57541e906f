/**
 * What every store must do, whatever it is built on. The engine relies on
 * exactly these behaviours; a new store passes this suite before it is used.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { newJobId } from "../../src/job/ids.js";
import { blocksDuplicate, claim, createJob } from "../../src/job/state.js";
import type { EnqueueInput, Job } from "../../src/job/types.js";
import type { Store } from "../../src/store/store.js";
import { uniqueName } from "../helpers/server.js";
import { STORES } from "./stores.js";

const NOW = Date.UTC(2026, 5, 1);

function job(input: Partial<EnqueueInput> & { queue: string }, now = NOW): Job {
  return createJob(newJobId(), { type: "t", payload: { n: 1 }, ...input }, now);
}

for (const factory of STORES) {
  describe(`store conformance: ${factory.name}`, () => {
    let store: Store;
    let handle: Awaited<ReturnType<typeof factory.create>>;

    before(async () => {
      handle = await factory.create();
      store = handle.store;
    });
    after(async () => handle.dispose());

    test("inserts jobs and reads them back whole", async () => {
      const queue = uniqueName();
      const full = job({ queue, priority: 7, payload: { deep: [1, { a: "b" }] }, retry_limit: 3, backoff: { base_ms: 1, exponent: 2, jitter_ms: 0 }, retention: { completed_ms: 5 }, timeout: 2.5 });
      const [outcome] = await store.insertJobs([full], blocksDuplicate);
      assert.equal(outcome!.duplicate, false);
      assert.deepEqual(await store.getJob(full.id), full);
      assert.equal(await store.getJob("missing"), undefined);
    });

    test("bulk inserts are atomic and keep input order", async () => {
      const queue = uniqueName();
      const jobs = [job({ queue }), job({ queue }), job({ queue })];
      const outcomes = await store.insertJobs(jobs, blocksDuplicate);
      assert.deepEqual(outcomes.map((outcome) => outcome.job.id), jobs.map((entry) => entry.id));
      const clash = job({ queue });
      await assert.rejects(store.insertJobs([job({ queue }), clash, { ...clash }], blocksDuplicate));
      assert.equal(await store.countJobs({ queues: [queue] }), 3);
    });

    test("unique keys block duplicates only while the existing job is in its scope", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const first = job({ queue, unique_key: key, unique_while: "queued" });
      await store.insertJobs([first], blocksDuplicate);
      const [dup] = await store.insertJobs([job({ queue, unique_key: key })], blocksDuplicate);
      assert.equal(dup!.duplicate, true);
      assert.equal(dup!.job.id, first.id);
      const taken = claim(first, NOW);
      await store.commit({ updates: [{ job: taken, from: "ready" }] });
      const [fresh] = await store.insertJobs([job({ queue, unique_key: key })], blocksDuplicate);
      assert.equal(fresh!.duplicate, false, "queued scope ends once the job is in flight");
      const inBatch = await store.insertJobs([job({ queue, unique_key: `${key}-b` }), job({ queue, unique_key: `${key}-b` })], blocksDuplicate);
      assert.deepEqual(inBatch.map((outcome) => outcome.duplicate), [false, true], "a bulk sees its own earlier jobs");
    });

    test("updates are compare-and-set on status", async () => {
      const queue = uniqueName();
      const ready = job({ queue });
      await store.insertJobs([ready], blocksDuplicate);
      const taken = claim(ready, NOW + 1);
      const first = await store.commit({ updates: [{ job: taken, from: "ready" }] });
      const second = await store.commit({ updates: [{ job: taken, from: "ready" }] });
      assert.deepEqual(first.updated, [true]);
      assert.deepEqual(second.updated, [false]);
      assert.equal((await store.getJob(ready.id))!.status, "in_flight");
      assert.equal((await store.getJob(ready.id))!.dequeued_at, NOW + 1);
    });

    test("errors are recorded per attempt, paged both ways, and deleted with their job", async () => {
      const queue = uniqueName();
      const failing = job({ queue });
      await store.insertJobs([failing], blocksDuplicate);
      const errors = [1, 2, 3].map((attempt) => ({ jobId: failing.id, error: { attempt, message: `boom ${attempt}`, dequeued_at: NOW, failed_at: NOW + attempt } }));
      await store.commit({ errors });
      assert.deepEqual((await store.listErrors(failing.id, { order: "asc", limit: 2 })).map((error) => error.attempt), [1, 2]);
      assert.deepEqual((await store.listErrors(failing.id, { afterAttempt: 2, order: "asc", limit: 2 })).map((error) => error.attempt), [3]);
      assert.deepEqual((await store.listErrors(failing.id, { order: "desc", limit: 5 })).map((error) => error.attempt), [3, 2, 1]);
      assert.equal((await store.getError(failing.id, 2))!.message, "boom 2");
      const result = await store.commit({ deletes: [failing.id] });
      assert.deepEqual(result.deleted.map((deleted) => deleted.id), [failing.id]);
      assert.equal(await store.getError(failing.id, 2), undefined);
    });

    test("queries filter by lists and inclusive ranges and page by id", async () => {
      const queue = uniqueName();
      const jobs = [0, 1, 2, 3, 4].map((n) => job({ queue, priority: n * 10, type: n % 2 === 0 ? "even" : "odd" }));
      await store.insertJobs(jobs, blocksDuplicate);
      const ids = (found: Job[]): string[] => found.map((entry) => entry.id);
      assert.deepEqual(ids(await store.listJobs({ queues: [queue], types: ["even"] }, { order: "asc", limit: 10 })), [jobs[0]!.id, jobs[2]!.id, jobs[4]!.id]);
      assert.deepEqual(ids(await store.listJobs({ queues: [queue], priority: { min: 10, max: 30 } }, { order: "asc", limit: 10 })), [jobs[1]!.id, jobs[2]!.id, jobs[3]!.id]);
      assert.deepEqual(ids(await store.listJobs({ queues: [queue] }, { order: "desc", limit: 2 })), [jobs[4]!.id, jobs[3]!.id]);
      assert.deepEqual(ids(await store.listJobs({ queues: [queue] }, { after: jobs[1]!.id, order: "asc", limit: 2 })), [jobs[2]!.id, jobs[3]!.id]);
      assert.deepEqual(ids(await store.listJobs({ queues: [queue] }, { after: jobs[1]!.id, order: "desc", limit: 5 })), [jobs[0]!.id]);
      assert.equal(await store.countJobs({ queues: [queue], ids: [jobs[0]!.id, jobs[4]!.id, "nope"] }), 2);
      assert.equal(await store.countJobs({ queues: [queue], attempts: { min: 1 } }), 0);
    });

    test("scheduled jobs come due in ready_at order", async () => {
      const queue = uniqueName();
      const later = job({ queue, ready_at: NOW + 2000 });
      const sooner = job({ queue, ready_at: NOW + 1000 });
      await store.insertJobs([later, sooner], blocksDuplicate);
      assert.ok((await store.nextScheduledAt())! <= NOW + 1000);
      const due = await store.dueScheduled(NOW + 1500, 10);
      assert.ok(due.some((entry) => entry.id === sooner.id));
      assert.ok(!due.some((entry) => entry.id === later.id));
    });

    test("ready entries, status listings and counts reflect what is stored", async () => {
      const queue = uniqueName();
      const ready = job({ queue, priority: 3 });
      const scheduled = job({ queue, ready_at: NOW + 60_000 });
      await store.insertJobs([ready, scheduled], blocksDuplicate);
      assert.deepEqual((await store.readyEntries()).filter((entry) => entry.queue === queue), [{ id: ready.id, queue, priority: 3 }]);
      const counts = (await store.countByQueueAndStatus()).filter((count) => count.queue === queue);
      assert.deepEqual(counts.map(({ status, count }) => [status, count]).sort(), [["ready", 1], ["scheduled", 1]]);
      await store.commit({ updates: [{ job: claim(ready, NOW), from: "ready" }] });
      assert.ok((await store.jobsWithStatus("in_flight", 1000)).some((entry) => entry.id === ready.id));
    });

    test("purging removes only terminal jobs whose purge_at has passed", async () => {
      const queue = uniqueName();
      const done = { ...job({ queue }), status: "completed" as const, completed_at: NOW, purge_at: NOW + 10 };
      const keep = { ...job({ queue }), status: "dead" as const, failed_at: NOW, purge_at: NOW + 1000 };
      const live = { ...job({ queue }), purge_at: NOW };
      await store.insertJobs([done, keep, live], blocksDuplicate);
      const purged = await store.purgeDue(NOW + 10, 100);
      assert.deepEqual(purged.filter((entry) => entry.queue === queue).map((entry) => entry.id), [done.id]);
      assert.equal(await store.countJobs({ queues: [queue] }), 2);
    });

    test("deleting by query returns what it deleted", async () => {
      const queue = uniqueName();
      const jobs = [job({ queue }), job({ queue, type: "other" })];
      await store.insertJobs(jobs, blocksDuplicate);
      const deleted = await store.deleteMatching({ queues: [queue], types: ["other"] });
      assert.deepEqual(deleted, [{ id: jobs[1]!.id, queue, status: "ready", priority: jobs[1]!.priority }]);
      assert.equal(await store.countJobs({ queues: [queue] }), 1);
    });

    test("concurrent writes are independent: a failing write does not undo the others", async () => {
      const queue = uniqueName();
      const a = job({ queue });
      const b = job({ queue });
      const results = await Promise.allSettled([
        store.insertJobs([a], blocksDuplicate),
        store.insertJobs([a], blocksDuplicate),
        store.insertJobs([b], blocksDuplicate),
      ]);
      const statuses = results.map((result) => result.status);
      assert.deepEqual(statuses.slice(0, 2).sort(), ["fulfilled", "rejected"], "exactly one of two inserts of one id wins");
      assert.equal(statuses[2], "fulfilled");
      assert.equal(await store.countJobs({ queues: [queue] }), 2);
    });

    test("stores sharing one database never let a unique key in twice, however their inserts race", async () => {
      const other = await handle.peer();
      for (let round = 0; round < 20; round++) {
        const queue = uniqueName();
        const key = uniqueName("key");
        const racers = [store, other, store, other].map((racer) => racer.insertJobs([job({ queue, unique_key: key })], blocksDuplicate));
        const outcomes = (await Promise.all(racers)).flat();
        const inserted = outcomes.filter((outcome) => !outcome.duplicate);
        assert.equal(inserted.length, 1, `round ${round}: exactly one insert wins`);
        assert.ok(outcomes.every((outcome) => outcome.job.id === inserted[0]!.job.id), "the others see the winner");
        assert.equal(await store.countJobs({ queues: [queue] }), 1);
      }
    });

    test("committed writes survive reopening the store", async () => {
      const queue = uniqueName();
      const kept = job({ queue, ready_at: NOW + 5000 });
      await store.insertJobs([kept], blocksDuplicate);
      store = await handle.reopen();
      assert.deepEqual(await store.getJob(kept.id), kept);
    });
  });
}
