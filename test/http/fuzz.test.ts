/**
 * No input makes the server answer 5xx (issue 7, section 3): property-based requests to every
 * route of src/http/api.ts, in JSON and MessagePack, with wrong types, every integer width, NaN and
 * infinities, NUL, deep nesting, huge strings, binary, maps with non-string and duplicate keys,
 * oversize bodies, bad ranges, bad ids and paths, bad jq. Every answer is 2xx or 4xx (4xx with
 * {"error": string}), a rejected request changes no job count, the server stays up, /health beside
 * the fuzzing answers within 100 ms, and every stored job is readable and well-formed afterwards.
 *
 * Seeded: WHARF_FUZZ_SEED=<n> replays a run (the seed is printed on failure); WHARF_FUZZ_RUNS sets
 * the number of requests per property.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fc from "fast-check";
import { packr } from "../../src/http/codec.js";
import { rmSync } from "node:fs";
import { killAllChildren, spawnServer, type SpawnedServer } from "../helpers/cli.js";
import { createDatabase } from "../helpers/postgres.js";
import { tempDir, TEST_STORE } from "../helpers/server.js";
import { HealthWatch } from "../helpers/health-watch.js";
import { choices, toJsonText, toMsgpack, Wild, WildBytes, WildDeep, WildExt, WildMap } from "../helpers/wild-bytes.js";

const SEED = process.env.WHARF_FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.WHARF_FUZZ_SEED);
const RUNS = Number(process.env.WHARF_FUZZ_RUNS ?? 300);
const TIME_LIMIT_MS = 25_000;
const MAX_BODY = 256 * 1024;
const HEALTH_BUDGET_MS = 100;

/** The server runs in its own process, so that the fuzzer's own work does not count against its /health. */
let h: SpawnedServer;
let dataDir: string;
let agent: http.Agent;
/** Jobs the fuzzer can point at; refilled when resets and deletes have emptied the store. */
let ids: string[] = [];
const streamIds: string[] = [];

before(async () => {
  dataDir = tempDir("wharf-fuzz-");
  const extraArgs = ["--max-body-bytes", String(MAX_BODY)];
  if (TEST_STORE === "postgres") {
    const cluster = process.env.WHARF_TEST_POSTGRES_URL;
    if (!cluster) throw new Error("WHARF_TEST_STORE=postgres needs WHARF_TEST_POSTGRES_URL (run the tests through test/postgres-env.ts)");
    extraArgs.push("--store", await createDatabase(cluster));
  }
  h = await spawnServer({ dataDir, extraArgs });
  agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
});

after(async () => {
  agent.destroy();
  await h.stop();
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The server's log lines about failed requests (a 500 logs one), for a failure's message. */
function serverErrors(): string {
  const { stdout, stderr } = h.output();
  return [...stdout.split("\n").filter((line) => line.includes('"level":"error"')), stderr].join("\n").slice(-1500);
}

// ---- talking to the server ----

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer, stream = false): Promise<Answer> {
  const { port } = new URL(h.url);
  // Node sends a DELETE's or GET's body without framing unless told its length.
  if (body !== undefined) headers = { ...headers, "content-length": String(body.length) };
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, method, path, headers, agent: stream ? false : agent }, (response) => {
      const contentType = String(response.headers["content-type"] ?? "");
      const status = response.statusCode ?? 0;
      if (stream && status === 200) {
        // A take stream stays open: its headers are the answer.
        streamIds.push(String(response.headers["wharf-stream-id"] ?? ""));
        response.destroy();
        request.destroy();
        resolve({ status, contentType, body: Buffer.alloc(0) });
        return;
      }
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status, contentType, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.setTimeout(15_000, () => request.destroy(new Error(`no answer to ${method} ${path} within 15 s`)));
    request.on("error", (error: NodeJS.ErrnoException) => {
      // An oversize body is answered (413) before it is all sent; the server may then close on us.
      if (body !== undefined && body.length > MAX_BODY && (error.code === "EPIPE" || error.code === "ECONNRESET")) {
        resolve({ status: 413, contentType: "", body: Buffer.alloc(0) });
        return;
      }
      reject(error);
    });
    request.end(body);
  });
}

