/**
 * How much of the server each identity may use: a request rate (a token bucket) and a number of open
 * take streams, from its auth-file entry or else the server's defaults (--max-requests-per-token,
 * --max-take-streams-per-token). Counted by identity name, so every client sharing a token shares its
 * limits. Time comes from the engine's clock, so tests drive refills with a ManualClock.
 */
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

export class LimitsByIdentity {
  private readonly buckets = new Map<string, { rate: RequestRate; bucket: TokenBucket }>();
  private readonly openStreams = new Map<string, number>();

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
      const left = (this.openStreams.get(identity.name) ?? 1) - 1;
      if (left <= 0) this.openStreams.delete(identity.name);
      else this.openStreams.set(identity.name, left);
    };
  }
}
