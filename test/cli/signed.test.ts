/**
 * Signed jobs from the command line: `wharf signing-key new` writes a key pair (the private key 0600),
 * `wharf serve --trusted-key-file --require-signed` takes only jobs that key signed, and
 * `wharf enqueue --signing-key-file` signs; keys and flags the CLI cannot use are exit 2.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { describeRun, failed, killAllChildren, ok, onlyLine, runCli, spawnServer } from "../helpers/cli.js";
import { api, tempDir, uniqueName } from "../helpers/server.js";

after(killAllChildren);

const dir = tempDir("wharf-signed-cli-");
after(() => rmSync(dir, { recursive: true, force: true }));

function serve(...args: string[]): ReturnType<typeof runCli> {
  return runCli(["serve", "--port", "0", "--data-dir", join(dir, uniqueName("data")), "--durability", "buffered", ...args]);
}

describe("wharf signing-key new, serve --trusted-key-file --require-signed, enqueue --signing-key-file", () => {
  const keys = join(dir, "keys");

  test("writes the pair (private key 0600, public 0644) and refuses to overwrite it without --force", async () => {
    const made = ok(await runCli(["signing-key", "new", "--out-dir", keys, "--name", "producer", "--json"]));
    assert.deepEqual(made, [{ wrote: join(keys, "producer.pem") }, { wrote: join(keys, "producer.pub.pem") }]);
    assert.equal(statSync(join(keys, "producer.pem")).mode & 0o777, 0o600);
    assert.equal(statSync(join(keys, "producer.pub.pem")).mode & 0o777, 0o644);
    assert.match(readFileSync(join(keys, "producer.pem"), "utf8"), /^-----BEGIN PRIVATE KEY-----/);
    failed(await runCli(["signing-key", "new", "--out-dir", keys, "--name", "producer"]), 2, /producer\.pem, .*producer\.pub\.pem already exist; --force/);
    ok(await runCli(["signing-key", "new", "--out-dir", keys, "--name", "other", "--json"]));
  });

  test("a server requiring signatures takes the signed enqueue, refuses the unsigned one (exit 2) and one by another key (exit 1)", async () => {
    const server = await spawnServer({ dataDir: join(dir, uniqueName("data")), extraArgs: ["--trusted-key-file", join(keys, "producer.pub.pem"), "--require-signed"] });
    try {
      const queue = uniqueName("signed");
      const job = onlyLine(await runCli(["enqueue", queue, "t", '{"n":1}', "--url", server.url, "--signing-key-file", join(keys, "producer.pem")]));
      assert.equal(typeof job.signature, "string");
      assert.equal((await api(server.url, "GET", `/jobs/${job.id as string}`)).body.signature, job.signature);
      const viaEnv = await runCli(["enqueue", queue, "t", "2", "--url", server.url], { env: { WHARF_SIGNING_KEY_FILE: join(keys, "producer.pem") } });
      assert.equal(viaEnv.code, 0, describeRun(viaEnv));
      failed(await runCli(["enqueue", queue, "t", "3", "--url", server.url]), 2, /is not signed, and queue .* takes only jobs signed by a trusted key/);
      failed(await runCli(["enqueue", queue, "t", "4", "--url", server.url, "--signing-key-file", join(keys, "other.pem")]), 1, /signature does not verify with any trusted key/);
      assert.equal((await api(server.url, "GET", `/jobs/count?queue=${queue}`)).body.count, 2);
    } finally {
      await server.stop();
    }
  });

  test("keys and flags it cannot use are exit 2, naming the flag", async () => {
    const notAKey = join(dir, "not-a-key.pem");
    writeFileSync(notAKey, "hello\n");
    const cases: Array<[string[], RegExp]> = [
      [["--require-signed"], /--require-signed needs --trusted-key-file/],
      [["--trusted-key-file", join(dir, "missing.pem")], /--trusted-key-file: cannot read .*missing\.pem \(ENOENT\)/],
      [["--trusted-key-file", notAKey], /--trusted-key-file: .*not-a-key\.pem holds no public key in PEM form/],
    ];
    for (const [args, pattern] of cases) failed(await serve(...args), 2, pattern);
    failed(await runCli(["enqueue", "q", "t", "1", "--signing-key-file", join(keys, "producer.pub.pem")]), 2, /--signing-key-file: .*holds no private key in PEM form/);
  });
});
