/**
 * Auth files (AuthFile): every mistake in a token or certificate entry refused with the entry named and
 * no token echoed; tokens kept as hashes; limits read from the entries.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { AuthFile } from "../../src/http/auth-file.js";
import { AuthFileError } from "../../src/http/auth-entries.js";
import { hashedToken, newToken } from "../../src/http/tokens.js";
import { QueuePatterns } from "../../src/http/identity.js";
import type { IncomingRequest } from "../../src/http/identity.js";
import { UnauthorizedError } from "../../src/errors.js";

const SECRET = "s3cret-T0ken-value";
const entry = (fields: Record<string, unknown>): Record<string, unknown> => ({ name: "ci", token: SECRET, scopes: ["enqueue"], ...fields });
const file = (...entries: Array<Record<string, unknown>>): string => JSON.stringify({ tokens: entries });
const certificate = (fields: Record<string, unknown>): Record<string, unknown> => ({ name: "billing", subject_cn: "billing-worker", scopes: ["work"], ...fields });
const certificates = (...entries: Array<Record<string, unknown>>): string => JSON.stringify({ certificates: entries });
/** A request on a cleartext socket: no client certificate. */
const requestWith = (authorization: string | undefined): IncomingRequest => ({ headers: authorization === undefined ? {} : { authorization }, socket: {} }) as IncomingRequest;

describe("an auth file that cannot be used names the file and the line or entry, never the token", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", `{"tokens": [${SECRET}]}`, /^tokens\.json: not valid JSON at line 1, column 13$/],
    ["not JSON, on line 3", `{"tokens": [\n  {"name": "ci",\n   "token": "${SECRET}" "scopes": []}]}`, /at line 3, column 34/],
    ["no tokens list", JSON.stringify({ token: SECRET }), /expected \{"tokens": \[\.\.\.\]\}/],
    ["another top-level field", JSON.stringify({ tokens: [entry({})], extra: 1 }), /unknown field "extra"/],
    ["an empty list", file(), /lists no token and no certificate/],
    ["a list that is not one", JSON.stringify({ tokens: [entry({})], certificates: { name: "x" } }), /"certificates" must be a list/],
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
    ["a rate that is not an object", file(entry({ rate: 10 })), /tokens\[0\] \("ci"\): rate must be \{"requests": N, "per_ms": M\}/],
    ["a rate of no requests", file(entry({ rate: { requests: 0, per_ms: 1000 } })), /rate must be .*got \{"requests":0,"per_ms":1000\}/],
    ["a rate per fractional ms", file(entry({ rate: { requests: 5, per_ms: 0.5 } })), /rate must be .*whole numbers/],
    ["a rate with another field", file(entry({ rate: { requests: 5, per_ms: 1000, burst: 9 } })), /unknown field rate\.burst/],
    ["max_take_streams of 0", file(entry({ max_take_streams: 0 })), /max_take_streams must be a whole number, 1 or more, got 0/],
    ["max_take_streams as text", file(entry({ max_take_streams: "4" })), /max_take_streams must be a whole number, 1 or more, got "4"/],
    ["max_connections of 1.5", file(entry({ max_connections: 1.5 })), /max_connections must be a whole number, 1 or more, got 1.5/],
    ["a certificate with both subject_cn and san", certificates(certificate({ san: "DNS:worker.internal" })), /certificates\[0\] \("billing"\): give exactly one of subject_cn and san/],
    ["a certificate with neither", certificates({ name: "billing", scopes: ["work"] }), /certificates\[0\] \("billing"\): give exactly one of subject_cn and san/],
    ["a certificate with a token", certificates(certificate({ token: SECRET })), /certificates\[0\] \("billing"\): unknown field "token"/],
    ["an empty subject_cn", certificates(certificate({ subject_cn: "" })), /subject_cn must be a non-empty string/],
    ["a san without its type", certificates({ name: "billing", san: "worker.internal", scopes: ["work"] }), /san "worker\.internal" must be TYPE:VALUE with TYPE one of DNS, IP Address, URI, email/],
    ["a certificate without scopes", certificates(certificate({ scopes: [] })), /certificates\[0\] \("billing"\): scopes must list at least one/],
    ["one certificate named twice", certificates(certificate({}), certificate({ name: "billing-2" })), /certificates\[1\] \("billing-2"\) names the same certificate as certificates\[0\] \("billing"\) \(subject_cn "billing-worker"\)/],
    ["a name both a token's and a certificate's", JSON.stringify({ tokens: [entry({ name: "billing" })], certificates: [certificate({})] }), /certificates\[0\]: name "billing" is also tokens\[0\]'s/],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => {
      assert.throws(() => AuthFile.parse(text, "tokens.json"), (error: unknown) => {
        assert.ok(error instanceof AuthFileError, String(error));
        assert.match(error.message, message);
        assert.ok(!error.message.includes(SECRET) && !error.message.includes(SECRET.slice(0, 6)), `the token is echoed: ${error.message}`);
        return true;
      });
    });
  }

  test("an unreadable file", () => {
    assert.throws(() => AuthFile.load("/no/such/tokens.json"), /^AuthFileError: \/no\/such\/tokens\.json: cannot read the auth file/);
  });
});

describe("identifying a request", () => {
  const tokens = AuthFile.parse(file(entry({}), entry({ name: "cd", token: hashedToken("hashed-one"), scopes: ["read", "work"], queues: ["emails.*"], rate: { requests: 5, per_ms: 60_000 }, max_take_streams: 2, max_connections: 4 })));

  test("a token given plain or as its hash names its identity", () => {
    assert.equal(tokens.identify(requestWith(`Bearer ${SECRET}`))?.name, "ci");
    const cd = tokens.identify(requestWith("bearer  hashed-one"))!;
    assert.deepEqual([cd.name, [...cd.scopes], cd.queues?.patterns, cd.limits], ["cd", ["read", "work"], ["emails.*"], { maxTakeStreams: 2, maxConnections: 4, rate: { requests: 5, perMs: 60_000 } }]);
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
