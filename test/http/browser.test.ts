/**
 * A web page on any site must not be able to change a local server's jobs through its visitor's
 * browser: these are the requests a browser sends (simple cross-site requests, DNS rebinding,
 * sandboxed frames), as raw bytes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { InvalidOriginError } from "../../src/index.js";
import { startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { countJobs, enqueue, jobInput } from "../helpers/jobs.js";
import { jsonBody, rawRequest, type RawResponse } from "../helpers/raw-http.js";

let h: TestServer;
let queue: string;
let hostHeader: string;
const JOBS = 3;

before(async () => {
  h = await startTestServer();
  hostHeader = new URL(h.url).host;
  queue = uniqueName();
  for (let i = 0; i < JOBS; i++) await enqueue(h.url, queue);
});

after(() => h.close());

const BROWSER = "User-Agent: Mozilla/5.0\r\nAccept: */*\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: empty";

function refused(response: RawResponse, statuses: number[], what: string): void {
  assert.ok(statuses.includes(response.status), `${what}: expected ${statuses.join(" or ")}, got ${response.status} ${response.body.toString("utf8")}`);
  const body = jsonBody(response) as { error?: unknown } | undefined;
  assert.equal(typeof body?.error, "string", `${what}: {"error": string} body`);
}

async function assertUntouched(what: string): Promise<void> {
  assert.equal(await countJobs(h.url, `queue=${queue}`), JOBS, `${what}: the jobs are all still there`);
}

describe("cross-site requests from a browser", () => {
  test("POST /reset from another site, without a body, is 403 and deletes nothing", async () => {
    const response = await rawRequest(h.url, `POST /reset HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0\r\n${BROWSER}`);
    refused(response, [403], "cross-site reset");
    await assertUntouched("cross-site reset");
  });

  test("a foreign Origin alone (no Sec-Fetch-Site) is enough to refuse a mutation", async () => {
    for (const [method, path] of [["POST", "/reset"], ["DELETE", "/jobs"], ["DELETE", `/jobs?queue=${queue}`], ["PATCH", "/jobs"]] as const) {
      const response = await rawRequest(h.url, `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: http://localhost:3000\r\nContent-Length: 0`);
      refused(response, [403], `${method} ${path} from another origin`);
    }
    await assertUntouched("foreign origin");
  });

  test("Origin: null (a sandboxed iframe, a data: page) is refused", async () => {
    const response = await rawRequest(h.url, `POST /reset HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: null\r\nContent-Length: 0\r\n${BROWSER}`);
    refused(response, [403], "Origin: null");
    await assertUntouched("Origin: null");
  });

  test("Sec-Fetch-Site cross-site or same-site without an Origin is refused", async () => {
    for (const site of ["cross-site", "same-site"]) {
      const response = await rawRequest(h.url, `POST /reset HTTP/1.1\r\nHost: ${hostHeader}\r\nSec-Fetch-Site: ${site}\r\nContent-Length: 0`);
      refused(response, [403], `Sec-Fetch-Site: ${site}`);
    }
    await assertUntouched("sec-fetch-site");
  });

  test("a text/plain body (a simple request) is refused: 403 from a foreign origin, 415 without one", async () => {
    const body = JSON.stringify(jobInput(queue));
    const length = Buffer.byteLength(body);
    const crossSite = await rawRequest(h.url, `POST /jobs HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${length}`, body);
    refused(crossSite, [403], "cross-site text/plain enqueue");
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const response = await rawRequest(h.url, `POST /jobs HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: ${type}\r\nContent-Length: ${length}`, body);
      refused(response, [415], `${type} enqueue`);
    }
    const untyped = await rawRequest(h.url, `POST /jobs HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Length: ${length}`, body);
    refused(untyped, [415], "enqueue without a Content-Type");
    const bulk = `{"jobs":[${body}]}`;
    const chunked = await rawRequest(h.url, `POST /jobs/bulk HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked`, `${Buffer.byteLength(bulk).toString(16)}\r\n${bulk}\r\n0\r\n\r\n`);
    refused(chunked, [415], "chunked text/plain bulk");
    await assertUntouched("text/plain");
  });

  test("reads from another origin still answer (the browser keeps the page from reading them)", async () => {
    const response = await rawRequest(h.url, `GET /health HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: https://evil.example`);
    assert.equal(response.status, 200);
  });

  test("the server's own origin may mutate", async () => {
    const body = JSON.stringify(jobInput(uniqueName()));
    const response = await rawRequest(h.url, `POST /jobs HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: http://${hostHeader}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}`, body);
    assert.equal(response.status, 201, response.body.toString("utf8"));
  });
});

