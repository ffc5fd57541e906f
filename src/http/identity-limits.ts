/**
 * How much of the server each identity may use: a request rate (a token bucket), a number of open
 * take streams and of open connections, from its auth-file entry or else the server's defaults
 * (--max-requests-per-token, --max-take-streams-per-token, --max-connections-per-token). Counted by identity name, so every client sharing a token shares its
 * limits. Time comes from the engine's clock, so tests drive refills with a ManualClock.
 */
import type { EventEmitter } from "node:events";
import type { Clock } from "../engine/clock.js";
import { OverloadedError } from "../errors.js";
import type { Identity, IdentityLimits, RequestRate } from "./identity.js";

/** A bucket of `requests` tokens, refilled continuously at `requests` per `perMs`. */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(private readonly rate: RequestRate, now: number) {
    this.tokens = rate.requests;
    this.updatedAt = now;
  }

  /** Takes a token: 0 when there was one, otherwise how many ms until there is. */
  take(now: number): number {
    const refilled = Math.max(0, now - this.updatedAt) * (this.rate.requests / this.rate.perMs);
    this.tokens = Math.min(this.rate.requests, this.tokens + refilled);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * (this.rate.perMs / this.rate.requests));
  }
}

function describeRate({ requests, perMs }: RequestRate): string {
  return `${requests} requests per ${perMs} ms`;
}

/** A connection as the server holds it: an HTTP/1.1 socket or an HTTP/2 session, which says when it closes. */
export type Connection = Pick<EventEmitter, "once">;

export class LimitsByIdentity {
  private readonly buckets = new Map<string, { rate: RequestRate; bucket: TokenBucket }>();
  private readonly openStreams = new Map<string, number>();
  private readonly openConnections = new Map<string, number>();
  /** The connections counted, each for the identity of its first request. */
  private readonly counted = new WeakSet<Connection>();

  constructor(private readonly clock: Clock, private readonly defaults: IdentityLimits = {}) {}

  /** Counts one request against the identity's rate: 429, with when to try again, past it. */
  admitRequest(identity: Identity): void {
    const rate = identity.limits?.rate ?? this.defaults.rate;
    if (rate === undefined) return;
    let held = this.buckets.get(identity.name);
    if (held === undefined || held.rate !== rate) {
      held = { rate, bucket: new TokenBucket(rate, this.clock.now()) };
      this.buckets.set(identity.name, held);
    }
    const waitMs = held.bucket.take(this.clock.now());
    if (waitMs > 0) {
      throw new OverloadedError(`${identity.name} is over its rate of ${describeRate(rate)}; try again in ${waitMs} ms`, Math.max(1, Math.ceil(waitMs / 1000)));
    }
  }

  /**
   * Counts `connection` against the identity's connections at the first request it carries (later
   * ones pass); 429 when the identity has all it may. A connection is counted for one identity only.
   */
  admitConnection(identity: Identity, connection: Connection): void {
    const max = identity.limits?.maxConnections ?? this.defaults.maxConnections;
    if (max === undefined || this.counted.has(connection)) return;
    const open = this.openConnections.get(identity.name) ?? 0;
    if (open >= max) throw new OverloadedError(`${identity.name} has ${open} connections open, the most it may (max_connections, --max-connections-per-token); send on one of them, or try again once one closes`, 1);
    this.openConnections.set(identity.name, open + 1);
    this.counted.add(connection);
    connection.once("close", () => decrement(this.openConnections, identity.name));
  }

  /** Holds one of the identity's take streams, 429 when it has all it may; the function gives it back (once). */
  holdTakeStream(identity: Identity): () => void {
    const max = identity.limits?.maxTakeStreams ?? this.defaults.maxTakeStreams;
    if (max === undefined) return () => undefined;
    const open = this.openStreams.get(identity.name) ?? 0;
    if (open >= max) throw new OverloadedError(`${identity.name} has ${open} take streams open, the most it may (max_take_streams, --max-take-streams-per-token); try again once one closes`, 1);
    this.openStreams.set(identity.name, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.openStreams, identity.name);
    };
  }
}

function decrement(counts: Map<string, number>, name: string): void {
  const left = (counts.get(name) ?? 1) - 1;
  if (left <= 0) counts.delete(name);
  else counts.set(name, left);
}
