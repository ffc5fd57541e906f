/**
 * Limits per identity over real HTTP: a request rate (a token bucket, refilled as the server's clock
 * moves: a ManualClock here, so nothing sleeps) and a number of open take streams, from the token's
 * auth-file entry or else the server's defaults; past either, 429 with Retry-After and {"error"}, for
 * that identity only. The SDK reads it as a retryable OverloadedError. Connections per identity too:
 * one past the limit is answered 429 and closed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuthFile } from "../../src/http/auth-file.js";
import http from "node:http";
import { once } from "node:events";
import { connect, OverloadedError } from "../../src/index.js";
import { connectH2, h2Request } from "../helpers/h2.js";
import { assertError, assertStatus, Streams } from "../helpers/jobs.js";
import { api, eventually, startTestServer, uniqueName, type ApiCall, type ApiResult, type TestServer } from "../helpers/server.js";

const AUTH = AuthFile.parse(JSON.stringify({
  tokens: [
    { name: "burst", token: "burst-token", scopes: ["read", "work"], rate: { requests: 3, per_ms: 1000 } },
    { name: "hourly", token: "hourly-token", scopes: ["read"], rate: { requests: 1, per_ms: 3_600_000 } },
    { name: "pair", token: "pair-token", scopes: ["work"], max_take_streams: 2, rate: { requests: 1000, per_ms: 1000 } },
    { name: "defaults", token: "defaults-token", scopes: ["read", "work"] },
    { name: "two-sockets", token: "two-sockets-token", scopes: ["read"], max_connections: 2 },
    { name: "two-sessions", token: "two-sessions-token", scopes: ["read"], max_connections: 2 },
  ],
}));

const as = (name: string, call: ApiCall = {}): ApiCall => ({ ...call, headers: { ...call.headers, authorization: `Bearer ${name}-token` } });

function assertLimited(result: ApiResult, retryAfter: string, what: string): void {
  assertError(result, 429, what);
  assert.equal(result.headers.get("retry-after"), retryAfter, `${what}: Retry-After`);
}

describe("limits per identity", () => {
  let h: TestServer;
  let streams: Streams;

  before(async () => {
    h = await startTestServer({ auth: AUTH, identityLimits: { rate: { requests: 5, perMs: 1000 }, maxTakeStreams: 1 } });
    streams = new Streams(() => h.url);
  });

  after(async () => {
    streams.closeAll();
    await h.close();
  });

  const count = (name: string): Promise<ApiResult> => api(h.url, "GET", "/jobs/count", as(name));

  test("a burst up to the entry's rate passes; the next request is 429 until the bucket refills with time", async () => {
    for (let n = 0; n < 3; n++) assertStatus(await count("burst"), 200, `request ${n + 1} of the burst`);
    const limited = await count("burst");
    assertLimited(limited, "1", "the 4th request within the second");
    assert.match(limited.body.error, /burst is over its rate of 3 requests per 1000 ms; try again in 334 ms/);
    await h.clock.advance(333);
    assertLimited(await count("burst"), "1", "a third of a token short");
    await h.clock.advance(1);
    assertStatus(await count("burst"), 200, "one token back after 334 ms");
    assertLimited(await count("burst"), "1", "and only one");
    await h.clock.advance(10_000);
    for (let n = 0; n < 3; n++) assertStatus(await count("burst"), 200, `after a long pause, request ${n + 1}: the bucket holds 3, no more`);
    assertLimited(await count("burst"), "1", "the bucket does not fill past its size");
  });

  test("Retry-After says when a token comes back, in whole seconds; other identities are not held back", async () => {
    assertStatus(await count("hourly"), 200);
    const limited = await count("hourly");
    assertLimited(limited, "3600", "an hourly rate");
    assertStatus(await count("defaults"), 200, "another token");
    assertStatus(await api(h.url, "GET", "/health"), 200, "open routes count for nobody");
  });

  test("refused requests count against the rate too; an identity without a rate of its own gets the server's", async () => {
    await h.clock.advance(1000);
    for (let n = 0; n < 4; n++) assertStatus(await count("defaults"), 200);
    assertError(await api(h.url, "POST", "/jobs", as("defaults", { body: { queue: "q", type: "t", payload: 1 } })), 403, "the 5th, out of scope");
    assertLimited(await count("defaults"), "1", "the 6th within the second: the server's rate of 5");
  });

  test("the SDK gets a retryable OverloadedError with the server's Retry-After", async () => {
    await h.clock.advance(1000);
    // Its one request was two seconds ago on the server's clock.
    const client = connect(h.url, { token: "hourly-token" });
    try {
      await assert.rejects(client.countJobs({}), (error: unknown) => {
        assert.ok(error instanceof OverloadedError, String(error));
        assert.deepEqual([error.status, error.retryable, error.retryAfterSeconds], [429, true, 3600 - 2]);
        return true;
      });
    } finally {
      await client.close();
    }
  });

  test("take streams: the entry's max_take_streams, then 429 until one closes; a take that fails holds none", async () => {
    const queue = uniqueName("pair");
    const first = await streams.take({ token: "pair-token", queue });
    await streams.take({ token: "pair-token", queue });
    await assert.rejects(streams.take({ token: "pair-token", queue }), /HTTP 429.*pair has 2 take streams open, the most it may/);
    assertStatus(await api(h.url, "GET", "/jobs/count", as("defaults")), 200, "another identity still works");
    streams.close(first);
    const reopened = await eventually(() => streams.take({ token: "pair-token", queue }).catch(() => undefined), 5000, "a stream once one closed");
    streams.close(reopened);
    // Once the server has seen it close (a 400, not a 429, says so), a take the engine refuses...
    const refusal = (): Promise<string> => streams.take({ token: "pair-token", queue: "bad[name" }).then(() => "opened", (error: Error) => error.message);
    await eventually(async () => /HTTP 400/.test(await refusal()), 5000, "a take refused for its queue name, not for the limit");
    // ...leaves the slot free: the next take opens at once.
    await streams.take({ token: "pair-token", queue });
  });

  test("take streams: an identity without max_take_streams gets the server's default", async () => {
    await h.clock.advance(1000);
    const queue = uniqueName("defaults");
    await streams.take({ token: "defaults-token", queue });
    await assert.rejects(streams.take({ token: "defaults-token", queue }), /HTTP 429.*defaults has 1 take streams open/);
  });
});

/** One keep-alive HTTP/1.1 connection: every request goes on it, until the server closes it. */
class OneConnection {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  closed = false;
  private socket: import("node:net").Socket | undefined;

