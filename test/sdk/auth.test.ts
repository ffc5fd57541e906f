/** The SDK with tokens: connect(url, { token }) on every request and the take stream; 401 and 403 as typed errors. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BadRequestError, BearerTokens, connect, ForbiddenError, UnauthorizedError, WharfError, type Client } from "../../src/index.js";
import { startTestServer, uniqueName, type TestServer } from "../helpers/server.js";

describe("an SDK client of a server with tokens", () => {
  let h: TestServer;
  const clients: Client[] = [];
  const client = (token?: string): Client => {
    const made = connect(h.url, token === undefined ? {} : { token });
    clients.push(made);
    return made;
  };

  before(async () => {
    h = await startTestServer({
      auth: BearerTokens.of([
        { name: "app", token: "app-token", scopes: ["enqueue", "work", "read"], queues: ["app.*"] },
        { name: "reader", token: "reader-token", scopes: ["read"] },
      ]),
    });
  });
  after(async () => {
    await Promise.all(clients.map((made) => made.close()));
    await h.close();
  });

  test("the token goes with every request, the take stream included", async () => {
    const app = client("app-token");
    const queue = `app.${uniqueName()}`;
    const stream = app.take({ queues: [queue] });
    const job = await app.enqueue({ queue, type: "send", payload: { to: "a@example.com" } });
    for await (const taken of stream) {
      assert.equal(taken.id, job.id);
      await app.ack(taken.id, taken.run_id);
      break;
    }
    await stream.close();
    assert.equal(await app.countJobs({ queue, status: ["ready", "in_flight"] }), 0, "acked with the token");
    assert.deepEqual(await client().health(), { status: "ok" }, "health needs no token");
  });

  test("no token or an unknown one: UnauthorizedError (401); out of scope or outside its queues: ForbiddenError (403)", async () => {
    for (const [made, what] of [[client(), "no token"], [client("not-a-token"), "an unknown token"]] as const) {
      await assert.rejects(made.countJobs(), (error: unknown) => error instanceof UnauthorizedError && error.status === 401 && error instanceof WharfError, what);
    }
    await assert.rejects(client("reader-token").enqueue({ queue: "q", type: "t", payload: null }), (error: unknown) => error instanceof ForbiddenError && /reader has no enqueue scope/.test(error.message));
    await assert.rejects(client("app-token").enqueue({ queue: "billing", type: "t", payload: null }), ForbiddenError);
    await assert.rejects(client("app-token").reset(), ForbiddenError);
  });

  test("a take stream the token may not open ends with ForbiddenError", async () => {
    const stream = client("reader-token").take({ queues: ["app.x"] });
    await assert.rejects((async () => {
      for await (const _job of stream) assert.fail("no job for a reader");
    })(), ForbiddenError);
    await stream.close();
  });

  test("a token a header cannot carry is refused at connect, without echoing it", () => {
    assert.throws(() => connect(h.url, { token: "two words" }), (error: unknown) => error instanceof BadRequestError && !error.message.includes("two words"));
  });
});
