/** Small HTTP-level helpers shared by the black-box API tests in test/http/. */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import type { Job } from "../../src/job/types.js";
import { api, startTestServer, type ApiResult, type TestServer } from "./server.js";
import { openTake, type RawTakeStream, type TakeOptions } from "./take.js";

export type JobInput = Record<string, unknown>;

/** A valid enqueue body on `queue`, with `extra` fields merged over the defaults. */
export function jobInput(queue: string, extra: JobInput = {}): JobInput {
  return { queue, type: "test.job", payload: { n: 1 }, ...extra };
}

/** Asserts an error response: the expected status and a string `error` field. */
export function assertError(result: ApiResult, status: number, what = "request"): void {
  assert.equal(result.status, status, `${what}: expected HTTP ${status}, got ${result.status} ${JSON.stringify(result.body)}`);
  assert.equal(typeof result.body?.error, "string", `${what}: error body must carry a string "error": ${JSON.stringify(result.body)}`);
  assert.ok(result.body.error.length > 0, `${what}: "error" must not be empty`);
}

export function assertStatus(result: ApiResult, status: number, what = "request"): void {
  if (result.status === status) return;
  const body = JSON.stringify(result.body, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  assert.fail(`${what}: expected HTTP ${status}, got ${result.status} ${body}`);
}

/** POST /jobs, expecting 201; returns the enqueued job (without payload). */
export async function enqueue(url: string, queue: string, extra: JobInput = {}): Promise<Job> {
  const result = await api(url, "POST", "/jobs", { body: jobInput(queue, extra) });
  assertStatus(result, 201, "enqueue");
  return result.body as Job;
}

/** POST /jobs/bulk, expecting 201; returns the jobs in input order. */
export async function enqueueBulk(url: string, jobs: JobInput[]): Promise<Job[]> {
  const result = await api(url, "POST", "/jobs/bulk", { body: { jobs } });
  assertStatus(result, 201, "bulk enqueue");
  return result.body.jobs as Job[];
}

export async function getJob(url: string, id: string): Promise<Job> {
  const result = await api(url, "GET", `/jobs/${id}`);
  assertStatus(result, 200, `GET /jobs/${id}`);
  return result.body as Job;
}

/** GET /jobs/{id}: the status code (200 or 404) and the job when it exists. */
export async function findJob(url: string, id: string): Promise<Job | undefined> {
  const result = await api(url, "GET", `/jobs/${id}`);
  if (result.status === 404) return undefined;
  assertStatus(result, 200, `GET /jobs/${id}`);
  return result.body as Job;
}

export async function countJobs(url: string, query = ""): Promise<number> {
  const result = await api(url, "GET", `/jobs/count${query === "" ? "" : `?${query}`}`);
  assertStatus(result, 200, `GET /jobs/count?${query}`);
  return result.body.count as number;
}

/** GET /jobs with a query string, expecting 200; returns the page's jobs. */
export async function listJobs(url: string, query = ""): Promise<Job[]> {
  const result = await api(url, "GET", `/jobs${query === "" ? "" : `?${query}`}`);
  assertStatus(result, 200, `GET /jobs?${query}`);
  return result.body.jobs as Job[];
}

/** Ids of every job matching `query` (one page of up to 2000). */
export async function listIds(url: string, query: string): Promise<string[]> {
  return (await listJobs(url, `${query}&limit=2000`)).map((job) => job.id);
}

export async function ack(url: string, id: string, body?: Record<string, unknown>): Promise<ApiResult> {
  return api(url, "POST", `/jobs/${id}/success`, body === undefined ? {} : { body });
}

export async function failJob(url: string, id: string, body: Record<string, unknown> = { message: "boom" }): Promise<ApiResult> {
  return api(url, "POST", `/jobs/${id}/failure`, { body });
}

/** Streams opened by a test file, so `after` can close any a failed test left open. */
export class Streams {
  private readonly open = new Set<RawTakeStream>();

  constructor(private readonly url: () => string) {}

  /** Opens a take stream and waits until the server has registered it. */
  async take(options: TakeOptions = {}): Promise<RawTakeStream> {
    const stream = openTake(this.url(), options);
    this.open.add(stream);
    await stream.opened;
    return stream;
  }

  close(stream: RawTakeStream): void {
    stream.close();
    this.open.delete(stream);
  }

  closeAll(): void {
    for (const stream of this.open) stream.close();
    this.open.clear();
  }
}

/** Enqueues one job on a fresh stream's queue and takes it: the job comes back in flight. */
export async function takeOne(streams: Streams, url: string, queue: string, extra: JobInput = {}): Promise<{ job: Job; stream: RawTakeStream }> {
  const stream = await streams.take({ queue });
  const enqueued = await enqueue(url, queue, extra);
  const job = await stream.nextJob();
  assert.equal(job.id, enqueued.id);
  assert.equal(job.status, "in_flight");
  return { job, stream };
}

/**
 * Asserts that nothing arrives on `stream` for `quietMs`. Only for checking
 * that something does not happen (a withheld delivery); never to wait for
 * time-based behaviour, which the tests drive with the ManualClock.
 */
/** Takes the next `count` jobs of a stream one by one, acking each before the next: their ids in take order. */
export async function takeAndAck(url: string, stream: RawTakeStream, count: number, timeoutMs = 3000): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const job = await stream.nextJob(timeoutMs);
    ids.push(job.id);
    assertStatus(await ack(url, job.id), 204);
  }
  return ids;
}

export async function assertNoJob(stream: RawTakeStream, quietMs = 250, why = "no job expected"): Promise<void> {
  const job = await stream.next(quietMs);
  assert.equal(job, undefined, `${why}, but got ${JSON.stringify(job)}`);
}

/**
 * One test server for a whole file, started before its tests and closed after them with every take
 * stream they left open: `suite.h` is the server, `suite.streams` the file's streams.
 */
export function serverForFile(options: Parameters<typeof startTestServer>[0] = {}): { readonly h: TestServer; readonly streams: Streams } {
  let server: TestServer | undefined;
  const started = (): TestServer => {
    if (!server) throw new Error("the file's server is not started yet (use it inside tests)");
    return server;
  };
  const streams = new Streams(() => started().url);
  const suite = {
    get h(): TestServer {
      return started();
    },
    streams,
  };
  before(async () => {
    server = await startTestServer(options);
  });
  after(async () => {
    streams.closeAll();
    await server?.close();
  });
  return suite;
}
