import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { describeRun, failed, jsonLines, killAllChildren, ok, runCli, type CliResult, type Printed } from "../helpers/cli.js";
import { openTake } from "../helpers/take.js";
import type { Job } from "../../src/job/types.js";
import { VERSION } from "../../src/version.js";

/** Asserts a successful run that printed exactly one JSON line, and returns it. */
function one(result: CliResult): Printed {
  const lines = ok(result);
  assert.equal(lines.length, 1, describeRun(result));
  return lines[0]!;
}

/** A port on loopback that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

after(killAllChildren);

describe("wharf CLI against a running server", () => {
  let server: TestServer;
  let url: string;
  const wharf = (...args: string[]): Promise<CliResult> => runCli([...args, "--url", url]);

  before(async () => {
    server = await startTestServer();
    url = server.url;
  });
  after(async () => {
    await server?.close();
  });

  describe("health and connection", () => {
    it("wharf health prints {\"status\":\"ok\"}", async () => {
      const result = await wharf("health");
      assert.deepEqual(one(result), { status: "ok" });
      assert.equal(result.stdout, '{"status":"ok"}\n');
    });

    it("WHARF_URL is used when --url is not given", async () => {
      assert.deepEqual(one(await runCli(["health"], { env: { WHARF_URL: url } })), { status: "ok" });
      const queue = uniqueName("env");
      const job = one(await runCli(["enqueue", queue, "t", "{}"], { env: { WHARF_URL: url } }));
      assert.equal(job.queue, queue);
      assert.equal((await api(url, "GET", `/jobs/${job.id}`)).status, 200);
    });

    it("a malformed or non-HTTP URL is a non-zero exit with a message", async () => {
      const malformed = await runCli(["health", "--url", "not a url"]);
      assert.notEqual(malformed.code, 0, describeRun(malformed));
      assert.match(malformed.stderr, /URL/, describeRun(malformed));
      const ftp = await runCli(["health", "--url", "ftp://127.0.0.1:1"]);
      assert.notEqual(ftp.code, 0, describeRun(ftp));
      assert.match(ftp.stderr, /only http:\/\/ and https:\/\/ are supported/, describeRun(ftp));
    });

    it("--url wins over WHARF_URL", async () => {
      const port = await closedPort();
      const result = await runCli(["health", "--url", url], { env: { WHARF_URL: `http://127.0.0.1:${port}` } });
      assert.deepEqual(one(result), { status: "ok" });
    });

    it("an unreachable server is a non-zero exit with a message naming the address", async () => {
      const port = await closedPort();
      const started = Date.now();
      const viaFlag = await runCli(["health", "--url", `http://127.0.0.1:${port}`]);
      assert.notEqual(viaFlag.code, 0, describeRun(viaFlag));
      assert.equal(viaFlag.stdout, "");
      assert.match(viaFlag.stderr, /cannot reach/i, describeRun(viaFlag));
      assert.ok(viaFlag.stderr.includes(`127.0.0.1:${port}`), describeRun(viaFlag));
      assert.match(viaFlag.stderr, /ECONNREFUSED/, describeRun(viaFlag));
      assert.ok(Date.now() - started < 10_000, "gave up promptly");

      const viaEnv = await runCli(["jobs", "list"], { env: { WHARF_URL: `http://127.0.0.1:${port}` } });
      assert.notEqual(viaEnv.code, 0, describeRun(viaEnv));
      assert.ok(viaEnv.stderr.includes(`127.0.0.1:${port}`), describeRun(viaEnv));
    });
  });

  describe("enqueue", () => {
    it("creates a job with every option, visible through jobs get and the HTTP API", async () => {
      const queue = uniqueName("enq");
      const readyAt = server.clock.now() + 3_600_000;
      const payload = { user: 42, tags: ["a", "b"], nested: { ok: true, none: null }, text: "héllo \"quoted\"" };
      const printed = one(
        await wharf(
          "enqueue", queue, "send_email", JSON.stringify(payload),
          "--priority", "7",
          "--ready-at", String(readyAt),
          "--unique-key", `key-${queue}`,
          "--unique-while", "active",
          "--retry-limit", "4",
          "--timeout", "12.5",
        ),
      );
      assert.equal(typeof printed.id, "string");
      assert.equal(printed.duplicate, false);
      assert.equal(printed.status, "scheduled");
      assert.equal(typeof printed.created_at, "number");
      const id = printed.id as string;

      const expected = {
        id,
        queue,
        type: "send_email",
        priority: 7,
        status: "scheduled",
        payload,
        ready_at: readyAt,
        attempts: 0,
        created_at: printed.created_at,
        unique_key: `key-${queue}`,
        unique_while: "active",
        retry_limit: 4,
        timeout: 12.5,
      };
      const viaCli = one(await wharf("jobs", "get", id));
      assert.deepEqual(viaCli, expected);
      const viaHttp = await api(url, "GET", `/jobs/${id}`);
      assert.equal(viaHttp.status, 200);
      assert.deepEqual(viaHttp.body, expected);
    });

    it("--ready-at accepts ISO-8601 (UTC and with an offset) as well as milliseconds", async () => {
      const queue = uniqueName("iso");
      const utc = one(await wharf("enqueue", queue, "t", "1", "--ready-at", "2100-01-02T03:04:05.678Z"));
      assert.equal(utc.ready_at, Date.UTC(2100, 0, 2, 3, 4, 5, 678));
      assert.equal(utc.status, "scheduled");
      const offset = one(await wharf("enqueue", queue, "t", "2", "--ready-at", "2100-01-02T05:04:05+02:00"));
      assert.equal(offset.ready_at, Date.UTC(2100, 0, 2, 3, 4, 5));
      const past = one(await wharf("enqueue", queue, "t", "3", "--ready-at", "2001-09-09T01:46:40Z"));
      assert.equal(past.ready_at, 1_000_000_000_000);
      assert.equal(past.status, "ready");
      const millis = one(await wharf("enqueue", queue, "t", "4", "--ready-at", "4102542245678"));
      assert.equal(millis.ready_at, 4102542245678);
      for (const job of [utc, offset, past, millis]) {
        const stored = await api(url, "GET", `/jobs/${job.id}`);
        assert.equal(stored.body.ready_at, job.ready_at);
        assert.equal(stored.body.status, job.status);
      }
    });

    it("without options the job is ready at default priority, and any JSON value is a payload", async () => {
      const queue = uniqueName("plain");
      for (const payloadText of ['"a string"', "[1,2,3]", "null", "3.25", '{"x":{"y":[true,false]}}']) {
        const job = one(await wharf("enqueue", queue, "t", payloadText));
        assert.equal(job.status, "ready");
        assert.equal(job.priority, 32768);
        assert.equal(job.attempts, 0);
        assert.equal(job.unique_key, undefined);
        const stored = await api(url, "GET", `/jobs/${job.id}`);
        assert.deepEqual(stored.body.payload, JSON.parse(payloadText));
      }
    });

    it("payload integers past 2^53 and key order survive jobs get, digit for digit", async () => {
      const queue = uniqueName("big");
      const payloadText = '{"zeta":12345678901234567890,"alpha":-9223372036854775808,"n":1}';
      // Enqueued over HTTP (one CLI run fewer: this file runs against a time limit); the CLI reads it back.
      const created = await api(url, "POST", "/jobs", { raw: `{"queue":"${queue}","type":"t","payload":${payloadText}}` });
      const id = created.body.id as string;
      const shown = await wharf("jobs", "get", id);
      assert.equal(shown.code, 0, describeRun(shown));
      assert.ok(shown.stdout.includes(`"payload":${payloadText}`), shown.stdout);
    });

    it("a second enqueue with the same unique key reports the existing job as a duplicate", async () => {
      const queue = uniqueName("uniq");
      const first = one(await wharf("enqueue", queue, "t", "{}", "--unique-key", "same"));
      const second = one(await wharf("enqueue", queue, "t", '{"other":1}', "--unique-key", "same"));
      assert.equal(first.duplicate, false);
      assert.equal(second.duplicate, true);
      assert.equal(second.id, first.id);
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1);
    });

    it("--throttle-ms makes a second enqueue in the window a duplicate; --debounce-ms puts it in the next window", async () => {
      const queue = uniqueName("throttle");
      const throttled = ["--unique-key", `${queue}-t`, "--throttle-ms", "3600000"];
      const first = one(await wharf("enqueue", queue, "t", "{}", ...throttled));
      assert.equal(first.throttle_ms, 3_600_000);
      assert.equal(one(await wharf("enqueue", queue, "t", "{}", ...throttled)).id, first.id);
      const debounced = ["--unique-key", `${queue}-d`, "--debounce-ms", "3600000"];
      const opening = one(await wharf("enqueue", queue, "t", "{}", ...debounced));
      const next = one(await wharf("enqueue", queue, "t", "{}", ...debounced));
      assert.deepEqual([next.duplicate, next.status, next.ready_at], [false, "scheduled", opening.throttled_until]);
    });
  });

  describe("jobs list and count", () => {
    const queue = uniqueName("list");
    const other = uniqueName("other");
    const ids: string[] = [];
    let scheduledId = "";
    let otherId = "";

    before(async () => {
      // Five ready jobs (priorities 1..5, types alternating) plus one scheduled job in `queue`, one job in `other`.
      const created = await api(url, "POST", "/jobs/bulk", {
        body: {
          jobs: [1, 2, 3, 4, 5].map((n) => ({
            queue,
            type: n % 2 === 0 ? "even" : "odd",
            priority: n,
            payload: { n, tag: n <= 2 ? "low" : "high" },
          })),
        },
      });
      assert.equal(created.status, 201);
      ids.push(...(created.body.jobs as Job[]).map((job) => job.id));
      const later = await api(url, "POST", "/jobs", {
        body: { queue, type: "odd", priority: 9, payload: { n: 9 }, ready_at: server.clock.now() + 60_000 },
      });
      scheduledId = later.body.id;
      otherId = (await api(url, "POST", "/jobs", { body: { queue: other, type: "odd", priority: 3, payload: { n: 3 } } })).body.id;
    });

    const list = async (...args: string[]): Promise<Job[]> => (ok(await wharf("jobs", "list", ...args)) as unknown) as Job[];
    /** Lists a capped page: the notice about more jobs is expected on stderr. */
    const page = async (...args: string[]): Promise<Job[]> => {
      const result = await wharf("jobs", "list", ...args);
      assert.equal(result.code, 0, describeRun(result));
      assert.match(result.stderr, /^wharf: more jobs match; raise --limit/, describeRun(result));
      return jsonLines(result.stdout) as Job[];
    };
    const idsOf = (jobs: Job[]): string[] => jobs.map((job) => job.id);

    it("prints one full JSON job per line, oldest first", async () => {
      const result = await wharf("jobs", "list", "--queue", queue);
      const lines = result.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 6, describeRun(result));
      const jobs = lines.map((line) => JSON.parse(line) as Job);
      assert.deepEqual(idsOf(jobs), [...ids, scheduledId]);
      assert.deepEqual(jobs[0]!.payload, { n: 1, tag: "low" });
      for (const job of jobs) assert.equal(job.queue, queue);
      const stored = await api(url, "GET", `/jobs/${ids[2]}`);
      assert.deepEqual(jobs[2], stored.body);
    });

    it("filters by status, type, priority range, id and several queues", async () => {
      assert.deepEqual(idsOf(await list("--queue", queue, "--status", "scheduled")), [scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--status", "ready,scheduled")), [...ids, scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--type", "even")), [ids[1], ids[3]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--priority", "2..4")), [ids[1], ids[2], ids[3]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--priority", "..2")), [ids[0], ids[1]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--priority", "5..")), [ids[4], scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--priority", "3")), [ids[2]]);
      assert.deepEqual(idsOf(await list("--queue", `${queue},${other}`, "--priority", "3")), [ids[2], otherId]);
      assert.deepEqual(idsOf(await list("--id", `${ids[4]},${otherId}`)), [ids[4], otherId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--ready-at", `${server.clock.now() + 1}..`)), [scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--attempts", "1..")), []);
    });

    it("--filter applies a jq expression to the payload", async () => {
      assert.deepEqual(idsOf(await list("--queue", queue, "--filter", ".n > 3")), [ids[3], ids[4], scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--filter", '.tag == "low"')), [ids[0], ids[1]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--type", "odd", "--filter", ".n >= 3")), [ids[2], ids[4], scheduledId]);
    });

    it("a full page says on stderr that more jobs match, naming the id to continue --from; stdout stays JSON", async () => {
      const capped = await wharf("jobs", "list", "--queue", queue, "--limit", "2");
      assert.equal(capped.code, 0, describeRun(capped));
      assert.deepEqual(idsOf(jsonLines(capped.stdout) as Job[]), [ids[0], ids[1]]);
      assert.equal(capped.stderr, `wharf: more jobs match; raise --limit (now 2) or continue with --from ${ids[1]}\n`);
      assert.deepEqual(idsOf(await list("--queue", queue, "--from", ids[1]!, "--limit", "4")), [ids[2], ids[3], ids[4], scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--limit", "6")), [...ids, scheduledId], "exactly --limit matches: no notice");
    });

    it("--limit caps the output and --order desc reverses it", async () => {
      assert.deepEqual(idsOf(await page("--queue", queue, "--limit", "2")), [ids[0], ids[1]]);
      assert.deepEqual(idsOf(await page("--queue", queue, "--limit", "1")), [ids[0]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--order", "desc")), [...ids, scheduledId].reverse());
      assert.deepEqual(idsOf(await page("--queue", queue, "--order", "desc", "--limit", "2")), [scheduledId, ids[4]]);
      assert.deepEqual(idsOf(await page("--queue", queue, "--order", "asc", "--limit", "3")), ids.slice(0, 3));
      assert.deepEqual(idsOf(await list("--queue", queue, "--limit", "100")), [...ids, scheduledId]);
      assert.deepEqual(await list("--queue", uniqueName("empty")), []);
    });

    it("lists 50 jobs by default and pages through the server for a larger --limit", async () => {
      const many = uniqueName("many");
      const created = await api(url, "POST", "/jobs/bulk", {
        body: { jobs: Array.from({ length: 60 }, (_, n) => ({ queue: many, type: "t", payload: n })) },
      });
      const all = (created.body.jobs as Job[]).map((job) => job.id);
      assert.deepEqual(idsOf(await page("--queue", many)), all.slice(0, 50));
      assert.deepEqual(idsOf(await page("--queue", many, "--limit", "55")), all.slice(0, 55));
      assert.deepEqual(idsOf(await list("--queue", many, "--limit", "1000")), all);
      assert.deepEqual(idsOf(await page("--queue", many, "--limit", "5", "--order", "desc")), all.slice(55).reverse());
      assert.deepEqual(idsOf(await list("--queue", many, "--limit", "20", "--from", all[39]!)), all.slice(40), "--from pages on");
    });

    it("jobs count prints {\"count\":N} for the same filters", async () => {
      const count = async (...args: string[]): Promise<unknown> => one(await wharf("jobs", "count", ...args)).count;
      assert.equal(await count("--queue", queue), 6);
      assert.equal(await count("--queue", queue, "--status", "ready"), 5);
      assert.equal(await count("--queue", queue, "--type", "even"), 2);
      assert.equal(await count("--queue", queue, "--priority", "2..4"), 3);
      assert.equal(await count("--queue", queue, "--filter", ".n > 3"), 3);
      assert.equal(await count("--queue", `${queue},${other}`), 7);
      assert.equal(await count("--queue", uniqueName("none")), 0);
      const httpCount = await api(url, "GET", "/jobs/count");
      assert.equal(await count(), httpCount.body.count);
    });
  });

  describe("jobs delete", () => {
    it("deletes jobs by id and reports each", async () => {
      const queue = uniqueName("del");
      const a = one(await wharf("enqueue", queue, "t", "1")).id as string;
      const b = one(await wharf("enqueue", queue, "t", "2")).id as string;
      const c = one(await wharf("enqueue", queue, "t", "3")).id as string;
      assert.deepEqual(one(await wharf("jobs", "delete", a)), { deleted: a });
      assert.equal((await api(url, "GET", `/jobs/${a}`)).status, 404);
      assert.deepEqual(ok(await wharf("jobs", "delete", b, c)), [{ deleted: b }, { deleted: c }]);
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 0);
    });

    it("--queue q --all deletes every match and nothing else", async () => {
      const queue = uniqueName("delall");
      const keep = uniqueName("keep");
      await api(url, "POST", "/jobs/bulk", { body: { jobs: Array.from({ length: 7 }, (_, n) => ({ queue, type: "t", payload: n })) } });
      await api(url, "POST", "/jobs", { body: { queue, type: "t", payload: "later", ready_at: server.clock.now() + 60_000 } });
      const kept = (await api(url, "POST", "/jobs", { body: { queue: keep, type: "t", payload: 1 } })).body.id;
      assert.deepEqual(one(await wharf("jobs", "delete", "--queue", queue, "--all", "--dry-run")), { would_delete: 8 });
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 8, "--dry-run deletes nothing");
      failed(await wharf("jobs", "delete", "--queue", queue, "--all"), 2, /refusing to delete 8 jobs matching --queue .* without confirmation: not on a terminal, pass --yes/);
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 8, "no --yes off a terminal: nothing deleted");
      assert.deepEqual(one(await wharf("jobs", "delete", "--queue", queue, "--all", "--yes")), { deleted: 8 });
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 0);
      assert.equal((await api(url, "GET", `/jobs/${kept}`)).status, 200);
      assert.deepEqual(one(await wharf("jobs", "delete", "--queue", queue, "--all", "--yes")), { deleted: 0 });
    });

    it("an empty filter value is refused with exit 2, never dropped to mean every job", async () => {
      const queue = uniqueName("empty");
      one(await wharf("enqueue", queue, "t", "1"));
      const total = (await api(url, "GET", "/jobs/count")).body.count;
      const empties: Array<[string, string]> = [
        ["--queue", ""], ["--queue", ","], ["--queue", "a,,b"], ["--id", ","], ["--id", ""], ["--type", ""], ["--status", ""],
        ["--priority", ""], ["--ready-at", ""], ["--attempts", ""], ["--filter", ""], ["--filter", "  "],
      ];
      for (const [flag, value] of empties) {
        failed(await wharf("jobs", "delete", flag, value, "--all", "--yes"), 2, new RegExp(`option '${flag} <[a-z]+>' argument '${value}' is invalid`));
      }
      failed(await wharf("jobs", "list", "--queue", ""), 2, /--queue/);
      failed(await wharf("jobs", "count", "--status", ","), 2, /--status/);
      failed(await wharf("jobs", "retry", "--type", "", "--all", "--yes"), 2, /--type/);
      assert.equal((await api(url, "GET", "/jobs/count")).body.count, total, "nothing was deleted");
    });

    it("filters without --all, or ids together with --all, are refused and delete nothing", async () => {
      const queue = uniqueName("guard");
      const id = one(await wharf("enqueue", queue, "t", "1")).id as string;
      failed(await wharf("jobs", "delete", "--queue", queue), 2, /--all/);
      failed(await wharf("jobs", "delete", id, "--all"), 2, /not both/);
      failed(await wharf("jobs", "delete", id, "--queue", queue), 2, /not both/);
      assert.equal((await api(url, "GET", `/jobs/${id}`)).status, 200);
    });
  });

  describe("jobs retry", () => {
    it("makes a scheduled job ready now", async () => {
      const queue = uniqueName("retry");
      const readyAt = server.clock.now() + 3_600_000;
      const id = one(await wharf("enqueue", queue, "t", '{"a":1}', "--ready-at", String(readyAt), "--priority", "5")).id as string;
      const printed = one(await wharf("jobs", "retry", id));
      assert.equal(printed.id, id);
      assert.equal(printed.status, "ready");
      const stored = await api(url, "GET", `/jobs/${id}`);
      assert.equal(stored.body.status, "ready");
      assert.ok(stored.body.ready_at <= server.clock.now(), `ready_at ${stored.body.ready_at} is not in the past`);
      assert.equal(stored.body.priority, 5);
      assert.deepEqual(stored.body.payload, { a: 1 });
    });

    it("enqueues a fresh ready copy of a dead job and removes the dead one", async () => {
      const queue = uniqueName("dead");
      const payload = { order: 17, items: ["x", "y"] };
      const created = await api(url, "POST", "/jobs", {
        body: { queue, type: "charge", payload, priority: 3, retry_limit: 6, timeout: 30 },
      });
      assert.equal(created.status, 201);
      const deadId = created.body.id as string;

      const stream = openTake(url, { queue, prefetch: 1 });
      try {
        const taken = await stream.next(5000);
        assert.equal(taken?.id, deadId, "the job was leased to the take stream");
        const failure = await api(url, "POST", `/jobs/${deadId}/failure`, { body: { message: "boom", kill: true } });
        assert.equal(failure.status, 200, JSON.stringify(failure.body));
        assert.equal(failure.body.status, "dead");
      } finally {
        stream.close();
      }
      assert.equal((await api(url, "GET", `/jobs/${deadId}`)).body.status, "dead");

      const printed = one(await wharf("jobs", "retry", deadId));
      assert.equal(printed.retried, deadId);
      const fresh = printed.as as Record<string, unknown>;
      assert.equal(typeof fresh.id, "string");
      assert.notEqual(fresh.id, deadId);

      assert.equal((await api(url, "GET", `/jobs/${deadId}`)).status, 404, "the dead job is gone");
      const copy = await api(url, "GET", `/jobs/${fresh.id}`);
      assert.equal(copy.status, 200);
      assert.equal(copy.body.status, "ready");
      assert.equal(copy.body.queue, queue);
      assert.equal(copy.body.type, "charge");
      assert.deepEqual(copy.body.payload, payload);
      assert.equal(copy.body.attempts, 0);
      assert.equal(copy.body.priority, 3);
      assert.equal(copy.body.retry_limit, 6);
      assert.equal(copy.body.timeout, 30);
      assert.equal(copy.body.failed_at, undefined);
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1);
    });

    it("retries a dead job that has a unique key (unique_while exists) without losing it", async () => {
      const queue = uniqueName("deaduniq");
      const created = await api(url, "POST", "/jobs", {
        body: { queue, type: "t", payload: { k: 1 }, unique_key: `uk-${queue}`, unique_while: "exists" },
      });
      const deadId = created.body.id as string;
      const stream = openTake(url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, deadId);
        assert.equal((await api(url, "POST", `/jobs/${deadId}/failure`, { body: { message: "x", kill: true } })).body.status, "dead");
      } finally {
        stream.close();
      }
      const result = await wharf("jobs", "retry", deadId);
      assert.equal(result.code, 0, describeRun(result));
      const printed = one(result);
      assert.equal(printed.retried, deadId);
      const fresh = printed.as as Record<string, unknown>;
      assert.notEqual(fresh.id, deadId, `the copy is the dead job itself\n${describeRun(result)}`);
      assert.equal(fresh.status, "ready", describeRun(result));
      // Whatever the CLI printed, the job must still exist, ready to run again.
      const left = await api(url, "GET", `/jobs?queue=${queue}`);
      assert.equal(left.body.jobs.length, 1, `jobs left in ${queue}: ${JSON.stringify(left.body.jobs)}\n${describeRun(result)}`);
      assert.equal(left.body.jobs[0].id, fresh.id);
      assert.equal(left.body.jobs[0].status, "ready", JSON.stringify(left.body.jobs[0]));
      assert.deepEqual(left.body.jobs[0].payload, { k: 1 });
    });

    it("--all retries every matching job", async () => {
      const queue = uniqueName("retryall");
      const later = server.clock.now() + 60_000;
      const created = await api(url, "POST", "/jobs/bulk", {
        body: { jobs: [1, 2, 3].map((n) => ({ queue, type: "t", payload: n, ready_at: later })) },
      });
      failed(await wharf("jobs", "retry", "--queue", queue, "--status", "scheduled", "--all"), 2, /refusing to retry 3 jobs .*pass --yes/);
      assert.deepEqual(one(await wharf("jobs", "retry", "--queue", queue, "--all", "--dry-run")), { would_retry: 3 });
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}&status=scheduled`)).body.count, 3, "still scheduled");
      const lines = ok(await wharf("jobs", "retry", "--queue", queue, "--status", "scheduled", "--all", "--yes"));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines.map((line) => line.id).sort(), (created.body.jobs as Job[]).map((job) => job.id).sort());
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}&status=ready`)).body.count, 3);
    });

    it("refuses an in-flight job and leaves it in flight", async () => {
      const queue = uniqueName("busy");
      const id = (await api(url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, id);
        const result = await wharf("jobs", "retry", id);
        assert.notEqual(result.code, 0, describeRun(result));
        assert.match(result.stderr, /in_flight/);
        assert.equal((await api(url, "GET", `/jobs/${id}`)).body.status, "in_flight");
      } finally {
        stream.close();
      }
    });
  });

  describe("queues", () => {
    it("prints each queue with its jobs counted by status, one JSON line per queue", async () => {
      const a = uniqueName("qa");
      const b = uniqueName("qb");
      const later = server.clock.now() + 60_000;
      await api(url, "POST", "/jobs/bulk", {
        body: { jobs: [{ queue: a, type: "t", payload: 1 }, { queue: a, type: "t", payload: 2 }, { queue: a, type: "t", payload: 3, ready_at: later }] },
      });
      const deadId = (await api(url, "POST", "/jobs", { body: { queue: b, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(url, { queue: b, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, deadId);
        assert.equal((await api(url, "POST", `/jobs/${deadId}/failure`, { body: { message: "x", kill: true } })).body.status, "dead");
      } finally {
        stream.close();
      }
      const printed = ok(await wharf("queues"));
      const byName = new Map(printed.map((row) => [row.queue, row]));
      assert.deepEqual(byName.get(a), { queue: a, blocked: 0, scheduled: 1, ready: 2, in_flight: 0, completed: 0, dead: 0 });
      assert.deepEqual(byName.get(b), { queue: b, blocked: 0, scheduled: 0, ready: 0, in_flight: 0, completed: 0, dead: 1 });
      assert.deepEqual(printed.map((row) => row.queue), (await api(url, "GET", "/queues")).body.queues);
    });
  });

  describe("jobs errors", () => {
    it("prints a job's failure records, oldest attempt first, as the API has them", async () => {
      const queue = uniqueName("errs");
      const id = (await api(url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, id);
        assert.equal((await api(url, "POST", `/jobs/${id}/failure`, { body: { message: "first", error_type: "Timeout" } })).status, 200);
        assert.equal((await api(url, "PATCH", `/jobs/${id}`, { body: { ready_at: null } })).status, 200);
        assert.equal((await stream.next(5000))?.id, id);
        assert.equal((await api(url, "POST", `/jobs/${id}/failure`, { body: { message: "second\nline two", kill: true } })).status, 200);
      } finally {
        stream.close();
      }
      const records = ok(await wharf("jobs", "errors", id));
      assert.deepEqual(records.map((record) => [record.attempt, record.message, record.error_type]), [[1, "first", "Timeout"], [2, "second\nline two", undefined]]);
      assert.deepEqual(records, (await api(url, "GET", `/jobs/${id}/errors`)).body.errors);
    });

    it("a job that never failed has no records", async () => {
      const id = one(await wharf("enqueue", uniqueName("noerr"), "t", "1")).id as string;
      assert.deepEqual(ok(await wharf("jobs", "errors", id)), []);
    });
  });

  describe("jobs patch", () => {
    it("changes jobs by id (every field a patch allows) and null restores the default", async () => {
      const queue = uniqueName("patch");
      const moved = uniqueName("moved");
      const id = (await api(url, "POST", "/jobs", { body: { queue, type: "t", payload: 1, priority: 9, ready_at: server.clock.now() + 3_600_000 } })).body.id as string;
      const printed = one(await wharf(
        "jobs", "patch", id,
        "--set-queue", moved, "--set-priority", "7", "--set-ready-at", "now", "--set-retry-limit", "3", "--set-timeout", "2.5",
        "--set-backoff", "100:2:10", "--set-completed-retention-ms", "0", "--set-dead-retention-ms", "60000",
      ));
      assert.equal(printed.id, id);
      const stored = (await api(url, "GET", `/jobs/${id}`)).body;
      assert.equal(stored.queue, moved);
      assert.equal(stored.priority, 7);
      assert.equal(stored.status, "ready");
      assert.equal(stored.retry_limit, 3);
      assert.equal(stored.timeout, 2.5);
      assert.deepEqual(stored.backoff, { base_ms: 100, exponent: 2, jitter_ms: 10 });
      assert.deepEqual(stored.retention, { completed_ms: 0, dead_ms: 60000 });
      one(await wharf("jobs", "patch", id, "--set-retry-limit", "null", "--set-timeout", "null", "--set-backoff", "null"));
      const reset = (await api(url, "GET", `/jobs/${id}`)).body;
      assert.equal(reset.retry_limit, undefined);
      assert.equal(reset.timeout, undefined);
      assert.equal(reset.backoff, undefined);
      assert.equal(reset.priority, 7);
    });

    it("by filters with --all: needs --yes off a terminal, --dry-run counts, --yes patches only the matches", async () => {
      const queue = uniqueName("patchall");
      await api(url, "POST", "/jobs/bulk", { body: { jobs: [1, 1, 2].map((priority) => ({ queue, type: "t", payload: priority, priority })) } });
      failed(await wharf("jobs", "patch", "--queue", queue, "--all", "--set-priority", "9"), 2, /refusing to patch 3 jobs matching --queue/);
      assert.deepEqual(one(await wharf("jobs", "patch", "--queue", queue, "--priority", "1", "--all", "--dry-run", "--set-priority", "9")), { would_patch: 2 });
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}&priority=9`)).body.count, 0, "--dry-run changes nothing");
      assert.deepEqual(one(await wharf("jobs", "patch", "--queue", queue, "--priority", "1", "--all", "--yes", "--set-priority", "9")), { patched: 2 });
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}&priority=9`)).body.count, 2);
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}&priority=2`)).body.count, 1);
    });

    it("refuses what it cannot do with exit 2, naming the flag, and changes nothing", async () => {
      const queue = uniqueName("patchbad");
      const id = (await api(url, "POST", "/jobs", { body: { queue, type: "t", payload: 1, priority: 4 } })).body.id as string;
      const before = (await api(url, "GET", `/jobs/${id}`)).body;
      const cases: Array<[string[], RegExp]> = [
        [[id], /say what to change: --set-queue/],
        [[id, "--set-priority", "70000"], /--set-priority <n>' argument '70000' is invalid. must be from 0 to 65535/],
        [[id, "--set-ready-at", "whenever"], /--set-ready-at/],
        [[id, "--set-timeout", "0"], /--set-timeout/],
        [[id, "--set-backoff", "1:2"], /BASE_MS:EXPONENT:JITTER_MS/],
        [[id, "--set-queue", "a,b"], /^wharf: --set-queue "a,b" contains a reserved character/],
        [[id, "--set-queue", ""], /--set-queue/],
        [["--queue", queue, "--status", "dead", "--all", "--yes", "--set-priority", "1"], /--status: dead jobs cannot be patched/],
        [[id, "--all", "--set-priority", "1"], /not both/],
        [["--queue", queue, "--set-priority", "1"], /--all/],
      ];
      for (const [args, message] of cases) failed(await wharf("jobs", "patch", ...args), 2, message);
      assert.deepEqual((await api(url, "GET", `/jobs/${id}`)).body, before);
    });
  });

  describe("usage errors exit 2 with a message on stderr", () => {
    const cases: Array<{ name: string; args: string[]; message: RegExp }> = [
      { name: "unknown command", args: ["frobnicate"], message: /^wharf: unknown command 'frobnicate'/ },
      { name: "unknown jobs command", args: ["jobs", "explode"], message: /unknown command 'explode'/ },
      { name: "bad payload JSON", args: ["enqueue", "q", "t", "{not json"], message: /PAYLOAD_JSON'. is not valid JSON/ },
      { name: "missing payload", args: ["enqueue", "q", "t"], message: /missing required argument 'PAYLOAD_JSON'/ },
      { name: "missing everything", args: ["enqueue"], message: /missing required argument 'QUEUE'/ },
      { name: "extra positional", args: ["enqueue", "q", "t", "{}", "extra"], message: /too many arguments for 'enqueue'/ },
      { name: "non-integer --priority", args: ["enqueue", "q", "t", "{}", "--priority", "1.5"], message: /--priority <n>' argument '1.5' is invalid. must be an integer, got "1.5"/ },
      { name: "non-numeric --priority", args: ["enqueue", "q", "t", "{}", "--priority", "high"], message: /--priority.*must be an integer/ },
      { name: "--priority out of range", args: ["enqueue", "q", "t", "{}", "--priority", "70000"], message: /--priority.*must be from 0 to 65535/ },
      { name: "bad --ready-at", args: ["enqueue", "q", "t", "{}", "--ready-at", "next tuesday"], message: /--ready-at.*must be/ },
      { name: "non-integer --retry-limit", args: ["enqueue", "q", "t", "{}", "--retry-limit", "x"], message: /--retry-limit.*must be an integer/ },
      { name: "non-numeric --timeout", args: ["enqueue", "q", "t", "{}", "--timeout", "soon"], message: /--timeout.*must be a number/ },
      { name: "unknown --unique-while", args: ["enqueue", "q", "t", "{}", "--unique-key", "k", "--unique-while", "forever"], message: /--unique-while.*forever.*queued, active, exists/ },
      { name: "--throttle-ms without --unique-key", args: ["enqueue", "q", "t", "{}", "--throttle-ms", "1000"], message: /--throttle-ms needs a unique_key/ },
      { name: "zero --debounce-ms", args: ["enqueue", "q", "t", "{}", "--unique-key", "k", "--debounce-ms", "0"], message: /--debounce-ms.*must be 1 or more/ },
      { name: "empty QUEUE", args: ["enqueue", "", "t", "{}"], message: /QUEUE.*must not be empty/ },
      { name: "unknown option", args: ["enqueue", "q", "t", "{}", "--frobnicate", "1"], message: /unknown option '--frobnicate'/ },
      { name: "option without value", args: ["enqueue", "q", "t", "{}", "--priority"], message: /option '--priority <n>' argument/ },
      { name: "jobs get without id", args: ["jobs", "get"], message: /missing required argument 'ID'/ },
      { name: "jobs get with two ids", args: ["jobs", "get", "a", "b"], message: /too many arguments/ },
      { name: "non-integer --limit", args: ["jobs", "list", "--limit", "ten"], message: /--limit.*must be an integer/ },
      { name: "zero --limit", args: ["jobs", "list", "--limit", "0"], message: /--limit.*must be 1 or more/ },
      { name: "bad --order", args: ["jobs", "list", "--order", "sideways"], message: /--order.*sideways/ },
      { name: "unknown --status", args: ["jobs", "list", "--status", "finished"], message: /"finished" is not one of blocked, scheduled, ready, in_flight, completed, dead/ },
      { name: "inverted --priority range", args: ["jobs", "count", "--priority", "5..1"], message: /lower bound 5 exceeds upper bound 1/ },
      { name: "range without bounds", args: ["jobs", "count", "--attempts", ".."], message: /needs at least one bound/ },
      { name: "retry without ids or --all", args: ["jobs", "retry"], message: /--all/ },
      { name: "health with an argument", args: ["health", "now"], message: /too many arguments for 'health'/ },
      { name: "reset off a terminal without --yes", args: ["reset"], message: /refusing to delete every job \(\d+ jobs?\) with reset without confirmation/ },
    ];
    for (const { name, args, message } of cases) {
      it(name, async () => {
        const queueCount = (await api(url, "GET", "/jobs/count")).body.count;
        failed(await wharf(...args), 2, message);
        assert.equal((await api(url, "GET", "/jobs/count")).body.count, queueCount, "nothing was enqueued or deleted");
      });
    }

    it("typos in commands and options get a suggestion", async () => {
      failed(await wharf("jobz"), 2, /unknown command 'jobz'\n\(Did you mean jobs\?\)/);
      failed(await wharf("jobs", "lst"), 2, /unknown command 'lst'\n\(Did you mean list\?\)/);
      failed(await wharf("jobs", "list", "--limt", "3"), 2, /unknown option '--limt'\n\(Did you mean --limit\?\)/);
      failed(await wharf("enqueue", "q", "t", "{}", "--priorty", "3"), 2, /\(Did you mean --priority\?\)/);
    });

    it("every usage error ends with a pointer to --help", async () => {
      for (const args of [["frobnicate"], ["jobs", "retry"], ["jobs", "list", "--queue", ""]]) {
        const result = await wharf(...args);
        assert.match(result.stderr, /^wharf: .*\n(.*\n)*\(add --help for usage\)\n$/, describeRun(result));
      }
    });

    it("--help and no arguments print usage on stdout and exit 0", async () => {
      for (const args of [["--help"], []]) {
        const result = await runCli(args);
        assert.equal(result.code, 0, describeRun(result));
        assert.match(result.stdout, /^Usage: wharf \[options\] \[command\]/);
        for (const command of ["serve", "enqueue", "jobs", "queues", "health", "reset"]) assert.match(result.stdout, new RegExp(`\n  ${command} `));
      }
    });

    it("--help on a command prints its help and does not run it", async () => {
      const queue = uniqueName("helped");
      one(await wharf("enqueue", queue, "t", "1"));
      const port = await closedPort();
      const list = await runCli(["jobs", "list", "--help", "--url", `http://127.0.0.1:${port}`]);
      assert.equal(list.code, 0, describeRun(list));
      assert.match(list.stdout, /^Usage: wharf jobs list \[options\]/);
      assert.match(list.stdout, /Filters \(every one must hold\):\n {2}--id <ids>/);
      for (const args of [["jobs", "delete", "--queue", queue, "--all", "--yes", "--help"], ["reset", "--yes", "-h"], ["enqueue", queue, "t", "2", "--help"]]) {
        const result = await wharf(...args);
        assert.equal(result.code, 0, describeRun(result));
        assert.match(result.stdout, new RegExp(`^Usage: wharf ${args[0]}`));
      }
      assert.equal((await api(url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1, "nothing was deleted or enqueued");
      const jobs = await runCli(["jobs", "--help"]);
      assert.equal(jobs.code, 0, describeRun(jobs));
      assert.match(jobs.stdout, /^Usage: wharf jobs \[options\] \[command\]/);
      for (const command of ["list", "get", "count", "errors", "delete", "retry", "patch"]) assert.match(jobs.stdout, new RegExp(`\n  ${command} `));
    });

    it("jobs without a command prints its help on stderr, exit 2", async () => {
      const result = await runCli(["jobs"]);
      assert.equal(result.code, 2, describeRun(result));
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /^Usage: wharf jobs/);
    });

    it("--version prints the version", async () => {
      const result = await runCli(["--version"]);
      assert.equal(result.code, 0, describeRun(result));
      assert.equal(result.stdout, `${VERSION}\n`);
    });
  });

  describe("server errors exit 1; values the server refuses exit 2, naming the flag", () => {
    it("an unknown job id is a 404, exit 1", async () => {
      const missing = "0000000000000000000000000";
      const commands = [["jobs", "get", missing], ["jobs", "delete", missing], ["jobs", "retry", missing], ["jobs", "errors", missing], ["jobs", "patch", missing, "--set-priority", "1"]];
      for (const args of commands) {
        const result = await wharf(...args);
        failed(result, 1, new RegExp(`job ${missing} not found`));
        assert.match(result.stderr, /HTTP 404/, describeRun(result));
      }
    });

    it("a reserved character in the queue name (the server's 400) is exit 2 naming QUEUE", async () => {
      for (const queue of ["a,b", "with*star", "br[ack]et"]) {
        const result = await wharf("enqueue", queue, "t", "{}");
        failed(result, 2, /^wharf: QUEUE .* contains a reserved character/);
        assert.ok(result.stderr.includes(JSON.stringify(queue)), describeRun(result));
      }
    });

    it("a jq filter the server cannot compile, or a unique scope without a key, is exit 2 naming the flag", async () => {
      failed(await wharf("jobs", "list", "--filter", ".n >"), 2, /^wharf: --filter is not a valid jq expression/);
      failed(await wharf("jobs", "count", "--filter", "input"), 2, /^wharf: --filter uses input/);
      failed(await wharf("enqueue", uniqueName(), "t", "{}", "--unique-while", "active"), 2, /^wharf: --unique-while needs a unique_key/);
    });
  });
});
