/** `wharf token new`: a fresh token for a client, and the entry that lets it in, for the server's --auth-file. */
import { SCOPES, type Scope } from "../http/identity.js";
import { AuthFileError } from "../http/auth-entries.js";
import { BearerTokens, hashedToken, newToken, type TokenFileEntry } from "../http/tokens.js";
import { UsageError } from "./usage.js";

export interface NewTokenOptions {
  name?: string;
  scopes?: Scope[];
  queues?: string[];
  maxRequestsPerSecond?: number;
  maxTakeStreams?: number;
  maxConnections?: number;
}

/** Line 1 the token (for the client, shown this once), line 2 its token-file entry (for the server), the hash in place of the token. */
export function create(options: NewTokenOptions): void {
  const token = newToken();
  const stored = hashedToken(token);
  const entry: TokenFileEntry = {
    name: options.name ?? `token-${stored.slice("sha256:".length, "sha256:".length + 8)}`,
    token: stored,
    scopes: options.scopes ?? [...SCOPES],
    ...(options.queues === undefined ? {} : { queues: options.queues }),
    ...(options.maxRequestsPerSecond === undefined ? {} : { rate: { requests: options.maxRequestsPerSecond, per_ms: 1000 } }),
    ...(options.maxTakeStreams === undefined ? {} : { max_take_streams: options.maxTakeStreams }),
    ...(options.maxConnections === undefined ? {} : { max_connections: options.maxConnections }),
  };
  try {
    BearerTokens.of([entry], "the new token");
  } catch (error) {
    if (error instanceof AuthFileError) throw new UsageError(error.message);
    throw error;
  }
  process.stdout.write(`${token}\n${JSON.stringify(entry)}\n`);
  process.stderr.write("wharf: line 1 is the token, for the client (WHARF_TOKEN, --token, connect(url, { token })): it is not shown again.\n" +
    'wharf: line 2 goes in the "tokens" list of the server\'s --auth-file; it holds only the token\'s hash.\n');
}
