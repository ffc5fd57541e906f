/** Token files (BearerTokens): every mistake refused with the entry named and no token echoed; tokens kept as hashes. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { BearerTokens, hashedToken, newToken, TokenFileError } from "../../src/http/tokens.js";
import { QueuePatterns } from "../../src/http/identity.js";
import type { IncomingRequest } from "../../src/http/identity.js";
import { UnauthorizedError } from "../../src/errors.js";

const SECRET = "s3cret-T0ken-value";
const entry = (fields: Record<string, unknown>): Record<string, unknown> => ({ name: "ci", token: SECRET, scopes: ["enqueue"], ...fields });
const file = (...entries: Array<Record<string, unknown>>): string => JSON.stringify({ tokens: entries });
const requestWith = (authorization: string | undefined): IncomingRequest => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingRequest;

describe("a token file that cannot be used names the file and the line or entry, never the token", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", `{"tokens": [${SECRET}]}`, /^tokens\.json: not valid JSON at line 1, column 13$/],
    ["not JSON, on line 3", `{"tokens": [\n  {"name": "ci",\n   "token": "${SECRET}" "scopes": []}]}`, /at line 3, column 34/],
    ["no tokens list", JSON.stringify({ token: SECRET }), /expected \{"tokens": \[\.\.\.\]\}/],
    ["another top-level field", JSON.stringify({ tokens: [entry({})], extra: 1 }), /unknown field "extra"/],
    ["an empty list", file(), /lists no token/],
    ["an entry that is no object", JSON.stringify({ tokens: [SECRET] }), /tokens\[0\]: expected an object/],
    ["a missing name", file({ token: SECRET, scopes: ["read"] }), /tokens\[0\]: name must be a non-empty string/],
    ["an empty token", file(entry({ token: "" })), /tokens\[0\] \("ci"\): token must be a non-empty string/],
    ["a token that is not a string", file(entry({ token: 123456789 })), /token must be a non-empty string/],
    ["a bad hash", file(entry({ token: `sha256:${SECRET}` })), /64 hex digits/],
    ["a token a header cannot carry", file(entry({ token: `${SECRET} with spaces` })), /cannot be sent in an Authorization header/],
    ["an unknown scope", file(entry({ scopes: ["enqueue", "superuser"] })), /tokens\[0\] \("ci"\): unknown scope "superuser"/],
    ["no scopes", file(entry({ scopes: [] })), /scopes must list at least one/],
    ["an unknown field", file(entry({ scope: ["read"] })), /unknown field "scope"/],
    ["an empty queue list", file(entry({ queues: [] })), /queues must list at least one pattern/],
    ["a bad queue pattern", file(entry({ queues: ["a,b"] })), /queue pattern "a,b"/],
    ["a duplicate name", file(entry({}), entry({ token: "other-token" })), /tokens\[1\]: name "ci" is also tokens\[0\]'s/],
    ["a duplicate token, once as its hash", file(entry({}), entry({ name: "cd", token: hashedToken(SECRET) })), /tokens\[1\] \("cd"\) has the same token as tokens\[0\] \("ci"\)/],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => {
      assert.throws(() => BearerTokens.parse(text, "tokens.json"), (error: unknown) => {
        assert.ok(error instanceof TokenFileError, String(error));
        assert.match(error.message, message);
        assert.ok(!error.message.includes(SECRET) && !error.message.includes(SECRET.slice(0, 6)), `the token is echoed: ${error.message}`);
        return true;
      });
    });
  }

  test("an unreadable file", () => {
    assert.throws(() => BearerTokens.load("/no/such/tokens.json"), /^TokenFileError: \/no\/such\/tokens\.json: cannot read the token file/);
  });
});

describe("identifying a request", () => {
  const tokens = BearerTokens.parse(file(entry({}), entry({ name: "cd", token: hashedToken("hashed-one"), scopes: ["read", "work"], queues: ["emails.*"] })));

  test("a token given plain or as its hash names its identity", () => {
    assert.equal(tokens.identify(requestWith(`Bearer ${SECRET}`))?.name, "ci");
    const cd = tokens.identify(requestWith("bearer  hashed-one"))!;
    assert.deepEqual([cd.name, [...cd.scopes], cd.queues?.patterns], ["cd", ["read", "work"], ["emails.*"]]);
  });

  test("no Authorization header is no identity; a malformed or unknown one is a 401", () => {
    assert.equal(tokens.identify(requestWith(undefined)), undefined);
    for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", SECRET, `Bearer ${SECRET}x`, "Bearer sha256:" + createHash("sha256").update(SECRET).digest("hex")]) {
      assert.throws(() => tokens.identify(requestWith(header)), UnauthorizedError, header);
    }
  });

  test("new tokens are 32 random bytes in base64url, prefixed; their hash is sha256:HEX", () => {
    const token = newToken();
    assert.match(token, /^wharf_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(newToken(), token);
    assert.equal(hashedToken(token), `sha256:${createHash("sha256").update(token).digest("hex")}`);
  });
});

describe("queue patterns", () => {
  test("* stands for any characters, anything else for itself", () => {
    const patterns = new QueuePatterns(["emails.*", "exact", "*-eu"]);
    for (const queue of ["emails.welcome", "emails.", "emails.a.b", "exact", "billing-eu", "-eu"]) assert.ok(patterns.matches(queue), queue);
    for (const queue of ["emails", "emailsX", "xemails.a", "exactly", "an exact", "billing-eu2", "emails\n"]) assert.ok(!patterns.matches(queue), queue);
    assert.ok(!new QueuePatterns(["a.b"]).matches("aXb"), "a dot is a dot");
  });
});