function decode(answer: Answer): unknown {
  if (answer.body.length === 0) return undefined;
  if (answer.contentType.startsWith("application/msgpack")) return packr.unpack(answer.body);
  if (answer.contentType.startsWith("application/json")) return JSON.parse(answer.body.toString("utf8"));
  throw new Error(`answer of type ${JSON.stringify(answer.contentType)}: ${answer.body.toString("utf8").slice(0, 200)}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into decoded bodies
async function json(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { accept: "application/json" };
  let bytes: Buffer | undefined;
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    bytes = Buffer.from(JSON.stringify(body));
  }
  const answer = await send(method, path, headers, bytes);
  return { status: answer.status, body: decode(answer) };
}

async function totalJobs(): Promise<number> {
  const { status, body } = await json("GET", "/jobs/count");
  assert.equal(status, 200, `count: ${JSON.stringify(body)}`);
  return body.count as number;
}

async function refill(): Promise<void> {
  if (ids.length >= 4) return;
  const jobs = Array.from({ length: 8 }, (_, n) => ({ queue: `fz${n % 2}`, type: "fuzz", payload: { n, s: "x", list: [1, 2] }, retry_limit: 1 }));
  const { status, body } = await json("POST", "/jobs/bulk", { jobs });
  assert.equal(status, 201, `refill: ${JSON.stringify(body)}`);
  ids = (body.jobs as Array<{ id: string }>).map(({ id }) => id);
}

// ---- what to send ----

const nasty = fc.constantFrom(
  "", "\0", "a\0b", "..", "../..", "..\\..", "/etc/passwd", "*", "a*b", "a,b", "?", "[", "{}", "\\", "%", "%00", "%ZZ", "\ud800", "\uffff",
  "\u202e", "é", "🦀", " ", "\n", "\r\n", "null", "true", "-1", "0x10", "1e999", "NaN", "9".repeat(30), "x".repeat(300), "x".repeat(70_000),
);
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((n) => "s".repeat(n)) },
);
const integers = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 31, 32, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53), -(2 ** 63), -33, -129, -32_769),
  fc.integer(),
  fc.maxSafeInteger(),
);
const numbers = fc.oneof(integers, fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, 1.5, 0.1, 5e-324, 1.7976931348623157e308));
const invalidUtf8 = fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x61, 0x00, 0x62]).map((bytes) => new WildBytes(Uint8Array.from(bytes)));
const scalar: fc.Arbitrary<Wild> = fc.oneof(
  fc.constant(null), fc.boolean(), numbers, text, invalidUtf8,
  fc.uint8Array({ maxLength: 40 }),
  fc.tuple(fc.integer({ min: -128, max: 127 }), fc.constantFrom(1, 2, 4, 8, 16, 3, 300)).map(([type, size]) => new WildExt(type, new Uint8Array(size))),
);
const wild: fc.Arbitrary<Wild> = fc.letrec<{ value: Wild }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 6, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(fc.oneof(scalar, fc.constantFrom<Wild>("queue", "type", "payload")), tie("value")), { maxLength: 4 }).map((entries) => new WildMap(entries)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(63, 64, 65, 200, 5_000, 50_000), scalar).map(([depth, inner]) => new WildDeep(depth, inner)) },
  ),
})).value;

const goodName = fc.constantFrom("fz0", "fz1", "emails", "q-1");
const field = <T extends Wild>(good: fc.Arbitrary<T>): fc.Arbitrary<Wild> => fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: wild });
const backoff = fc.record({ base_ms: field(fc.nat(1000)), exponent: field(fc.double({ min: 0, max: 4, noNaN: true })), jitter_ms: field(fc.nat(10)) }, { requiredKeys: [] });
const enqueueFields = {
  queue: field(goodName), type: field(goodName), payload: field(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(fc.string({ maxLength: 4 }), integers, { maxKeys: 3 }), integers) as fc.Arbitrary<Wild>),
  priority: field(fc.nat(65_535)), ready_at: field(fc.nat()), unique_key: field(fc.string({ minLength: 1, maxLength: 8 })),
  unique_while: field(fc.constantFrom("queued", "active", "exists")), retry_limit: field(fc.nat(5)), backoff: field(backoff as fc.Arbitrary<Wild>),
  retention: field(fc.record({ completed_ms: field(fc.nat()), dead_ms: field(fc.nat()) }, { requiredKeys: [] }) as fc.Arbitrary<Wild>),
  timeout: field(fc.double({ min: 0.001, max: 100, noNaN: true })),
};
/** Mostly with what an enqueue needs, so that most get past the first check; sometimes with an unknown field. */
const enqueueBody = fc.oneof(
  { weight: 6, arbitrary: fc.record(enqueueFields, { requiredKeys: ["queue", "type", "payload"] }) },
  { weight: 1, arbitrary: fc.record(enqueueFields, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ ...enqueueFields, bogus: wild }, { requiredKeys: ["bogus"] }) },
);

const patchBody = fc.record({
  queue: field(goodName), priority: field(fc.nat(65_535)), ready_at: field(fc.oneof(fc.nat(), fc.constant(null))),
  retry_limit: field(fc.nat(5)), backoff: field(backoff as fc.Arbitrary<Wild>), retention: wild, timeout: field(fc.double({ min: 1, max: 10, noNaN: true })),
}, { requiredKeys: [] });
const ackBody = fc.record({ ids: field(fc.array(field(fc.constant("EXISTING")), { maxLength: 4 }) as fc.Arbitrary<Wild>), run_ids: wild }, { requiredKeys: [] }) as fc.Arbitrary<Wild>;
const failureBody = fc.record({ message: field(fc.string()), error_type: field(fc.string()), backtrace: field(fc.string()), retry_at: field(fc.nat()), kill: field(fc.boolean()), run_id: wild }, { requiredKeys: ["message"] }) as fc.Arbitrary<Wild>;
const bulkBody = fc.record({ jobs: fc.oneof({ weight: 6, arbitrary: fc.array(fc.oneof({ weight: 8, arbitrary: enqueueBody as fc.Arbitrary<Wild> }, { weight: 1, arbitrary: wild }), { maxLength: 6 }) }, { weight: 1, arbitrary: wild }) }, { requiredKeys: ["jobs"] }) as fc.Arbitrary<Wild>;
/** The body the route takes, mostly; sometimes any other. */
const BODIES: Array<[RegExp, fc.Arbitrary<Wild>]> = [
  [/^POST \/jobs$/, enqueueBody as fc.Arbitrary<Wild>], [/^POST \/jobs\/bulk$/, bulkBody], [/^PATCH /, patchBody as fc.Arbitrary<Wild>],
  [/^POST \/jobs\/success$/, ackBody], [/failure$/, failureBody],
];
const anyBody: fc.Arbitrary<Wild> = fc.oneof(enqueueBody as fc.Arbitrary<Wild>, bulkBody, patchBody as fc.Arbitrary<Wild>, ackBody, failureBody, wild);
function bodyFor(route: { method: string; path: string }): fc.Arbitrary<Wild> {
  const own = BODIES.find(([pattern]) => pattern.test(`${route.method} ${route.path}`))?.[1];
  return own === undefined ? anyBody : fc.oneof({ weight: 4, arbitrary: own }, { weight: 1, arbitrary: anyBody });
}

/** Raw body bytes, framed the ways a broken or hostile client might. */
type BodySpec =
  | { kind: "none" }
  | { kind: "value"; value: Wild; format: "json" | "msgpack"; mangle: "none" | "truncate" | "trailing" | "bom" | "c1" }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "oversize" };

const bodySpec = (body: fc.Arbitrary<Wild>): fc.Arbitrary<BodySpec> => fc.oneof(
  { weight: 2, arbitrary: fc.constant<BodySpec>({ kind: "none" }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("value" as const), value: body, format: fc.constantFrom("json" as const, "msgpack" as const), mangle: fc.constantFrom("none" as const, "none" as const, "none" as const, "truncate" as const, "trailing" as const, "bom" as const, "c1" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: "oversize" }) },
);

const contentTypes = fc.constantFrom<string | undefined>(
  "MATCH", "MATCH", "MATCH", "MATCH", undefined, "application/json", "application/msgpack", "application/x-msgpack", "application/json; charset=latin1",
  "APPLICATION/JSON", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", ";;", "application/json, text/plain",
);
const accepts = fc.constantFrom<string | undefined>(undefined, "application/json", "application/msgpack", "*/*", "text/html", "application/x-ndjson", "application/vnd.zizq.msgpack-stream", "text/event-stream", ",,", "application/*;q=0");

/** An id segment: a stored job's, or something else. */
type IdSpec = { kind: "existing"; n: number; suffix: string } | { kind: "literal"; raw: string } | { kind: "text"; value: string };
const idSpec: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("existing" as const), n: fc.nat(), suffix: fc.constantFrom("", "", "", "%00", "x", "/..", "%2F..") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("literal" as const), raw: fc.constantFrom("%00", "a%00", "..", ".", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%ZZ", "%C0%AF", "%ED%A0%80", "%FF", "%E2%82", "0".repeat(25), "z".repeat(25), "Z".repeat(25), "x".repeat(5_000), "%20", "%0A", "~", "*", "take", "bulk", "count", "success") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("text" as const), value: fc.oneof(text, fc.stringMatching(/^[0-9a-z]{25}$/)) }) },
);

const ROUTES: Array<{ method: string; path: string; weight: number }> = [
  { method: "GET", path: "/health", weight: 1 }, { method: "GET", path: "/version", weight: 1 }, { method: "GET", path: "/queues", weight: 1 },
  { method: "GET", path: "/metrics", weight: 1 }, { method: "POST", path: "/reset", weight: 1 },
  { method: "POST", path: "/jobs", weight: 8 }, { method: "GET", path: "/jobs", weight: 5 }, { method: "PATCH", path: "/jobs", weight: 4 }, { method: "DELETE", path: "/jobs", weight: 2 },
  { method: "POST", path: "/jobs/bulk", weight: 8 }, { method: "GET", path: "/jobs/count", weight: 4 }, { method: "GET", path: "/jobs/take", weight: 3 },
  { method: "POST", path: "/jobs/take/{stream}/close", weight: 2 }, { method: "POST", path: "/jobs/success", weight: 3 },
  { method: "GET", path: "/jobs/{id}", weight: 4 }, { method: "PATCH", path: "/jobs/{id}", weight: 4 }, { method: "DELETE", path: "/jobs/{id}", weight: 2 },
  { method: "POST", path: "/jobs/{id}/success", weight: 3 }, { method: "POST", path: "/jobs/{id}/failure", weight: 3 }, { method: "POST", path: "/jobs/{id}/heartbeat", weight: 2 },
  { method: "POST", path: "/jobs/{id}/requeue", weight: 2 }, { method: "GET", path: "/jobs/{id}/errors", weight: 2 }, { method: "GET", path: "/jobs/{id}/errors/{attempt}", weight: 2 },
];
const route = fc.oneof(
  { weight: 20, arbitrary: fc.oneof(...ROUTES.map(({ method, path, weight }) => ({ weight, arbitrary: fc.constant({ method, path }) }))) },
  { weight: 1, arbitrary: fc.record({ method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FOO"), path: fc.constantFrom(...ROUTES.map((r) => r.path), "/", "/jobs/", "//jobs", "/jobs/{id}/", "/nope", "/jobs/{id}/errors/{attempt}/x") }) },
);

const PARAM_NAMES = ["id", "queue", "type", "status", "priority", "ready_at", "attempts", "filter", "from", "order", "limit", "prefetch", "bogus", "", "QUEUE"];
const paramValue = fc.oneof(
  text,
  fc.constantFrom("fz0", "fz0,fz1", "ready", "ready,dead", "in_flight", "completed", "nope", "asc", "desc", "1", "0", "-1", "2000", "2001", "1..5", "5..1", "..", "..3", "3..",
    "1...2", "a..b", "--1", "1e3", "+1", " 1", "9007199254740993", "-0", ",", "a,,b", "fz0*", "a b"),
  fc.constantFrom(".n == 1", ".", "..", ".[", "]", "error", "error(\"x\")", ".a.b[0]", "not", "select(.n > 0)", ".list | length", "$x", "@base64d", "if . then 1 else 0 end",
    "\"\\u0000\"", ".\"\\u0000\"", "def f: 1; f", "{}|keys", "tostring", "input", "$__loc__", "env", "limit(3; .[]?)", "ltrimstr(1)", "splits(\"a\")"),
);
const query = fc.oneof({ weight: 2, arbitrary: fc.constant([] as Array<[string, string]>) }, { weight: 3, arbitrary: fc.array(fc.tuple(fc.constantFrom(...PARAM_NAMES), paramValue), { minLength: 1, maxLength: 4 }) });

const request = route.chain((r) => fc.record({
  route: fc.constant(r), id: idSpec, attempt: fc.oneof(fc.nat(5).map(String), text), query, body: bodySpec(bodyFor(r)),
  contentType: contentTypes, accept: accepts, encodingSeed: fc.integer(), streamN: fc.nat(),
}));
type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

function segment(spec: IdSpec): string {
  if (spec.kind === "existing") return `${ids.length === 0 ? "none" : ids[spec.n % ids.length]!}${spec.suffix}`;
  if (spec.kind === "literal") return spec.raw;
  return encodeURIComponent(spec.value.isWellFormed() ? spec.value : spec.value.toWellFormed());
}

function encodeBody(spec: BodySpec, seed: number, known: boolean): { bytes: Buffer | undefined; format: "json" | "msgpack" | undefined } {
  const c = choices(seed, known);
  switch (spec.kind) {
    case "none": return { bytes: undefined, format: undefined };
    case "bytes": return { bytes: Buffer.from(spec.bytes), format: undefined };
    case "oversize": return { bytes: Buffer.from(`{"queue":"q","type":"t","payload":"${"x".repeat(MAX_BODY)}"}`), format: "json" };
    case "value": {
      const value = substituteIds(spec.value);
      let bytes = spec.format === "json" ? toJsonText(value, c) : toMsgpack(value, c);
      if (spec.mangle === "truncate" && bytes.length > 1) bytes = bytes.subarray(0, Math.floor(c.next() * bytes.length));
      if (spec.mangle === "trailing") bytes = Buffer.concat([bytes, Buffer.from([0x00, 0xc1, 0x7b])]);
      if (spec.mangle === "bom") bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
      if (spec.mangle === "c1") bytes = Buffer.concat([Buffer.from([0xc1]), bytes]);
      return { bytes, format: spec.format };
    }
  }
}

/** "EXISTING" in an ack list names a stored job. */
function substituteIds(value: Wild): Wild {
  if (value === "EXISTING") return ids[0] ?? "none";
  if (Array.isArray(value)) return value.map(substituteIds);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value as Record<string, Wild>).map(([k, v]) => [k, substituteIds(v)]));
  }
  return value;
}

function buildPath(r: FuzzRequest): string {
  let path = r.route.path
    .replace("{id}", segment(r.id))
    .replace("{attempt}", encodeURIComponent(r.attempt.toWellFormed()))
    .replace("{stream}", streamIds.length > 0 && r.streamN % 3 !== 0 ? streamIds[r.streamN % streamIds.length]! : encodeURIComponent(String(r.streamN)));
  if (r.query.length > 0) path += `?${r.query.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value.toWellFormed())}`).join("&")}`;
  return path;
}

