/**
 * Signed jobs: the server checks producers' ed25519 signatures against its trusted keys and, where
 * queues require them, refuses unsigned jobs; SDK workers with verification keys run only jobs
 * signed by a trusted producer and unchanged since, in the store included. Signatures are made here
 * from the documented signed document, not with the SDK's code, so the format itself is tested.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect, KillJobError, SignatureError, Worker, type Client, type Job as SdkJob } from "../../src/index.js";
import { newJobId } from "../../src/job/ids.js";
import type { Job } from "../../src/job/types.js";
import { assertError, assertStatus, countJobs, enqueue, getJob } from "../helpers/jobs.js";
import { msgpackBytes, wire } from "../helpers/msgpack-bytes.js";
import { api, eventually, startTestServer, uniqueName, type TestServer } from "../helpers/server.js";
import { setJobColumn } from "../helpers/store-sql.js";

const producer = generateKeyPairSync("ed25519");
const stranger = generateKeyPairSync("ed25519");
const KEEP = { retention: { completed_ms: 600_000, dead_ms: 600_000 } };

interface Signed {
  id: string;
  queue: string;
  type: string;
  payload: unknown;
  ready_at?: number;
  deadline?: number;
  dependencies?: string[];
}

/** The README's signed document: UTF-8 JSON of ["wharf.job.v1", id, queue, type, payload, ready_at, deadline, dependencies]. */
function signatureOf(job: Signed, key: KeyObject = producer.privateKey): string {
  const document = JSON.stringify(["wharf.job.v1", job.id, job.queue, job.type, job.payload, job.ready_at ?? null, job.deadline ?? null, job.dependencies ?? []]);
  return sign(null, Buffer.from(document, "utf8"), key).toString("base64");
}

function signedInput(fields: Omit<Signed, "id"> & { id?: string }, key?: KeyObject): Record<string, unknown> {
  const job = { id: newJobId(), ...fields };
  return { ...KEEP, ...job, signature: signatureOf(job, key) };
}

