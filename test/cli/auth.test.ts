/**
 * Authentication from the command line: `wharf serve --auth-file` refusing a bad token file (exit 2,
 * never echoing a token), the loopback rule without one, `wharf token new` making a usable token
 * file, and the remote commands carrying a token from --token or WHARF_TOKEN.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { jsonLines, killAllChildren, runCli, spawnServer, type CliResult } from "../helpers/cli.js";
import { api, tempDir, uniqueName, type ApiCall } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";

after(killAllChildren);

const dir = tempDir("wharf-auth-cli-");
after(() => rmSync(dir, { recursive: true, force: true }));

function describeRun(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** A file in the test's directory holding `text`; its path. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function serve(...args: string[]): Promise<CliResult> {
  return runCli(["serve", "--port", "0", "--data-dir", join(dir, uniqueName("data")), "--durability", "buffered", ...args]);
}

describe("wharf serve --auth-file refuses a token file it cannot use: exit 2, naming the entry, never the token", { concurrency: true }, () => {
  // Every kind of mistake is in test/http/tokens.test.ts; these are the ones the command line is checked with.
  const SECRET = "s3cret-T0ken-value";
  const entry = (fields: Record<string, unknown>): Record<string, unknown> => ({ name: "ci", token: SECRET, scopes: ["enqueue"], ...fields });
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", `{"tokens": [\n  {"name": "ci",\n   "token": "${SECRET}" "scopes": []}]}`, /not valid JSON at line 3, column 34/],
    ["an unknown scope", JSON.stringify({ tokens: [entry({ scopes: ["enqueue", "superuser"] })] }), /tokens\[0\] \("ci"\): unknown scope "superuser"/],
    ["a duplicate token", JSON.stringify({ tokens: [entry({}), entry({ name: "cd" })] }), /tokens\[1\] \("cd"\) has the same token as tokens\[0\] \("ci"\)/],
    ["an empty token", JSON.stringify({ tokens: [entry({ token: "" })] }), /tokens\[0\] \("ci"\): token must be a non-empty string/],
  ];
  for (const [what, text, message] of cases) {
    test(what, async () => {
      const result = await serve("--auth-file", file(`${uniqueName("tokens")}.json`, text));
      assert.equal(result.code, 2, describeRun(result));
      assert.match(result.stderr, /^wharf: --auth-file: /, describeRun(result));
      assert.match(result.stderr, message, describeRun(result));
      assert.ok(!result.stderr.includes(SECRET) && !result.stdout.includes(SECRET), `the token is echoed: ${describeRun(result)}`);
    });
  }
});

describe("without --auth-file the server listens on loopback only", () => {
  test("--host 0.0.0.0 is refused with exit 2, saying what to give", async () => {
    const result = await serve("--host", "0.0.0.0");
    assert.equal(result.code, 2, describeRun(result));
    assert.match(result.stderr, /--auth-file/);
    assert.match(result.stderr, /--insecure-no-auth/);
  });

  test("--host 0.0.0.0 with --insecure-no-auth starts, as does 0.0.0.0 with --auth-file", async (t) => {
    const tokens = file("host-tokens.json", JSON.stringify({ tokens: [{ name: "ops", token: "ops-token", scopes: ["read"] }] }));
    for (const extra of [["--insecure-no-auth"], ["--auth-file", tokens]]) {
      const server = await spawnServer({ dataDir: join(dir, uniqueName("data")), extraArgs: ["--host", "0.0.0.0", ...extra] });
      t.after(() => server.stop());
      assert.match(server.url, /^http:\/\/0\.0\.0\.0:/);
      assert.equal((await api(`http://127.0.0.1:${server.port}`, "GET", "/health")).status, 200);
      await server.stop();
    }
  });

  test("--auth-file with --insecure-no-auth is a contradiction", async () => {
    const tokens = file("contradiction.json", JSON.stringify({ tokens: [{ name: "ops", token: "ops-token", scopes: ["read"] }] }));
    const result = await serve("--auth-file", tokens, "--insecure-no-auth");
    assert.equal(result.code, 2, describeRun(result));
    assert.match(result.stderr, /contradict/);
  });
});

describe("limits per token from the command line", () => {
  test("--max-requests-per-token and --max-take-streams-per-token hold each token to them: 429 with Retry-After past them", async (t) => {
    const tokens = file("limited.json", JSON.stringify({ tokens: [{ name: "ci", token: "ci-token", scopes: ["read", "work"] }, { name: "ops", token: "ops-token", scopes: ["read"] }] }));
    const server = await spawnServer({ dataDir: join(dir, uniqueName("data")), extraArgs: ["--auth-file", tokens, "--max-requests-per-token", "3", "--max-take-streams-per-token", "1"] });
    t.after(() => server.stop());
    const as = (token: string): ApiCall => ({ headers: { authorization: `Bearer ${token}` } });
    // A bucket of 3 refilled at 3 per second: a fourth request at once is over it, however slow the machine, within a third of a second.
    const statuses = await Promise.all(Array.from({ length: 6 }, () => api(server.url, "GET", "/jobs/count", as("ci-token"))));
    const limited = statuses.filter((result) => result.status === 429);
    assert.ok(limited.length >= 1 && statuses.filter((result) => result.status === 200).length >= 3, JSON.stringify(statuses.map((result) => result.status)));
    assert.equal(limited[0]!.headers.get("retry-after"), "1");
    assert.match(limited[0]!.body.error, /ci is over its rate of 3 requests per 1000 ms/);
    assert.equal((await api(server.url, "GET", "/jobs/count", as("ops-token"))).status, 200, "another token has its own bucket");
    const stream = openTake(server.url, { token: "ops-token", queue: "held" });
    await assert.rejects(stream.opened, /HTTP 403/, "ops has no work scope");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const held = openTake(server.url, { token: "ci-token", queue: "held" });
    t.after(() => held.close());
    await held.opened;
    await assert.rejects(openTake(server.url, { token: "ci-token", queue: "held" }).opened, /HTTP 429.*ci has 1 take streams open/);
  });

  test("limits that are not whole numbers of 1 or more, or on a server without tokens or certificates, are usage errors", async () => {
    for (const flag of ["--max-requests-per-token", "--max-take-streams-per-token", "--max-connections-per-token"]) {
      const zero = await serve(flag, "0");
      assert.equal(zero.code, 2, describeRun(zero));
      assert.match(zero.stderr, new RegExp(`${flag}.*must be 1 or more`), describeRun(zero));
      const nobody = await serve(flag, "5");
      assert.equal(nobody.code, 2, describeRun(nobody));
      assert.match(nobody.stderr, new RegExp(`${flag} limits each token or client certificate, and this server has neither`), describeRun(nobody));
    }
  });
});

describe("wharf token new, and remote commands with --token or WHARF_TOKEN", () => {
  test("its output is a usable token file entry; the CLI sends the token and reports 401 and 403 with the server's message", async (t) => {
    const made = await runCli(["token", "new", "--name", "ci", "--scopes", "enqueue,read", "--queues", "emails.*"]);
    assert.equal(made.code, 0, describeRun(made));
    const [token, line, ...rest] = made.stdout.trimEnd().split("\n");
    assert.deepEqual(rest, []);
    assert.match(token!, /^wharf_[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
    const entry = JSON.parse(line!) as Record<string, unknown>;
    assert.deepEqual({ ...entry, token: undefined }, { name: "ci", token: undefined, scopes: ["enqueue", "read"], queues: ["emails.*"] });
    assert.match(entry.token as string, /^sha256:[0-9a-f]{64}$/);
    assert.ok(!line!.includes(token!), "the entry holds the hash only");

    const tokens = file("made.json", JSON.stringify({ tokens: [entry] }));
    const server = await spawnServer({ dataDir: join(dir, uniqueName("data")), extraArgs: ["--auth-file", tokens] });
    t.after(() => server.stop());
    const wharf = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli([...args, "--url", server.url], { env });

    const enqueued = await wharf(["enqueue", "emails.welcome", "send", "{}"], { WHARF_TOKEN: token! });
    assert.equal(enqueued.code, 0, describeRun(enqueued));
    const counted = await wharf(["jobs", "count", "--token", token!]);
    assert.deepEqual(jsonLines(counted.stdout), [{ count: 1 }], describeRun(counted));

    const anonymous = await wharf(["jobs", "count"]);
    assert.equal(anonymous.code, 1, describeRun(anonymous));
    assert.match(anonymous.stderr, /needs a bearer token.*HTTP 401.*--token or WHARF_TOKEN/);
    const wrong = await wharf(["jobs", "count"], { WHARF_TOKEN: "wharf_not-the-token" });
    assert.equal(wrong.code, 1, describeRun(wrong));
    assert.match(wrong.stderr, /unknown bearer token/);
    assert.ok(!wrong.stderr.includes("wharf_not-the-token"), "the token is not echoed");

    const outOfScope = await wharf(["reset", "--yes"], { WHARF_TOKEN: token! });
    assert.equal(outOfScope.code, 1, describeRun(outOfScope));
    assert.match(outOfScope.stderr, /ci has no admin scope.*\(HTTP 403\)/);
    const outsideQueues = await wharf(["enqueue", "billing", "charge", "{}"], { WHARF_TOKEN: token! });
    assert.equal(outsideQueues.code, 1, describeRun(outsideQueues));
    assert.match(outsideQueues.stderr, /ci may reach only queues "emails\.\*", not queue "billing" \(HTTP 403\)/);
  });

  test("without options it makes a token of every scope and every queue; a bad pattern is a usage error", async () => {
    const made = await runCli(["token", "new"]);
    assert.equal(made.code, 0, describeRun(made));
    const entry = JSON.parse(made.stdout.trimEnd().split("\n")[1]!) as Record<string, unknown>;
    assert.deepEqual(entry.scopes, ["enqueue", "work", "read", "admin"]);
    assert.equal(entry.queues, undefined);
    assert.match(entry.name as string, /^token-[0-9a-f]{8}$/);
    const bad = await runCli(["token", "new", "--queues", "a?b"]);
    assert.equal(bad.code, 2, describeRun(bad));
    assert.match(bad.stderr, /queue pattern "a\?b"/);
  });

  test("--max-requests-per-second, --max-take-streams and --max-connections write the entry's limits, which a server then enforces", async (t) => {
    const made = await runCli(["token", "new", "--name", "limited", "--max-requests-per-second", "1", "--max-take-streams", "1", "--max-connections", "3"]);
    assert.equal(made.code, 0, describeRun(made));
    const [token, line] = made.stdout.trimEnd().split("\n");
    const entry = JSON.parse(line!) as Record<string, unknown>;
    assert.deepEqual([entry.rate, entry.max_take_streams, entry.max_connections], [{ requests: 1, per_ms: 1000 }, 1, 3]);
    const server = await spawnServer({ dataDir: join(dir, uniqueName("data")), extraArgs: ["--auth-file", file("limited.json", JSON.stringify({ tokens: [entry] }))] });
    t.after(() => server.stop());
    const statuses = [];
    for (let n = 0; n < 2; n++) statuses.push((await fetch(`${server.url}/jobs/count`, { headers: { authorization: `Bearer ${token!}` } })).status);
    assert.deepEqual(statuses, [200, 429], "one a second: the second at once is refused");
    const zero = await runCli(["token", "new", "--max-take-streams", "0"]);
    assert.equal(zero.code, 2, describeRun(zero));
  });
});
