/** `wharf queues get|set|pause|resume` (settings surviving a restart of `wharf serve` on its SQLite file) and `wharf jobs cancel`. */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import { jsonLines, killAllChildren, runCli, spawnServer, type CliResult } from "../helpers/cli.js";
import { enqueue } from "../helpers/jobs.js";
import { tempDir, uniqueName } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";

after(() => killAllChildren());

function printed(result: CliResult): Array<Record<string, unknown>> {
  assert.equal(result.code, 0, result.stderr);
  return jsonLines(result.stdout) as Array<Record<string, unknown>>;
}

test("pause, get, set and resume a queue from the CLI; a pause survives a restart; bad settings exit 2", async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  let server = await spawnServer({ dataDir, durability: "fsync" });
  const wharf = (...args: string[]): Promise<CliResult> => runCli([...args, "--url", server.url, "--json"]);
  const queue = uniqueName("cli-queue");
  const [paused] = printed(await wharf("queues", "pause", queue));
  assert.deepEqual(paused!.settings, { paused: true });
  const job = await enqueue(server.url, queue);
  await server.stop();

  server = await spawnServer({ dataDir });
  t.after(() => server.stop());
  const [read] = printed(await wharf("queues", "get", queue));
  assert.deepEqual(read, { queue, settings: { paused: true }, counts: { blocked: 0, scheduled: 0, ready: 1, in_flight: 0, completed: 0, dead: 0 } });
  const stream = openTake(server.url, { queue });
  t.after(() => stream.close());
  assert.equal(await stream.next(300), undefined, "still paused after the restart");
  const [set] = printed(await wharf("queues", "set", queue, "paused=null"));
  assert.deepEqual(set!.settings, { paused: false });
  assert.equal((await stream.nextJob(3000)).id, job.id);
  printed(await wharf("queues", "pause", queue));
  printed(await wharf("queues", "resume", queue));

  for (const args of [["queues", "set", queue, "paused"], ["queues", "set", queue, "paused=maybe"], ["queues", "set", queue, "colour=1"], ["queues", "set", queue, "max_age_ms=0"], ["queues", "set", queue, 'on_full="drop"']]) {
    const refused = await runCli([...args, "--url", server.url]);
    assert.equal(refused.code, 2, `${args.join(" ")}: ${refused.stderr}`);
    assert.notEqual(refused.stderr, "");
  }
});

test("wharf enqueue --retry-policy takes a name or a JSON policy; a bad one exits 2", async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir });
  t.after(() => server.stop());
  const queue = uniqueName("cli-policy");
  const enqueueWith = (policy: string): Promise<CliResult> => runCli(["enqueue", queue, "t", "{}", "--retry-policy", policy, "--url", server.url, "--json"]);
  assert.deepEqual(printed(await enqueueWith("linear_10m"))[0]!.retry_policy, { name: "linear_10m" });
  assert.deepEqual(printed(await enqueueWith('{"name": "constant", "delay_ms": 500}'))[0]!.retry_policy, { name: "constant", delay_ms: 500 });
  for (const bad of ["linear_2m", '{"name": "constant"}', "{nope"]) {
    const refused = await enqueueWith(bad);
    assert.equal(refused.code, 2, `${bad}: ${refused.stderr}`);
  }
});

test("wharf jobs cancel makes waiting jobs dead; an ended or unknown one exits non-zero", async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir });
  t.after(() => server.stop());
  const queue = uniqueName("cli-cancel");
  const [first, second] = [await enqueue(server.url, queue), await enqueue(server.url, queue)];
  const cancelled = printed(await runCli(["jobs", "cancel", first.id, second.id, "--url", server.url, "--json"]));
  assert.deepEqual(cancelled.map((job) => [job.id, job.status]), [[first.id, "dead"], [second.id, "dead"]]);
  const again = await runCli(["jobs", "cancel", first.id, "--url", server.url]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /only a job that has not ended can be cancelled/);
});

test("wharf queues set takes per-key and rate limits as JSON; wharf enqueue --concurrency-key names a job's lane; key expressions that differ exit 2", async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir });
  t.after(() => server.stop());
  const queue = uniqueName("cli-limits");
  const wharf = (...args: string[]): Promise<CliResult> => runCli([...args, "--url", server.url, "--json"]);
  const [set] = printed(await wharf("queues", "set", queue, 'concurrency_key={"limit": 1, "key": ".tenant"}', 'rate_limit={"limit": 5, "interval_ms": 1000}'));
  assert.deepEqual(set!.settings, { paused: false, concurrency_key: { limit: 1, key: ".tenant" }, rate_limit: { limit: 5, interval_ms: 1000 } });
  assert.equal(printed(await wharf("enqueue", queue, "t", '{"tenant": "a"}'))[0]!.concurrency_key, "a", "keyed by the queue's expression");
  assert.equal(printed(await wharf("enqueue", queue, "t", '{"tenant": "a"}', "--concurrency-key", "b"))[0]!.concurrency_key, "b", "its own key wins");
  const differing = await runCli(["queues", "set", queue, 'rate_limit={"limit": 5, "interval_ms": 1000, "key": ".other"}', "--url", server.url]);
  assert.equal(differing.code, 2, differing.stderr);
  assert.match(differing.stderr, /same expression/);
  const empty = await runCli(["enqueue", queue, "t", "{}", "--concurrency-key", "", "--url", server.url]);
  assert.equal(empty.code, 2, empty.stderr);
});
