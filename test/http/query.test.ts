import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Job } from "../../src/job/types.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { assertError, assertStatus, countJobs, enqueue, enqueueBulk, failJob, jobInput, listIds, Streams } from "../helpers/jobs.js";

let h: TestServer;
const streams = new Streams(() => h.url);

/** The fixture: six jobs over two queues with known priorities, ready_at, attempts, types and payloads. */
const qa = uniqueName("qa");
const qb = uniqueName("qb");
let T: number;
const fixture: Record<"j1" | "j2" | "j3" | "j4" | "j5" | "j6", Job> = {} as never;
const scope = `queue=${qa},${qb}`;

before(async () => {
  h = await startTestServer();
  T = h.clock.now();
  fixture.j1 = await enqueue(h.url, qa, { type: "alpha", priority: 10, payload: { greet: "World" } });
  fixture.j2 = await enqueue(h.url, qa, { type: "beta", priority: 20, payload: { greet: "Universe" } });
  fixture.j3 = await enqueue(h.url, qa, { type: "alpha", priority: 30, payload: { greet: "Unicorn" }, ready_at: T + 1000 });

  // j5 fails once and j6 twice, each rescheduled with retry_at so that attempts and ready_at are known.
  const stream = await streams.take({ queue: qb });
  fixture.j5 = await enqueue(h.url, qb, { type: "beta", priority: 50, payload: { other: 1 } });
  assert.equal((await stream.nextJob()).id, fixture.j5.id);
  assertStatus(await failJob(h.url, fixture.j5.id, { message: "first", retry_at: T + 5000 }), 200);
  fixture.j6 = await enqueue(h.url, qb, { type: "beta", priority: 60, payload: { other: 2 } });
  assert.equal((await stream.nextJob()).id, fixture.j6.id);
  assertStatus(await failJob(h.url, fixture.j6.id, { message: "first", retry_at: T }), 200);
  assert.equal((await stream.nextJob()).id, fixture.j6.id, "retry_at now makes the job ready again at once");
  assertStatus(await failJob(h.url, fixture.j6.id, { message: "second", retry_at: T + 6000 }), 200);
  streams.close(stream);

  fixture.j4 = await enqueue(h.url, qb, { type: "gamma", priority: 40, payload: { greet: "Moon" }, ready_at: T + 2000 });
});

after(async () => {
  streams.closeAll();
  await h.close();
});

/** Fixture ids by name, in ascending id order (the listing's default order). */
function expected(...names: Array<keyof typeof fixture>): string[] {
  return names.map((name) => fixture[name].id).sort();
}

async function selects(query: string, ...names: Array<keyof typeof fixture>): Promise<void> {
  assert.deepEqual(await listIds(h.url, `${scope}&${query}`), expected(...names), `GET /jobs?${query}`);
  assert.equal(await countJobs(h.url, `${scope}&${query}`), names.length, `GET /jobs/count?${query}`);
}

