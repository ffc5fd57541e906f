/** Usage errors (exit code 2), and the server's wire field names turned back into the flags a user typed. */
import { BadRequestError } from "../errors.js";

export class UsageError extends Error {}

export type FieldNames = Readonly<Record<string, string>>;

/** How 400 answers name the values the CLI sends: `job.*` from enqueue, bare names from filters and paging. */
export const WIRE_FLAGS: FieldNames = {
  "job.queue": "QUEUE",
  "job.type": "TYPE",
  "job.payload": "PAYLOAD_JSON",
  "job.priority": "--priority",
  "job.ready_at": "--ready-at",
  "job.unique_key": "--unique-key",
  "job.unique_while": "--unique-while",
  "job.throttle_ms": "--throttle-ms",
  "job.debounce_ms": "--debounce-ms",
  "job.retry_limit": "--retry-limit",
  "job.retry_policy": "--retry-policy",
  "job.timeout": "--timeout",
  "job.concurrency_key": "--concurrency-key",
  "job.batch.key": "--batch-key",
  "job.batch.when": "--batch-when",
  "job.batch.fold": "--batch-fold",
  id: "--id",
  queue: "--queue",
  type: "--type",
  status: "--status",
  priority: "--priority",
  ready_at: "--ready-at",
  attempts: "--attempts",
  filter: "--filter",
  order: "--order",
  limit: "--limit",
  from: "--from",
};

/** The message with its leading field name (`job.priority`, `backoff.base_ms`) replaced by the flag it came from. */
export function withFlagNames(message: string, names: FieldNames): string {
  return message.replace(/^[a-z_]+(?:\.[a-z_]+)*/, (field) => names[field] ?? names[field.split(".")[0]!] ?? field);
}

/** A 400 is the server refusing a value the user gave: a usage error that names the flag. */
export function asUsageError(error: unknown): unknown {
  return error instanceof BadRequestError ? new UsageError(withFlagNames(error.message, WIRE_FLAGS)) : error;
}