// ---- what must hold ----

let health: HealthWatch | undefined;
let slowHealth = false;

async function check(r: FuzzRequest, known: boolean): Promise<void> {
  await refill();
  const before = await totalJobs();
  const { bytes, format } = encodeBody(r.body, r.encodingSeed, known);
  const headers: Record<string, string> = {};
  const type = r.contentType === "MATCH" ? (format === "msgpack" ? "application/msgpack" : format === "json" ? "application/json" : undefined) : r.contentType;
  if (type !== undefined && bytes !== undefined) headers["content-type"] = type;
  if (r.accept !== undefined) headers.accept = r.accept;
  const path = buildPath(r);
  const isTake = r.route.method === "GET" && path.split("?")[0] === "/jobs/take";
  if (health) health.current = `${r.route.method} ${path.slice(0, 100)} with ${bytes?.length ?? 0} bytes of ${r.body.kind === "value" ? r.body.format : r.body.kind}`;
  const answer = await send(r.route.method, path, headers, bytes, isTake).catch((error: Error) => {
    throw new Error(`${r.route.method} ${path.slice(0, 200)} (${bytes?.length ?? 0}-byte ${type ?? "untyped"} body): ${error.message}`);
  });
  const what = `${r.route.method} ${path.slice(0, 200)} (${bytes?.length ?? 0}-byte ${type ?? "untyped"} body${bytes && bytes.length < 300 ? ` ${bytes.toString("hex")}` : ""}) answered ${answer.status}: ${answer.body.toString("utf8").slice(0, 300)}`;
  assert.ok(answer.status < 500, `5xx: ${what}\nserver log: ${serverErrors()}`);
  assert.ok(answer.status >= 200 && answer.status !== 304, `not 2xx or 4xx: ${what}`);
  if (answer.status >= 400) {
    if (r.route.method !== "HEAD" && answer.body.length > 0) {
      const decoded = decode(answer) as { error?: unknown };
      assert.equal(typeof decoded?.error, "string", `4xx without {"error": string}: ${what}`);
    } else {
      assert.ok(r.route.method === "HEAD" || answer.status === 413, `4xx without a body: ${what}`);
    }
    assert.equal(await totalJobs(), before, `a refused request changed the job count: ${what}`);
  } else if (!isTake && answer.body.length > 0 && !path.startsWith("/metrics")) {
    decode(answer);
  }
  if (r.route.method === "POST" && path.startsWith("/reset") && answer.status < 300) ids = [];
  if (answer.status < 300 && r.route.method === "DELETE") ids = [];
}

