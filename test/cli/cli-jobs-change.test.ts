import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { api, uniqueName } from "../helpers/server.js";
import { cliAgainstTestServer, describeRun, failed, ok, onlyLine } from "../helpers/cli.js";
import { openTake } from "../helpers/take.js";
import type { Job } from "../../src/job/types.js";

describe("wharf CLI: deleting, retrying and patching jobs", () => {
  const cli = cliAgainstTestServer();

  describe("jobs delete", () => {
    it("deletes jobs by id and reports each", async () => {
      const queue = uniqueName("del");
      const a = onlyLine(await cli.wharf("enqueue", queue, "t", "1")).id as string;
      const b = onlyLine(await cli.wharf("enqueue", queue, "t", "2")).id as string;
      const c = onlyLine(await cli.wharf("enqueue", queue, "t", "3")).id as string;
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "delete", a)), { deleted: a });
      assert.equal((await api(cli.url, "GET", `/jobs/${a}`)).status, 404);
      assert.deepEqual(ok(await cli.wharf("jobs", "delete", b, c)), [{ deleted: b }, { deleted: c }]);
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 0);
    });

    it("--queue q --all deletes every match and nothing else", async () => {
      const queue = uniqueName("delall");
      const keep = uniqueName("keep");
      await api(cli.url, "POST", "/jobs/bulk", { body: { jobs: Array.from({ length: 7 }, (_, n) => ({ queue, type: "t", payload: n })) } });
      await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: "later", ready_at: cli.server.clock.now() + 60_000 } });
      const kept = (await api(cli.url, "POST", "/jobs", { body: { queue: keep, type: "t", payload: 1 } })).body.id;
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "delete", "--queue", queue, "--all", "--dry-run")), { would_delete: 8 });
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 8, "--dry-run deletes nothing");
      failed(await cli.wharf("jobs", "delete", "--queue", queue, "--all"), 2, /refusing to delete 8 jobs matching --queue .* without confirmation: not on a terminal, pass --yes/);
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 8, "no --yes off a terminal: nothing deleted");
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "delete", "--queue", queue, "--all", "--yes")), { deleted: 8 });
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 0);
      assert.equal((await api(cli.url, "GET", `/jobs/${kept}`)).status, 200);
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "delete", "--queue", queue, "--all", "--yes")), { deleted: 0 });
    });

    it("an empty filter value is refused with exit 2, never dropped to mean every job", async () => {
      const queue = uniqueName("empty");
      onlyLine(await cli.wharf("enqueue", queue, "t", "1"));
      const total = (await api(cli.url, "GET", "/jobs/count")).body.count;
      const empties: Array<[string, string]> = [
        ["--queue", ""], ["--queue", ","], ["--queue", "a,,b"], ["--id", ","], ["--id", ""], ["--type", ""], ["--status", ""],
        ["--priority", ""], ["--ready-at", ""], ["--attempts", ""], ["--filter", ""], ["--filter", "  "],
      ];
      for (const [flag, value] of empties) {
        failed(await cli.wharf("jobs", "delete", flag, value, "--all", "--yes"), 2, new RegExp(`option '${flag} <[a-z]+>' argument '${value}' is invalid`));
      }
      failed(await cli.wharf("jobs", "list", "--queue", ""), 2, /--queue/);
      failed(await cli.wharf("jobs", "count", "--status", ","), 2, /--status/);
      failed(await cli.wharf("jobs", "retry", "--type", "", "--all", "--yes"), 2, /--type/);
      assert.equal((await api(cli.url, "GET", "/jobs/count")).body.count, total, "nothing was deleted");
    });

    it("filters without --all, or ids together with --all, are refused and delete nothing", async () => {
      const queue = uniqueName("guard");
      const id = onlyLine(await cli.wharf("enqueue", queue, "t", "1")).id as string;
      failed(await cli.wharf("jobs", "delete", "--queue", queue), 2, /--all/);
      failed(await cli.wharf("jobs", "delete", id, "--all"), 2, /not both/);
      failed(await cli.wharf("jobs", "delete", id, "--queue", queue), 2, /not both/);
      assert.equal((await api(cli.url, "GET", `/jobs/${id}`)).status, 200);
    });
  });

  describe("jobs retry", () => {
    it("makes a scheduled job ready now", async () => {
      const queue = uniqueName("retry");
      const readyAt = cli.server.clock.now() + 3_600_000;
      const id = onlyLine(await cli.wharf("enqueue", queue, "t", '{"a":1}', "--ready-at", String(readyAt), "--priority", "5")).id as string;
      const printed = onlyLine(await cli.wharf("jobs", "retry", id));
      assert.equal(printed.id, id);
      assert.equal(printed.status, "ready");
      const stored = await api(cli.url, "GET", `/jobs/${id}`);
      assert.equal(stored.body.status, "ready");
      assert.ok(stored.body.ready_at <= cli.server.clock.now(), `ready_at ${stored.body.ready_at} is not in the past`);
      assert.equal(stored.body.priority, 5);
      assert.deepEqual(stored.body.payload, { a: 1 });
    });

    it("enqueues a fresh ready copy of a dead job and removes the dead one", async () => {
      const queue = uniqueName("dead");
      const payload = { order: 17, items: ["x", "y"] };
      const created = await api(cli.url, "POST", "/jobs", {
        body: { queue, type: "charge", payload, priority: 3, retry_limit: 6, timeout: 30 },
      });
      assert.equal(created.status, 201);
      const deadId = created.body.id as string;

      const stream = openTake(cli.url, { queue, prefetch: 1 });
      try {
        const taken = await stream.next(5000);
        assert.equal(taken?.id, deadId, "the job was leased to the take stream");
        const failure = await api(cli.url, "POST", `/jobs/${deadId}/failure`, { body: { message: "boom", kill: true } });
        assert.equal(failure.status, 200, JSON.stringify(failure.body));
        assert.equal(failure.body.status, "dead");
      } finally {
        stream.close();
      }
      assert.equal((await api(cli.url, "GET", `/jobs/${deadId}`)).body.status, "dead");

      const printed = onlyLine(await cli.wharf("jobs", "retry", deadId));
      assert.equal(printed.retried, deadId);
      const fresh = printed.as as Record<string, unknown>;
      assert.equal(typeof fresh.id, "string");
      assert.notEqual(fresh.id, deadId);

      assert.equal((await api(cli.url, "GET", `/jobs/${deadId}`)).status, 404, "the dead job is gone");
      const copy = await api(cli.url, "GET", `/jobs/${fresh.id}`);
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
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1);
    });

    it("retries a dead job that has a unique key (unique_while exists) without losing it", async () => {
      const queue = uniqueName("deaduniq");
      const created = await api(cli.url, "POST", "/jobs", {
        body: { queue, type: "t", payload: { k: 1 }, unique_key: `uk-${queue}`, unique_while: "exists" },
      });
      const deadId = created.body.id as string;
      const stream = openTake(cli.url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, deadId);
        assert.equal((await api(cli.url, "POST", `/jobs/${deadId}/failure`, { body: { message: "x", kill: true } })).body.status, "dead");
      } finally {
        stream.close();
      }
      const result = await cli.wharf("jobs", "retry", deadId);
      assert.equal(result.code, 0, describeRun(result));
      const printed = onlyLine(result);
      assert.equal(printed.retried, deadId);
      const fresh = printed.as as Record<string, unknown>;
      assert.notEqual(fresh.id, deadId, `the copy is the dead job itself\n${describeRun(result)}`);
      assert.equal(fresh.status, "ready", describeRun(result));
      // Whatever the CLI printed, the job must still exist, ready to run again.
      const left = await api(cli.url, "GET", `/jobs?queue=${queue}`);
      assert.equal(left.body.jobs.length, 1, `jobs left in ${queue}: ${JSON.stringify(left.body.jobs)}\n${describeRun(result)}`);
      assert.equal(left.body.jobs[0].id, fresh.id);
      assert.equal(left.body.jobs[0].status, "ready", JSON.stringify(left.body.jobs[0]));
      assert.deepEqual(left.body.jobs[0].payload, { k: 1 });
    });

    it("--all retries every matching job", async () => {
      const queue = uniqueName("retryall");
      const later = cli.server.clock.now() + 60_000;
      const created = await api(cli.url, "POST", "/jobs/bulk", {
        body: { jobs: [1, 2, 3].map((n) => ({ queue, type: "t", payload: n, ready_at: later })) },
      });
      failed(await cli.wharf("jobs", "retry", "--queue", queue, "--status", "scheduled", "--all"), 2, /refusing to retry 3 jobs .*pass --yes/);
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "retry", "--queue", queue, "--all", "--dry-run")), { would_retry: 3 });
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}&status=scheduled`)).body.count, 3, "still scheduled");
      const lines = ok(await cli.wharf("jobs", "retry", "--queue", queue, "--status", "scheduled", "--all", "--yes"));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines.map((line) => line.id).sort(), (created.body.jobs as Job[]).map((job) => job.id).sort());
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}&status=ready`)).body.count, 3);
    });

    it("refuses an in-flight job and leaves it in flight", async () => {
      const queue = uniqueName("busy");
      const id = (await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } })).body.id as string;
      const stream = openTake(cli.url, { queue, prefetch: 1 });
      try {
        assert.equal((await stream.next(5000))?.id, id);
        const result = await cli.wharf("jobs", "retry", id);
        assert.notEqual(result.code, 0, describeRun(result));
        assert.match(result.stderr, /in_flight/);
        assert.equal((await api(cli.url, "GET", `/jobs/${id}`)).body.status, "in_flight");
      } finally {
        stream.close();
      }
    });
  });

  describe("jobs patch", () => {
    it("changes jobs by id (every field a patch allows) and null restores the default", async () => {
      const queue = uniqueName("patch");
      const moved = uniqueName("moved");
      const id = (await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1, priority: 9, ready_at: cli.server.clock.now() + 3_600_000 } })).body.id as string;
      const printed = onlyLine(await cli.wharf(
        "jobs", "patch", id,
        "--set-queue", moved, "--set-priority", "7", "--set-ready-at", "now", "--set-retry-limit", "3", "--set-timeout", "2.5",
        "--set-backoff", "100:2:10", "--set-completed-retention-ms", "0", "--set-dead-retention-ms", "60000",
      ));
      assert.equal(printed.id, id);
      const stored = (await api(cli.url, "GET", `/jobs/${id}`)).body;
      assert.equal(stored.queue, moved);
      assert.equal(stored.priority, 7);
      assert.equal(stored.status, "ready");
      assert.equal(stored.retry_limit, 3);
      assert.equal(stored.timeout, 2.5);
      assert.deepEqual(stored.backoff, { base_ms: 100, exponent: 2, jitter_ms: 10 });
      assert.deepEqual(stored.retention, { completed_ms: 0, dead_ms: 60000 });
      onlyLine(await cli.wharf("jobs", "patch", id, "--set-retry-limit", "null", "--set-timeout", "null", "--set-backoff", "null"));
      const reset = (await api(cli.url, "GET", `/jobs/${id}`)).body;
      assert.equal(reset.retry_limit, undefined);
      assert.equal(reset.timeout, undefined);
      assert.equal(reset.backoff, undefined);
      assert.equal(reset.priority, 7);
    });

    it("by filters with --all: needs --yes off a terminal, --dry-run counts, --yes patches only the matches", async () => {
      const queue = uniqueName("patchall");
      await api(cli.url, "POST", "/jobs/bulk", { body: { jobs: [1, 1, 2].map((priority) => ({ queue, type: "t", payload: priority, priority })) } });
      failed(await cli.wharf("jobs", "patch", "--queue", queue, "--all", "--set-priority", "9"), 2, /refusing to patch 3 jobs matching --queue/);
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "patch", "--queue", queue, "--priority", "1", "--all", "--dry-run", "--set-priority", "9")), { would_patch: 2 });
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}&priority=9`)).body.count, 0, "--dry-run changes nothing");
      assert.deepEqual(onlyLine(await cli.wharf("jobs", "patch", "--queue", queue, "--priority", "1", "--all", "--yes", "--set-priority", "9")), { patched: 2 });
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}&priority=9`)).body.count, 2);
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}&priority=2`)).body.count, 1);
    });

    it("refuses what it cannot do with exit 2, naming the flag, and changes nothing", async () => {
      const queue = uniqueName("patchbad");
      const id = (await api(cli.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1, priority: 4 } })).body.id as string;
      const before = (await api(cli.url, "GET", `/jobs/${id}`)).body;
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
      for (const [args, message] of cases) failed(await cli.wharf("jobs", "patch", ...args), 2, message);
      assert.deepEqual((await api(cli.url, "GET", `/jobs/${id}`)).body, before);
    });
  });
});
