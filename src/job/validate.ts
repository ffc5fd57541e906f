import { BadRequestError, UnprocessableError, type WharfError } from "../errors.js";
import { Unrepresentable } from "./json.js";
import { EXPONENTIAL_DEFAULTS, RETRY_POLICY_NAMES } from "./retry-policy.js";
import { isJobId } from "./ids.js";
import { isSignatureText } from "./signature.js";
import {
  MAX_PRIORITY,
  UNIQUE_SCOPES,
  type Backoff,
  type BatchConfig,
  type EnqueueInput,
  type FailureInput,
  type JobPatch,
  type JsonValue,
  type Retention,
  type RetryPolicy,
} from "./types.js";

export type Fail = (message: string) => WharfError;
export type Fields = Record<string, unknown>;

export const badRequest: Fail = (message) => new BadRequestError(message);
export const unprocessable: Fail = (message) => new UnprocessableError(message);

const INT32_MAX = 2 ** 31 - 1;
const MAX_NAME_LENGTH = 255;
/** Characters Zizq reserves in queue and type names (they are list and pattern syntax). */
const RESERVED_NAME_CHARS = /[,*?[\]{}\\]/;
/** Longest lease a job may ask for: one day. */
const MAX_TIMEOUT_SECONDS = 86_400;

const DESCRIBED_LENGTH = 64;

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Unrepresentable) return value.what;
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "number" || typeof value === "bigint") return `${typeof value === "bigint" ? "integer" : "number"} ${String(value)}`;
  if (typeof value === "object") {
    const prototype = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
    const name = prototype?.constructor?.name;
    return prototype === Object.prototype || prototype === null || !name ? "an object" : `a ${name}`;
  }
  const shown = JSON.stringify(value);
  // An error names what it got, never echoes all of it: a value can be a secret or megabytes long.
  return `${typeof value} ${shown !== undefined && shown.length > DESCRIBED_LENGTH ? `${shown.slice(0, DESCRIBED_LENGTH)}… (${shown.length} characters)` : shown}`;
}

export function readObject(value: unknown, where: string, fail: Fail = badRequest): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw fail(`${where} must be an object, got ${describe(value)}`);
  }
  return value as Fields;
}

export function rejectUnknownFields(fields: Fields, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) throw badRequest(`${where} has unknown field "${key}"`);
  }
}

/** A queue or type name: 1 to 255 characters of NUL-free Unicode without Zizq's reserved characters. */
export function validateName(value: unknown, field: string, fail: Fail = badRequest): string {
  if (typeof value !== "string") throw fail(`${field} must be a string, got ${describe(value)}`);
  if (value.length === 0) throw fail(`${field} must not be empty`);
  if (value.length > MAX_NAME_LENGTH) throw fail(`${field} must be at most ${MAX_NAME_LENGTH} characters`);
  checkText(value, field, fail);
  if (RESERVED_NAME_CHARS.test(value)) {
    throw fail(`${field} ${JSON.stringify(value)} contains a reserved character (one of , * ? [ ] { } \\)`);
  }
  return value;
}

/**
 * An integer field: any MessagePack integer width, or an integral float (the Ruby client sends
 * some as floats). A BigInt (past 2^53, from JSON or an int64/uint64) is past every field's range.
 */
