/**
 * Authentication and scopes over real HTTP: every route of the route table against a token of each
 * scope, none and a bad one; a token limited to some queues, which sees what lies outside them as
 * what does not exist; and the debug log of denied requests, which never holds a token.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { EVENTS_PATH, ROUTES, TAKE_PATH } from "../../src/http/api.js";
import { SCOPES, type Scope } from "../../src/http/identity.js";
import { BearerTokens, hashedToken } from "../../src/http/tokens.js";
import { createLogger } from "../../src/log.js";
import type { Job } from "../../src/job/types.js";
import { assertError, assertStatus, jobInput, Streams } from "../helpers/jobs.js";
import { api, startTestServer, uniqueName, type ApiCall, type ApiResult, type TestServer } from "../helpers/server.js";

const tokenOf = (name: string): string => `token-${name}`;
/** Every queue of "mine" matches one of its patterns: `mine.*` or exactly `exact`. */
const MINE = ["mine.*", "exact"];
const AUTH = BearerTokens.of([
  ...SCOPES.map((scope) => ({ name: scope, token: tokenOf(scope), scopes: [scope] })),
  { name: "all", token: hashedToken(tokenOf("all")), scopes: [...SCOPES] },
  { name: "mine", token: tokenOf("mine"), scopes: [...SCOPES], queues: MINE },
]);

const as = (name: string, call: ApiCall = {}): ApiCall => ({ ...call, headers: { ...call.headers, authorization: `Bearer ${tokenOf(name)}` } });
/** A job id no job has. */
const NO_SUCH_ID = "0000000000000000000000000";

function assertDenied(result: ApiResult, status: 401 | 403, what: string): void {
  assertError(result, status, what);
  if (status === 401) assert.match(result.headers.get("www-authenticate") ?? "", /^Bearer /, `${what}: WWW-Authenticate`);
}

function assertAdmitted(result: ApiResult, what: string): void {
  assert.ok(![401, 403].includes(result.status), `${what}: expected neither 401 nor 403, got ${result.status} ${JSON.stringify(result.body)}`);
}

interface Sample {
  method: string;
  path: string;
  scope: Scope | null;
  everyQueue: boolean;
}

/** One request per method of every route: path parameters filled in with names inside "mine"'s queues. */
function samples(): Sample[] {
  const fill: Record<string, string> = { id: NO_SUCH_ID, attempt: "1", queue: "mine.q", stream: "0".repeat(24), group: "g", entry: "e" };
  return ROUTES.flatMap((route) => Object.entries(route.methods).map(([method, endpoint]) => {
    let path = route.path.replace(/\{(\w+)\}/g, (_whole, name: string) => fill[name]!);
    // A bad prefetch, or kind, answers 400 once admitted, before any stream opens.
    if (route.path === TAKE_PATH) path += "?queue=mine.q&prefetch=-1";
    if (route.path === EVENTS_PATH) path += "?kind=none";
    return { method, path, scope: endpoint.scope, everyQueue: endpoint.everyQueue };
  }));
}

