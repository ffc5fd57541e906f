/**
 * Named retry policies, besides Zizq's backoff formula: linear curves with jitter (in the manner of
 * Choria asyncjobs' 1-minute, 10-minute and 1-hour policies), a constant delay, and an exponential
 * one. A job carries one (`retry_policy`) or its queue gives it one at enqueue.
 */
import type { RetryPolicy } from "./types.js";

/** A linear curve: `steps` delays from `minMs` to `maxMs`; each drawn in [delay * (1 - jitter), delay]. */
interface Linear {
  steps: number;
  minMs: number;
  maxMs: number;
  jitter: number;
}

const MINUTE = 60_000;

export const LINEAR_POLICIES: Readonly<Record<"linear_1m" | "linear_10m" | "linear_1h", Linear>> = {
  linear_1m: { steps: 20, minMs: 1000, maxMs: MINUTE, jitter: 0.5 },
  linear_10m: { steps: 50, minMs: MINUTE, maxMs: 10 * MINUTE, jitter: 0.9 },
  linear_1h: { steps: 20, minMs: 10 * MINUTE, maxMs: 60 * MINUTE, jitter: 0.9 },
};

export const RETRY_POLICY_NAMES = [...Object.keys(LINEAR_POLICIES), "constant", "exponential"] as const;

/** An exponential policy's defaults: 1 s, doubling, at most an hour. */
export const EXPONENTIAL_DEFAULTS = { base_ms: 1000, max_ms: 60 * MINUTE } as const;

/**
 * Delay before the next attempt under `policy`. `attempts` counts the failure being handled (1 after
 * the first); `random` is in [0, 1).
 */
export function retryPolicyDelayMs(policy: RetryPolicy, attempts: number, random: number): number {
  switch (policy.name) {
    case "constant":
      return policy.delay_ms;
    case "exponential":
      return Math.min(policy.max_ms, policy.base_ms * 2 ** Math.min(attempts - 1, 52));
    default: {
      const { steps, minMs, maxMs, jitter } = LINEAR_POLICIES[policy.name];
      const step = Math.min(attempts - 1, steps - 1);
      const delay = minMs + ((maxMs - minMs) * step) / (steps - 1);
      return Math.round(delay * (1 - jitter * random));
    }
  }
}
