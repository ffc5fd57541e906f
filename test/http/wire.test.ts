/**
 * MessagePack and JSON exactly as clients write and read them: every integer width on every
 * numeric field, integers answered as integers (never float64), payloads that come back digit for
 * digit and key for key, and a 400 naming the field for what a JSON payload cannot hold. Request
 * bodies are built byte by byte (test/helpers/msgpack-bytes.ts), not by the server's own codec.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpTransport } from "../../src/client/http-transport.js";
import { decodeMsgpack } from "../../src/http/msgpack.js";
import { newJobId } from "../../src/job/ids.js";
import { connect } from "../../src/index.js";
import { startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import {
  bin, ext, FLOAT_WIRES, fits, INT_WIRES, integralFloats, mapOf, msgpackBytes, raw, wire, wireTypes, type NumberWire,
} from "../helpers/msgpack-bytes.js";

let h: TestServer;
const MSGPACK = "application/msgpack";
const JSON_TYPE = "application/json";
const WIRES: NumberWire[] = [...INT_WIRES, ...FLOAT_WIRES];

before(async () => {
  h = await startTestServer();
});

after(async () => {
  await h.close();
});

interface Answer {
  status: number;
  bytes: Buffer;
  text: string;
  /** The body decoded: JSON by JSON.parse (tests look at big integers in `text`), MessagePack by wireTypes' reading. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests index freely into answers
}

/** One request with a body given as bytes (or JSON text), answered in `accept`. */
async function call(method: string, path: string, body: Buffer | string | undefined, accept = MSGPACK): Promise<Answer> {
  const headers: Record<string, string> = { accept };
  if (body !== undefined) headers["content-type"] = typeof body === "string" ? JSON_TYPE : MSGPACK;
  const response = await fetch(h.url + path, { method, headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  const type = response.headers.get("content-type") ?? "";
  let decoded: unknown;
  if (bytes.length > 0) decoded = type.startsWith(MSGPACK) ? decodeForTest(bytes) : JSON.parse(bytes.toString("utf8"));
  return { status: response.status, bytes, text: bytes.toString("utf8"), body: decoded };
}

/** wireTypes throws on anything malformed, which is the check that matters; the server's codec builds the value. */
function decodeForTest(bytes: Buffer): unknown {
  wireTypes(bytes);
  return decodeMsgpack(bytes);
}

function expectStatus(answer: Answer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
}

/** A 400 (or `status`) whose error names `field`. */
function expectRefusal(answer: Answer, field: string, what: string, status = 400): void {
  expectStatus(answer, status, what);
  const message = String(answer.body?.error);
  assert.ok(message.includes(field), `${what}: the error should name ${field}: ${message}`);
}

/** No integral number went out as a float, anywhere in the answer. */
function expectIntegersAsIntegers(answer: Answer, what: string): void {
  assert.deepEqual(integralFloats(answer.bytes), [], `${what}: integers encoded as floats`);
}

function wireOf(answer: Answer, path: string): string {
  const found = wireTypes(answer.bytes).get(path);
  assert.ok(found, `no ${path} in the answer`);
  return found.type;
}

/** A valid value for a field that `type` can carry, or undefined when none fits. */
function sample(type: NumberWire, candidates: ReadonlyArray<number>): number | undefined {
  return candidates.find((value) => fits(type, value) && (type !== "negfixint" || value < 0));
}

interface NumericField {
  /** Path in the enqueue body, dotted. */
  path: string;
  /** Valid values to try, smallest first, so every wire type finds one it can hold. */
  valid: number[];
  /** Values out of the field's range. */
  invalid: Array<number | bigint>;
  /** Whether fractions are allowed (exponent, timeout). */
  fractional: boolean;
}

const NUMERIC_FIELDS: NumericField[] = [
  { path: "priority", valid: [0, 7, 200, 1000, 60_000, 65_535], invalid: [-1, 65_536, 2n ** 63n + 1n], fractional: false },
  { path: "retry_limit", valid: [0, 3, 100, 30_000, 70_000, 2 ** 31 - 1], invalid: [-1, 2 ** 31, -(2n ** 63n)], fractional: false },
  { path: "backoff.base_ms", valid: [0, 5, 150, 10_000, 100_000], invalid: [-5, 2 ** 31, 2n ** 64n - 1n], fractional: false },
  { path: "backoff.jitter_ms", valid: [0, 9, 250, 40_000, 1_000_000], invalid: [-1, 2 ** 32], fractional: false },
  { path: "backoff.exponent", valid: [0, 2, 4, 32], invalid: [-1, 33, 2n ** 63n], fractional: true },
  { path: "retention.completed_ms", valid: [0, 60, 250, 60_000, 3_600_000, 5_184_000_000], invalid: [-1, 2n ** 63n + 1n, -(2n ** 63n)], fractional: false },
  { path: "retention.dead_ms", valid: [0, 1, 255, 65_535, 604_800_000, 5_184_000_000], invalid: [-60], fractional: false },
  { path: "timeout", valid: [1, 30, 200, 3600, 86_400], invalid: [0, -1, 86_401, 2n ** 63n], fractional: true },
];

/** An enqueue body with `value` at `path`; backoff's other fields filled in. */
function enqueueBody(queue: string, path: string, value: unknown): Record<string, unknown> {
  const body: Record<string, unknown> = { queue, type: "wire", payload: { n: 1 } };
  const [head, leaf] = path.split(".");
  if (leaf === undefined) body[head!] = value;
  else if (head === "backoff") body.backoff = { base_ms: 10, exponent: 2, jitter_ms: 0, [leaf]: value };
  else body[head!] = { [leaf]: value };
  return body;
}

function fieldValue(job: Record<string, any>, path: string): unknown { // eslint-disable-line @typescript-eslint/no-explicit-any
  return path.split(".").reduce<any>((value, key) => value?.[key], job); // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe("every MessagePack number width on every numeric field", () => {
  for (const field of NUMERIC_FIELDS) {
    test(`enqueue: ${field.path} in every width that holds a valid value`, async () => {
      const queue = uniqueName();
      for (const type of WIRES) {
        const value = sample(type, field.valid.filter((v) => Number.isInteger(v)));
        if (value === undefined) continue;
        const answer = await call("POST", "/jobs", msgpackBytes(enqueueBody(queue, field.path, wire(type, value))));
        expectStatus(answer, 201, `${field.path} as ${type} ${value}`);
        assert.equal(fieldValue(answer.body, field.path), value, `${field.path} as ${type}`);
        expectIntegersAsIntegers(answer, `${field.path} as ${type}`);
      }
    });

    test(`enqueue: ${field.path} out of range or fractional is 400 naming it, in any width`, async () => {
      const queue = uniqueName();
      const cases: Array<[NumberWire, number | bigint]> = [];
      for (const value of field.invalid) {
        for (const type of WIRES) if (fits(type, value)) cases.push([type, value]);
      }
      if (!field.fractional) cases.push(["float64", 1.5], ["float32", 2.5]);
      cases.push(["float64", Number.NaN], ["float64", Number.POSITIVE_INFINITY], ["float32", Number.NEGATIVE_INFINITY]);
      for (const [type, value] of cases) {
        const answer = await call("POST", "/jobs", msgpackBytes(enqueueBody(queue, field.path, wire(type, value))));
        expectRefusal(answer, `job.${field.path}`, `${field.path} as ${type} ${value}`);
      }
      // A fraction where fractions are allowed.
      if (field.fractional) {
        const answer = await call("POST", "/jobs", msgpackBytes(enqueueBody(queue, field.path, wire("float64", 1.25))));
        expectStatus(answer, 201, `${field.path} 1.25`);
        assert.equal(fieldValue(answer.body, field.path), 1.25);
        assert.equal(wireTypes(answer.bytes).get(field.path)?.type, "float64", "a fraction stays a float64");
      }
    });
  }

  test("enqueue: ready_at in every width that holds a timestamp, and past ones in the narrow widths", async () => {
    const queue = uniqueName();
    const future = h.clock.now() + 3_600_000;
    for (const type of WIRES) {
      const value = fits(type, future) ? future : sample(type, [0, 5, 100, 200, 60_000, 4_000_000_000]);
      if (value === undefined) continue;
      const answer = await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, ready_at: wire(type, value) }));
      expectStatus(answer, 201, `ready_at as ${type}`);
      assert.equal(answer.body.ready_at, value === future ? future : answer.body.ready_at);
      assert.equal(answer.body.status, value === future ? "scheduled" : "ready", `ready_at as ${type} ${value}`);
      expectIntegersAsIntegers(answer, `ready_at as ${type}`);
    }
    for (const [type, value] of [["uint64", 2n ** 63n + 1n], ["int64", -(2n ** 63n)], ["int8", -1], ["float64", future + 0.5], ["float64", 2 ** 60]] as const) {
      expectRefusal(await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, ready_at: wire(type, value) })), "job.ready_at", `ready_at ${type} ${value}`);
    }
  });

  test("bulk enqueue: every width in one request; a bad one names its job and field", async () => {
    const queue = uniqueName();
    const future = h.clock.now() + 60_000;
    const jobs = WIRES.filter((type) => fits(type, 9) || fits(type, -1)).map((type) => ({
      queue, type: "wire", payload: { width: type },
      priority: fits(type, 9) ? wire(type, 9) : 9,
      ready_at: fits(type, future) ? wire(type, future) : future,
      retention: { completed_ms: wire("uint64", 5_184_000_000), dead_ms: wire("float64", 5_184_000_000) },
    }));
    const answer = await call("POST", "/jobs/bulk", msgpackBytes({ jobs }));
    expectStatus(answer, 201, "bulk");
    assert.equal(answer.body.jobs.length, jobs.length);
    for (const job of answer.body.jobs) {
      assert.equal(job.priority, 9);
      assert.equal(job.ready_at, future);
      assert.deepEqual(job.retention, { completed_ms: 5_184_000_000, dead_ms: 5_184_000_000 });
    }
    expectIntegersAsIntegers(answer, "bulk");
    assert.equal(wireOf(answer, "jobs[0].ready_at"), "uint64");
    assert.equal(wireOf(answer, "jobs[0].retention.dead_ms"), "uint64");

    const bad = [...jobs.slice(0, 2), { ...jobs[0]!, priority: wire("uint64", 2n ** 64n - 1n) }];
    expectRefusal(await call("POST", "/jobs/bulk", msgpackBytes({ jobs: bad })), "jobs[2].priority", "bulk with a uint64 priority");
  });

  test("patch: every field in every width; out of range is 422 naming the field", async () => {
    const queue = uniqueName();
    const created = await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {} }));
    expectStatus(created, 201, "enqueue");
    const id = created.body.id as string;
    const future = h.clock.now() + 120_000;
    for (const type of WIRES) {
      const small = sample(type, [3, 200, 1000, 40_000]);
      if (small === undefined) continue;
      const patch = {
        priority: wire(type, small),
        retry_limit: wire(type, small),
        timeout: wire(type, small),
        backoff: { base_ms: wire(type, small), exponent: wire(type, 3), jitter_ms: wire(type, small) },
        retention: { completed_ms: wire(type, small), dead_ms: fits(type, 5_184_000_000) ? wire(type, 5_184_000_000) : wire(type, small) },
        ready_at: fits(type, future) ? wire(type, future) : null,
      };
      const answer = await call("PATCH", `/jobs/${id}`, msgpackBytes(patch));
      expectStatus(answer, 200, `patch as ${type}`);
      assert.equal(answer.body.priority, small);
      assert.equal(answer.body.retry_limit, small);
      assert.equal(answer.body.timeout, small);
      assert.deepEqual(answer.body.backoff, { base_ms: small, exponent: 3, jitter_ms: small });
      expectIntegersAsIntegers(answer, `patch as ${type}`);
      if (patch.ready_at !== null) {
        assert.equal(answer.body.ready_at, future);
        assert.equal(wireOf(answer, "ready_at"), "uint64");
      }
    }
    for (const [field, value] of [["priority", wire("uint64", 2n ** 63n + 1n)], ["ready_at", wire("int64", -(2n ** 63n))], ["retry_limit", wire("float64", 1.5)], ["timeout", wire("float32", Number.NaN)]] as const) {
      expectRefusal(await call("PATCH", `/jobs/${id}`, msgpackBytes({ [field]: value })), field, `patch ${field}`, 422);
    }
    expectRefusal(await call("PATCH", `/jobs/${id}`, msgpackBytes({ retention: { dead_ms: wire("uint64", 2n ** 64n - 1n) } })), "retention.dead_ms", "patch retention", 422);
    // The bulk patch takes the same bodies.
    const bulk = await call("PATCH", `/jobs?queue=${queue}`, msgpackBytes({ priority: wire("uint64", 11), ready_at: wire("int64", future) }));
    expectStatus(bulk, 200, "bulk patch");
    assert.equal(bulk.body.patched, 1);
  });

  test("failure: retry_at in every width that holds a timestamp; error records and counts answer as integers", async () => {
    const queue = uniqueName();
    const retryAt = h.clock.now() + 600_000;
    for (const type of WIRES.filter((candidate) => fits(candidate, retryAt))) {
      const created = await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, ready_at: wire("uint64", 0) }));
      expectStatus(created, 201, "enqueue");
      const frame = await takeFrame(queue, "application/vnd.zizq.msgpack-stream");
      const taken = decodeMsgpack(frame) as { id: string; run_id: string };
      assert.equal(taken.id, created.body.id);
      assert.deepEqual(integralFloats(frame), [], "take frames carry integers as integers");
      assert.equal(wireTypes(frame).get("dequeued_at")?.type, "uint64");
      assert.equal(wireTypes(frame).get("lease_expires_at")?.type, "uint64");
      const failed = await call("POST", `/jobs/${taken.id}/failure`, msgpackBytes({ message: "boom", retry_at: wire(type, retryAt), run_id: taken.run_id }));
      expectStatus(failed, 200, `failure with retry_at as ${type}`);
      assert.equal(failed.body.status, "scheduled");
      assert.equal(failed.body.ready_at, retryAt);
      expectIntegersAsIntegers(failed, "failure answer");
      for (const key of ["ready_at", "dequeued_at", "failed_at"]) assert.equal(wireOf(failed, key), "uint64", key);

      const errors = await call("GET", `/jobs/${taken.id}/errors`, undefined);
      expectStatus(errors, 200, "errors");
      expectIntegersAsIntegers(errors, "errors");
      assert.equal(wireOf(errors, "errors[0].failed_at"), "uint64");
      assert.equal(wireOf(errors, "errors[0].attempt"), "fixint");
      const one = await call("GET", `/jobs/${taken.id}/errors/1`, undefined);
      expectIntegersAsIntegers(one, "one error");
    }
    expectRefusal(await call("POST", `/jobs/${newJobId()}/failure`, msgpackBytes({ message: "x", retry_at: wire("uint64", 2n ** 63n + 1n) })), "retry_at", "retry_at past range");
    expectRefusal(await call("POST", `/jobs/${newJobId()}/failure`, msgpackBytes({ message: "x", retry_at: wire("float64", 1.5) })), "retry_at", "fractional retry_at");
    const count = await call("GET", `/jobs/count?queue=${queue}`, undefined);
    assert.equal(wireOf(count, "count"), "fixint");
    const list = await call("GET", `/jobs?queue=${queue}`, undefined);
    expectIntegersAsIntegers(list, "list");
    assert.equal(wireOf(list, "jobs[0].ready_at"), "uint64");
    assert.equal(wireOf(list, "jobs[0].priority"), "uint16");
  });
});

