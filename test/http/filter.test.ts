import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { api, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { assertError, assertStatus, countJobs, enqueue, listIds } from "../helpers/jobs.js";

let h: TestServer;
const queue = uniqueName("jq");
const ids: Record<"ruby" | "other" | "text", string> = {} as never;
const q = (filter: string): string => `queue=${queue}&filter=${encodeURIComponent(filter)}`;

/** The Zizq Ruby client's by_job_class_and_args_subset filter. */
const RUBY_FILTER = '(.args[0:1] == [1]) and (.kwargs | contains({"x":"a"}))';

before(async () => {
  h = await startTestServer({ filterBudget: { timeoutMs: 300, memoryMb: 64 } });
  ids.ruby = (await enqueue(h.url, queue, { payload: { args: [1, "two"], kwargs: { x: "a", y: 2 } } })).id;
  ids.other = (await enqueue(h.url, queue, { payload: { args: [2], kwargs: { x: "a" } } })).id;
  ids.text = (await enqueue(h.url, queue, { payload: "Zoë" })).id;
});

after(async () => {
  await h.close();
});

describe("jq filters over HTTP", () => {
  test("the Ruby client's contains filter finds its job, in list, count, patch and delete", async () => {
    assert.deepEqual(await listIds(h.url, q(RUBY_FILTER)), [ids.ruby]);
    assert.equal(await countJobs(h.url, q(RUBY_FILTER)), 1);
    const patched = await api(h.url, "PATCH", `/jobs?${q(RUBY_FILTER)}`, { body: { priority: 7 } });
    assertStatus(patched, 200, "patch by filter");
    assert.equal(patched.body.patched, 1);
    assert.deepEqual(await listIds(h.url, q(".kwargs.x == \"a\"")), [ids.ruby, ids.other]);
  });

  test("a runtime error on one payload is a non-match for it, not an error", async () => {
    // "Zoë" | .args fails (cannot index a string), the objects do not
    assert.deepEqual(await listIds(h.url, q(".args[0] == 2")), [ids.other]);
    assert.deepEqual(await listIds(h.url, q('test("^z"; "i")')), [ids.text]);
  });

  test("a syntax error is 400 with jq's message", async () => {
    const result = await api(h.url, "GET", `/jobs?${q(".a | (")}`);
    assertError(result, 400, "syntax error");
    assert.match(result.body.error, /syntax error/);
  });

  test("an undefined function is 400 naming it", async () => {
    const result = await api(h.url, "GET", `/jobs/count?${q("nosuchthing(1)")}`);
    assertError(result, 400, "undefined function");
    assert.match(result.body.error, /nosuchthing\/1 is not defined/);
  });

  test("builtins that reach past the payload are refused with 400 naming them", async () => {
    for (const [filter, name] of [["input", "input"], ["[inputs]", "inputs"], ["$ENV.HOME", "$ENV"], ["halt_error", "halt_error"]] as const) {
      const result = await api(h.url, "DELETE", `/jobs?${q(filter)}`);
      assertError(result, 400, filter);
      assert.ok(result.body.error.includes(name), `${filter}: ${result.body.error}`);
    }
    assert.equal(await countJobs(h.url, `queue=${queue}`), 3, "nothing deleted");
  });

  for (const runaway of ["def f: f; f", "[range(1e9)]", "[limit(1e9; repeat(1))]", "[repeat(.)] | length"]) {
    test(`a runaway filter (${runaway}) is stopped by the budget with 400, the server answering meanwhile`, async () => {
      // /health's own slowest answer with no filter running: on a machine shared with other work this
      // is far from 0, and the bound below is 100 ms on top of it
      let baseline = 0;
      for (let poll = 0; poll < 20; poll++) {
        const started = performance.now();
        await api(h.url, "GET", "/health");
        baseline = Math.max(baseline, performance.now() - started);
      }
      const filtered = api(h.url, "GET", `/jobs?${q(runaway)}`);
      let done = false;
      const slowest: number[] = [];
      const polling = (async () => {
        while (!done) {
          const started = performance.now();
          assertStatus(await api(h.url, "GET", "/health"), 200, "health");
          slowest.push(performance.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const result = await filtered;
      done = true;
      await polling;
      assertError(result, 400, runaway);
      assert.match(result.body.error, /budget|room/);
      assert.ok(slowest.length > 3, `polled ${slowest.length} times`);
      assert.ok(Math.max(...slowest) < 100 + baseline, `slowest /health took ${Math.max(...slowest).toFixed(1)} ms (${baseline.toFixed(1)} ms without a filter)`);
      assert.deepEqual(await listIds(h.url, q(RUBY_FILTER)), [ids.ruby], "filters work again after a runaway");
    });
  }
});
