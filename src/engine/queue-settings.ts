/**
 * Queue settings: what an operator sets on a queue (PATCH /queues/{queue}), kept in the store. A queue
 * can be paused (it accepts enqueues and hands out nothing until resumed; jobs in flight finish), and
 * its jobs in flight at once limited (max_in_flight, across every server).
 * The other settings the API names are refused with 422 until they are built, so a client never
 * believes a limit holds that does not.
 */
import { BadRequestError, UnprocessableError } from "../errors.js";
import { badRequest, describe, readInteger, readObject } from "../job/validate.js";
import type { QueueSettings } from "../store/store.js";

export type { QueueSettings };

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = { paused: false };

/** The largest max_in_flight a queue may have. */
const MAX_IN_FLIGHT_LIMIT = 1_000_000;

/** A PATCH's changes: a value sets, null resets to the default. */
export type QueuePatch = { [K in keyof QueueSettings]?: QueueSettings[K] | null };

/** Settings the API reserves for queue controls not built yet. */
const NOT_YET = [
  "concurrency_key", "rate_limit", "max_entries", "on_full", "max_age_ms",
  "retry_policy", "retry_limit", "timeout", "retention",
] as const;

export function parseQueuePatch(body: unknown): QueuePatch {
  const fields = readObject(body, "request body");
  const patch: QueuePatch = {};
  for (const [name, value] of Object.entries(fields)) {
    if ((NOT_YET as readonly string[]).includes(name)) throw new UnprocessableError(`queue setting ${name} is not supported yet`);
    if (name === "paused") {
      if (value !== null && typeof value !== "boolean") throw new BadRequestError(`paused must be true, false or null, got ${describe(value)}`);
      patch.paused = value;
    } else if (name === "max_in_flight") {
      patch.max_in_flight = value === null ? null : readInteger(value, "max_in_flight", 1, MAX_IN_FLIGHT_LIMIT, badRequest);
    } else {
      throw new BadRequestError(`unknown queue setting ${JSON.stringify(name)}; known: paused, max_in_flight`);
    }
  }
  return patch;
}

export function isDefault(settings: QueueSettings): boolean {
  return settings.paused === DEFAULT_QUEUE_SETTINGS.paused && settings.max_in_flight === undefined;
}

export function applyQueuePatch(settings: QueueSettings, patch: QueuePatch): QueueSettings {
  const next = { ...settings };
  if (patch.paused !== undefined) next.paused = patch.paused ?? DEFAULT_QUEUE_SETTINGS.paused;
  if (patch.max_in_flight === null) delete next.max_in_flight;
  else if (patch.max_in_flight !== undefined) next.max_in_flight = patch.max_in_flight;
  return next;
}
