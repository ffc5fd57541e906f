/**
 * The logs: JSON lines with time and level from `wharf serve`, the request log at debug only, the
 * job lifecycle at info (failed, dead, lease expired), rescued leases and leadership on PostgreSQL, and the SDK's
 * loggers (open() and the Worker). Runs on the store WHARF_TEST_STORE names.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test, type TestContext } from "node:test";
import { pino } from "pino";
import { BadRequestError, connect, open, Worker, type Logger } from "../../src/index.js";
import type { LogLevel } from "../../src/log-level.js";
import { jsonLines, killAllChildren, spawnServer } from "../helpers/cli.js";
import { recordingLogger, withMessage, type LogLine } from "../helpers/logs.js";
import { createDatabase } from "../helpers/postgres.js";
import { ack, enqueue, failJob, getJob, Streams, takeOne } from "../helpers/jobs.js";
import { api, eventually, startTestServer, tempDir, TEST_STORE, uniqueName, type TestServer } from "../helpers/server.js";
import { openTake } from "../helpers/take.js";
import { cleanups } from "../helpers/transports.js";

after(() => killAllChildren());

/** A test server logging at `level` into lines the test reads. */
async function loggingServer(t: TestContext, level: LogLevel): Promise<{ h: TestServer; lines: LogLine[]; streams: Streams }> {
  const { logger, lines } = recordingLogger(level);
  const h = await startTestServer({ logger });
  const streams = new Streams(() => h.url);
  const defer = cleanups(t);
  defer(() => h.close());
  defer(() => streams.closeAll());
  return { h, lines, streams };
}

test("wharf serve writes JSON lines with time and level: listening at start, shutting down and closed at the end", async (t) => {
  const dataDir = tempDir("wharf-logs-");
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({ dataDir });
  t.after(() => server.stop());
  assert.equal((await api(server.url, "GET", "/jobs")).status, 200);
  server.kill("SIGTERM");
  assert.deepEqual(await server.waitExit(), { code: 0, signal: null });
  const lines = jsonLines(server.output().stdout) as LogLine[];
  assert.deepEqual(lines.map((line) => line.msg), ["listening", "shutting down", "closed"], "info level: no request line");
  for (const line of lines) {
    assert.equal(line.level, "info");
    assert.ok(!Number.isNaN(Date.parse(line.time)) && line.time.endsWith("Z"), `an ISO time: ${line.time}`);
    assert.equal(line.pid, server.child.pid);
  }
  assert.equal(lines[0]!.url, server.url);
  assert.equal(lines[1]!.signal, "SIGTERM");
});

test("at debug, every request is logged once its response ends: method, path without the query, status, duration; never the body", async (t) => {
  const { h, lines } = await loggingServer(t, "debug");
  const queue = uniqueName();
  const secret = uniqueName("secret");
  await enqueue(h.url, queue, { payload: { secret } });
  assert.equal((await api(h.url, "GET", `/jobs?queue=${queue}`)).status, 200);
  assert.equal((await api(h.url, "GET", "/jobs/no-such-job")).status, 404);
  const requests = await eventually(() => {
    const found = withMessage(lines, "request");
    return found.length >= 3 && found;
  }, 2000, "three request lines");
  assert.deepEqual(requests.map(({ method, path, status }) => [method, path, status]), [["POST", "/jobs", 201], ["GET", "/jobs", 200], ["GET", "/jobs/no-such-job", 404]]);
  for (const line of requests) {
    assert.equal(line.level, "debug");
    assert.equal(typeof line.duration_ms, "number");
    assert.ok((line.duration_ms as number) >= 0);
  }
  assert.ok(!JSON.stringify(lines).includes(secret), "no payload in the log");
});

test("at info, requests are not logged", async (t) => {
  const { h, lines } = await loggingServer(t, "info");
  await enqueue(h.url, uniqueName());
  assert.equal((await api(h.url, "GET", "/jobs")).status, 200);
  await h.stop();
  assert.deepEqual(lines.map((line) => line.msg), ["listening", "closed"]);
});

test("a failed attempt logs a failed line with the retry time; the last one a failed line and a dead line", async (t) => {
  const { h, lines, streams } = await loggingServer(t, "info");
  const queue = uniqueName();
  const { job, stream } = await takeOne(streams, h.url, queue, { type: "charge", retry_limit: 1, backoff: { base_ms: 5000, exponent: 0, jitter_ms: 0 } });
  assert.equal((await failJob(h.url, job.id, { message: "card declined" })).status, 200);
  const [retried] = withMessage(lines, "job failed");
  assert.deepEqual(retried, {
    ...retried!,
    level: "info", job: job.id, queue, type: "charge", attempt: 1, error: "card declined",
    status: "scheduled", retry_at: new Date((await getJob(h.url, job.id)).ready_at).toISOString(),
  });
  assert.equal(withMessage(lines, "job dead").length, 0);

  await h.clock.advance(6000);
  const again = await stream.nextJob();
  assert.equal(again.id, job.id);
  assert.equal((await failJob(h.url, job.id, { message: "card declined again" })).status, 200);
  const failed = withMessage(lines, "job failed");
  assert.equal(failed.length, 2);
  assert.deepEqual([failed[1]!.attempt, failed[1]!.error, failed[1]!.status, failed[1]!.retry_at], [2, "card declined again", "dead", undefined]);
  const [dead] = withMessage(lines, "job dead");
  assert.deepEqual([dead?.level, dead?.job, dead?.queue, dead?.type, dead?.attempt], ["info", job.id, queue, "charge", 2]);
  assert.equal((await getJob(h.url, job.id)).status, "dead");
});

