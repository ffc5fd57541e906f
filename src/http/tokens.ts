/**
 * Bearer tokens, the `tokens` of an auth file (auth-file.ts): an IdentitySource. A token is kept only
 * as its SHA-256 hash, whether the file holds the token itself or `sha256:HEX`, and compared in
 * constant time. No message here ever holds a token, or any part of one.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { UnauthorizedError } from "../errors.js";
import { AuthFileError, readIdentityEntry, refuseRepeatedNames, refuseRepeats, type IdentityEntry, type ReadEntry } from "./auth-entries.js";
import type { Identity, IdentitySource, IncomingRequest } from "./identity.js";

/** One entry of an auth file's `tokens`, as written there. */
export interface TokenFileEntry extends IdentityEntry {
  /** The token itself, or `sha256:` and its SHA-256 hash in hex. */
  token: string;
}

const HASH_PREFIX = "sha256:";
/** What `wharf token new` makes: the prefix tells a Wharf token apart in a leaked-secret scan. */
const TOKEN_PREFIX = "wharf_";
/** RFC 6750's token68: what an Authorization: Bearer header can carry. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

interface Known extends ReadEntry {
  hash: Buffer;
}

function sha256(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** A fresh random token: 32 bytes, base64url, with the `wharf_` prefix. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** How an auth file holds a token: `sha256:HEX`. */
export function hashedToken(token: string): string {
  return `${HASH_PREFIX}${sha256(token).toString("hex")}`;
}

export class BearerTokens implements IdentitySource {
  private constructor(private readonly known: readonly Known[]) {}

  /** Entries as an auth file's `tokens` holds them; `where` names them in errors. AuthFileError for a bad one. */
  static of(entries: readonly unknown[], where = "tokens"): BearerTokens {
    const read = BearerTokens.entriesOf(entries, where);
    refuseRepeatedNames(read.entries, where);
    return read.source;
  }

  /** The entries of an auth file's `tokens`, checked, but for names shared with its other entries (auth-file.ts checks those). */
  static entriesOf(entries: readonly unknown[], where: string): { source: BearerTokens; entries: readonly ReadEntry[] } {
    const known = readTokenEntries(entries, where);
    return { source: new BearerTokens(known), entries: known };
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

function readTokenEntries(entries: readonly unknown[], where: string): Known[] {
  const known = entries.map((entry, index): Known => {
    // The token itself is not kept: only its hash.
    const { own, ...read } = readIdentityEntry(entry, where, `tokens[${index}]`, ["token"]);
    return { ...read, hash: readHash(own.token, `${where}: ${read.label}`) };
  });
  refuseRepeats(known, where, (entry) => entry.hash.toString("hex"), (later, earlier) => `${later.label} has the same token as ${earlier.label}`);
  return known;
}

function readHash(token: unknown, where: string): Buffer {
  if (typeof token !== "string" || token === "") throw new AuthFileError(`${where}: token must be a non-empty string`);
  if (token.startsWith(HASH_PREFIX)) {
    const hex = token.slice(HASH_PREFIX.length);
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new AuthFileError(`${where}: a ${HASH_PREFIX} token must be followed by 64 hex digits`);
    return Buffer.from(hex, "hex");
  }
  if (!TOKEN68.test(token)) throw new AuthFileError(`${where}: token cannot be sent in an Authorization header (use letters, digits and - . _ ~ + /)`);
  return sha256(token);
}