/** The first job frame of a take stream on `queue`: MessagePack bytes, or one NDJSON line as bytes. */
async function takeFrame(queue: string, accept: string): Promise<Buffer> {
  const controller = new AbortController();
  const response = await fetch(`${h.url}/jobs/take?queue=${queue}`, { headers: { accept }, signal: controller.signal });
  const reader = response.body!.getReader();
  let pending = Buffer.alloc(0);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("take stream ended before a job");
      pending = Buffer.concat([pending, value]);
      if (accept === "application/x-ndjson") {
        const lines = pending.toString("utf8").split("\n").filter((line) => line.trim() !== "");
        const newline = pending.lastIndexOf(0x0a);
        if (lines.length > 0 && newline >= 0) return Buffer.from(lines[0]!, "utf8");
        continue;
      }
      while (pending.length >= 4) {
        const length = pending.readUInt32BE(0);
        if (pending.length < 4 + length) break;
        if (length > 0) return pending.subarray(4, 4 + length);
        pending = pending.subarray(4);
      }
    }
  } finally {
    controller.abort();
    await reader.cancel().catch(() => undefined);
  }
}

describe("payloads come back exactly as they were sent", () => {
  const BIG_JSON = '{"zeta":12345678901234567890,"alpha":-9223372036854775808,"huge":123456789012345678901234567890,"nested":{"b":[1,18446744073709551615,-1.5],"a":"ünï 😀"},"safe":9007199254740991,"float":0.1}';

  test("JSON in, JSON out: every digit and the key order", async () => {
    const queue = uniqueName();
    const created = await call("POST", "/jobs", `{"queue":"${queue}","type":"wire","payload":${BIG_JSON}}`, JSON_TYPE);
    expectStatus(created, 201, "enqueue");
    const read = await call("GET", `/jobs/${created.body.id}`, undefined, JSON_TYPE);
    expectStatus(read, 200, "get");
    assert.ok(read.text.includes(`"payload":${BIG_JSON}`), `payload text kept: ${read.text}`);
    const listed = await call("GET", `/jobs?queue=${queue}`, undefined, JSON_TYPE);
    assert.ok(listed.text.includes(`"payload":${BIG_JSON}`), "in listings too");
    const line = await takeFrame(queue, "application/x-ndjson");
    assert.ok(line.toString("utf8").includes(`"payload":${BIG_JSON}`), "and in NDJSON take frames");
  });

  test("JSON in, MessagePack out: uint64 and int64 for what fits, float64 past 64 bits", async () => {
    const queue = uniqueName();
    const created = await call("POST", "/jobs", `{"queue":"${queue}","type":"wire","payload":${BIG_JSON}}`, JSON_TYPE);
    for (const answer of [await call("GET", `/jobs/${created.body.id}`, undefined), { bytes: await takeFrame(queue, "application/vnd.zizq.msgpack-stream") } as Answer]) {
      const types = wireTypes(answer.bytes);
      assert.deepEqual(types.get("payload.zeta"), { type: "uint64", value: 12345678901234567890n });
      assert.deepEqual(types.get("payload.alpha"), { type: "int64", value: -9223372036854775808n });
      assert.deepEqual(types.get("payload.nested.b[1]"), { type: "uint64", value: 18446744073709551615n });
      assert.deepEqual(types.get("payload.nested.b[2]"), { type: "float64", value: -1.5 });
      assert.deepEqual(types.get("payload.huge"), { type: "float64", value: 1.2345678901234568e29 }, "past 64 bits: the nearest float64");
      assert.deepEqual(types.get("payload.safe"), { type: "uint64", value: 9007199254740991 });
      assert.deepEqual(types.get("payload.float"), { type: "float64", value: 0.1 });
      assert.deepEqual(types.get("payload.nested.a"), { type: "str", value: "ünï 😀" });
      const keys = [...types.keys()].filter((path) => /^payload\.\w+$/.test(path) || path.startsWith("payload.nested."));
      assert.deepEqual(keys.filter((path) => !path.startsWith("payload.nested.")), ["payload.zeta", "payload.alpha", "payload.huge", "payload.safe", "payload.float"]);
    }
  });

  test("MessagePack in, JSON and MessagePack out: uint64 2^63+1, int64 -2^63, key order", async () => {
    const queue = uniqueName();
    const payload = mapOf([
      ["z", wire("uint64", 2n ** 63n + 1n)],
      ["m", wire("int64", -(2n ** 63n))],
      ["a", wire("uint64", 2n ** 64n - 1n)],
      ["small", wire("int64", 5)],
      ["neg", wire("int8", -100)],
      ["f32", wire("float32", 0.5)],
      ["f64", wire("float64", 2.25)],
      ["whole", wire("float64", 1733000000000)],
      ["s", "ключ"],
    ]);
    const created = await call("POST", "/jobs", msgpackBytes(mapOf([["queue", queue], ["type", "wire"], ["payload", payload]])));
    expectStatus(created, 201, "enqueue");
    const asJson = await call("GET", `/jobs/${created.body.id}`, undefined, JSON_TYPE);
    assert.ok(
      asJson.text.includes('"payload":{"z":9223372036854775809,"m":-9223372036854775808,"a":18446744073709551615,"small":5,"neg":-100,"f32":0.5,"f64":2.25,"whole":1733000000000,"s":"ключ"}'),
      asJson.text,
    );
    const asMsgpack = await call("GET", `/jobs/${created.body.id}`, undefined);
    const types = wireTypes(asMsgpack.bytes);
    assert.deepEqual(types.get("payload.z"), { type: "uint64", value: 2n ** 63n + 1n });
    assert.deepEqual(types.get("payload.m"), { type: "int64", value: -(2n ** 63n) });
    assert.deepEqual(types.get("payload.a"), { type: "uint64", value: 2n ** 64n - 1n });
    assert.deepEqual(types.get("payload.small"), { type: "fixint", value: 5 });
    assert.deepEqual(types.get("payload.neg"), { type: "int8", value: -100 });
    assert.deepEqual(types.get("payload.f64"), { type: "float64", value: 2.25 });
    assert.deepEqual(types.get("payload.whole"), { type: "uint64", value: 1733000000000 }, "an integral float comes back an integer (JavaScript has one number type)");
    assert.deepEqual([...types.keys()].filter((path) => path.startsWith("payload.")), ["payload.z", "payload.m", "payload.a", "payload.small", "payload.neg", "payload.f32", "payload.f64", "payload.whole", "payload.s"]);
  });

  test("a key given twice keeps its first place and last value, with or without big integers", async () => {
    const queue = uniqueName();
    for (const [sent, kept] of <Array<[string, string]>>[
      ['{"a":1,"b":2,"a":3}', '{"a":3,"b":2}'],
      ['{"a":1,"big":12345678901234567890,"a":3}', '{"a":3,"big":12345678901234567890}'],
    ]) {
      const created = await call("POST", "/jobs", `{"queue":"${queue}","type":"wire","payload":${sent}}`, JSON_TYPE);
      expectStatus(created, 201, sent);
      const read = await call("GET", `/jobs/${created.body.id}`, undefined, JSON_TYPE);
      assert.ok(read.text.includes(`"payload":${kept}`), read.text);
    }
  });

  test("a bulk enqueue keeps every job's payload exact", async () => {
    const queue = uniqueName();
    const jobs = Array.from({ length: 5 }, (_, index) => ({ queue, type: "wire", payload: { i: index, big: wire("uint64", 2n ** 63n + BigInt(index)), b: 1, a: 2 } }));
    const created = await call("POST", "/jobs/bulk", msgpackBytes({ jobs }));
    expectStatus(created, 201, "bulk");
    const listed = await call("GET", `/jobs?queue=${queue}`, undefined, JSON_TYPE);
    for (let index = 0; index < 5; index++) {
      assert.ok(listed.text.includes(`"payload":{"i":${index},"big":${2n ** 63n + BigInt(index)},"b":1,"a":2}`), listed.text);
    }
  });
});