  constructor(private readonly url: string) {}

  get(path: string, token: string): Promise<{ status: number; connection: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const request = http.get(this.url + path, { agent: this.agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, connection: response.headers.connection, body }));
      });
      request.on("socket", (socket) => {
        if (this.socket === socket) return;
        this.socket = socket;
        socket.once("close", () => (this.closed = true));
      });
      request.on("error", reject);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

describe("connections per identity", () => {
  let h: TestServer;
  const opened: OneConnection[] = [];
  before(async () => {
    h = await startTestServer({ auth: AUTH, identityLimits: { maxConnections: 3 } });
  });
  after(async () => {
    for (const connection of opened) connection.close();
    await h.close();
  });
  const connection = (): OneConnection => {
    const made = new OneConnection(h.url);
    opened.push(made);
    return made;
  };

  test("an identity's connection past its max_connections is 429 and closed; its others keep working, and a closed one frees a place", async () => {
    const [first, second, third] = [connection(), connection(), connection()];
    for (const held of [first, second]) assert.equal((await held.get("/jobs/count", "two-sockets-token")).status, 200);
    const refused = await third.get("/jobs/count", "two-sockets-token");
    assert.equal(refused.status, 429);
    assert.equal(refused.connection, "close");
    assert.match(JSON.parse(refused.body).error, /two-sockets has 2 connections open, the most it may \(max_connections/);
    await eventually(() => third.closed, 3000, "the refused connection to close");
    for (const held of [first, second]) assert.equal((await held.get("/jobs/count", "two-sockets-token")).status, 200, "requests on counted connections pass");
    assert.equal((await connection().get("/jobs/count", "defaults-token")).status, 200, "the server's default (3) holds for another identity");
    first.close();
    await eventually(async () => (await connection().get("/jobs/count", "two-sockets-token")).status === 200, 3000, "a place freed by a closed connection");
  });

  test("over HTTP/2 a session is one connection: one past the limit is 429 and the session closed", async () => {
    const sessions = await Promise.all([connectH2(h.url), connectH2(h.url), connectH2(h.url)]);
    try {
      const auth = { authorization: "Bearer two-sessions-token" };
      for (const session of sessions.slice(0, 2)) assert.equal((await h2Request(session, "GET", "/jobs/count", undefined, false, auth)).status, 200);
      const refused = await h2Request(sessions[2]!, "GET", "/jobs/count", undefined, false, auth);
      assert.equal(refused.status, 429);
      assert.match(refused.body.error, /two-sessions has 2 connections open/);
      if (!sessions[2]!.closed) await once(sessions[2]!, "close");
      assert.equal((await h2Request(sessions[0]!, "GET", "/jobs/count", undefined, false, auth)).status, 200);
    } finally {
      for (const session of sessions) session.destroy();
    }
  });
});