describe("GET /jobs filters", () => {
  test("the fixture is in place", async () => {
    await selects("attempts=0..", "j1", "j2", "j3", "j4", "j5", "j6");
    const jobs = await api(h.url, "GET", `/jobs?${scope}`);
    assertStatus(jobs, 200);
    const byId = new Map<string, Job>(jobs.body.jobs.map((job: Job) => [job.id, job]));
    assert.equal(byId.get(fixture.j5.id)?.attempts, 1);
    assert.equal(byId.get(fixture.j6.id)?.attempts, 2);
    assert.equal(byId.get(fixture.j6.id)?.ready_at, T + 6000);
    assert.deepEqual(byId.get(fixture.j2.id)?.payload, { greet: "Universe" }, "listed jobs carry their payload");
  });

  test("id, queue, type and status take comma-separated lists", async () => {
    await selects(`id=${fixture.j1.id},${fixture.j4.id}`, "j1", "j4");
    await selects(`id=${fixture.j6.id}`, "j6");
    assert.deepEqual(await listIds(h.url, `queue=${qa}`), expected("j1", "j2", "j3"));
    assert.deepEqual(await listIds(h.url, `queue=${qb}`), expected("j4", "j5", "j6"));
    await selects("type=alpha,gamma", "j1", "j3", "j4");
    await selects("type=beta", "j2", "j5", "j6");
    await selects("status=scheduled", "j3", "j4", "j5", "j6");
    await selects("status=ready", "j1", "j2");
    await selects("status=ready,scheduled", "j1", "j2", "j3", "j4", "j5", "j6");
    await selects("status=in_flight,completed,dead");
    await selects("type=no-such-type");
  });

  test("filters are additive", async () => {
    assert.deepEqual(await listIds(h.url, `queue=${qa}&type=alpha`), expected("j1", "j3"));
    assert.equal(await countJobs(h.url, `queue=${qb}&type=beta&attempts=1..`), 2);
    await selects("type=alpha&priority=..10", "j1");
    await selects("type=beta&status=scheduled&attempts=2", "j6");
  });

  test("priority ranges in all four shapes", async () => {
    await selects("priority=30", "j3");
    await selects("priority=20..40", "j2", "j3", "j4");
    await selects("priority=..20", "j1", "j2");
    await selects("priority=50..", "j5", "j6");
    await selects("priority=20..20", "j2");
    await selects("priority=61..");
  });

  test("ready_at ranges in all four shapes", async () => {
    await selects(`ready_at=${T}`, "j1", "j2");
    await selects(`ready_at=${T + 1000}..${T + 2000}`, "j3", "j4");
    await selects(`ready_at=..${T}`, "j1", "j2");
    await selects(`ready_at=${T + 5000}..`, "j5", "j6");
  });

  test("attempts ranges in all four shapes", async () => {
    await selects("attempts=0", "j1", "j2", "j3", "j4");
    await selects("attempts=1..2", "j5", "j6");
    await selects("attempts=..1", "j1", "j2", "j3", "j4", "j5");
    await selects("attempts=2..", "j6");
  });

  test("malformed ranges and a lower bound above the upper are 400", async () => {
    for (const query of [
      "priority=40..20",
      `ready_at=${T + 1}..${T}`,
      "attempts=2..1",
      "priority=..",
      "priority=high",
      "priority=1.5",
      "attempts=1..x",
      "ready_at=..now",
    ]) {
      assertError(await api(h.url, "GET", `/jobs?${query}`), 400, `GET /jobs?${query}`);
      assertError(await api(h.url, "GET", `/jobs/count?${query}`), 400, `GET /jobs/count?${query}`);
    }
  });

  test("an unknown status is 400", async () => {
    assertError(await api(h.url, "GET", "/jobs?status=pending"), 400);
    assertError(await api(h.url, "GET", "/jobs/count?status=ready,finished"), 400);
  });

  test("jq filter on the payload", async () => {
    await selects(`filter=${encodeURIComponent('.greet | startswith("Uni")')}`, "j2", "j3");
    await selects(`filter=${encodeURIComponent('.greet == "Moon"')}`, "j4");
    await selects(`filter=${encodeURIComponent(".other >= 1")}`, "j5", "j6");
    await selects(`type=beta&filter=${encodeURIComponent('.greet | startswith("Uni")')}`, "j2");
  });

  test("an invalid jq filter is 400", async () => {
    for (const filter of [".greet | startswith(", "][", ".a |"]) {
      const query = `filter=${encodeURIComponent(filter)}`;
      assertError(await api(h.url, "GET", `/jobs?${query}`), 400, filter);
      assertError(await api(h.url, "GET", `/jobs/count?${query}`), 400, filter);
    }
  });
});

describe("GET /jobs order, limit and pages", () => {
  test("order asc (the default) and desc sort by id", async () => {
    const all = expected("j1", "j2", "j3", "j4", "j5", "j6");
    assert.deepEqual(await listIds(h.url, scope), all);
    assert.deepEqual(await listIds(h.url, `${scope}&order=asc`), all);
    assert.deepEqual(await listIds(h.url, `${scope}&order=desc`), [...all].reverse());
    assertError(await api(h.url, "GET", "/jobs?order=up"), 400);
  });

  test("limit must be 1..2000", async () => {
    for (const limit of ["0", "2001", "-1", "ten", ""]) {
      assertError(await api(h.url, "GET", `/jobs?limit=${limit}`), 400, `limit=${limit}`);
    }
    assertStatus(await api(h.url, "GET", "/jobs?limit=2000"), 200);
    const one = await api(h.url, "GET", `/jobs?${scope}&limit=1`);
    assertStatus(one, 200);
    assert.equal(one.body.jobs.length, 1);
    assert.equal(typeof one.body.pages.next, "string");
  });

  test("a single page has self, and null next and prev", async () => {
    const result = await api(h.url, "GET", `/jobs?${scope}`);
    assertStatus(result, 200);
    assert.equal(typeof result.body.pages.self, "string");
    assert.ok(result.body.pages.self.startsWith("/jobs?"));
    assert.equal(result.body.pages.next, null);
    assert.equal(result.body.pages.prev, null);
  });

  /** Follows pages.next from `first` until it is null; returns the pages' ids. */
  async function walk(first: string): Promise<string[][]> {
    const pages: string[][] = [];
    let link: string | null = first;
    while (link !== null) {
      assert.ok(pages.length < 100, "pagination must end");
      const result = await api(h.url, "GET", link);
      assertStatus(result, 200, link);
      pages.push(result.body.jobs.map((job: Job) => job.id));
      if (pages.length > 1) assert.equal(typeof result.body.pages.prev, "string", "later pages link back");
      else assert.equal(result.body.pages.prev, null, "the first page has no prev");
      link = result.body.pages.next;
    }
    return pages;
  }

  test("following pages.next visits every job exactly once, in order", async () => {
    const queue = uniqueName("pages");
    const jobs = await enqueueBulk(h.url, Array.from({ length: 11 }, (_, n) => jobInput(queue, { payload: { n } })));
    const ids = jobs.map((job) => job.id).sort();

    const asc = await walk(`/jobs?queue=${queue}&limit=3`);
    assert.deepEqual(asc.map((page) => page.length), [3, 3, 3, 2]);
    assert.deepEqual(asc.flat(), ids);

    const desc = await walk(`/jobs?queue=${queue}&limit=4&order=desc`);
    assert.deepEqual(desc.map((page) => page.length), [4, 4, 3]);
    assert.deepEqual(desc.flat(), [...ids].reverse());

    const exact = await walk(`/jobs?queue=${queue}&limit=11`);
    assert.deepEqual(exact, [ids], "a page that holds everything has no next");
  });

  test("pages keep the filters, jq included", async () => {
    const queue = uniqueName("pages");
    const other = uniqueName("pages");
    const jobs = await enqueueBulk(h.url, [
      ...Array.from({ length: 9 }, (_, n) => jobInput(queue, { payload: { n } })),
      ...Array.from({ length: 4 }, (_, n) => jobInput(other, { payload: { n } })),
    ]);
    const even = jobs.filter((job, index) => job.queue === queue && index % 2 === 0).map((job) => job.id).sort();
    const pages = await walk(`/jobs?queue=${queue}&limit=2&filter=${encodeURIComponent(".n % 2 == 0")}`);
    assert.deepEqual(pages.flat(), even);
    assert.equal(new Set(pages.flat()).size, even.length, "no job appears twice");
  });

  test("pages.prev leads back to the previous page", async () => {
    const queue = uniqueName("pages");
    const ids = (await enqueueBulk(h.url, Array.from({ length: 6 }, () => jobInput(queue)))).map((job) => job.id).sort();
    const first = await api(h.url, "GET", `/jobs?queue=${queue}&limit=3`);
    const second = await api(h.url, "GET", first.body.pages.next);
    assert.deepEqual(second.body.jobs.map((job: Job) => job.id), ids.slice(3));
    const back = await api(h.url, "GET", second.body.pages.prev);
    assertStatus(back, 200);
    assert.deepEqual(back.body.jobs.map((job: Job) => job.id).sort(), ids.slice(0, 3));
  });
});

