/**
 * The bound on dependency results in a take frame: a job taken with load_dependencies whose
 * dependencies' results take more than --max-dependency-results-bytes is dead, never sent, and its
 * stream's slot goes to the next job; jobs within it are sent whole, however many share a stream.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { api } from "../helpers/server.js";
import { ack, assertStatus, enqueueBulk, getJob, jobInput, serverForFile } from "../helpers/jobs.js";

const MAX_DEPENDENCY_RESULTS = 3000;
const suite = serverForFile({ heartbeatMs: 50, maxResultBytes: 2000, maxDependencyResultsBytes: MAX_DEPENDENCY_RESULTS });
const KEEP = { retention: { completed_ms: 600_000, dead_ms: 600_000 } };

/** A result of exactly `bytes` bytes of JSON. */
function resultOf(bytes: number): { s: string } {
  return { s: "x".repeat(bytes - '{"s":""}'.length) };
}

/** Enqueues `count` jobs, takes and acks each with a result of `bytes` bytes; their ids. */
async function completedWithResults(queue: string, count: number, bytes: number): Promise<string[]> {
  const jobs = await enqueueBulk(suite.h.url, Array.from({ length: count }, () => jobInput(queue, KEEP)));
  const stream = await suite.streams.take({ queue, prefetch: count });
  for (let taken = 0; taken < count; taken++) {
    const job = await stream.nextJob();
    assertStatus(await ack(suite.h.url, job.id, { result: resultOf(bytes) }), 204);
  }
  suite.streams.close(stream);
  return jobs.map(({ id }) => id);
}

describe("dependency results in take frames", () => {
  test("a job whose dependencies' results pass the limit is dead with DependencyResultsTooLarge, unsent, and its slot goes to the next job", async () => {
    const queue = `results-${Date.now()}`;
    const dependencies = await completedWithResults(`${queue}-deps`, 3, 1200);
    const [fits, tooLarge, after] = await enqueueBulk(suite.h.url, [
      jobInput(queue, { ...KEEP, payload: "fits", dependencies: dependencies.slice(0, 2), load_dependencies: true }),
      jobInput(queue, { ...KEEP, payload: "too large", dependencies, load_dependencies: true, priority: 0 }),
      jobInput(queue, { ...KEEP, payload: "after", priority: 65535 }),
    ]);
    const stream = await suite.streams.take({ queue, prefetch: 1 });
    const first = await stream.nextJob();
    assert.equal(first.id, fits!.id, "the job over the limit, first in line, is never sent");
    assert.equal(Object.keys(first.dependency_results!).length, 2);
    assert.deepEqual(first.dependency_results![dependencies[0]!], resultOf(1200));
    assertStatus(await ack(suite.h.url, first.id), 204);
    assert.equal((await stream.nextJob()).id, after!.id, "the stream's slot was freed");
    const dead = await getJob(suite.h.url, tooLarge!.id);
    assert.equal(dead.status, "dead");
    const errors = (await api(suite.h.url, "GET", `/jobs/${tooLarge!.id}/errors`)).body.errors;
    assert.equal(errors[0].error_type, "DependencyResultsTooLarge");
    assert.match(errors[0].message, new RegExp(`take ${3 * 1200} bytes of JSON, more than one job may carry \\(${MAX_DEPENDENCY_RESULTS}`));
  });

  test("many jobs within the limit, together past it, all go out with every result", async () => {
    const queue = `rounds-${Date.now()}`;
    const dependencies = await completedWithResults(`${queue}-deps`, 6, 1400);
    const dependents = await enqueueBulk(suite.h.url, [0, 2, 4].map((start) => jobInput(queue, { ...KEEP, dependencies: dependencies.slice(start, start + 2), load_dependencies: true })));
    const stream = await suite.streams.take({ queue, prefetch: 10 });
    const taken = [await stream.nextJob(), await stream.nextJob(), await stream.nextJob()];
    assert.deepEqual(new Set(taken.map(({ id }) => id)), new Set(dependents.map(({ id }) => id)));
    for (const job of taken) {
      assert.deepEqual(Object.values(job.dependency_results!), [resultOf(1400), resultOf(1400)]);
    }
  });
});
