/**
 * Parsers for option and argument values. Each throws commander's InvalidArgumentError, so a bad
 * value is a usage error (exit 2) reported before the command does anything.
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "commander";
import { parseJson } from "../job/json.js";
import { JOB_STATUSES, MAX_PRIORITY, type Backoff, type EnqueueInput, type JobStatus, type RetryPolicy } from "../job/types.js";
import { readRetryPolicy } from "../job/validate.js";
import { isTokenText } from "../client/http-transport.js";
import { isScope, SCOPES, type Scope } from "../http/identity.js";

export type Parser<T> = (value: string) => T;

function fail(message: string): never {
  throw new InvalidArgumentError(message);
}

/** An integer from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    if (!/^-?\d+$/.test(value)) fail(`must be an integer, got "${value}"`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) fail(`must be ${max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`}, got ${value}`);
    return parsed;
  };
}

/** A number greater than 0, at most `max`. */
function positiveNumber(max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isFinite(parsed)) fail(`must be a number, got "${value}"`);
    if (parsed <= 0 || parsed > max) fail(`must be greater than 0 and at most ${max}, got ${value}`);
    return parsed;
  };
}

export const priority = integer(0, MAX_PRIORITY);
export const count = integer(0, 2 ** 31 - 1);
export const positiveInteger = integer(1);
/** A lease or job timeout: Wharf's limit is one day. */
export const seconds = positiveNumber(86_400);

/** Milliseconds since the epoch, or an ISO-8601 date. */
export function timestamp(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed) || parsed < 0) fail(`must be milliseconds since the epoch or an ISO-8601 date, got "${value}"`);
  return parsed;
}

export function nonEmpty(value: string): string {
  if (value.trim() === "") fail("must not be empty");
  return value;
}

/** A comma list without empty entries: an empty value never widens a filter to "everything". */
export function list(value: string): string[] {
  const items = value.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) fail(`must be a comma list without empty entries, got "${value}"`);
  return items;
}

export function scopes(value: string): Scope[] {
  const items = list(value);
  for (const item of items) if (!isScope(item)) fail(`"${item}" is not one of ${SCOPES.join(", ")}`);
  return items as Scope[];
}

/** A bearer token, never echoed; empty (an exported but empty WHARF_TOKEN) is no token at all. */
export function token(value: string): string | undefined {
  if (value === "") return undefined;
  if (!isTokenText(value)) fail("must be printable ASCII without spaces (the token `wharf token new` printed)");
  return value;
}

export function statuses(value: string): JobStatus[] {
  const items = list(value);
  for (const item of items) {
    if (!JOB_STATUSES.includes(item as JobStatus)) fail(`"${item}" is not one of ${JOB_STATUSES.join(", ")}`);
  }
  return items as JobStatus[];
}

/** `N`, `A..B`, `..B` or `A..` over the values `bound` reads; answered in the wire form "A..B". */
export function range(bound: Parser<number>): Parser<string> {
  return (value) => {
    const separator = value.indexOf("..");
    if (separator < 0) return String(bound(value));
    const [lower, upper] = [value.slice(0, separator), value.slice(separator + 2)];
    if (lower === "" && upper === "") fail('needs at least one bound, got ".."');
    const min = lower === "" ? undefined : bound(lower);
    const max = upper === "" ? undefined : bound(upper);
    if (min !== undefined && max !== undefined && min > max) fail(`lower bound ${min} exceeds upper bound ${max}`);
    return `${min ?? ""}..${max ?? ""}`;
  };
}

/** What a nullable parser answers for "null": commander cannot hold a null option value (it makes it ""). */
export const CLEAR = Symbol("clear");
export type Clearable<T> = T | typeof CLEAR;

/** "null" (or any of `nullWords`) clears a patched field back to the server's default. */
export function nullable<T>(parse: Parser<T>, nullWords: readonly string[] = ["null"]): Parser<Clearable<T>> {
  return (value) => (nullWords.includes(value) ? CLEAR : parse(value));
}

/** A patch field: unset, cleared (null) or a value. */
export function cleared<T>(value: Clearable<T> | undefined): T | null | undefined {
  return value === CLEAR ? null : value;
}

/** Any JSON value, integers past 2^53 kept whole. */
export function json(value: string): EnqueueInput["payload"] {
  try {
    return parseJson(value) as EnqueueInput["payload"];
  } catch (error) {
    return fail(`is not valid JSON: ${(error as Error).message}`);
  }
}

/** `BASE_MS:EXPONENT:JITTER_MS`, the retry backoff of a job. */
/** A retry policy: a name (linear_1m, ...), or its JSON object ({"name": "constant", "delay_ms": 500}). */
export function retryPolicy(value: string): RetryPolicy {
  let parsed: unknown = value;
  if (value.trimStart().startsWith("{")) {
    try {
      parsed = parseJson(value);
    } catch {
      fail(`must be a policy name or a JSON object, got "${value}"`);
    }
  }
  return readRetryPolicy(parsed, "policy", (message) => {
    throw new InvalidArgumentError(message);
  });
}

export function backoff(value: string): Backoff {
  const parts = value.split(":");
  if (parts.length !== 3) fail(`must be BASE_MS:EXPONENT:JITTER_MS, got "${value}"`);
  const exponent = Number(parts[1]);
  if (parts[1]!.trim() === "" || !Number.isFinite(exponent) || exponent < 0 || exponent > 32) fail(`exponent must be a number from 0 to 32, got "${parts[1]}"`);
  return { base_ms: count(parts[0]!), exponent, jitter_ms: count(parts[2]!) };
}

/** An option that may be given more than once: every value, in order. */
export function repeatable<T>(parse: Parser<T>): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), parse(value)];
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A name a certificate can hold for a server: a DNS name (a wildcard's "*." first) or an IP address. */
export function serverName(value: string): string {
  if (isIP(value) !== 0) return value;
  const labels = (value.startsWith("*.") ? value.slice(2) : value).split(".");
  if (value.length > 253 || !labels.every((label) => DNS_LABEL.test(label))) fail(`must be a DNS name or an IP address, got "${value}"`);
  return value;
}

/** A name that goes into file names: a client certificate's (its common name too), a signing key pair's. */
export function fileName(value: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(value)) fail(`must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "${value}"`);
  return value;
}

/** A certificate's common name: X.509 allows 64 characters. */
export function commonName(value: string): string {
  if (nonEmpty(value).length > 64) fail(`must be at most 64 characters, got ${value.length}`);
  return value;
}