export function readInteger(value: unknown, field: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    if (typeof value === "bigint") return bigIntInRange(value, field, min, max, fail);
    throw fail(`${field} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw fail(`${field} must be between ${min} and ${max}, got ${value}`);
  // -0.0 is an integral float; stores and encoders should see 0.
  return value === 0 ? 0 : value;
}

/** Off the fast path: a BigInt the SDK was handed (5n), or one past 2^53 that no field's range reaches. */
function bigIntInRange(value: bigint, field: string, min: number, max: number, fail: Fail): number {
  if (value < BigInt(min) || value > BigInt(max)) throw fail(`${field} must be between ${min} and ${max}, got ${value}`);
  return Number(value);
}

function readFiniteNumber(value: unknown, field: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    if (typeof value === "bigint") return bigIntInRange(value, field, min, max, fail);
    throw fail(`${field} must be a number, got ${describe(value)}`);
  }
  if (value < min || value > max) throw fail(`${field} must be between ${min} and ${max}, got ${value}`);
  return value === 0 ? 0 : value;
}

export function readString(value: unknown, field: string, fail: Fail): string {
  if (typeof value !== "string") throw fail(`${field} must be a string, got ${describe(value)}`);
  return checkText(value, field, fail);
}

/** Text every store can hold: well-formed Unicode without NUL (PostgreSQL text and JSONB refuse NUL). */
function checkText(value: string, field: string, fail: Fail): string {
  if (!value.isWellFormed()) throw fail(`${field} must be valid UTF-8`);
  if (value.includes("\0")) throw fail(`${field} must not contain NUL characters`);
  return value;
}

function readTimestamp(value: unknown, field: string, fail: Fail): number {
  return readInteger(value, field, 0, Number.MAX_SAFE_INTEGER, fail);
}

function readBackoff(value: unknown, field: string, fail: Fail): Backoff {
  const fields = readObject(value, field, fail);
  rejectUnknownFields(fields, ["base_ms", "exponent", "jitter_ms"], field);
  for (const key of ["base_ms", "exponent", "jitter_ms"]) {
    if (fields[key] === undefined) throw fail(`${field}.${key} is required`);
  }
  return {
    base_ms: readInteger(fields.base_ms, `${field}.base_ms`, 0, INT32_MAX, fail),
    exponent: readFiniteNumber(fields.exponent, `${field}.exponent`, 0, 32, fail),
    jitter_ms: readInteger(fields.jitter_ms, `${field}.jitter_ms`, 0, INT32_MAX, fail),
  };
}

/** A retry policy: a name, or an object with a name and the policy's parameters. */
export function readRetryPolicy(value: unknown, field: string, fail: Fail = badRequest): RetryPolicy {
  const fields = typeof value === "string" ? { name: value } : readObject(value, field, fail);
  const name = fields.name;
  if (typeof name !== "string" || !(RETRY_POLICY_NAMES as readonly string[]).includes(name)) {
    throw fail(`${field} must name one of ${RETRY_POLICY_NAMES.join(", ")}, got ${describe(name)}`);
  }
  const ms = (key: string): number => readInteger(fields[key], `${field}.${key}`, 0, INT32_MAX, fail);
  switch (name) {
    case "constant":
      rejectUnknownFields(fields, ["name", "delay_ms"], field);
      if (fields.delay_ms === undefined) throw fail(`${field}.delay_ms is required for a constant policy`);
      return { name, delay_ms: ms("delay_ms") };
    case "exponential": {
      rejectUnknownFields(fields, ["name", "base_ms", "max_ms"], field);
      const policy = { name, base_ms: fields.base_ms === undefined ? EXPONENTIAL_DEFAULTS.base_ms : ms("base_ms"), max_ms: fields.max_ms === undefined ? EXPONENTIAL_DEFAULTS.max_ms : ms("max_ms") } as const;
      if (policy.base_ms < 1 || policy.max_ms < policy.base_ms) throw fail(`${field} needs 1 <= base_ms <= max_ms`);
      return policy;
    }
    default:
      rejectUnknownFields(fields, ["name"], field);
      return { name: name as "linear_1m" | "linear_10m" | "linear_1h" };
  }
}

function readRetentionMs(value: unknown, field: string, fail: Fail): number {
  return readInteger(value, field, 0, Number.MAX_SAFE_INTEGER, fail);
}

export function readRetention(value: unknown, field: string, fail: Fail): Retention {
  const fields = readObject(value, field, fail);
  rejectUnknownFields(fields, ["completed_ms", "dead_ms"], field);
  const retention: Retention = {};
  if (fields.completed_ms !== undefined) {
    retention.completed_ms = readRetentionMs(fields.completed_ms, `${field}.completed_ms`, fail);
  }
  if (fields.dead_ms !== undefined) retention.dead_ms = readRetentionMs(fields.dead_ms, `${field}.dead_ms`, fail);
  return retention;
}

export function readTimeout(value: unknown, field: string, fail: Fail): number {
  const seconds = readFiniteNumber(value, field, 0, MAX_TIMEOUT_SECONDS, fail);
  if (seconds === 0) throw fail(`${field} must be greater than 0`);
  return seconds;
}

/**
 * Payloads must round-trip through JSON: integers of any size (BigInt past 2^53) and finite floats
 * are kept; MessagePack binary, extension values, maps with keys that are not strings, NaN and the
 * infinities are refused, naming where they sit.
 */
export function validatePayload(value: unknown, field: string, fail: Fail = badRequest, depth = 0): JsonValue {
  if (depth > 64) throw fail(`${field} is nested too deeply (more than 64 levels)`);
  switch (typeof value) {
    case "string":
      return checkText(value, field, fail);
    case "boolean":
    case "bigint":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw fail(`${field} contains a non-finite number (${value}), which JSON cannot hold`);
      return value;
    case "object":
      if (value === null) return value;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) validatePayload(value[index], `${field}[${index}]`, fail, depth + 1);
        return value as JsonValue;
      }
      if (Object.getPrototypeOf(value) === Object.prototype) {
        for (const key in value) {
          checkText(key, `${field} key ${JSON.stringify(key)}`, fail);
          validatePayload((value as Fields)[key], `${field}.${key}`, fail, depth + 1);
        }
        return value as JsonValue;
      }
  }
  throw fail(`${field} contains ${describe(value)}, which a JSON payload cannot hold`);
}

const ENQUEUE_FIELDS = [
  "id", "signature", "queue", "type", "payload", "priority", "ready_at", "unique_key", "unique_while",
  "retry_limit", "backoff", "retention", "timeout", "batch", "correlation_id", "parent_job_id", "deadline", "dependencies",
  "load_dependencies", "runs_on", "retry_policy", "concurrency_key", "throttle_ms", "debounce_ms",
] as const;

/** Longest throttle or debounce window: a year. */
const MAX_THROTTLE_MS = 366 * 24 * 3600 * 1000;

/** throttle_ms or debounce_ms: a window length for the job's unique key, which then replaces its unique_while scope. */
function readThrottle(fields: Fields, input: EnqueueInput, where: string): void {
  for (const name of ["throttle_ms", "debounce_ms"] as const) {
    if (fields[name] == null) continue;
    if (input.unique_key === undefined) throw badRequest(`${where}.${name} needs a unique_key: the key is what it throttles`);
    if (input.unique_while !== undefined) throw badRequest(`${where}.${name} and ${where}.unique_while cannot be given together: a throttled job holds its key for its window, whatever its status`);
    if (input.throttle_ms !== undefined) throw badRequest(`${where}.throttle_ms and ${where}.debounce_ms cannot be given together`);
    input[name] = readInteger(fields[name], `${where}.${name}`, 1, MAX_THROTTLE_MS, badRequest);
  }
}

/** Most jobs one job may wait for. */
const MAX_DEPENDENCIES = 1000;

/** Job ids, or (in a bulk) positions of earlier jobs of the bulk; whether they exist is the store's to say (422). */
function readDependencies(value: unknown, field: string): Array<string | number> {
  if (!Array.isArray(value)) throw badRequest(`${field} must be an array of job ids (or positions in the bulk), got ${describe(value)}`);
  if (value.length > MAX_DEPENDENCIES) throw badRequest(`${field} names ${value.length} jobs; a job waits for at most ${MAX_DEPENDENCIES}`);
  return value.map((item, index) => {
    const where = `${field}[${index}]`;
    if (typeof item === "string") {
      if (!isJobId(item)) throw badRequest(`${where} is not a job id: ${JSON.stringify(item)}`);
      return item;
    }
    return readInteger(item, where, 0, INT32_MAX, badRequest);
  });
}

/** Longest unique key, batch key, concurrency_key, correlation_id or parent_job_id. */
export const MAX_KEY_LENGTH = 1024;

/** A key or a metadata string: 1 to MAX_KEY_LENGTH characters. */
function readKey(value: unknown, field: string): string {
  const text = readString(value, field, badRequest);
  if (text.length === 0 || text.length > MAX_KEY_LENGTH) throw badRequest(`${field} must be 1 to ${MAX_KEY_LENGTH} characters`);
  return text;
}
/** Longest `when` or `fold` expression, in characters. */
const MAX_EXPRESSION_LENGTH = 64 * 1024;

/** The shape of a `batch` object; whether its expressions are good jq is checked when it is enqueued (422). */
function readBatch(value: unknown, field: string): BatchConfig {
  const fields = readObject(value, field);
  rejectUnknownFields(fields, ["key", "when", "fold"], field);
  const text = (name: "key" | "when" | "fold", max: number): string => {
    if (fields[name] === undefined || fields[name] === null) throw badRequest(`${field}.${name} is required`);
    const read = readString(fields[name], `${field}.${name}`, badRequest);
    if (read.trim().length === 0 || read.length > max) throw badRequest(`${field}.${name} must be 1 to ${max} characters, not all blank`);
    return read;
  };
  return { key: text("key", MAX_KEY_LENGTH), when: text("when", MAX_EXPRESSION_LENGTH), fold: text("fold", MAX_EXPRESSION_LENGTH) };
}

export function parseEnqueueInput(value: unknown, where = "job"): EnqueueInput {
  const fields = readObject(value, where);
  rejectUnknownFields(fields, ENQUEUE_FIELDS, where);
  if (fields.queue === undefined) throw badRequest(`${where}.queue is required`);
  if (fields.type === undefined) throw badRequest(`${where}.type is required`);
  if (!("payload" in fields)) throw badRequest(`${where}.payload is required`);
  const input: EnqueueInput = {
    queue: validateName(fields.queue, `${where}.queue`),
    type: validateName(fields.type, `${where}.type`),
    payload: validatePayload(fields.payload, `${where}.payload`),
  };
  const fail = badRequest;
  if (fields.priority != null) input.priority = readInteger(fields.priority, `${where}.priority`, 0, MAX_PRIORITY, fail);
  if (fields.ready_at != null) input.ready_at = readTimestamp(fields.ready_at, `${where}.ready_at`, fail);
  if (fields.unique_key != null) input.unique_key = readKey(fields.unique_key, `${where}.unique_key`);
  if (fields.unique_while != null) {
    if (input.unique_key === undefined) throw fail(`${where}.unique_while needs a unique_key`);
    if (!UNIQUE_SCOPES.includes(fields.unique_while as never)) {
      throw fail(`${where}.unique_while must be one of ${UNIQUE_SCOPES.join(", ")}, got ${describe(fields.unique_while)}`);
    }
    input.unique_while = fields.unique_while as EnqueueInput["unique_while"];
  }
  readThrottle(fields, input, where);
  if (fields.retry_limit != null) input.retry_limit = readInteger(fields.retry_limit, `${where}.retry_limit`, 0, INT32_MAX, fail);
  if (fields.backoff != null) input.backoff = readBackoff(fields.backoff, `${where}.backoff`, fail);
  if (fields.retry_policy != null) {
    if (input.backoff !== undefined) throw fail(`${where}.backoff and ${where}.retry_policy cannot be given together: each says when to retry`);
    input.retry_policy = readRetryPolicy(fields.retry_policy, `${where}.retry_policy`);
  }
  if (fields.retention != null) input.retention = readRetention(fields.retention, `${where}.retention`, fail);
  if (fields.timeout != null) input.timeout = readTimeout(fields.timeout, `${where}.timeout`, fail);
  if (fields.batch != null) {
    if (input.unique_key !== undefined) throw fail(`${where}.batch and ${where}.unique_key cannot be given together`);
    input.batch = readBatch(fields.batch, `${where}.batch`);
  }
  if (fields.correlation_id != null) input.correlation_id = readKey(fields.correlation_id, `${where}.correlation_id`);
  if (fields.concurrency_key != null) input.concurrency_key = readKey(fields.concurrency_key, `${where}.concurrency_key`);
  if (fields.parent_job_id != null) input.parent_job_id = readKey(fields.parent_job_id, `${where}.parent_job_id`);
  if (fields.deadline != null) input.deadline = readTimestamp(fields.deadline, `${where}.deadline`, fail);
  if (fields.dependencies != null) {
    const dependencies = readDependencies(fields.dependencies, `${where}.dependencies`);
    // A blocked job holding a unique key, or folding a batch, has no clear meaning yet: refused rather than guessed.
    if (input.unique_key !== undefined) throw fail(`${where}.dependencies and ${where}.unique_key cannot be given together`);
    if (input.batch !== undefined) throw fail(`${where}.dependencies and ${where}.batch cannot be given together`);
    if (dependencies.length > 0) input.dependencies = dependencies;
  }
  if (fields.load_dependencies != null) {
    if (typeof fields.load_dependencies !== "boolean") throw fail(`${where}.load_dependencies must be true or false, got ${describe(fields.load_dependencies)}`);
    if (fields.load_dependencies) {
      if (input.dependencies === undefined) throw fail(`${where}.load_dependencies needs dependencies`);
      input.load_dependencies = true;
    }
  }
  if (fields.runs_on != null) {
    if (fields.runs_on !== "success" && fields.runs_on !== "failure") throw fail(`${where}.runs_on must be "success" or "failure", got ${describe(fields.runs_on)}`);
    if (fields.runs_on === "failure" && input.dependencies === undefined) throw fail(`${where}.runs_on "failure" needs dependencies`);
    if (fields.runs_on === "failure") input.runs_on = "failure";
  }
  readSignature(fields, input, where);
  return input;
}

/**
 * A signed job's signature and the id it covers, which its producer chose. A batch would fold other
 * enqueues into the job's payload, which would then no longer be what was signed.
 */
function readSignature(fields: Fields, input: EnqueueInput, where: string): void {
  if (fields.signature == null) {
    if (fields.id != null) throw badRequest(`${where}.id may be given only with a signature, which covers it; an unsigned job gets a fresh id`);
    return;
  }
  const signature = readString(fields.signature, `${where}.signature`, badRequest);
  if (!isSignatureText(signature)) throw badRequest(`${where}.signature must be the base64 of an ed25519 signature (64 bytes, 88 characters)`);
  if (fields.id == null) throw badRequest(`${where}.signature needs ${where}.id: a signature covers the job's id, which its producer chooses`);
  const id = readString(fields.id, `${where}.id`, badRequest);
  if (!isJobId(id)) throw badRequest(`${where}.id is not a job id (25 characters of 0-9 and a-z): ${JSON.stringify(id.slice(0, 40))}`);
  if (input.batch !== undefined) throw badRequest(`${where}.signature and ${where}.batch cannot be given together: folding would change the signed payload`);
  input.id = id;
  input.signature = signature;
}

/** A bulk body's jobs, not yet checked one by one (parseEnqueueInput(job, `jobs[i]`) does that). */
export function readBulkJobs(value: unknown): unknown[] {
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, ["jobs"], "request body");
  if (!Array.isArray(fields.jobs)) throw badRequest(`jobs must be an array, got ${describe(fields.jobs)}`);
  if (fields.jobs.length === 0) throw badRequest("jobs must not be empty");
  return fields.jobs;
}