/** Every stored job, paged through and each read by id, has the fields a Job has. */
async function assertStoreWellFormed(): Promise<void> {
  let from: string | undefined;
  let seen = 0;
  for (;;) {
    const { status, body } = await json("GET", `/jobs?limit=2000${from === undefined ? "" : `&from=${from}`}`);
    assert.equal(status, 200, JSON.stringify(body));
    for (const job of body.jobs as Array<Record<string, unknown>>) {
      seen++;
      for (const key of ["id", "queue", "type", "status"]) assert.equal(typeof job[key], "string", `job.${key}: ${JSON.stringify(job).slice(0, 300)}`);
      for (const key of ["priority", "ready_at", "attempts"]) assert.ok(Number.isSafeInteger(job[key]), `job.${key}: ${JSON.stringify(job).slice(0, 300)}`);
      assert.ok("payload" in job, "job.payload");
      if (seen <= 300) {
        const one = await json("GET", `/jobs/${job.id as string}`);
        assert.ok(one.status === 200 || one.status === 404, `GET /jobs/${job.id as string}: ${one.status}`);
        const mp = await send("GET", `/jobs/${job.id as string}`, { accept: "application/msgpack" });
        assert.ok(mp.status === 200 || mp.status === 404, `GET /jobs/${job.id as string} as MessagePack: ${mp.status}`);
      }
    }
    if (body.pages.next === null) break;
    from = (body.jobs as Array<{ id: string }>).at(-1)!.id;
  }
  assert.equal(seen, await totalJobs(), "paging sees every counted job");
}

