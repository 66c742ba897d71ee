/**
 * The sweep's side of the broker: its own queue (so a slow sweep never takes a slot from provisions), the
 * job scheduler that fires it, operator requests, and the live-job lookup of the operations queue.
 */
import { Queue } from "bunqueue/client";
import { z } from "zod";
import { operationsQueueName } from "../../queue/payload.ts";

/** The broker queue sweeps travel on; the worker consumes it one job at a time. */
export const sweepQueueName = "reconcile-sweeps";
/** Id of the one job scheduler: upserting it again (every worker start) replaces it, never adds a second. */
const sweepSchedulerId = "reconcile-sweep";
const sweepJobName = "sweep";

/** What a sweep job carries. Additive changes only (old jobs may still be queued). */
export const sweepPayloadSchema = z.object({
  trigger: z.enum(["schedule", "operator"]),
  dryRun: z.boolean(),
  /** `ops reconcile --apply` after a restore; absent in older jobs. */
  releaseHold: z.boolean().optional(),
});
export type SweepPayload = z.infer<typeof sweepPayloadSchema>;

/** Broker states in which a job will still run (or is running). */
const LIVE_STATES: ReadonlySet<string> = new Set([
  "waiting",
  "prioritized",
  "delayed",
  "active",
  "waiting-children",
]);
/** Broker lookups of one sweep in flight at once: enough to overlap round trips, few enough to stay polite. */
const LOOKUP_CONCURRENCY = 16;

export interface SweepBrokerOptions {
  host: string;
  port: number;
  /** Broker auth token; never logged. */
  token: string;
  /** How long one broker command may take before it fails, in ms; default 5000. */
  commandTimeoutMs?: number;
}

export interface SweepBroker {
  /** Adds an operator's sweep job under the sweep's id (durable, one attempt: the sweep records its own failure). */
  requestSweep(id: string, payload: SweepPayload): Promise<void>;
  /** Creates or replaces the schedule firing a sweep every `everyMs`. */
  scheduleSweeps(everyMs: number): Promise<void>;
  /** Which of these operation job ids are live in the operations queue (unknown and finished ones are not). */
  liveJobIds(ids: readonly string[]): Promise<ReadonlySet<string>>;
  close(): Promise<void>;
}

export function connectSweepBroker(opts: SweepBrokerOptions): SweepBroker {
  const connection = {
    host: opts.host,
    port: opts.port,
    token: opts.token,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
  };
  const sweepQueue = new Queue<SweepPayload>(sweepQueueName, { connection });
  const operationQueue = new Queue(operationsQueueName, { connection });

  return {
    async requestSweep(id, payload) {
      await sweepQueue.add(sweepJobName, payload, { jobId: id, durable: true, attempts: 1 });
    },

    async scheduleSweeps(everyMs) {
      await sweepQueue.upsertJobScheduler(
        sweepSchedulerId,
        { every: everyMs },
        { name: sweepJobName, data: { trigger: "schedule", dryRun: false }, opts: { attempts: 1 } },
      );
    },

    async liveJobIds(ids) {
      const live = new Set<string>();
      for (let start = 0; start < ids.length; start += LOOKUP_CONCURRENCY) {
        const batch = ids.slice(start, start + LOOKUP_CONCURRENCY);
        const states = await Promise.all(batch.map((id) => operationQueue.getJobState(id)));
        states.forEach((state, index) => {
          const id = batch[index];
          if (id !== undefined && LIVE_STATES.has(state)) live.add(id);
        });
      }
      return live;
    },

    async close() {
      await Promise.all([sweepQueue.disconnect(), operationQueue.disconnect()]);
    },
  };
}
