import { backOff } from "exponential-backoff";
import { raceAbort } from "../core/abort.ts";
import { HetznerError } from "./errors.ts";

/** The client's one retry policy: which failures are transient, and how long to back off between attempts. */
export interface RetryOptions {
  /** Attempts in total, the first included (default 5). */
  attempts?: number;
  /** Upper bound of the first backoff delay in ms (default 500); doubles per attempt, with full jitter. */
  startingDelayMs?: number;
  /** Cap on a single backoff delay in ms (default 15000). */
  maxDelayMs?: number;
}

/**
 * Retries of one Hetzner HTTP request inside one step attempt; not a step's RetryPolicy (jobs/step.ts),
 * which re-runs the whole step across broker deliveries.
 */
export type RequestRetryPolicy = Required<RetryOptions>;

export const defaultRequestRetryPolicy: RequestRetryPolicy = {
  attempts: 5,
  startingDelayMs: 500,
  maxDelayMs: 15_000,
};

/** Codes Hetzner uses for conditions that pass: a busy resource, throttling, a failing backend. */
const transientCodes: ReadonlySet<string> = new Set([
  "rate_limit_exceeded",
  "conflict",
  "locked",
  "timeout",
  "unavailable",
  "server_error",
]);
/** Gateway failures whose bodies may not be Hetzner envelopes at all. */
const transientStatuses: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * Whether an API error may succeed when repeated. Everything else is permanent, in particular
 * invalid_input, uniqueness_error, forbidden, unauthorized, resource_limit_exceeded, protected, not_found.
 */
export function isTransientApiFailure(code: string, status: number): boolean {
  return transientCodes.has(code) || transientStatuses.has(status);
}

/** Runs `attempt` until it succeeds, fails permanently, runs out of attempts, or `signal` aborts. */
export function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RequestRetryPolicy,
  signal: AbortSignal | undefined,
  onRetry: (err: HetznerError, failedAttempts: number) => void,
): Promise<T> {
  const attempts = backOff(
    () => {
      signal?.throwIfAborted();
      return attempt();
    },
    {
      numOfAttempts: policy.attempts,
      startingDelay: policy.startingDelayMs,
      maxDelay: policy.maxDelayMs,
      timeMultiple: 2,
      jitter: "full",
      retry: (err: unknown, failedAttempts: number) => {
        const again = !signal?.aborted && err instanceof HetznerError && err.retryable;
        if (again) onRetry(err, failedAttempts);
        return again;
      },
    },
  );
  // The library's backoff delay cannot be interrupted, so an abort settles the call without waiting for it.
  return raceAbort(attempts, signal);
}
