/**
 * TLS and mutual TLS on the server, with real handshakes on loopback: HTTP/1.1 and h2 chosen by ALPN on
 * one port, client certificates checked against the client CA, the peer's identity for the request
 * handler, reloading the files (as SIGHUP does) without dropping open connections, and cleartext h2c
 * unchanged when TLS is off.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import type http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { startServer } from "../../src/http/server.js";
import { InvalidTlsError, peerIdentity, type TlsOptions } from "../../src/http/tls.js";
import { connectH2, h2Request, h2Take } from "../helpers/h2.js";
import { jobInput } from "../helpers/jobs.js";
import { recordingLogger, withMessage } from "../helpers/logs.js";
import { startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { STREAM_MEDIA } from "../helpers/take.js";
import { httpsRequest, presentedCertificate, tlsFixture, type TlsFixture } from "../helpers/tls.js";
import type { PemPair } from "../../src/tls/certificates.js";

let fixture: TlsFixture;

before(async () => {
  fixture = await tlsFixture();
});

after(() => fixture.remove());

/** Sends bytes on a TLS connection of its own and reads everything until the server closes it. */
function rawTls(url: string, ca: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, ALPNProtocols: ["http/1.1"] }, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
  });
}

/** A request over h2 with `client`'s certificate: rejects when the server refuses the connection. */
async function h2Health(url: string, client: Partial<PemPair>): Promise<number> {
  const session = await connectH2(url, { ca: fixture.ca, ...client });
  try {
    const answer = await h2Request(session, "GET", "/health");
    if (answer.status === 0) throw new Error("the stream ended without an answer");
    return answer.status;
  } finally {
    session.destroy();
  }
}

