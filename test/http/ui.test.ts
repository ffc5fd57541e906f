/** The dashboard's files over HTTP: served to anyone (they hold no data), under a strict Content-Security-Policy. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuthFile } from "../../src/http/auth-file.js";
import { assertError } from "../helpers/jobs.js";
import { api, startTestServer, type TestServer } from "../helpers/server.js";

describe("dashboard files", () => {
  let h: TestServer;
  before(async () => {
    h = await startTestServer({ auth: AuthFile.parse(JSON.stringify({ tokens: [{ name: "ops", token: "ops-token", scopes: ["read"] }] })) });
  });
  after(() => h.close());

  test("the page, its script and Preact come without a token, each with its type and a policy that allows only this server", async () => {
    for (const [path, type] of [["/ui", "text/html"], ["/ui/app.js", "text/javascript"], ["/ui/style.css", "text/css"], ["/ui/vendor/preact.mjs", "text/javascript"]] as const) {
      const response = await fetch(`${h.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.ok(response.headers.get("content-type")!.startsWith(type), path);
      assert.match(response.headers.get("content-security-policy")!, /^default-src 'self'; script-src 'self' 'sha256-[A-Za-z0-9+/=]+';/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    }
    assert.match(await (await fetch(`${h.url}/ui`)).text(), /<script type="importmap">/);
    assertError(await api(h.url, "GET", "/queues"), 401, "the API still needs the token");
  });

  test("an unknown file is 404, a method other than GET or HEAD 405, both with {error}", async () => {
    assertError(await api(h.url, "GET", "/ui/../etc/passwd"), 404);
    assertError(await api(h.url, "GET", "/ui/secret.txt"), 404);
    assertError(await api(h.url, "POST", "/ui", { body: {} }), 405);
    assert.equal((await fetch(`${h.url}/ui`, { method: "HEAD" })).status, 200);
  });
});
