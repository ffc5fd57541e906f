/**
 * What every store must do, whatever it is built on. The engine relies on
 * exactly these behaviours; a new store passes this suite before it is used.
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { QueueFullError, StoreInUseError, UnprocessableError } from "../../src/errors.js";
import { newJobId } from "../../src/job/ids.js";
import { claim, complete, createJob, DEFAULT_RETENTION, discard, entersUniqueScope, fail, release, unblock, uniqueScope, unreachable } from "../../src/job/state.js";
import type { DependencyRules } from "../../src/store/dependencies.js";
import type { EnqueueInput, Job, JobStatus, JsonValue, UniqueWhile } from "../../src/job/types.js";
import type { ClaimRequest, CronGroupWrite, JobUpdate, OnFull, QueueCaps, Store } from "../../src/store/store.js";
import type { CronGroup } from "../../src/cron/types.js";
import { uniqueName } from "../helpers/server.js";
import { STORES } from "./stores.js";

const NOW = Date.UTC(2026, 5, 1);

function job(input: Partial<EnqueueInput> & { queue: string }, now = NOW): Job {
  return createJob(newJobId(), { type: "t", payload: { n: 1 }, ...input }, now);
}

const DEFAULT_LEASE_MS = 30_000;

function claimOf(queues: string[] | null, limit: number, now = NOW, types: string[] | null = null): ClaimRequest {
  return { queues, types, limit, now, owner: "server-a", defaultLeaseMs: DEFAULT_LEASE_MS };
}

function ids(jobs: readonly Job[]): string[] {
  return jobs.map((entry) => entry.id);
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
      const [outcome] = await store.insertJobs([full]);
      assert.equal(outcome!.duplicate, false);
      assert.deepEqual(await store.getJob(full.id), full);
      assert.equal(await store.getJob("missing"), undefined);
    });

    test("keeps results, saved state, metadata and deadlines, and selects by correlation id", async () => {
      const queue = uniqueName();
      const correlation = uniqueName("c");
      const tagged = job({ queue, correlation_id: correlation, parent_job_id: "elsewhere", deadline: NOW + 1000 });
      await store.insertJobs([tagged, job({ queue })]);
      assert.deepEqual(await store.getJob(tagged.id), tagged);
      assert.deepEqual(ids(await store.listJobs({ correlationIds: [correlation] }, { order: "asc", limit: 10 })), [tagged.id]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      assert.equal(leased.id, tagged.id);
      const state = { cursor: 12345678901234567890n, page: "p2" };
      assert.equal(await store.extendLease(leased.id, leased.run_id!, NOW + 60_000, JSON.stringify({ page: "p1" })), true);
      assert.equal(await store.extendLease(leased.id, leased.run_id!, NOW + 60_000, '{"cursor":12345678901234567890,"page":"p2"}'), true);
      assert.equal(await store.extendLease(leased.id, leased.run_id!, NOW + 61_000), true, "an extension without state keeps it");
      assert.deepEqual((await store.getJob(leased.id))!.state, state);
      const done = complete({ ...leased, state }, NOW + 10, { ...DEFAULT_RETENTION, completed_ms: 60_000 }, { rows: [1, 2] });
      const result = await store.commit({ updates: [{ job: done, from: "in_flight", fromRunId: leased.run_id! }] });
      assert.deepEqual(result.updated, [true]);
      assert.deepEqual((await store.getJob(leased.id))!.result, { rows: [1, 2] });
    });

    test("resultSizes and getResults read results alone, by id: bytes of their JSON text, and parsed values, for jobs that have one", async () => {
      const queue = uniqueName();
      const [withResult, without] = [job({ queue, priority: 0 }), job({ queue })];
      await store.insertJobs([withResult, without]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      assert.equal(leased.id, withResult.id);
      const result = { name: "café", big: 12345678901234567890n };
      const done = complete(leased, NOW + 10, { ...DEFAULT_RETENTION, completed_ms: 60_000 }, result);
      assert.deepEqual((await store.commit({ updates: [{ job: done, from: "in_flight", fromRunId: leased.run_id! }] })).updated, [true]);
      const ids = [withResult.id, without.id, "missing"];
      assert.deepEqual(await store.resultSizes(ids), new Map([[withResult.id, Buffer.byteLength('{"name":"café","big":12345678901234567890}')]]));
      assert.deepEqual(await store.getResults(ids), new Map([[withResult.id, result]]));
      assert.deepEqual(await store.resultSizes([]), new Map());
      assert.deepEqual(await store.getResults([]), new Map());
    });

    test("deadlines: claims skip jobs past theirs, which missedDeadlines and nextDeadline find", async () => {
      const queue = uniqueName();
      const missed = job({ queue, deadline: NOW - 1, priority: 0 });
      const later = job({ queue, deadline: NOW + 5_000, ready_at: NOW + 1_000 });
      const open = job({ queue, priority: 1 });
      await store.insertJobs([missed, later, open]);
      assert.deepEqual(ids(await store.claimReady(claimOf([queue], 10))), [open.id], "the job past its deadline is not claimed");
      assert.deepEqual(ids(await store.claimReady(claimOf(null, 1000, NOW, ["t"]))).filter((id) => id === missed.id), [], "nor by a claim of types");
      assert.ok(ids(await store.missedDeadlines(NOW, 1000)).includes(missed.id));
      assert.ok(!ids(await store.missedDeadlines(NOW, 1000)).includes(later.id));
      assert.ok(ids(await store.missedDeadlines(NOW + 5_000, 1000)).includes(later.id), "a scheduled job misses its deadline too");
      assert.ok((await store.nextDeadline())! <= NOW - 1);
    });

    test("dependencies: blocked on insert, unblocked by the commit that completes the last one, killed down the graph", async () => {
      const queue = uniqueName();
      const rules: DependencyRules = {
        unblocked: (blocked) => unblock(blocked, NOW),
        unreachable: (blocked, dependency) => unreachable(blocked, dependency, NOW, DEFAULT_RETENTION),
      };
      const [a, b] = [job({ queue }), job({ queue })];
      const both = createJob(newJobId(), { queue, type: "t", payload: null }, NOW, [a.id, b.id]);
      const onBoth = createJob(newJobId(), { queue, type: "t", payload: null }, NOW, [both.id]);
      const inserted = await store.insertJobs([a, b, both, onBoth], rules);
      assert.deepEqual(inserted.map(({ job: stored }) => stored.status), ["ready", "ready", "blocked", "blocked"]);
      await assert.rejects(store.insertJobs([createJob(newJobId(), { queue, type: "t", payload: null }, NOW, ["0000000000000000000000000"])], rules), /does not exist/);
      const leased = await store.claimReady(claimOf([queue], 2));
      const done = (leasedJob: Job): JobUpdate => ({ job: complete(leasedJob, NOW, { ...DEFAULT_RETENTION, completed_ms: 60_000 }), from: "in_flight", fromRunId: leasedJob.run_id! });
      const first = await store.commit({ updates: [done(leased.find(({ id }) => id === a.id)!)], rules });
      assert.deepEqual(first.settled, [], "one of two dependencies completed: nothing settles");
      const second = await store.commit({ updates: [done(leased.find(({ id }) => id === b.id)!)], rules });
      assert.deepEqual(second.settled.map(({ before, after }) => [before.id, after?.status]), [[both.id, "ready"]]);
      assert.equal((await store.getJob(both.id))!.status, "ready");
      const met = await store.insertJobs([createJob(newJobId(), { queue, type: "t", payload: null }, NOW, [a.id])], rules);
      assert.equal(met[0]!.job.status, "ready", "a completed dependency is met at insert");
      const [leasedBoth] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const killed = fail(leasedBoth, { message: "boom", kill: true }, { now: NOW, random: 0, defaultRetryLimit: 0, retention: DEFAULT_RETENTION });
      const third = await store.commit({ updates: [{ job: killed, from: "in_flight", fromRunId: leasedBoth.run_id! }], rules });
      assert.deepEqual(third.settled.map(({ before, after, error }) => [before.id, after?.status, error?.error_type]), [[onBoth.id, "dead", "DependencyFailed"]]);
      assert.equal((await store.listErrors(onBoth.id, { order: "asc", limit: 5 }))[0]!.error_type, "DependencyFailed");
    });

    test("holds: a completed dependency purged as it ends is written instead while others depend on it, and the purge leaves it until they end", async () => {
      const queue = uniqueName();
      const rules: DependencyRules = {
        unblocked: (blocked) => unblock(blocked, NOW),
        unreachable: (blocked, dependency) => unreachable(blocked, dependency, NOW, DEFAULT_RETENTION),
      };
      const parent = job({ queue });
      const child = createJob(newJobId(), { queue, type: "t", payload: null }, NOW, [parent.id]);
      await store.insertJobs([parent, child], rules);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const completed = complete(leased, NOW, DEFAULT_RETENTION, { rows: 1 });
      const update: JobUpdate = { job: completed, from: "in_flight", fromRunId: leased.run_id! };
      const ended = await store.commit({ deletes: [{ id: parent.id, from: "in_flight", fromRunId: leased.run_id!, ends: "completed", keptAs: () => update }], rules });
      assert.deepEqual([ended.kept, ended.deleted, ended.settled.map(({ after }) => after?.status)], [[parent.id], [], ["ready"]]);
      assert.deepEqual((await store.getJob(parent.id))?.result, { rows: 1 });
      assert.deepEqual(await store.purgeDue(NOW + 1, 100), [], "kept while its dependent has not ended");
      const [leasedChild] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const childDone = await store.commit({ deletes: [{ id: child.id, from: "in_flight", fromRunId: leasedChild.run_id!, ends: "completed", keptAs: () => ({ job: complete(leasedChild, NOW, DEFAULT_RETENTION), from: "in_flight" }) }], rules });
      assert.deepEqual([childDone.kept, childDone.deleted.map(({ id }) => id)], [[], [child.id]], "nothing depends on the child: deleted");
      assert.deepEqual((await store.purgeDue(NOW + 1, 100)).map(({ id }) => id), [parent.id]);
    });

    test("workflows: the record goes in with its jobs, reads back, and is purged only once none of its jobs is left", async () => {
      const queue = uniqueName();
      const id = newJobId();
      const member = job({ queue, correlation_id: id });
      await store.insertJobs([member], undefined, { id, created_at: NOW, document: '{"steps":[]}' });
      assert.deepEqual(await store.getWorkflow(id), { id, created_at: NOW, document: '{"steps":[]}' });
      await store.purgeWorkflows(1000);
      assert.notEqual(await store.getWorkflow(id), undefined, "a job is left");
      await store.commit({ deletes: [{ id: member.id }] });
      await store.purgeWorkflows(1000);
      assert.equal(await store.getWorkflow(id), undefined);
      const other = newJobId();
      await store.insertJobs([job({ queue, correlation_id: other })], undefined, { id: other, created_at: NOW, document: "{}" });
      assert.equal(await store.deleteWorkflow(other), true);
      assert.equal(await store.deleteWorkflow(other), false);
    });

    test("queue settings: claimReady skips paused and limited queues; claimLimited leases a limited queue up to its limit less its jobs in flight", async () => {
      const [limited, paused] = [uniqueName("limited"), uniqueName("paused")];
      await store.putQueueSettings(limited, { paused: false, max_in_flight: 2 });
      await store.putQueueSettings(paused, { paused: true, max_in_flight: 5 });
      assert.deepEqual(await store.getQueueSettings(limited), { paused: false, max_in_flight: 2 });
      await store.insertJobs([...Array.from({ length: 4 }, () => job({ queue: limited })), job({ queue: paused })]);
      assert.deepEqual(await store.claimReady(claimOf([limited, paused], 10)), [], "the hot path leaves them to claimLimited");
      assert.deepEqual((await store.claimLimited({ ...claimOf([paused], 10), queues: [paused] })).jobs, [], "paused wins over a limit");
      const { jobs: first } = await store.claimLimited({ ...claimOf([limited], 10), queues: [limited] });
      assert.equal(first.length, 2);
      assert.deepEqual((await store.claimLimited({ ...claimOf([limited], 10), queues: [limited] })).jobs, [], "two in flight: no room");
      await store.commit({ updates: [{ job: complete(first[0]!, NOW, DEFAULT_RETENTION), from: "in_flight", fromRunId: first[0]!.run_id! }] });
      assert.equal((await store.claimLimited({ ...claimOf([limited], 10), queues: [limited] })).jobs.length, 1, "one slot came free");
      await store.putQueueSettings(limited, undefined);
      assert.equal(await store.getQueueSettings(limited), undefined);
      assert.equal((await store.claimReady(claimOf([limited], 10))).length, 1, "no limit: the hot path takes it");
      await store.putQueueSettings(paused, undefined);
    });

    test("queue settings: claimLimited holds each key to its concurrency_key limit, unkeyed jobs as one lane, and records rate starts across claims", async () => {
      const queue = uniqueName("keyed");
      await store.putQueueSettings(queue, { paused: false, concurrency_key: { limit: 2 }, rate_limit: { limit: 5, interval_ms: 1000 } });
      await store.insertJobs([..."aaabbb".split("").map((key) => job({ queue, concurrency_key: key })), job({ queue }), job({ queue }), job({ queue })]);
      assert.deepEqual(await store.claimReady(claimOf([queue], 10)), [], "a queue with per-key limits is left to claimLimited");
      const first = await store.claimLimited({ ...claimOf([queue], 10), queues: [queue] });
      assert.equal(first.jobs.length, 5, "the rate allows 5 of the 6 the keys allow");
      assert.equal(first.opensAt, undefined, "the rate had room when the claim counted it");
      const keys = first.jobs.map((claimed) => claimed.concurrency_key ?? "-").sort();
      assert.deepEqual(keys, ["-", "a", "a", "b", "b"], "take order, past the third a and the third b");
      const closed = await store.claimLimited({ ...claimOf([queue], 10, NOW + 500), queues: [queue] });
      assert.deepEqual(closed, { jobs: [], opensAt: NOW + 1000 }, "the rate's 5 starts leave the interval at NOW + 1000");
      const reopened = await store.claimLimited({ ...claimOf([queue], 10, NOW + 1000), queues: [queue] });
      assert.deepEqual(reopened.jobs.map((claimed) => claimed.concurrency_key ?? "-"), ["-"], "the unkeyed lane's second: a and b are at 2");
      await store.putQueueSettings(queue, undefined);
    });

    test("payloads read back exactly: key order, integers past 2^53, strings", async () => {
      const queue = uniqueName();
      const payload = { zeta: 12345678901234567890n, alpha: -(2n ** 63n), huge: 10n ** 30n, mid: { y: [1, 0.1, "ünï 😀"], x: null }, "": true };
      const stored = job({ queue, payload });
      await store.insertJobs([stored]);
      const read = (await store.getJob(stored.id))!.payload as Record<string, unknown>;
      assert.deepEqual(read, payload);
      assert.deepEqual(Object.keys(read), Object.keys(payload));
      assert.deepEqual(Object.keys(read.mid as object), ["y", "x"]);
    });

    test("listPayloads gives ids and payload text as stored, under the query's conditions and paging, as listJobs pages", async () => {
      const queue = uniqueName();
      const payloads: JsonValue[] = [{ zeta: 12345678901234567890n, alpha: 1 }, "text", [1, { b: 2, a: 3 }], { n: 2 }];
      const jobs = payloads.map((payload, index) => job({ queue, payload, priority: index }));
      await store.insertJobs(jobs);
      const texts = ['{"zeta":12345678901234567890,"alpha":1}', '"text"', '[1,{"b":2,"a":3}]', '{"n":2}'];
      const listed = await store.listPayloads({ queues: [queue] }, { order: "asc", limit: 10 });
      assert.deepEqual(listed, jobs.map(({ id }, index) => ({ id, payload: texts[index] })));
      assert.deepEqual(JSON.parse(listed[3]!.payload), payloads[3]);
      const page = await store.listPayloads({ queues: [queue], priority: { min: 1 } }, { order: "desc", limit: 2, after: jobs[3]!.id });
      assert.deepEqual(page.map(({ id }) => id), [jobs[2]!.id, jobs[1]!.id]);
      assert.deepEqual(page.map(({ id }) => id), (await store.listJobs({ queues: [queue], priority: { min: 1 } }, { order: "desc", limit: 2, after: jobs[3]!.id })).map(({ id }) => id));
    });

    test("bulk inserts are atomic and keep input order", async () => {
      const queue = uniqueName();
      const jobs = [job({ queue }), job({ queue }), job({ queue })];
      const outcomes = await store.insertJobs(jobs);
      assert.deepEqual(outcomes.map((outcome) => outcome.job.id), jobs.map((entry) => entry.id));
      const clash = job({ queue });
      await assert.rejects(store.insertJobs([job({ queue }), clash, { ...clash }]));
      assert.equal(await store.countJobs({ queues: [queue] }), 3);
    });

    test("unique keys block duplicates only while the existing job is in its scope", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const first = job({ queue, unique_key: key, unique_while: "queued" });
      await store.insertJobs([first]);
      const [dup] = await store.insertJobs([job({ queue, unique_key: key })]);
      assert.equal(dup!.duplicate, true);
      assert.equal(dup!.job.id, first.id);
      const taken = claim(first, NOW, { runId: "r1", expiresAt: NOW + 1000 });
      await store.commit({ updates: [{ job: taken, from: "ready" }] });
      const [fresh] = await store.insertJobs([job({ queue, unique_key: key })]);
      assert.equal(fresh!.duplicate, false, "queued scope ends once the job is in flight");
      const inBatch = await store.insertJobs([job({ queue, unique_key: `${key}-b` }), job({ queue, unique_key: `${key}-b` })]);
      assert.deepEqual(inBatch.map((outcome) => outcome.duplicate), [false, true], "a bulk sees its own earlier jobs");
    });

    test("the schema holds a unique key in exactly the statuses of the job's scope", async () => {
      const queue = uniqueName();
      const retried = { now: NOW, random: 0, defaultRetryLimit: 0, retention: DEFAULT_RETENTION };
      const lease = (ready: Job): JobUpdate => ({ job: claim(ready, NOW, { runId: `run-${ready.id}`, expiresAt: NOW + 1000 }), from: "ready" });
      const leaseThen = (end: (leased: Job) => Job) => (ready: Job): JobUpdate[] => {
        const leased = lease(ready);
        return [leased, { job: end(leased.job), from: "in_flight", fromRunId: leased.job.run_id! }];
      };
      // A blocked job never has a unique key: an enqueue with both is refused.
      const into: Record<Exclude<JobStatus, "blocked">, (ready: Job) => JobUpdate[]> = {
        scheduled: () => [],
        ready: () => [],
        in_flight: (ready) => [lease(ready)],
        completed: leaseThen((leased) => complete(leased, NOW, { ...DEFAULT_RETENTION, completed_ms: 60_000 })),
        dead: leaseThen((leased) => fail(leased, { message: "boom" }, retried)),
      };
      for (const scope of ["queued", "active", "exists"] as const satisfies readonly UniqueWhile[]) {
        for (const status of Object.keys(into) as Array<keyof typeof into>) {
          const key = uniqueName("key");
          const holder = job({ queue, unique_key: key, unique_while: scope, ...(status === "scheduled" ? { ready_at: NOW + 60_000 } : {}) });
          await store.insertJobs([holder]);
          await store.commit({ updates: into[status](holder) });
          assert.equal((await store.getJob(holder.id))!.status, status);
          const [outcome] = await store.insertJobs([job({ queue, unique_key: key })]);
          assert.equal(outcome!.duplicate, uniqueScope(scope).includes(status), `unique_while ${scope}, existing job ${status}`);
        }
      }
    });

    test("throttled jobs hold their key's window in every status, apart from status holds; a debounced one moves a window on, once", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const windowMs = 60_000;
      const [first] = await store.insertJobs([job({ queue, unique_key: key, throttle_ms: windowMs })]);
      assert.equal(first!.duplicate, false);
      await store.commit({ updates: [{ job: claim(first!.job, NOW, { runId: "r", expiresAt: NOW + 1000 }), from: "ready" }] });
      const [inWindow, statusHeld] = await store.insertJobs([job({ queue, unique_key: key, throttle_ms: windowMs }), job({ queue, unique_key: key })]);
      assert.deepEqual([inWindow!.duplicate, inWindow!.job.id], [true, first!.job.id], "held in flight too: the window, not the status, holds it");
      assert.equal(statusHeld!.duplicate, false, "a throttled job holds no status scope of its key");

      const debounced = { queue, unique_key: `${key}-d`, debounce_ms: windowMs };
      const outcomes = await store.insertJobs([job(debounced), job(debounced), job(debounced)]);
      assert.deepEqual(outcomes.map(({ duplicate }) => duplicate), [false, false, true]);
      const moved = outcomes[1]!.job;
      assert.deepEqual([moved.status, moved.ready_at, moved.throttled_until], ["scheduled", outcomes[0]!.job.throttled_until, outcomes[0]!.job.throttled_until! + windowMs]);
      assert.equal(outcomes[2]!.job.id, moved.id, "the third is a duplicate of the one waiting ahead");
      assert.deepEqual(await store.getJob(moved.id), moved, "stored as answered");
    });

    test("a job back in its unique scope while another job holds its key gives the key up, and the update applies", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const first = job({ queue, unique_key: key });
      await store.insertJobs([first]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const second = job({ queue, unique_key: key });
      assert.equal((await store.insertJobs([second]))[0]!.duplicate, false, "the first job let go of its key when it went in flight");
      const back = release(leased);
      assert.equal(entersUniqueScope(leased, back), true);
      const result = await store.commit({ updates: [{ job: back, from: "in_flight", fromRunId: leased.run_id!, entersUniqueScope: true }] });
      assert.deepEqual(result.updated, [true]);
      assert.equal((await store.getJob(first.id))!.status, "ready");
      assert.equal((await store.insertJobs([job({ queue, unique_key: key })]))[0]!.job.id, second.id, "the second job still holds the key");
      await store.commit({ deletes: [{ id: second.id }] });
      const [after] = await store.insertJobs([job({ queue, unique_key: key })]);
      assert.equal(after!.duplicate, false, "the first job gave its key up for good, though it is ready again");
    });

    test("a job back in its unique scope takes its key again when it is free; of several in one commit, the first does", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const [first, second] = [job({ queue, unique_key: key }), job({ queue, unique_key: key })];
      await store.insertJobs([first]);
      const [leasedFirst] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      await store.insertJobs([second]);
      const [leasedSecond] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const back = (leased: Job): JobUpdate => ({ job: release(leased), from: "in_flight", fromRunId: leased.run_id!, entersUniqueScope: true });
      const result = await store.commit({ updates: [back(leasedFirst), back(leasedSecond)] });
      assert.deepEqual(result.updated, [true, true]);
      const [dup] = await store.insertJobs([job({ queue, unique_key: key })]);
      assert.equal(dup!.duplicate, true);
      assert.equal(dup!.job.id, first.id);
    });

    test("an update writes only the columns it names: the rest keep what another writer stored meanwhile", async () => {
      const queue = uniqueName();
      await store.insertJobs([job({ queue })]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const extended = leased.lease_expires_at! + 60_000;
      assert.equal(await store.extendLease(leased.id, leased.run_id!, extended), true);
      const patched = { ...leased, priority: 9 };
      const result = await store.commit({ updates: [{ job: patched, from: "in_flight", fromRunId: leased.run_id!, columns: ["priority"] }] });
      assert.deepEqual(result.updated, [true]);
      assert.deepEqual(await store.getJob(leased.id), { ...leased, priority: 9, lease_expires_at: extended });
    });

    test("a commit inserts after its deletes, all or nothing: a key the delete frees goes to the insert", async () => {
      const queue = uniqueName();
      const key = uniqueName("key");
      const holder = job({ queue, unique_key: key, unique_while: "exists" });
      await store.insertJobs([holder]);
      const successor = job({ queue, unique_key: key, unique_while: "exists" });
      const result = await store.commit({ deletes: [{ id: holder.id }], inserts: [successor] });
      assert.deepEqual(result.deleted.map(({ id }) => id), [holder.id]);
      assert.deepEqual(result.inserted, [{ job: successor, duplicate: false }]);
      assert.deepEqual(await store.getJob(successor.id), successor);
      const bystander = job({ queue });
      await store.insertJobs([bystander]);
      await assert.rejects(store.commit({ deletes: [{ id: successor.id }], inserts: [job({ queue }), { ...bystander }] }), "an id that exists cannot go in twice");
      assert.deepEqual(await store.getJob(successor.id), successor, "a failed insert undoes the delete of its commit");
    });

    test("updates are compare-and-set on status", async () => {
      const queue = uniqueName();
      const ready = job({ queue });
      await store.insertJobs([ready]);
      const taken = claim(ready, NOW + 1, { runId: "r1", expiresAt: NOW + 1000 });
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
      await store.insertJobs([failing]);
      const updates = [1, 2, 3].map((attempt) => ({ job: failing, from: "ready" as const, error: { attempt, message: `boom ${attempt}`, dequeued_at: NOW, failed_at: NOW + attempt } }));
      await store.commit({ updates });
      assert.deepEqual((await store.listErrors(failing.id, { order: "asc", limit: 2 })).map((error) => error.attempt), [1, 2]);
      assert.deepEqual((await store.listErrors(failing.id, { afterAttempt: 2, order: "asc", limit: 2 })).map((error) => error.attempt), [3]);
      assert.deepEqual((await store.listErrors(failing.id, { order: "desc", limit: 5 })).map((error) => error.attempt), [3, 2, 1]);
      assert.equal((await store.getError(failing.id, 2))!.message, "boom 2");
      const result = await store.commit({ deletes: [{ id: failing.id }] });
      assert.deepEqual(result.deleted.map((deleted) => deleted.id), [failing.id]);
      assert.equal(await store.getError(failing.id, 2), undefined);
    });

    test("an error record goes in only with its update: one refused (stale run, or moved on) records nothing", async () => {
      const queue = uniqueName();
      await store.insertJobs([job({ queue })]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      const error = (message: string) => ({ attempt: 1, message, dequeued_at: NOW, failed_at: NOW + 1 });
      const stale = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: "an-older-run", error: error("stale") }] });
      assert.deepEqual(stale.updated, [false]);
      const lapsed = await store.commit({ updates: [{ job: release(leased), from: "in_flight", leaseExpiredBy: leased.lease_expires_at! - 1, error: error("lapsed") }] });
      assert.deepEqual(lapsed.updated, [false]);
      assert.deepEqual(await store.listErrors(leased.id, { order: "asc", limit: 5 }), [], "no error for an update that did not apply");
      const current = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id!, error: error("current") }] });
      assert.deepEqual(current.updated, [true]);
      assert.deepEqual((await store.listErrors(leased.id, { order: "asc", limit: 5 })).map((recorded) => recorded.message), ["current"]);
    });

    test("queries filter by lists and inclusive ranges and page by id", async () => {
      const queue = uniqueName();
      const jobs = [0, 1, 2, 3, 4].map((n) => job({ queue, priority: n * 10, type: n % 2 === 0 ? "even" : "odd" }));
      await store.insertJobs(jobs);
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
      await store.insertJobs([later, sooner]);
      assert.ok((await store.nextScheduledAt())! <= NOW + 1000);
      const due = await store.dueScheduled(NOW + 1500, 10);
      assert.ok(due.some((entry) => entry.id === sooner.id));
      assert.ok(!due.some((entry) => entry.id === later.id));
    });

    test("ready entries, status listings and counts reflect what is stored", async () => {
      const queue = uniqueName();
      const ready = job({ queue, priority: 3 });
      const scheduled = job({ queue, ready_at: NOW + 60_000 });
      await store.insertJobs([ready, scheduled]);
      assert.deepEqual((await store.readyEntries()).filter((entry) => entry.queue === queue), [{ id: ready.id, queue, type: "t", priority: 3, concurrency_key: null }]);
      const counts = (await store.countByQueueAndStatus()).filter((count) => count.queue === queue);
      assert.deepEqual(counts.map(({ status, count }) => [status, count]).sort(), [["ready", 1], ["scheduled", 1]]);
      await store.commit({ updates: [{ job: claim(ready, NOW, { runId: "r1", expiresAt: NOW + 1000 }), from: "ready" }] });
      assert.ok((await store.jobsWithStatus("in_flight", 1000)).some((entry) => entry.id === ready.id));
    });

    test("purging removes only terminal jobs whose purge_at has passed", async () => {
      const queue = uniqueName();
      const done = { ...job({ queue }), status: "completed" as const, completed_at: NOW, purge_at: NOW + 10 };
      const keep = { ...job({ queue }), status: "dead" as const, failed_at: NOW, purge_at: NOW + 1000 };
      const live = { ...job({ queue }), purge_at: NOW };
      await store.insertJobs([done, keep, live]);
      const purged = await store.purgeDue(NOW + 10, 100);
      assert.deepEqual(purged.filter((entry) => entry.queue === queue).map((entry) => entry.id), [done.id]);
      assert.equal(await store.countJobs({ queues: [queue] }), 2);
    });

    test("deleting by query returns what it deleted", async () => {
      const queue = uniqueName();
      const jobs = [job({ queue }), job({ queue, type: "other" })];
      await store.insertJobs(jobs);
      const { deleted } = await store.deleteMatching({ queues: [queue], types: ["other"] });
      assert.deepEqual(deleted, [{ id: jobs[1]!.id, queue, type: "other", status: "ready", priority: jobs[1]!.priority, attempts: 0, concurrency_key: null }]);
      assert.equal(await store.countJobs({ queues: [queue] }), 1);
    });

    test("concurrent writes are independent: a failing write does not undo the others", async () => {
      const queue = uniqueName();
      const a = job({ queue });
      const b = job({ queue });
      const results = await Promise.allSettled([
        store.insertJobs([a]),
        store.insertJobs([a]),
        store.insertJobs([b]),
      ]);
      const statuses = results.map((result) => result.status);
      assert.deepEqual(statuses.slice(0, 2).sort(), ["fulfilled", "rejected"], "exactly one of two inserts of one id wins");
      assert.equal(statuses[2], "fulfilled");
      assert.equal(await store.countJobs({ queues: [queue] }), 2);
    });

    test("stores sharing one database never let a unique key in twice, however their inserts race", async (t) => {
      if (!handle.shared) return t.skip("one store per SQLite file");
      const other = await handle.peer();
      for (let round = 0; round < 20; round++) {
        const queue = uniqueName();
        const key = uniqueName("key");
        const racers = [store, other, store, other].map((racer) => racer.insertJobs([job({ queue, unique_key: key })]));
        const outcomes = (await Promise.all(racers)).flat();
        const inserted = outcomes.filter((outcome) => !outcome.duplicate);
        assert.equal(inserted.length, 1, `round ${round}: exactly one insert wins`);
        assert.ok(outcomes.every((outcome) => outcome.job.id === inserted[0]!.job.id), "the others see the winner");
        assert.equal(await store.countJobs({ queues: [queue] }), 1);
      }
    });

    test("agedJobs: a queue's jobs waiting in line (scheduled or ready) enqueued before a time, oldest first, at most a limit", async () => {
      const queue = uniqueName();
      const [oldest, older, young] = [job({ queue, ready_at: NOW + 5000 }, NOW - 300), job({ queue }, NOW - 200), job({ queue }, NOW)];
      const blocked = createJob(newJobId(), { queue, type: "t", payload: null }, NOW - 500, [young.id]);
      const running = job({ queue, priority: 1 }, NOW - 400);
      await store.insertJobs([young, older, oldest, running, job({ queue: uniqueName() }, NOW - 1000)]);
      await store.insertJobs([blocked], { unblocked: (waiting) => unblock(waiting, NOW), unreachable: (waiting, dependency) => unreachable(waiting, dependency, NOW, DEFAULT_RETENTION) });
      assert.equal((await store.claimReady(claimOf([queue], 1, NOW)))[0]?.id, running.id);
      assert.deepEqual(ids(await store.agedJobs(queue, NOW, 10)), [oldest.id, older.id]);
      assert.deepEqual(ids(await store.agedJobs(queue, NOW, 1)), [oldest.id]);
      assert.deepEqual(ids(await store.agedJobs(queue, NOW - 200, 10)), [oldest.id], "strictly before");
      assert.deepEqual((await store.getJob(young.id))?.created_at, NOW);
    });

    describe("queue caps (insertCapped)", () => {
      const capsOf = (queue: string, max: number, onFull: OnFull): QueueCaps => ({
        byQueue: new Map([[queue, { max, onFull }]]),
        discarded: (waiting, cap) => discard(waiting, cap, NOW, DEFAULT_RETENTION),
      });

      test("reject: past the cap the whole insert fails (QueueFullError) and nothing of it is written; in-flight jobs and duplicates take no slot", async () => {
        const queue = uniqueName();
        const caps = capsOf(queue, 2, "reject");
        await store.insertJobs([job({ queue })]);
        const [running] = await store.claimReady(claimOf([queue], 1, NOW));
        const held = job({ queue, unique_key: uniqueName("key") });
        assert.deepEqual((await store.insertCapped([held, job({ queue, ready_at: NOW + 1000 })], caps)).discarded, []);
        const duplicate = await store.insertCapped([{ ...held, id: newJobId() }], caps);
        assert.equal(duplicate.inserted[0]!.duplicate, true);
        const other = uniqueName();
        await assert.rejects(store.insertCapped([job({ queue: other }), job({ queue })], caps), (error: unknown) => error instanceof QueueFullError && error.message === `queue ${queue} is full: max_entries 2`);
        assert.equal(await store.countJobs({ queues: [queue] }), 3);
        assert.equal(await store.countJobs({ queues: [other] }), 0, "all or nothing");
        assert.equal((await store.getJob(running!.id))?.status, "in_flight");
        await assert.rejects(store.insertCapped([job({ queue: other }), job({ queue: other })], capsOf(other, 1, "discard_oldest")), UnprocessableError, "an insert alone over its cap never fits");
      });

      test("discard_oldest: the oldest waiting jobs the insert did not bring die in its transaction, through the rules; their dependents die with them", async () => {
        const queue = uniqueName();
        const rules: DependencyRules = {
          unblocked: (blocked) => unblock(blocked, NOW),
          unreachable: (blocked, dependency) => unreachable(blocked, dependency, NOW, DEFAULT_RETENTION),
        };
        const [oldest, older, kept] = [job({ queue, ready_at: NOW + 1000 }), job({ queue }), job({ queue })];
        await store.insertJobs([oldest, older, kept]);
        const dependent = createJob(newJobId(), { queue: uniqueName(), type: "t", payload: null }, NOW, [oldest.id]);
        await store.insertJobs([dependent], rules);
        const added = [job({ queue }), job({ queue })];
        const { inserted, discarded } = await store.insertCapped(added, capsOf(queue, 3, "discard_oldest"), rules);
        assert.deepEqual(inserted.map(({ job: { id } }) => id), ids(added));
        assert.deepEqual(discarded.filter(({ before }) => before.queue === queue).map(({ before, after }) => [before.id, before.status, after?.status]).sort(), [[oldest.id, "scheduled", "dead"], [older.id, "ready", "dead"]].sort());
        assert.deepEqual(discarded.filter(({ before }) => before.id === dependent.id).map(({ after }) => after?.status), ["dead"], "settled with it");
        assert.equal((await store.getJob(oldest.id))?.status, "dead");
        assert.equal((await store.getError(oldest.id, 1))?.message, `Discarded: queue ${queue} is over max_entries 3`);
        assert.equal((await store.getJob(dependent.id))?.status, "dead");
        assert.equal(await store.countJobs({ queues: [queue], statuses: ["ready", "scheduled", "blocked"] }), 3);
      });

      test("stores sharing one database count each other's inserts: racing capped inserts never take a queue past its cap", async (t) => {
        if (!handle.shared) return t.skip("one store per SQLite file");
        const other = await handle.peer();
        const queue = uniqueName();
        const caps = capsOf(queue, 5, "reject");
        const racers = Array.from({ length: 12 }, (_, n) => (n % 2 === 0 ? store : other).insertCapped([job({ queue })], caps));
        const results = await Promise.allSettled(racers);
        assert.equal(results.filter(({ status }) => status === "fulfilled").length, 5);
        assert.equal(await store.countJobs({ queues: [queue] }), 5);
      });
    });

    test("claimReady takes ready jobs in priority then id order, from the given queues or from all", async () => {
      const own = await factory.create(); // "all queues" must not see other tests' jobs
      try {
        const [qa, qb, qc] = [uniqueName(), uniqueName(), uniqueName()];
        const a5 = job({ queue: qa, priority: 5 });
        const a1 = job({ queue: qa, priority: 1 });
        const b5 = job({ queue: qb, priority: 5 });
        const b1 = job({ queue: qb, priority: 1 });
        const c0 = job({ queue: qc, priority: 0 });
        const later = job({ queue: qa, priority: 0, ready_at: NOW + 60_000 });
        await own.store.insertJobs([c0, b1, later, b5, a1, a5]);
        const first = await own.store.claimReady(claimOf([qa, qb], 3));
        assert.deepEqual(ids(first), [a1.id, b1.id, a5.id], "priority first, then id; only the named queues");
        const rest = await own.store.claimReady(claimOf(null, 10, NOW + 5));
        assert.deepEqual(ids(rest), [c0.id, b5.id], "null takes from every queue; scheduled jobs are not ready");
        assert.deepEqual(await own.store.claimReady(claimOf(null, 10)), []);
        assert.equal((await own.store.getJob(later.id))!.status, "scheduled");
      } finally {
        await own.dispose();
      }
    });

    test("claimReady with types takes only jobs of those types, in priority then id order, past any number of others", async () => {
      const own = await factory.create(); // "all queues" must not see other tests' jobs
      try {
        const [qa, qb] = [uniqueName(), uniqueName()];
        const others = Array.from({ length: 50 }, () => job({ queue: qa, type: "b", priority: 0 }));
        const a5 = job({ queue: qa, type: "a", priority: 5 });
        const a1 = job({ queue: qa, type: "a", priority: 1 });
        const c3 = job({ queue: qb, type: "c", priority: 3 });
        const a2 = job({ queue: qb, type: "a", priority: 2 });
        await own.store.insertJobs([...others, a5, a1, c3, a2]);
        assert.deepEqual(ids(await own.store.claimReady(claimOf([qa], 10, NOW, ["a"]))), [a1.id, a5.id], "only type a, past 50 of type b");
        assert.deepEqual(ids(await own.store.claimReady(claimOf(null, 10, NOW, ["c", "a"]))), [a2.id, c3.id], "null queues: every queue");
        assert.deepEqual(await own.store.claimReady(claimOf(null, 10, NOW, ["a", "c", "missing"])), []);
        assert.equal((await own.store.claimReady(claimOf([qa], 100))).length, 50, "the other type stayed ready");
      } finally {
        await own.dispose();
      }
    });

    test("claimReady writes what claim() would: in flight, dequeued now, a fresh run id, a lease from the timeout or the default", async () => {
      const queue = uniqueName();
      const timed = job({ queue, timeout: 2.5 });
      const plain = job({ queue });
      await store.insertJobs([timed, plain]);
      const claimed = await store.claimReady(claimOf([queue], 10, NOW + 7));
      assert.deepEqual(ids(claimed), [timed.id, plain.id]);
      const [leasedTimed, leasedPlain] = claimed as [Job, Job];
      assert.equal(typeof leasedTimed.run_id, "string");
      assert.ok(leasedTimed.run_id!.length > 0);
      assert.notEqual(leasedTimed.run_id, leasedPlain.run_id, "every claim gets its own run id");
      assert.deepEqual(leasedTimed, claim(timed, NOW + 7, { runId: leasedTimed.run_id!, expiresAt: NOW + 7 + 2500 }));
      assert.deepEqual(leasedPlain, claim(plain, NOW + 7, { runId: leasedPlain.run_id!, expiresAt: NOW + 7 + DEFAULT_LEASE_MS }));
      assert.deepEqual(await store.getJob(timed.id), leasedTimed, "what it returns is what it stored");
      assert.deepEqual(await store.getJob(plain.id), leasedPlain);
      assert.equal(await handle.ownerOf(plain.id), "server-a");
      assert.deepEqual(await store.claimReady(claimOf([queue], 10)), [], "a claimed job is not ready any more");
      assert.deepEqual(await store.claimReady(claimOf([queue], 0)), []);
    });

    test("two stores claiming from one database at once never hand out a job twice", async (t) => {
      if (!handle.shared) return t.skip("one store per SQLite file");
      const other = await handle.peer();
      const queue = uniqueName();
      const jobs = Array.from({ length: 500 }, () => job({ queue }));
      await store.insertJobs(jobs);
      const drain = async (claimer: Store): Promise<string[]> => {
        const taken: string[] = [];
        for (;;) {
          const batch = await claimer.claimReady(claimOf([queue], 7));
          if (batch.length === 0) return taken;
          taken.push(...ids(batch));
        }
      };
      const taken: string[] = [];
      // A claimer that finds every remaining row locked by another comes back empty; go again until none are ready.
      while ((await store.countJobs({ queues: [queue], statuses: ["ready"] })) > 0) {
        const rounds = await Promise.all([store, other, store, other, store, other, store, other].map(drain));
        taken.push(...rounds.flat());
      }
      assert.equal(new Set(taken).size, taken.length, "no job was claimed twice");
      assert.deepEqual([...taken].sort(), ids(jobs).sort(), "every job was claimed");
      assert.equal(await store.countJobs({ queues: [queue], statuses: ["in_flight"] }), 500);
    });

    test("a commit or delete fenced by a run applies only in that run", async () => {
      const queue = uniqueName();
      const [kept, gone] = [job({ queue }), job({ queue })];
      await store.insertJobs([kept, gone]);
      const [leased, leasedGone] = (await store.claimReady(claimOf([queue], 2))) as [Job, Job];
      const stale = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: "an-older-run" }] });
      assert.deepEqual(stale.updated, [false], "a stale run id is refused");
      assert.deepEqual(await store.getJob(leased.id), leased);
      const current = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id! }] });
      assert.deepEqual(current.updated, [true], "the current run id applies");
      assert.equal(await handle.ownerOf(gone.id), "server-a");

      const staleDelete = await store.commit({ deletes: [{ id: gone.id, from: "in_flight", fromRunId: "an-older-run" }] });
      assert.deepEqual(staleDelete.deleted, []);
      const wrongStatus = await store.commit({ deletes: [{ id: gone.id, from: "ready" }] });
      assert.deepEqual(wrongStatus.deleted, []);
      assert.ok(await store.getJob(gone.id), "a refused delete leaves the job");
      const deleted = await store.commit({ deletes: [{ id: gone.id, from: "in_flight", fromRunId: leasedGone.run_id! }] });
      assert.deepEqual(deleted.deleted, [{ id: gone.id, queue, type: gone.type, status: "in_flight", priority: gone.priority, attempts: gone.attempts, concurrency_key: null }]);
      assert.equal(await store.getJob(gone.id), undefined);
    });

    test("a delete that names the job it expects answers that job, and the stored one when it has changed", async () => {
      const queue = uniqueName();
      const [unchanged, patched, fenced] = [job({ queue }), job({ queue }), job({ queue })];
      await store.insertJobs([unchanged, patched, fenced]);
      const leases = (await store.claimReady(claimOf([queue], 3))) as Job[];
      const byId = new Map(leases.map((lease) => [lease.id, lease]));
      const [leasedUnchanged, leasedPatched, leasedFenced] = [byId.get(unchanged.id)!, byId.get(patched.id)!, byId.get(fenced.id)!];
      const moved = { ...leasedPatched, priority: leasedPatched.priority + 5 };
      assert.deepEqual((await store.commit({ updates: [{ job: moved, from: "in_flight", fromRunId: moved.run_id!, columns: ["priority"] }] })).updated, [true]);
      const deletion = (lease: Job, runId = lease.run_id!) => ({ id: lease.id, from: "in_flight" as const, fromRunId: runId, expected: lease });
      const result = await store.commit({ deletes: [deletion(leasedUnchanged), deletion(leasedPatched), deletion(leasedFenced, "an-older-run")] });
      const deletedAs = (lease: Job) => ({ id: lease.id, queue, type: lease.type, status: "in_flight", priority: lease.priority, attempts: lease.attempts, concurrency_key: null });
      assert.deepEqual(result.deleted, [deletedAs(leasedUnchanged), deletedAs(moved)], "the stale copy is answered as stored");
      assert.equal(await store.getJob(unchanged.id), undefined);
      assert.equal(await store.getJob(patched.id), undefined);
      assert.deepEqual(await store.getJob(fenced.id), leasedFenced, "the fence still decides");
    });

    test("a write fenced on an expired lease does not apply to a lease that was extended", async () => {
      const queue = uniqueName();
      const [first, second] = [job({ queue }), job({ queue })];
      await store.insertJobs([first, second]);
      const leases = (await store.claimReady(claimOf([queue], 2))) as [Job, Job];
      const [leased, other] = leases;
      const expiry = leased.lease_expires_at!;
      assert.equal(await store.extendLease(leased.id, leased.run_id!, expiry + 10_000), true);
      const early = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id!, leaseExpiredBy: expiry + 1 }] });
      assert.deepEqual(early.updated, [false], "the lease was extended past the deadline the writer saw");
      const earlyDelete = await store.commit({ deletes: [{ id: other.id, from: "in_flight", leaseExpiredBy: other.lease_expires_at! - 1 }] });
      assert.deepEqual(earlyDelete.deleted, []);
      const late = await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id!, leaseExpiredBy: expiry + 10_000 }] });
      assert.deepEqual(late.updated, [true]);
      const lateDelete = await store.commit({ deletes: [{ id: other.id, from: "in_flight", leaseExpiredBy: other.lease_expires_at! }] });
      assert.deepEqual(lateDelete.deleted.map((deleted) => deleted.id), [other.id]);
    });

    test("a job that leaves in_flight drops its run id, lease and owner", async () => {
      const queue = uniqueName();
      const [released, completed] = [job({ queue }), job({ queue })];
      await store.insertJobs([released, completed]);
      const [a, b] = (await store.claimReady(claimOf([queue], 2))) as [Job, Job];
      const result = await store.commit({
        updates: [
          { job: release(a), from: "in_flight", fromRunId: a.run_id! },
          { job: complete(b, NOW + 1, { ...DEFAULT_RETENTION, completed_ms: 60_000 }), from: "in_flight", fromRunId: b.run_id! },
        ],
      });
      assert.deepEqual(result.updated, [true, true]);
      for (const id of [released.id, completed.id]) {
        const stored = (await store.getJob(id))!;
        assert.equal(stored.run_id, undefined);
        assert.equal(stored.lease_expires_at, undefined);
        assert.equal(await handle.ownerOf(id), null);
      }
      assert.deepEqual(await store.getJob(released.id), release(a), "released: ready again, exactly as release() says");
      const [again] = (await store.claimReady(claimOf([queue], 1, NOW + 2))) as [Job];
      assert.equal(again.id, released.id);
      assert.notEqual(again.run_id, a.run_id, "a new claim is a new run");
    });

    test("extendLease moves the lease only in the current run", async () => {
      const queue = uniqueName();
      const leasedJob = job({ queue });
      await store.insertJobs([leasedJob]);
      const [leased] = (await store.claimReady(claimOf([queue], 1))) as [Job];
      assert.equal(await store.extendLease(leased.id, "an-older-run", NOW + 99_000), false);
      assert.equal((await store.getJob(leased.id))!.lease_expires_at, NOW + DEFAULT_LEASE_MS);
      assert.equal(await store.extendLease(leased.id, leased.run_id!, NOW + 99_000), true);
      assert.equal((await store.getJob(leased.id))!.lease_expires_at, NOW + 99_000);
      await store.commit({ updates: [{ job: release(leased), from: "in_flight", fromRunId: leased.run_id! }] });
      assert.equal(await store.extendLease(leased.id, leased.run_id!, NOW + 99_000), false, "not in flight any more");
      assert.equal(await store.extendLease("missing", leased.run_id!, NOW + 99_000), false);

      const fractional = job({ queue: uniqueName(), timeout: 0.0012 });
      await store.insertJobs([fractional]);
      const [short] = (await store.claimReady(claimOf([fractional.queue], 1))) as [Job];
      assert.equal(short.lease_expires_at, NOW + 1, "leases are whole milliseconds, also from a fractional timeout");
      assert.equal(await store.extendLease(short.id, short.run_id!, NOW + 1000.4), true);
      assert.equal((await store.getJob(short.id))!.lease_expires_at, NOW + 1000);
    });

    test("abandonedLeases finds in-flight jobs whose lease ran out, oldest first", async () => {
      const queue = uniqueName();
      const base = NOW - 1_000_000; // before every lease other tests leave behind
      const [older, newer, live, ready] = [job({ queue }), job({ queue }), job({ queue }), job({ queue })];
      await store.insertJobs([newer, older, live, ready]);
      const lease = (entry: Job, expiresAt: number): Job => claim(entry, base, { runId: `run-${entry.id}`, expiresAt });
      await store.commit({
        updates: [
          { job: lease(newer, base + 200), from: "ready" },
          { job: lease(older, base + 100), from: "ready" },
          { job: lease(live, base + 5000), from: "ready" },
        ],
      });
      const mine = (found: Job[]): string[] => ids(found).filter((id) => [older.id, newer.id, live.id, ready.id].includes(id));
      assert.deepEqual(mine(await store.abandonedLeases({ now: NOW, expiredBefore: base + 200, limit: 1000 })), [older.id, newer.id], "at or before `before`, oldest lease first");
      assert.deepEqual(mine(await store.abandonedLeases({ now: NOW, expiredBefore: base + 150, limit: 1000 })), [older.id]);
      assert.deepEqual(ids(await store.abandonedLeases({ now: NOW, expiredBefore: base + 200, limit: 1 })), [older.id], "the limit keeps the oldest");
      const [expired] = await store.abandonedLeases({ now: NOW, expiredBefore: base + 100, limit: 1 });
      assert.deepEqual(expired, lease(older, base + 100));
      await store.commit({ updates: [{ job: release(lease(older, base + 100)), from: "in_flight" }] });
      assert.deepEqual(mine(await store.abandonedLeases({ now: NOW, expiredBefore: base + 200, limit: 1000 })), [newer.id], "a job no longer in flight has no lease");
    });

    test("an unshared store's file is its alone: a second store on it is refused, naming the holder", async (t) => {
      if (handle.shared) return t.skip("shared stores are opened by many servers");
      await assert.rejects(handle.peer(), (error: unknown) => {
        assert.ok(error instanceof StoreInUseError, String(error));
        assert.equal(error.holder?.pid, process.pid);
        assert.equal(error.holder?.host, hostname());
        assert.match(error.message, new RegExp(`pid ${process.pid} on host `));
        return true;
      });
    });

    test("abandonedLeases: leases that ran out, and on a shared store those of a server that is gone, after a grace", async () => {
      const queue = uniqueName();
      const base = NOW - 2_000_000; // before every lease other tests leave behind
      const [expired, live, mineAlive, theirs] = [job({ queue }), job({ queue }), job({ queue }), job({ queue })];
      await store.insertJobs([expired, live]);
      const lease = (entry: Job, expiresAt: number): Job => claim(entry, base, { runId: `run-${entry.id}`, expiresAt });
      await store.commit({ updates: [{ job: lease(expired, base + 100), from: "ready" }, { job: lease(live, base + 5000), from: "ready" }] });
      const watched = [expired.id, live.id, mineAlive.id, theirs.id];
      const abandoned = async (now: number, expiredBefore = base + 100): Promise<string[]> =>
        ids(await store.abandonedLeases({ now, expiredBefore, limit: 1000 })).filter((id) => watched.includes(id));
      assert.deepEqual(await abandoned(NOW), [expired.id], "a lease that ran out by expiredBefore, whoever holds it");
      assert.deepEqual(await abandoned(NOW, base + 99), []);
      if (!handle.shared) return;

      // Two servers: this store claims for one (alive while the store is open), a peer for another, then the peer goes.
      const peer = await handle.peer();
      await store.insertJobs([mineAlive, theirs]);
      const claimFor = async (claimer: Store, entry: Job, owner: string): Promise<void> => {
        await claimer.commit({ updates: [{ job: { ...entry, priority: -1_000_000 }, from: "ready" }] });
        const [claimed] = await claimer.claimReady({ ...claimOf([queue], 1), owner });
        assert.equal(claimed?.id, entry.id);
      };
      await claimFor(store, mineAlive, uniqueName("alive"));
      await claimFor(peer, theirs, uniqueName("gone"));
      assert.deepEqual(await abandoned(NOW), [expired.id], "a live server's leases are not abandoned");
      assert.deepEqual(await abandoned(NOW + 60_000), [expired.id]);
      await peer.close();
      await sleep(200); // the peer's session ends on the server a moment after its socket closes
      const goneAt = NOW + 120_000;
      assert.deepEqual(await abandoned(goneAt), [expired.id], "just gone: not yet, the server may be reconnecting");
      assert.deepEqual(await abandoned(goneAt + 500), [expired.id]);
      assert.deepEqual((await abandoned(goneAt + 1000)).sort(), [expired.id, theirs.id].sort(), "gone for the grace period (1 s)");
      const [found] = (await store.abandonedLeases({ now: goneAt + 1000, expiredBefore: base, limit: 1000 })).filter((entry) => entry.id === theirs.id);
      assert.equal(found?.status, "in_flight");
      assert.equal(found?.attempts, 0);
      await store.commit({ updates: [{ job: release(found!), from: "in_flight", fromRunId: found!.run_id! }] });
      assert.deepEqual(await abandoned(goneAt + 2000), [expired.id], "given back: no longer in flight");
    });

    describe("batch sessions", () => {
      const batched = (key: string, payload: JsonValue = [1]): Job => job({ queue: "q", payload, batch: { key, when: "true", fold: "$existing + $new" } });

      test("opens a batch with its job, reads the open job back, folds its payload, and a new open job replaces the old", async () => {
        const key = uniqueName("key");
        const first = batched(key, { zeta: 12345678901234567890n, alpha: 1 });
        const inserted = await store.batchSession([key], (session) => session.write({ folds: [], opens: [{ key, id: first.id }], inserts: [first] }));
        assert.deepEqual(inserted?.inserted.map(({ job: { id } }) => id), [first.id]);
        const open = await store.batchSession([key], (session) => session.openJobs());
        assert.deepEqual(open.get(key)?.batch, first.batch);
        assert.equal(open.get(key)?.id, first.id);
        const merged = '{"zeta":12345678901234567890,"alpha":1,"more":[2]}';
        assert.ok(await store.batchSession([key], (session) => session.write({ folds: [{ id: first.id, payload: merged }], opens: [], inserts: [] })));
        assert.deepEqual((await store.getJob(first.id))?.payload, { zeta: 12345678901234567890n, alpha: 1, more: [2] });
        const second = batched(key);
        await store.batchSession([key], (session) => session.write({ folds: [], opens: [{ key, id: second.id }], inserts: [second] }));
        assert.equal((await store.batchSession([key], (session) => session.openJobs())).get(key)?.id, second.id);
        assert.equal((await store.batchSession([uniqueName()], (session) => session.openJobs())).size, 0);
      });

      test("a fold into a job that was taken meanwhile writes nothing of the round", async () => {
        const key = uniqueName("key");
        const queue = uniqueName();
        const open = { ...batched(key), queue };
        await store.batchSession([key], (session) => session.write({ folds: [], opens: [{ key, id: open.id }], inserts: [open] }));
        assert.equal((await store.claimReady(claimOf([queue], 1))).length, 1);
        const other = job({ queue: uniqueName() });
        const outcome = await store.batchSession([key], (session) => session.write({ folds: [{ id: open.id, payload: "[1,2]" }], opens: [], inserts: [other] }));
        assert.equal(outcome, undefined);
        assert.equal(await store.getJob(other.id), undefined, "the round's insert was not written");
        assert.deepEqual((await store.getJob(open.id))?.payload, [1]);
      });

      test("deleting every job forgets every open batch", async () => {
        const key = uniqueName("key");
        const open = batched(key);
        await store.batchSession([key], (session) => session.write({ folds: [], opens: [{ key, id: open.id }], inserts: [open] }));
        await store.deleteMatching(undefined);
        assert.equal((await store.batchSession([key], (session) => session.openJobs())).size, 0);
      });
    });

    describe("cron groups", () => {
      function group(name: string, next: number, payload: JsonValue = { n: 1 }): CronGroup {
        return { name, paused: false, entries: [{ name: "e", expression: "* * * * *", paused: false, next_enqueue_at: next, job: { queue: "q", type: "t", payload } }] };
      }
      const write = (name: string, revision: number | undefined, value: CronGroup | undefined, jobs: Job[] = []): CronGroupWrite => ({
        name, revision, group: value, nextDueAt: value?.entries[0]?.next_enqueue_at, jobs,
      });

      test("a group reads back whole, payload digits and key order included; names are listed sorted", async () => {
        const name = uniqueName("b");
        const stored = group(name, NOW, { zeta: 12345678901234567890n, alpha: [0.1, "ünï"] });
        assert.equal((await store.writeCronGroup(write(name, undefined, stored))).applied, true);
        const read = await store.getCronGroup(name);
        assert.deepEqual(read?.group, stored);
        assert.deepEqual(Object.keys(read!.group.entries[0]!.job.payload as object), ["zeta", "alpha"]);
        const other = uniqueName("a");
        await store.writeCronGroup(write(other, undefined, group(other, NOW)));
        const names = await store.listCronGroups();
        assert.ok(names.includes(name) && names.includes(other));
        assert.deepEqual(names, [...names].sort());
        assert.equal(await store.getCronGroup(uniqueName()), undefined);
      });

      test("writes are fenced on the revision read: of two writers from one read, one applies", async () => {
        const name = uniqueName();
        assert.equal((await store.writeCronGroup(write(name, undefined, group(name, NOW)))).applied, true);
        assert.equal((await store.writeCronGroup(write(name, undefined, group(name, NOW)))).applied, false, "creating a group that exists");
        const read = (await store.getCronGroup(name))!;
        const first = store.writeCronGroup(write(name, read.revision, group(name, NOW + 1)));
        const second = store.writeCronGroup(write(name, read.revision, group(name, NOW + 2)));
        const outcomes = await Promise.all([first, second]);
        assert.deepEqual(outcomes.map((outcome) => outcome.applied).sort(), [false, true]);
        const after = (await store.getCronGroup(name))!;
        assert.notEqual(after.revision, read.revision);
        assert.equal(after.group.entries[0]!.next_enqueue_at, outcomes[0]!.applied ? NOW + 1 : NOW + 2);
        assert.equal((await store.writeCronGroup(write(name, read.revision, undefined))).applied, false, "a delete from a stale read");
        assert.equal((await store.writeCronGroup(write(name, after.revision, undefined))).applied, true);
        assert.equal(await store.getCronGroup(name), undefined);
        await store.writeCronGroup(write(name, undefined, group(name, NOW)));
        assert.notEqual((await store.getCronGroup(name))!.revision, read.revision, "a group defined again starts at a new revision");
      });

      test("a write's jobs go in with it, or not at all when its fence fails", async () => {
        const name = uniqueName();
        const queue = uniqueName();
        await store.writeCronGroup(write(name, undefined, group(name, NOW)));
        const read = (await store.getCronGroup(name))!;
        const fired = job({ queue });
        const outcome = await store.writeCronGroup(write(name, read.revision, group(name, NOW + 60_000), [fired]));
        assert.equal(outcome.applied, true);
        assert.deepEqual(outcome.inserted, [{ job: fired, duplicate: false }]);
        assert.deepEqual(await store.getJob(fired.id), fired);
        const lost = job({ queue });
        const stale = await store.writeCronGroup(write(name, read.revision, group(name, NOW + 120_000), [lost]));
        assert.deepEqual(stale, { applied: false, inserted: [], discarded: [] });
        assert.equal(await store.getJob(lost.id), undefined, "the losing write enqueued nothing");
      });

      test("a write's jobs go in under their queues' caps: discard_oldest makes room, reject fails the whole write", async () => {
        const name = uniqueName("cron");
        const [discarding, rejecting] = [uniqueName("discard"), uniqueName("reject")];
        const oldest = job({ queue: discarding });
        await store.insertJobs([oldest, job({ queue: rejecting })]);
        await store.writeCronGroup(write(name, undefined, group(name, NOW)));
        const caps = (onFull: OnFull, queue: string): QueueCaps => ({ byQueue: new Map([[queue, { max: 1, onFull }]]), discarded: (waiting, max) => discard(waiting, max, NOW, DEFAULT_RETENTION) });
        const read = (await store.getCronGroup(name))!;
        const fired = job({ queue: discarding });
        const outcome = await store.writeCronGroup({ ...write(name, read.revision, group(name, NOW + 60_000), [fired]), caps: caps("discard_oldest", discarding) });
        assert.deepEqual(outcome.discarded.map(({ before }) => before.id), [oldest.id]);
        assert.equal((await store.getJob(oldest.id))!.status, "dead");
        const refused = job({ queue: rejecting });
        const { revision } = (await store.getCronGroup(name))!;
        await assert.rejects(store.writeCronGroup({ ...write(name, revision, group(name, NOW + 120_000), [refused]), caps: caps("reject", rejecting) }), QueueFullError);
        assert.equal(await store.getJob(refused.id), undefined);
        assert.equal((await store.getCronGroup(name))!.revision, revision, "the group's write went with it");
      });

      test("due groups by next tick, the earliest tick, and deleting them all", async () => {
        const early = uniqueName();
        const late = uniqueName();
        await store.deleteCronGroups();
        await store.writeCronGroup(write(late, undefined, group(late, NOW + 2000)));
        await store.writeCronGroup(write(early, undefined, group(early, NOW + 1000)));
        assert.equal(await store.nextCronDueAt(), NOW + 1000);
        assert.deepEqual((await store.dueCronGroups(NOW + 999, 10)).map(({ group: due }) => due.name), []);
        assert.deepEqual((await store.dueCronGroups(NOW + 2000, 10)).map(({ group: due }) => due.name), [early, late]);
        assert.deepEqual((await store.dueCronGroups(NOW + 2000, 1)).map(({ group: due }) => due.name), [early]);
        assert.equal(await store.deleteCronGroups(), 2);
        assert.equal(await store.nextCronDueAt(), undefined);
        assert.deepEqual(await store.listCronGroups(), []);
      });
    });

    test("committed writes survive reopening the store", async () => {
      const queue = uniqueName();
      const kept = job({ queue, ready_at: NOW + 5000 });
      await store.insertJobs([kept]);
      store = await handle.reopen();
      assert.deepEqual(await store.getJob(kept.id), kept);
    });
  });
}