/**
 * One fuzzing run of `runs` requests. A /health miss is run once more with the same seed: a request
 * that stalls the server does so every time, a loaded machine's hiccup does not.
 */
async function fuzz(known: boolean, runs: number, t: { diagnostic(message: string): void }, attempt = 1): Promise<void> {
  t.diagnostic(`store ${TEST_STORE}, seed ${SEED}, ${runs} runs (replay: WHARF_FUZZ_SEED=${SEED})`);
  // What a loaded machine adds by itself: the budget is for what the fuzzed requests add.
  const idle = new HealthWatch(h.url);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idleMax = (await idle.stop()).max;
  health = new HealthWatch(h.url);
  const started = Date.now();
  let executed = 0;
  try {
    const details = await fc.check(
      fc.asyncProperty(request, async (r) => {
        executed++;
        await check(r, known);
      }),
      { seed: SEED, numRuns: runs, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false, endOnFailure: true },
    );
    if (details.failed) {
      const example = fc.stringify(details.counterexample).replace(/(.)\1{40,}/g, (run, char: string) => `${char}{×${run.length}}`);
      throw new Error(
        `fuzz failed on ${TEST_STORE} after ${details.numRuns} runs; replay with WHARF_FUZZ_SEED=${SEED} (fast-check seed ${details.seed}, path ${details.counterexamplePath})\n` +
          `${String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance).slice(0, 1500)}\ncounterexample: ${example.slice(0, 2000)}`,
      );
    }
  } finally {
    const { max, beside, failures } = await health.stop();
    t.diagnostic(`${executed} requests in ${Date.now() - started} ms; slowest /health beside them ${max.toFixed(1)} ms (idle ${idleMax.toFixed(1)} ms; beside ${beside})`);
    assert.equal(failures, 0, "every /health beside the fuzzing answered 200");
    slowHealth = !known && max >= HEALTH_BUDGET_MS + idleMax;
    if (slowHealth && attempt > 1) assert.fail(`/health took ${max.toFixed(1)} ms (idle ${idleMax.toFixed(1)} ms) beside ${beside} (seed ${SEED})`);
  }
  if (slowHealth) return fuzz(known, runs, t, attempt + 1);
  assert.equal((await json("GET", "/health")).status, 200, "the server is up");
  await assertStoreWellFormed();
}

