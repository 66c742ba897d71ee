/** The producer side of the runtime: what the API (and operators) use to start, signal and re-run jobs. */
import { Queue } from "bunqueue/client";
import type { Config } from "../core/config.ts";
import type { CrashHook } from "../core/crash-point.ts";
import type { Db } from "../db/index.ts";
import { type OperationAdmission, openOperation, reopenFailedOperation } from "../domain/operations.ts";
import { durableAdder } from "./durable-adds.ts";
import { type OperationPayload, operationsQueueName } from "./payload.ts";
import { recordSignal } from "./signals.ts";

/** The broker address and token from config: what every producer and the worker connect with. */
export function brokerConnection(config: Config): { host: string; port: number; token: string } {
  return { host: config.brokerHost, port: config.brokerPort, token: config.brokerToken };
}

export interface JobQueueOptions {
  /** Broker host (loopback in production). */
  host: string;
  /** Broker TCP port. */
  port: number;
  /** Broker auth token; never logged. */
  token: string;
  db: Db;
  /** How long one broker command may take before it fails, in ms; default 5000 (the library's is 30000). */
  commandTimeoutMs?: number;
  /** Bound of ping(), in ms; default 1000. */
  pingTimeoutMs?: number;
  /** Clock, in epoch ms; default Date.now. */
  now?: () => number;
  /**
   * Test fault hook where work is acknowledged (core/crash-point.ts): `queue.enqueue.recorded` (operation
   * row written, broker job not added), `queue.enqueue.added`, `queue.signal.received` (signal not yet
   * stored), `queue.signal.recorded` (stored, its waiting jobs not promoted), `queue.signal.promoted`.
   * Default none.
   */
  crash?: CrashHook;
}

export interface JobQueue {
  /**
   * Durable (durable:true), deterministic job id per instance+operation; idempotent across history via the db.
   * `admit` runs in the transaction that records the operation and may refuse it (nothing is then recorded
   * or added).
   */
  enqueue(
    operation: string,
    instanceId: string,
    admit?: OperationAdmission,
  ): Promise<{ jobId: string; created: boolean }>;
  /**
   * Records the signal durably in the db, then promotes the parked job so it resumes within ms. If the
   * promote fails (broker down) the signal is still stored, and the job finds it at its deadline at the latest.
   * Throws UnknownInstanceError for an instance the database does not know. `unlessRecordedSince`: a
   * repeated report, recorded only if no signal of that name was stored since, and its jobs woken again.
   */
  signal(
    instanceId: string,
    name: string,
    data: Record<string, unknown>,
    opts?: { unlessRecordedSince?: number },
  ): Promise<void>;
  /**
   * Re-runs a failed job from its failed step. For an operation still active in the database whose broker
   * job was lost or failed outside the runner (broker attempts exhausted), re-adds the job so it resumes.
   * Throws InvalidJobError when there is nothing to re-run.
   */
  retry(instanceId: string, operation: string): Promise<{ jobId: string }>;
  /** true when the broker answers (bounded by a short timeout). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Broker-level attempts: the runner retries steps itself and ends a failed job with UnrecoverableError,
 * so these only cover infrastructure failures (database busy, worker crash re-delivery).
 */
const brokerAttempts = 5;
const brokerBackoffMs = 1000;

export function connectJobQueue(opts: JobQueueOptions): JobQueue {
  const now = opts.now ?? Date.now;
  const pingTimeoutMs = opts.pingTimeoutMs ?? 1000;
  const queue = new Queue<OperationPayload>(operationsQueueName, {
    connection: {
      host: opts.host,
      port: opts.port,
      token: opts.token,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
    },
  });

  const add = durableAdder(queue);
  // Adding with the deterministic id is safe to repeat: the broker dedupes a live job with the same id.
  const addJob = (operationId: string, operation: string, instanceId: string): Promise<void> =>
    add({
      name: operation,
      data: { operationId, instanceId, operation },
      opts: {
        jobId: operationId,
        attempts: brokerAttempts,
        backoff: { type: "exponential", delay: brokerBackoffMs },
      },
    });

  return {
    async enqueue(operation, instanceId, admit) {
      const opened = openOperation(opts.db, operation, instanceId, now(), admit);
      opts.crash?.("queue.enqueue.recorded");
      await addJob(opened.id, operation, instanceId);
      opts.crash?.("queue.enqueue.added");
      return { jobId: opened.id, created: opened.created };
    },

    async signal(instanceId, name, data, signalOpts = {}) {
      opts.crash?.("queue.signal.received");
      const waiting = recordSignal(opts.db, instanceId, name, data, now(), signalOpts.unlessRecordedSince);
      opts.crash?.("queue.signal.recorded");
      await Promise.all(waiting.map((jobId) => queue.promoteJob(jobId)));
      opts.crash?.("queue.signal.promoted");
    },

    async retry(instanceId, operation) {
      const id = reopenFailedOperation(opts.db, operation, instanceId, now());
      // Remove and add rather than the broker's retryJob: an add wakes a long-polling worker at once, a
      // retryJob waits for its next poll. The add is a no-op if the job is still live.
      if ((await queue.getJobState(id)) === "failed") await queue.removeAsync(id);
      await addJob(id, operation, instanceId);
      return { jobId: id };
    },

    ping: () => brokerAnswersWithin(queue, pingTimeoutMs),

    async close() {
      await queue.disconnect();
    },
  };
}

/** True when the broker answers a cheap command within `timeoutMs`; false on timeout or any error. */
async function brokerAnswersWithin(queue: Queue<OperationPayload>, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answered = queue.getJobCountsAsync().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answered, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
