/**
 * The rollout's side of the broker: its own queue (a rollout checks in every ROLLOUT_CHECK_MS for as long as
 * it runs, and must never take a slot from provisions), one job per rollout under the rollout's id.
 */
import { Queue } from "bunqueue/client";
import { z } from "zod";

export const rolloutQueueName = "fleet-rollouts";
const rolloutJobName = "rollout";
/** Broker attempts of a delivery that threw (database busy, worker crash re-delivery). */
const brokerAttempts = 5;

/** What a rollout job carries. Additive changes only (old jobs may still be queued). */
export const rolloutPayloadSchema = z.object({ rolloutId: z.string().min(1) });

export interface RolloutBroker {
  /**
   * Makes the rollout's job live and due now: added (durable) when missing, finished or failed, promoted when
   * it waits for its next check. Safe to repeat.
   */
  runNow(rolloutId: string): Promise<void>;
  close(): Promise<void>;
}

export function connectRolloutBroker(opts: {
  host: string;
  port: number;
  token: string;
  /** How long one broker command may take, in ms; default 5000. */
  commandTimeoutMs?: number;
}): RolloutBroker {
  const queue = new Queue(rolloutQueueName, {
    connection: {
      host: opts.host,
      port: opts.port,
      token: opts.token,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
    },
  });
  return {
    async runNow(rolloutId) {
      const state = await queue.getJobState(rolloutId);
      if (state === "delayed") {
        await queue.promoteJob(rolloutId);
        return;
      }
      if (state === "failed" || state === "completed") await queue.removeAsync(rolloutId);
      await queue.add(
        rolloutJobName,
        { rolloutId },
        {
          jobId: rolloutId,
          durable: true,
          attempts: brokerAttempts,
          backoff: { type: "exponential", delay: 1000 },
        },
      );
    },
    close: () => queue.disconnect(),
  };
}
