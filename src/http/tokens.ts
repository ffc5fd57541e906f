/**
 * Bearer tokens from a token file (`wharf serve --auth-file`): an IdentitySource. A token is kept
 * only as its SHA-256 hash, whether the file holds the token itself or `sha256:HEX`, and compared
 * in constant time. No message here ever holds a token, or any part of one.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseLossless } from "lossless-json";
import { UnauthorizedError } from "../errors.js";
import { isScope, QueuePatterns, SCOPES, type Identity, type IdentitySource, type IncomingRequest, type Scope } from "./identity.js";

/** A token file that cannot be used: its message names the file and the line or entry, never a token. */
export class TokenFileError extends Error {
  override readonly name = "TokenFileError";
}

/** One entry of a token file, as written there. */
export interface TokenFileEntry {
  name: string;
  /** The token itself, or `sha256:` and its SHA-256 hash in hex. */
  token: string;
  scopes: Scope[];
  /** Queue name patterns (`*` for any characters); none: every queue. */
  queues?: string[];
}

const HASH_PREFIX = "sha256:";
/** What `wharf token new` makes: the prefix tells a Wharf token apart in a leaked-secret scan. */
const TOKEN_PREFIX = "wharf_";
/** RFC 6750's token68: what an Authorization: Bearer header can carry. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const ENTRY_FIELDS = ["name", "token", "scopes", "queues"];
/** Characters queue names cannot hold (src/job/validate.ts), but for `*`, which patterns use. */
const RESERVED_IN_PATTERNS = /[,?[\]{}\\\p{Cc}]/u;

interface Known {
  hash: Buffer;
  identity: Identity;
}

function sha256(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** A fresh random token: 32 bytes, base64url, with the `wharf_` prefix. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** How a token file holds a token: `sha256:HEX`. */
export function hashedToken(token: string): string {
  return `${HASH_PREFIX}${sha256(token).toString("hex")}`;
}

export class BearerTokens implements IdentitySource {
  private constructor(private readonly known: readonly Known[]) {}

  /** Reads a token file; TokenFileError when it cannot be read or is not a valid one. */
  static load(path: string): BearerTokens {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new TokenFileError(`${path}: cannot read the token file: ${(error as Error).message}`);
    }
    return BearerTokens.parse(text, path);
  }

  /** A token file's text; `where` names it in errors. */
  static parse(text: string, where = "token file"): BearerTokens {
    return BearerTokens.of(readEntries(parseText(text, where), where), where);
  }

  static of(entries: readonly TokenFileEntry[], where = "tokens"): BearerTokens {
    return new BearerTokens(checkUnique(entries.map((entry, index) => readEntry(entry, `${where}: tokens[${index}]`)), where));
  }

  identify(request: IncomingRequest): Identity | undefined {
    const header = request.headers.authorization;
    if (header === undefined) return undefined;
    const hash = sha256(bearerToken(header));
    let found: Identity | undefined;
    // Every entry is compared, so the time taken says nothing about which one (if any) matched.
    for (const { hash: known, identity } of this.known) if (timingSafeEqual(known, hash)) found = identity;
    if (!found) throw new UnauthorizedError("unknown bearer token");
    return found;
  }
}

function bearerToken(header: string): string {
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match || !TOKEN68.test(match[1]!)) throw new UnauthorizedError("malformed Authorization header: expected Bearer TOKEN");
  return match[1]!;
}

function parseText(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Parsers quote the text around the mistake, which may be a token: only the place is told.
    throw new TokenFileError(`${where}: not valid JSON${placeOfMistake(text)}`);
  }
}

