/**
 * Queue settings: what an operator sets on a queue (PATCH /queues/{queue}), kept in the store. A queue
 * can be paused (it accepts enqueues and hands out nothing until resumed; jobs in flight finish), and
 * its jobs in flight at once limited (max_in_flight, across every server).
 * The other settings the API names are refused with 422 until they are built, so a client never
 * believes a limit holds that does not.
 */
import { BadRequestError, UnprocessableError } from "../errors.js";
import { badRequest, describe, readInteger, readObject, readRetention, readRetryPolicy, readTimeout } from "../job/validate.js";
import type { EnqueueInput } from "../job/types.js";
import type { QueueSettings } from "../store/store.js";

export type { QueueSettings };

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = { paused: false };

/** The largest max_in_flight a queue may have. */
const MAX_IN_FLIGHT_LIMIT = 1_000_000;

/** A PATCH's changes: a value sets, null resets to the default. */
export type QueuePatch = { [K in keyof QueueSettings]?: QueueSettings[K] | null };

/** Settings the API reserves for queue controls not built yet. */
const NOT_YET = ["concurrency_key", "rate_limit", "max_entries", "on_full", "max_age_ms"] as const;

/** The settings a job enqueued on the queue takes when it gives none of its own. */
const JOB_DEFAULTS = ["retry_limit", "timeout", "retention", "retry_policy"] as const;

const KNOWN = ["paused", "max_in_flight", ...JOB_DEFAULTS];

export function parseQueuePatch(body: unknown): QueuePatch {
  const fields = readObject(body, "request body");
  const patch: QueuePatch = {};
  for (const [name, value] of Object.entries(fields)) {
    if ((NOT_YET as readonly string[]).includes(name)) throw new UnprocessableError(`queue setting ${name} is not supported yet`);
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

/** Nothing set: the queue needs no settings row. */
export function isDefault(settings: QueueSettings): boolean {
  return settings.paused === DEFAULT_QUEUE_SETTINGS.paused && Object.keys(settings).every((name) => name === "paused");
}

export function applyQueuePatch(settings: QueueSettings, patch: QueuePatch): QueueSettings {
  const next: QueueSettings = { ...settings };
  if (patch.paused !== undefined) next.paused = patch.paused ?? DEFAULT_QUEUE_SETTINGS.paused;
  setOrClear(next, "max_in_flight", patch.max_in_flight);
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
