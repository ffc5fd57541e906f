/** `wharf enqueue --depends-on/--deadline/--correlation-id/--parent-job-id`, `wharf jobs list --correlation-id` and `wharf jobs result`. */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { jsonLines, killAllChildren, runCli, type CliResult } from "../helpers/cli.js";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { Streams } from "../helpers/jobs.js";

let server: TestServer;
const streams = new Streams(() => server.url);
const wharf = (...args: string[]): Promise<CliResult> => runCli([...args, "--url", server.url, "--json"]);

before(async () => {
  server = await startTestServer();
});

after(async () => {
  streams.closeAll();
  killAllChildren();
  await server.close();
});

function printed(result: CliResult): Array<Record<string, unknown>> {
  assert.equal(result.code, 0, result.stderr);
  return jsonLines(result.stdout) as Array<Record<string, unknown>>;
}

it("enqueues with a deadline and correlation metadata, lists by correlation id, and prints a completed job's result", async () => {
  const queue = uniqueName("cli-results");
  const correlation = uniqueName("order");
  const deadline = "2099-01-01T00:00:00.000Z";
  const [job] = printed(await wharf("enqueue", queue, "t", "{}", "--deadline", deadline, "--correlation-id", correlation, "--parent-job-id", "upstream-7"));
  assert.equal(job!.deadline, Date.parse(deadline));
  assert.equal(job!.correlation_id, correlation);
  assert.equal(job!.parent_job_id, "upstream-7");
  printed(await wharf("enqueue", queue, "t", "{}"));
  const listed = printed(await wharf("jobs", "list", "--queue", queue, "--correlation-id", correlation));
  assert.deepEqual(listed.map((row) => row.id), [job!.id]);

  const early = await wharf("jobs", "result", String(job!.id));
  assert.notEqual(early.code, 0, "no result before the job completes");
  assert.match(early.stderr, /has a result once it has completed/);

  await api(server.url, "PATCH", `/jobs/${String(job!.id)}`, { body: { retention: { completed_ms: 60_000 } } });
  const stream = await streams.take({ queue, prefetch: 1 });
  const taken = await stream.nextJob();
  assert.equal(taken.id, job!.id);
  assert.equal((await api(server.url, "POST", `/jobs/${taken.id}/success`, { body: { result: { total: 12 } } })).status, 204);
  assert.deepEqual(printed(await wharf("jobs", "result", taken.id)), [{ result: { total: 12 } }]);
  streams.close(stream);

  const bad = await runCli(["enqueue", queue, "t", "{}", "--deadline", "soon", "--url", server.url]);
  assert.equal(bad.code, 2, bad.stderr);
});

it("enqueues a job that waits for others with --depends-on; an unknown dependency is exit 2", async () => {
  const queue = uniqueName("cli-deps");
  const [first] = printed(await wharf("enqueue", queue, "t", "1"));
  const [second] = printed(await wharf("enqueue", queue, "t", "2"));
  const [waiting] = printed(await wharf("enqueue", queue, "t", "3", "--depends-on", `${String(first!.id)},${String(second!.id)}`));
  assert.equal(waiting!.status, "blocked");
  assert.deepEqual(waiting!.dependencies, [first!.id, second!.id]);
  assert.deepEqual(printed(await wharf("jobs", "list", "--queue", queue, "--status", "blocked")).map((row) => row.id), [waiting!.id]);
  const unknown = await runCli(["enqueue", queue, "t", "4", "--depends-on", "0000000000000000000000000", "--url", server.url]);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /does not exist/);
});