const PATCH_FIELDS = ["queue", "priority", "ready_at", "retry_limit", "backoff", "retention", "timeout", "dependencies"] as const;

/** PATCH bodies: unknown fields are 400; values that are not allowed are 422, as Zizq answers. */
export function parsePatch(value: unknown): JobPatch {
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, PATCH_FIELDS, "request body");
  const fail = unprocessable;
  const patch: JobPatch = {};
  if ("queue" in fields) patch.queue = validateName(fields.queue, "queue", fail);
  if ("priority" in fields) patch.priority = readInteger(fields.priority, "priority", 0, MAX_PRIORITY, fail);
  if ("ready_at" in fields) patch.ready_at = fields.ready_at === null ? null : readTimestamp(fields.ready_at, "ready_at", fail);
  if ("retry_limit" in fields) {
    patch.retry_limit = fields.retry_limit === null ? null : readInteger(fields.retry_limit, "retry_limit", 0, INT32_MAX, fail);
  }
  if ("backoff" in fields) patch.backoff = fields.backoff === null ? null : readBackoff(fields.backoff, "backoff", fail);
  if ("retention" in fields) patch.retention = fields.retention === null ? null : readRetentionPatch(fields.retention, fail);
  if ("timeout" in fields) patch.timeout = fields.timeout === null ? null : readTimeout(fields.timeout, "timeout", fail);
  if ("dependencies" in fields) {
    const removed = fields.dependencies === null || (Array.isArray(fields.dependencies) && fields.dependencies.length === 0);
    if (!removed) throw fail("dependencies can only be removed by a PATCH (null or []): dependencies are given at enqueue");
    patch.dependencies = null;
  }
  return patch;
}