describe("signed jobs, on a server with a trusted key", () => {
  let h: TestServer;
  const clients: Client[] = [];
  before(async () => {
    h = await startTestServer({ signatures: { trustedKeys: [producer.publicKey], requireSigned: false } });
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await h.close();
  });
  const client = (options: Parameters<typeof connect>[1] = {}): Client => {
    const made = connect(h.url, options);
    clients.push(made);
    return made;
  };

  test("a job signed by the trusted key goes in under its own id with its signature; sent again, it answers the same job as a duplicate", async () => {
    const queue = uniqueName("signed");
    const input = signedInput({ queue, type: "mail", payload: { to: "ada@example.com", n: [1, 2.5, null] }, deadline: h.clock.now() + 60_000 });
    const first = await api(h.url, "POST", "/jobs", { body: input });
    assertStatus(first, 201);
    assert.equal(first.body.id, input.id);
    assert.equal(first.body.duplicate, false);
    const stored = await getJob(h.url, input.id as string);
    assert.equal(stored.signature, input.signature);
    assert.equal(stored.signed_ready_at, undefined, "no ready_at was signed");
    const again = await api(h.url, "POST", "/jobs", { body: input });
    assertStatus(again, 200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, input.id);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
  });

  test("the same signed job sent many times at once goes in once; every other answer is the job (200) or a conflict to retry (409), never a 5xx", async () => {
    const queue = uniqueName("racing");
    const input = signedInput({ queue, type: "t", payload: { once: true } });
    const answers = await Promise.all(Array.from({ length: 8 }, () => api(h.url, "POST", "/jobs", { body: input })));
    const statuses = answers.map(({ status }) => status);
    assert.equal(statuses.filter((status) => status === 201).length, 1, `one went in: ${statuses.join(", ")}`);
    assert.ok(statuses.every((status) => status === 201 || status === 200 || status === 409), statuses.join(", "));
    for (const answer of answers) if (answer.status === 409) assert.match(answer.body.error, /enqueued at the same time/);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
  });

  test("MessagePack with a uint64 ready_at and deadline and a uint8 payload number, as Zizq clients write them, verifies over those values", async () => {
    const queue = uniqueName("signed-msgpack");
    const readyAt = h.clock.now() + 3_600_000;
    const deadline = readyAt + 60_000;
    const job = { id: newJobId(), queue, type: "t", payload: { n: 7, ratio: 0.25 }, ready_at: readyAt, deadline };
    const body = msgpackBytes({
      id: job.id, queue, type: "t", payload: { n: wire("uint8", 7), ratio: wire("float64", 0.25) },
      ready_at: wire("uint64", readyAt), deadline: wire("uint64", deadline), signature: signatureOf(job),
    });
    const response = await api(h.url, "POST", "/jobs", { raw: body, format: "msgpack" });
    assertStatus(response, 201);
    assert.equal(response.body.status, "scheduled");
    assert.equal((await getJob(h.url, job.id)).signed_ready_at, readyAt);
  });

  test("a signature by another key, or over other values than those sent, is 403 and nothing is written", async () => {
    const queue = uniqueName("forged");
    const fields = { queue, type: "t", payload: { amount: 10 } };
    assertError(await api(h.url, "POST", "/jobs", { body: signedInput(fields, stranger.privateKey) }), 403);
    const honest = signedInput(fields);
    for (const [name, value] of [["payload", { amount: 1000 }], ["queue", `${queue}-other`], ["type", "other"], ["deadline", h.clock.now() + 1], ["ready_at", h.clock.now() + 1]] as const) {
      const response = await api(h.url, "POST", "/jobs", { body: { ...honest, [name]: value } });
      assertError(response, 403, `changed ${name}`);
      assert.match(response.body.error, /signature does not verify with any trusted key/);
    }
    const bulk = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [signedInput(fields), { ...signedInput(fields), payload: 1 }] } });
    assertError(bulk, 403);
    assert.match(bulk.body.error, /^jobs\[1\]/);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
    assert.equal(await countJobs(h.url, `queue=${queue}-other`), 0);
  });

  test("malformed signatures and ids are 400, naming the field", async () => {
    const queue = uniqueName("malformed");
    const good = signedInput({ queue, type: "t", payload: 1 });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, signature: "not base64!" }, /job\.signature must be the base64 of an ed25519 signature/],
      [{ ...good, signature: Buffer.alloc(32).toString("base64") }, /job\.signature must be the base64/],
      [{ ...good, signature: 42 }, /job\.signature/],
      [{ ...good, id: undefined }, /job\.signature needs job\.id/],
      [{ ...good, id: "../../etc" }, /job\.id is not a job id/],
      [{ queue, type: "t", payload: 1, id: newJobId() }, /job\.id may be given only with a signature/],
      [{ ...good, batch: { key: "k", when: "true", fold: "$new" } }, /signature and job\.batch cannot be given together/],
    ];
    for (const [body, pattern] of cases) {
      const response = await api(h.url, "POST", "/jobs", { body });
      assertError(response, 400, JSON.stringify(body).slice(0, 80));
      assert.match(response.body.error, pattern);
    }
    const twice = signedInput({ id: good.id as string, queue, type: "t", payload: 2 });
    const bulk = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [good, twice] } });
    assertError(bulk, 400);
    assert.match(bulk.body.error, /jobs\[1\]\.id is jobs\[0\]'s id too/);
    assert.equal(await countJobs(h.url, `queue=${queue}`), 0);
  });

  test("a bulk's dependencies by position are signed as the ids they name, each once", async () => {
    const queue = uniqueName("signed-bulk");
    const first = signedInput({ queue, type: "t", payload: "first" });
    const second = { id: newJobId(), queue, type: "t", payload: "second" };
    const dependent = { ...KEEP, ...second, dependencies: [0, first.id, 0], signature: signatureOf({ ...second, dependencies: [first.id as string] }) };
    const response = await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [first, dependent] } });
    assertStatus(response, 201);
    assert.deepEqual(response.body.jobs[1].dependencies, [first.id]);
    assert.equal(response.body.jobs[1].status, "blocked");
  });

  test("a queue with require_signed refuses unsigned jobs (400) and takes signed ones; other queues take both", async () => {
    const queue = uniqueName("strict");
    const settings = await api(h.url, "PATCH", `/queues/${queue}`, { body: { require_signed: true } });
    assertStatus(settings, 200);
    assert.equal(settings.body.settings.require_signed, true);
    const unsigned = await api(h.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } });
    assertError(unsigned, 400);
    assert.match(unsigned.body.error, /is not signed, and queue .* takes only jobs signed by a trusted key/);
    const workflow = await api(h.url, "POST", "/workflows", { body: { chain: [{ queue, type: "t", payload: 1 }] } });
    assertError(workflow, 400, "a workflow's unsigned job");
    assertStatus(await api(h.url, "POST", "/jobs", { body: signedInput({ queue, type: "t", payload: 1 }) }), 201);
    await enqueue(h.url, uniqueName("relaxed"));
    assertStatus(await api(h.url, "PATCH", `/queues/${queue}`, { body: { require_signed: false } }), 200);
    assert.equal((await api(h.url, "GET", `/queues/${queue}`)).body.settings.require_signed, undefined);
    assertStatus(await api(h.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } }), 201);
    assertError(await api(h.url, "PATCH", `/queues/${queue}`, { body: { require_signed: "yes" } }), 400);
  });

  test("a signed job cannot be moved to another queue or freed of its dependencies (422); its ready_at may move", async () => {
    const queue = uniqueName("patched");
    const blocker = await enqueue(h.url, queue);
    const input = signedInput({ queue, type: "t", payload: 1, dependencies: [blocker.id] });
    assertStatus(await api(h.url, "POST", "/jobs", { body: input }), 201);
    const id = input.id as string;
    for (const patch of [{ queue: `${queue}-moved` }, { dependencies: null }]) {
      const response = await api(h.url, "PATCH", `/jobs/${id}`, { body: patch });
      assertError(response, 422, JSON.stringify(patch));
      assert.match(response.body.error, /is signed, and its signature covers its queue and dependencies/);
    }
    assertStatus(await api(h.url, "PATCH", `/jobs/${id}`, { body: { ready_at: h.clock.now() + 1000 } }), 200);
    const bulk = await api(h.url, "PATCH", `/jobs?queue=${queue}`, { body: { queue: `${queue}-moved` } });
    assertStatus(bulk, 200);
    assert.equal(bulk.body.patched, 1, "the bulk patch moves the unsigned job only");
    assert.equal((await getJob(h.url, id)).queue, queue);
  });

  test("an SDK client with a signing key signs what it enqueues, one by one and in bulk; a worker with the key runs it", async () => {
    const queue = uniqueName("sdk");
    const producerClient = client({ signingKey: producer.privateKey.export({ type: "pkcs8", format: "pem" }) as string });
    const single = await producerClient.enqueue({ queue, type: "t", payload: { big: 12345678901234567890n } as never, ready_at: h.clock.now() - 1, ...KEEP });
    const bulk = await producerClient.enqueueBulk([{ queue, type: "t", payload: 1, ...KEEP }, { queue, type: "t", payload: 2, dependencies: [0], ...KEEP }]);
    assert.ok([single, ...bulk].every((job) => job.signature !== undefined));
    const ran: unknown[] = [];
    const worker = new Worker(client(), { queues: [queue], verificationKeys: [producer.publicKey], handlers: { t: (job: SdkJob) => void ran.push(job.payload) } });
    const drained = await worker.drain();
    assert.deepEqual(drained, { completed: 3, retried: 0, dead: 0 });
    assert.deepEqual(ran, [{ big: 12345678901234567890n }, 1, 2], "an integer past 2^53 verifies digit for digit");
  });

  test("a worker with verification keys fails dead, without running them, jobs that are unsigned, signed by another key, or changed in the store after enqueue", async () => {
    const queue = uniqueName("verified");
    const unsigned = await enqueue(h.url, queue, { type: "t", ...KEEP });
    const signed = signedInput({ queue, type: "t", payload: { amount: 10 } });
    const untouched = signedInput({ queue, type: "t", payload: { amount: 20 } });
    for (const body of [signed, untouched]) assertStatus(await api(h.url, "POST", "/jobs", { body }), 201);
    await setJobColumn(h, signed.id as string, "payload", '{"amount":10000}');
    const ran: unknown[] = [];
    const failures: unknown[] = [];
    const worker = new Worker(client(), { queues: [queue], verificationKeys: [stranger.publicKey, producer.publicKey], handlers: { t: (job: SdkJob) => void ran.push(job.payload) } });
    worker.on("failed", (_job, error) => failures.push(error));
    assert.deepEqual(await worker.drain(), { completed: 1, retried: 0, dead: 2 });
    assert.deepEqual(ran, [{ amount: 20 }], "only the untouched signed job ran");
    assert.ok(failures.every((error) => error instanceof SignatureError && error instanceof KillJobError));
    const tampered = await getJob(h.url, signed.id as string);
    assert.equal(tampered.status, "dead");
    assert.deepEqual(tampered.payload, { amount: 10000 });
    const errors = await api(h.url, "GET", `/jobs/${signed.id as string}/errors`);
    assert.equal(errors.body.errors[0].error_type, "SignatureError");
    assert.match(errors.body.errors[0].message, /does not verify with any trusted key/);
    const unsignedErrors = await api(h.url, "GET", `/jobs/${unsigned.id}/errors`);
    assert.match(unsignedErrors.body.errors[0].message, /is not signed/);
  });
});

