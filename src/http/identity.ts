/**
 * Who sent a request: an Identity, resolved from the request by an IdentitySource. Bearer tokens
 * (tokens.ts) and verified TLS client certificates (client-certificates.ts, by subject CN or SAN) are
 * the sources; an auth file (auth-file.ts) combines them, a token deciding when the request has one.
 */
import type http from "node:http";
import type http2 from "node:http2";
import { ForbiddenError, UnauthorizedError } from "../errors.js";
import type { Access } from "./api.js";

/** What a token may do; each route of the API needs one (api.ts ROUTES). */
export const SCOPES = ["enqueue", "work", "read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return SCOPES.includes(value as Scope);
}

/**
 * Queue name patterns: `*` stands for any run of characters (none included), everything else for
 * itself, so `emails.*` matches `emails.welcome` and `emails.eu.reset`. Queue names cannot hold `*`.
 */
export class QueuePatterns {
  private readonly compiled: RegExp[];

  constructor(readonly patterns: readonly string[]) {
    this.compiled = patterns.map((pattern) => new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`, "s"));
  }

  matches(queue: string): boolean {
    return this.compiled.some((pattern) => pattern.test(queue));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** At most `requests` requests per `perMs` milliseconds, in bursts of up to `requests` (a token bucket). */
export interface RequestRate {
  readonly requests: number;
  readonly perMs: number;
}

/** How much of the server one identity may use; what is left out, the server's defaults decide. */
export interface IdentityLimits {
  readonly rate?: RequestRate;
  /** Take streams it may hold open at once. */
  readonly maxTakeStreams?: number;
  /** Connections (HTTP/1.1 sockets, HTTP/2 sessions) it may hold open at once, counted from its first request on each. */
  readonly maxConnections?: number;
}

export interface Identity {
  /** How logs and errors name the caller, and what its limits are counted by: never a secret. */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /** The queues it may reach; undefined: every queue. */
  readonly queues: QueuePatterns | undefined;
  /** Its own limits, over the server's defaults. */
  readonly limits?: IdentityLimits;
}

export type IncomingRequest = http.IncomingMessage | http2.Http2ServerRequest;

export interface IdentitySource {
  /**
   * The identity the request's credentials prove; undefined when it carries none this source reads.
   * Throws UnauthorizedError for credentials of its kind that prove nobody (an unknown token).
   */
  identify(request: IncomingRequest): Identity | undefined;
}

/**
 * Sources tried in order: the first whose kind of credentials the request carries decides, and one
 * that refuses them (a 401) is not overruled by a later one.
 */
export function firstOf(...sources: readonly IdentitySource[]): IdentitySource {
  return {
    identify(request) {
      for (const source of sources) {
        const identity = source.identify(request);
        if (identity) return identity;
      }
      return undefined;
    },
  };
}

/** The caller of a request that needs one: 401 when it shows no credentials at all. */
export function identify(request: IncomingRequest, source: IdentitySource): Identity {
  const identity = source.identify(request);
  if (!identity) throw new UnauthorizedError("this server needs a bearer token: send Authorization: Bearer TOKEN");
  return identity;
}

/** 403 unless the identity may call an endpoint that needs `access` (the route table's entry). */
export function authorize(identity: Identity, access: Access): void {
  if (access.scope !== null && !identity.scopes.has(access.scope)) throw new ForbiddenError(`${identity.name} has no ${access.scope} scope, which this needs`);
  if (access.everyQueue && identity.queues) throw new ForbiddenError(`${identity.name} may reach only some queues; this reaches every queue`);
}
