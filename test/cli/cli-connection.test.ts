import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { api, uniqueName } from "../helpers/server.js";
import { cliAgainstTestServer, describeRun, failed, onlyLine, closedPort, runCli } from "../helpers/cli.js";

describe("wharf CLI: reaching the server, and its errors", () => {
  const cli = cliAgainstTestServer();

  describe("health and connection", () => {
    it("wharf health prints {\"status\":\"ok\"}", async () => {
      const result = await cli.wharf("health");
      assert.deepEqual(onlyLine(result), { status: "ok" });
      assert.equal(result.stdout, '{"status":"ok"}\n');
    });

    it("WHARF_URL is used when --url is not given", async () => {
      assert.deepEqual(onlyLine(await runCli(["health"], { env: { WHARF_URL: cli.url } })), { status: "ok" });
      const queue = uniqueName("env");
      const job = onlyLine(await runCli(["enqueue", queue, "t", "{}"], { env: { WHARF_URL: cli.url } }));
      assert.equal(job.queue, queue);
      assert.equal((await api(cli.url, "GET", `/jobs/${job.id}`)).status, 200);
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
      const result = await runCli(["health", "--url", cli.url], { env: { WHARF_URL: `http://127.0.0.1:${port}` } });
      assert.deepEqual(onlyLine(result), { status: "ok" });
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

  describe("server errors exit 1; values the server refuses exit 2, naming the flag", () => {
    it("an unknown job id is a 404, exit 1", async () => {
      const missing = "0000000000000000000000000";
      const commands = [["jobs", "get", missing], ["jobs", "delete", missing], ["jobs", "retry", missing], ["jobs", "errors", missing], ["jobs", "patch", missing, "--set-priority", "1"]];
      for (const args of commands) {
        const result = await cli.wharf(...args);
        failed(result, 1, new RegExp(`job ${missing} not found`));
        assert.match(result.stderr, /HTTP 404/, describeRun(result));
      }
    });

    it("a reserved character in the queue name (the server's 400) is exit 2 naming QUEUE", async () => {
      for (const queue of ["a,b", "with*star", "br[ack]et"]) {
        const result = await cli.wharf("enqueue", queue, "t", "{}");
        failed(result, 2, /^wharf: QUEUE .* contains a reserved character/);
        assert.ok(result.stderr.includes(JSON.stringify(queue)), describeRun(result));
      }
    });

    it("a jq filter the server cannot compile, or a unique scope without a key, is exit 2 naming the flag", async () => {
      failed(await cli.wharf("jobs", "list", "--filter", ".n >"), 2, /^wharf: --filter is not a valid jq expression/);
      failed(await cli.wharf("jobs", "count", "--filter", "input"), 2, /^wharf: --filter uses input/);
      failed(await cli.wharf("enqueue", uniqueName(), "t", "{}", "--unique-while", "active"), 2, /^wharf: --unique-while needs a unique_key/);
    });
  });
});
