/**
 * Queue settings: what an operator sets on a queue (PATCH /queues/{queue}), kept in the store. A queue
 * can be paused (it accepts enqueues and hands out nothing until resumed; jobs in flight finish), its
 * jobs in flight at once limited (max_in_flight; concurrency_key per key) and its starts per interval
 * (rate_limit), across every server (src/job/queue-limits.ts), and its waiting jobs capped (max_entries:
 * an enqueue past it is refused, or makes room by discarding the oldest, as on_full says) and aged
 * (max_age_ms: a job waiting longer than that since it was enqueued is dead).
 */
import { BadRequestError, UnprocessableError } from "../errors.js";
import { badRequest, describe, readInteger, readObject, readRetention, readRetryPolicy, readTimeout, rejectUnknownFields } from "../job/validate.js";
import type { EnqueueInput } from "../job/types.js";
import { keyExpression, type ConcurrencyKeyLimit, type RateLimit } from "../job/queue-limits.js";
import { checkKeyExpression, evaluateKeys } from "./jq/key.js";
import type { JqLimits } from "./jq/runtime.js";
import type { OnFull, QueueSettings } from "../store/store.js";

export type { OnFull, QueueSettings };

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = { paused: false };

/** The largest max_in_flight a queue may have. */
const MAX_IN_FLIGHT_LIMIT = 1_000_000;
/** The most starts a rate limit may allow per interval, and its longest interval (a day). */
const RATE_LIMIT_MAX = 10_000;
const RATE_INTERVAL_MAX_MS = 86_400_000;
/** The longest key expression, in characters. */
const KEY_EXPRESSION_MAX = 4096;

/** A PATCH's changes: a value sets, null resets to the default. */
export type QueuePatch = { [K in keyof QueueSettings]?: QueueSettings[K] | null };

/** The longest max_age_ms: a year. */
const MAX_AGE_LIMIT_MS = 365 * 86_400_000;
/** The most waiting jobs max_entries may allow. */
const MAX_ENTRIES_LIMIT = 10_000_000;
const ON_FULL: readonly OnFull[] = ["reject", "discard_oldest"];

/** The settings a job enqueued on the queue takes when it gives none of its own. */
const JOB_DEFAULTS = ["retry_limit", "timeout", "retention", "retry_policy"] as const;

const KNOWN = ["paused", "max_in_flight", "concurrency_key", "rate_limit", "max_entries", "on_full", "max_age_ms", "require_signed", ...JOB_DEFAULTS];

export function parseQueuePatch(body: unknown): QueuePatch {
  const fields = readObject(body, "request body");
  const patch: QueuePatch = {};
  for (const [name, value] of Object.entries(fields)) {
    if (!KNOWN.includes(name)) throw new BadRequestError(`unknown queue setting ${JSON.stringify(name)}; known: ${KNOWN.join(", ")}`);
    if (value === null) {
      (patch as Record<string, null>)[name] = null;
      continue;
    }
    switch (name) {
      case "paused":
        if (typeof value !== "boolean") throw new BadRequestError(`paused must be true, false or null, got ${describe(value)}`);
        patch.paused = value;
        break;
      case "max_in_flight":
        patch.max_in_flight = readInteger(value, name, 1, MAX_IN_FLIGHT_LIMIT, badRequest);
        break;
      case "concurrency_key":
        patch.concurrency_key = readConcurrencyKey(value);
        break;
      case "rate_limit":
        patch.rate_limit = readRateLimit(value);
        break;
      case "max_entries":
        patch.max_entries = readInteger(value, name, 1, MAX_ENTRIES_LIMIT, badRequest);
        break;
      case "on_full":
        if (!ON_FULL.includes(value as OnFull)) throw new BadRequestError(`on_full must be ${ON_FULL.map((choice) => JSON.stringify(choice)).join(" or ")}, got ${describe(value)}`);
        patch.on_full = value as OnFull;
        break;
      case "max_age_ms":
        patch.max_age_ms = readInteger(value, name, 1, MAX_AGE_LIMIT_MS, badRequest);
        break;
      case "require_signed":
        if (typeof value !== "boolean") throw new BadRequestError(`require_signed must be true, false or null, got ${describe(value)}`);
        patch.require_signed = value || null;
        break;
      case "retry_limit":
        patch.retry_limit = readInteger(value, name, 0, 2 ** 31 - 1, badRequest);
        break;
      case "timeout":
        patch.timeout = readTimeout(value, name, badRequest);
        break;
      case "retention":
        patch.retention = readRetention(value, name, badRequest);
        break;
      default:
        patch.retry_policy = readRetryPolicy(value, name);
    }
  }
  return patch;
}

function readKeyField(fields: Record<string, unknown>, field: string): { key?: string } {
  if (fields.key == null) return {};
  const key = fields.key;
  if (typeof key !== "string" || key.trim() === "" || key.length > KEY_EXPRESSION_MAX) {
    throw new BadRequestError(`${field}.key must be a jq expression of 1 to ${KEY_EXPRESSION_MAX} characters, got ${describe(key)}`);
  }
  return { key };
}

function readConcurrencyKey(value: unknown): ConcurrencyKeyLimit {
  const fields = readObject(value, "concurrency_key");
  rejectUnknownFields(fields, ["limit", "key"], "concurrency_key");
  return { limit: readInteger(fields.limit, "concurrency_key.limit", 1, MAX_IN_FLIGHT_LIMIT, badRequest), ...readKeyField(fields, "concurrency_key") };
}