describe("the route table", () => {
  test("every method of every route names its scope; only /health and /version are open", () => {
    for (const route of ROUTES) {
      for (const [method, endpoint] of Object.entries(route.methods)) {
        const what = `${method} ${route.path}`;
        if (["/health", "/version"].includes(route.path)) assert.equal(endpoint.scope, null, what);
        else assert.ok(SCOPES.includes(endpoint.scope!), `${what} needs one of ${SCOPES.join(", ")}, has ${endpoint.scope}`);
      }
    }
  });

  test("the README's scope table is this table", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const table = readme.slice(readme.indexOf("<!-- scopes-table:")).split("\n\n")[0]!;
    const documented = [...table.matchAll(/^\| (none|`(\w+)`) \| (.*) \|$/gm)].flatMap(([, , scope, routes]) =>
      [...routes!.matchAll(/`([A-Z]+ [^`]+)`(\*?)/g)].map(([, route, star]) => `${route} ${scope ?? "none"}${star}`));
    const actual = ROUTES.flatMap((route) => Object.entries(route.methods).map(([method, { scope, everyQueue }]) => `${method} ${route.path} ${scope ?? "none"}${everyQueue ? "*" : ""}`));
    assert.deepEqual(documented.sort(), actual.sort());
  });

  test("reaching every queue: the reset, cron groups, metrics and the worker list, nothing else", () => {
    const everyQueue = samples().filter((sample) => sample.everyQueue).map((sample) => sample.path.split("/")[1]);
    assert.deepEqual([...new Set(everyQueue)].sort(), ["crons", "metrics", "reset", "workers"]);
  });
});

describe("every route against every scope", () => {
  let h: TestServer;
  before(async () => {
    h = await startTestServer({ auth: AUTH });
  });
  after(() => h.close());

  for (const sample of samples()) {
    const what = `${sample.method} ${sample.path}`;
    test(`${what} needs ${sample.scope ?? "nothing"}${sample.everyQueue ? " and every queue" : ""}`, async () => {
      const anonymous = await api(h.url, sample.method, sample.path);
      if (sample.scope === null) assertAdmitted(anonymous, `${what} without a token`);
      else assertDenied(anonymous, 401, `${what} without a token`);
      if (sample.scope === null) return;
      const unknown = await api(h.url, sample.method, sample.path, { headers: { authorization: "Bearer not-a-known-token" } });
      assertDenied(unknown, 401, `${what} with an unknown token`);
      assert.match(unknown.headers.get("www-authenticate")!, /error="invalid_token"/);
      assertDenied(await api(h.url, sample.method, sample.path, { headers: { authorization: "Basic dXNlcjpwYXNz" } }), 401, `${what} with Basic credentials`);
      for (const scope of SCOPES) {
        const result = await api(h.url, sample.method, sample.path, as(scope));
        if (scope === sample.scope) assertAdmitted(result, `${what} with a ${scope} token`);
        else assertDenied(result, 403, `${what} with a ${scope} token`);
      }
      assertAdmitted(await api(h.url, sample.method, sample.path, as("all")), `${what} with a token of every scope (stored as its hash)`);
      const limited = await api(h.url, sample.method, sample.path, as("mine"));
      if (sample.everyQueue) assertDenied(limited, 403, `${what} with a token limited to some queues`);
      else assertAdmitted(limited, `${what} with a token limited to some queues`);
    });
  }
});

describe("a token limited to some queues", () => {
  let h: TestServer;
  let streams: Streams;
  before(async () => {
    h = await startTestServer({ auth: AUTH, heartbeatMs: 50 });
    streams = new Streams(() => h.url);
  });
  after(async () => {
    streams.closeAll();
    await h.close();
  });

  const enqueueAs = async (name: string, queue: string): Promise<Job> => {
    const result = await api(h.url, "POST", "/jobs", as(name, { body: jobInput(queue) }));
    assertStatus(result, 201, `enqueue on ${queue} as ${name}`);
    return result.body as Job;
  };
  const countAs = async (name: string, query: string): Promise<number> => (await api(h.url, "GET", `/jobs/count?${query}`, as(name))).body.count as number;

  test("enqueues, single, bulk (every job) and workflows (every step), only into its queues", async () => {
    const own = `mine.${uniqueName()}`;
    const theirs = uniqueName("theirs");
    await enqueueAs("mine", own);
    await enqueueAs("mine", "exact");
    assertDenied(await api(h.url, "POST", "/jobs", as("mine", { body: jobInput(theirs) })), 403, "single enqueue outside");
    assertDenied(await api(h.url, "POST", "/jobs", as("mine", { body: jobInput("exactly") })), 403, "a pattern without * matches the whole name");
    assertDenied(await api(h.url, "POST", "/jobs/bulk", as("mine", { body: { jobs: [jobInput(own), jobInput(theirs)] } })), 403, "bulk with one job outside");
    const workflow = { chain: [jobInput(own), jobInput(theirs)] };
    assertDenied(await api(h.url, "POST", "/workflows", as("mine", { body: workflow })), 403, "workflow with one step outside");
    assert.equal(await countAs("all", `queue=${own}`), 1, "nothing of the refused bulk or workflow went in");
    assert.equal(await countAs("all", `queue=${theirs}`), 0);
    assertStatus(await api(h.url, "POST", "/jobs/bulk", as("mine", { body: { jobs: [jobInput(own), jobInput(own)] } })), 201, "bulk inside");
    assertStatus(await api(h.url, "POST", "/workflows", as("mine", { body: { chain: [jobInput(own)] } })), 201, "workflow inside");
  });

  test("a take stream must name queues, every one of them its own", async () => {
    const own = `mine.${uniqueName()}`;
    for (const [queue, what] of [[undefined, "every queue"], [uniqueName("theirs"), "a queue outside"], [`${own},theirs`, "one queue outside"]] as const) {
      const refused = await streams.take({ token: tokenOf("mine"), ...(queue === undefined ? {} : { queue }) }).catch((error: Error) => error);
      assert.ok(refused instanceof Error && refused.message.includes("HTTP 403"), `take from ${what}: ${String(refused)}`);
    }
    const stream = await streams.take({ token: tokenOf("mine"), queue: own });
    const job = await enqueueAs("all", own);
    assert.equal((await stream.nextJob()).id, job.id);
    assertStatus(await api(h.url, "POST", `/jobs/${job.id}/success`, as("mine", { body: {} })), 204, "its own job acked");
    streams.close(stream);
  });

  test("lists, counts and GET /queues see only its queues: a filter outside them selects nothing", async () => {
    const own = `mine.${uniqueName()}`;
    const theirs = uniqueName("theirs");
    await enqueueAs("all", own);
    await enqueueAs("all", theirs);
    const listed = (await api(h.url, "GET", "/jobs?limit=2000", as("mine"))).body.jobs as Job[];
    assert.ok(listed.some((job) => job.queue === own));
    assert.ok(listed.every((job) => job.queue.startsWith("mine.") || job.queue === "exact"), "nothing of another queue");
    assert.equal(await countAs("mine", `queue=${theirs}`), 0);
    assert.equal(await countAs("all", `queue=${theirs}`), 1);
    assert.equal(await countAs("mine", `queue=${own},${theirs}`), 1, "the filter intersected with its queues");
    assert.deepEqual((await api(h.url, "GET", `/jobs?queue=${theirs}`, as("mine"))).body.jobs, []);
    const queues = (await api(h.url, "GET", "/queues", as("mine"))).body.queues as string[];
    assert.ok(queues.includes(own) && !queues.includes(theirs), JSON.stringify(queues));
    assertStatus(await api(h.url, "GET", `/queues/${own}`, as("mine")), 200);
    assertDenied(await api(h.url, "GET", `/queues/${theirs}`, as("mine")), 403, "a queue's settings outside");
    assertDenied(await api(h.url, "POST", `/queues/${theirs}/pause`, as("mine")), 403, "pausing a queue outside");
  });

  test("changes by selection reach only its queues, and move jobs only into them", async () => {
    const own = `mine.${uniqueName()}`;
    const theirs = uniqueName("theirs");
    const job = await enqueueAs("all", own);
    await enqueueAs("all", theirs);
    assert.equal((await api(h.url, "DELETE", `/jobs?queue=${theirs}`, as("mine"))).body.deleted, 0);
    assert.equal((await api(h.url, "PATCH", `/jobs?queue=${theirs}`, as("mine", { body: { priority: 1 } }))).body.patched, 0);
    assertDenied(await api(h.url, "PATCH", `/jobs/${job.id}`, as("mine", { body: { queue: theirs } })), 403, "moving its job out");
    assertDenied(await api(h.url, "PATCH", `/jobs?queue=${own}`, as("mine", { body: { queue: theirs } })), 403, "moving its jobs out");
    assert.equal(await countAs("all", `queue=${theirs}`), 1, "the other queue's job is untouched");
    assertStatus(await api(h.url, "DELETE", `/jobs?queue=${own}`, as("mine")), 200);
    assert.equal(await countAs("all", `queue=${own}`), 0);
  });

  test("a job, workflow or stream outside its queues answers exactly as one that does not exist, and is left alone", async () => {
    const theirs = uniqueName("theirs");
    const stream = await streams.take({ token: tokenOf("all"), queue: theirs });
    const hidden = await enqueueAs("all", theirs);
    await stream.nextJob();
    const workflow = (await api(h.url, "POST", "/workflows", as("all", { body: { chain: [jobInput(theirs)] } }))).body.id as string;
    const noSuchWorkflow = (await api(h.url, "POST", "/workflows", as("all", { body: { chain: [jobInput(theirs)] } }))).body.id as string;
    assertStatus(await api(h.url, "DELETE", `/workflows/${noSuchWorkflow}`, as("all")), 200);
    const bodies: Record<string, unknown> = { "/jobs/{id}/failure": { message: "boom" }, "/jobs/{id}": { priority: 1 }, "/jobs/{id}/success": {}, "/jobs/{id}/heartbeat": {} };
    for (const route of ROUTES.filter(({ path }) => path.includes("{id}"))) {
      const [there, missing] = route.path.startsWith("/workflows") ? [workflow, noSuchWorkflow] : [hidden.id, NO_SUCH_ID];
      for (const method of Object.keys(route.methods)) {
        const call = (id: string): Promise<ApiResult> => {
          const body = method === "GET" || method === "DELETE" ? undefined : bodies[route.path];
          return api(h.url, method, route.path.replace("{id}", id).replace("{attempt}", "1"), as("mine", body === undefined ? {} : { body }));
        };
        const [outside, absent] = [await call(there), await call(missing)];
        const what = `${method} ${route.path}`;
        assertError(outside, 404, what);
        const seen = (result: ApiResult, id: string): unknown => ({ status: result.status, type: result.headers.get("content-type"), body: JSON.parse(JSON.stringify(result.body).replaceAll(id, "ID")) });
        assert.deepEqual(seen(outside, there), seen(absent, missing), `${what}: a job outside answers as a missing one`);
      }
    }
    const own = `mine.${uniqueName()}`;
    const [dependent, noDependent] = await Promise.all([hidden.id, NO_SUCH_ID].map((id) => api(h.url, "POST", "/jobs", as("mine", { body: jobInput(own, { dependencies: [id] }) }))));
    assertError(dependent!, 422, "a dependency outside");
    const newJob = /^job [0-9a-z]{25} /;
    assert.equal(dependent!.body.error.replace(newJob, "").replace(hidden.id, "ID"), noDependent!.body.error.replace(newJob, "").replace(NO_SUCH_ID, "ID"));
    const moves = await Promise.all([hidden.id, NO_SUCH_ID].map((id) => api(h.url, "PATCH", `/jobs/${id}`, as("mine", { body: { queue: theirs } }))));
    assert.deepEqual(moves.map(({ status }) => status), [403, 403], "a move out is refused by its name alone");
    const acked = await api(h.url, "POST", "/jobs/success", as("mine", { body: { ids: [hidden.id, NO_SUCH_ID] } }));
    assertError(acked, 422, "bulk ack");
    assert.deepEqual(acked.body.not_found, [hidden.id, NO_SUCH_ID]);
    const after = await api(h.url, "GET", `/jobs/${hidden.id}`, as("all"));
    assert.equal(after.body.status, "in_flight", "not acked, failed, cancelled or deleted");
    assert.equal(after.body.priority, hidden.priority, "not patched");
    assertStatus(await api(h.url, "GET", `/workflows/${workflow}`, as("all")), 200, "the workflow is still there");
    streams.close(stream);
  });

  test("closing a take stream of other queues answers as for a stream that is not open", async () => {
    const controller = new AbortController();
    const response = await fetch(`${h.url}/jobs/take?queue=${uniqueName("theirs")}`, { headers: as("all").headers, signal: controller.signal });
    try {
      const id = response.headers.get("wharf-stream-id")!;
      const outside = await api(h.url, "POST", `/jobs/take/${id}/close`, as("mine"));
      const absent = await api(h.url, "POST", `/jobs/take/${"0".repeat(24)}/close`, as("mine"));
      assertError(outside, 404);
      assert.equal(outside.body.error.replace(id, "ID"), absent.body.error.replace("0".repeat(24), "ID"));
      assertStatus(await api(h.url, "POST", `/jobs/take/${id}/close`, as("all")), 204, "still open for its own client");
    } finally {
      controller.abort();
    }
  });
});

describe("logs", () => {
  test("a denied request is logged at debug with the identity's name; no line holds a token or the Authorization header", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } });
    const h = await startTestServer({ auth: AUTH, logger });
    try {
      await api(h.url, "GET", "/jobs", as("enqueue"));
      await api(h.url, "GET", "/jobs", { headers: { authorization: "Bearer secret-guess-123" } });
      await api(h.url, "POST", "/jobs", as("mine", { body: jobInput("theirs") }));
      await api(h.url, "GET", "/jobs", as("read"));
    } finally {
      await h.close();
    }
    const denied = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === "request denied");
    assert.deepEqual(denied.map(({ identity, status }) => [identity, status]), [["enqueue", 403], [undefined, 401], ["mine", 403]]);
    assert.ok(denied.every((line) => line.level === 20 || line.level === "debug"), "at debug");
    for (const line of lines) {
      for (const secret of ["secret-guess-123", ...SCOPES.map(tokenOf), tokenOf("mine"), "Bearer", "authorization"]) {
        assert.ok(!line.includes(secret), `a log line holds ${secret}: ${line}`);
      }
    }
  });
});

describe("HTTP/2", () => {
  test("a request carries its token in the authorization header as over HTTP/1.1", async () => {
    const h = await startTestServer({ auth: AUTH });
    const session = http2.connect(h.url);
    try {
      const status = (headers: http2.OutgoingHttpHeaders): Promise<number> => new Promise((resolve, reject) => {
        const stream = session.request({ ":method": "GET", ":path": "/jobs/count", ...headers });
        stream.on("response", (answer) => resolve(Number(answer[":status"])));
        stream.on("error", reject);
        stream.resume();
        stream.end();
      });
      assert.equal(await status({}), 401);
      assert.equal(await status({ authorization: `Bearer ${tokenOf("enqueue")}` }), 403);
      assert.equal(await status({ authorization: `Bearer ${tokenOf("read")}` }), 200);
    } finally {
      session.destroy();
      await h.close();
    }
  });
});
