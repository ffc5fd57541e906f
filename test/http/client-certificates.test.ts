/**
 * Client certificates as identities, with real mutual-TLS handshakes on loopback: an auth file's
 * `certificates` map a verified certificate (by subject CN or by SAN) to scopes and queues as tokens
 * are; a certificate no entry names is a 401; a bearer token, when sent, decides whatever the
 * certificate; and a server with mutual TLS and no auth file lets every verified client do everything,
 * on any host.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuthFile } from "../../src/http/auth-file.js";
import { startServer } from "../../src/http/server.js";
import { InsecureListenError } from "../../src/errors.js";
import type { PemPair } from "../../src/tls/certificates.js";
import { connectH2, h2Request } from "../helpers/h2.js";
import { jobInput } from "../helpers/jobs.js";
import { recordingLogger, withMessage } from "../helpers/logs.js";
import { startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { httpsRequest, tlsFixture, type HttpsResult, type TlsFixture } from "../helpers/tls.js";

let fixture: TlsFixture;
/** CN billing-worker: named by its subject. */
let billing: PemPair;
/** CN nobody, from the client CA: verified, named by no entry. */
let unmapped: PemPair;

before(async () => {
  fixture = await tlsFixture();
  billing = await fixture.issueClient("billing-worker");
  unmapped = await fixture.issueClient("nobody", ["nobody.internal"]);
});

after(() => fixture.remove());

const AUTH_FILE = JSON.stringify({
  tokens: [{ name: "ops", token: "ops-token", scopes: ["read", "admin"] }],
  certificates: [
    { name: "billing", subject_cn: "billing-worker", scopes: ["enqueue", "read"], queues: ["billing.*"] },
    // fixture.client: CN worker, SAN DNS:worker.internal.
    { name: "workers", san: "DNS:worker.internal", scopes: ["work"] },
  ],
});

describe("a server whose auth file maps client certificates", () => {
  let h: TestServer;
  const log = recordingLogger("debug");
  const call = (client: PemPair, method: string, path: string, body?: unknown, token?: string): Promise<HttpsResult> =>
    httpsRequest(h.url, method, path, { ca: fixture.ca, ...client, ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }) }, body);

  before(async () => {
    h = await startTestServer({ tls: fixture.mutual, auth: AuthFile.parse(AUTH_FILE, "auth.json"), logger: log.logger });
  });

  after(() => h.close());

  test("a certificate named by its CN gets its entry's scopes and queues: 403 outside them", async () => {
    const queue = `billing.${uniqueName()}`;
    assert.equal((await call(billing, "POST", "/jobs", jobInput(queue))).status, 201);
    const counted = await call(billing, "GET", `/jobs/count?queue=${queue}`);
    assert.deepEqual([counted.status, counted.body], [200, { count: 1 }]);
    const outside = await call(billing, "POST", "/jobs", jobInput(uniqueName("payroll")));
    assert.equal(outside.status, 403);
    assert.match(outside.body.error, /billing may reach only/);
    const admin = await call(billing, "DELETE", `/jobs?queue=${queue}`);
    assert.equal(admin.status, 403);
    assert.match(admin.body.error, /billing has no admin scope/);
  });

  test("a certificate named by a SAN gets its entry's scopes, over HTTP/1.1 and h2", async () => {
    const closeUnknownStream = `/jobs/take/${"0".repeat(24)}/close`;
    assert.equal((await call(fixture.client, "POST", closeUnknownStream)).status, 404, "admitted: work is its scope, the stream is not open");
    const enqueue = await call(fixture.client, "POST", "/jobs", jobInput(uniqueName("w")));
    assert.equal(enqueue.status, 403);
    assert.match(enqueue.body.error, /workers has no enqueue scope/);
    const session = await connectH2(h.url, { ca: fixture.ca, ...fixture.client });
    try {
      assert.equal((await h2Request(session, "POST", closeUnknownStream)).status, 404);
      assert.equal((await h2Request(session, "GET", "/jobs/count")).status, 403);
    } finally {
      session.destroy();
    }
  });

  test("a verified certificate no entry names is a 401 that names the certificate, and /health stays open to it", async () => {
    const refused = await call(unmapped, "GET", "/jobs/count");
    assert.equal(refused.status, 401);
    assert.match(refused.body.error, /client certificate CN=nobody, DNS:nobody\.internal matches no entry/);
    assert.equal((await call(unmapped, "GET", "/health")).status, 200);
  });

  test("a bearer token decides when one is sent: its scopes, not the certificate's; an unknown token is a 401 whatever the certificate", async () => {
    const queue = `billing.${uniqueName()}`;
    assert.equal((await call(unmapped, "GET", "/jobs/count", undefined, "ops-token")).status, 200, "a token from a client whose certificate no entry names");
    assert.equal((await call(billing, "DELETE", `/jobs?queue=${queue}`, undefined, "ops-token")).status, 200, "the token's admin scope");
    assert.equal((await call(billing, "POST", "/jobs", jobInput(queue), "ops-token")).status, 403, "the token has no enqueue scope, the certificate's does not count");
    assert.equal((await call(billing, "GET", "/jobs/count", undefined, "not-a-token")).status, 401);
  });

  test("a refusal is logged with the certificate entry's name", () => {
    const denied = withMessage(log.lines, "request denied").map((line) => line.identity);
    assert.ok(denied.includes("billing") && denied.includes("workers"), JSON.stringify(denied));
  });
});

describe("a server with mutual TLS and no auth file", () => {
  test("lets every verified client do everything, and may listen beyond loopback without --insecure-no-auth", async (t) => {
    const h = await startTestServer({ tls: fixture.mutual, host: "0.0.0.0" });
    t.after(() => h.close());
    const url = h.url.replace("0.0.0.0", "127.0.0.1");
    for (const client of [fixture.client, unmapped]) {
      const queue = uniqueName("anyone");
      assert.equal((await httpsRequest(url, "POST", "/jobs", { ca: fixture.ca, ...client }, jobInput(queue))).status, 201);
      assert.equal((await httpsRequest(url, "DELETE", `/jobs?queue=${queue}`, { ca: fixture.ca, ...client })).status, 200);
    }
  });

  test("TLS without a client CA is no authentication: beyond loopback it is refused", async () => {
    await assert.rejects(startServer({ port: 0, host: "0.0.0.0", store: "sqlite::memory:", logLevel: "silent", tls: fixture.serverOnly }), InsecureListenError);
  });
});