/** ` at line L, column C`, from lossless-json, which (unlike JSON.parse) always says where it stopped. */
function placeOfMistake(text: string): string {
  try {
    parseLossless(text);
    return "";
  } catch (error) {
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    if (position === undefined) return "";
    const before = text.slice(0, Number(position)).split("\n");
    return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readEntries(file: unknown, where: string): TokenFileEntry[] {
  if (!isObject(file) || !Array.isArray(file.tokens)) throw new TokenFileError(`${where}: expected {"tokens": [...]}`);
  const unknown = Object.keys(file).find((key) => key !== "tokens");
  if (unknown !== undefined) throw new TokenFileError(`${where}: unknown field ${JSON.stringify(unknown)} (a token file has only "tokens")`);
  if (file.tokens.length === 0) throw new TokenFileError(`${where}: "tokens" lists no token`);
  return file.tokens as TokenFileEntry[];
}

/** One entry checked field by field, as unknown input: the file is JSON, whatever the type says. */
function readEntry(entry: unknown, at: string): Known {
  if (!isObject(entry)) throw new TokenFileError(`${at}: expected an object with name, token and scopes`);
  const { name, token, scopes, queues } = entry;
  if (typeof name !== "string" || name.trim() === "") throw new TokenFileError(`${at}: name must be a non-empty string`);
  const where = `${at} (${JSON.stringify(name)})`;
  const unknown = Object.keys(entry).find((key) => !ENTRY_FIELDS.includes(key));
  if (unknown !== undefined) throw new TokenFileError(`${where}: unknown field ${JSON.stringify(unknown)} (fields: ${ENTRY_FIELDS.join(", ")})`);
  return { hash: readHash(token, where), identity: { name, scopes: readScopes(scopes, where), queues: readPatterns(queues, where) } };
}

function readHash(token: unknown, where: string): Buffer {
  if (typeof token !== "string" || token === "") throw new TokenFileError(`${where}: token must be a non-empty string`);
  if (token.startsWith(HASH_PREFIX)) {
    const hex = token.slice(HASH_PREFIX.length);
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new TokenFileError(`${where}: a ${HASH_PREFIX} token must be followed by 64 hex digits`);
    return Buffer.from(hex, "hex");
  }
  if (!TOKEN68.test(token)) throw new TokenFileError(`${where}: token cannot be sent in an Authorization header (use letters, digits and - . _ ~ + /)`);
  return sha256(token);
}

function readScopes(scopes: unknown, where: string): ReadonlySet<Scope> {
  if (!Array.isArray(scopes) || scopes.length === 0) throw new TokenFileError(`${where}: scopes must list at least one of ${SCOPES.join(", ")}`);
  const unknown = scopes.find((scope) => !isScope(scope));
  if (unknown !== undefined) throw new TokenFileError(`${where}: unknown scope ${JSON.stringify(unknown)} (scopes: ${SCOPES.join(", ")})`);
  return new Set(scopes as Scope[]);
}

function readPatterns(queues: unknown, where: string): QueuePatterns | undefined {
  if (queues === undefined) return undefined;
  if (!Array.isArray(queues) || queues.length === 0) throw new TokenFileError(`${where}: queues must list at least one pattern (leave it out for every queue)`);
  for (const pattern of queues) {
    if (typeof pattern !== "string" || pattern === "" || RESERVED_IN_PATTERNS.test(pattern)) {
      throw new TokenFileError(`${where}: queue pattern ${JSON.stringify(pattern)} must be a queue name, with * for any characters`);
    }
  }
  return new QueuePatterns(queues as string[]);
}

function checkUnique(known: Known[], where: string): Known[] {
  known.forEach(({ hash, identity }, index) => {
    const earlier = known.slice(0, index);
    const sameName = earlier.findIndex((other) => other.identity.name === identity.name);
    if (sameName >= 0) throw new TokenFileError(`${where}: tokens[${index}]: name ${JSON.stringify(identity.name)} is also tokens[${sameName}]'s`);
    const sameToken = earlier.findIndex((other) => other.hash.equals(hash));
    if (sameToken >= 0) throw new TokenFileError(`${where}: tokens[${index}] (${JSON.stringify(identity.name)}) has the same token as tokens[${sameToken}] (${JSON.stringify(known[sameToken]!.identity.name)})`);
  });
  return known;
}