describe("DNS rebinding", () => {
  const port = (): string => new URL(h.url).port;

  test("a Host that is not a loopback name is refused, for reads and writes alike", async () => {
    for (const head of [
      `GET /jobs HTTP/1.1\r\nHost: evil.example:${port()}`,
      `GET /metrics HTTP/1.1\r\nHost: evil.example:${port()}`,
      `POST /reset HTTP/1.1\r\nHost: evil.example:${port()}\r\nContent-Length: 0`,
      `POST /reset HTTP/1.1\r\nHost: evil.example:${port()}\r\nOrigin: http://evil.example:${port()}\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 0`,
      `DELETE /jobs HTTP/1.1\r\nHost: 127.0.0.1.evil.example:${port()}`,
      `POST /reset HTTP/1.1\r\nHost: 10.0.0.1:${port()}\r\nContent-Length: 0`,
    ]) {
      refused(await rawRequest(h.url, head), [403, 421], head.split("\r\n").join(" | "));
    }
    await assertUntouched("rebinding");
  });

  test("loopback names and addresses, with or without the port, are served", async () => {
    for (const host of [hostHeader, `localhost:${port()}`, "localhost", `127.0.0.1:${port()}`, `127.1.2.3:${port()}`, `[::1]:${port()}`, `LOCALHOST:${port()}`]) {
      const response = await rawRequest(h.url, `GET /health HTTP/1.1\r\nHost: ${host}`);
      assert.equal(response.status, 200, `Host: ${host}: ${response.body.toString("utf8")}`);
    }
  });

  test("HTTP/2: :authority is the Host", async () => {
    const session = http2.connect(h.url);
    try {
      const status = (authority: string, method: string, path: string): Promise<number> => new Promise((resolve, reject) => {
        const stream = session.request({ ":method": method, ":path": path, ":authority": authority });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
        stream.end();
      });
      assert.ok([403, 421].includes(await status(`evil.example:${port()}`, "POST", "/reset")));
      assert.ok([403, 421].includes(await status(`evil.example:${port()}`, "GET", "/jobs")));
      assert.equal(await status(hostHeader, "GET", "/health"), 200);
    } finally {
      session.destroy();
    }
    await assertUntouched("HTTP/2 rebinding");
  });

  test("a server bound to every interface does not judge Host (it cannot know its names), but still Origin", async () => {
    const open = await startTestServer({ host: "0.0.0.0", insecureNoAuth: true });
    try {
      const url = `http://127.0.0.1:${open.server.port}`;
      assert.equal((await rawRequest(url, `GET /health HTTP/1.1\r\nHost: wharf.internal:${open.server.port}`)).status, 200);
      refused(await rawRequest(url, `POST /reset HTTP/1.1\r\nHost: wharf.internal:${open.server.port}\r\nOrigin: https://evil.example\r\nContent-Length: 0`), [403], "foreign origin on 0.0.0.0");
    } finally {
      await open.close();
    }
  });
});

describe("--allowed-origin: pages of named origins may call the server, with CORS", () => {
  const OPS = "https://ops.example.com";
  let allowed: TestServer;
  let allowedHost: string;
  before(async () => {
    allowed = await startTestServer({ allowedOrigins: [OPS, "http://localhost:5173"] });
    allowedHost = new URL(allowed.url).host;
  });
  after(() => allowed.close());

  test("a preflight from an allowed origin is answered with the methods and headers the API takes; any other is 403", async () => {
    const preflight = (origin: string): Promise<RawResponse> => rawRequest(allowed.url, `OPTIONS /jobs HTTP/1.1\r\nHost: ${allowedHost}\r\nOrigin: ${origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Site: cross-site`);
    const answered = await preflight(OPS);
    assert.equal(answered.status, 204, answered.body.toString("utf8"));
    assert.equal(answered.headers["access-control-allow-origin"], OPS);
    assert.match(answered.headers["access-control-allow-methods"]!, /\bPOST\b/);
    assert.match(answered.headers["access-control-allow-headers"]!, /\bAuthorization\b/);
    assert.match(answered.headers.vary!, /Origin/);
    const foreign = await preflight("https://evil.example");
    refused(foreign, [403], "preflight from a foreign origin");
    assert.equal(foreign.headers["access-control-allow-origin"], undefined);
  });

  test("the allowed origin's cross-site fetch enqueues and its page may read the answer; a foreign one is still refused", async () => {
    const body = JSON.stringify(jobInput(uniqueName()));
    const fetched = await rawRequest(allowed.url, `POST /jobs HTTP/1.1\r\nHost: ${allowedHost}\r\nOrigin: ${OPS}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}`, body);
    assert.equal(fetched.status, 201, fetched.body.toString("utf8"));
    assert.equal(fetched.headers["access-control-allow-origin"], OPS);
    const error = await rawRequest(allowed.url, `GET /jobs/${"0".repeat(25)} HTTP/1.1\r\nHost: ${allowedHost}\r\nOrigin: ${OPS}`);
    assert.deepEqual([error.status, error.headers["access-control-allow-origin"]], [404, OPS], "errors carry CORS too, so the page can show them");
    refused(await rawRequest(allowed.url, `POST /reset HTTP/1.1\r\nHost: ${allowedHost}\r\nOrigin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0`), [403], "a foreign origin");
    const read = await rawRequest(allowed.url, `GET /health HTTP/1.1\r\nHost: ${allowedHost}\r\nOrigin: https://evil.example`);
    assert.equal(read.headers["access-control-allow-origin"], undefined, "no CORS for a foreign origin: its page cannot read the answer");
  });

  test("an allowed origin's host is served on loopback (a proxy in front); other names still are not", async () => {
    assert.equal((await rawRequest(allowed.url, "GET /health HTTP/1.1\r\nHost: ops.example.com")).status, 200);
    refused(await rawRequest(allowed.url, "GET /health HTTP/1.1\r\nHost: evil.example"), [421], "another name");
  });

  test("a value that is not an origin stops the server from starting", async () => {
    for (const bad of ["ops.example.com", "https://ops.example.com/ui", "ftp://ops.example.com", "https://user@ops.example.com"]) {
      await assert.rejects(startTestServer({ allowedOrigins: [bad] }), InvalidOriginError, bad);
    }
  });
});
