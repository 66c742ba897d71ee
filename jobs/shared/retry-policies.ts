/** The step retry policies of provisioning: which failures a later attempt can fix, and how long to wait. */
import { isHetznerError } from "../../hetzner/index.ts";
import { isRemoteError } from "../../remote/errors.ts";
import type { RetryPolicy } from "../step.ts";

/**
 * Hetzner calls: the client already retried transient failures with backoff, so what reaches a step is
 * either permanent (the client marks it not retryable) or a transient failure that outlasted the client.
 */
export const hetznerStepRetry: RetryPolicy = {
  attempts: 4,
  initialDelayMs: 2_000,
  maxDelayMs: 30_000,
  isPermanent: (err) => isHetznerError(err) && !err.retryable,
};

/** SSH to a fresh server: refused connections and drops pass; a wrong host key or auth never does. */
export const sshStepRetry: RetryPolicy = {
  attempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 15_000,
  isPermanent: (err) => isRemoteError(err) && !err.retryable,
};
