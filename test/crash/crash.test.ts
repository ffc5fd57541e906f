/**
 * Durability with real processes: `wharf serve` is SIGKILLed under load and
 * restarted on the same data dir. Every write the server answered with a 2xx
 * must survive; every ack answered with a 204 must stay done.
 */
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import { api, eventually, tempDir, type ApiResult } from "../helpers/server.js";
import { countJobs } from "../helpers/jobs.js";
import { killAllChildren, spawnServer, type SpawnedServer } from "../helpers/cli.js";
import { openTake, type RawTakeStream } from "../helpers/take.js";
import type { Job } from "../../src/job/types.js";

const WORK = "crash-work";
const LATER = "crash-later";
const DAY_MS = 86_400_000;

const cleanup: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      console.error("cleanup failed:", error);
    }
  }
  await killAllChildren();
});

function workDir(): string {
  const dir = tempDir("wharf-crash-");
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function take(url: string, queue: string, prefetch: number): RawTakeStream {
  const stream = openTake(url, { queue, prefetch });
  cleanup.push(() => stream.close());
  return stream;
}

async function start(dataDir: string, durability: "buffered" | "fsync"): Promise<SpawnedServer> {
  const server = await spawnServer({ dataDir, durability });
  cleanup.push(() => server.stop());
  return server;
}

async function crash(server: SpawnedServer): Promise<void> {
  server.kill("SIGKILL");
  assert.deepEqual(await server.waitExit(5000), { code: null, signal: "SIGKILL" });
}

/** One JSON request, bounded in time: a server that hangs fails the test instead of stalling it. */
function request(url: string, method: string, path: string, body?: unknown): Promise<ApiResult> {
  return api(url, method, path, { body, timeoutMs: 5000 });
}

/** Every job on the server, following the page links. */
async function allJobs(url: string): Promise<Map<string, Job>> {
  const jobs = new Map<string, Job>();
  let path: string | null = "/jobs?limit=2000&order=asc";
  for (let pages = 0; path !== null; pages++) {
    assert.ok(pages < 1000, "listing did not end");
    const page = await request(url, "GET", path);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    const body = page.body as { jobs: Job[]; pages: { next: string | null } };
    for (const job of body.jobs) {
      assert.ok(!jobs.has(job.id), `job ${job.id} listed twice`);
      jobs.set(job.id, job);
    }
    path = body.pages.next;
  }
  return jobs;
}

function sample(ids: Iterable<string>, max = 5): string {
  return JSON.stringify([...ids].slice(0, max));
}

async function withinMs<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface Ledger {
  /** Ids whose enqueue got a 2xx. */
  enqueued: Set<string>;
  /** Jobs in requests that got no answer (the server died): they may or may not exist. */
  inDoubtJobs: number;
  /** Ids the consumer was given. */
  delivered: Set<string>;
  /** Delivered ids the consumer keeps in flight on purpose. */
  held: Set<string>;
  /** Ids in an ack request that was sent. */
  ackSent: Set<string>;
  /** Ids whose ack got a 204. */
  acked: Set<string>;
  /** Answers that should never happen before the crash. */
  unexpected: string[];
}

const MAX_PRODUCER_ROUNDS = 3000;
const BULK_SIZE = 5;
const HOLD = 10;

/** POSTs /jobs and /jobs/bulk in turn until told to stop or the server goes away. */
async function produce(url: string, producer: number, stopped: () => boolean, ledger: Ledger): Promise<void> {
  for (let round = 0; round < MAX_PRODUCER_ROUNDS && !stopped(); round++) {
    const bulk = round % 2 === 1;
    const jobs = Array.from({ length: bulk ? BULK_SIZE : 1 }, (_, n) => ({
      queue: WORK,
      type: bulk ? "bulk" : "single",
      payload: { producer, round, n },
      priority: (round % 7) * 100,
    }));
    let result: { status: number; body: unknown };
    try {
      result = await request(url, "POST", bulk ? "/jobs/bulk" : "/jobs", bulk ? { jobs } : jobs[0]);
    } catch {
      ledger.inDoubtJobs += jobs.length;
      return;
    }
    if (result.status !== 201) {
      ledger.unexpected.push(`enqueue answered ${result.status}: ${JSON.stringify(result.body)}`);
      return;
    }
    const created = bulk ? (result.body as { jobs: Job[] }).jobs : [result.body as Job];
    assert.equal(created.length, jobs.length);
    for (const job of created) ledger.enqueued.add(job.id);
  }
}

/** Takes from WORK (prefetch 20), holds the first HOLD of every third job in flight, acks the rest in batches. */
async function consume(url: string, stopped: () => boolean, ledger: Ledger): Promise<void> {
  const stream = take(url, WORK, 20);
  for (let round = 0; round < 100_000 && !stopped(); round++) {
    const first = await stream.next(100);
    if (first === undefined) {
      if (stream.ended) return;
      continue;
    }
    const batch: string[] = [];
    for (let job: Job | undefined = first; job !== undefined; job = await stream.next(0)) {
      ledger.delivered.add(job.id);
      if (ledger.held.size < HOLD && ledger.delivered.size % 3 === 0) ledger.held.add(job.id);
      else batch.push(job.id);
    }
    if (batch.length === 0) continue;
    for (const id of batch) ledger.ackSent.add(id);
    let result: { status: number; body: unknown };
    try {
      result = batch.length === 1
        ? await request(url, "POST", `/jobs/${batch[0]}/success`)
        : await request(url, "POST", "/jobs/success", { ids: batch });
    } catch {
      return;
    }
    if (result.status !== 204) {
      ledger.unexpected.push(`ack answered ${result.status}: ${JSON.stringify(result.body)}`);
      return;
    }
    for (const id of batch) ledger.acked.add(id);
  }
}

describe("crash safety", () => {
  it("SIGKILL under load loses no committed enqueue and resurrects no acked job (buffered)", { timeout: 40_000 }, async (t) => {
    const dataDir = workDir();
    const first = await start(dataDir, "buffered");
    const url = first.url;

    // Scheduled jobs far in the future, committed before the load starts.
    const scheduled = new Map<string, number>();
    const base = Date.now() + DAY_MS;
    const later = await request(url, "POST", "/jobs/bulk", {
      jobs: Array.from({ length: 10 }, (_, n) => ({ queue: LATER, type: "later", payload: { n }, ready_at: base + n * 1000 })),
    });
    assert.equal(later.status, 201, JSON.stringify(later.body));
    for (const job of (later.body as { jobs: Job[] }).jobs) {
      assert.equal(job.status, "scheduled");
      scheduled.set(job.id, job.ready_at);
    }

    const ledger: Ledger = {
      enqueued: new Set(), inDoubtJobs: 0, delivered: new Set(), held: new Set(), ackSent: new Set(), acked: new Set(), unexpected: [],
    };
    let stop = false;
    const stopped = (): boolean => stop;
    const workers = [
      ...[0, 1, 2, 3].map((producer) => produce(url, producer, stopped, ledger)),
      consume(url, stopped, ledger),
    ];

    // Let the load run for 1.5 s and until there is something to lose, at most 6 s; then kill the server mid-run.
    const loadStarted = Date.now();
    for (;;) {
      const elapsed = Date.now() - loadStarted;
      const busy = ledger.enqueued.size >= 300 && ledger.acked.size >= 50 && ledger.held.size === HOLD;
      if ((elapsed >= 1500 && busy) || elapsed >= 6000) break;
      await sleep(20);
    }
    // The held jobs are in flight right now, as the server sees it.
    const heldBefore = await Promise.all([...ledger.held].map((id) => request(url, "GET", `/jobs/${id}`)));
    for (const job of heldBefore) assert.equal((job.body as Job).status, "in_flight", JSON.stringify(job.body));
    await crash(first);
    stop = true;
    await withinMs(10_000, "producers and consumer", Promise.all(workers));

    assert.deepEqual(ledger.unexpected, [], "no error answers before the crash");
    assert.ok(ledger.enqueued.size >= 300, `only ${ledger.enqueued.size} jobs enqueued before the crash`);
    assert.ok(ledger.acked.size >= 50, `only ${ledger.acked.size} jobs acked before the crash`);
    assert.equal(ledger.held.size, HOLD, "the consumer holds jobs in flight at the crash");
    const ackInDoubt = new Set([...ledger.ackSent].filter((id) => !ledger.acked.has(id)));
    t.diagnostic(
      `killed after ${Date.now() - loadStarted} ms: ${ledger.enqueued.size} enqueued (2xx), ${ledger.inDoubtJobs} in unanswered enqueues, ` +
        `${ledger.delivered.size} delivered, ${ledger.acked.size} acked (204), ${ackInDoubt.size} in an unanswered ack, ${ledger.held.size} held`,
    );

    // ---- restart on the same data dir ----
    const second = await start(dataDir, "buffered");
    const jobs = await allJobs(second.url);

    const inFlight = [...jobs.values()].filter((job) => job.status === "in_flight");
    assert.equal(inFlight.length, 0, `${inFlight.length} jobs are in flight after a restart, e.g. ${sample(inFlight.map((job) => job.id))}`);
    assert.equal(await countJobs(second.url, "status=in_flight"), 0);
    assert.equal(await countJobs(second.url, "status=completed"), 0, "acked jobs are deleted (default retention)");

    const lost = [...ledger.enqueued].filter((id) => !jobs.has(id) && !ledger.acked.has(id) && !ackInDoubt.has(id));
    assert.equal(lost.length, 0, `${lost.length} of ${ledger.enqueued.size} enqueued (2xx) jobs are gone after the crash, e.g. ${sample(lost)}`);

    const resurrected = [...ledger.acked].filter((id) => jobs.has(id));
    assert.equal(resurrected.length, 0, `${resurrected.length} of ${ledger.acked.size} acked (204) jobs came back, e.g. ${sample(resurrected)}`);
    for (const id of [...ledger.acked].slice(0, 20)) {
      assert.equal((await request(second.url, "GET", `/jobs/${id}`)).status, 404, `acked job ${id} answers GET`);
    }

    for (const id of ledger.held) {
      const job = jobs.get(id);
      assert.ok(job, `held job ${id} is gone`);
      assert.equal(job.status, "ready", `held job ${id} is ${job.status}`);
      assert.equal(job.attempts, 0, "an interrupted lease is not an attempt");
    }
    const deliveredNotAcked = [...ledger.delivered].filter((id) => !ledger.ackSent.has(id));
    for (const id of deliveredNotAcked) assert.equal(jobs.get(id)?.status, "ready", `delivered, never acked job ${id}`);
    for (const id of ackInDoubt) {
      const job = jobs.get(id);
      if (job) assert.equal(job.status, "ready", `job ${id} whose ack got no answer is ${job.status}`);
    }

    for (const [id, readyAt] of scheduled) {
      const job = jobs.get(id);
      assert.ok(job, `scheduled job ${id} is gone`);
      assert.equal(job.status, "scheduled");
      assert.equal(job.ready_at, readyAt, "ready_at survives the crash");
      assert.equal(job.queue, LATER);
    }

    const work = [...jobs.values()].filter((job) => job.queue === WORK);
    for (const job of work) assert.equal(job.status, "ready", `work job ${job.id} is ${job.status}`);
    const extras = work.filter((job) => !ledger.enqueued.has(job.id)).map((job) => job.id);
    assert.ok(
      extras.length <= ledger.inDoubtJobs,
      `${extras.length} jobs exist that no 2xx announced, but only ${ledger.inDoubtJobs} were in unanswered requests: ${sample(extras)}`,
    );
    assert.equal(jobs.size, work.length + scheduled.size, "no job outside the two queues");
    t.diagnostic(`after restart: ${work.length} ready, ${extras.length} without a 2xx, ${[...ackInDoubt].filter((id) => jobs.has(id)).length} whose ack got no answer`);

    // ---- phase 2: drain everything that is ready ----
    const ready = new Set(work.map((job) => job.id));
    const expected = [...ledger.enqueued].filter((id) => !ledger.acked.has(id) && !ackInDoubt.has(id));
    for (const id of expected) assert.ok(ready.has(id), `enqueued, unacked job ${id} is not ready after restart`);

    const drain = take(second.url, WORK, 200);
    const completed = new Set<string>();
    const deliveries: string[] = [];
    const drainDeadline = Date.now() + 15_000;
    while (completed.size < ready.size && Date.now() < drainDeadline) {
      const first = await drain.next(500);
      if (first === undefined) {
        if (drain.ended) break;
        continue;
      }
      const batch: string[] = [];
      for (let job: Job | undefined = first; job !== undefined; job = await drain.next(0)) {
        deliveries.push(job.id);
        batch.push(job.id);
      }
      const ack = await request(second.url, "POST", "/jobs/success", { ids: batch });
      assert.equal(ack.status, 204, `drain ack: ${JSON.stringify(ack.body)}`);
      for (const id of batch) completed.add(id);
    }
    // Anything delivered after this point would be a duplicate or a job from nowhere.
    const straggler = await drain.next(300);
    drain.close();
    assert.equal(straggler, undefined, `unexpected delivery after the drain: ${JSON.stringify(straggler)}`);

    assert.equal(deliveries.length, completed.size, "no job was delivered twice in the drain");
    assert.equal(completed.size, ready.size, `completed ${completed.size} of ${ready.size} ready jobs`);
    const unknown = [...completed].filter((id) => !ready.has(id));
    assert.equal(unknown.length, 0, `drained jobs that were not ready after restart: ${sample(unknown)}`);
    const rerun = [...completed].filter((id) => ledger.acked.has(id));
    assert.equal(rerun.length, 0, `acked jobs ran again: ${sample(rerun)}`);
    const notRun = expected.filter((id) => !completed.has(id));
    assert.equal(notRun.length, 0, `${notRun.length} enqueued, unacked jobs never ran, e.g. ${sample(notRun)}`);
    assert.equal(
      completed.size,
      expected.length + extras.length + [...ackInDoubt].filter((id) => ready.has(id)).length,
      "completed = enqueued and not acked (+ jobs whose enqueue or ack answer was lost)",
    );

    assert.equal(await countJobs(second.url, `queue=${WORK}`), 0, "the work queue is empty after the drain");
    assert.equal(await countJobs(second.url, `queue=${LATER}&status=scheduled`), scheduled.size);

    second.kill("SIGTERM");
    assert.deepEqual(await second.waitExit(10_000), { code: 0, signal: null }, JSON.stringify(second.output()));
  });

  it("restart after SIGKILL with --durability fsync keeps jobs, twice over", { timeout: 30_000 }, async () => {
    const dataDir = workDir();
    const first = await start(dataDir, "fsync");
    const created = await request(first.url, "POST", "/jobs/bulk", {
      jobs: Array.from({ length: 100 }, (_, n) => ({ queue: WORK, type: "t", payload: { n }, priority: n })),
    });
    assert.equal(created.status, 201);
    const ids = (created.body as { jobs: Job[] }).jobs.map((job) => job.id);
    const single = await request(first.url, "POST", "/jobs", { queue: WORK, type: "one", payload: "single" });
    assert.equal(single.status, 201);
    ids.push((single.body as Job).id);
    const readyAt = Date.now() + DAY_MS;
    const later = await request(first.url, "POST", "/jobs", { queue: LATER, type: "t", payload: null, ready_at: readyAt });
    const laterId = (later.body as Job).id;
    // Falls due while the server is down (or soon after the restart).
    const soonAt = Date.now() + 1500;
    const soon = await request(first.url, "POST", "/jobs", { queue: "crash-soon", type: "t", payload: null, ready_at: soonAt });
    assert.equal((soon.body as Job).status, "scheduled");
    const soonId = (soon.body as Job).id;

    // Lease ten jobs: ack five, keep five in flight.
    const stream = take(first.url, WORK, 10);
    const leased: Job[] = [];
    for (let n = 0; n < 10; n++) {
      const job = await stream.next(5000);
      assert.ok(job, `only ${leased.length} jobs leased`);
      leased.push(job);
    }
    const acked = leased.slice(0, 5).map((job) => job.id);
    const held = leased.slice(5).map((job) => job.id);
    assert.equal((await request(first.url, "POST", "/jobs/success", { ids: acked })).status, 204);
    // A patch is a write too.
    const patched = await request(first.url, "PATCH", `/jobs/${ids[99]}`, { priority: 7 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await crash(first);
    stream.close();

    const check = async (url: string): Promise<void> => {
      const jobs = await allJobs(url);
      assert.equal(jobs.size, ids.length - acked.length + 2, "every unacked job and the scheduled ones");
      assert.equal(jobs.get(soonId)?.ready_at, soonAt);
      for (const id of ids) {
        if (acked.includes(id)) assert.ok(!jobs.has(id), `acked job ${id} came back`);
        else assert.equal(jobs.get(id)?.status, "ready", `job ${id}`);
      }
      for (const id of held) assert.equal(jobs.get(id)?.attempts, 0);
      assert.equal(jobs.get(ids[99]!)?.priority, 7, "the patch survived");
      assert.equal(jobs.get(laterId)?.status, "scheduled");
      assert.equal(jobs.get(laterId)?.ready_at, readyAt);
      assert.equal(await countJobs(url, "status=in_flight"), 0);
    };

    const second = await start(dataDir, "fsync");
    await check(second.url);
    // Crash again straight after recovery: recovery itself must be durable and repeatable.
    await crash(second);
    const third = await start(dataDir, "fsync");
    await check(third.url);

    // The recovered jobs can be taken again.
    const again = take(third.url, WORK, 0);
    const retaken = new Set<string>();
    const deadline = Date.now() + 5000;
    while (retaken.size < held.length && Date.now() < deadline) {
      const job = await again.next(500);
      if (job && held.includes(job.id)) retaken.add(job.id);
    }
    assert.equal(retaken.size, held.length, "the jobs in flight at the crash are handed out again");

    // The job that fell due across the crashes is promoted and can be taken.
    const dueStream = take(third.url, "crash-soon", 1);
    const due = await dueStream.next(Math.max(0, soonAt - Date.now()) + 5000);
    assert.equal(due?.id, soonId, "the scheduled job became ready after its ready_at");
    assert.equal(due?.ready_at, soonAt);
  });

  it("a state saved by heartbeat survives SIGKILL and the next attempt receives it", { timeout: 30_000 }, async () => {
    const dataDir = workDir();
    const first = await start(dataDir, "fsync");
    const queue = "crash-state";
    const created = await request(first.url, "POST", "/jobs", { queue, type: "long", payload: { pages: 10 } });
    assert.equal(created.status, 201);
    const id = (created.body as Job).id;
    const stream = take(first.url, queue, 1);
    const leased = await stream.next(5000);
    assert.equal(leased?.id, id);
    const state = { page: 6, cursor: "c-6", total: 18446744073709551615n.toString() };
    const beat = await request(first.url, "POST", `/jobs/${id}/heartbeat`, { run_id: leased!.run_id, state });
    assert.equal(beat.status, 200, JSON.stringify(beat.body));
    await crash(first);
    stream.close();

    const second = await start(dataDir, "fsync");
    const again = take(second.url, queue, 1);
    const resumed = await again.next(5000);
    assert.equal(resumed?.id, id, "the job in flight at the crash is handed out again");
    assert.deepEqual(resumed?.state, state, "with the state its last heartbeat saved");
  });

  it("SIGKILL in the middle of a DAG loses no edge and starts no job before its dependencies completed", { timeout: 60_000 }, async () => {
    const dataDir = workDir();
    const queue = "crash-dag";
    let seed = 11;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const size = 400;
    const wanted = Array.from({ length: size }, (_, position) =>
      position === 0 ? [] : [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * position)))]);
    let server = await start(dataDir, "fsync");
    const created = await request(server.url, "POST", "/jobs/bulk", {
      jobs: wanted.map((dependencies, position) => ({ queue, type: "node", payload: position, ...(dependencies.length > 0 ? { dependencies } : {}) })),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const positionOf = new Map((created.body as { jobs: Job[] }).jobs.map((job, position) => [job.id, position]));
    const completed = new Set<number>();
    const run = async (url: string, until: number): Promise<void> => {
      const stream = take(url, queue, 10);
      while (completed.size < until) {
        const job = await stream.next(5000);
        assert.ok(job, `stalled with ${completed.size} of ${size} done`);
        const position = positionOf.get(job.id)!;
        for (const dependency of wanted[position]!) assert.ok(completed.has(dependency), `job ${position} started before its dependency ${dependency} completed`);
        const acked = await request(url, "POST", `/jobs/${job.id}/success`);
        assert.equal(acked.status, 204, `ack of ${position}: ${JSON.stringify(acked.body)}`);
        completed.add(position);
      }
      stream.close();
    };
    await run(server.url, size / 2);
    await crash(server);
    server = await start(dataDir, "fsync");
    assert.equal(await countJobs(server.url, `queue=${queue}&status=blocked,scheduled,ready,in_flight`), size - completed.size, "every job not acked is still there");
    await run(server.url, size);
    // Completed jobs stay until their dependents end, then go with the next purge (each second).
    await eventually(async () => (await countJobs(server.url, `queue=${queue}`)) === 0, 5000, "every job purged");
  });

  it("SIGKILL around cron ticks: no tick is enqueued twice, and ticking resumes after each restart", { timeout: 60_000 }, async () => {
    const dataDir = workDir();
    const queue = "crash-cron";
    let server = await start(dataDir, "fsync");
    const everySecond = { name: "tick", expression: "* * * * * *", job: { queue, type: "cron", payload: {} } };
    assert.equal((await request(server.url, "PUT", "/crons/crash", { entries: [everySecond] })).status, 200);
    const fired = (): Promise<number> => countJobs(server.url, `queue=${queue}`);
    // Killed 0, 150, ... ms after a tick was seen: some kills land while a tick's write is on its way to disk.
    for (const delayMs of [0, 150, 400, 700, 900]) {
      const seen = await fired();
      const deadline = Date.now() + 5000;
      while ((await fired()) <= seen && Date.now() < deadline) await sleep(10);
      await sleep(delayMs);
      await crash(server);
      server = await start(dataDir, "fsync");
    }
    const restarted = await fired();
    const deadline = Date.now() + 5000;
    while ((await fired()) <= restarted && Date.now() < deadline) await sleep(20);
    assert.ok((await fired()) > restarted, "the last restart ticks again");
    assert.equal((await request(server.url, "PATCH", "/crons/crash", { paused: true })).status, 200);
    const jobs = (await request(server.url, "GET", `/jobs?queue=${queue}&limit=2000`)).body.jobs as Job[];
    const ticks = jobs.map((job) => job.ready_at).sort((a, b) => a - b);
    assert.equal(new Set(ticks).size, ticks.length, `a tick was enqueued twice: ${ticks.join(", ")}`);
    assert.ok(ticks.every((tick) => tick % 1000 === 0), "every job is ready at a whole-second tick");
    const entry = (await request(server.url, "GET", "/crons/crash/entries/tick")).body;
    assert.ok(entry.last_enqueue_at >= ticks.at(-1)!, "the entry's state matches its last job");
  });
});
