import type { Backoff } from "./types.js";

export const DEFAULT_BACKOFF: Backoff = { base_ms: 15_000, exponent: 4, jitter_ms: 30_000 };
export const DEFAULT_RETRY_LIMIT = 25;

/**
 * Delay before the next attempt. `attempts` counts the failure being handled
 * (1 after the first failure); `random` is in [0, 1) and injectable for tests.
 */
export function backoffDelayMs(policy: Backoff, attempts: number, random: number): number {
  const growth = Math.pow(attempts, policy.exponent) * 1000;
  const jitter = random * policy.jitter_ms * attempts;
  return Math.round(policy.base_ms + growth + jitter);
}