describe("what a JSON payload cannot hold is 400 naming where it is", () => {
  const REFUSED: Array<[string, unknown]> = [
    ["bin", bin([1, 2, 3])],
    ["a timestamp ext", ext(-1, [0, 0, 0, 1])],
    ["ext type 0", ext(0, [0])],
    ["ext type 5", ext(5, [1, 2, 3])],
    ["an integer map key", mapOf([[1, "one"]])],
    ["a nil map key", mapOf([[null, "none"]])],
    ["a bin map key", mapOf([[bin([1]), "x"]])],
    ["NaN", wire("float64", Number.NaN)],
    ["+Infinity as float32", wire("float32", Number.POSITIVE_INFINITY)],
    ["-Infinity", wire("float64", Number.NEGATIVE_INFINITY)],
    ["a string that is not UTF-8", raw([0xa2, 0xc3, 0x28])],
  ];

  for (const [what, value] of REFUSED) {
    test(`${what}, nested in a payload`, async () => {
      const queue = uniqueName();
      const single = await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: { ok: 1, deep: { list: [0, value] } } }));
      expectRefusal(single, "job.payload.deep.list[1]", what);
      const bulk = await call("POST", "/jobs/bulk", msgpackBytes({ jobs: [{ queue, type: "wire", payload: {} }, { queue, type: "wire", payload: { x: value } }] }));
      expectRefusal(bulk, "jobs[1].payload.x", `${what} in bulk`);
      const top = await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: value }));
      expectRefusal(top, "job.payload", `${what} as the payload`);
    });
  }

  test("in a field other than the payload, the field is named", async () => {
    const queue = uniqueName();
    expectRefusal(await call("POST", "/jobs", msgpackBytes({ queue: bin([0x71]), type: "wire", payload: {} })), "job.queue", "bin queue");
    expectRefusal(await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, ready_at: ext(-1, [0, 0, 0, 1]) })), "job.ready_at", "timestamp ready_at");
    expectRefusal(await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, priority: bin([1]) })), "job.priority", "bin priority");
    expectRefusal(await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: {}, backoff: mapOf([[1, 2]]) })), "job.backoff", "backoff keyed by integers");
  });

  test("nothing refused was stored", async () => {
    const queue = uniqueName();
    await call("POST", "/jobs", msgpackBytes({ queue, type: "wire", payload: { x: bin([1]) } }));
    const count = await call("GET", `/jobs/count?queue=${queue}`, undefined);
    assert.equal(count.body.count, 0);
  });

  test("a JSON body that is not UTF-8 is 400, not a payload with U+FFFD in it", async () => {
    const queue = uniqueName();
    const body = Buffer.concat([Buffer.from(`{"queue":"${queue}","type":"wire","payload":{"s":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
    const answer = await fetch(`${h.url}/jobs`, { method: "POST", headers: { "content-type": JSON_TYPE }, body });
    assert.equal(answer.status, 400);
    assert.match(((await answer.json()) as { error: string }).error, /UTF-8/);
    const spelled = await call("POST", "/jobs", `{"queue":"${queue}","type":"wire","payload":{"s":"\uFFFD �"}}`, JSON_TYPE);
    expectStatus(spelled, 201, "a U+FFFD the client meant");
  });

  test("malformed MessagePack is 400, not 500", async () => {
    for (const bytes of [[0xc1], [0xcf, 0, 0], [0x82, 0xa1, 0x61], [0xdd, 0xff, 0xff, 0xff, 0xff], [0x80, 0x00]]) {
      const answer = await call("POST", "/jobs", Buffer.from(bytes));
      expectStatus(answer, 400, `bytes ${Buffer.from(bytes).toString("hex")}`);
    }
  });
});

describe("the SDK", () => {
  for (const format of ["json", "msgpack"] as const) {
    test(`over ${format}: payload integers past 2^53 are BigInt both ways, keys in order`, async () => {
      const client = connect(h.url, { format });
      try {
        const queue = uniqueName();
        const payload = { z: 12345678901234567890n, a: -(2n ** 63n), n: 42, f: 0.5 };
        const created = await client.enqueue({ queue, type: "wire", payload, ready_at: h.clock.now() + 86_400_000 });
        const job = await client.getJob(created.id);
        assert.deepEqual(job.payload, payload);
        assert.deepEqual(Object.keys(job.payload as object), ["z", "a", "n", "f"]);
        assert.equal(typeof job.ready_at, "number");
      } finally {
        await client.close();
      }
    });
  }

  test("over msgpack: take frames carry BigInt payload integers", async () => {
    const client = connect(h.url, { format: "msgpack" });
    try {
      const queue = uniqueName();
      await client.enqueue({ queue, type: "wire", payload: { big: 2n ** 63n + 1n } });
      const transport = new HttpTransport(h.url);
      const stream = transport.take({ queues: [queue], prefetch: 1 });
      try {
        for await (const job of stream) {
          assert.deepEqual(job.payload, { big: 2n ** 63n + 1n });
          assert.equal(typeof job.dequeued_at, "number");
          break;
        }
      } finally {
        await stream.close();
        await transport.close();
      }
    } finally {
      await client.close();
    }
  });
});