test("an expired lease logs where the job went", async (t) => {
  const { h, lines, streams } = await loggingServer(t, "info");
  const queue = uniqueName();
  const { job } = await takeOne(streams, h.url, queue, { timeout: 2, backoff: { base_ms: 1000, exponent: 0, jitter_ms: 0 } });
  await h.clock.advance(1000);
  assert.equal(withMessage(lines, "lease expired").length, 0, "not before the lease runs out");
  await h.clock.advance(2000);
  const [expired] = withMessage(lines, "lease expired");
  assert.ok(expired, `a lease expired line in ${JSON.stringify(lines)}`);
  assert.deepEqual([expired.job, expired.queue, expired.attempt, expired.status], [job.id, queue, 1, "scheduled"]);
  const retried = await getJob(h.url, job.id);
  assert.equal(expired.retry_at, new Date(retried.ready_at).toISOString());
  assert.equal(retried.ready_at, retried.failed_at! + 2000);
  assert.match(withMessage(lines, "job failed")[0]?.error as string, /lease expired/);
});

test("an ack logs nothing at info", async (t) => {
  const { h, lines, streams } = await loggingServer(t, "info");
  const { job } = await takeOne(streams, h.url, uniqueName());
  assert.equal((await ack(h.url, job.id)).status, 204);
  assert.deepEqual(lines.map((line) => line.msg), ["listening"]);
});

test("leadership on PostgreSQL: the first server becomes leader, steps down when it closes, and the other takes over", { skip: TEST_STORE !== "postgres" }, async (t) => {
  const database = await createDatabase(process.env.WHARF_TEST_POSTGRES_URL!);
  const first = recordingLogger("info");
  const second = recordingLogger("info");
  const defer = cleanups(t);
  const a = await startTestServer({ store: database, logger: first.logger });
  defer(() => a.close());
  await a.clock.advance(1000);
  assert.deepEqual(withMessage(first.lines, "became leader").length, 1);
  const b = await startTestServer({ store: database, logger: second.logger });
  defer(() => b.close());
  await b.clock.advance(1000);
  assert.equal(withMessage(second.lines, "became leader").length, 0, "one leader at a time");
  await a.stop();
  assert.deepEqual(first.lines.map((line) => line.msg).filter((msg) => msg.includes("lead")), ["became leader", "lost leadership"]);
  await eventually(async () => {
    await b.clock.advance(1000);
    return withMessage(second.lines, "became leader").length === 1;
  }, 5000, "the second server to lead");
});

test("leases of a server that is gone are logged as rescued by the server that gives them back (PostgreSQL)", { skip: TEST_STORE !== "postgres" }, async (t) => {
  const database = await createDatabase(process.env.WHARF_TEST_POSTGRES_URL!);
  const dataDir = tempDir("wharf-logs-");
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const gone = await spawnServer({ dataDir, extraArgs: ["--store", database] });
  t.after(() => gone.stop());
  const queue = uniqueName();
  const stream = openTake(gone.url, { queue });
  t.after(() => stream.close());
  await stream.opened;
  await enqueue(gone.url, queue);
  await stream.nextJob();
  gone.kill("SIGKILL");
  await gone.waitExit();
  const { logger, lines } = recordingLogger("info");
  const survivor = await startTestServer({ store: database, logger });
  t.after(() => survivor.close());
  const [rescued] = await eventually(async () => {
    await survivor.clock.advance(1000);
    const found = withMessage(lines, "leases rescued");
    return found.length > 0 && found;
  }, 10_000, "the lease to be rescued");
  assert.deepEqual([rescued!.count, rescued!.queues], [1, [queue]]);
});

test("open() logs the job lifecycle to its logger, and a Worker's error reports go to the Worker's logger", async (t) => {
  const engineLog = recordingLogger("info");
  const workerLog = recordingLogger("error");
  const client = await open({ store: "sqlite::memory:", logger: engineLog.logger });
  t.after(() => client.close());
  const queue = uniqueName();
  const job = await client.enqueue({ queue, type: "send", payload: {}, retry_limit: 0 });
  const worker = new Worker(client, {
    queues: [queue],
    handlers: {
      send: () => {
        throw new Error("smtp down");
      },
    },
    logger: workerLog.logger,
  });
  t.after(() => worker.stop());
  worker.start();
  await eventually(() => withMessage(engineLog.lines, "job dead").length === 1, 3000, "the job to die");
  assert.deepEqual(withMessage(engineLog.lines, "job failed").map((line) => [line.job, line.error]), [[job.id, "smtp down"]]);
  const [report] = withMessage(workerLog.lines, "worker error");
  assert.deepEqual([report?.level, report?.job, report?.type, report?.error], ["error", job.id, "send", "smtp down"]);
});

test("an unknown log level is a BadRequestError naming the levels", async () => {
  await assert.rejects(open({ store: "sqlite::memory:", logLevel: "verbose" as LogLevel }), (error: unknown) => {
    assert.ok(error instanceof BadRequestError);
    assert.equal(error.message, 'logLevel must be one of silent, fatal, error, warn, info, debug, trace, got "verbose"');
    return true;
  });
});

test("a Worker over HTTP reports connection trouble to its logger; a pino logger, or a child of one, is a Logger", async (t) => {
  const lines: LogLine[] = [];
  const parent = pino({ level: "error" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const logger: Logger = parent.child({ component: "worker" });
  const worker = new Worker(connect("http://127.0.0.1:1"), { queues: [uniqueName()], handlers: { t: () => undefined }, logger, reconnectMinMs: 10, reconnectMaxMs: 10 });
  t.after(() => worker.stop());
  worker.start();
  const [report] = await eventually(() => lines.length > 0 && lines, 5000, "a report of the refused connection");
  assert.equal(report!.msg, "worker error");
  assert.equal(report!.component, "worker");
  assert.equal(report!.level, 50, "pino's own level numbers: the logger is the caller's");
});