function readRateLimit(value: unknown): RateLimit {
  const fields = readObject(value, "rate_limit");
  rejectUnknownFields(fields, ["limit", "interval_ms", "key"], "rate_limit");
  return {
    limit: readInteger(fields.limit, "rate_limit.limit", 1, RATE_LIMIT_MAX, badRequest),
    interval_ms: readInteger(fields.interval_ms, "rate_limit.interval_ms", 1, RATE_INTERVAL_MAX_MS, badRequest),
    ...readKeyField(fields, "rate_limit"),
  };
}

/**
 * The settings a patch leads to, checked as a whole: a key expression it sets must compile (400), and
 * both limits' expressions, when both give one, must be the same (422): a job has one key.
 */
export async function checkQueueKeys(settings: QueueSettings, patch: QueuePatch, budget: JqLimits): Promise<void> {
  const perKey = settings.concurrency_key?.key;
  const rate = settings.rate_limit?.key;
  if (perKey !== undefined && rate !== undefined && perKey !== rate) {
    throw new UnprocessableError(`concurrency_key.key and rate_limit.key must be the same expression (a job has one key), got ${JSON.stringify(perKey)} and ${JSON.stringify(rate)}`);
  }
  const checked = new Set<string>();
  for (const name of ["concurrency_key", "rate_limit"] as const) {
    const key = patch[name]?.key;
    if (key === undefined || checked.has(key)) continue;
    checked.add(key);
    await checkKeyExpression(key, `${name}.key`, budget);
  }
}

/** Nothing set: the queue needs no settings row. */
export function isDefault(settings: QueueSettings): boolean {
  return settings.paused === DEFAULT_QUEUE_SETTINGS.paused && Object.keys(settings).every((name) => name === "paused");
}

export function applyQueuePatch(settings: QueueSettings, patch: QueuePatch): QueueSettings {
  const next: QueueSettings = { ...settings };
  if (patch.paused !== undefined) next.paused = patch.paused ?? DEFAULT_QUEUE_SETTINGS.paused;
  setOrClear(next, "max_in_flight", patch.max_in_flight);
  setOrClear(next, "concurrency_key", patch.concurrency_key);
  setOrClear(next, "rate_limit", patch.rate_limit);
  setOrClear(next, "max_entries", patch.max_entries);
  setOrClear(next, "on_full", patch.on_full);
  setOrClear(next, "max_age_ms", patch.max_age_ms);
  setOrClear(next, "require_signed", patch.require_signed);
  setOrClear(next, "retry_limit", patch.retry_limit);
  setOrClear(next, "timeout", patch.timeout);
  setOrClear(next, "retention", patch.retention);
  setOrClear(next, "retry_policy", patch.retry_policy);
  return next;
}

function setOrClear<K extends Exclude<keyof QueueSettings, "paused">>(settings: QueueSettings, name: K, value: QueueSettings[K] | null | undefined): void {
  if (value === null) delete settings[name];
  else if (value !== undefined) settings[name] = value;
}

/**
 * An enqueue with its queue's defaults for what it leaves out: a job's own options win. A retry
 * policy of the queue applies only to a job that gives neither a backoff nor a policy.
 */
export function withQueueDefaults(input: EnqueueInput, settings: QueueSettings | undefined): EnqueueInput {
  if (settings === undefined) return input;
  const { retry_limit: retryLimit, timeout, retention, retry_policy: retryPolicy } = settings;
  if (retryLimit === undefined && timeout === undefined && retention === undefined && retryPolicy === undefined) return input;
  const merged: EnqueueInput = { ...input };
  if (merged.retry_limit === undefined && retryLimit !== undefined) merged.retry_limit = retryLimit;
  if (merged.timeout === undefined && timeout !== undefined) merged.timeout = timeout;
  if (retention !== undefined) merged.retention = { ...retention, ...merged.retention };
  if (merged.retry_policy === undefined && merged.backoff === undefined && retryPolicy !== undefined) merged.retry_policy = retryPolicy;
  return merged;
}

/**
 * Enqueues keyed for their queues' per-key limits: a job without a concurrency_key of its own gets
 * its queue's key expression's value (one jq run per expression for the whole call). A job enqueued
 * before its queue had an expression keeps the key it had.
 */
export async function withQueueKeys(
  inputs: EnqueueInput[],
  settingsOf: (queue: string) => QueueSettings | undefined,
  where: (position: number) => string,
  budget: JqLimits,
): Promise<EnqueueInput[]> {
  const positionsByExpression = new Map<string, number[]>();
  inputs.forEach((input, position) => {
    if (input.concurrency_key !== undefined) return;
    const settings = settingsOf(input.queue);
    const expression = settings && keyExpression(settings);
    if (expression === undefined) return;
    const positions = positionsByExpression.get(expression) ?? [];
    positions.push(position);
    positionsByExpression.set(expression, positions);
  });
  if (positionsByExpression.size === 0) return inputs;
  const keyed = [...inputs];
  for (const [expression, positions] of positionsByExpression) {
    const keys = await evaluateKeys(expression, positions.map((position) => inputs[position]!.payload), (index) => where(positions[index]!), budget);
    positions.forEach((position, index) => {
      const key = keys[index];
      if (key !== undefined) keyed[position] = { ...inputs[position]!, concurrency_key: key };
    });
  }
  return keyed;
}
