import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { api, uniqueName } from "../helpers/server.js";
import { cliAgainstTestServer, describeRun, jsonLines, ok, onlyLine } from "../helpers/cli.js";
import type { Job } from "../../src/job/types.js";

describe("wharf CLI: listing and counting jobs", () => {
  const cli = cliAgainstTestServer();

  describe("jobs list and count", () => {
    const queue = uniqueName("list");
    const other = uniqueName("other");
    const ids: string[] = [];
    let scheduledId = "";
    let otherId = "";

    before(async () => {
      // Five ready jobs (priorities 1..5, types alternating) plus one scheduled job in `queue`, one job in `other`.
      const created = await api(cli.url, "POST", "/jobs/bulk", {
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
      const later = await api(cli.url, "POST", "/jobs", {
        body: { queue, type: "odd", priority: 9, payload: { n: 9 }, ready_at: cli.server.clock.now() + 60_000 },
      });
      scheduledId = later.body.id;
      otherId = (await api(cli.url, "POST", "/jobs", { body: { queue: other, type: "odd", priority: 3, payload: { n: 3 } } })).body.id;
    });

    const list = async (...args: string[]): Promise<Job[]> => (ok(await cli.wharf("jobs", "list", ...args)) as unknown) as Job[];
    /** Lists a capped page: the notice about more jobs is expected on stderr. */
    const page = async (...args: string[]): Promise<Job[]> => {
      const result = await cli.wharf("jobs", "list", ...args);
      assert.equal(result.code, 0, describeRun(result));
      assert.match(result.stderr, /^wharf: more jobs match; raise --limit/, describeRun(result));
      return jsonLines(result.stdout) as Job[];
    };
    const idsOf = (jobs: Job[]): string[] => jobs.map((job) => job.id);

    it("prints one full JSON job per line, oldest first", async () => {
      const result = await cli.wharf("jobs", "list", "--queue", queue);
      const lines = result.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 6, describeRun(result));
      const jobs = lines.map((line) => JSON.parse(line) as Job);
      assert.deepEqual(idsOf(jobs), [...ids, scheduledId]);
      assert.deepEqual(jobs[0]!.payload, { n: 1, tag: "low" });
      for (const job of jobs) assert.equal(job.queue, queue);
      const stored = await api(cli.url, "GET", `/jobs/${ids[2]}`);
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
      assert.deepEqual(idsOf(await list("--queue", queue, "--ready-at", `${cli.server.clock.now() + 1}..`)), [scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--attempts", "1..")), []);
    });

    it("--filter applies a jq expression to the payload", async () => {
      assert.deepEqual(idsOf(await list("--queue", queue, "--filter", ".n > 3")), [ids[3], ids[4], scheduledId]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--filter", '.tag == "low"')), [ids[0], ids[1]]);
      assert.deepEqual(idsOf(await list("--queue", queue, "--type", "odd", "--filter", ".n >= 3")), [ids[2], ids[4], scheduledId]);
    });

    it("a full page says on stderr that more jobs match, naming the id to continue --from; stdout stays JSON", async () => {
      const capped = await cli.wharf("jobs", "list", "--queue", queue, "--limit", "2");
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
      const created = await api(cli.url, "POST", "/jobs/bulk", {
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
      const count = async (...args: string[]): Promise<unknown> => onlyLine(await cli.wharf("jobs", "count", ...args)).count;
      assert.equal(await count("--queue", queue), 6);
      assert.equal(await count("--queue", queue, "--status", "ready"), 5);
      assert.equal(await count("--queue", queue, "--type", "even"), 2);
      assert.equal(await count("--queue", queue, "--priority", "2..4"), 3);
      assert.equal(await count("--queue", queue, "--filter", ".n > 3"), 3);
      assert.equal(await count("--queue", `${queue},${other}`), 7);
      assert.equal(await count("--queue", uniqueName("none")), 0);
      const httpCount = await api(cli.url, "GET", "/jobs/count");
      assert.equal(await count(), httpCount.body.count);
    });
  });
});
