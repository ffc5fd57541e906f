import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { api, uniqueName } from "../helpers/server.js";
import { cliAgainstTestServer, describeRun, failed, onlyLine, closedPort, runCli } from "../helpers/cli.js";
import { VERSION } from "../../src/version.js";

describe("wharf CLI: usage errors", () => {
  const cli = cliAgainstTestServer();

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
        const queueCount = (await api(cli.url, "GET", "/jobs/count")).body.count;
        failed(await cli.wharf(...args), 2, message);
        assert.equal((await api(cli.url, "GET", "/jobs/count")).body.count, queueCount, "nothing was enqueued or deleted");
      });
    }

    it("typos in commands and options get a suggestion", async () => {
      failed(await cli.wharf("jobz"), 2, /unknown command 'jobz'\n\(Did you mean jobs\?\)/);
      failed(await cli.wharf("jobs", "lst"), 2, /unknown command 'lst'\n\(Did you mean list\?\)/);
      failed(await cli.wharf("jobs", "list", "--limt", "3"), 2, /unknown option '--limt'\n\(Did you mean --limit\?\)/);
      failed(await cli.wharf("enqueue", "q", "t", "{}", "--priorty", "3"), 2, /\(Did you mean --priority\?\)/);
    });

    it("every usage error ends with a pointer to --help", async () => {
      for (const args of [["frobnicate"], ["jobs", "retry"], ["jobs", "list", "--queue", ""]]) {
        const result = await cli.wharf(...args);
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
      onlyLine(await cli.wharf("enqueue", queue, "t", "1"));
      const port = await closedPort();
      const list = await runCli(["jobs", "list", "--help", "--url", `http://127.0.0.1:${port}`]);
      assert.equal(list.code, 0, describeRun(list));
      assert.match(list.stdout, /^Usage: wharf jobs list \[options\]/);
      assert.match(list.stdout, /Filters \(every one must hold\):\n {2}--id <ids>/);
      for (const args of [["jobs", "delete", "--queue", queue, "--all", "--yes", "--help"], ["reset", "--yes", "-h"], ["enqueue", queue, "t", "2", "--help"]]) {
        const result = await cli.wharf(...args);
        assert.equal(result.code, 0, describeRun(result));
        assert.match(result.stdout, new RegExp(`^Usage: wharf ${args[0]}`));
      }
      assert.equal((await api(cli.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 1, "nothing was deleted or enqueued");
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
});