describe("HTTPS", () => {
  let h: TestServer;

  before(async () => {
    h = await startTestServer({ tls: fixture.serverOnly });
  });

  after(() => h.close());

  test("the URL is https:// and HTTP/1.1 answers over TLS, whether the client offers ALPN or not", async () => {
    assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const withoutAlpn = await httpsRequest(h.url, "GET", "/health", { ca: fixture.ca });
    assert.deepEqual([withoutAlpn.status, withoutAlpn.httpVersion, withoutAlpn.alpnProtocol, withoutAlpn.body], [200, "1.1", false, { status: "ok" }]);
    const withAlpn = await httpsRequest(h.url, "GET", "/health", { ca: fixture.ca, ALPNProtocols: ["http/1.1"] });
    assert.deepEqual([withAlpn.status, withAlpn.httpVersion, withAlpn.alpnProtocol], [200, "1.1", "http/1.1"]);
  });

  test("a client that does not trust the server's CA refuses the handshake", async () => {
    await assert.rejects(httpsRequest(h.url, "GET", "/health"), /unable to verify the first certificate/);
  });

  test("h2 over TLS by ALPN: health, an enqueue and a take stream on one session, as Zizq clients use it", async () => {
    const session = await connectH2(h.url, { ca: fixture.ca });
    try {
      assert.equal((session.socket as tls.TLSSocket).alpnProtocol, "h2");
      assert.deepEqual((await h2Request(session, "GET", "/health")).body, { status: "ok" });
      const queue = uniqueName("tls-h2");
      const take = await h2Take(session, queue, STREAM_MEDIA.msgpack);
      const created = await h2Request(session, "POST", "/jobs", jobInput(queue, { payload: { over: "h2+tls" } }));
      assert.equal(created.status, 201);
      const job = await take.next(2000);
      assert.deepEqual([job.id, job.status, job.payload], [created.body.id, "in_flight", { over: "h2+tls" }]);
      assert.equal((await h2Request(session, "POST", `/jobs/${job.id}/success`)).status, 204);
      take.close();
    } finally {
      session.destroy();
    }
  });

  test("h2 over TLS has no Nagle stalls: sequential enqueues on one session are each answered in well under a delayed acknowledgement", async () => {
    const session = await connectH2(h.url, { ca: fixture.ca });
    try {
      const queue = uniqueName("tls-nodelay");
      const elapsed: number[] = [];
      for (let index = 0; index < 21; index++) {
        const started = performance.now();
        assert.equal((await h2Request(session, "POST", "/jobs", jobInput(queue))).status, 201);
        elapsed.push(performance.now() - started);
      }
      const median = elapsed.sort((a, b) => a - b)[10]!;
      assert.ok(median < 20, `median answer took ${median.toFixed(1)} ms: a Nagle stall is about 40 ms`);
    } finally {
      session.destroy();
    }
  });

  test("what Node's HTTP/1 parser refuses still gets an {\"error\"} body over TLS", async () => {
    const answer = await rawTls(h.url, fixture.ca, "GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)).error, /^malformed HTTP request/);
  });

  test("over TLS the server's own origin is https://: a mutation from it is accepted, one from http:// is refused", async () => {
    const post = (origin: string): Promise<number> =>
      httpsRequest(h.url, "POST", "/jobs", { ca: fixture.ca, headers: { "content-type": "application/json", origin } }, jobInput(uniqueName("origin"))).then((answer) => answer.status);
    assert.equal(await post(h.url), 201);
    assert.equal(await post(h.url.replace("https:", "http:")), 403);
  });

  test("without tls the server is cleartext as before: an http:// URL, h2c with prior knowledge, nothing to reload", async () => {
    const cleartext = await startTestServer();
    try {
      assert.match(cleartext.url, /^http:\/\//);
      const session = await connectH2(cleartext.url);
      assert.deepEqual((await h2Request(session, "GET", "/health")).body, { status: "ok" });
      session.destroy();
      assert.throws(() => cleartext.server.reloadTls(), /without TLS/);
    } finally {
      await cleartext.close();
    }
  });
});

describe("mutual TLS", () => {
  let h: TestServer;
  const log = recordingLogger("debug");

  before(async () => {
    h = await startTestServer({ tls: fixture.mutual, logger: log.logger });
  });

  after(() => h.close());

  test("a client certificate the client CA signed is accepted over HTTP/1.1 and h2, and the request log names its CN", async () => {
    const overHttp1 = await httpsRequest(h.url, "GET", "/health", { ca: fixture.ca, ...fixture.client });
    assert.deepEqual([overHttp1.status, overHttp1.body], [200, { status: "ok" }]);
    assert.equal(await h2Health(h.url, fixture.client), 200);
    const requests = withMessage(log.lines, "request").filter((line) => line.path === "/health");
    assert.deepEqual(requests.map((line) => line.peer), ["worker", "worker"]);
  });

  test("no certificate, one from another CA, or an expired one: the connection is refused before any request", async () => {
    const refused = { none: {}, "another CA": fixture.stranger, expired: fixture.expired };
    const before = withMessage(log.lines, "request").length;
    for (const [name, client] of Object.entries(refused)) {
      await assert.rejects(httpsRequest(h.url, "GET", "/health", { ca: fixture.ca, ...client }), `HTTP/1.1 with ${name}`);
      await assert.rejects(h2Health(h.url, client), `h2 with ${name}`);
    }
    assert.equal(withMessage(log.lines, "request").length, before, "no request reached the handler");
    const reasons = withMessage(log.lines, "tls handshake failed").map((line) => line.reason);
    assert.ok(reasons.includes("CERT_HAS_EXPIRED"), `expired is logged: ${JSON.stringify(reasons)}`);
  });
});

describe("peerIdentity", () => {
  let server: http2.Http2SecureServer;
  let url: string;

  before(async () => {
    // A server that asks for a certificate but lets every client in, to show what the helper answers for each.
    const answer = (request: http2.Http2ServerRequest | http.IncomingMessage, response: http2.Http2ServerResponse): void => {
      response.end(JSON.stringify(peerIdentity(request) ?? null));
    };
    server = http2.createSecureServer({ ...fixture.server, ca: fixture.ca, allowHTTP1: true, requestCert: true, rejectUnauthorized: false }, answer);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("gives a verified client certificate's CN, SANs and fingerprint over HTTP/1.1 and h2; nothing for none or an unverified one", async () => {
    const expected = { commonName: "worker", altNames: ["DNS:worker.internal"], fingerprint256: new X509Certificate(fixture.client.cert).fingerprint256 };
    assert.deepEqual((await httpsRequest(url, "GET", "/", { ca: fixture.ca, ...fixture.client })).body, expected);
    const session = await connectH2(url, { ca: fixture.ca, ...fixture.client });
    assert.deepEqual((await h2Request(session, "GET", "/")).body, expected);
    session.destroy();
    assert.equal((await httpsRequest(url, "GET", "/", { ca: fixture.ca })).body, null);
    assert.equal((await httpsRequest(url, "GET", "/", { ca: fixture.ca, ...fixture.stranger })).body, null);
  });
});

describe("reloading the TLS files", () => {
  let own: TlsFixture;
  let h: TestServer;
  const log = recordingLogger("info");

  before(async () => {
    own = await tlsFixture();
    h = await startTestServer({ tls: own.serverOnly, logger: log.logger });
  });

  after(async () => {
    await h.close();
    own.remove();
  });

  const serialOf = (pair: PemPair): string => new X509Certificate(pair.cert).serialNumber;

  test("new connections get the renewed certificate; a take stream opened before keeps receiving jobs", async () => {
    const oldSession = await connectH2(h.url, { ca: own.ca });
    try {
      const queue = uniqueName("reload");
      const take = await h2Take(oldSession, queue, STREAM_MEDIA.ndjson);
      const first = await presentedCertificate(h.url, own.ca);
      assert.equal(first.serialNumber, serialOf(own.server));

      const renewed = await own.renewServer();
      assert.equal(h.server.reloadTls(), true);
      const second = await presentedCertificate(h.url, own.ca);
      assert.equal(second.serialNumber, serialOf(renewed));
      assert.notEqual(second.fingerprint256, first.fingerprint256);
      assert.deepEqual(withMessage(log.lines, "tls reloaded").map((line) => line.serial), [serialOf(renewed)]);

      const newSession = await connectH2(h.url, { ca: own.ca });
      assert.equal((newSession.socket as tls.TLSSocket).alpnProtocol, "h2", "ALPN still offers h2 after the reload");
      const created = await h2Request(newSession, "POST", "/jobs", jobInput(queue));
      newSession.destroy();
      assert.equal((await take.next(2000)).id, created.body.id, "the stream opened before the reload got the job");
      assert.equal((await h2Request(oldSession, "POST", `/jobs/${created.body.id}/success`)).status, 204, "the old connection still answers");
      take.close();
    } finally {
      oldSession.destroy();
    }
  });

  test("a reload from a bad file is refused and logged; the certificate in use stays", async () => {
    const inUse = (await presentedCertificate(h.url, own.ca)).serialNumber;
    writeFileSync(own.serverOnly.key, "not a key");
    assert.equal(h.server.reloadTls(), false);
    writeFileSync(own.serverOnly.key, fixture.server.key);
    assert.equal(h.server.reloadTls(), false, "the key of another certificate");
    const failures = withMessage(log.lines, "tls reload failed").map((line) => String(line.error));
    assert.equal(failures.length, 2);
    assert.match(failures[0]!, /server-key\.pem holds no unencrypted PEM private key/);
    assert.match(failures[1]!, /server-key\.pem is not the private key of the certificate in .*server-cert\.pem/);
    assert.equal((await presentedCertificate(h.url, own.ca)).serialNumber, inUse);
    assert.equal((await httpsRequest(h.url, "GET", "/health", { ca: own.ca })).status, 200);
  });
});

describe("unusable TLS files at start", () => {
  const refusedFor = async (tlsOptions: TlsOptions, option: keyof TlsOptions, message: RegExp): Promise<void> => {
    await assert.rejects(startServer({ port: 0, store: "sqlite::memory:", logLevel: "silent", tls: tlsOptions }), (error: unknown) => {
      assert.ok(error instanceof InvalidTlsError, String(error));
      assert.equal(error.option, option);
      assert.match(error.message, message);
      return true;
    });
  };

  test("a missing file, a file that is no certificate, or a key that does not match is refused with InvalidTlsError naming the option", async () => {
    await refusedFor({ ...fixture.serverOnly, cert: `${fixture.dir}/missing.pem` }, "cert", /cannot read .*missing\.pem \(ENOENT\)/);
    await refusedFor({ ...fixture.mutual, clientCa: fixture.mutual.key }, "clientCa", /server-key\.pem holds no PEM certificate/);
    await refusedFor({ ...fixture.serverOnly, key: fixture.mutual.clientCa }, "key", /ca-cert\.pem holds no unencrypted PEM private key/);
  });
});