function readRetentionPatch(value: unknown, fail: Fail): NonNullable<JobPatch["retention"]> {
  const fields = readObject(value, "retention", fail);
  rejectUnknownFields(fields, ["completed_ms", "dead_ms"], "retention");
  const patch: NonNullable<JobPatch["retention"]> = {};
  for (const key of ["completed_ms", "dead_ms"] as const) {
    if (!(key in fields)) continue;
    patch[key] = fields[key] === null ? null : readRetentionMs(fields[key], `retention.${key}`, fail);
  }
  return patch;
}

/** A failure report, with the lease token of the run it reports on when the client sends one. */
export type FailureRequest = FailureInput & { run_id?: string };

export function parseFailure(value: unknown): FailureRequest {
  const fields = readObject(value ?? {}, "request body");
  rejectUnknownFields(fields, ["message", "error_type", "backtrace", "retry_at", "kill", "run_id"], "request body");
  if (fields.message === undefined) throw badRequest("message is required");
  const failure: FailureRequest = { message: readString(fields.message, "message", badRequest) };
  if (fields.error_type != null) failure.error_type = readString(fields.error_type, "error_type", badRequest);
  if (fields.backtrace != null) failure.backtrace = readString(fields.backtrace, "backtrace", badRequest);
  if (fields.retry_at != null) failure.retry_at = readTimestamp(fields.retry_at, "retry_at", badRequest);
  if (fields.run_id != null) failure.run_id = readString(fields.run_id, "run_id", badRequest);
  if (fields.kill != null) {
    if (typeof fields.kill !== "boolean") throw badRequest(`kill must be a boolean, got ${describe(fields.kill)}`);
    failure.kill = fields.kill;
  }
  return failure;
}

