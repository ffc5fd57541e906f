/**
 * The CLI on a real terminal (a pseudo-terminal from util-linux `script`): confirmation questions,
 * tables with human times; and on a real pipe that its reader closes early (EPIPE).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { cliCommandLine, killAllChildren, runCli, runInTerminal, runShell, type CliResult } from "../helpers/cli.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import type { Job } from "../../src/job/types.js";

function describeRun(result: CliResult): string {
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ""}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

after(killAllChildren);

describe("wharf on a terminal", () => {
  let server: TestServer;
  let url: string;
  const terminal = (args: string[], answer?: string): Promise<CliResult> => runInTerminal([...args, "--url", url], { answer });
  const count = async (query = ""): Promise<number> => (await api(url, "GET", `/jobs/count${query}`)).body.count as number;

  /** A fresh queue holding `n` ready jobs. */
  async function queueOf(n: number, prefix: string): Promise<{ queue: string; ids: string[] }> {
    const queue = uniqueName(prefix);
    const created = await api(url, "POST", "/jobs/bulk", { body: { jobs: Array.from({ length: n }, (_, index) => ({ queue, type: "t", payload: index })) } });
    return { queue, ids: (created.body.jobs as Job[]).map((job) => job.id) };
  }

  before(async () => {
    server = await startTestServer();
    url = server.url;
  });
  after(async () => {
    await server?.close();
  });

  describe("confirmation", () => {
    it("jobs delete --all asks how many it would delete; y deletes them", async () => {
      const { queue } = await queueOf(3, "yes");
      const result = await terminal(["jobs", "delete", "--queue", queue, "--all"], "y");
      assert.equal(result.code, 0, describeRun(result));
      assert.ok(result.stdout.includes(`Delete 3 jobs matching --queue ${queue}? Type y or yes to go ahead: `), describeRun(result));
      assert.match(result.stdout, /deleted +3\n/, describeRun(result));
      assert.equal(await count(`?queue=${queue}`), 0);
    });

    it("any answer but y or yes keeps every job and exits 1", async () => {
      const { queue } = await queueOf(2, "no");
      for (const answer of ["n", "", "yep"]) {
        const result = await terminal(["jobs", "delete", "--queue", queue, "--all"], answer);
        assert.equal(result.code, 1, describeRun(result));
        assert.match(result.stdout, /not confirmed; nothing was changed/, describeRun(result));
        assert.equal(await count(`?queue=${queue}`), 2);
      }
      const yes = await terminal(["jobs", "retry", "--queue", queue, "--all"], "YES");
      assert.equal(yes.code, 0, describeRun(yes));
      assert.match(yes.stdout, /Retry 2 jobs matching --queue/, describeRun(yes));
    });

    it("--yes does not ask, and --dry-run only counts", async () => {
      const { queue } = await queueOf(4, "flags");
      const dry = await terminal(["jobs", "patch", "--queue", queue, "--all", "--dry-run", "--set-priority", "1"]);
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stdout, /^would_patch +4\n$/, describeRun(dry));
      assert.equal(await count(`?queue=${queue}&priority=1`), 0);
      const yes = await terminal(["jobs", "patch", "--queue", queue, "--all", "--yes", "--set-priority", "1"]);
      assert.equal(yes.code, 0, describeRun(yes));
      assert.match(yes.stdout, /^patched +4\n$/, describeRun(yes));
      assert.equal(await count(`?queue=${queue}&priority=1`), 4);
    });

    it("reset says how many jobs it would delete and deletes every one on yes", async () => {
      await queueOf(2, "resetme");
      const total = await count();
      const declined = await terminal(["reset"], "no");
      assert.equal(declined.code, 1, describeRun(declined));
      assert.ok(declined.stdout.includes(`Delete every job (${total} jobs) with reset? Type y or yes`), describeRun(declined));
      assert.equal(await count(), total);
      const dry = await runCli(["reset", "--dry-run", "--url", url]);
      assert.equal(dry.stdout, `{"would_delete":${total}}\n`, describeRun(dry));
      const done = await terminal(["reset"], "yes");
      assert.equal(done.code, 0, describeRun(done));
      assert.equal(await count(), 0);
    });
  });

  describe("output", () => {
    it("jobs list is a table with human times; --json keeps JSON lines; a full page gets the notice", async () => {
      const queue = uniqueName("table");
      const inTwoHours = Date.now() + 2 * 3_600_000;
      const created = await api(url, "POST", "/jobs/bulk", {
        body: { jobs: [{ queue, type: "send_email", payload: { to: "a@example.com" }, ready_at: inTwoHours }, { queue, type: "t", payload: 2 }] },
      });
      const [later, ready] = (created.body.jobs as Job[]).map((job) => job.id);
      const table = await terminal(["jobs", "list", "--queue", queue]);
      assert.equal(table.code, 0, describeRun(table));
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(lines[0]!, /^ID +QUEUE +TYPE +STATUS +PRIORITY +ATTEMPTS +READY +PAYLOAD$/, describeRun(table));
      assert.match(lines[1]!, new RegExp(`^${later} +${queue} +send_email +scheduled +32768 +0 +in 1h +\\{"to":"a@example.com"\\}$`), describeRun(table));
      assert.match(lines[2]!, new RegExp(`^${ready} +${queue} +t +ready +32768 +0 +(now|\\d+s ago) +2$`), describeRun(table));
      assert.equal(lines.length, 3, describeRun(table));

      const json = await terminal(["jobs", "list", "--queue", queue, "--json"]);
      assert.deepEqual(json.stdout.trimEnd().split("\n").map((line) => (JSON.parse(line) as Job).id), [later, ready], describeRun(json));

      const capped = await terminal(["jobs", "list", "--queue", queue, "--limit", "1"]);
      assert.match(capped.stdout, new RegExp(`more jobs match; raise --limit \\(now 1\\) or continue with --from ${later}`), describeRun(capped));

      const one = await terminal(["jobs", "get", later!]);
      assert.match(one.stdout, /^ready_at +in 1h \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/m, describeRun(one));
      assert.match(one.stdout, /^payload +\{"to":"a@example.com"\}$/m, describeRun(one));
    });

    it("queues is a table of counts by status", async () => {
      const { queue } = await queueOf(3, "qtable");
      const result = await terminal(["queues"]);
      assert.equal(result.code, 0, describeRun(result));
      assert.match(result.stdout, /^QUEUE +BLOCKED +SCHEDULED +READY +IN_FLIGHT +COMPLETED +DEAD$/m, describeRun(result));
      assert.match(result.stdout, new RegExp(`^${queue} +0 +0 +3 +0 +0 +0$`, "m"), describeRun(result));
    });
  });

  it("a pipe its reader closes early (| head -1) ends the CLI quietly, exit 0", async () => {
    const queue = uniqueName("pipe");
    // 400 jobs of 2 KB: far more than a pipe holds, so the CLI is still writing when head exits.
    const big = "x".repeat(2000);
    await api(url, "POST", "/jobs/bulk", { body: { jobs: Array.from({ length: 400 }, (_, n) => ({ queue, type: "t", payload: { n, big } })) } });
    const result = await runShell(`${cliCommandLine(["jobs", "list", "--queue", queue, "--limit", "400", "--url", url])} | head -1; echo "exit \${PIPESTATUS[0]}" >&2`);
    assert.equal(result.code, 0, describeRun(result));
    assert.equal(result.stderr, "exit 0\n", describeRun(result));
    assert.equal((JSON.parse(result.stdout) as Job).queue, queue);
  });
});