describe(`inputs that once answered 5xx or hung (${TEST_STORE})`, () => {
  test("a NUL in a job id is a 404 on every store (PostgreSQL answered 503), in a query value a 400", async () => {
    for (const [method, path] of [["GET", "/jobs/%00"], ["DELETE", "/jobs/%00"], ["POST", "/jobs/%00/success"], ["POST", "/jobs/a%00b/heartbeat"],
      ["GET", "/jobs/%00/errors"], ["GET", "/jobs/%00/errors/1"], ["POST", "/jobs/%00/requeue"], ["PATCH", "/jobs/..%2F..%2Fetc%2Fpasswd"]] as const) {
      const answer = await json(method, path, method === "PATCH" ? { priority: 1 } : undefined);
      assert.equal(answer.status, 404, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(typeof answer.body.error, "string");
    }
    for (const path of ["/jobs?queue=a%00", "/jobs/count?type=%00", "/jobs?id=%00", "/jobs?from=a%00", "/jobs/count?filter=%00"]) {
      const answer = await json("GET", path);
      assert.equal(answer.status, 400, `GET ${path}: ${JSON.stringify(answer.body)}`);
    }
  });

  test("a take naming a queue with a reserved character is a 400, not a stream that stays open", async () => {
    for (const queue of ["a*b", "a%3Fb", "%5Bx%5D", "a%5Cb", "a%00b", "%7Bx%7D"]) {
      const answer = await send("GET", `/jobs/take?queue=${queue}`, {}, undefined, true);
      assert.equal(answer.status, 400, `take ?queue=${queue}`);
      assert.equal(typeof (decode(answer) as { error?: unknown }).error, "string");
    }
  });
});

describe(`fuzzing every route (${TEST_STORE})`, () => {
  test("no request is answered 5xx, refused ones change nothing, /health stays fast, stored jobs stay well-formed", async (t) => {
    await fuzz(false, RUNS, t);
  });

  test("8-byte MessagePack integers and ext types", async (t) => {
    await fuzz(true, Math.ceil(RUNS / 3), t);
  });
});
