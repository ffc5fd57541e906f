/** `wharf enqueue` with --batch-key, --batch-when and --batch-fold against a running server. */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { jsonLines, killAllChildren, runCli, type CliResult } from "../helpers/cli.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";

let server: TestServer;
const wharf = (...args: string[]): Promise<CliResult> => runCli([...args, "--url", server.url]);

before(async () => {
  server = await startTestServer();
});

after(async () => {
  killAllChildren();
  await server.close();
});

function printedJob(result: CliResult): Record<string, unknown> {
  assert.equal(result.code, 0, result.stderr);
  const [job] = jsonLines(result.stdout) as Array<Record<string, unknown>>;
  return job!;
}

it("the batch flags fold into the batch's open job; a refused expression or a flag alone is exit 2, naming the flag", async () => {
  const queue = uniqueName("batch");
  const flags = ["--batch-key", `key-${queue}`, "--batch-when", "true", "--batch-fold", "$existing + $new"];
  const first = printedJob(await wharf("enqueue", queue, "t", "[1]", ...flags));
  assert.equal(first.folded, false);
  const second = printedJob(await wharf("enqueue", queue, "t", "[2]", ...flags));
  assert.deepEqual([second.folded, second.id], [true, first.id]);
  assert.deepEqual((await api(server.url, "GET", `/jobs/${String(first.id)}`)).body.payload, [1, 2]);
  const refused = await wharf("enqueue", queue, "t", "[3]", "--batch-key", "k", "--batch-when", "(", "--batch-fold", ".");
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--batch-when is not a valid jq expression/);
  const alone = await wharf("enqueue", queue, "t", "[3]", "--batch-key", "k");
  assert.equal(alone.code, 2, alone.stderr);
  assert.match(alone.stderr, /go together/);
});
