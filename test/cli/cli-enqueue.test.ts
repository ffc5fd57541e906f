import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { api, uniqueName } from "../helpers/server.js";
import { cliAgainstTestServer, describeRun, ok, onlyLine } from "../helpers/cli.js";
import { openTake } from "../helpers/take.js";

describe("wharf CLI: enqueue, queues and job errors", () => {
  const cli = cliAgainstTestServer();

  describe("enqueue", () => {
    it("creates a job with every option, visible through jobs get and the HTTP API", async () => {
      const queue = uniqueName("enq");
      const readyAt = cli.server.clock.now() + 3_600_000;
      const payload = { user: 42, tags: ["a", "b"], nested: { ok: true, none: null }, text: "héllo \"quoted\"" };
      const printed = onlyLine(
        await cli.wharf(
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
      const viaCli = onlyLine(await cli.wharf("jobs", "get", id));
      assert.deepEqual(viaCli, expected);
      const viaHttp = await api(cli.url, "GET", `/jobs/${id}`);
      assert.equal(viaHttp.status, 200);
      assert.deepEqual(viaHttp.body, expected);
    });

    it("--ready-at accepts ISO-8601 (UTC and with an offset) as well as milliseconds", async () => {
      const queue = uniqueName("iso");
      const utc = onlyLine(await cli.wharf("enqueue", queue, "t", "1", "--ready-at", "2100-01-02T03:04:05.678Z"));
      assert.equal(utc.ready_at, Date.UTC(2100, 0, 2, 3, 4, 5, 678));
      assert.equal(utc.status, "scheduled");
      const offset = onlyLine(await cli.wharf("enqueue", queue, "t", "2", "--ready-at", "2100-01-02T05:04:05+02:00"));
      assert.equal(offset.ready_at, Date.UTC(2100, 0, 2, 3, 4, 5));
      const past = onlyLine(await cli.wharf("enqueue", queue, "t", "3", "--ready-at", "2001-09-09T01:46:40Z"));
      assert.equal(past.ready_at, 1_000_000_000_000);
      assert.equal(past.status, "ready");
      const millis = onlyLine(await cli.wharf("enqueue", queue, "t", "4", "--ready-at", "4102542245678"));
      assert.equal(millis.ready_at, 4102542245678);
      for (const job of [utc, offset, past, millis]) {
        const stored = await api(cli.url, "GET", `/jobs/${job.id}`);
        assert.equal(stored.body.ready_at, job.ready_at);
        assert.equal(stored.body.status, job.status);
      }
    });

    it("without options the job is ready at default priority, and any JSON value is a payload", async () => {
      const queue = uniqueName("plain");
      for (const payloadText of ['"a string"', "[1,2,3]", "null", "3.25", '{"x":{"y":[true,false]}}']) {
        const job = onlyLine(await cli.wharf("enqueue", queue, "t", payloadText));
        assert.equal(job.status, "ready");
        assert.equal(job.priority, 32768);
        assert.equal(job.attempts, 0);
        assert.equal(job.unique_key, undefined);
        const stored = await api(cli.url, "GET", `/jobs/${job.id}`);
        assert.deepEqual(stored.body.payload, JSON.parse(payloadText));
      }
    });

    it("payload integers past 2^53 and key order survive jobs get, digit for digit", async () => {
      const queue = uniqueName("big");
      const payloadText = '{"zeta":12345678901234567890,"alpha":-9223372036854775808,"n":1}';
      // Enqueued over HTTP (one CLI run fewer: this file runs against a time limit); the CLI reads it back.
      const created = await api(cli.url, "POST", "/jobs", { raw: `{"queue":"${queue}","type":"t","payload":${payloadText}}` });
      const id = created.body.id as string;
      const shown = await cli.wharf("jobs", "get", id);
      assert.equal(shown.code, 0, describeRun(shown));
      assert.ok(shown.stdout.includes(`"payload":${payloadText}`), shown.stdout);
    });

    it("a second enqueue with the same unique key reports the existing job as a duplicate", async () => {
      const queue = uniqueName("uniq");
      const first = onlyLine(await cli.wharf("enqueue", queue, "t", "{}", "--unique-key", "same"));
      const second = onlyLine(await cli.wharf("enqueue", queue, "t", '{"other":1}', "--unique-key", "same"));
      assert.equal(first.duplicate, false);
      assert.equal(second.duplicate, true);
      assert.equal(second.id, first.id);
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1);
    });

    it("--throttle-ms makes a second enqueue in the window a duplicate; --debounce-ms puts it in the next window", async () => {
      const queue = uniqueName("throttle");
      const throttled = ["--unique-key", `${queue}-t`, "--throttle-ms", "3600000"];
      const first = onlyLine(await cli.wharf("enqueue", queue, "t", "{}", ...throttled));
      assert.equal(first.throttle_ms, 3_600_000);
      assert.equal(onlyLine(await cli.wharf("enqueue", queue, "t", "{}", ...throttled)).id, first.id);
      const debounced = ["--unique-key", `${queue}-d`, "--debounce-ms", "3600000"];
      const opening = onlyLine(await cli.wharf("enqueue", queue, "t", "{}", ...debounced));
      const next = onlyLine(await cli.wharf("enqueue", queue, "t", "{}", ...debounced));
      assert.deepEqual([next.duplicate, next.status, next.ready_at], [false, "scheduled", opening.throttled_until]);
    });
  });

  describe("queues", () => {
    it("prints each queue with its jobs counted by status, one JSON line per queue", async () => {
      const a = uniqueName("qa");
      const b = uniqueName("qb");
      const later = cli.server.clock.now() + 60_000;
      await api(cli.url, "POST", "/jobs/bulk", {
        body: { jobs: [{ queue: a, type: "t", payload: 1 }, { queue: a, type: "t", payload: 2 }, { queue: a, type: "t", payload: 3, ready_at: later }] },
      });
      const deadId = (await api(cli.url, "POST", "/jobs", { body: { queue: b, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(cli.url, { queue: b, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, deadId);
        assert.equal((await api(cli.url, "POST", `/jobs/${deadId}/failure`, { body: { message: "x", kill: true } })).body.status, "dead");
      } finally {
        stream.close();
      }
      const printed = ok(await cli.wharf("queues"));
      const byName = new Map(printed.map((row) => [row.queue, row]));
      assert.deepEqual(byName.get(a), { queue: a, blocked: 0, scheduled: 1, ready: 2, in_flight: 0, completed: 0, dead: 0 });
      assert.deepEqual(byName.get(b), { queue: b, blocked: 0, scheduled: 0, ready: 0, in_flight: 0, completed: 0, dead: 1 });
      assert.deepEqual(printed.map((row) => row.queue), (await api(cli.url, "GET", "/queues")).body.queues);
    });
  });

  describe("jobs errors", () => {
    it("prints a job's failure records, oldest attempt first, as the API has them", async () => {
      const queue = uniqueName("errs");
      const id = (await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(cli.url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, id);
        assert.equal((await api(cli.url, "POST", `/jobs/${id}/failure`, { body: { message: "first", error_type: "Timeout" } })).status, 200);
        assert.equal((await api(cli.url, "PATCH", `/jobs/${id}`, { body: { ready_at: null } })).status, 200);
        assert.equal((await stream.next(5000))?.id, id);
        assert.equal((await api(cli.url, "POST", `/jobs/${id}/failure`, { body: { message: "second\nline two", kill: true } })).status, 200);
      } finally {
        stream.close();
      }
      const records = ok(await cli.wharf("jobs", "errors", id));
      assert.deepEqual(records.map((record) => [record.attempt, record.message, record.error_type]), [[1, "first", "Timeout"], [2, "second\nline two", undefined]]);
      assert.deepEqual(records, (await api(cli.url, "GET", `/jobs/${id}/errors`)).body.errors);
    });

    it("a job that never failed has no records", async () => {
      const id = onlyLine(await cli.wharf("enqueue", uniqueName("noerr"), "t", "1")).id as string;
      assert.deepEqual(ok(await cli.wharf("jobs", "errors", id)), []);
    });
  });
});