export interface AckList {
  ids: string[];
  /** Lease tokens aligned with `ids`, when the client fences its acks. */
  runIds?: string[];
  /** What each success carried, aligned with `ids` (undefined: nothing). */
  results?: Array<JsonValue | undefined>;
}

/** An array as long as the ack's ids, each element read by `read`. */
function alignedWithIds<T>(value: unknown, field: string, length: number, read: (item: unknown, where: string) => T): T[] {
  if (!Array.isArray(value) || value.length !== length) throw badRequest(`${field} must be an array as long as ids`);
  return value.map((item, index) => read(item, `${field}[${index}]`));
}

export function parseAckList(value: unknown): AckList {
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, ["ids", "run_ids", "results"], "request body");
  if (!Array.isArray(fields.ids)) throw badRequest(`ids must be an array, got ${describe(fields.ids)}`);
  const list: AckList = { ids: fields.ids.map((id, index) => readString(id, `ids[${index}]`, badRequest)) };
  if (fields.run_ids != null) list.runIds = alignedWithIds(fields.run_ids, "run_ids", list.ids.length, (item, where) => readString(item, where, badRequest));
  // null: that success carried no result.
  if (fields.results != null) list.results = alignedWithIds(fields.results, "results", list.ids.length, (item, where) => (item === null ? undefined : validatePayload(item, where)));
  return list;
}

/** What a single ack or a heartbeat may carry: the run it is for, and the JSON value it keeps (a result, a state). */
export interface LeaseRequest {
  runId?: string;
  value?: JsonValue;
  /** A heartbeat's: how far the work has come. */
  progress?: JsonValue;
}

/** A single ack's (`valueField` "result") or a heartbeat's ("state", and "progress") optional body: `{"run_id": ..., valueField: ...}`. */
export function parseLeaseRequest(value: unknown, valueField: "result" | "state"): LeaseRequest {
  if (value === undefined) return {};
  const fields = readObject(value, "request body");
  rejectUnknownFields(fields, valueField === "state" ? ["run_id", "state", "progress"] : ["run_id", valueField], "request body");
  const request: LeaseRequest = {};
  if (fields.run_id != null) request.runId = readString(fields.run_id, "run_id", badRequest);
  if (fields[valueField] != null) request.value = validatePayload(fields[valueField], valueField);
  if (fields.progress != null) request.progress = validatePayload(fields.progress, "progress");
  return request;
}
