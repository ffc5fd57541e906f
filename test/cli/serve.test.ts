/** `wharf serve` as a child process: listening, health, signals, restarts, its data directory and its refusals. */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { api, tempDir } from "../helpers/server.js";
import { describeRun, failed, killAllChildren, ok, runCli, spawnServer, type CliResult, type Printed } from "../helpers/cli.js";
import { openTake } from "../helpers/take.js";

/** Asserts a successful run that printed exactly one JSON line, and returns it. */
function one(result: CliResult): Printed {
  const lines = ok(result);
  assert.equal(lines.length, 1, describeRun(result));
  return lines[0]!;
}

after(killAllChildren);

describe("wharf serve", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await killAllChildren();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("listens on a free port, answers /health, exits 0 on SIGTERM and keeps its jobs across restarts", async () => {
    const dataDir = tempDir("wharf-cli-serve-");
    dirs.push(dataDir);
    const first = await spawnServer({ dataDir });
    assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(first.port, 0);
    const health = await api(first.url, "GET", "/health");
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok" });
    assert.deepEqual(one(await runCli(["health", "--url", first.url])), { status: "ok" });
    const job = one(await runCli(["enqueue", "persist", "t", '{"kept":true}', "--url", first.url]));

    first.kill("SIGTERM");
    const exit = await first.waitExit();
    assert.deepEqual(exit, { code: 0, signal: null }, JSON.stringify(first.output()));
    assert.match(first.output().stdout, /"signal":"SIGTERM","msg":"shutting down"/);

    const second = await spawnServer({ dataDir });
    const stored = one(await runCli(["jobs", "get", job.id as string], { env: { WHARF_URL: second.url } }));
    assert.deepEqual(stored.payload, { kept: true });
    assert.equal(stored.status, "ready");
    second.kill("SIGINT");
    assert.deepEqual(await second.waitExit(), { code: 0, signal: null }, JSON.stringify(second.output()));
  });

  it("SIGTERM with an open take stream returns the leased job to ready", async () => {
    const dataDir = tempDir("wharf-cli-serve-");
    dirs.push(dataDir);
    const first = await spawnServer({ dataDir, durability: "fsync" });
    const id = (await api(first.url, "POST", "/jobs", { body: { queue: "held", type: "t", payload: 1 } })).body.id as string;
    const stream = openTake(first.url, { queue: "held", prefetch: 1 });
    try {
      assert.equal((await stream.next(5000))?.id, id);
      assert.equal((await api(first.url, "GET", `/jobs/${id}`)).body.status, "in_flight");
      first.kill("SIGTERM");
      assert.deepEqual(await first.waitExit(), { code: 0, signal: null }, JSON.stringify(first.output()));
    } finally {
      stream.close();
    }
    const second = await spawnServer({ dataDir, durability: "fsync" });
    const job = await api(second.url, "GET", `/jobs/${id}`);
    assert.equal(job.body.status, "ready");
    assert.equal(job.body.attempts, 0);
  });

  it("refuses extra arguments and invalid values with exit 2 before touching the disk", async () => {
    const parent = tempDir("wharf-cli-serve-");
    dirs.push(parent);
    const dataDir = join(parent, "data");
    const cases: Array<[string[], RegExp]> = [
      [["extra"], /too many arguments for 'serve'/],
      [["--port", "70000"], /--port <port>' argument '70000' is invalid. must be from 0 to 65535/],
      [["--port", "-1"], /--port.*must be from 0 to 65535/],
      [["--port", "eighty"], /--port.*must be an integer/],
      [["--port", "80.5"], /--port.*must be an integer/],
      [["--durability", "sometimes"], /--durability <mode>' argument 'sometimes' is invalid. Allowed choices are fsync, buffered/],
      [["--log-level", "loud"], /--log-level <level>' argument 'loud' is invalid. Allowed choices are silent, fatal, error, warn, info, debug, trace/],
      [["--lease-timeout", "0"], /--lease-timeout.*greater than 0/],
      [["--lease-timeout", "-5"], /--lease-timeout.*greater than 0/],
      [["--max-in-flight", "0"], /--max-in-flight.*must be 1 or more/],
      [["--max-body-bytes", "-1"], /--max-body-bytes.*must be 1 or more/],
      [["--retry-limit", "-1"], /--retry-limit.*must be from 0/],
      [["--completed-retention-ms", "-1"], /--completed-retention-ms.*must be 0 or more/],
      [["--dead-retention-ms", "soon"], /--dead-retention-ms.*must be an integer/],
      [["--filter-timeout-ms", "0"], /--filter-timeout-ms.*must be 1 or more/],
      [["--filter-memory-mb", "0"], /--filter-memory-mb.*must be 1 or more/],
      [["--store", "mysql://x"], /--store/],
      [["--data-dir", ""], /--data-dir.*must not be empty/],
      [["--prot", "1"], /Did you mean --port\?/],
      [["--allowed-origin", "https://ops.example.com/ui"], /--allowed-origin: "https:\/\/ops.example.com\/ui" is not an origin/],
    ];
    for (const [args, message] of cases) {
      failed(await runCli(["serve", "--data-dir", dataDir, ...args]), 2, message);
      assert.equal(existsSync(dataDir), false, `wharf serve ${args.join(" ")} created ${dataDir}`);
    }
  });

  it("serve --help prints its options and neither starts a server nor creates ./wharf-data", async () => {
    const cwd = tempDir("wharf-cli-cwd-");
    dirs.push(cwd);
    const result = await runCli(["serve", "--help"], { cwd });
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^Usage: wharf serve \[options\]/);
    assert.match(result.stdout, /--log-level <level>/);
    assert.doesNotMatch(result.stdout, /listening/);
    assert.deepEqual(readdirSync(cwd), [], "nothing was created in the working directory");
  });

  it("accepts --log-level and starts", async () => {
    const dataDir = tempDir("wharf-cli-serve-");
    dirs.push(dataDir);
    const server = await spawnServer({ dataDir, extraArgs: ["--log-level", "debug"] });
    assert.equal((await api(server.url, "GET", "/health")).status, 200);
  });

  it("fails with a non-zero exit when the port is taken", async () => {
    const dataDir = tempDir("wharf-cli-serve-");
    dirs.push(dataDir);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address() as net.AddressInfo;
      const result = await runCli(["serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir]);
      assert.notEqual(result.code, 0, describeRun(result));
      assert.match(result.stderr, /EADDRINUSE/, describeRun(result));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
