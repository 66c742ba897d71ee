import type { RetryPolicy } from "../../jobs/step.ts";

/**
 * The runner's one backoff rule: exponential with full jitter. The bound doubles per failed attempt from
 * initialDelayMs up to maxDelayMs; the delay is uniform in [0, bound], so retries of many jobs spread out.
 */
export function backoffDelayMs(policy: RetryPolicy, failedAttempts: number, random: () => number): number {
  const exponent = Math.max(0, failedAttempts - 1);
  const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.round(random() * bound);
}