describe("GET /jobs/count", () => {
  test("counts what GET /jobs lists, with no limit", async () => {
    const queue = uniqueName("count");
    await enqueueBulk(h.url, Array.from({ length: 60 }, (_, n) => jobInput(queue, { priority: n })));
    assert.equal(await countJobs(h.url, `queue=${queue}`), 60, "more than the default page size of 50");
    assert.equal(await countJobs(h.url, `queue=${queue}&priority=10..19`), 10);
    assert.equal(await countJobs(h.url, `queue=${queue}&status=scheduled`), 0);
    assert.equal(await countJobs(h.url, `queue=${uniqueName("none")}`), 0);
  });

  test("takes no paging parameters", async () => {
    assertError(await api(h.url, "GET", "/jobs/count?limit=5"), 400);
    assertError(await api(h.url, "GET", "/jobs/count?order=asc"), 400);
  });
});

describe("GET /jobs/{id}", () => {
  test("returns the job with its payload", async () => {
    const result = await api(h.url, "GET", `/jobs/${fixture.j2.id}`);
    assertStatus(result, 200);
    assert.equal(result.body.id, fixture.j2.id);
    assert.equal(result.body.queue, qa);
    assert.equal(result.body.type, "beta");
    assert.equal(result.body.priority, 20);
    assert.equal(result.body.status, "ready");
    assert.equal(result.body.attempts, 0);
    assert.deepEqual(result.body.payload, { greet: "Universe" });
  });

  test("an unknown id is 404", async () => {
    assertError(await api(h.url, "GET", "/jobs/03zzzzzzzzzzzzzzzzzzzzzzz"), 404);
    assertError(await api(h.url, "GET", "/jobs/not-a-job"), 404);
  });
});

describe("queues, health and version", () => {
  test("GET /queues lists the queues in use", async () => {
    const result = await api(h.url, "GET", "/queues");
    assertStatus(result, 200);
    assert.ok(Array.isArray(result.body.queues));
    for (const queue of result.body.queues) assert.equal(typeof queue, "string");
    assert.ok(result.body.queues.includes(qa));
    assert.ok(result.body.queues.includes(qb));
    assert.equal(new Set(result.body.queues).size, result.body.queues.length, "each queue once");
  });

  test("GET /health answers ok", async () => {
    const result = await api(h.url, "GET", "/health");
    assertStatus(result, 200);
    assert.deepEqual(result.body, { status: "ok" });
  });

  test("GET /version answers a semver string", async () => {
    const result = await api(h.url, "GET", "/version");
    assertStatus(result, 200);
    assert.match(result.body.version, /^\d+\.\d+\.\d+/);
  });
});

describe("unknown query parameters", () => {
  test("are 400 on every endpoint", async () => {
    for (const path of [
      "/jobs?bogus=1",
      `/jobs?${scope}&sort=id`,
      "/jobs/count?page=2",
      `/jobs/${fixture.j1.id}?expand=true`,
      "/queues?all=1",
      "/health?deep=1",
      "/version?x=1",
      `/jobs/${fixture.j5.id}/errors?bogus=1`,
    ]) {
      assertError(await api(h.url, "GET", path), 400, path);
    }
  });
});
