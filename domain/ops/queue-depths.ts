/** How many jobs the broker holds in each state, asked with a bound so a down broker cannot hang a caller. */
import { Queue } from "bunqueue/client";
import { raceAbort } from "../../core/abort.ts";
import { JobError } from "../../jobs/errors.ts";
import { type OperationPayload, operationsQueueName } from "../../queue/payload.ts";

export interface QueueDepths {
  waiting: number;
  /** Waiting with a priority: counted apart by the broker. */
  prioritized: number;
  active: number;
  /** Parked: backoffs, durable waits, busy leases. */
  delayed: number;
  /** Ended for good at the broker (the runner's final failures, and exhausted infrastructure retries). */
  failed: number;
  paused: number;
}

/** Where the broker listens; the token is only sent to it, never logged. */
export interface BrokerAddress {
  host: string;
  port: number;
  token: string;
}

/** Default bound of one depth query, in ms. */
export const QUEUE_DEPTHS_TIMEOUT_MS = 1000;

/** The broker did not answer the depth query in time, or refused it. */
export class QueueDepthsUnavailableError extends JobError {
  constructor(timeoutMs: number, options?: { cause?: unknown }) {
    super("broker_unavailable", `the broker did not report queue depths within ${timeoutMs} ms`, options);
  }
}

/**
 * Counts of the operations queue, on a connection of its own that is closed afterwards: rare callers
 * (an operator's status, a scrape) need no long-lived client. `timeoutMs` bounds the whole read, in ms
 * (default QUEUE_DEPTHS_TIMEOUT_MS, 1000). Throws QueueDepthsUnavailableError.
 */
export async function readQueueDepths(
  broker: BrokerAddress,
  timeoutMs = QUEUE_DEPTHS_TIMEOUT_MS,
): Promise<QueueDepths> {
  const queue = new Queue<OperationPayload>(operationsQueueName, {
    connection: { ...broker, commandTimeout: timeoutMs },
  });
  try {
    const counts = await raceAbort(queue.getJobCountsAsync(), AbortSignal.timeout(timeoutMs));
    return {
      waiting: counts.waiting,
      prioritized: counts.prioritized,
      active: counts.active,
      delayed: counts.delayed,
      failed: counts.failed,
      paused: counts.paused,
    };
  } catch (err) {
    throw new QueueDepthsUnavailableError(timeoutMs, { cause: err });
  } finally {
    await queue.disconnect();
  }
}
