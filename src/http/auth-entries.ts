/**
 * What every entry of an auth file says, whatever credential it names (a bearer token in tokens.ts, a
 * client certificate in client-certificates.ts): who the caller is, what it may do and how much of the
 * server it may use. Entries are read as unknown input, field by field: the file is JSON, whatever a
 * type says, and no message here ever holds a credential.
 */
import { isScope, QueuePatterns, SCOPES, type Identity, type IdentityLimits, type RequestRate, type Scope } from "./identity.js";

/** An auth file that cannot be used: its message names the file and the line or entry, never a token. */
export class AuthFileError extends Error {
  override readonly name = "AuthFileError";
}

/** The fields an entry of either list has, as written in the file. */
export interface IdentityEntry {
  /** How logs and errors name the caller; unique across the file. */
  name: string;
  scopes: Scope[];
  /** Queue name patterns (`*` for any characters); none: every queue. */
  queues?: string[];
  /** At most `requests` requests per `per_ms` milliseconds, in bursts of up to `requests`. */
  rate?: { requests: number; per_ms: number };
  /** Take streams this caller may hold open at once. */
  max_take_streams?: number;
  /** Connections this caller may hold open at once. */
  max_connections?: number;
}

const IDENTITY_FIELDS = ["name", "scopes", "queues", "rate", "max_take_streams", "max_connections"];
const RATE_FIELDS = ["requests", "per_ms"];
/** Characters queue names cannot hold (src/job/validate.ts), but for `*`, which patterns use. */
const RESERVED_IN_PATTERNS = /[,?[\]{}\\\p{Cc}]/u;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An entry read: its identity, and how errors name it. */
export interface ReadEntry {
  identity: Identity;
  /** Its place in the file: `tokens[2]`. */
  place: string;
  /** Its place and name: `tokens[2] ("ci")`. */
  label: string;
}

/**
 * Reads the fields every entry has; `ownFields` are the ones its kind adds (`token`, `subject_cn`...),
 * handed back unread in `own`. `where` names the file, `place` the entry in it (`tokens[2]`).
 */
export function readIdentityEntry(entry: unknown, where: string, place: string, ownFields: readonly string[]): ReadEntry & { own: Record<string, unknown> } {
  const at = `${where}: ${place}`;
  if (!isObject(entry)) throw new AuthFileError(`${at}: expected an object with name, ${ownFields.join(" or ")} and scopes`);
  const { name, scopes, queues, rate } = entry;
  if (typeof name !== "string" || name.trim() === "") throw new AuthFileError(`${at}: name must be a non-empty string`);
  const label = `${at} (${JSON.stringify(name)})`;
  const fields = [...IDENTITY_FIELDS, ...ownFields];
  const unknown = Object.keys(entry).find((key) => !fields.includes(key));
  if (unknown !== undefined) throw new AuthFileError(`${label}: unknown field ${JSON.stringify(unknown)} (fields: ${fields.join(", ")})`);
  const own = Object.fromEntries(ownFields.map((field) => [field, entry[field]]));
  const limits = readLimits(rate, entry, label);
  const identity: Identity = { name, scopes: readScopes(scopes, label), queues: readPatterns(queues, label), ...(limits === undefined ? {} : { limits }) };
  return { identity, own, place, label: `${place} (${JSON.stringify(name)})` };
}

function readScopes(scopes: unknown, where: string): ReadonlySet<Scope> {
  if (!Array.isArray(scopes) || scopes.length === 0) throw new AuthFileError(`${where}: scopes must list at least one of ${SCOPES.join(", ")}`);
  const unknown = scopes.find((scope) => !isScope(scope));
  if (unknown !== undefined) throw new AuthFileError(`${where}: unknown scope ${JSON.stringify(unknown)} (scopes: ${SCOPES.join(", ")})`);
  return new Set(scopes as Scope[]);
}

function readPatterns(queues: unknown, where: string): QueuePatterns | undefined {
  if (queues === undefined) return undefined;
  if (!Array.isArray(queues) || queues.length === 0) throw new AuthFileError(`${where}: queues must list at least one pattern (leave it out for every queue)`);
  for (const pattern of queues) {
    if (typeof pattern !== "string" || pattern === "" || RESERVED_IN_PATTERNS.test(pattern)) {
      throw new AuthFileError(`${where}: queue pattern ${JSON.stringify(pattern)} must be a queue name, with * for any characters`);
    }
  }
  return new QueuePatterns(queues as string[]);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/** The entry's counts it may hold open, by field, and the IdentityLimits field each becomes. */
const COUNT_LIMITS = [["max_take_streams", "maxTakeStreams"], ["max_connections", "maxConnections"]] as const;

function readLimits(rate: unknown, entry: Record<string, unknown>, where: string): IdentityLimits | undefined {
  const limits: { -readonly [K in keyof IdentityLimits]: IdentityLimits[K] } = {};
  for (const [field, limit] of COUNT_LIMITS) {
    const value = entry[field];
    if (value === undefined) continue;
    if (!isPositiveInteger(value)) throw new AuthFileError(`${where}: ${field} must be a whole number, 1 or more, got ${JSON.stringify(value)}`);
    limits[limit] = value;
  }
  const requestRate = readRate(rate, where);
  if (requestRate !== undefined) limits.rate = requestRate;
  return Object.keys(limits).length === 0 ? undefined : limits;
}

function readRate(rate: unknown, where: string): RequestRate | undefined {
  if (rate === undefined) return undefined;
  const shape = 'rate must be {"requests": N, "per_ms": M}, whole numbers, 1 or more';
  if (!isObject(rate)) throw new AuthFileError(`${where}: ${shape}`);
  const unknown = Object.keys(rate).find((key) => !RATE_FIELDS.includes(key));
  if (unknown !== undefined) throw new AuthFileError(`${where}: unknown field rate.${unknown} (${shape})`);
  if (!isPositiveInteger(rate.requests) || !isPositiveInteger(rate.per_ms)) throw new AuthFileError(`${where}: ${shape}, got ${JSON.stringify(rate)}`);
  return { requests: rate.requests, perMs: rate.per_ms };
}

/**
 * Refuses two entries with one key (a token's hash, a certificate's subject): `repeated` says what
 * the later one repeats of the earlier one. Undefined keys are not compared.
 */
export function refuseRepeats<T extends ReadEntry>(entries: readonly T[], where: string, keyOf: (entry: T) => string | undefined, repeated: (later: T, earlier: T) => string): void {
  const seen = new Map<string, T>();
  for (const entry of entries) {
    const key = keyOf(entry);
    if (key === undefined) continue;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new AuthFileError(`${where}: ${repeated(entry, earlier)}`);
    seen.set(key, entry);
  }
}

/** Names are how logs and limits tell callers apart: one name, one entry, across the whole file. */
export function refuseRepeatedNames(entries: readonly ReadEntry[], where: string): void {
  refuseRepeats(entries, where, (entry) => entry.identity.name, (later, earlier) => `${later.place}: name ${JSON.stringify(later.identity.name)} is also ${earlier.place}'s`);
}
