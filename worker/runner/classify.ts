import { InvalidJobError, PermanentError, WaitTimeoutError } from "../../jobs/errors.ts";
import type { RetryPolicy } from "../../jobs/step.ts";

/**
 * Whether an error ends the step at once. PermanentError and InvalidJobError always do; otherwise the
 * policy's isPermanent decides when present; without it a WaitTimeoutError is permanent and all else transient.
 */
export function isPermanentError(err: unknown, policy: RetryPolicy): boolean {
  if (err instanceof PermanentError || err instanceof InvalidJobError) return true;
  if (policy.isPermanent) return policy.isPermanent(err);
  return err instanceof WaitTimeoutError;
}