describe("signed jobs, on servers that require or do not check them", () => {
  test("--require-signed: every queue refuses unsigned jobs", async () => {
    const h = await startTestServer({ signatures: { trustedKeys: [producer.publicKey], requireSigned: true } });
    try {
      const queue = uniqueName("any");
      assertError(await api(h.url, "POST", "/jobs", { body: { queue, type: "t", payload: 1 } }), 400);
      assertError(await api(h.url, "POST", "/jobs/bulk", { body: { jobs: [signedInput({ queue, type: "t", payload: 1 }), { queue, type: "t", payload: 2 }] } }), 400);
      assertStatus(await api(h.url, "POST", "/jobs", { body: signedInput({ queue, type: "t", payload: 1 }) }), 201);
      assert.equal(await countJobs(h.url, `queue=${queue}`), 1);
    } finally {
      await h.close();
    }
  });

  test("without trusted keys a signature is kept unchecked, for workers to verify, and a require_signed queue refuses signed jobs too (403)", async () => {
    const h = await startTestServer();
    const worker = connect(h.url);
    try {
      const queue = uniqueName("unchecked");
      const forged = signedInput({ queue, type: "t", payload: 1 }, stranger.privateKey);
      assertStatus(await api(h.url, "POST", "/jobs", { body: forged }), 201);
      const stored: Job = await getJob(h.url, forged.id as string);
      assert.equal(stored.signature, forged.signature);
      const run = new Worker(worker, { queues: [queue], verificationKeys: [producer.publicKey], handlers: { t: () => assert.fail("a forged job ran") } });
      assert.deepEqual(await run.drain(), { completed: 0, retried: 0, dead: 1 });
      const strict = uniqueName("strict");
      assertStatus(await api(h.url, "PATCH", `/queues/${strict}`, { body: { require_signed: true } }), 200);
      const refused = await api(h.url, "POST", "/jobs", { body: signedInput({ queue: strict, type: "t", payload: 1 }) });
      assertError(refused, 403);
      assert.match(refused.body.error, /trusts no key/);
      await eventually(async () => (await countJobs(h.url, `queue=${strict}`)) === 0, 1000, "nothing written");
    } finally {
      await worker.close();
      await h.close();
    }
  });
});
